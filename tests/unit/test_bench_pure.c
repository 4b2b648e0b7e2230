/* Unit tests for bennu-bench's pure parts: histogram, WebSocket client
 * codec, Phoenix frame helpers and option parsing. The tool's sources are
 * compiled into this test directly because they are not part of
 * bennu_lib. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/bennu-bench/args.c"
#include "../../tools/bennu-bench/hist.c"
#include "../../tools/bennu-bench/phx.c"
#include "../../tools/bennu-bench/wsproto.c"

/* ---- histogram ---- */

static void test_hist_exact_small_and_bounds(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < BNB_HIST_SUB; v++) {
        assert_int_equal(bnb_hist_index(v), v);
    }
    /* Every value lies inside its bucket, buckets are contiguous, and the
     * width stays within 1/32 of the value. */
    uint64_t vals[] = {32, 33, 63, 64, 65, 127, 128, 1000, 123456, 999999999, 1ull << 40};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t idx = bnb_hist_index(vals[i]);
        assert_true(bnb_hist_bucket_low(idx) <= vals[i]);
        assert_true(bnb_hist_bucket_high(idx) >= vals[i]);
        assert_true(bnb_hist_bucket_high(idx) - bnb_hist_bucket_low(idx) <= vals[i] / 32);
    }
    for (size_t idx = 1; idx < BNB_HIST_BUCKETS; idx++) {
        assert_int_equal(bnb_hist_bucket_low(idx), bnb_hist_bucket_high(idx - 1) + 1);
    }
    assert_int_equal(bnb_hist_index(UINT64_MAX), BNB_HIST_BUCKETS - 1);
}

static void test_hist_quantiles(void **state)
{
    (void)state;
    bnb_hist_t *h = malloc(sizeof(*h));
    bnb_hist_init(h);
    assert_int_equal(bnb_hist_quantile(h, 0.5), 0);
    for (uint64_t v = 1; v <= 10000; v++) {
        bnb_hist_record(h, v * 1000);
    }
    struct {
        double q;
        uint64_t want;
    } rows[] = {{0.0, 1000},     {0.5, 5000000},   {0.9, 9000000},
                {0.99, 9900000}, {0.999, 9990000}, {1.0, 10000000}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t got = bnb_hist_quantile(h, rows[i].q);
        double err = ((double)got - (double)rows[i].want) / (double)rows[i].want;
        if (err < 0 || err > 1.0 / 32) {
            fail_msg("q=%g got %llu want ~%llu", rows[i].q, (unsigned long long)got,
                     (unsigned long long)rows[i].want);
        }
    }
    assert_int_equal(h->count, 10000);
    assert_int_equal(h->min, 1000);
    assert_int_equal(h->max, 10000000);
    assert_true(bnb_hist_mean(h) > 5000499.0 && bnb_hist_mean(h) < 5000501.0);

    bnb_hist_t *g = malloc(sizeof(*g));
    bnb_hist_init(g);
    bnb_hist_record(g, 7);
    bnb_hist_merge(g, h);
    assert_int_equal(g->count, 10001);
    assert_int_equal(g->min, 7);
    assert_int_equal(bnb_hist_quantile(g, 0.00001), 7);
    free(g);
    free(h);
}

/* ---- WebSocket parser ---- */

typedef struct {
    int n;
    int ops[8];
    char data[8][300];
    size_t lens[8];
} sink_t;

static int sink_cb(void *ud, int opcode, const uint8_t *data, size_t len)
{
    sink_t *s = ud;
    if (s->n < 8) {
        s->ops[s->n] = opcode;
        memcpy(s->data[s->n], data, len < 300 ? len : 300);
        s->lens[s->n] = len;
    }
    s->n++;
    return 0;
}

typedef struct {
    const char *name;
    const uint8_t *in;
    size_t len;
    int want_msgs;
    int op0;
    const char *msg0;
} ws_case_t;

static const uint8_t f_text[] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};
static const uint8_t f_frag[] = {0x01, 0x02, 'a', 'b', 0x89, 0x01, 'P', 0x80, 0x01, 'c'};
static const uint8_t f_two[] = {0x81, 0x01, 'x', 0x81, 0x00};
static const uint8_t f_close[] = {0x88, 0x02, 0x03, 0xe8};

