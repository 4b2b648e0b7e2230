/* Mesh behaviour over real sockets on 127.0.0.1 (port 0): several bn_mesh
 * instances in one loop, waiting on predicates with deadlines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bennu/admin.h"
#include "bennu/cluster.h"
#include "bennu/log.h"
#include "mesh/internal.h"
#include "mesh_test.h"

#define MAX_NODES 4

typedef struct tnode_s {
    bn_mesh_t *m;
    char name[32];
    char seed[32];
    int delivered;
    char topic[64];
    char event[64];
    char payload[256];
    size_t payload_len;
    bn_payload_kind_t kind;
    bn_admin_t admin; /* the admin responder over a bare mesh (no server) */
} tnode_t;

typedef struct world_s {
    uv_loop_t loop;
    tnode_t n[MAX_NODES];
    int closed;
} world_t;

static void on_deliver(void *ud, const char *topic, size_t topic_len, const char *event,
                       size_t event_len, const bn_payload_t *payload)
{
    tnode_t *t = ud;
    t->delivered++;
    snprintf(t->topic, sizeof(t->topic), "%.*s", (int)topic_len, topic);
    snprintf(t->event, sizeof(t->event), "%.*s", (int)event_len, event);
    t->payload_len = payload->len < sizeof(t->payload) ? payload->len : sizeof(t->payload) - 1;
    memcpy(t->payload, payload->raw, t->payload_len);
    t->payload[t->payload_len] = '\0';
    t->kind = payload->kind;
}

static json_t *on_stats(void *ud)
{
    tnode_t *t = ud;
    return json_pack("{s:s}", "who", t->name);
}

static const bn_mesh_callbacks_t test_cb = {.deliver = on_deliver};

typedef struct {
    const char *cookie;
    const char *seed_of; /* name of the node whose port is our seed, or NULL */
    unsigned tick_ms, down_ms;
    bool hidden;
    size_t max_link_queue;
} topt_t;

#define TEST_COOKIE "unit-test-cookie-0123456789"

static void world_init(world_t *w)
{
    memset(w, 0, sizeof(*w));
    bn_log_level = BN_LOG_ERROR;
    assert_int_equal(uv_loop_init(&w->loop), 0);
}

static tnode_t *node_add(world_t *w, int i, const char *name, int seed_port, const topt_t *o)
{
    tnode_t *t = &w->n[i];
    snprintf(t->name, sizeof(t->name), "%s", name);
    const char *seeds[1];
    bn_mesh_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = t->name;
    cfg.cookie = o && o->cookie ? o->cookie : TEST_COOKIE;
    cfg.port = o && o->hidden ? -1 : 0;
    cfg.tick_ms = o && o->tick_ms ? o->tick_ms : 50;
    cfg.down_ms = o && o->down_ms ? o->down_ms : 2000;
    cfg.hidden = o && o->hidden;
    cfg.max_link_queue = o ? o->max_link_queue : 0;
    if (seed_port > 0) {
        snprintf(t->seed, sizeof(t->seed), "127.0.0.1:%d", seed_port);
        seeds[0] = t->seed;
        cfg.seeds = seeds;
        cfg.n_seeds = 1;
    }
    assert_int_equal(bn_mesh_new(&w->loop, &cfg, &test_cb, t, &t->m), 0);
    bn_admin_attach(&t->admin, t->m, NULL);
    t->admin.stats = on_stats;
    t->admin.ud = t;
    bn__mesh_timing(t->m)->backoff_min_ms = 20;
    bn__mesh_timing(t->m)->backoff_max_ms = 200;
    return t;
}

static void node_start(tnode_t *t)
{
    assert_int_equal(bn_mesh_start(t->m), 0);
}

static void on_mesh_closed(void *ud)
{
    world_t *w = ud;
    w->closed++;
}

static void node_close(world_t *w, tnode_t *t)
{
    if (t->m != NULL) {
        bn_mesh_close(t->m, on_mesh_closed, w);
        t->m = NULL;
    }
}

static bool all_closed(void *ud)
{
    world_t *w = ud;
    int want = 0;
    for (int i = 0; i < MAX_NODES; i++) {
        want += w->n[i].name[0] != '\0';
    }
    return w->closed == want;
}

static void world_close(world_t *w)
{
    for (int i = 0; i < MAX_NODES; i++) {
        node_close(w, &w->n[i]);
    }
    assert_true(mt_run_until(&w->loop, all_closed, w, 2000));
    uv_run(&w->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&w->loop), 0);
}

/* ---- predicates --------------------------------------------------------- */

typedef struct {
    world_t *w;
    int count;
    size_t up;
} up_pred_t;

static bool pred_up(void *ud)
{
    up_pred_t *p = ud;
    for (int i = 0; i < p->count; i++) {
        if (p->w->n[i].m == NULL || bn_mesh_up_count(p->w->n[i].m) != p->up) {
            return false;
        }
    }
    return true;
}

static void wait_up(world_t *w, int count, size_t up)
{
    up_pred_t p = {w, count, up};
    assert_true(mt_run_until(&w->loop, pred_up, &p, 5000));
}

typedef struct {
    tnode_t *at;
    const char *of;
    const char *topic;
    bool want;
} has_pred_t;

static bool pred_has(void *ud)
{
    has_pred_t *p = ud;
    bn__node_t *n = bn__node_find(p->at->m, p->of);
    bool has = n != NULL && bn__gset_has(&n->groups, p->topic, strlen(p->topic));
    return has == p->want;
}

static void wait_has(world_t *w, tnode_t *at, tnode_t *of, const char *topic, bool want)
{
    has_pred_t p = {at, of->name, topic, want};
    assert_true(mt_run_until(&w->loop, pred_has, &p, 5000));
}

typedef struct {
    bn_mesh_t *m;
    bn_close_reason_t r;
    uint64_t at_least;
} close_pred_t;

static bool pred_closes(void *ud)
{
    close_pred_t *p = ud;
    return bn__mesh_close_count(p->m, p->r) >= p->at_least;
}

