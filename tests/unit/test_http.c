/* Unit tests for src/transport/http/http.c (through a real server on
 * 127.0.0.1, port 0, in the test's own loop): status codes for malformed and
 * oversized requests, keep-alive, pipelining, split requests and the
 * WebSocket upgrade answer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bennu/bennu.h"
#include "bennu/log.h"
#include "transport/transport.h"
#include "unit_loop.h"

/* ---------------------------------------------------------------- fixture */

static bn_chan_result_t join_ok(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *r)
{
    (void)ch;
    (void)params;
    (void)r;
    return BN_CHAN_OK;
}

static const bn_channel_type_t type_ok = {.name = "ok", .join = join_ok};

typedef bn_test_server_t fixture_t;

#define MAX_REQUEST_LINE 256
#define MAX_HEADER_BYTES 1024
#define MAX_HEADERS 8
#define MAX_BODY 64

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.max_request_line = MAX_REQUEST_LINE;
    cfg.max_header_bytes = MAX_HEADER_BYTES;
    cfg.max_headers = MAX_HEADERS;
    cfg.max_body = MAX_BODY;
    bn_test_server_start(fx, &cfg, &type_ok);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    bn_test_server_finish(*state);
    free(*state);
    return 0;
}

/* ---------------------------------------------------------------- responses */

typedef struct response_s {
    int status;
    char head[1024];
    char body[256];
    size_t body_len;
} response_t;

/* Reads one response (head + content-length body) and consumes it. */
static bool read_response(bn_test_client_t *c, response_t *r)
{
    memset(r, 0, sizeof(*r));
    long end = bn_test_client_read_until(c, "\r\n\r\n", 5000);
    if (end < 0) {
        return false;
    }
    size_t hl = (size_t)end + 4;
    if (hl >= sizeof(r->head) || sscanf(c->buf, "HTTP/1.1 %d ", &r->status) != 1) {
        return false;
    }
    memcpy(r->head, c->buf, hl);
    r->head[hl] = '\0';
    const char *cl = strcasestr(r->head, "content-length:");
    size_t len = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
    if (len >= sizeof(r->body) || !bn_test_client_read_bytes(c, hl + len, 5000)) {
        return false;
    }
    memcpy(r->body, c->buf + hl, len);
    r->body_len = len;
    bn_test_client_consume(c, hl + len);
    return true;
}

static char *repeat(const char *prefix, char ch, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + n + sl + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, ch, n);
    memcpy(s + pl + n, suffix, sl + 1);
    return s;
}

static char *many_headers(size_t n)
{
    char *s = malloc(64 + n * 32);
    size_t o = (size_t)sprintf(s, "GET /health HTTP/1.1\r\n");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)sprintf(s + o, "X-H%zu: v\r\n", i);
    }
    strcpy(s + o, "\r\n");
    return s;
}

/* ---------------------------------------------------------------- status table */

typedef struct {
    const char *name;
    const char *req; /* NULL: built by the test from `build` */
    int build; /* 0 none, 1 long URL, 2 too many headers, 3 big header, 4 header count at limit */
    int want_status;
    bool want_close;          /* the server closes after answering */
    const char *want_in_head; /* a header that must be present (lower-case), or NULL */
    const char *want_body;
} status_case_t;

