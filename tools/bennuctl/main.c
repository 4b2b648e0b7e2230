/* bennuctl: inspects and drives a bennu cluster as a hidden mesh node.
 * This file runs the subcommands: it gathers the nodes' admin answers
 * through client.c and prints what view.c makes of them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "token_cli.h"
#include "bennu/log.h"
#include "client.h"
#include "view.h"

typedef struct ctl_s {
    bnctl_args_t *a;
    bnctl_client_t *client;
    char target_name[256];
} ctl_t;

static const char *str_or(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : dflt;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int exit_for(bnctl_err_t e)
{
    return e == BNCTL_E_OK ? BNCTL_EXIT_OK
                           : (e == BNCTL_E_REMOTE ? BNCTL_EXIT_FOUND : BNCTL_EXIT_UNREACHABLE);
}

static void print_json(const ctl_t *ctl, const json_t *doc)
{
    /* One compact document per line when watching (a stream), else indented. */
    size_t flags = ctl->a->watch_ms ? JSON_COMPACT : JSON_INDENT(2);
    char *text = json_dumps(doc, flags | JSON_SORT_KEYS);
    printf("%s\n", text != NULL ? text : "null");
    free(text);
}

static void print_table(bnctl_table_t *t)
{
    char *s = bnctl_table_render(t);
    fputs(s, stdout);
    free(s);
    bnctl_table_free(t);
}

/* Asks the target alone. Returns the answer, or NULL after printing why
 * (*rc set). */
static json_t *ask_target(ctl_t *ctl, json_t *req, int *rc)
{
    const char *addr = ctl->a->node;
    bnctl_result_t r;
    bnctl_client_run(ctl->client, 1, &addr, &req, &r);
    if (r.err != BNCTL_E_OK) {
        fprintf(stderr, "bennuctl: %s\n", r.msg);
        *rc = exit_for(r.err);
        return NULL;
    }
    *rc = 0;
    return r.resp;
}

/* Which part of an answer goes into nodes[name][key]. */
typedef struct {
    const char *op;
    const char *key;   /* field of the answer, NULL = the whole answer */
    const char *store; /* key under nodes[name] */
} op_spec_t;

static const op_spec_t OP_GROUPS = {"groups", "groups", "groups"};
static const op_spec_t OP_STATS = {"stats", NULL, "stats"};

/* Sends every op to every node in addrs (name -> "host:port") and stores
 * the answers in nodes. */
static void gather(ctl_t *ctl, json_t *addrs, const op_spec_t *ops, size_t n_ops, json_t *topic_req,
                   json_t *nodes)
{
    size_t n = json_object_size(addrs) * n_ops;
    if (n == 0) {
        return;
    }
    const char **as = calloc(n, sizeof(*as));
    json_t **reqs = calloc(n, sizeof(*reqs));
    const char **names = calloc(n, sizeof(*names));
    bnctl_result_t *out = calloc(n, sizeof(*out));
    if (as == NULL || reqs == NULL || names == NULL || out == NULL) {
        abort();
    }
    size_t i = 0;
    const char *name;
    json_t *addr;
    json_object_foreach(addrs, name, addr)
    {
        for (size_t o = 0; o < n_ops; o++) {
            as[i] = json_string_value(addr);
            names[i] = name;
            reqs[i] = topic_req != NULL &&
                              strcmp(ops[o].op, str_or(json_object_get(topic_req, "op"), "")) == 0
                          ? json_incref(topic_req)
                          : json_pack("{s:s}", "op", ops[o].op);
            i++;
        }
    }
    bnctl_client_run(ctl->client, n, as, reqs, out);
    for (i = 0; i < n; i++) {
        const op_spec_t *op = &ops[i % n_ops];
        json_t *slot = json_object_get(nodes, names[i]);
        if (slot == NULL) {
            slot = json_pack("{s:s}", "addr", as[i]);
            json_object_set_new(nodes, names[i], slot);
        }
        if (out[i].err != BNCTL_E_OK) {
            json_object_set_new(slot, "error", json_string(out[i].msg));
        } else if (op->key == NULL && strcmp(op->op, "stats") != 0) {
            json_object_set(slot, op->store, out[i].resp); /* the whole answer */
        } else if (op->key == NULL) {
            /* stats: the counters and the mesh's own */
            json_object_set(slot, "stats", json_object_get(out[i].resp, "stats"));
            json_object_set(slot, "mesh", json_object_get(out[i].resp, "mesh"));
        } else if (strcmp(op->op, "topic") == 0) {
            json_object_set(slot, "topic", out[i].resp);
        } else {
            json_object_set(slot, op->store, json_object_get(out[i].resp, op->key));
        }
        bnctl_result_clear(&out[i]);
        json_decref(reqs[i]);
    }
    free(as);
    free(reqs);
    free(names);
    free(out);
}