static void wait_closes(world_t *w, bn_mesh_t *m, bn_close_reason_t r, uint64_t at_least)
{
    close_pred_t p = {m, r, at_least};
    if (!mt_run_until(&w->loop, pred_closes, &p, 5000)) {
        fail_msg("no close with reason %s (have %llu)", bn_close_reason_name(r),
                 (unsigned long long)bn__mesh_close_count(m, r));
    }
}

typedef struct {
    tnode_t *t;
    int want;
} deliver_pred_t;

static bool pred_delivered(void *ud)
{
    deliver_pred_t *p = ud;
    return p->t->delivered >= p->want;
}

static bn__link_t *link_to(tnode_t *at, tnode_t *of)
{
    bn__node_t *n = bn__node_find(at->m, of->name);
    return n != NULL ? n->link : NULL;
}

typedef struct {
    tnode_t *at, *of;
} link_pred_t;

static bool pred_linked(void *ud)
{
    link_pred_t *p = ud;
    bn__link_t *l = link_to(p->at, p->of);
    bn__link_t *r = link_to(p->of, p->at);
    return bn__link_usable(l) && bn__link_usable(r);
}

static void wait_linked(world_t *w, tnode_t *at, tnode_t *of)
{
    link_pred_t p = {at, of};
    assert_true(mt_run_until(&w->loop, pred_linked, &p, 5000));
}

/* ---- tests -------------------------------------------------------------- */

static void test_three_nodes_groups_broadcast(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    tnode_t *c = node_add(&w, 2, "c@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    node_start(c);
    /* b and c only know a; peer lists make them find each other. */
    wait_up(&w, 3, 2);

    bn_mesh_group_join(a->m, "room:a", 6);
    wait_has(&w, b, a, "room:a", true);
    wait_has(&w, c, a, "room:a", true);
    bn_mesh_group_join(b->m, "room:b", 6);
    bn_mesh_group_join(b->m, "room:b", 6); /* idempotent */
    bn_mesh_group_join(c->m, "room:c", 6);
    wait_has(&w, a, b, "room:b", true);
    wait_has(&w, c, b, "room:b", true);
    wait_has(&w, a, c, "room:c", true);

    /* Only b has room:b: one frame, to b alone. */
    bn__link_t *ac = link_to(a, c);
    uint64_t to_c_before = ac->msgs_out;
    bn_payload_t p = bn_payload_raw_json("{\"x\":1}", 7);
    assert_int_equal(bn_cluster_broadcast(a->m, "room:b", 6, "ev", 2, &p), 1);
    deliver_pred_t dp = {b, 1};
    assert_true(mt_run_until(&w.loop, pred_delivered, &dp, 3000));
    assert_string_equal(b->topic, "room:b");
    assert_string_equal(b->event, "ev");
    assert_string_equal(b->payload, "{\"x\":1}");
    assert_int_equal(b->kind, BN_PAYLOAD_RAW_JSON);
    assert_int_equal(ac->msgs_out, to_c_before);
    assert_int_equal(c->delivered, 0);
    assert_int_equal(a->delivered, 0);

    /* JSON payloads are serialised; binary ones stay binary. */
    json_t *j = json_pack("{s:i}", "n", 5);
    bn_payload_t pj = bn_payload_json(j);
    bn_mesh_group_join(c->m, "room:b", 6);
    wait_has(&w, a, c, "room:b", true);
    assert_int_equal(bn_cluster_broadcast(a->m, "room:b", 6, "j", 1, &pj), 2);
    json_decref(j);
    deliver_pred_t dc = {c, 1};
    assert_true(mt_run_until(&w.loop, pred_delivered, &dc, 3000));
    assert_string_equal(c->payload, "{\"n\":5}");
    bn_payload_t pb = bn_payload_binary("\x01\x02\x03", 3);
    assert_int_equal(bn_cluster_broadcast(a->m, "room:b", 6, "bin", 3, &pb), 2);
    dc.want = 2;
    assert_true(mt_run_until(&w.loop, pred_delivered, &dc, 3000));
    assert_int_equal(c->kind, BN_PAYLOAD_BINARY);
    assert_int_equal(c->payload_len, 3);
    assert_int_equal(bn_cluster_broadcast(a->m, "nobody", 6, "e", 1, &p), 0);

    /* Leave propagates. */
    bn_mesh_group_leave(c->m, "room:b", 6);
    wait_has(&w, a, c, "room:b", false);
    assert_int_equal(bn_cluster_broadcast(a->m, "room:b", 6, "ev", 2, &p), 1);

    /* Snapshots. */
    json_t *mem = bn_admin_members_json(a->m);
    assert_int_equal(json_array_size(json_object_get(mem, "nodes")), 2);
    json_t *n0 = json_array_get(json_object_get(mem, "nodes"), 0);
    assert_string_equal(json_string_value(json_object_get(n0, "state")), "up");
    assert_non_null(json_object_get(json_object_get(n0, "link"), "rtt_us"));
    json_decref(mem);
    json_t *g = bn_admin_groups_json(a->m);
    assert_int_equal(json_array_size(json_object_get(g, "local")), 1);
    assert_int_equal(json_array_size(json_object_get(json_object_get(g, "peers"), b->name)), 1);
    json_decref(g);

    /* c goes away: a and b drop its groups. */
    node_close(&w, c);
    wait_has(&w, a, c, "room:c", false);
    wait_has(&w, b, c, "room:c", false);
    assert_int_equal(bn__node_find(a->m, "c@127.0.0.1")->state, BN__NODE_DOWN);
    assert_int_equal(bn__node_find(a->m, "c@127.0.0.1")->last_reason, BN_CLOSE_CONNECTION_CLOSED);
    world_close(&w);
}

typedef struct {
    tnode_t *at;
    const char *of;
} reason_pred_t;

static bool pred_tick_timeout_then_up(void *ud)
{
    reason_pred_t *p = ud;
    bn__node_t *n = bn__node_find(p->at->m, p->of);
    return n != NULL && n->downs >= 1 && n->last_reason == BN_CLOSE_TICK_TIMEOUT &&
           n->state == BN__NODE_UP;
}

static void test_down_detection_and_resync(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    topt_t o = {.tick_ms = 50, .down_ms = 300};
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, &o);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), &o);
    node_start(b);
    wait_up(&w, 2, 1);
    bn_mesh_group_join(b->m, "t", 1);
    wait_has(&w, a, b, "t", true);

    /* a stops reading from b: no frame arrives for down_ms. */
    assert_true(bn__mesh_stall_node(a->m, b->name));
    reason_pred_t rp = {a, b->name};
    assert_true(mt_run_until(&w.loop, pred_tick_timeout_then_up, &rp, 5000));
    /* After the redial, membership is back through a full sync. */
    wait_has(&w, a, b, "t", true);

    /* Divergence (a loses b's topic behind the protocol's back) is found by
     * the digest in ticks and repaired by a resync. */
    bn__node_t *nb = bn__node_find(a->m, b->name);
    bn__gset_del(&nb->groups, "t", 1);
    wait_has(&w, a, b, "t", true);
    assert_true(nb->groups.digest == b->m->local.digest);
    world_close(&w);
}