static void test_ws_parser_table_and_split(void **state)
{
    (void)state;
    static uint8_t f_126[4 + 200];
    f_126[0] = 0x81;
    f_126[1] = 126;
    f_126[2] = 0;
    f_126[3] = 200;
    memset(f_126 + 4, 'y', 200);
    const ws_case_t cases[] = {
        {"text", f_text, sizeof(f_text), 1, BNB_WS_OP_TEXT, "hello"},
        {"fragmented+ping", f_frag, sizeof(f_frag), 2, BNB_WS_OP_PING, "P"},
        {"two frames, empty second", f_two, sizeof(f_two), 2, BNB_WS_OP_TEXT, "x"},
        {"close", f_close, sizeof(f_close), 1, BNB_WS_OP_CLOSE, "\x03\xe8"},
        {"16-bit length", f_126, sizeof(f_126), 1, BNB_WS_OP_TEXT, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const ws_case_t *c = &cases[i];
        for (size_t cut = 0; cut <= c->len; cut++) {
            bnb_ws_parser_t p;
            bnb_ws_parser_init(&p, 1 << 20);
            sink_t s = {0};
            int rc = bnb_ws_parser_feed(&p, c->in, cut, sink_cb, &s);
            rc |= bnb_ws_parser_feed(&p, c->in + cut, c->len - cut, sink_cb, &s);
            if (rc != 0 || s.n != c->want_msgs || s.ops[0] != c->op0) {
                fail_msg("%s cut=%zu rc=%d msgs=%d op=%d", c->name, cut, rc, s.n, s.ops[0]);
            }
            if (c->msg0 != NULL &&
                (s.lens[0] != strlen(c->msg0) || memcmp(s.data[0], c->msg0, s.lens[0]) != 0)) {
                fail_msg("%s cut=%zu: wrong payload", c->name, cut);
            }
            if (strcmp(c->name, "fragmented+ping") == 0 &&
                (s.ops[1] != BNB_WS_OP_TEXT || s.lens[1] != 3 || memcmp(s.data[1], "abc", 3))) {
                fail_msg("reassembly failed at cut=%zu", cut);
            }
            if (c->msg0 == NULL && (s.lens[0] != 200 || s.data[0][199] != 'y')) {
                fail_msg("%s cut=%zu: wrong length", c->name, cut);
            }
            bnb_ws_parser_free(&p);
        }
    }
}

static void test_ws_parser_bad_input(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t in[12];
        size_t len;
        int want;
    } bad[] = {
        {"masked", {0x81, 0x81, 1, 2, 3, 4, 'x'}, 7, BNB_WS_E_MASKED},
        {"rsv1", {0xc1, 0x00}, 2, BNB_WS_E_RSV},
        {"opcode 3", {0x83, 0x00}, 2, BNB_WS_E_OPCODE},
        {"long ping", {0x89, 126, 0, 126}, 4, BNB_WS_E_CONTROL},
        {"fragmented ping", {0x09, 0x00}, 2, BNB_WS_E_CONTROL},
        {"stray continuation", {0x80, 0x00}, 2, BNB_WS_E_CONT},
        {"text inside fragments", {0x01, 0x00, 0x81, 0x00}, 4, BNB_WS_E_FRAG},
        {"non-minimal 16-bit", {0x81, 126, 0, 5}, 4, BNB_WS_E_LENGTH},
        {"64-bit msb", {0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, 10, BNB_WS_E_LENGTH},
        {"too big", {0x81, 127, 0, 0, 0, 0, 0, 0x10, 0, 0}, 10, BNB_WS_E_TOO_BIG},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bnb_ws_parser_t p;
        bnb_ws_parser_init(&p, 4096);
        sink_t s = {0};
        int rc = bnb_ws_parser_feed(&p, bad[i].in, bad[i].len, sink_cb, &s);
        if (rc != bad[i].want) {
            fail_msg("%s: rc=%d (%s) want %d", bad[i].name, rc, bnb_ws_err_name(rc), bad[i].want);
        }
        /* Errors are sticky. */
        assert_int_equal(bnb_ws_parser_feed(&p, f_text, sizeof(f_text), sink_cb, &s), rc);
        bnb_ws_parser_free(&p);
    }
}

static void test_ws_frame_build_roundtrip(void **state)
{
    (void)state;
    size_t sizes[] = {0, 5, 125, 126, 65535, 65536};
    const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t *payload = malloc(n + 1);
        uint8_t *frame = malloc(n + BNB_WS_HDR_MAX);
        for (size_t k = 0; k < n; k++) {
            payload[k] = (uint8_t)(k * 7);
        }
        size_t fl = bnb_ws_frame_build(frame, BNB_WS_OP_TEXT, payload, n, mask);
        size_t hl = n < 126 ? 6 : n <= 0xffff ? 8 : 14;
        assert_int_equal(fl, hl + n);
        assert_int_equal(frame[0], 0x81);
        assert_true(frame[1] & 0x80);
        assert_memory_equal(frame + hl - 4, mask, 4);
        for (size_t k = 0; k < n; k++) {
            if ((frame[hl + k] ^ mask[k & 3]) != payload[k]) {
                fail_msg("size %zu byte %zu wrong", n, k);
            }
        }
        free(payload);
        free(frame);
    }
}

