/* See view.h. Node and topic sets are JSON arrays of strings kept sorted
 * and unique, so comparing two views is json_equal and printing them is
 * deterministic. */
#include "view.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/mesh.h"

#define LIST_MAX 5 /* topics named per problem before "and N more" */

/* ---- sorted string sets ------------------------------------------------ */

static void set_add(json_t *set, const char *s)
{
    size_t i = 0;
    for (; i < json_array_size(set); i++) {
        int c = strcmp(json_string_value(json_array_get(set, i)), s);
        if (c == 0) {
            return;
        }
        if (c > 0) {
            break;
        }
    }
    json_array_insert_new(set, i, json_string(s));
}

static bool set_has(const json_t *set, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(set, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0) {
            return true;
        }
    }
    return false;
}

/* Elements of a not in b, as a new set. */
static json_t *set_minus(const json_t *a, const json_t *b)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!set_has(b, json_string_value(v))) {
            set_add(out, json_string_value(v));
        }
    }
    return out;
}

static json_t *set_from_array(const json_t *arr)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v)) {
            set_add(out, json_string_value(v));
        }
    }
    return out;
}

/* "a, b, c" (at most max items, then " and N more"); "none" when empty. */
static void set_join(const json_t *set, size_t max, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    size_t n = json_array_size(set);
    if (n == 0) {
        snprintf(out, cap, "none");
        return;
    }
    for (size_t i = 0; i < n && i < max && len < cap; i++) {
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
                                json_string_value(json_array_get(set, i)));
    }
    if (n > max && len < cap) {
        snprintf(out + len, cap - len, " and %zu more", n - max);
    }
}

/* Keys of an object, sorted. */
static json_t *sorted_keys(const json_t *obj)
{
    json_t *keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        set_add(keys, k);
    }
    return keys;
}