/* The target's members (without bennuctl itself); NULL after printing why. */
static json_t *target_members(ctl_t *ctl, int *rc)
{
    json_t *req = json_pack("{s:s}", "op", "members");
    json_t *resp = ask_target(ctl, req, rc);
    json_decref(req);
    if (resp == NULL) {
        return NULL;
    }
    json_t *m = bnctl_members_clean(json_object_get(resp, "members"),
                                    bnctl_client_name_prefix(ctl->client));
    json_decref(resp);
    snprintf(ctl->target_name, sizeof(ctl->target_name), "%s",
             str_or(json_object_get(m, "node"), "?"));
    return m;
}

/* name -> addr of the target and of the non-hidden nodes it lists (only
 * those it sees up unless all). */
static json_t *node_addrs(ctl_t *ctl, const json_t *members, bool all)
{
    json_t *addrs = json_object();
    json_object_set_new(addrs, ctl->target_name, json_string(ctl->a->node));
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(members, "nodes"), i, n)
    {
        const char *name = json_string_value(json_object_get(n, "name"));
        json_int_t port = json_integer_value(json_object_get(n, "port"));
        bool up = strcmp(str_or(json_object_get(n, "state"), ""), "up") == 0;
        if (name == NULL || json_is_true(json_object_get(n, "hidden")) || port <= 0 ||
            (!up && !all)) {
            continue;
        }
        char addr[128];
        snprintf(addr, sizeof(addr), "%s:%" JSON_INTEGER_FORMAT,
                 str_or(json_object_get(n, "host"), "?"), port);
        json_object_set_new(addrs, name, json_string(addr));
    }
    return addrs;
}

/* ---- subcommands ---------------------------------------------------------- */

static int cmd_members(ctl_t *ctl)
{
    int rc;
    json_t *m = target_members(ctl, &rc);
    if (m == NULL) {
        return rc;
    }
    if (ctl->a->json) {
        print_json(ctl, m);
    } else {
        bnctl_table_t t;
        bnctl_members_table(m, ctl->a->node, &t);
        print_table(&t);
    }
    json_decref(m);
    return 0;
}

/* Asks every node the target lists as up for op (topic_req: the request
 * of a per-topic op, else NULL): returns their answers by node name, and in
 * *members the target's members answer (the caller frees both); NULL with
 * *rc when the target could not be asked. */
static json_t *ask_up_nodes(ctl_t *ctl, const op_spec_t *op, json_t *topic_req, json_t **members,
                            int *rc)
{
    *members = target_members(ctl, rc);
    if (*members == NULL) {
        return NULL;
    }
    json_t *addrs = node_addrs(ctl, *members, false);
    json_t *nodes = json_object();
    gather(ctl, addrs, op, 1, topic_req, nodes);
    json_decref(addrs);
    return nodes;
}

