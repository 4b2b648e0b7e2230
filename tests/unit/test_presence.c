/* Unit tests for src/presence/: the state and diff logic (phx_ref,
 * coalescing, join/leave ordering, update, owner end, cap, count-only mode)
 * and the replication merge rules (full state on peer up, delta apply, gap
 * -> full-state request, peer down, a new incarnation never resurrecting the
 * old one, validation before apply). Two detached states talk through an
 * in-memory "network" that the tests can drop messages from. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence/internal.h"

/* ---------------------------------------------------------------- harness */

#define MAX_EV 64
#define MAX_NET 64

typedef struct node_s node_t;

typedef struct ev_s {
    char topic[64];
    char event[32];
    json_t *payload;
} ev_t;

typedef struct msg_s {
    node_t *from;
    node_t *to;
    char *body;
    size_t len;
} msg_t;

struct node_s {
    const char *name;
    bn__pr_t *pr;
    node_t *peer; /* the other node */
    ev_t ev[MAX_EV];
    size_t n_ev;
};

static msg_t g_net[MAX_NET];
static size_t g_n_net;

static void hook_send(void *ud, const char *to, const char *body, size_t len)
{
    node_t *n = ud;
    assert_true(to == NULL || strcmp(to, n->peer->name) == 0);
    assert_true(g_n_net < MAX_NET);
    g_net[g_n_net].from = n;
    g_net[g_n_net].to = n->peer;
    g_net[g_n_net].body = strndup(body, len);
    g_net[g_n_net].len = len;
    g_n_net++;
}

static void hook_fanout(void *ud, const char *topic, const char *event, json_t *payload)
{
    node_t *n = ud;
    assert_true(n->n_ev < MAX_EV);
    ev_t *e = &n->ev[n->n_ev++];
    snprintf(e->topic, sizeof(e->topic), "%s", topic);
    snprintf(e->event, sizeof(e->event), "%s", event);
    e->payload = json_incref(payload);
}

static void node_init(node_t *n, const char *name, uint64_t inc)
{
    memset(n, 0, sizeof(*n));
    n->name = name;
    bn__pr_hooks_t h = {.send = hook_send, .fanout = hook_fanout, .ud = n};
    n->pr = bn__pr_new_detached(name, inc, &h);
}

static void node_events_clear(node_t *n)
{
    for (size_t i = 0; i < n->n_ev; i++) {
        json_decref(n->ev[i].payload);
    }
    n->n_ev = 0;
}

static void node_free(node_t *n)
{
    bn__pr_free(n->pr); /* may still hand out diffs */
    node_events_clear(n);
}

static void net_clear(void)
{
    for (size_t i = 0; i < g_n_net; i++) {
        free(g_net[i].body);
    }
    g_n_net = 0;
}

/* Delivers every queued message (and what they cause) in order; returns how
 * many were delivered. drop: index of one message to lose, or -1. */
static size_t net_run(long drop)
{
    /* Only what was queued before this call; answers wait for the next. */
    msg_t batch[MAX_NET];
    size_t n = g_n_net;
    memcpy(batch, g_net, n * sizeof(batch[0]));
    g_n_net = 0;
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if ((long)i != drop) {
            bn__pr_receive(batch[i].to->pr, batch[i].from->name, batch[i].body, batch[i].len);
            done++;
        }
        free(batch[i].body);
    }
    return done;
}

static int owner_tag[16]; /* distinct owner ids */

static json_t *list(node_t *n, const char *topic)
{
    return bn__pr_list(n->pr, topic);
}

/* The sorted keys of topic on node n, comma-joined. */
static const char *keys(node_t *n, const char *topic)
{
    static char buf[256];
    json_t *l = list(n, topic);
    const char *ks[32];
    size_t nk = 0;
    const char *k;
    json_t *v;
    json_object_foreach(l, k, v)
    {
        ks[nk++] = k;
    }
    for (size_t i = 0; i < nk; i++) {
        for (size_t j = i + 1; j < nk; j++) {
            if (strcmp(ks[j], ks[i]) < 0) {
                const char *t = ks[i];
                ks[i] = ks[j];
                ks[j] = t;
            }
        }
    }
    buf[0] = '\0';
    for (size_t i = 0; i < nk; i++) {
        strcat(buf, i ? "," : "");
        strcat(buf, ks[i]);
    }
    json_decref(l);
    return buf;
}

