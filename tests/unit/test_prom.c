/* Unit tests for src/channel/prom.c: the Prometheus text format 0.0.4
 * writer (HELP/TYPE lines, escaping, values) and bearer-token parsing of
 * the /api/ Authorization header. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/prom.h"

static void test_family_and_samples(void **state)
{
    (void)state;
    bn_prom_t p;
    bn_prom_init(&p);
    bn_prom_family(&p, "bennu_connections", "gauge", "Open sockets.");
    bn_prom_u64(&p, "bennu_connections", "transport", "websocket", 3);
    bn_prom_u64(&p, "bennu_connections", NULL, NULL, 18446744073709551615ULL);
    bn_prom_double(&p, "bennu_rtt_seconds", "peer", "a@h", 0.000125);
    assert_false(p.oom);
    assert_string_equal(p.buf, "# HELP bennu_connections Open sockets.\n"
                               "# TYPE bennu_connections gauge\n"
                               "bennu_connections{transport=\"websocket\"} 3\n"
                               "bennu_connections 18446744073709551615\n"
                               "bennu_rtt_seconds{peer=\"a@h\"} 0.000125\n");
    assert_int_equal(p.len, strlen(p.buf));
    bn_prom_free(&p);
}

static void test_escaping(void **state)
{
    (void)state;
    bn_prom_t p;
    bn_prom_init(&p);
    /* HELP escapes backslash and newline only; label values also '"'. */
    bn_prom_family(&p, "bennu_x", "counter", "a \\ b\nc \"q\"");
    bn_prom_u64(&p, "bennu_x", "reason", "x\"y\\z\nw", 1);
    assert_string_equal(p.buf, "# HELP bennu_x a \\\\ b\\nc \"q\"\n"
                               "# TYPE bennu_x counter\n"
                               "bennu_x{reason=\"x\\\"y\\\\z\\nw\"} 1\n");
    bn_prom_free(&p);
}

static void test_growth(void **state)
{
    (void)state;
    bn_prom_t p;
    bn_prom_init(&p);
    char label[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(label, sizeof(label), "peer-%d@host", i);
        bn_prom_u64(&p, "bennu_mesh_peer_queue_bytes", "peer", label, (uint64_t)i);
    }
    assert_false(p.oom);
    assert_true(p.len > 4096 * 8);
    assert_non_null(strstr(p.buf, "bennu_mesh_peer_queue_bytes{peer=\"peer-1999@host\"} 1999\n"));
    assert_int_equal(p.buf[p.len], '\0');
    bn_prom_free(&p);
    assert_null(p.buf);
}

typedef struct {
    const char *header;
    const char *token; /* NULL = refused */
} bearer_case_t;

static void test_bearer(void **state)
{
    (void)state;
    static const bearer_case_t cases[] = {
        {"Bearer abc", "abc"},
        {"bearer abc", "abc"},
        {"BEARER   abc  ", "abc"},
        {"Bearer\tabc\t", "abc"},
        {"Bearer a.b-c_d~e+f/g=", "a.b-c_d~e+f/g="},
        {NULL, NULL},
        {"", NULL},
        {"Bearer", NULL},
        {"Bearer ", NULL},
        {"Bearer    ", NULL},
        {"Bearerabc", NULL},
        {"Basic abc", NULL},
        {"Bearer a b", NULL},
        {"Token abc", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *tok = NULL;
        size_t len = 0;
        bool ok = bn_bearer_parse(cases[i].header, &tok, &len);
        if (cases[i].token == NULL) {
            assert_false(ok);
        } else {
            assert_true(ok);
            assert_int_equal(len, strlen(cases[i].token));
            assert_memory_equal(tok, cases[i].token, len);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_bearer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