static json_t *problem(json_t *problems, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *problem(json_t *problems, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(problems, json_string(buf));
    return problems;
}

static const char *str_or(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : dflt;
}

static void fmt_int(const json_t *v, char *out, size_t cap)
{
    if (json_is_integer(v)) {
        snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else {
        snprintf(out, cap, "-");
    }
}

/* ---- members ------------------------------------------------------------ */

/* Marks the workers of one --workers node ("NAME-wI@HOST", see
 * bn_mesh_worker_name) with "worker_of": "NAME@HOST" and "worker": I, on
 * the snapshot itself (the answering node) and on its node entries. A name
 * is taken for a worker's only when at least two names (up or down) share
 * its NAME@HOST, so a lone node that happens to end in "-w1" stays itself. */
static void annotate_workers(json_t *members)
{
    json_t *count = json_object(); /* NAME@HOST -> names seen */
    json_t *all = json_array();
    json_array_append(all, members);
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(members, "nodes"), i, n)
    {
        if (!json_is_true(json_object_get(n, "hidden"))) {
            json_array_append(all, n);
        }
    }
    char base[256];
    for (int pass = 0; pass < 2; pass++) {
        json_array_foreach(all, i, n)
        {
            const char *name = json_string_value(json_object_get(n, i == 0 ? "node" : "name"));
            int w = bn_mesh_worker_name(name, base, sizeof(base));
            if (w < 0) {
                continue;
            }
            json_int_t seen = json_integer_value(json_object_get(count, base));
            if (pass == 0) {
                json_object_set_new(count, base, json_integer(seen + 1));
            } else if (seen >= 2) {
                json_object_set_new(n, "worker_of", json_string(base));
                json_object_set_new(n, "worker", json_integer(w));
            }
        }
    }
    json_decref(all);
    json_decref(count);
}

json_t *bnctl_members_clean(const json_t *members, const char *hide_prefix)
{
    json_t *copy = json_deep_copy(members);
    json_t *nodes = json_object_get(copy, "nodes");
    size_t prefix_len = hide_prefix != NULL ? strlen(hide_prefix) : 0;
    for (size_t i = json_array_size(nodes); i-- > 0;) {
        const json_t *n = json_array_get(nodes, i);
        const char *name = str_or(json_object_get(n, "name"), "");
        /* Hidden nodes that went down are admin tools that finished; the
         * mesh keeps them in its table, but they are noise here. */
        bool gone_tool = json_is_true(json_object_get(n, "hidden")) &&
                         strcmp(str_or(json_object_get(n, "state"), ""), "up") != 0;
        if (gone_tool || (prefix_len > 0 && strncmp(name, hide_prefix, prefix_len) == 0)) {
            json_array_remove(nodes, i);
        }
    }
    annotate_workers(copy);
    return copy;
}

/* "up", "connecting", "down 3.2s (tick_timeout)", "+ (hidden)". */
static void member_state(const json_t *n, char *out, size_t cap)
{
    const char *state =
        str_or(json_object_get(n, "link_state"), str_or(json_object_get(n, "state"), "?"));
    char since[32] = "";
    json_t *down_ms = json_object_get(n, "down_ms");
    if (strcmp(state, "up") != 0 && json_is_integer(down_ms)) {
        since[0] = ' ';
        bnctl_fmt_duration_ms(json_integer_value(down_ms), since + 1, sizeof(since) - 1);
    }
    const char *reason = str_or(json_object_get(n, "last_down_reason"), "none");
    char why[64] = "";
    if (strcmp(state, "up") != 0 && strcmp(reason, "none") != 0) {
        snprintf(why, sizeof(why), " (%s)", reason);
    }
    snprintf(out, cap, "%s%s%s%s", state, since, why,
             json_is_true(json_object_get(n, "hidden")) ? " hidden" : "");
}

/* The name rows sort and group by: a worker under its node's name. */
static const char *group_key(const json_t *n, const char *name)
{
    return str_or(json_object_get(n, "worker_of"), name);
}

typedef struct member_row_s {
    const json_t *n; /* the snapshot itself for the self row */
    const char *name;
    bool self;
} member_row_t;

static int by_group(const void *a, const void *b)
{
    const member_row_t *x = a, *y = b;
    int c = strcmp(group_key(x->n, x->name), group_key(y->n, y->name));
    if (c != 0) {
        return c;
    }
    /* The node's own header (no worker index) first, then its workers. */
    json_int_t wx = json_is_integer(json_object_get(x->n, "worker"))
                        ? json_integer_value(json_object_get(x->n, "worker"))
                        : -1;
    json_int_t wy = json_is_integer(json_object_get(y->n, "worker"))
                        ? json_integer_value(json_object_get(y->n, "worker"))
                        : -1;
    if (wx != wy) {
        return wx < wy ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

static bool member_up(const member_row_t *r)
{
    return r->self || strcmp(str_or(json_object_get(r->n, "state"), ""), "up") == 0;
}

static void member_row(bnctl_table_t *t, const member_row_t *r, const char *label,
                       const char *self_addr)
{
    char inc[32];
    const json_t *node = r->n;
    fmt_int(json_object_get(node, "incarnation"), inc, sizeof(inc));
    if (r->self) {
        const char *self[] = {label, inc, self_addr, "self", "-", "-", "-", "-", "-", "-", "-"};
        bnctl_table_add(t, self);
        return;
    }
    char addr[96], state[128], age[32] = "-", tick[32] = "-", rtt[32] = "-";
    char mi[32] = "-", mo[32] = "-", bi[32] = "-", bo[32] = "-";
    json_int_t port = json_integer_value(json_object_get(node, "port"));
    if (port > 0) {
        snprintf(addr, sizeof(addr), "%s:%" JSON_INTEGER_FORMAT,
                 str_or(json_object_get(node, "host"), "?"), port);
    } else {
        snprintf(addr, sizeof(addr), "-");
    }
    member_state(node, state, sizeof(state));
    json_t *l = json_object_get(node, "link");
    if (json_is_object(l)) {
        json_t *v = json_object_get(l, "age_ms");
        if (json_is_integer(v)) {
            bnctl_fmt_duration_ms(json_integer_value(v), age, sizeof(age));
        }
        v = json_object_get(l, "last_tick_ms_ago");
        if (json_is_integer(v)) {
            bnctl_fmt_duration_ms(json_integer_value(v), tick, sizeof(tick));
        }
        json_int_t us = json_integer_value(json_object_get(l, "rtt_us"));
        if (us > 0) {
            bnctl_fmt_rtt_us((uint64_t)us, rtt, sizeof(rtt));
        }
        fmt_int(json_object_get(l, "msgs_in"), mi, sizeof(mi));
        fmt_int(json_object_get(l, "msgs_out"), mo, sizeof(mo));
        bnctl_fmt_bytes((uint64_t)json_integer_value(json_object_get(l, "bytes_in")), bi,
                        sizeof(bi));
        bnctl_fmt_bytes((uint64_t)json_integer_value(json_object_get(l, "bytes_out")), bo,
                        sizeof(bo));
    }
    const char *row[] = {label, inc, addr, state, age, tick, rtt, mi, mo, bi, bo};
    bnctl_table_add(t, row);
}

void bnctl_members_table(const json_t *members, const char *self_addr, bnctl_table_t *t)
{
    static const char *const heads[] = {"NODE",     "INCARNATION", "ADDRESS",  "STATE",
                                        "LINK AGE", "LAST TICK",   "RTT",      "MSGS IN",
                                        "MSGS OUT", "BYTES IN",    "BYTES OUT"};
    bnctl_table_init(t, 11, heads, "lrllrrrrrrr");
    json_t *nodes = json_object_get(members, "nodes");
    size_t n = json_array_size(nodes) + 1;
    member_row_t *rows = calloc(n, sizeof(*rows));
    if (rows == NULL) {
        abort();
    }
    rows[0] = (member_row_t){members, str_or(json_object_get(members, "node"), "?"), true};
    for (size_t i = 1; i < n; i++) {
        rows[i].n = json_array_get(nodes, i - 1);
        rows[i].name = str_or(json_object_get(rows[i].n, "name"), "?");
    }
    /* The answering node first (with its siblings when it is a worker),
     * then the others by name; the workers of one node stay together under
     * a row of its own name: "NAME@HOST  3/4 workers up". */
    const char *self_key = group_key(rows[0].n, rows[0].name);
    qsort(rows + 1, n - 1, sizeof(*rows), by_group);
    size_t order_cap = n;
    member_row_t *ordered = calloc(order_cap, sizeof(*ordered));
    if (ordered == NULL) {
        abort();
    }
    size_t k = 0;
    ordered[k++] = rows[0];
    for (size_t i = 1; i < n; i++) {
        if (strcmp(group_key(rows[i].n, rows[i].name), self_key) == 0) {
            ordered[k++] = rows[i];
        }
    }
    if (json_object_get(members, "worker_of") != NULL) {
        qsort(ordered, k, sizeof(*ordered), by_group);
    }
    for (size_t i = 1; i < n; i++) {
        if (strcmp(group_key(rows[i].n, rows[i].name), self_key) != 0) {
            ordered[k++] = rows[i];
        }
    }
    for (size_t i = 0; i < k;) {
        const json_t *of = json_object_get(ordered[i].n, "worker_of");
        if (of == NULL) {
            member_row(t, &ordered[i], ordered[i].name, self_addr);
            i++;
            continue;
        }
        size_t end = i, up = 0;
        while (end < k && json_equal(json_object_get(ordered[end].n, "worker_of"), of)) {
            up += member_up(&ordered[end]);
            end++;
        }
        char summary[64];
        snprintf(summary, sizeof(summary), "%zu/%zu workers up", up, end - i);
        const char *head[] = {
            json_string_value(of), "-", "-", summary, "-", "-", "-", "-", "-", "-", "-"};
        bnctl_table_add(t, head);
        for (; i < end; i++) {
            char label[300];
            snprintf(label, sizeof(label), "%s %s", i + 1 < end ? "\u251c" : "\u2514",
                     ordered[i].name);
            member_row(t, &ordered[i], label, self_addr);
        }
    }
    free(ordered);
    free(rows);
}

/* ---- groups ------------------------------------------------------------- */

json_t *bnctl_groups_merge(const char *target_name, const json_t *nodes, const char *pattern)
{
    json_t *g = json_object_get(json_object_get(nodes, target_name), "groups");
    json_t *holders = json_object(); /* topic -> set of nodes */
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(g, "local"), i, v)
    {
        const char *topic = json_string_value(v);
        if (topic == NULL || (pattern != NULL && fnmatch(pattern, topic, 0) != 0)) {
            continue;
        }
        if (json_object_get(holders, topic) == NULL) {
            json_object_set_new(holders, topic, json_array());
        }
        set_add(json_object_get(holders, topic), target_name);
    }
    const char *peer;
    json_t *topics;
    json_object_foreach(json_object_get(g, "peers"), peer, topics)
    {
        json_array_foreach(topics, i, v)
        {
            const char *topic = json_string_value(v);
            if (topic == NULL || (pattern != NULL && fnmatch(pattern, topic, 0) != 0)) {
                continue;
            }
            if (json_object_get(holders, topic) == NULL) {
                json_object_set_new(holders, topic, json_array());
            }
            set_add(json_object_get(holders, topic), peer);
        }
    }
    json_t *keys = sorted_keys(holders);
    json_t *list = json_array();
    json_array_foreach(keys, i, v)
    {
        const char *topic = json_string_value(v);
        json_t *who = json_object_get(holders, topic);
        json_t *counts = json_object();
        json_int_t total = 0;
        size_t j;
        json_t *w;
        json_array_foreach(who, j, w)
        {
            const char *node = json_string_value(w);
            json_t *c = json_object_get(
                json_object_get(json_object_get(json_object_get(nodes, node), "groups"), "counts"),
                topic);
            if (json_is_integer(c)) {
                total += json_integer_value(c);
                json_object_set_new(counts, node, json_integer(json_integer_value(c)));
            } else {
                json_object_set_new(counts, node, json_null());
            }
        }
        json_array_append_new(list, json_pack("{s:s, s:O, s:o, s:I}", "topic", topic, "nodes", who,
                                              "counts", counts, "subscribers", total));
    }
    json_decref(keys);
    json_decref(holders);
    return json_pack("{s:s, s:o}", "node", target_name, "topics", list);
}

void bnctl_groups_table(const json_t *merged, bnctl_table_t *t)
{
    static const char *const heads[] = {"TOPIC", "NODES", "SUBSCRIBERS", "PER NODE"};
    bnctl_table_init(t, 4, heads, "lrrl");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(merged, "topics"), i, e)
    {
        json_t *who = json_object_get(e, "nodes");
        json_t *counts = json_object_get(e, "counts");
        char n_nodes[16], subs[32], per[1024];
        snprintf(n_nodes, sizeof(n_nodes), "%zu", json_array_size(who));
        bool unknown = false;
        size_t len = 0;
        per[0] = '\0';
        size_t j;
        json_t *w;
        json_array_foreach(who, j, w)
        {
            const char *node = json_string_value(w);
            json_t *c = json_object_get(counts, node);
            char num[24];
            if (json_is_integer(c)) {
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(c));
            } else {
                snprintf(num, sizeof(num), "?");
                unknown = true;
            }
            if (len < sizeof(per)) {
                len += (size_t)snprintf(per + len, sizeof(per) - len, "%s%s=%s", j ? " " : "", node,
                                        num);
            }
        }
        snprintf(subs, sizeof(subs), "%" JSON_INTEGER_FORMAT "%s",
                 json_integer_value(json_object_get(e, "subscribers")), unknown ? "+?" : "");
        const char *row[] = {str_or(json_object_get(e, "topic"), "?"), n_nodes, subs, per};
        bnctl_table_add(t, row);
    }
}