static const char *ref_of(node_t *n, const char *topic, const char *key, size_t i)
{
    static char buf[40];
    json_t *l = list(n, topic);
    json_t *m = json_array_get(json_object_get(json_object_get(l, key), "metas"), i);
    snprintf(buf, sizeof(buf), "%s", m ? json_string_value(json_object_get(m, "phx_ref")) : "");
    json_decref(l);
    return buf;
}

/* ---------------------------------------------------------------- state and diffs */

static void test_track_diff_shape(void **state)
{
    (void)state;
    node_t a;
    node_init(&a, "a@h", 1);
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[0], NULL, "room:x", "alice",
                                  json_pack("{s:s, s:i}", "zeta", "z", "alpha", 1)),
                     0);
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[1], NULL, "room:x", "bob", NULL), 0);
    assert_int_equal(a.n_ev, 0); /* coalesced until the interval ends */
    bn__pr_flush_diffs(a.pr);
    assert_int_equal(a.n_ev, 1);
    assert_string_equal(a.ev[0].event, "presence_diff");
    char *s = json_dumps(a.ev[0].payload, JSON_COMPACT);
    /* keys in sorted order, phx_ref 16 base64url chars, joins before leaves */
    char ref[40], ref_b[40];
    snprintf(ref, sizeof(ref), "%s", ref_of(&a, "room:x", "alice", 0));
    snprintf(ref_b, sizeof(ref_b), "%s", ref_of(&a, "room:x", "bob", 0));
    assert_int_equal(strlen(ref), 16);
    assert_int_equal(
        strspn(ref, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 16);
    char want[512];
    snprintf(want, sizeof(want),
             "{\"joins\":{\"alice\":{\"metas\":[{\"alpha\":1,\"phx_ref\":\"%s\",\"zeta\":\"z\"}]},"
             "\"bob\":{\"metas\":[{\"phx_ref\":\"%s\"}]}},\"leaves\":{}}",
             ref, ref_b);
    assert_string_equal(s, want);
    free(s);
    assert_int_equal(a.pr->total, 2);
    node_free(&a);
}

static void test_join_then_leave_two_diffs(void **state)
{
    (void)state;
    node_t a;
    node_init(&a, "a@h", 1);
    bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "k", NULL);
    /* the leave of a ref still pending as a join flushes first: two diffs */
    assert_int_equal(bn__pr_untrack(a.pr, &owner_tag[0], "k"), 0);
    assert_int_equal(a.n_ev, 1);
    bn__pr_flush_diffs(a.pr);
    assert_int_equal(a.n_ev, 2);
    assert_int_equal(json_object_size(json_object_get(a.ev[0].payload, "joins")), 1);
    assert_int_equal(json_object_size(json_object_get(a.ev[0].payload, "leaves")), 0);
    assert_int_equal(json_object_size(json_object_get(a.ev[1].payload, "joins")), 0);
    assert_int_equal(json_object_size(json_object_get(a.ev[1].payload, "leaves")), 1);
    assert_int_equal(bn__pr_untrack(a.pr, &owner_tag[0], "k"), -1);
    assert_null(a.pr->topics); /* empty topics go */
    node_free(&a);
}

static void test_update_leave_and_join_in_one_diff(void **state)
{
    (void)state;
    node_t a;
    node_init(&a, "a@h", 1);
    bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "k", json_pack("{s:s}", "s", "away"));
    bn__pr_flush_diffs(a.pr);
    char old[40];
    snprintf(old, sizeof(old), "%s", ref_of(&a, "t", "k", 0));
    node_events_clear(&a);
    assert_int_equal(bn__pr_update(a.pr, &owner_tag[0], "k", json_pack("{s:s}", "s", "busy")), 0);
    bn__pr_flush_diffs(a.pr);
    assert_int_equal(a.n_ev, 1);
    json_t *j = json_array_get(
        json_object_get(json_object_get(json_object_get(a.ev[0].payload, "joins"), "k"), "metas"),
        0);
    json_t *l = json_array_get(
        json_object_get(json_object_get(json_object_get(a.ev[0].payload, "leaves"), "k"), "metas"),
        0);
    assert_string_equal(json_string_value(json_object_get(l, "phx_ref")), old);
    assert_string_equal(json_string_value(json_object_get(j, "phx_ref_prev")), old);
    assert_string_not_equal(json_string_value(json_object_get(j, "phx_ref")), old);
    assert_string_equal(json_string_value(json_object_get(j, "s")), "busy");
    assert_int_equal(a.pr->total, 1);
    node_free(&a);
}