static int cmd_groups(ctl_t *ctl)
{
    int rc;
    json_t *m;
    json_t *nodes = ask_up_nodes(ctl, &OP_GROUPS, NULL, &m, &rc);
    if (nodes == NULL) {
        return rc;
    }
    json_t *target = json_object_get(nodes, ctl->target_name);
    if (json_object_get(target, "groups") == NULL) {
        fprintf(stderr, "bennuctl: %s\n", str_or(json_object_get(target, "error"), "no answer"));
        rc = BNCTL_EXIT_UNREACHABLE;
    } else {
        json_t *merged = bnctl_groups_merge(ctl->target_name, nodes, ctl->a->pattern);
        json_t *doc = ctl->a->summary ? bnctl_groups_summary(merged) : json_incref(merged);
        if (ctl->a->json) {
            print_json(ctl, doc);
        } else {
            bnctl_table_t t;
            if (ctl->a->summary) {
                bnctl_groups_summary_table(doc, &t);
            } else {
                bnctl_groups_table(merged, &t);
            }
            print_table(&t);
        }
        const char *name;
        json_t *v;
        json_object_foreach(nodes, name, v)
        {
            const char *err = json_string_value(json_object_get(v, "error"));
            if (err != NULL) {
                fprintf(stderr, "bennuctl: counts of %s unknown: %s\n", name, err);
            }
        }
        json_decref(doc);
        json_decref(merged);
        rc = 0;
    }
    json_decref(nodes);
    json_decref(m);
    return rc;
}

static int cmd_topic(ctl_t *ctl)
{
    int rc;
    json_t *m;
    json_t *req = json_pack("{s:s, s:s}", "op", "topic", "topic", ctl->a->topic);
    static const op_spec_t op = {"topic", "topic", "topic"};
    json_t *nodes = ask_up_nodes(ctl, &op, req, &m, &rc);
    json_decref(req);
    if (nodes == NULL) {
        return rc;
    }
    json_t *cmp = bnctl_topic_compare(ctl->a->topic, nodes);
    bool known = json_is_true(json_object_get(cmp, "known"));
    bool agree = json_is_true(json_object_get(cmp, "agree"));
    if (ctl->a->json) {
        print_json(ctl, cmp);
    } else if (known) {
        bnctl_table_t t;
        bnctl_topic_table(cmp, &t);
        print_table(&t);
        char holders[1024];
        size_t len = 0;
        holders[0] = '\0';
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(cmp, "holders"), i, h)
        {
            len +=
                (size_t)snprintf(holders + len, len < sizeof(holders) ? sizeof(holders) - len : 0,
                                 "%s%s", i ? ", " : "", json_string_value(h));
        }
        printf("\n%s: held by %s (%" JSON_INTEGER_FORMAT " subscribers)\n", ctl->a->topic,
               holders[0] ? holders : "no node",
               json_integer_value(json_object_get(cmp, "subscribers")));
        if (agree) {
            printf("agreement: all %zu nodes agree\n",
                   json_array_size(json_object_get(cmp, "nodes")));
        } else {
            printf("DIVERGENCE: the nodes disagree about who holds %s\n", ctl->a->topic);
            json_array_foreach(json_object_get(cmp, "problems"), i, h)
            {
                printf("  - %s\n", json_string_value(h));
            }
        }
    }
    if (!known) {
        fprintf(
            stderr,
            "bennuctl: unknown topic '%s': no node has subscribers to it or believes one does\n",
            ctl->a->topic);
    }
    rc = known && agree ? 0 : BNCTL_EXIT_FOUND;
    json_decref(cmp);
    json_decref(nodes);
    json_decref(m);
    return rc;
}