static const status_case_t status_cases[] = {
    {"malformed request line", "GARBAGE\r\n\r\n", 0, 400, true, NULL, NULL},
    {"malformed header", "GET /health HTTP/1.1\r\nNo colon here\r\n\r\n", 0, 400, true, NULL, NULL},
    {"bad version", "GET /health HTTP/9\r\n\r\n", 0, 400, true, NULL, NULL},
    {"not found", "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 0, 404, false, NULL, "not found\n"},
    {"health", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200, false, NULL, "ok\n"},
    {"health HEAD has no body", "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200, false, NULL,
     ""},
    {"health with query", "GET /health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200, false, NULL,
     "ok\n"},
    {"method not allowed", "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0, 405,
     false, "allow: GET, HEAD", NULL},
    {"HTTP/1.0 closes", "GET /health HTTP/1.0\r\n\r\n", 0, 200, true, "connection: close", "ok\n"},
    {"connection: close", "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", 0, 200, true,
     "connection: close", "ok\n"},
    {"URI too long", NULL, 1, 414, true, NULL, NULL},
    {"too many headers", NULL, 2, 431, true, NULL, NULL},
    {"header too big", NULL, 3, 431, true, NULL, NULL},
    {"headers at the count limit", NULL, 4, 200, false, NULL, "ok\n"},
    {"declared body too large", "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
     0, 413, true, NULL, NULL},
    {"chunked body too large",
     "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "50\r\n01234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n"
     "0\r\n\r\n",
     0, 413, true, NULL, NULL},
    {"body within limit", "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0,
     405, false, NULL, NULL},
    {"upgrade on another path",
     "GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     0, 404, true, NULL, NULL},
    {"socket path without upgrade", "GET /socket/websocket HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400,
     true, NULL, NULL},
    {"upgrade without key",
     "GET /socket/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n",
     0, 400, true, NULL, NULL},
    {"upgrade with a wrong version",
     "GET /socket/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n",
     0, 426, true, NULL, NULL},
    {"upgrade with a POST",
     "POST /socket/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
     "Content-Length: 0\r\n\r\n",
     0, 400, true, NULL, NULL},
    {"upgrade with a bad vsn",
     "GET /socket/websocket?vsn=9.0.0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n",
     0, 403, true, NULL, NULL},
};

static void test_status_table(void **state)
{
    fixture_t *fx = *state;
    for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
        const status_case_t *sc = &status_cases[i];
        char *built = NULL;
        switch (sc->build) {
        case 1:
            built = repeat("GET /", 'a', MAX_REQUEST_LINE + 10, " HTTP/1.1\r\nHost: x\r\n\r\n");
            break;
        case 2:
            built = many_headers(MAX_HEADERS + 1);
            break;
        case 3:
            built =
                repeat("GET /health HTTP/1.1\r\nX-Big: ", 'b', MAX_HEADER_BYTES + 10, "\r\n\r\n");
            break;
        case 4:
            built = many_headers(MAX_HEADERS);
            break;
        default:
            break;
        }
        const char *req = built != NULL ? built : sc->req;
        bn_test_client_t c;
        assert_true(bn_test_client_connect(&fx->loop, &c, fx->port, true));
        assert_int_equal(bn_test_client_write(&c, req, strlen(req)), 0);
        response_t r;
        if (!read_response(&c, &r)) {
            fail_msg("case '%s': no complete response (read %zu bytes: %.*s)", sc->name, c.len,
                     (int)(c.len < 200 ? c.len : 200), c.buf ? c.buf : "");
        }
        if (r.status != sc->want_status) {
            fail_msg("case '%s': status %d, want %d\n%s", sc->name, r.status, sc->want_status,
                     r.head);
        }
        if (sc->want_in_head != NULL && strstr(r.head, sc->want_in_head) == NULL) {
            fail_msg("case '%s': header '%s' missing in\n%s", sc->name, sc->want_in_head, r.head);
        }
        if (sc->want_body != NULL &&
            (r.body_len != strlen(sc->want_body) || memcmp(r.body, sc->want_body, r.body_len))) {
            fail_msg("case '%s': body '%.*s', want '%s'", sc->name, (int)r.body_len, r.body,
                     sc->want_body);
        }
        if (sc->want_close) {
            if (!bn_test_client_wait_eof(&c, 5000)) {
                fail_msg("case '%s': connection not closed", sc->name);
            }
        } else {
            /* Kept alive: another request is answered on the same connection. */
            const char *again = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
            assert_int_equal(bn_test_client_write(&c, again, strlen(again)), 0);
            if (!read_response(&c, &r) || r.status != 200) {
                fail_msg("case '%s': connection not usable after the response", sc->name);
            }
        }
        bn_test_client_close(&c);
        free(built);
    }
}

/* ---------------------------------------------------------------- keep-alive, pipelining */

static void test_keep_alive(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t c;
    assert_true(bn_test_client_connect(&fx->loop, &c, fx->port, true));
    static const struct {
        const char *req;
        int status;
    } seq[] = {
        {"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 200},
        {"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404},
        {"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405},
        {"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", 200},
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        assert_int_equal(bn_test_client_write(&c, seq[i].req, strlen(seq[i].req)), 0);
        response_t r;
        assert_true(read_response(&c, &r));
        assert_int_equal(r.status, seq[i].status);
        assert_null(strstr(r.head, "connection: close"));
    }
    assert_false(c.eof);
    bn_test_client_close(&c);
}

static void test_pipelined(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t c;
    assert_true(bn_test_client_connect(&fx->loop, &c, fx->port, true));
    const char *reqs = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                       "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(bn_test_client_write(&c, reqs, strlen(reqs)), 0);
    static const int want[] = {200, 404, 405, 200};
    for (size_t i = 0; i < 4; i++) {
        response_t r;
        if (!read_response(&c, &r) || r.status != want[i]) {
            fail_msg("pipelined response %zu: status %d, want %d", i, r.status, want[i]);
        }
    }
    /* Nothing more than four responses. */
    bn_test_run_for(&fx->loop, 50);
    assert_int_equal(c.len, 0);
    assert_false(c.eof);
    bn_test_client_close(&c);
}

/* The same request arrives cut in two at every byte boundary. */
static void test_split_request(void **state)
{
    fixture_t *fx = *state;
    const char *req = "GET /health?a=1 HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\n";
    size_t n = strlen(req);
    bn_test_client_t c;
    assert_true(bn_test_client_connect(&fx->loop, &c, fx->port, true));
    for (size_t cut = 1; cut < n; cut++) {
        assert_int_equal(bn_test_client_write(&c, req, cut), 0);
        bn_test_run_for(&fx->loop, 2);
        assert_int_equal(bn_test_client_write(&c, req + cut, n - cut), 0);
        response_t r;
        if (!read_response(&c, &r) || r.status != 200) {
            fail_msg("cut at %zu: status %d", cut, r.status);
        }
    }
    bn_test_client_close(&c);
}

/* ---------------------------------------------------------------- upgrade */

static void test_upgrade(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t c;
    assert_true(bn_test_client_connect(&fx->loop, &c, fx->port, true));
    char req[1024];
    size_t n = bn_test_ws_request(req, sizeof(req), "/socket/websocket?vsn=2.0.0");
    assert_int_equal(bn_test_client_write(&c, req, n), 0);
    long end = bn_test_client_read_until(&c, "\r\n\r\n", 5000);
    assert_true(end > 0);
    char head[1024];
    memcpy(head, c.buf, (size_t)end + 4);
    head[end + 4] = '\0';
    assert_memory_equal(head, "HTTP/1.1 101 ", 13);
    /* RFC 6455 §1.3: the accept value for the sample key. */
    assert_non_null(strcasestr(head, "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strcasestr(head, "upgrade: websocket\r\n"));
    assert_non_null(strcasestr(head, "connection: upgrade\r\n"));
    bn_test_client_consume(&c, (size_t)end + 4);

    /* The connection now speaks WebSocket and Phoenix. */
    const char *hb = "[null,\"1\",\"phoenix\",\"heartbeat\",{}]";
    assert_int_equal(bn_test_ws_send(&c, BN_TEST_WS_TEXT, hb, strlen(hb)), 0);
    char *msg = NULL;
    assert_int_equal(bn_test_ws_recv(&c, &msg, NULL, 5000), BN_TEST_WS_TEXT);
    assert_string_equal(
        msg, "[null,\"1\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]");
    free(msg);
    bn_test_client_close(&c);
}

/* Header token lists: Connection/Upgrade ignore case, subprotocol names
 * compare exactly; blanks around items do not count, substrings never match. */
static void test_token_listed(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *token;
        bool ignore_case;
        bool listed;
    } rows[] = {
        {"keep-alive, Upgrade", "upgrade", true, true},
        {"Upgrade", "upgrade", false, false},
        {"phoenix", "phoenix", false, true},
        {" base64url.bearer.phx.dG9r , phoenix ", "phoenix", false, true},
        {"Phoenix", "phoenix", false, false},
        {"xphoenix, phoenixy", "phoenix", false, false},
        {"phoenix.v2", "phoenix", false, false},
        {",,\t,", "phoenix", false, false},
        {"", "phoenix", false, false},
        {NULL, "phoenix", false, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (bn_http_token_listed(rows[i].value, rows[i].token, rows[i].ignore_case) !=
            rows[i].listed) {
            fail_msg("row %zu: '%s' has '%s' should be %d", i,
                     rows[i].value ? rows[i].value : "(null)", rows[i].token, rows[i].listed);
        }
    }
}

/* The upgrade request and the first frame arrive in one write. */
static void test_upgrade_with_frame_in_same_write(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t c;
    assert_true(bn_test_client_connect(&fx->loop, &c, fx->port, true));
    char buf[1024];
    size_t n = bn_test_ws_request(buf, sizeof(buf), "/socket/websocket?vsn=2.0.0");
    const char *hb = "[null,\"7\",\"phoenix\",\"heartbeat\",{}]";
    size_t hl = strlen(hb);
    buf[n++] = (char)0x81;
    buf[n++] = (char)(0x80 | hl);
    memset(buf + n, 0, 4); /* a zero mask leaves the payload as is */
    n += 4;
    memcpy(buf + n, hb, hl);
    n += hl;
    assert_int_equal(bn_test_client_write(&c, buf, n), 0);
    long end = bn_test_client_read_until(&c, "\r\n\r\n", 5000);
    assert_true(end > 0);
    assert_memory_equal(c.buf, "HTTP/1.1 101 ", 13);
    bn_test_client_consume(&c, (size_t)end + 4);
    char *msg = NULL;
    assert_int_equal(bn_test_ws_recv(&c, &msg, NULL, 5000), BN_TEST_WS_TEXT);
    assert_string_equal(
        msg, "[null,\"7\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]");
    free(msg);
    bn_test_client_close(&c);
}

int main(void)
{
    bn_log_level = BN_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
        cmocka_unit_test(test_token_listed),
        cmocka_unit_test_setup_teardown(test_upgrade_with_frame_in_same_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