json_t *bnctl_groups_summary(const json_t *merged)
{
    json_t *per = json_object();
    json_int_t memberships = 0, subscribers = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(merged, "topics"), i, e)
    {
        size_t j;
        json_t *w;
        json_array_foreach(json_object_get(e, "nodes"), j, w)
        {
            const char *node = json_string_value(w);
            json_t *s = json_object_get(per, node);
            if (s == NULL) {
                s = json_pack("{s:I, s:I}", "topics", (json_int_t)0, "subscribers", (json_int_t)0);
                json_object_set_new(per, node, s);
            }
            json_t *c = json_object_get(json_object_get(e, "counts"), node);
            json_object_set_new(s, "topics",
                                json_integer(json_integer_value(json_object_get(s, "topics")) + 1));
            json_object_set_new(s, "subscribers",
                                json_integer(json_integer_value(json_object_get(s, "subscribers")) +
                                             json_integer_value(c)));
            memberships++;
            subscribers += json_integer_value(c);
        }
    }
    return json_pack("{s:I, s:I, s:I, s:o}", "topics",
                     (json_int_t)json_array_size(json_object_get(merged, "topics")), "memberships",
                     memberships, "subscribers", subscribers, "nodes", per);
}

void bnctl_groups_summary_table(const json_t *summary, bnctl_table_t *t)
{
    static const char *const heads[] = {"NODE", "TOPICS", "SUBSCRIBERS"};
    bnctl_table_init(t, 3, heads, "lrr");
    json_t *per = json_object_get(summary, "nodes");
    json_t *keys = sorted_keys(per);
    size_t i;
    json_t *k;
    char a[32], b[32];
    json_array_foreach(keys, i, k)
    {
        json_t *s = json_object_get(per, json_string_value(k));
        fmt_int(json_object_get(s, "topics"), a, sizeof(a));
        fmt_int(json_object_get(s, "subscribers"), b, sizeof(b));
        const char *row[] = {json_string_value(k), a, b};
        bnctl_table_add(t, row);
    }
    json_decref(keys);
    fmt_int(json_object_get(summary, "topics"), a, sizeof(a));
    fmt_int(json_object_get(summary, "subscribers"), b, sizeof(b));
    const char *total[] = {"(all nodes)", a, b};
    bnctl_table_add(t, total);
}