static bool pred_single_link(void *ud)
{
    world_t *w = ud;
    for (int i = 0; i < 2; i++) {
        int links = 0;
        for (bn__link_t *l = bn__link_first(w->n[i].m); l != NULL;
             l = bn__link_next(w->n[i].m, l)) {
            links++;
        }
        if (links != 1 || bn_mesh_up_count(w->n[i].m) != 1) {
            return false;
        }
    }
    return true;
}

static void test_simultaneous_connect(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    /* Both listen before either dials, then both dial each other in the
     * same loop turn. */
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", 0, NULL);
    bn_mesh_t *ma = a->m;
    bn_mesh_t *mb = b->m;
    node_start(a);
    node_start(b);
    /* Dial by hand: seeds were empty when the ports were still unknown. */
    bn__node_t *na = bn__node_get(mb, a->name);
    snprintf(na->host, sizeof(na->host), "127.0.0.1");
    na->port = bn_mesh_port(ma);
    bn__node_t *nb = bn__node_get(ma, b->name);
    snprintf(nb->host, sizeof(nb->host), "127.0.0.1");
    nb->port = bn_mesh_port(mb);
    bn__gossip_dial_node(ma, nb);
    bn__gossip_dial_node(mb, na);
    assert_true(mt_run_until(&w.loop, pred_single_link, &w, 5000));
    mt_run_for(&w.loop, 200);
    assert_true(pred_single_link(&w));
    /* Both ends kept the same connection: the one dialled by a (lower). */
    assert_true(nb->link->outbound);
    assert_false(na->link->outbound);
    assert_true(bn__mesh_close_count(ma, BN_CLOSE_DUPLICATE_LINK) +
                    bn__mesh_close_count(mb, BN_CLOSE_DUPLICATE_LINK) >=
                1);
    /* The switch never took the node down. */
    assert_int_equal(nb->downs, 0);
    assert_int_equal(na->downs, 0);
    bn_mesh_group_join(b->m, "x", 1);
    wait_has(&w, a, b, "x", true);
    world_close(&w);
}

static void test_wrong_cookie(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    topt_t ok = {.cookie = "the-right-cookie-0123"};
    topt_t bad = {.cookie = "the-wrong-cookie-0123"};
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, &ok);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), &bad);
    node_start(b);
    /* The acceptor could not open the dialler's proof; the dialler is told
     * in plain text, and neither learns the other's name. */
    wait_closes(&w, a->m, BN_CLOSE_BAD_COOKIE, 1);
    wait_closes(&w, b->m, BN_CLOSE_BAD_COOKIE, 1);
    assert_int_equal(bn_mesh_up_count(a->m), 0);
    assert_int_equal(bn_mesh_up_count(b->m), 0);
    assert_null(bn__node_find(a->m, b->name));
    assert_null(bn__node_find(b->m, a->name));
    world_close(&w);
}

typedef struct {
    uint8_t frames[2][512];
    size_t lens[2];
    int n;
} tap_rec_t;

static void record_tap(void *ud, bn__link_t *l, const uint8_t *frame, size_t len)
{
    tap_rec_t *r = ud;
    (void)l;
    if (r->n < 2 && len <= sizeof(r->frames[0])) {
        memcpy(r->frames[r->n], frame, len);
        r->lens[r->n] = len;
        r->n++;
    }
}

static bn_buf_t *encode(const bn__msg_t *msg)
{
    bn_buf_t *b = NULL;
    assert_int_equal(bn__codec_encode(msg, 1 << 20, &b), 0);
    return b;
}