static int cmd_stats(ctl_t *ctl)
{
    int rc;
    json_t *m;
    json_t *nodes = ask_up_nodes(ctl, &OP_STATS, NULL, &m, &rc);
    if (nodes == NULL) {
        return rc;
    }
    /* Nodes the target sees down are listed, so a missing one is visible. */
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(m, "nodes"), i, n)
    {
        const char *name = json_string_value(json_object_get(n, "name"));
        if (name != NULL && !json_is_true(json_object_get(n, "hidden")) &&
            json_object_get(nodes, name) == NULL) {
            char why[300];
            snprintf(why, sizeof(why), "%s according to %s",
                     str_or(json_object_get(n, "link_state"), "down"), ctl->target_name);
            json_object_set_new(nodes, name, json_pack("{s:s}", "error", why));
        }
    }
    json_t *target = json_object_get(nodes, ctl->target_name);
    if (json_object_get(target, "stats") == NULL && json_object_get(target, "mesh") == NULL) {
        fprintf(stderr, "bennuctl: %s\n", str_or(json_object_get(target, "error"), "no answer"));
        rc = BNCTL_EXIT_UNREACHABLE;
    } else if (ctl->a->json) {
        json_t *doc = json_pack("{s:s, s:O}", "node", ctl->target_name, "nodes", nodes);
        print_json(ctl, doc);
        json_decref(doc);
        rc = 0;
    } else {
        bnctl_table_t t;
        bnctl_stats_table(nodes, &t);
        print_table(&t);
        const char *name;
        json_t *v;
        json_object_foreach(nodes, name, v)
        {
            const char *err = json_string_value(json_object_get(v, "error"));
            if (err != NULL) {
                printf("%s: %s\n", name, err);
            }
        }
        rc = 0;
    }
    json_decref(nodes);
    json_decref(m);
    return rc;
}

/* Presence agreement for check: every answering node's per-topic digests
 * (bn_presence_admin_json) must be equal; each difference is a problem. */
static void presence_check(const json_t *nodes, json_t *report)
{
    const char *first = NULL;
    const json_t *ref = NULL;
    json_t *problems = json_object_get(report, "problems");
    size_t compared = 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)nodes, name, v)
    {
        const json_t *topics = json_object_get(json_object_get(v, "presence"), "topics");
        if (!json_is_object(topics) || json_object_get(v, "members") == NULL) {
            continue; /* down, unreachable, or a node without presence */
        }
        compared++;
        if (ref == NULL) {
            first = name;
            ref = topics;
            continue;
        }
        const char *t;
        json_t *d;
        json_object_foreach((json_t *)topics, t, d)
        {
            json_t *rd = json_object_get(ref, t);
            if (rd == NULL ||
                !json_equal(json_object_get(rd, "digest"), json_object_get(d, "digest"))) {
                char msg[600];
                snprintf(msg, sizeof(msg),
                         "presence in %s: %s lists %" JSON_INTEGER_FORMAT
                         " metas, %s lists %" JSON_INTEGER_FORMAT " (different members)",
                         t, name, json_integer_value(json_object_get(d, "metas")), first,
                         json_integer_value(json_object_get(rd, "metas")));
                json_array_append_new(problems, json_string(msg));
            }
        }
        json_object_foreach((json_t *)ref, t, d)
        {
            if (json_object_get(topics, t) == NULL) {
                char msg[600];
                snprintf(msg, sizeof(msg),
                         "presence in %s: %s lists %" JSON_INTEGER_FORMAT " metas, %s lists none",
                         t, first, json_integer_value(json_object_get(d, "metas")), name);
                json_array_append_new(problems, json_string(msg));
            }
        }
    }
    json_object_set_new(report, "presence_compared", json_integer((json_int_t)compared));
    if (json_array_size(problems) > 0) {
        json_object_set_new(report, "ok", json_false());
    }
}

