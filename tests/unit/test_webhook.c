/* Unit tests for src/app/webhook_http.c (the bounded response parser fed
 * whole, cut at every byte, and with garbage), the URL parser, the
 * request signature of src/app/webhook.c and its out-of-memory outcome
 * (this test is linked with -Wl,--wrap=calloc: calloc can be made to fail). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "app/webhook.h"
#include "app/webhook_http.h"

/* calloc calls of the statically linked code come here (--wrap=calloc):
 * fail_calloc_in = N makes the Nth next call fail once (0 = none). */
static int fail_calloc_in;
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    if (fail_calloc_in > 0 && --fail_calloc_in == 0) {
        return NULL;
    }
    return __real_calloc(n, size);
}

static const struct {
    const char *name;
    const char *in;
    int want; /* after the whole input (and EOF when eof) */
    bool eof;
    int status;
    const char *body;
    bool keep_alive;
} resp_cases[] = {
    {"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
     BN_WH_RESP_DONE, false, 200, "{\"ok\":true}", true},
    {"chunked (node)",
     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
     "Transfer-Encoding: chunked\r\n\r\nb\r\n{\"ok\":true}\r\n0\r\n\r\n",
     BN_WH_RESP_DONE, false, 200, "{\"ok\":true}", true},
    {"close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\":1}", BN_WH_RESP_DONE,
     true, 200, "{\"a\":1}", false},
    {"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", BN_WH_RESP_DONE, false, 200,
     "{}", false},
    {"500", "HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n{}", BN_WH_RESP_DONE, false, 500, "{}",
     true},
    {"no body", "HTTP/1.1 204 No Content\r\n\r\n", BN_WH_RESP_DONE, false, 204, NULL, true},
};

static void check_done(const bn_wh_resp_t *r, size_t i)
{
    assert_int_equal(r->status, resp_cases[i].status);
    if (resp_cases[i].body != NULL) {
        assert_non_null(r->body);
        assert_string_equal(r->body, resp_cases[i].body);
    } else {
        assert_int_equal(r->body_len, 0);
    }
    assert_int_equal(r->keep_alive, resp_cases[i].keep_alive);
}

static int feed_all(bn_wh_resp_t *r, const char *in, size_t len, size_t cut, bool eof)
{
    int rc = BN_WH_RESP_MORE;
    if (cut > 0) {
        rc = bn_wh_resp_feed(r, in, cut);
        if (rc != BN_WH_RESP_MORE && rc != BN_WH_RESP_DONE) {
            return rc;
        }
    }
    if (rc != BN_WH_RESP_DONE || cut < len) {
        rc = bn_wh_resp_feed(r, in + cut, len - cut);
    }
    if (eof && rc == BN_WH_RESP_MORE) {
        rc = bn_wh_resp_feed(r, NULL, 0);
    }
    return rc;
}

static void test_responses_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
        size_t len = strlen(resp_cases[i].in);
        for (size_t cut = 0; cut < len; cut++) {
            bn_wh_resp_t r;
            bn_wh_resp_init(&r, 1024);
            int rc = feed_all(&r, resp_cases[i].in, len, cut, resp_cases[i].eof);
            if (rc != resp_cases[i].want) {
                fail_msg("%s cut at %zu: rc %d", resp_cases[i].name, cut, rc);
            }
            check_done(&r, i);
            bn_wh_resp_free(&r);
        }
    }
}

static const struct {
    const char *name;
    const char *in;
    bool eof;
    int want;
} bad_cases[] = {
    {"ssh banner", "SSH-2.0-OpenSSH_9\r\n", false, BN_WH_RESP_GARBAGE},
    {"empty then eof", "", true, BN_WH_RESP_GARBAGE},
    {"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", true, BN_WH_RESP_GARBAGE},
    {"bytes after", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}XYZ", false, BN_WH_RESP_GARBAGE},
    {"100 continue", "HTTP/1.1 100 Continue\r\n\r\n", false, BN_WH_RESP_GARBAGE},
    /* Bytes that look like the start of another response, in the same read
     * as the first (the fuzzer found the whole read answered DONE while the
     * same bytes in two reads were GARBAGE). */
    {"second response begun", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1", false, BN_WH_RESP_GARBAGE},
    {"too large body",
     "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
     "0123456789012345678901234567890123456789",
     false, BN_WH_RESP_TOO_LARGE},
    {"bad status line", "HTTP/1.1 abc OK\r\n\r\n", false, BN_WH_RESP_GARBAGE},
};

static void test_responses_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        bn_wh_resp_t r;
        bn_wh_resp_init(&r, 16);
        size_t len = strlen(bad_cases[i].in);
        int rc = len > 0 ? bn_wh_resp_feed(&r, bad_cases[i].in, len) : BN_WH_RESP_MORE;
        if (rc == BN_WH_RESP_MORE && bad_cases[i].eof) {
            rc = bn_wh_resp_feed(&r, NULL, 0);
        }
        if (rc != bad_cases[i].want) {
            fail_msg("%s: rc %d, want %d", bad_cases[i].name, rc, bad_cases[i].want);
        }
        bn_wh_resp_free(&r);
    }
}