static void test_bad_input_and_replay(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    node_start(a);
    bn__mesh_timing(a->m)->handshake_ms = 300;
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    wait_up(&w, 2, 1);
    uint64_t ab_id = link_to(a, b)->id;

    /* Record a hidden node's Hello and Identify from a real handshake. */
    tap_rec_t rec;
    memset(&rec, 0, sizeof(rec));
    topt_t ho = {.hidden = true};
    tnode_t *h = node_add(&w, 2, "h@127.0.0.1", bn_mesh_port(a->m), &ho);
    bn__mesh_set_tap(h->m, record_tap, &rec);
    node_start(h);
    up_pred_t hp = {&w, 1, 2}; /* a sees b and the hidden node */
    assert_true(mt_run_until(&w.loop, pred_up, &hp, 5000));
    assert_int_equal(rec.n, 2);

    uint8_t nonce[32] = {0};
    uint8_t pk[crypto_kx_PUBLICKEYBYTES];
    uint8_t sk[crypto_kx_SECRETKEYBYTES];
    crypto_kx_keypair(pk, sk);
    bn__msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = BN__MSG_HELLO;
    m.u.hello.nonce = bn__bytes(nonce, 32);
    m.u.hello.kx_pk = bn__bytes(pk, 32);
    m.version = 7;
    bn_buf_t *bad_version = encode(&m);
    m.version = 0;
    bn_buf_t *hello_ok = encode(&m);
    m.u.hello.nonce = bn__bytes(nonce, 31);
    bn_buf_t *hello_short_nonce = encode(&m);
    uint8_t zero_pk[32] = {0};
    m.u.hello.nonce = bn__bytes(nonce, 32);
    m.u.hello.kx_pk = bn__bytes(zero_pk, 32);
    bn_buf_t *hello_zero_pk = encode(&m);
    memset(&m, 0, sizeof(m));
    m.type = BN__MSG_NONE;
    bn_buf_t *unknown = encode(&m);
    m.type = BN__MSG_IDENTIFY;
    m.u.ident.name = bn__bytes("z@127.0.0.1", 11);
    bn_buf_t *identify = encode(&m);
    memset(&m, 0, sizeof(m));
    m.type = BN__MSG_READY;
    bn_buf_t *ready = encode(&m);
    m.type = BN__MSG_TICK;
    bn_buf_t *tick = encode(&m);

    uint8_t replay[1024];
    memcpy(replay, rec.frames[0], rec.lens[0]);
    memcpy(replay + rec.lens[0], rec.frames[1], rec.lens[1]);
    uint8_t hello_twice[1024];
    memcpy(hello_twice, bn_buf_body(hello_ok), hello_ok->len);
    memcpy(hello_twice + hello_ok->len, bn_buf_body(hello_ok), hello_ok->len);
    uint8_t hello_tick[1024];
    memcpy(hello_tick, bn_buf_body(hello_ok), hello_ok->len);
    memcpy(hello_tick + hello_ok->len, bn_buf_body(tick), tick->len);
    uint8_t hello_identify[1024];
    memcpy(hello_identify, bn_buf_body(hello_ok), hello_ok->len);
    memcpy(hello_identify + hello_ok->len, bn_buf_body(identify), identify->len);

    const struct {
        const char *name;
        const void *bytes;
        size_t len;
        bn_close_reason_t want;
        bool close_client;
    } rows[] = {
        {"http garbage", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, BN_CLOSE_FRAME_TOO_LARGE, false},
        {"oversized frame", "\x00\x10\x00\x00xxxx", 8, BN_CLOSE_FRAME_TOO_LARGE, false},
        {"frame over the pre-auth limit", "\x00\x00\x02\x01xxxx", 8, BN_CLOSE_FRAME_TOO_LARGE,
         false},
        {"empty frame", "\x00\x00\x00\x00", 4, BN_CLOSE_BAD_FRAME, false},
        {"junk body", "\x00\x00\x00\x04\xff\xff\xff\xff", 8, BN_CLOSE_BAD_FRAME, false},
        {"truncated then eof", "\x00\x00\x00\x40xx", 6, BN_CLOSE_CONNECTION_CLOSED, true},
        {"version mismatch", bn_buf_body(bad_version), bad_version->len, BN_CLOSE_VERSION_MISMATCH,
         false},
        {"unknown type before auth", bn_buf_body(unknown), unknown->len, BN_CLOSE_PROTOCOL, false},
        {"plain identify before hello", bn_buf_body(identify), identify->len, BN_CLOSE_PROTOCOL,
         false},
        {"ready before hello", bn_buf_body(ready), ready->len, BN_CLOSE_PROTOCOL, false},
        {"tick before hello", bn_buf_body(tick), tick->len, BN_CLOSE_PROTOCOL, false},
        /* After the Hello everything must open under the session keys: a
         * plain frame is a failed proof. */
        {"plain tick after hello", hello_tick, hello_ok->len + tick->len, BN_CLOSE_BAD_COOKIE,
         false},
        {"plain identify after hello", hello_identify, hello_ok->len + identify->len,
         BN_CLOSE_BAD_COOKIE, false},
        {"hello twice", hello_twice, 2 * hello_ok->len, BN_CLOSE_BAD_COOKIE, false},
        {"short nonce", bn_buf_body(hello_short_nonce), hello_short_nonce->len, BN_CLOSE_BAD_HELLO,
         false},
        {"zero public key", bn_buf_body(hello_zero_pk), hello_zero_pk->len, BN_CLOSE_BAD_HELLO,
         false},
        {"replayed hello and identify", replay, rec.lens[0] + rec.lens[1], BN_CLOSE_BAD_COOKIE,
         false},
        {"silent client", "", 0, BN_CLOSE_HANDSHAKE_TIMEOUT, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t before = bn__mesh_close_count(a->m, rows[i].want);
        mt_raw_t raw;
        mt_raw_open(&w.loop, &raw, bn_mesh_port(a->m), rows[i].bytes, rows[i].len);
        if (rows[i].close_client) {
            mt_run_for(&w.loop, 50);
            mt_raw_close(&raw);
        }
        close_pred_t cp = {a->m, rows[i].want, before + 1};
        if (!mt_run_until(&w.loop, pred_closes, &cp, 3000)) {
            fail_msg("row '%s': no close with %s", rows[i].name,
                     bn_close_reason_name(rows[i].want));
        }
        mt_raw_close(&raw);
        mt_run_for(&w.loop, 10);
        assert_true(raw.closed);
        /* The node and its other links are unaffected. */
        bn__link_t *l = link_to(a, b);
        if (l == NULL || l->id != ab_id || l->state != BN__LINK_UP) {
            fail_msg("row '%s': link a-b disturbed", rows[i].name);
        }
    }
    bn_buf_unref(bad_version);
    bn_buf_unref(hello_ok);
    bn_buf_unref(hello_short_nonce);
    bn_buf_unref(hello_zero_pk);
    bn_buf_unref(unknown);
    bn_buf_unref(identify);
    bn_buf_unref(ready);
    bn_buf_unref(tick);

    /* After auth, an unknown message type is counted and ignored. */
    memset(&m, 0, sizeof(m));
    m.type = BN__MSG_NONE;
    bn__link_send_msg(link_to(b, a), &m);
    mt_run_for(&w.loop, 100);
    assert_int_equal(a->m->unknown_frames, 1);
    assert_int_equal(link_to(a, b)->id, ab_id);

    /* A peer's bad strings close its link with a reason, nothing else. */
    memset(&m, 0, sizeof(m));
    m.type = BN__MSG_BROADCAST;
    m.u.bcast.topic = bn__bytes("t\xff", 2);
    m.u.bcast.event = bn__bytes("e", 1);
    m.u.bcast.payload = bn__bytes("{}", 2);
    bn__link_send_msg(link_to(b, a), &m);
    wait_closes(&w, a->m, BN_CLOSE_BAD_PAYLOAD, 1);
    wait_linked(&w, b, a);
    m.u.bcast.topic = bn__bytes("t", 1);
    m.u.bcast.payload = bn__bytes("{\"a\":\"\xc3\x28\"}", 10);
    bn__link_send_msg(link_to(b, a), &m);
    wait_closes(&w, a->m, BN_CLOSE_BAD_PAYLOAD, 2);
    m.u.bcast.payload = bn__bytes("{\"a\":", 5);
    wait_linked(&w, b, a);
    bn__link_send_msg(link_to(b, a), &m);
    wait_closes(&w, a->m, BN_CLOSE_BAD_PAYLOAD, 3);
    assert_int_equal(a->delivered, 0);
    world_close(&w);
}

/* Every frame after the handshake is sealed, one seal per frame. */
static void test_every_frame_sealed(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    wait_up(&w, 2, 1);
    bn__link_t *ab = link_to(a, b);
    assert_true(ab->tx_crypt && ab->rx_crypt && ab->authed);
    bn_mesh_group_join(b->m, "room:secret", 11);
    wait_has(&w, a, b, "room:secret", true);
    bn_payload_t p = bn_payload_raw_json("\"attack at dawn\"", 16);
    assert_int_equal(bn_cluster_broadcast(a->m, "room:secret", 11, "new_msg", 7, &p), 1);
    deliver_pred_t dp = {b, 1};
    assert_true(mt_run_until(&w.loop, pred_delivered, &dp, 3000));
    assert_string_equal(b->payload, "\"attack at dawn\"");
    /* One seal per frame: the receiver opened exactly as many frames as the
     * sender sealed after the handshake. */
    assert_true(ab->hs.tx_seq > 0);
    assert_true(link_to(b, a)->hs.rx_seq == ab->hs.tx_seq);
    world_close(&w);
}

static bool pred_first_sync_sent(void *ud)
{
    tnode_t *t = ud;
    bn__node_t *n = bn__node_find(t->m, "a@127.0.0.1");
    return n != NULL && n->state == BN__NODE_UP;
}

/* A join made while a sync snapshot is still streaming survives the
 * snapshot's arrival (issue: a GroupJoin sent between the snapshot and its
 * first chunk was erased when the sync completed). */
static void test_join_during_sync(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    bn__mesh_timing(b->m)->sync_chunk = 2;
    char t[32];
    for (int i = 0; i < 9; i++) {
        snprintf(t, sizeof(t), "s:%d", i);
        bn_mesh_group_join(b->m, t, strlen(t));
    }
    node_start(b);
    assert_true(mt_run_until(&w.loop, pred_first_sync_sent, b, 5000));
    /* The snapshot is streaming (five chunks, one per loop turn). */
    assert_true(link_to(b, a)->gtx.active);
    bn_mesh_group_join(b->m, "late", 4);
    bn_mesh_group_leave(b->m, "s:8", 3);
    wait_has(&w, a, b, "s:7", true);
    mt_run_for(&w.loop, 200);
    bn__node_t *nb = bn__node_find(a->m, b->name);
    assert_true(bn__gset_has(&nb->groups, "late", 4));
    assert_false(bn__gset_has(&nb->groups, "s:8", 3));
    assert_int_equal(nb->groups.count, 9);
    assert_true(nb->groups.digest == b->m->local.digest);
    world_close(&w);
}

typedef struct {
    int calls;
    int status;
    json_t *resp;
} admin_res_t;

static void on_admin(void *ud, int status, json_t *response)
{
    admin_res_t *r = ud;
    r->calls++;
    r->status = status;
    r->resp = response != NULL ? json_incref(response) : NULL;
}

static bool pred_admin(void *ud)
{
    return ((admin_res_t *)ud)->calls > 0;
}

static json_t *admin(world_t *w, tnode_t *h, const char *node, json_t *req)
{
    admin_res_t r = {0, 0, NULL};
    assert_int_equal(bn_admin_request(h->m, node, req, 3000, on_admin, &r), 0);
    json_decref(req);
    assert_true(mt_run_until(&w->loop, pred_admin, &r, 5000));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    return r.resp;
}

static void test_hidden_admin(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    wait_up(&w, 2, 1);
    bn_mesh_group_join(b->m, "room", 4);
    wait_has(&w, a, b, "room", true);

    topt_t ho = {.hidden = true};
    tnode_t *h = node_add(&w, 2, "ctl@127.0.0.1", bn_mesh_port(a->m), &ho);
    node_start(h);
    /* Requested before any link is up: waits for one. */
    json_t *resp = admin(&w, h, NULL, json_pack("{s:s}", "op", "members"));
    assert_true(json_is_true(json_object_get(resp, "ok")));
    json_t *members = json_object_get(resp, "members");
    assert_string_equal(json_string_value(json_object_get(members, "node")), "a@127.0.0.1");
    json_decref(resp);

    resp = admin(&w, h, "a@127.0.0.1", json_pack("{s:s}", "op", "groups"));
    json_t *peers = json_object_get(json_object_get(resp, "groups"), "peers");
    assert_int_equal(json_array_size(json_object_get(peers, "b@127.0.0.1")), 1);
    /* The hidden node is not a group member anywhere. */
    assert_null(json_object_get(peers, "ctl@127.0.0.1"));
    json_decref(resp);

    resp = admin(&w, h, NULL, json_pack("{s:s}", "op", "stats"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "stats"), "who")),
                        "a@127.0.0.1");
    json_decref(resp);

    resp = admin(&w, h, NULL,
                 json_pack("{s:s, s:s, s:s, s:{s:i}}", "op", "broadcast", "topic", "room", "event",
                           "say", "payload", "k", 1));
    assert_int_equal(json_integer_value(json_object_get(resp, "peers")), 1);
    json_decref(resp);
    deliver_pred_t dp = {b, 1};
    assert_true(mt_run_until(&w.loop, pred_delivered, &dp, 3000));
    assert_string_equal(b->payload, "{\"k\":1}");
    /* A bare mesh (no server) has no local subscribers: the admin broadcast
     * reaches the peers holding the topic only. With a server it goes
     * through pubsub (bn_server_broadcast); tests/js/bennuctl covers that. */
    assert_int_equal(a->delivered, 0);

    resp = admin(&w, h, NULL, json_pack("{s:s}", "op", "nope"));
    assert_false(json_is_true(json_object_get(resp, "ok")));
    json_decref(resp);

    /* Hidden: never gossiped, never dialled, joins nothing. */
    mt_run_for(&w.loop, 200);
    assert_null(bn__node_find(b->m, h->name));
    assert_true(bn__node_find(a->m, h->name)->hidden);
    bn_mesh_group_join(h->m, "room", 4);
    assert_int_equal(h->m->local.count, 0);

    /* A request to an unknown node times out; one pending at close is
     * cancelled. */
    admin_res_t r1 = {0, 0, NULL};
    json_t *req1 = json_pack("{s:s}", "op", "x");
    assert_int_equal(bn_admin_request(h->m, "nobody@x", req1, 100, on_admin, &r1), 0);
    json_decref(req1);
    assert_true(mt_run_until(&w.loop, pred_admin, &r1, 3000));
    assert_int_equal(r1.status, UV_ETIMEDOUT);
    admin_res_t r2 = {0, 0, NULL};
    json_t *req = json_pack("{s:s}", "op", "x");
    assert_int_equal(bn_admin_request(h->m, "nobody@x", req, 5000, on_admin, &r2), 0);
    json_decref(req);
    world_close(&w);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.status, UV_ECANCELED);
}