/* One topic's presences on every up node, and whether they agree. */
static int cmd_presence(ctl_t *ctl)
{
    int rc;
    json_t *m;
    json_t *req = json_pack("{s:s, s:s}", "op", "presence", "topic", ctl->a->topic);
    static const op_spec_t op = {"presence", NULL, "presence"};
    json_t *nodes = ask_up_nodes(ctl, &op, req, &m, &rc);
    json_decref(req);
    if (nodes == NULL) {
        return rc;
    }
    const json_t *ref = NULL;
    const char *ref_name = NULL;
    json_t *problems = json_array();
    const char *name;
    json_t *v;
    json_object_foreach(nodes, name, v)
    {
        json_t *p = json_object_get(v, "presence");
        if (p == NULL || !json_is_true(json_object_get(p, "ok"))) {
            char msg[400];
            snprintf(msg, sizeof(msg), "%s did not answer: %s", name,
                     str_or(json_object_get(v, "error"),
                            str_or(json_object_get(p, "error"), "no presence")));
            json_array_append_new(problems, json_string(msg));
            continue;
        }
        if (ref == NULL) {
            ref = p;
            ref_name = name;
        } else if (!json_equal(json_object_get(ref, "digest"), json_object_get(p, "digest"))) {
            char msg[400];
            snprintf(msg, sizeof(msg),
                     "%s lists %" JSON_INTEGER_FORMAT " metas under %" JSON_INTEGER_FORMAT
                     " keys, %s lists %" JSON_INTEGER_FORMAT " under %" JSON_INTEGER_FORMAT,
                     name, json_integer_value(json_object_get(p, "metas")),
                     json_integer_value(json_object_get(p, "keys")), ref_name,
                     json_integer_value(json_object_get(ref, "metas")),
                     json_integer_value(json_object_get(ref, "keys")));
            json_array_append_new(problems, json_string(msg));
        }
    }
    bool agree = json_array_size(problems) == 0;
    json_t *target = json_object_get(json_object_get(nodes, ctl->target_name), "presence");
    if (ctl->a->json) {
        json_t *doc = json_pack("{s:s, s:b, s:O, s:O}", "topic", ctl->a->topic, "agree", agree,
                                "problems", problems, "nodes", nodes);
        print_json(ctl, doc);
        json_decref(doc);
    } else if (target != NULL) {
        static const char *const heads[] = {"KEY", "NODE", "PHX_REF", "META"};
        bnctl_table_t t;
        bnctl_table_init(&t, 4, heads, "llll");
        const char *key;
        json_t *entry;
        json_object_foreach(json_object_get(target, "presences"), key, entry)
        {
            size_t i;
            json_t *meta;
            json_array_foreach(json_object_get(entry, "metas"), i, meta)
            {
                json_t *rest = json_deep_copy(meta);
                const char *ref_s = str_or(json_object_get(meta, "phx_ref"), "?");
                json_object_del(rest, "phx_ref");
                char *text = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS);
                const char *owner = "?";
                const char *node_name;
                json_t *keys;
                json_object_foreach(json_object_get(target, "by_node"), node_name, keys)
                {
                    size_t j;
                    json_t *k;
                    json_array_foreach(keys, j, k)
                    {
                        if (strcmp(json_string_value(k), key) == 0) {
                            owner = node_name;
                        }
                    }
                }
                const char *row[] = {key,
                                     json_is_string(json_object_get(meta, "node"))
                                         ? json_string_value(json_object_get(meta, "node"))
                                         : owner,
                                     ref_s, text != NULL ? text : "?"};
                bnctl_table_add(&t, row);
                free(text);
                json_decref(rest);
            }
        }
        print_table(&t);
        printf("\n%s: %" JSON_INTEGER_FORMAT " keys, %" JSON_INTEGER_FORMAT
               " metas according to %s\n",
               ctl->a->topic, json_integer_value(json_object_get(target, "keys")),
               json_integer_value(json_object_get(target, "metas")), ctl->target_name);
        if (agree) {
            printf("agreement: all %zu nodes list the same presences\n", json_object_size(nodes));
        } else {
            printf("DIVERGENCE: the nodes list different presences in %s\n", ctl->a->topic);
        }
        size_t i;
        json_t *p;
        json_array_foreach(problems, i, p)
        {
            printf("  - %s\n", json_string_value(p));
        }
    } else {
        fprintf(stderr, "bennuctl: %s did not answer\n", ctl->target_name);
    }
    json_decref(problems);
    json_decref(nodes);
    json_decref(m);
    return agree ? 0 : BNCTL_EXIT_FOUND;
}