/* ---- topic -------------------------------------------------------------- */

json_t *bnctl_topic_compare(const char *topic, const json_t *nodes)
{
    json_t *names = sorted_keys(nodes);
    json_t *holders = json_array();
    json_t *entries = json_array();
    json_t *problems = json_array();
    json_int_t subscribers = 0;
    bool any_seen = false, all_answered = true;
    size_t i;
    json_t *k;
    json_array_foreach(names, i, k)
    {
        const char *node = json_string_value(k);
        json_t *ans = json_object_get(json_object_get(nodes, node), "topic");
        if (ans == NULL) {
            all_answered = false;
            continue;
        }
        if (json_is_true(json_object_get(ans, "local"))) {
            set_add(holders, node);
        }
        subscribers += json_integer_value(json_object_get(ans, "count"));
    }
    bool agree = true;
    json_array_foreach(names, i, k)
    {
        const char *node = json_string_value(k);
        const json_t *v = json_object_get(nodes, node);
        json_t *ans = json_object_get(v, "topic");
        if (ans == NULL) {
            const char *err = str_or(json_object_get(v, "error"), "no answer");
            json_array_append_new(entries, json_pack("{s:s, s:s}", "node", node, "error", err));
            problem(problems, "%s did not answer: %s", node, err);
            continue;
        }
        bool local = json_is_true(json_object_get(ans, "local"));
        json_t *sees = set_from_array(json_object_get(ans, "peers"));
        if (local) {
            set_add(sees, node);
        }
        any_seen = any_seen || json_array_size(sees) > 0;
        bool ok = json_equal(sees, holders);
        agree = agree && ok;
        if (!ok) {
            json_t *missing = set_minus(holders, sees);
            json_t *extra = set_minus(sees, holders);
            char a[512], b[512];
            set_join(missing, LIST_MAX, a, sizeof(a));
            set_join(extra, LIST_MAX, b, sizeof(b));
            if (json_array_size(missing) > 0) {
                problem(problems, "%s does not know that %s hold%s the topic", node, a,
                        json_array_size(missing) == 1 ? "s" : "");
            }
            if (json_array_size(extra) > 0) {
                problem(problems, "%s believes %s hold%s the topic, but %s", node, b,
                        json_array_size(extra) == 1 ? "s" : "",
                        json_array_size(extra) == 1 ? "it has no subscribers"
                                                    : "they have no subscribers");
            }
            json_decref(missing);
            json_decref(extra);
        }
        json_t *count = json_object_get(ans, "count");
        json_array_append_new(
            entries, json_pack("{s:s, s:b, s:O, s:o, s:b}", "node", node, "local", local, "count",
                               count != NULL ? count : json_null(), "sees", sees, "agrees", ok));
    }
    json_decref(names);
    bool known = json_array_size(holders) > 0 || any_seen;
    return json_pack("{s:s, s:b, s:b, s:o, s:I, s:o, s:o}", "topic", topic, "known", known, "agree",
                     agree && all_answered, "holders", holders, "subscribers", subscribers, "nodes",
                     entries, "problems", problems);
}

