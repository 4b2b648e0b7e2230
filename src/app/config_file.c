/* bennu --config FILE (see config_file.h and docs/config.md). */
#include "app/config_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/options.h"
#include "bennu/secret.h"

/* The largest config file read. */
#define BN_APP_FILE_MAX (1024 * 1024)
/* The webhook secret file: at most this many bytes. */
#define BN_APP_WEBHOOK_SECRET_MAX 255
#define BN_APP_WEBHOOK_SECRET_MIN 16

static const char *const join_names[] = {
#define BN_APP_JOIN_NAME(name, str) str,
    BN_APP_JOIN_MAP(BN_APP_JOIN_NAME)
#undef BN_APP_JOIN_NAME
};
static const char *const events_names[] = {
#define BN_APP_EVENTS_NAME(name, str) str,
    BN_APP_EVENTS_MAP(BN_APP_EVENTS_NAME)
#undef BN_APP_EVENTS_NAME
};

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int enum_parse(const char *const *names, size_t n, json_t *v, const char *path, int *out,
                      char *why, size_t why_len)
{
    char list[128] = "";
    for (size_t i = 0; i < n; i++) {
        if (json_is_string(v) && strcmp(json_string_value(v), names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
    }
    return fail(why, why_len, "%s: expected one of %s", path, list);
}

static int num_get(json_t *v, const char *path, long min, long max, long *out, char *why,
                   size_t why_len)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        return fail(why, why_len, "%s: expected an integer %ld..%ld", path, min, max);
    }
    *out = (long)json_integer_value(v);
    return 0;
}

static int add_arg(bn_app_file_t *f, const char *name, const char *value)
{
    char **nv = realloc(f->argv, sizeof(char *) * (size_t)(f->argc + 2));
    if (nv == NULL) {
        return -1;
    }
    f->argv = nv;
    size_t len = strlen(name) + (value ? strlen(value) + 1 : 0) + 3;
    char *a = malloc(len);
    if (a == NULL) {
        return -1;
    }
    if (value != NULL) {
        snprintf(a, len, "--%s=%s", name, value);
    } else {
        snprintf(a, len, "--%s", name);
    }
    f->argv[f->argc++] = a;
    f->argv[f->argc] = NULL;
    return 0;
}

/* A flag's value: a string, an integer, or (for repeatable flags) an
 * array of those. */
static int flag_values(bn_app_file_t *f, const struct option *o, json_t *v, const char *path,
                       bool array_ok, char *why, size_t why_len)
{
    if (o->has_arg == no_argument) {
        if (!json_is_boolean(v)) {
            return fail(why, why_len, "%s: expected true or false", path);
        }
        return json_is_true(v) ? add_arg(f, o->name, NULL) : 0;
    }
    char num[32];
    if (json_is_string(v)) {
        if (json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
            return fail(why, why_len, "%s: expected a non-empty string without NUL", path);
        }
        return add_arg(f, o->name, json_string_value(v));
    }
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return add_arg(f, o->name, num);
    }
    if (json_is_array(v) && array_ok) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            char sub[160];
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (flag_values(f, o, e, sub, false, why, why_len) != 0) {
                return -1;
            }
        }
        return 0;
    }
    return fail(why, why_len, "%s: expected a string or an integer%s", path,
                array_ok ? " (or an array of them)" : "");
}

static int parse_route(bn_app_file_t *f, json_t *r, size_t idx, char *why, size_t why_len)
{
    char path[64];
    snprintf(path, sizeof(path), "$.channels[%zu]", idx);
    if (!json_is_object(r)) {
        return fail(why, why_len, "%s: expected an object", path);
    }
    if (f->n_routes == BN_APP_ROUTES_MAX) {
        return fail(why, why_len, "%s: at most %d channel routes", path, BN_APP_ROUTES_MAX);
    }
    bn_app_route_t *rt = &f->routes[f->n_routes];
    memset(rt, 0, sizeof(*rt));
    rt->file = f;
    rt->events = BN_APP_EVENTS_NONE;
    bool have_join = false, have_topic = false, has_uid = false;
    const char *key;
    json_t *v;
    char kp[160];
    json_object_foreach(r, key, v)
    {
        snprintf(kp, sizeof(kp), "%s.%s", path, key);
        int e = 0;
        if (strcmp(key, "topic") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) >= sizeof(rt->pattern)) {
                return fail(why, why_len, "%s: expected a non-empty string (at most %zu bytes)", kp,
                            sizeof(rt->pattern) - 1);
            }
            snprintf(rt->pattern, sizeof(rt->pattern), "%s", json_string_value(v));
            if (!bn_app_pattern_valid(rt->pattern, &has_uid)) {
                return fail(why, why_len,
                            "%s: '*' only at the end, '{user_id}' the only placeholder", kp);
            }
            have_topic = true;
        } else if (strcmp(key, "join") == 0) {
            if (enum_parse(join_names, sizeof(join_names) / sizeof(join_names[0]), v, kp, &e, why,
                           why_len) != 0) {
                return -1;
            }
            rt->join = (bn_app_join_t)e;
            have_join = true;
        } else if (strcmp(key, "events") == 0) {
            if (enum_parse(events_names, sizeof(events_names) / sizeof(events_names[0]), v, kp, &e,
                           why, why_len) != 0) {
                return -1;
            }
            rt->events = (bn_app_events_t)e;
        } else if (strcmp(key, "presence") == 0) {
            if (!json_is_boolean(v)) {
                return fail(why, why_len, "%s: expected true or false", kp);
            }
            rt->presence = json_is_true(v);
        } else if (strcmp(key, "leave") == 0) {
            static const char *const leave_names[] = {"none", "webhook"};
            if (enum_parse(leave_names, 2, v, kp, &e, why, why_len) != 0) {
                return -1;
            }
            rt->leave_webhook = e == 1;
        } else {
            return fail(why, why_len,
                        "%s: unknown key (accepted: topic, join, events, presence, "
                        "leave)",
                        kp);
        }
    }
    if (!have_topic) {
        return fail(why, why_len, "%s.topic: missing", path);
    }
    if (!have_join) {
        return fail(why, why_len, "%s.join: missing", path);
    }
    if (rt->join == BN_APP_JOIN_OWNER && !has_uid) {
        return fail(why, why_len, "%s.join: \"owner\" needs a {user_id} segment in the topic",
                    path);
    }
    /* The server's router matches a literal prefix; the rest of the
     * pattern is checked in join. */
    size_t lit = strcspn(rt->pattern, "{*");
    memcpy(rt->router_pattern, rt->pattern, lit);
    if (rt->pattern[lit] != '\0') {
        rt->router_pattern[lit++] = '*';
    }
    rt->router_pattern[lit] = '\0';
    f->n_routes++;
    return 0;
}