static void test_owner_gone_duplicate_and_bad_input(void **state)
{
    (void)state;
    node_t a;
    node_init(&a, "a@h", 1);
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "k1", NULL), 0);
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "k2", NULL), 0);
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "k1", NULL), -1); /* again */
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[1], NULL, "t", "k1", NULL),
                     0); /* another owner */
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[2], NULL, "t", "", NULL), -1);
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[2], NULL, "t", "x", json_integer(3)), -1);
    assert_int_equal(
        bn__pr_track(a.pr, &owner_tag[2], NULL, "t", "x", json_pack("{s:s}", "phx_ref", "mine")),
        -1);
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(
        bn__pr_track(a.pr, &owner_tag[2], NULL, "t", "x", json_pack("{s:s}", "b", big)), -1);
    assert_string_equal(keys(&a, "t"), "k1,k2");
    bn__pr_flush_diffs(a.pr);
    node_events_clear(&a);
    bn__pr_owner_gone(a.pr, &owner_tag[0]);
    bn__pr_flush_diffs(a.pr);
    assert_int_equal(a.n_ev, 1);
    json_t *leaves = json_object_get(a.ev[0].payload, "leaves");
    assert_int_equal(json_object_size(leaves), 2);
    assert_string_equal(keys(&a, "t"), "k1"); /* owner 1's k1 stays */
    assert_int_equal(a.pr->total, 1);
    node_free(&a);
}

static void test_cap_and_count_mode(void **state)
{
    (void)state;
    node_t a;
    node_init(&a, "a@h", 1);
    a.pr->max_per_topic = 4;
    a.pr->count_above = 2;
    char k[8];
    for (int i = 0; i < 4; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(bn__pr_track(a.pr, &owner_tag[i], NULL, "t", k, NULL), 0);
    }
    assert_int_equal(bn__pr_track(a.pr, &owner_tag[5], NULL, "t", "k5", NULL), -1); /* cap */
    assert_int_equal(a.pr->stats.capped, 1);
    bn__pr_flush_diffs(a.pr);
    /* above 2 keys: only counts, and no diff (its pending joins dropped) */
    assert_int_equal(a.n_ev, 1);
    assert_string_equal(a.ev[0].event, "presence_count");
    char *s = json_dumps(a.ev[0].payload, JSON_COMPACT);
    assert_string_equal(s, "{\"count\":4,\"metas\":4}");
    free(s);
    bn__pr_untrack(a.pr, &owner_tag[0], "k0");
    bn__pr_flush_diffs(a.pr);
    assert_int_equal(a.n_ev, 2);
    assert_string_equal(a.ev[1].event, "presence_count");
    node_free(&a);
}

/* ---------------------------------------------------------------- replication */

static void pair(node_t *a, node_t *b)
{
    node_init(a, "a@h", 100);
    node_init(b, "b@h", 200);
    a->peer = b;
    b->peer = a;
}

static void pair_up(node_t *a, node_t *b)
{
    bn__pr_peer_up(a->pr, b->name, b->pr->self->incarnation);
    bn__pr_peer_up(b->pr, a->name, a->pr->self->incarnation);
    while (g_n_net > 0) {
        net_run(-1);
    }
}