void bnctl_topic_table(const json_t *cmp, bnctl_table_t *t)
{
    static const char *const heads[] = {"NODE", "LOCAL", "SUBSCRIBERS", "SEES HOLDERS", "AGREES"};
    bnctl_table_init(t, 5, heads, "llrll");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(cmp, "nodes"), i, e)
    {
        const char *node = str_or(json_object_get(e, "node"), "?");
        json_t *err = json_object_get(e, "error");
        if (err != NULL) {
            char msg[300];
            snprintf(msg, sizeof(msg), "no answer: %s", str_or(err, "?"));
            const char *row[] = {node, "?", "?", msg, "?"};
            bnctl_table_add(t, row);
            continue;
        }
        char subs[32], sees[1024];
        fmt_int(json_object_get(e, "count"), subs, sizeof(subs));
        set_join(json_object_get(e, "sees"), 64, sees, sizeof(sees));
        const char *row[] = {node, json_is_true(json_object_get(e, "local")) ? "yes" : "no", subs,
                             sees, json_is_true(json_object_get(e, "agrees")) ? "yes" : "NO"};
        bnctl_table_add(t, row);
    }
}

/* ---- stats -------------------------------------------------------------- */

json_int_t bnctl_refused_links(const json_t *closes)
{
    /* Handshakes this node turned down: an outsider's wrong cookie or an
     * incompatible or clashing node, not links that merely dropped. */
    static const char *const reasons[] = {"bad_cookie", "version_mismatch", "bad_hello",
                                          "encrypt_mismatch", "name_clash"};
    json_int_t n = 0;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        n += json_integer_value(json_object_get(closes, reasons[i]));
    }
    return n;
}