/* ---- the mesh's plain layer: opaque requests, snapshots, send-to-peers ---- */

typedef struct {
    int calls;
    int status;
    char body[64];
    size_t len;
} raw_res_t;

static void on_raw(void *ud, int status, const void *body, size_t len)
{
    raw_res_t *r = ud;
    r->calls++;
    r->status = status;
    r->len = len < sizeof(r->body) ? len : sizeof(r->body);
    if (body != NULL && r->len > 0) {
        memcpy(r->body, body, r->len);
    }
}

static bool pred_raw(void *ud)
{
    return ((raw_res_t *)ud)->calls > 0;
}

/* Echoes the request reversed, with a tag: the mesh never looks inside. */
static void reverse_responder(void *ud, const char *from, const void *req, size_t len,
                              bn_mesh_answer_t *ans)
{
    int *seen = ud;
    (*seen)++;
    assert_string_equal(from, "ctl@127.0.0.1");
    char *out = malloc(len > 0 ? len : 1);
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        out[i] = ((const char *)req)[len - 1 - i];
    }
    ans->body = out;
    ans->len = len;
    snprintf(ans->tag, sizeof(ans->tag), "reverse");
}

typedef struct {
    int n;
    int up;
    bool b_linked;
} members_seen_t;

static void count_member(void *ud, const bn_mesh_member_t *mb)
{
    members_seen_t *s = ud;
    s->n++;
    s->up += mb->up;
    if (strcmp(mb->name, "b@127.0.0.1") == 0) {
        s->b_linked = mb->have_link && mb->link.addr != NULL && strcmp(mb->state, "up") == 0 &&
                      strcmp(mb->link_state, "up") == 0;
    }
}