static void test_full_state_on_peer_up_and_deltas(void **state)
{
    (void)state;
    node_t a, b;
    pair(&a, &b);
    bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "a1", NULL);
    bn__pr_track(b.pr, &owner_tag[1], NULL, "t", "b1", NULL);
    pair_up(&a, &b);
    assert_string_equal(keys(&a, "t"), "a1,b1");
    assert_string_equal(keys(&b, "t"), "a1,b1");
    /* same refs on both sides */
    char ref[40];
    snprintf(ref, sizeof(ref), "%s", ref_of(&a, "t", "a1", 0));
    assert_string_equal(ref_of(&b, "t", "a1", 0), ref);
    /* deltas: add and remove */
    bn__pr_track(a.pr, &owner_tag[2], NULL, "t", "a2", NULL);
    bn__pr_untrack(a.pr, &owner_tag[0], "a1");
    assert_int_equal(g_n_net, 0); /* nothing before the replication tick */
    bn__pr_repl_tick(a.pr);
    assert_int_equal(g_n_net, 1); /* one delta with both ops */
    net_run(-1);
    assert_string_equal(keys(&b, "t"), "a2,b1");
    assert_int_equal(b.pr->reps->seq, a.pr->self->seq);
    /* a duplicate of an applied delta changes nothing */
    bn__pr_track(a.pr, &owner_tag[3], NULL, "t", "a3", NULL);
    bn__pr_repl_tick(a.pr);
    char *dup = strdup(g_net[0].body);
    net_run(-1);
    bn__pr_receive(b.pr, "a@h", dup, strlen(dup));
    free(dup);
    assert_string_equal(keys(&b, "t"), "a2,a3,b1");
    assert_int_equal(b.pr->total, 3);
    node_free(&a);
    node_free(&b);
}

static void test_gap_requests_full_state(void **state)
{
    (void)state;
    node_t a, b;
    pair(&a, &b);
    pair_up(&a, &b);
    bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "a1", NULL);
    bn__pr_repl_tick(a.pr);
    net_run(0); /* the delta is lost */
    assert_string_equal(keys(&b, "t"), "");
    bn__pr_track(a.pr, &owner_tag[1], NULL, "t", "a2", NULL);
    bn__pr_repl_tick(a.pr);
    net_run(-1); /* base beyond b's clock: b asks for the full state */
    assert_true(b.pr->reps->full_requested);
    assert_int_equal(b.pr->stats.full_requests, 1);
    assert_string_equal(keys(&b, "t"), "");
    net_run(-1); /* the request reaches a, which answers */
    net_run(-1); /* the full state reaches b */
    assert_string_equal(keys(&b, "t"), "a1,a2");
    assert_false(b.pr->reps->full_requested);
    /* a lost last delta is caught by the heartbeat's clock */
    bn__pr_untrack(a.pr, &owner_tag[0], "a1");
    bn__pr_repl_tick(a.pr);
    net_run(0);
    for (unsigned i = 0; i < BN__PR_HEARTBEAT_TICKS; i++) {
        bn__pr_repl_tick(a.pr);
    }
    net_run(-1); /* heartbeat: b is behind */
    net_run(-1); /* request */
    net_run(-1); /* full state */
    assert_string_equal(keys(&b, "t"), "a2");
    node_free(&a);
    node_free(&b);
}

static void test_peer_down_and_new_incarnation(void **state)
{
    (void)state;
    node_t a, b;
    pair(&a, &b);
    bn__pr_track(a.pr, &owner_tag[0], NULL, "t", "a1", NULL);
    bn__pr_track(b.pr, &owner_tag[1], NULL, "t", "b1", NULL);
    pair_up(&a, &b);
    bn__pr_flush_diffs(b.pr);
    node_events_clear(&b);
    /* a goes down: its presences leave on b; b's own stay (no leave) */
    bn__pr_peer_down(b.pr, "a@h", 100);
    assert_string_equal(keys(&b, "t"), "b1");
    bn__pr_flush_diffs(b.pr);
    assert_int_equal(b.n_ev, 1);
    assert_non_null(json_object_get(json_object_get(b.ev[0].payload, "leaves"), "a1"));
    assert_null(json_object_get(json_object_get(b.ev[0].payload, "leaves"), "b1"));
    /* heal with the same incarnation: full state again, same refs */
    char ref[40];
    snprintf(ref, sizeof(ref), "%s", ref_of(&a, "t", "a1", 0));
    pair_up(&a, &b);
    assert_string_equal(keys(&b, "t"), "a1,b1");
    assert_string_equal(ref_of(&b, "t", "a1", 0), ref);

    /* a restarts (new incarnation, empty): a stale delta of the old one
     * queued before cannot resurrect anything */
    bn__pr_track(a.pr, &owner_tag[2], NULL, "t", "ghost", NULL);
    bn__pr_repl_tick(a.pr);
    msg_t stale = g_net[0];
    g_n_net = 0;
    node_t a2;
    node_init(&a2, "a@h", 101);
    a2.peer = &b;
    b.peer = &a2;
    bn__pr_track(a2.pr, &owner_tag[3], NULL, "t", "fresh", NULL);
    bn__pr_peer_up(b.pr, "a@h", 101); /* the new incarnation: old presences leave */
    assert_string_equal(keys(&b, "t"), "b1");
    bn__pr_peer_up(a2.pr, "b@h", 200);
    net_run(-1);
    bn__pr_receive(b.pr, "a@h", stale.body, stale.len); /* inc 100: ignored */
    free(stale.body);
    assert_string_equal(keys(&b, "t"), "b1,fresh");
    assert_string_equal(keys(&a2, "t"), "b1,fresh");
    node_free(&a);
    node_free(&a2);
    node_free(&b);
}