static int parse_webhook(bn_app_file_t *f, json_t *w, char *why, size_t why_len)
{
    if (!json_is_object(w)) {
        return fail(why, why_len, "$.webhook: expected an object");
    }
    bn_wh_config_t *c = &f->wh_cfg;
    memset(c, 0, sizeof(*c));
    c->timeout_ms = 2000;
    c->max_in_flight = 64;
    c->max_response_bytes = 65536;
    const char *key;
    json_t *v;
    char kp[96];
    bool have_url = false, have_secret = false;
    long n = 0;
    json_object_foreach(w, key, v)
    {
        snprintf(kp, sizeof(kp), "$.webhook.%s", key);
        if (strcmp(key, "url") == 0) {
            if (!json_is_string(v)) {
                return fail(why, why_len, "%s: expected a string", kp);
            }
            char reason[256];
            if (bn_wh_url_parse(json_string_value(v), c, reason, sizeof(reason)) != 0) {
                return fail(why, why_len, "%s: %s", kp, reason);
            }
            have_url = true;
        } else if (strcmp(key, "timeout_ms") == 0) {
            if (num_get(v, kp, 1, 600000, &n, why, why_len) != 0) {
                return -1;
            }
            c->timeout_ms = (unsigned)n;
        } else if (strcmp(key, "max_in_flight") == 0) {
            if (num_get(v, kp, 1, 100000, &n, why, why_len) != 0) {
                return -1;
            }
            c->max_in_flight = (unsigned)n;
        } else if (strcmp(key, "max_response_bytes") == 0) {
            if (num_get(v, kp, 2, 16L * 1024 * 1024, &n, why, why_len) != 0) {
                return -1;
            }
            c->max_response_bytes = (size_t)n;
        } else if (strcmp(key, "secret_file") == 0) {
            if (!json_is_string(v)) {
                return fail(why, why_len, "%s: expected a string", kp);
            }
            char buf[BN_APP_WEBHOOK_SECRET_MAX + 1], reason[512];
            const char *s =
                bn_secret_file_read(json_string_value(v), buf, sizeof(buf), reason, sizeof(reason));
            if (s == NULL) {
                return fail(why, why_len, "%s: %s", kp, reason);
            }
            if (strlen(s) < BN_APP_WEBHOOK_SECRET_MIN) {
                return fail(why, why_len, "%s: the secret must be at least %d bytes", kp,
                            BN_APP_WEBHOOK_SECRET_MIN);
            }
            c->key_len = strlen(s);
            memcpy(c->key, s, c->key_len);
            memset(buf, 0, sizeof(buf));
            have_secret = true;
        } else {
            return fail(why, why_len,
                        "%s: unknown key (accepted: url, secret_file, timeout_ms, "
                        "max_in_flight, max_response_bytes)",
                        kp);
        }
    }
    if (!have_url) {
        return fail(why, why_len, "$.webhook.url: missing");
    }
    if (!have_secret) {
        return fail(why, why_len, "$.webhook.secret_file: missing");
    }
    f->have_webhook = true;
    return 0;
}