/* Headers without end are bounded: never more than body limit + header
 * allowance is accepted. */
static void test_headers_bounded(void **state)
{
    (void)state;
    bn_wh_resp_t r;
    bn_wh_resp_init(&r, 16);
    int rc = bn_wh_resp_feed(&r, "HTTP/1.1 200 OK\r\n", 17);
    assert_int_equal(rc, BN_WH_RESP_MORE);
    char line[1024];
    memset(line, 'a', sizeof(line));
    memcpy(line, "X-A: ", 5);
    line[sizeof(line) - 2] = '\r';
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 100 && rc == BN_WH_RESP_MORE; i++) {
        rc = bn_wh_resp_feed(&r, line, sizeof(line));
    }
    assert_int_not_equal(rc, BN_WH_RESP_MORE);
    assert_int_not_equal(rc, BN_WH_RESP_DONE);
    bn_wh_resp_free(&r);
}

static void test_url_parse(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        int rc;
        const char *host;
        int port;
        const char *path;
    } cases[] = {
        {"http://127.0.0.1:9000/bennu", 0, "127.0.0.1", 9000, "/bennu"},
        {"http://127.0.0.1", 0, "127.0.0.1", 80, "/"},
        {"http://[::1]:81/x?y=1", 0, "::1", 81, "/x?y=1"},
        {"https://127.0.0.1/", -1, NULL, 0, NULL},
        {"http://example.com/", -1, NULL, 0, NULL},
        {"http://127.0.0.1:0/", -1, NULL, 0, NULL},
        {"http://127.0.0.1:70000/", -1, NULL, 0, NULL},
        {"http://127.0.0.1/a b", -1, NULL, 0, NULL},
        {"http://[::1/", -1, NULL, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bn_wh_config_t c;
        char why[256];
        memset(&c, 0, sizeof(c));
        int rc = bn_wh_url_parse(cases[i].url, &c, why, sizeof(why));
        if (rc != cases[i].rc) {
            fail_msg("%s: rc %d (%s)", cases[i].url, rc, why);
        }
        if (rc == 0) {
            assert_string_equal(c.host, cases[i].host);
            assert_int_equal(c.port, cases[i].port);
            assert_string_equal(c.path, cases[i].path);
        }
    }
}

/* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?". */
static void test_signature(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    char sig[72];
    const char *data = "what do ya want for nothing?";
    bn_wh_sign((const uint8_t *)"Jefe", 4, data, strlen(data), sig);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    size_t len = 0;
    char *req = bn_wh_request_build("127.0.0.1:9", "/p", (const uint8_t *)"Jefe", 4, data,
                                    strlen(data), &len);
    assert_non_null(req);
    assert_int_equal(len, strlen(req));
    assert_non_null(strstr(req, "POST /p HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"));
    assert_non_null(strstr(req, "Content-Length: 28\r\n"));
    assert_non_null(strstr(req, "X-Bennu-Signature: sha256=5bdcc146"));
    assert_non_null(strstr(req, "\r\n\r\nwhat do ya want for nothing?"));
    free(req);
}

static int oom_callbacks;
static void oom_cb(void *ud, bn_wh_result_t result, json_t *answer)
{
    (void)ud;
    (void)result;
    (void)answer;
    oom_callbacks++;
}

/* A call that cannot be allocated (the call itself, then its connection)
 * fails at once with no_memory, counted, nothing in flight, no callback;
 * the next call is accepted. */
static void test_call_out_of_memory(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bn_wh_config_t cfg;
    char why[128];
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(bn_wh_url_parse("http://127.0.0.1:9/hook", &cfg, why, sizeof(why)), 0);
    cfg.timeout_ms = 1000;
    cfg.max_in_flight = 4;
    cfg.max_response_bytes = 65536;
    bn_wh_t *wh = bn_wh_new(&loop, &cfg);
    assert_non_null(wh);
    json_t *body = json_pack("{s:s}", "type", "join");
    for (int nth = 1; nth <= 2; nth++) { /* 1: the call, 2: its connection */
        fail_calloc_in = nth;
        assert_int_equal(bn_wh_call(wh, body, oom_cb, NULL), BN_WH_FAIL_NO_MEMORY);
        assert_int_equal(fail_calloc_in, 0);
    }
    json_t *st = bn_wh_stats_json(wh);
    assert_int_equal(json_integer_value(json_object_get(st, "in_flight")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(st, "failures"), "no_memory")), 2);
    json_decref(st);
    assert_int_equal(bn_wh_call(wh, body, oom_cb, NULL), BN_WH_OK);
    json_decref(body);
    bn_wh_close(wh); /* fails the pending call: its callback runs */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(oom_callbacks, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responses_split), cmocka_unit_test(test_responses_bad),
        cmocka_unit_test(test_headers_bounded), cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_signature),       cmocka_unit_test(test_call_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