static void test_peer_input_validated_before_apply(void **state)
{
    (void)state;
    node_t a, b;
    pair(&a, &b);
    pair_up(&a, &b);
    static const char *const bad[] = {
        "not json",
        "[1,2]",
        "{\"v\":2,\"t\":\"d\",\"inc\":\"100\",\"seq\":1,\"base\":0,\"ops\":[]}",
        /* second op bad: nothing of the delta may be applied */
        "{\"v\":1,\"t\":\"d\",\"inc\":\"100\",\"seq\":2,\"base\":0,\"ops\":["
        "[\"+\",\"t\",\"ok\",{\"phx_ref\":\"r1\"}],[\"+\",\"t\",\"bad\",{\"no_ref\":1}]]}",
        /* count does not match the seq range */
        "{\"v\":1,\"t\":\"d\",\"inc\":\"100\",\"seq\":5,\"base\":0,\"ops\":["
        "[\"+\",\"t\",\"ok\",{\"phx_ref\":\"r1\"}]]}",
        "{\"v\":1,\"t\":\"d\",\"inc\":\"100\",\"seq\":1,\"base\":0,\"ops\":[[\"+\",\"\",\"k\",{"
        "\"phx_ref\":\"r\"}]]}",
        "{\"v\":1,\"t\":\"f\",\"inc\":\"100\",\"seq\":1,\"entries\":[[\"t\",\"k\",{\"phx_ref\":1}]]"
        "}",
        "{\"v\":1,\"t\":\"f\",\"inc\":\"x\",\"seq\":1,\"entries\":[]}",
        "{\"v\":1,\"t\":\"c\",\"inc\":\"100\",\"seq\":-1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(bn__pr_receive(b.pr, "a@h", bad[i], strlen(bad[i])), -1);
    }
    assert_int_equal(b.pr->total, 0);
    assert_int_equal(b.pr->stats.bad_in, sizeof(bad) / sizeof(bad[0]));
    /* a well-formed one from a node that is not up is ignored */
    const char *good = "{\"v\":1,\"t\":\"d\",\"inc\":\"100\",\"seq\":1,\"base\":0,\"ops\":["
                       "[\"+\",\"t\",\"ok\",{\"phx_ref\":\"r1\"}]]}";
    assert_int_equal(bn__pr_receive(b.pr, "z@h", good, strlen(good)), 0);
    assert_int_equal(b.pr->total, 0);
    assert_int_equal(bn__pr_receive(b.pr, "a@h", good, strlen(good)), 0);
    assert_string_equal(keys(&b, "t"), "ok");
    net_clear();
    node_free(&a);
    node_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_track_diff_shape),
        cmocka_unit_test(test_join_then_leave_two_diffs),
        cmocka_unit_test(test_update_leave_and_join_in_one_diff),
        cmocka_unit_test(test_owner_gone_duplicate_and_bad_input),
        cmocka_unit_test(test_cap_and_count_mode),
        cmocka_unit_test(test_full_state_on_peer_up_and_deltas),
        cmocka_unit_test(test_gap_requests_full_state),
        cmocka_unit_test(test_peer_down_and_new_incarnation),
        cmocka_unit_test(test_peer_input_validated_before_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