enum { STATS_NCOL = 14, STATS_CELL = 320 };

/* One node's stats row; adds its numbers into sums (columns 1-12; -1 in
 * sums[0] counts answering nodes). */
static void stats_cells(const char *label, const json_t *v, char cells[STATS_NCOL][STATS_CELL],
                        json_int_t sums[STATS_NCOL])
{
    static const char *const keys[] = {NULL,
                                       "sockets_websocket",
                                       "sockets_longpoll",
                                       "connections",
                                       "channels",
                                       "broadcasts_in",
                                       "broadcasts_out",
                                       "deliveries",
                                       "slow_consumer_closes",
                                       "refused_connects"};
    const json_t *st = json_object_get(v, "stats");
    snprintf(cells[0], sizeof(cells[0]), "%s", label);
    for (size_t c = 1; c < STATS_NCOL; c++) {
        snprintf(cells[c], sizeof(cells[c]), "%s", json_object_get(v, "error") ? "?" : "-");
    }
    if (json_is_object(st)) {
        sums[0]++;
        for (size_t c = 1; c < 10; c++) {
            json_t *x = json_object_get(st, keys[c]);
            fmt_int(x, cells[c + 1], sizeof(cells[c + 1]));
            sums[c + 1] += json_integer_value(x);
        }
        json_t *ws = json_object_get(st, "sockets_websocket");
        json_t *lp = json_object_get(st, "sockets_longpoll");
        if (json_is_integer(ws) && json_is_integer(lp)) {
            snprintf(cells[1], sizeof(cells[1]), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(ws) + json_integer_value(lp));
            sums[1] += json_integer_value(ws) + json_integer_value(lp);
        }
        json_t *rss = json_object_get(st, "rss_bytes");
        if (json_is_integer(rss)) {
            bnctl_fmt_bytes((uint64_t)json_integer_value(rss), cells[12], sizeof(cells[12]));
            sums[12] += json_integer_value(rss);
        }
        json_t *up = json_object_get(st, "uptime_ms");
        if (json_is_integer(up)) {
            bnctl_fmt_duration_ms(json_integer_value(up), cells[13], sizeof(cells[13]));
        }
    }
    json_t *mesh = json_object_get(v, "mesh");
    if (json_is_object(mesh)) {
        json_int_t r = bnctl_refused_links(json_object_get(mesh, "closes"));
        snprintf(cells[11], sizeof(cells[11]), "%" JSON_INTEGER_FORMAT, r);
        sums[11] += r;
    }
}

static void stats_add(bnctl_table_t *t, char cells[STATS_NCOL][STATS_CELL])
{
    const char *row[STATS_NCOL];
    for (size_t c = 0; c < STATS_NCOL; c++) {
        row[c] = cells[c];
    }
    bnctl_table_add(t, row);
}

/* The workers of one --workers node ("NAME-wI@HOST", at least two answer)
 * are summed in a row "NAME@HOST (N workers)" and listed beneath it. */
