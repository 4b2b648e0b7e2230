/* Convergence oracle; contract in converge.h. */
#include "converge.h"

#include <stdio.h>
#include <string.h>

static bool say(char *why, size_t cap, const char *fmt, const char *a, const char *b)
{
    if (why != NULL && cap > 0) {
        snprintf(why, cap, fmt, a, b);
    }
    return false;
}

static bool sees_up(json_t *members, const char *name)
{
    json_t *nodes = json_object_get(members, "nodes");
    size_t i;
    json_t *o;
    json_array_foreach(nodes, i, o)
    {
        const char *nm = json_string_value(json_object_get(o, "name"));
        const char *st = json_string_value(json_object_get(o, "state"));
        if (nm != NULL && strcmp(nm, name) == 0) {
            return st != NULL && strcmp(st, "up") == 0 &&
                   !json_is_true(json_object_get(o, "hidden"));
        }
    }
    return false;
}

static bool has_topic(json_t *arr, const char *topic)
{
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
    {
        const char *s = json_string_value(t);
        if (s != NULL && strcmp(s, topic) == 0) {
            return true;
        }
    }
    return false;
}

/* Same set of strings (arrays hold no duplicates). */
static bool same_topics(json_t *a, json_t *b)
{
    if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b)) {
        return false;
    }
    size_t i;
    json_t *t;
    json_array_foreach(a, i, t)
    {
        const char *s = json_string_value(t);
        if (s == NULL || !has_topic(b, s)) {
            return false;
        }
    }
    return true;
}

bool bnc_converged(size_t n, const char *const *names, json_t *const *members,
                   json_t *const *groups, const char *topic, char *why, size_t why_cap)
{
    for (size_t i = 0; i < n; i++) {
        if (members[i] == NULL || groups[i] == NULL) {
            return say(why, why_cap, "%s did not answer%s", names[i], "");
        }
        if (!has_topic(json_object_get(groups[i], "local"), topic)) {
            return say(why, why_cap, "%s has no local member of %s", names[i], topic);
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *peers = json_object_get(groups[i], "peers");
        for (size_t j = 0; j < n; j++) {
            if (i == j) {
                continue;
            }
            if (!sees_up(members[i], names[j])) {
                return say(why, why_cap, "%s does not see %s up", names[i], names[j]);
            }
            if (!same_topics(json_object_get(peers, names[j]),
                             json_object_get(groups[j], "local"))) {
                return say(why, why_cap, "%s disagrees with %s on its groups", names[i], names[j]);
            }
        }
    }
    if (why != NULL && why_cap > 0) {
        why[0] = '\0';
    }
    return true;
}