static int cmd_check(ctl_t *ctl)
{
    int rc;
    json_t *m = target_members(ctl, &rc);
    if (m == NULL) {
        return rc;
    }
    static const op_spec_t ops[] = {{"members", "members", "members"},
                                    {"groups", "groups", "groups"},
                                    {"presence", NULL, "presence"}};
    json_t *addrs = node_addrs(ctl, m, true);
    json_t *nodes = json_object();
    gather(ctl, addrs, ops, 3, NULL, nodes);
    /* Nodes the others know and the target does not: ask them too. */
    json_t *more = bnctl_unasked_nodes(nodes);
    gather(ctl, more, ops, 3, NULL, nodes);
    json_decref(more);
    /* Our own hidden links are in every answer: drop them. */
    const char *name;
    json_t *v;
    json_object_foreach(nodes, name, v)
    {
        json_t *mm = json_object_get(v, "members");
        if (mm != NULL) {
            json_object_set_new(v, "members",
                                bnctl_members_clean(mm, bnctl_client_name_prefix(ctl->client)));
        }
    }
    json_t *report = bnctl_check(nodes);
    presence_check(nodes, report);
    bool ok = json_is_true(json_object_get(report, "ok"));
    if (ctl->a->json) {
        print_json(ctl, report);
    } else {
        static const char *const heads[] = {"NODE", "ANSWERED", "SEES UP", "LOCAL TOPICS"};
        bnctl_table_t t;
        bnctl_table_init(&t, 4, heads, "llrr");
        size_t n_names = json_object_size(nodes), k = 0;
        const char **sorted = calloc(n_names ? n_names : 1, sizeof(*sorted));
        if (sorted == NULL) {
            abort();
        }
        json_object_foreach(nodes, name, v)
        {
            sorted[k++] = name;
        }
        qsort(sorted, n_names, sizeof(*sorted), cmp_str);
        for (k = 0; k < n_names; k++) {
            name = sorted[k];
            v = json_object_get(nodes, name);
            char up[16] = "?", topics[16] = "?";
            json_t *mm = json_object_get(v, "members");
            json_t *g = json_object_get(v, "groups");
            if (mm != NULL) {
                size_t n_up = 1, i;
                json_t *e;
                json_array_foreach(json_object_get(mm, "nodes"), i, e)
                {
                    n_up += !json_is_true(json_object_get(e, "hidden")) &&
                            strcmp(str_or(json_object_get(e, "state"), ""), "up") == 0;
                }
                snprintf(up, sizeof(up), "%zu", n_up);
            }
            if (g != NULL) {
                snprintf(topics, sizeof(topics), "%zu",
                         json_array_size(json_object_get(g, "local")));
            }
            const char *row[] = {name, mm != NULL ? "yes" : "no", up, topics};
            bnctl_table_add(&t, row);
        }
        free(sorted);
        print_table(&t);
        size_t i;
        json_t *p;
        json_t *down = json_object_get(report, "down");
        json_array_foreach(down, i, p)
        {
            printf("down (all answering nodes agree): %s\n", json_string_value(p));
        }
        json_t *problems = json_object_get(report, "problems");
        if (ok) {
            printf("ok: %zu nodes agree on members and on %" JSON_INTEGER_FORMAT " topics\n",
                   json_array_size(json_object_get(report, "answered")),
                   json_integer_value(json_object_get(report, "topics")));
        } else {
            printf("DISAGREEMENT: %zu problem%s\n", json_array_size(problems),
                   json_array_size(problems) == 1 ? "" : "s");
            json_array_foreach(problems, i, p)
            {
                printf("  - %s\n", json_string_value(p));
            }
        }
    }
    json_decref(report);
    json_decref(nodes);
    json_decref(addrs);
    json_decref(m);
    return ok ? 0 : BNCTL_EXIT_FOUND;
}

static int cmd_broadcast(ctl_t *ctl)
{
    json_t *payload = json_loads(ctl->a->payload, JSON_DECODE_ANY, NULL);
    json_t *req = json_pack("{s:s, s:s, s:s, s:o}", "op", "broadcast", "topic", ctl->a->topic,
                            "event", ctl->a->event, "payload", payload);
    int rc;
    json_t *resp = ask_target(ctl, req, &rc);
    json_decref(req);
    if (resp == NULL) {
        return rc;
    }
    if (ctl->a->json) {
        json_object_del(resp, "ok");
        json_object_set_new(resp, "topic", json_string(ctl->a->topic));
        json_object_set_new(resp, "event", json_string(ctl->a->event));
        print_json(ctl, resp);
    } else {
        json_int_t peers = json_integer_value(json_object_get(resp, "peers"));
        printf("broadcast %s %s via %s: delivered to its local subscribers and sent to "
               "%" JSON_INTEGER_FORMAT " other node%s\n",
               ctl->a->topic, ctl->a->event, ctl->a->node, peers, peers == 1 ? "" : "s");
    }
    json_decref(resp);
    return 0;
}