void bnctl_stats_table(const json_t *nodes, bnctl_table_t *t)
{
    /* SOCKETS (Phoenix sockets) = WS + LP, by construction; TCP is every
     * open connection of the HTTP port (WebSockets, LongPoll requests in
     * flight, idle keep-alive and unfinished requests): LongPoll sessions
     * hold no connection between polls, so it is not a sum of the others. */
    static const char *const heads[] = {
        "NODE",          "SOCKETS",       "WS",        "LP",         "TCP",
        "CHANNELS",      "BCAST IN",      "BCAST OUT", "DELIVERIES", "SLOW CLOSES",
        "REFUSED CONNS", "REFUSED LINKS", "RSS",       "UPTIME"};
    bnctl_table_init(t, STATS_NCOL, heads, "lrrrrrrrrrrrrr");
    json_t *names = sorted_keys(nodes);
    json_t *group_size = json_object(); /* NAME@HOST -> workers */
    char base[256], other[256];
    size_t i, j;
    json_t *k, *k2;
    json_array_foreach(names, i, k)
    {
        if (bn_mesh_worker_name(json_string_value(k), base, sizeof(base)) >= 0) {
            json_int_t n = json_integer_value(json_object_get(group_size, base));
            json_object_set_new(group_size, base, json_integer(n + 1));
        }
    }
    json_t *done = json_object();
    json_array_foreach(names, i, k)
    {
        const char *node = json_string_value(k);
        char cells[STATS_NCOL][STATS_CELL];
        json_int_t sums[STATS_NCOL] = {0};
        int w = bn_mesh_worker_name(node, base, sizeof(base));
        if (w < 0 || json_integer_value(json_object_get(group_size, base)) < 2) {
            stats_cells(node, json_object_get(nodes, node), cells, sums);
            stats_add(t, cells);
            continue;
        }
        if (json_object_get(done, base) != NULL) {
            continue;
        }
        json_object_set_new(done, base, json_true());
        /* The workers in index order, summed first. */
        json_int_t n = json_integer_value(json_object_get(group_size, base));
        const char **members = calloc((size_t)n, sizeof(*members));
        int *index = calloc((size_t)n, sizeof(*index));
        if (members == NULL || index == NULL) {
            abort();
        }
        size_t m = 0;
        json_array_foreach(names, j, k2)
        {
            int wi = bn_mesh_worker_name(json_string_value(k2), other, sizeof(other));
            if (wi >= 0 && strcmp(other, base) == 0) {
                size_t at = m++;
                while (at > 0 && index[at - 1] > wi) {
                    members[at] = members[at - 1];
                    index[at] = index[at - 1];
                    at--;
                }
                members[at] = json_string_value(k2);
                index[at] = wi;
            }
        }
        char(*rows)[STATS_NCOL][STATS_CELL] = calloc(m, sizeof(*rows));
        if (rows == NULL) {
            abort();
        }
        for (size_t r = 0; r < m; r++) {
            char label[STATS_CELL - 8];
            snprintf(label, sizeof(label), "%s %s", r + 1 < m ? "\u251c" : "\u2514", members[r]);
            stats_cells(label, json_object_get(nodes, members[r]), rows[r], sums);
        }
        snprintf(cells[0], sizeof(cells[0]), "%s", base);
        for (size_t c = 1; c < STATS_NCOL; c++) {
            snprintf(cells[c], sizeof(cells[c]), "%" JSON_INTEGER_FORMAT, sums[c]);
        }
        bnctl_fmt_bytes((uint64_t)sums[12], cells[12], sizeof(cells[12]));
        snprintf(cells[13], sizeof(cells[13]), "%" JSON_INTEGER_FORMAT "/%zu up", sums[0], m);
        stats_add(t, cells);
        for (size_t r = 0; r < m; r++) {
            stats_add(t, rows[r]);
        }
        free(rows);
        free(index);
        free(members);
    }
    json_decref(done);
    json_decref(group_size);
    json_decref(names);
}

/* ---- check -------------------------------------------------------------- */

static const json_t *member_entry(const json_t *members, const char *name)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(members, "nodes"), i, n)
    {
        if (strcmp(str_or(json_object_get(n, "name"), ""), name) == 0) {
            return n;
        }
    }
    return NULL;
}

/* The node itself plus every non-hidden node it sees up. */
static json_t *up_set(const json_t *members)
{
    json_t *set = json_array();
    set_add(set, str_or(json_object_get(members, "node"), "?"));
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(members, "nodes"), i, n)
    {
        if (!json_is_true(json_object_get(n, "hidden")) &&
            strcmp(str_or(json_object_get(n, "state"), ""), "up") == 0) {
            set_add(set, str_or(json_object_get(n, "name"), "?"));
        }
    }
    return set;
}

json_t *bnctl_unasked_nodes(const json_t *nodes)
{
    json_t *out = json_object();
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)nodes, name, v)
    {
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(json_object_get(v, "members"), "nodes"), i, n)
        {
            const char *other = str_or(json_object_get(n, "name"), NULL);
            json_int_t port = json_integer_value(json_object_get(n, "port"));
            if (other == NULL || json_is_true(json_object_get(n, "hidden")) || port <= 0 ||
                json_object_get(nodes, other) != NULL || json_object_get(out, other) != NULL) {
                continue;
            }
            char addr[128];
            snprintf(addr, sizeof(addr), "%s:%" JSON_INTEGER_FORMAT,
                     str_or(json_object_get(n, "host"), "?"), port);
            json_object_set_new(out, other, json_string(addr));
        }
    }
    return out;
}