static void count_topic(void *ud, const char *topic, size_t len)
{
    (void)topic;
    (void)len;
    (*(int *)ud)++;
}

static void test_plain_mesh_api(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    tnode_t *c = node_add(&w, 2, "c@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(c);
    wait_up(&w, 3, 2);
    bn_mesh_group_join(b->m, "t", 1);
    bn_mesh_group_join(b->m, "u", 1);
    wait_has(&w, a, b, "t", true);
    wait_has(&w, a, b, "u", true);

    /* Snapshots as plain structs. */
    members_seen_t ms = {0, 0, false};
    bn_mesh_members(a->m, count_member, &ms);
    assert_int_equal(ms.n, 2);
    assert_int_equal(ms.up, 2);
    assert_true(ms.b_linked);
    bn_mesh_info_t info;
    bn_mesh_info(b->m, &info);
    assert_string_equal(info.name, "b@127.0.0.1");
    assert_int_equal(info.local_groups, 2);
    int topics = 0;
    bn_mesh_groups(a->m, "b@127.0.0.1", count_topic, &topics);
    assert_int_equal(topics, 2);
    topics = 0;
    bn_mesh_groups(a->m, "nobody@x", count_topic, &topics);
    assert_int_equal(topics, 0);
    assert_true(bn_mesh_has_group(a->m, "b@127.0.0.1", "t", 1));
    assert_false(bn_mesh_has_group(a->m, "c@127.0.0.1", "t", 1));
    assert_true(bn_mesh_has_group(b->m, NULL, "t", 1));

    /* The group query names the holders; the send primitive has no policy:
     * it sends to whoever it is given (c holds nothing and still gets it),
     * skipping unknown names. */
    const char *names[4];
    assert_int_equal(bn_mesh_group_peers(a->m, "t", 1, names, 4), 1);
    assert_string_equal(names[0], "b@127.0.0.1");
    assert_int_equal(bn_mesh_group_peers(a->m, "t", 1, NULL, 0), 1);
    assert_int_equal(bn_mesh_group_peers(a->m, "none", 4, names, 4), 0);
    const char *to[] = {"c@127.0.0.1", "nobody@x"};
    bn_payload_t p = bn_payload_raw_json("1", 1);
    assert_int_equal(bn_mesh_send_broadcast(a->m, to, 2, "t", 1, "e", 1, &p), 1);
    deliver_pred_t dc = {c, 1};
    assert_true(mt_run_until(&w.loop, pred_delivered, &dc, 3000));
    assert_string_equal(c->topic, "t");
    /* The mesh serialises nothing: a JSON payload is the caller's to encode. */
    json_t *j = json_integer(1);
    bn_payload_t pj = bn_payload_json(j);
    assert_int_equal(bn_mesh_send_broadcast(a->m, to, 2, "t", 1, "e", 1, &pj), 0);
    json_decref(j);

    /* The request channel carries opaque bytes both ways. */
    topt_t ho = {.hidden = true};
    tnode_t *h = node_add(&w, 3, "ctl@127.0.0.1", bn_mesh_port(a->m), &ho);
    node_start(h);
    int seen = 0;
    bn_mesh_set_responder(a->m, reverse_responder, &seen);
    raw_res_t r = {0, 0, {0}, 0};
    assert_int_equal(bn_mesh_request(h->m, "a@127.0.0.1", "a\0bc", 4, 3000, on_raw, &r), 0);
    assert_true(mt_run_until(&w.loop, pred_raw, &r, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.len, 4);
    assert_memory_equal(r.body, "cb\0a", 4);
    assert_int_equal(seen, 1);

    /* No responder: an empty answer, which the JSON admin client reports as
     * UV_EPROTO. */
    bn_mesh_set_responder(a->m, NULL, NULL);
    raw_res_t r2 = {0, 0, {0}, 0};
    assert_int_equal(bn_mesh_request(h->m, "a@127.0.0.1", "x", 1, 3000, on_raw, &r2), 0);
    assert_true(mt_run_until(&w.loop, pred_raw, &r2, 5000));
    assert_int_equal(r2.status, 0);
    assert_int_equal(r2.len, 0);
    admin_res_t ar = {0, 0, NULL};
    json_t *req = json_pack("{s:s}", "op", "members");
    assert_int_equal(bn_admin_request(h->m, "a@127.0.0.1", req, 3000, on_admin, &ar), 0);
    json_decref(req);
    assert_true(mt_run_until(&w.loop, pred_admin, &ar, 5000));
    assert_int_equal(ar.status, UV_EPROTO);
    assert_null(ar.resp);
    assert_int_equal(bn_mesh_request(h->m, NULL, NULL, 1, 0, on_raw, &r2), UV_EINVAL);
    world_close(&w);
}

static bool pred_node_incarnation(void *ud)
{
    tnode_t **pair = ud;
    bn__node_t *n = bn__node_find(pair[0]->m, pair[1]->name);
    return n != NULL && n->state == BN__NODE_UP && n->incarnation == pair[1]->m->incarnation;
}

static void test_restart_and_name_clash(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    wait_up(&w, 2, 1);
    bn_mesh_group_join(b->m, "old", 3);
    wait_has(&w, a, b, "old", true);
    uint64_t ab_id = link_to(a, b)->id;

    /* A second b (newer incarnation) while the first is alive: refused on
     * both ends, and it backs off instead of evicting the live one. */
    tnode_t *b2 = node_add(&w, 2, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    b2->m->incarnation = b->m->incarnation + 1;
    node_start(b2);
    wait_closes(&w, a->m, BN_CLOSE_NAME_CLASH, 3);
    wait_closes(&w, b2->m, BN_CLOSE_NAME_CLASH, 3);
    assert_true(b2->m->seeds[0].backoff_ms >= 80);
    bn__node_t *nb = bn__node_find(a->m, "b@127.0.0.1");
    assert_int_equal(link_to(a, b)->id, ab_id);
    assert_int_equal(nb->downs, 0);
    assert_true(nb->incarnation == b->m->incarnation);
    assert_int_equal(bn__mesh_close_count(a->m, BN_CLOSE_REPLACED), 0);

    /* Once the first b is gone, the new incarnation takes the name and the
     * old one's memberships are not resurrected. */
    node_close(&w, b);
    tnode_t *pair[2] = {a, b2};
    assert_true(mt_run_until(&w.loop, pred_node_incarnation, pair, 5000));
    assert_false(bn__gset_has(&nb->groups, "old", 3));
    world_close(&w);
}

static bool pred_preauth_evicted(void *ud)
{
    bn_mesh_t *m = ud;
    return bn__mesh_close_count(m, BN_CLOSE_PREAUTH_LIMIT) >= 4;
}

/* Held unauthenticated connections cost a bounded number of slots, and a
 * real node still gets in. */
static void test_preauth_limits(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    a->m->pa.max_per_ip = 4;
    a->m->pa.max_total = 6;
    node_start(a);
    mt_raw_t raw[8];
    for (int i = 0; i < 8; i++) {
        mt_raw_open(&w.loop, &raw[i], bn_mesh_port(a->m), "", 0);
    }
    assert_true(mt_run_until(&w.loop, pred_preauth_evicted, a->m, 3000));
    assert_true(a->m->pa.count <= 4);
    /* No key pair was made for a connection that sent nothing. */
    for (bn__link_t *l = bn__link_first(a->m); l != NULL; l = bn__link_next(a->m, l)) {
        assert_false(l->hs.keyed);
    }
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    wait_up(&w, 2, 1);
    assert_true(a->m->pa.count <= 4);
    for (int i = 0; i < 8; i++) {
        mt_raw_close(&raw[i]);
    }
    world_close(&w);
}

static void test_allow_list(void **state)
{
    (void)state;
    bn__cidr_t c;
    struct sockaddr_in in;
    uv_ip4_addr("10.1.2.3", 1, &in);
    assert_int_equal(bn__cidr_parse("10.0.0.0/8", &c), 0);
    assert_true(bn__cidr_match(&c, (const struct sockaddr *)&in));
    assert_int_equal(bn__cidr_parse("10.1.2.4/31", &c), 0);
    assert_false(bn__cidr_match(&c, (const struct sockaddr *)&in));
    assert_int_equal(bn__cidr_parse("10.1.2.3", &c), 0);
    assert_true(bn__cidr_match(&c, (const struct sockaddr *)&in));
    struct sockaddr_in6 in6;
    uv_ip6_addr("::ffff:10.1.2.3", 1, &in6);
    assert_int_equal(bn__cidr_parse("10.1.0.0/16", &c), 0);
    assert_true(bn__cidr_match(&c, (const struct sockaddr *)&in6));
    assert_int_equal(bn__cidr_parse("fd00::/8", &c), 0);
    assert_false(bn__cidr_match(&c, (const struct sockaddr *)&in6));
    uv_ip6_addr("fd12::1", 1, &in6);
    assert_true(bn__cidr_match(&c, (const struct sockaddr *)&in6));
    const char *bad[] = {"", "10.0.0.0/33", "10.0.0.0/", "x", "::/129", "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(bn__cidr_parse(bad[i], &c), -1);
    }

    /* A mesh that allows only another network closes loopback peers. */
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    assert_int_equal(bn__cidr_parse("10.0.0.0/8", &c), 0);
    a->m->pa.allow = calloc(1, sizeof(c));
    a->m->pa.allow[0] = c;
    a->m->pa.n_allow = 1;
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    wait_closes(&w, a->m, BN_CLOSE_NOT_ALLOWED, 1);
    assert_int_equal(bn_mesh_up_count(a->m), 0);
    world_close(&w);
}

static void test_large_sync_chunked(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, NULL);
    char t[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(t, sizeof(t), "topic:%d", i);
        bn_mesh_group_join(a->m, t, strlen(t));
    }
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), NULL);
    node_start(b);
    wait_up(&w, 2, 1);
    wait_has(&w, b, a, "topic:4999", true);
    bn__node_t *na = bn__node_find(b->m, a->name);
    assert_int_equal(na->groups.count, 5000);
    assert_true(na->groups.digest == a->m->local.digest);
    /* Five chunks of at most 1000 topics went out. */
    assert_true(link_to(a, b)->msgs_out >= 5);
    world_close(&w);
}