/* forget NODE: refused when the target sees NODE up; else asked of the
 * target and of every node it sees up, each of which refuses if it sees
 * NODE up itself. */
static int cmd_forget(ctl_t *ctl)
{
    int rc;
    json_t *m = target_members(ctl, &rc);
    if (m == NULL) {
        return rc;
    }
    const char *node = ctl->a->forget;
    if (strcmp(node, ctl->target_name) == 0) {
        fprintf(stderr,
                "bennuctl: %s is the node you asked (--node): it is up; a node can be "
                "forgotten only by the others, once it is stopped\n",
                node);
        json_decref(m);
        return BNCTL_EXIT_FOUND;
    }
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(m, "nodes"), i, n)
    {
        if (strcmp(str_or(json_object_get(n, "name"), ""), node) == 0 &&
            strcmp(str_or(json_object_get(n, "state"), ""), "down") != 0) {
            fprintf(stderr,
                    "bennuctl: %s is %s according to %s: only a down node can be forgotten; "
                    "stop it first\n",
                    node, str_or(json_object_get(n, "state"), "up"), ctl->target_name);
            json_decref(m);
            return BNCTL_EXIT_FOUND;
        }
    }
    json_t *addrs = node_addrs(ctl, m, false);
    json_object_del(addrs, node);
    size_t count = json_object_size(addrs), k = 0;
    const char **as = calloc(count ? count : 1, sizeof(*as));
    const char **names = calloc(count ? count : 1, sizeof(*names));
    json_t **reqs = calloc(count ? count : 1, sizeof(*reqs));
    bnctl_result_t *out = calloc(count ? count : 1, sizeof(*out));
    if (as == NULL || names == NULL || reqs == NULL || out == NULL) {
        abort();
    }
    const char *name;
    json_t *addr;
    json_object_foreach(addrs, name, addr)
    {
        as[k] = json_string_value(addr);
        names[k] = name;
        reqs[k] = json_pack("{s:s, s:s}", "op", "forget", "node", node);
        k++;
    }
    bnctl_client_run(ctl->client, count, as, reqs, out);
    json_t *doc =
        json_pack("{s:s, s:[], s:[], s:{}}", "node", node, "forgotten", "unknown", "errors");
    for (k = 0; k < count; k++) {
        if (out[k].err != BNCTL_E_OK) {
            json_object_set_new(json_object_get(doc, "errors"), names[k], json_string(out[k].msg));
        } else if (!json_is_true(json_object_get(out[k].resp, "ok"))) {
            json_object_set_new(json_object_get(doc, "errors"), names[k],
                                json_string(str_or(json_object_get(out[k].resp, "error"), "?")));
        } else {
            json_array_append_new(
                json_object_get(doc, json_is_true(json_object_get(out[k].resp, "forgotten"))
                                         ? "forgotten"
                                         : "unknown"),
                json_string(names[k]));
        }
        bnctl_result_clear(&out[k]);
        json_decref(reqs[k]);
    }
    free(as);
    free(names);
    free(reqs);
    free(out);
    size_t n_forgot = json_array_size(json_object_get(doc, "forgotten"));
    size_t n_err = json_object_size(json_object_get(doc, "errors"));
    if (ctl->a->json) {
        print_json(ctl, doc);
    } else {
        json_t *v;
        json_object_foreach(json_object_get(doc, "errors"), name, v)
        {
            printf("%s: not forgotten: %s\n", name, json_string_value(v));
        }
        if (n_forgot > 0) {
            printf("forgot %s on %zu node%s\n", node, n_forgot, n_forgot == 1 ? "" : "s");
        } else if (n_err == 0) {
            printf("no node knows %s\n", node);
        }
    }
    json_decref(doc);
    json_decref(addrs);
    json_decref(m);
    return n_err == 0 && n_forgot > 0 ? 0 : BNCTL_EXIT_FOUND;
}