static void check_groups(const char *x, const json_t *xv, const char *y, const json_t *yv,
                         json_t *problems)
{
    json_t *xg = json_object_get(xv, "groups");
    json_t *yg = json_object_get(yv, "groups");
    if (xg == NULL || yg == NULL) {
        return;
    }
    json_t *holds = set_from_array(json_object_get(xg, "local"));
    json_t *believed = set_from_array(json_object_get(json_object_get(yg, "peers"), x));
    json_t *missing = set_minus(holds, believed);
    json_t *extra = set_minus(believed, holds);
    char list[600];
    if (json_array_size(missing) > 0) {
        set_join(missing, LIST_MAX, list, sizeof(list));
        problem(problems, "%s does not know that %s holds %s", y, x, list);
    }
    if (json_array_size(extra) > 0) {
        set_join(extra, LIST_MAX, list, sizeof(list));
        problem(problems, "%s believes %s holds %s, but it does not", y, x, list);
    }
    json_decref(holds);
    json_decref(believed);
    json_decref(missing);
    json_decref(extra);
}

json_t *bnctl_check(const json_t *nodes)
{
    json_t *names = sorted_keys(nodes);
    json_t *answered = json_array();
    json_t *ups = json_object(); /* answered name -> up set */
    json_t *seen = json_array(); /* every non-hidden name mentioned */
    json_t *seen_up = json_array();
    json_t *problems = json_array();
    json_t *topics = json_array();
    size_t i;
    json_t *k;
    json_array_foreach(names, i, k)
    {
        const char *x = json_string_value(k);
        const json_t *v = json_object_get(nodes, x);
        set_add(seen, x);
        json_t *members = json_object_get(v, "members");
        if (members == NULL) {
            continue;
        }
        set_add(answered, x);
        json_t *up = up_set(members);
        size_t j;
        json_t *w;
        json_array_foreach(up, j, w)
        {
            set_add(seen_up, json_string_value(w));
        }
        json_object_set_new(ups, x, up);
        json_array_foreach(json_object_get(members, "nodes"), j, w)
        {
            if (!json_is_true(json_object_get(w, "hidden"))) {
                set_add(seen, str_or(json_object_get(w, "name"), "?"));
            }
        }
        json_array_foreach(json_object_get(json_object_get(v, "groups"), "local"), j, w)
        {
            set_add(topics, json_string_value(w));
        }
    }
    json_array_foreach(answered, i, k)
    {
        const char *x = json_string_value(k);
        const json_t *xv = json_object_get(nodes, x);
        json_t *xup = json_object_get(ups, x);
        json_int_t xinc =
            json_integer_value(json_object_get(json_object_get(xv, "members"), "incarnation"));
        size_t j;
        json_t *w;
        /* Who sees x, and with which incarnation. */
        json_array_foreach(answered, j, w)
        {
            const char *y = json_string_value(w);
            if (strcmp(x, y) == 0) {
                continue;
            }
            const json_t *yv = json_object_get(nodes, y);
            if (!set_has(json_object_get(ups, y), x)) {
                problem(problems, "%s sees %s down, but %s answers (and sees %s %s)", y, x, x, y,
                        set_has(xup, y) ? "up" : "down");
                continue;
            }
            const json_t *e = member_entry(json_object_get(yv, "members"), x);
            json_int_t yinc = json_integer_value(json_object_get(e, "incarnation"));
            if (e != NULL && yinc != xinc) {
                problem(problems,
                        "%s knows %s as incarnation %" JSON_INTEGER_FORMAT
                        ", but %s is incarnation %" JSON_INTEGER_FORMAT,
                        y, x, yinc, x, xinc);
            }
            check_groups(x, xv, y, yv, problems);
        }
        /* Nodes x sees up that bennuctl could not ask. */
        json_array_foreach(xup, j, w)
        {
            const char *n = json_string_value(w);
            if (set_has(answered, n)) {
                continue;
            }
            const char *err =
                str_or(json_object_get(json_object_get(nodes, n), "error"), "it was not asked");
            problem(problems, "%s sees %s up, but %s did not answer: %s", x, n, n, err);
        }
    }
    json_t *down = set_minus(seen, seen_up);
    json_t *down_only = set_minus(down, answered);
    json_decref(down);
    if (json_array_size(answered) == 0) {
        problem(problems, "no node answered");
    }
    json_t *out = json_pack("{s:b, s:O, s:O, s:o, s:I, s:o}", "ok", json_array_size(problems) == 0,
                            "answered", answered, "up", answered, "down", down_only, "topics",
                            (json_int_t)json_array_size(topics), "problems", problems);
    json_decref(names);
    json_decref(answered);
    json_decref(ups);
    json_decref(seen);
    json_decref(seen_up);
    json_decref(topics);
    return out;
}