static void test_ws_handshake(void **state)
{
    (void)state;
    char accept[29];
    /* RFC 6455 §1.3 sample. */
    bnb_ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", accept);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                      "Connection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
    size_t total = sizeof(ok) - 1;
    size_t hdr = 0;
    int status = 0;
    for (size_t cut = 0; cut < total - 2; cut++) {
        assert_int_equal(bnb_ws_handshake_parse(ok, cut, accept, &hdr, &status), 0);
    }
    assert_int_equal(bnb_ws_handshake_parse(ok, total, accept, &hdr, &status), 1);
    assert_int_equal(hdr, total - 2);
    assert_int_equal(status, 101);
    static const struct {
        const char *name;
        const char *in;
        int want;
    } bad[] = {
        {"403", "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", BNB_WS_E_HS_STATUS},
        {"no upgrade",
         "HTTP/1.1 101 X\r\nConnection: upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
         BNB_WS_E_HS_UPGRADE},
        {"bad accept",
         "HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
         "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
         BNB_WS_E_HS_ACCEPT},
        {"garbage", "SSH-2.0-OpenSSH\r\n\r\n", BNB_WS_E_HS_SYNTAX},
        {"header without colon", "HTTP/1.1 101 X\r\nbogus\r\n\r\n", BNB_WS_E_HS_SYNTAX},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = bnb_ws_handshake_parse(bad[i].in, strlen(bad[i].in), accept, &hdr, &status);
        if (rc != bad[i].want) {
            fail_msg("%s: rc=%d want %d", bad[i].name, rc, bad[i].want);
        }
    }
    char *big = malloc(BNB_WS_HS_MAX + 100);
    memset(big, 'a', BNB_WS_HS_MAX + 100);
    assert_int_equal(bnb_ws_handshake_parse(big, BNB_WS_HS_MAX + 100, accept, &hdr, &status),
                     BNB_WS_E_HS_TOO_LONG);
    free(big);
    char req[512];
    size_t rl = bnb_ws_handshake_request(req, sizeof(req), "127.0.0.1", 4000,
                                         "/socket/websocket?vsn=2.0.0", "KEY");
    assert_true(rl > 0);
    assert_non_null(strstr(req, "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "Sec-WebSocket-Key: KEY\r\n"));
    /* A capacity the compiler cannot see, so it does not warn about the
     * truncation this case is about. */
    volatile size_t small_cap = 10;
    assert_int_equal(bnb_ws_handshake_request(req, small_cap, "h", 1, "/", "K"), 0);
}

/* ---- Phoenix helpers ---- */

static void test_phx_classify(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *in;
        int rc;
        bnb_phx_event_t ev;
        uint64_t ref;
        int ok;
        const char *body;
    } rows[] = {
        {"join ok",
         "[\"1\",\"1\",\"room:lobby\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]", 0,
         BNB_PHX_EV_REPLY, 1, 1, NULL},
        {"status first",
         "[\"1\",\"7\",\"room:lobby\",\"phx_reply\",{\"status\": \"ok\",\"response\":{}}]", 0,
         BNB_PHX_EV_REPLY, 7, 1, NULL},
        {"error",
         "[null,\"3\",\"x\",\"phx_reply\",{\"response\":{\"reason\":\"unmatched "
         "topic\"},\"status\":\"error\"}]",
         0, BNB_PHX_EV_REPLY, 3, 0, NULL},
        {"broadcast", "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"p1 s2 t3 xx\"}]", 0,
         BNB_PHX_EV_NEW_MSG, 0, 0, "p1 s2 t3 xx"},
        {"spaces", " [ null , null , \"t\" , \"new_msg\" , { \"body\" : \"a\\\"b\" } ]", 0,
         BNB_PHX_EV_NEW_MSG, 0, 0, "a\\\"b"},
        {"close", "[\"1\",\"1\",\"t\",\"phx_close\",{}]", 0, BNB_PHX_EV_CLOSE, 1, 0, NULL},
        {"other", "[null,null,\"t\",\"shout\",{}]", 0, BNB_PHX_EV_OTHER, 0, 0, NULL},
        {"non-numeric ref", "[null,\"abc\",\"t\",\"phx_reply\",{}]", 0, BNB_PHX_EV_REPLY, 0, 0,
         NULL},
        {"object", "{\"topic\":\"x\"}", -1, 0, 0, 0, NULL},
        {"short", "[null,null,\"t\"]", -1, 0, 0, 0, NULL},
        {"truncated", "[null,null,\"t", -1, 0, 0, 0, NULL},
        {"empty", "", -1, 0, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bnb_phx_in_t in;
        int rc = bnb_phx_classify(rows[i].in, strlen(rows[i].in), &in);
        if (rc != rows[i].rc) {
            fail_msg("%s: rc=%d", rows[i].name, rc);
        }
        if (rc != 0) {
            continue;
        }
        if (in.event != rows[i].ev || in.ref != rows[i].ref || in.status_ok != rows[i].ok) {
            fail_msg("%s: ev=%d ref=%llu ok=%d", rows[i].name, in.event, (unsigned long long)in.ref,
                     in.status_ok);
        }
        if (rows[i].body != NULL && (in.body == NULL || in.body_len != strlen(rows[i].body) ||
                                     memcmp(in.body, rows[i].body, in.body_len) != 0)) {
            fail_msg("%s: wrong body", rows[i].name);
        }
    }
}

static void test_phx_build_and_body(void **state)
{
    (void)state;
    char buf[8192];
    size_t n = bnb_phx_frame(buf, sizeof(buf), 1, 1, "room:lobby", "phx_join", "{}");
    assert_string_equal(buf, "[\"1\",\"1\",\"room:lobby\",\"phx_join\",{}]");
    assert_int_equal(n, strlen(buf));
    bnb_phx_frame(buf, sizeof(buf), 0, 42, "phoenix", "heartbeat", "{}");
    assert_string_equal(buf, "[null,\"42\",\"phoenix\",\"heartbeat\",{}]");
    assert_int_equal(bnb_phx_frame(buf, 20, 1, 1, "room:lobby", "phx_join", "{}"), 0);

    size_t sizes[] = {1, 20, 100, 4096};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        n = bnb_phx_new_msg(buf, sizeof(buf), 1, 9, "room:lobby", sizes[i], 3, 1234,
                            1700000000123456789ull);
        assert_true(n > 0);
        bnb_phx_in_t in;
        assert_int_equal(bnb_phx_classify(buf, n, &in), 0);
        assert_int_equal(in.event, BNB_PHX_EV_NEW_MSG);
        assert_int_equal(in.ref, 9);
        size_t min = strlen("p3 s1234 t1700000000123456789");
        assert_int_equal(in.body_len, sizes[i] > min ? sizes[i] : min);
        uint32_t pub;
        uint64_t seq;
        uint64_t t;
        assert_int_equal(bnb_phx_body_parse(in.body, in.body_len, &pub, &seq, &t), 0);
        assert_int_equal(pub, 3);
        assert_int_equal(seq, 1234);
        assert_true(t == 1700000000123456789ull);
    }
    static const char *bad[] = {
        "",         "p",         "px s1 t1",           "p1 s1",
        "p1 t1 s1", "p1 s1 t1x", "p99999999999 s1 t1", "p1 s1 t99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t pub;
        uint64_t seq;
        uint64_t t;
        if (bnb_phx_body_parse(bad[i], strlen(bad[i]), &pub, &seq, &t) != -1) {
            fail_msg("accepted bad body '%s'", bad[i]);
        }
    }
}

/* ---- options ---- */

static void test_args(void **state)
{
    (void)state;
    bnb_config_t cfg;
    char err[256];
    char *a1[] = {"bb", "--mode", "pingpong", "--port=4400", "--rate", "20.5", "--quiet"};
    assert_int_equal(bnb_args_parse(&cfg, 7, a1, err, sizeof(err)), BNB_ARGS_OK);
    assert_int_equal(cfg.mode, BNB_MODE_PINGPONG);
    assert_int_equal(cfg.port, 4400);
    assert_true(cfg.rate == 20.5);
    assert_int_equal(cfg.quiet, 1);
    assert_int_equal(cfg.conns, 1);
    assert_string_equal(cfg.topic, "room:lobby");

    char *a2[] = {"bb", "--mode", "conns"};
    assert_int_equal(bnb_args_parse(&cfg, 3, a2, err, sizeof(err)), BNB_ARGS_OK);
    assert_int_equal(cfg.conns, 1000);
    assert_int_equal(bnb_config_sockets(&cfg), 1000);
    char *a3[] = {"bb", "--subs", "18000", "--pubs", "4"};
    assert_int_equal(bnb_args_parse(&cfg, 5, a3, err, sizeof(err)), BNB_ARGS_OK);
    assert_int_equal(bnb_config_sockets(&cfg), 18004);
    char *a5[] = {"bb", "--subs", "20000", "--pubs", "0", "--listen-pubs", "1"};
    assert_int_equal(bnb_args_parse(&cfg, 7, a5, err, sizeof(err)), BNB_ARGS_OK);
    assert_int_equal(bnb_config_sockets(&cfg), 20000);
    assert_int_equal(cfg.listen_pubs, 1);
    char *a4[] = {"bb", "--help"};
    assert_int_equal(bnb_args_parse(&cfg, 2, a4, err, sizeof(err)), BNB_ARGS_HELP);

    static struct {
        const char *name;
        char *argv[8];
        int argc;
    } bad[] = {
        {"unknown", {"bb", "--nope"}, 2},
        {"missing value", {"bb", "--port"}, 2},
        {"port range", {"bb", "--port", "70000"}, 3},
        {"negative", {"bb", "--subs", "-1"}, 3},
        {"trailing junk", {"bb", "--subs", "10x"}, 3},
        {"zero pubs", {"bb", "--pubs", "0"}, 3},
        {"listen with pubs", {"bb", "--listen-pubs", "1"}, 3},
        {"listen, topics", {"bb", "--pubs", "0", "--listen-pubs", "1", "--topics", "2"}, 7},
        {"bad mode", {"bb", "--mode", "flood"}, 3},
        {"nan rate", {"bb", "--rate", "nan"}, 3},
        {"positional", {"bb", "fanout"}, 2},
        {"flag with value", {"bb", "--quiet=1"}, 2},
        {"bad path", {"bb", "--path", "socket"}, 3},
        {"empty host", {"bb", "--host="}, 2},
        {"quote in topic", {"bb", "--topic", "a\"b"}, 3},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (bnb_args_parse(&cfg, bad[i].argc, bad[i].argv, err, sizeof(err)) != BNB_ARGS_BAD ||
            err[0] == '\0') {
            fail_msg("%s: accepted or no message", bad[i].name);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_exact_small_and_bounds),
        cmocka_unit_test(test_hist_quantiles),
        cmocka_unit_test(test_ws_parser_table_and_split),
        cmocka_unit_test(test_ws_parser_bad_input),
        cmocka_unit_test(test_ws_frame_build_roundtrip),
        cmocka_unit_test(test_ws_handshake),
        cmocka_unit_test(test_phx_classify),
        cmocka_unit_test(test_phx_build_and_body),
        cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