static int run_once(ctl_t *ctl)
{
    switch (ctl->a->cmd) {
    case BNCTL_CMD_MEMBERS:
        return cmd_members(ctl);
    case BNCTL_CMD_GROUPS:
        return cmd_groups(ctl);
    case BNCTL_CMD_TOPIC:
        return cmd_topic(ctl);
    case BNCTL_CMD_PRESENCE:
        return cmd_presence(ctl);
    case BNCTL_CMD_STATS:
        return cmd_stats(ctl);
    case BNCTL_CMD_CHECK:
        return cmd_check(ctl);
    case BNCTL_CMD_BROADCAST:
        return cmd_broadcast(ctl);
    case BNCTL_CMD_FORGET:
        return cmd_forget(ctl);
    default:
        return BNCTL_EXIT_USAGE;
    }
}

/* --watch: refresh until interrupted (or --count refreshes). A target that
 * stops answering is reported and retried: watching a restart is a use. */
static int run_watch(ctl_t *ctl)
{
    bool tty = isatty(STDOUT_FILENO) && !ctl->a->json;
    int rc = 0;
    for (unsigned i = 0; ctl->a->count == 0 || i < ctl->a->count; i++) {
        if (i > 0) {
            bnctl_client_sleep(ctl->client, ctl->a->watch_ms);
        }
        if (bnctl_client_interrupted(ctl->client)) {
            break;
        }
        if (!ctl->a->json) {
            char stamp[32];
            time_t now = time(NULL);
            strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
            printf("%sEvery %.1fs: bennuctl %s --node %s  %s\n\n",
                   tty ? "\033[H\033[2J" : (i ? "\n" : ""), ctl->a->watch_ms / 1000.0,
                   bnctl_cmd_name(ctl->a->cmd), ctl->a->node, stamp);
        }
        rc = run_once(ctl);
        fflush(stdout);
    }
    return rc;
}

int main(int argc, char **argv)
{
    bnctl_args_t a;
    char err[512];
    if (bnctl_args_parse(argc, argv, &a, err, sizeof(err)) != 0) {
        fprintf(stderr, "bennuctl: %s\n", err);
        return BNCTL_EXIT_USAGE;
    }
    if (a.help) {
        bnctl_usage(stdout, a.cmd);
        return BNCTL_EXIT_OK;
    }
    if (a.cmd == BNCTL_CMD_TOKEN) {
        /* `bennuctl --dev token mint`: --dev before the word means the
         * development secret here, as after it. */
        char *args[a.token_argc + 2];
        int n = 0;
        args[n++] = a.token_argv[0];
        if (a.dev) {
            args[n++] = (char *)"--dev";
        }
        for (int i = 1; i < a.token_argc; i++) {
            args[n++] = a.token_argv[i];
        }
        args[n] = NULL;
        return bn_token_cli_main("bennuctl token", n, args);
    }
    char *cookie = bnctl_cookie_resolve(&a, getenv("BENNU_COOKIE"), err, sizeof(err));
    if (cookie == NULL) {
        fprintf(stderr, "bennuctl: %s\n", err);
        return BNCTL_EXIT_USAGE;
    }
    if (strlen(cookie) < 16) {
        /* The nodes refuse such cookies too (src/mesh/handshake.c). */
        fprintf(stderr, "bennuctl: the cluster cookie must be at least 16 bytes (got %zu)\n",
                strlen(cookie));
        free(cookie);
        return BNCTL_EXIT_USAGE;
    }
    /* The mesh library logs like a server; a command-line tool reports its
     * own errors, so its log is off unless asked for. */
    bn_log_level = (bn_log_level_t)bn_log_level_parse(a.log_level);
    ctl_t ctl = {.a = &a, .client = bnctl_client_new(cookie, a.timeout_ms)};
    free(cookie);
    int rc = a.watch_ms ? run_watch(&ctl) : run_once(&ctl);
    fflush(stdout);
    bnctl_client_free(ctl.client);
    return rc;
}