static void test_slow_consumer(void **state)
{
    (void)state;
    world_t w;
    world_init(&w);
    topt_t o = {.max_link_queue = 256 * 1024, .down_ms = 5000};
    tnode_t *a = node_add(&w, 0, "a@127.0.0.1", 0, &o);
    node_start(a);
    tnode_t *b = node_add(&w, 1, "b@127.0.0.1", bn_mesh_port(a->m), &o);
    node_start(b);
    wait_up(&w, 2, 1);
    bn_mesh_group_join(b->m, "big", 3);
    wait_has(&w, a, b, "big", true);
    assert_true(bn__mesh_stall_node(b->m, a->name));
    static char blob[64 * 1024];
    memset(blob, 'x', sizeof(blob));
    bn_payload_t p = bn_payload_binary(blob, sizeof(blob));
    /* The kernel buffers absorb some; the queue bound trips eventually. */
    int sent = 0;
    for (int i = 0; i < 2000 && bn__mesh_close_count(a->m, BN_CLOSE_SLOW_CONSUMER) == 0; i++) {
        sent += (int)bn_cluster_broadcast(a->m, "big", 3, "e", 1, &p);
        if (i % 16 == 0) {
            uv_run(&w.loop, UV_RUN_NOWAIT);
        }
    }
    assert_true(sent > 0);
    assert_int_equal(bn__mesh_close_count(a->m, BN_CLOSE_SLOW_CONSUMER), 1);
    /* The link comes back and b's membership is resynchronised. */
    wait_up(&w, 2, 1);
    wait_has(&w, a, b, "big", true);
    world_close(&w);
}