int bn_app_file_parse(const char *text, size_t len, const struct option *opts, bn_app_file_t *f,
                      char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return fail(why, why_len, "$: invalid JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    }
    int rc = -1;
    if (!json_is_object(root)) {
        fail(why, why_len, "$: expected an object");
        goto out;
    }
    json_t *w = json_object_get(root, "webhook");
    if (w != NULL && parse_webhook(f, w, why, why_len) != 0) {
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        char kp[160];
        snprintf(kp, sizeof(kp), "$.%s", key);
        if (strcmp(key, "webhook") == 0) {
            continue;
        }
        if (strcmp(key, "channels") == 0) {
            if (!json_is_array(v)) {
                fail(why, why_len, "$.channels: expected an array");
                goto out;
            }
            size_t i;
            json_t *r;
            json_array_foreach(v, i, r)
            {
                if (parse_route(f, r, i, why, why_len) != 0) {
                    goto out;
                }
            }
            f->have_channels = true;
            continue;
        }
        const struct option *o = NULL;
        for (const struct option *p = opts; p->name != NULL; p++) {
            if (strcmp(p->name, key) == 0 && strcmp(key, "config") != 0 &&
                strcmp(key, "help") != 0 && strcmp(key, "version") != 0) {
                o = p;
            }
        }
        if (o == NULL) {
            fail(why, why_len,
                 "%s: unknown key (channels, webhook, or a flag of bennu --help "
                 "without its dashes)",
                 kp);
            goto out;
        }
        const bn_app_opt_t *row = bn_app_opt_find(key);
        bool repeatable = row != NULL && row->kind == BN_APP_KIND_LIST;
        if (flag_values(f, o, v, kp, repeatable, why, why_len) != 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < f->n_routes; i++) {
        const bn_app_route_t *rt = &f->routes[i];
        if (!f->have_webhook && (rt->join == BN_APP_JOIN_WEBHOOK ||
                                 rt->events == BN_APP_EVENTS_WEBHOOK || rt->leave_webhook)) {
            fail(why, why_len, "$.channels[%zu]: uses the webhook, but $.webhook is missing", i);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Reads path (bounded) into a new string. */
static char *read_file(const char *path, size_t *len, char *why, size_t why_len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        fail(why, why_len, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(BN_APP_FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, BN_APP_FILE_MAX + 1, fp) : 0;
    int err = ferror(fp);
    fclose(fp);
    if (buf == NULL || err) {
        free(buf);
        fail(why, why_len, "cannot read");
        return NULL;
    }
    if (n > BN_APP_FILE_MAX) {
        free(buf);
        fail(why, why_len, "larger than %d bytes", BN_APP_FILE_MAX);
        return NULL;
    }
    *len = n;
    return buf;
}

int bn_app_file_argv(int *argc, char ***argv, const struct option *opts, bn_app_file_t **out)
{
    *out = NULL;
    const char *path = NULL;
    for (int i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];
        if (strcmp(a, "--") == 0) {
            break;
        }
        if (strcmp(a, "--config") == 0 && i + 1 < *argc) {
            path = (*argv)[i + 1];
        } else if (strncmp(a, "--config=", 9) == 0) {
            path = a + 9;
        }
    }
    if (path == NULL) {
        return 0; /* a bare --config without a value is reported by getopt */
    }
    static bn_app_file_t file; /* lives as long as the process */
    bn_app_file_t *f = &file;
    memset(f, 0, sizeof(*f));
    snprintf(f->node, sizeof(f->node), "-");
    char why[768];
    size_t len = 0;
    char *text = read_file(path, &len, why, sizeof(why));
    if (text == NULL) {
        fprintf(stderr, "bennu: --config %s: %s\n", path, why);
        return 2;
    }
    if (add_arg(f, "", NULL) != 0) {
        free(text);
        return 1;
    }
    free(f->argv[0]);
    f->argv[0] = (*argv)[0];
    int rc = bn_app_file_parse(text, len, opts, f, why, sizeof(why));
    free(text);
    if (rc != 0) {
        fprintf(stderr, "bennu: --config %s: %s\n", path, why);
        return 2;
    }
    for (int i = 1; i < *argc; i++) {
        char **nv = realloc(f->argv, sizeof(char *) * (size_t)(f->argc + 2));
        if (nv == NULL) {
            return 1;
        }
        f->argv = nv;
        f->argv[f->argc++] = (*argv)[i];
        f->argv[f->argc] = NULL;
    }
    f->orig_argc = *argc;
    f->orig_argv = *argv;
    *argc = f->argc;
    *argv = f->argv;
    *out = f;
    return 0;
}

void bn_app_file_set_node(bn_app_file_t *f, const char *name)
{
    if (f != NULL && name != NULL) {
        snprintf(f->node, sizeof(f->node), "%s", name);
    }
}

void bn_app_file_stats(const bn_app_file_t *f, json_t *stats)
{
    if (f != NULL && f->wh != NULL && json_is_object(stats)) {
        json_object_set_new(stats, "webhook", bn_wh_stats_json(f->wh));
    }
}

void bn_app_file_metrics(void *ud, bn_metrics_t *m)
{
    const bn_app_file_t *f = ud;
    if (f != NULL && f->wh != NULL) {
        bn_wh_metrics(f->wh, m);
    }
}

void bn_app_file_close(bn_app_file_t *f)
{
    if (f != NULL && f->wh != NULL) {
        bn_wh_close(f->wh);
        f->wh = NULL;
    }
}