static void count_close(void *ud)
{
    (*(int *)ud)++;
}

static void test_config_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    bn_log_level = BN_LOG_OFF;
    bn_mesh_t *m = NULL;
    const char *bad_seed[] = {"nohost"};
    const struct {
        const char *name;
        const char *cookie;
        int port;
        const char *const *seeds;
        size_t n_seeds;
    } rows[] = {
        {NULL, TEST_COOKIE, 0, NULL, 0},
        {"noat", TEST_COOKIE, 0, NULL, 0},
        {"a@h", NULL, 0, NULL, 0},
        {"a@h", "", 0, NULL, 0},
        {"a@h", "fifteen-bytes!!", 0, NULL, 0},
        {"a@h", TEST_COOKIE, 70000, NULL, 0},
        {"a@h", TEST_COOKIE, 0, bad_seed, 1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bn_mesh_config_t cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.name = rows[i].name;
        cfg.cookie = rows[i].cookie;
        cfg.port = rows[i].port;
        cfg.seeds = rows[i].seeds;
        cfg.n_seeds = rows[i].n_seeds;
        if (bn_mesh_new(&loop, &cfg, NULL, NULL, &m) != UV_EINVAL) {
            fail_msg("row %zu accepted", i);
        }
    }
    /* A mesh closed without being started frees everything. */
    bn_mesh_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = "a@h";
    cfg.cookie = "sixteen-bytes!!!";
    assert_int_equal(bn_mesh_new(&loop, &cfg, NULL, NULL, &m), 0);
    int closed = 0;
    bn_mesh_close(m, count_close, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_nodes_groups_broadcast),
        cmocka_unit_test(test_down_detection_and_resync),
        cmocka_unit_test(test_simultaneous_connect),
        cmocka_unit_test(test_wrong_cookie),
        cmocka_unit_test(test_bad_input_and_replay),
        cmocka_unit_test(test_hidden_admin),
        cmocka_unit_test(test_plain_mesh_api),
        cmocka_unit_test(test_every_frame_sealed),
        cmocka_unit_test(test_join_during_sync),
        cmocka_unit_test(test_restart_and_name_clash),
        cmocka_unit_test(test_preauth_limits),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_large_sync_chunked),
        cmocka_unit_test(test_slow_consumer),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
