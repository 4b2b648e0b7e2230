/* Unit tests for src/transport/http/query.c: query strings to connect params
 * (application/x-www-form-urlencoded, last duplicate wins, bad pairs
 * skipped). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport.h"

typedef struct {
    const char *name;
    const char *query;
    const char *want; /* the params object as JSON (compared with json_equal) */
} query_case_t;

static const query_case_t cases[] = {
    {"empty", "", "{}"},
    {"one pair", "vsn=2.0.0", "{\"vsn\":\"2.0.0\"}"},
    {"two pairs", "token=abc&vsn=2.0.0", "{\"token\":\"abc\",\"vsn\":\"2.0.0\"}"},
    {"percent escapes", "a=%41%62%2a", "{\"a\":\"Ab*\"}"},
    {"lower-case hex", "a=%2f%2F", "{\"a\":\"//\"}"},
    {"plus is space", "msg=hello+world", "{\"msg\":\"hello world\"}"},
    {"encoded plus", "msg=1%2B1", "{\"msg\":\"1+1\"}"},
    {"escaped key", "user%5Bid%5D=7", "{\"user[id]\":\"7\"}"},
    {"brackets stay flat", "user[id]=7&user[name]=x", "{\"user[id]\":\"7\",\"user[name]\":\"x\"}"},
    {"missing '='", "flag", "{\"flag\":\"\"}"},
    {"missing '=' then pair", "flag&a=1", "{\"flag\":\"\",\"a\":\"1\"}"},
    {"empty value", "a=", "{\"a\":\"\"}"},
    {"empty key skipped", "=v&a=1", "{\"a\":\"1\"}"},
    {"empty pieces", "&&a=1&&", "{\"a\":\"1\"}"},
    {"lone '='", "=", "{}"},
    {"value with '='", "a=b=c", "{\"a\":\"b=c\"}"},
    {"last duplicate wins", "a=1&b=2&a=3", "{\"a\":\"3\",\"b\":\"2\"}"},
    {"bad escape: non-hex", "a=%zz&b=1", "{\"b\":\"1\"}"},
    {"bad escape: truncated", "b=1&a=%4", "{\"b\":\"1\"}"},
    {"bad escape: lone percent", "a=%&b=1", "{\"b\":\"1\"}"},
    {"bad escape in key", "%g1=x&b=1", "{\"b\":\"1\"}"},
    {"bad duplicate keeps earlier", "a=1&a=%", "{\"a\":\"1\"}"},
    {"utf-8 escapes", "n=%C3%A9t%C3%A9", "{\"n\":\"\xC3\xA9t\xC3\xA9\"}"},
    {"invalid utf-8 value skipped", "a=%FF&b=1", "{\"b\":\"1\"}"},
    {"invalid utf-8 key skipped", "%C3=1&b=2", "{\"b\":\"2\"}"},
    {"overlong utf-8 skipped", "a=%C0%AF&b=1", "{\"b\":\"1\"}"},
    {"raw utf-8 kept", "a=\xC3\xA9", "{\"a\":\"\xC3\xA9\"}"},
    {"escape at the very end", "a=%41", "{\"a\":\"A\"}"},
};

static void test_query_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const query_case_t *c = &cases[i];
        json_error_t jerr;
        json_t *want = json_loads(c->want, 0, &jerr);
        if (want == NULL) {
            fail_msg("case '%s': bad expectation: %s", c->name, jerr.text);
        }
        json_t *got = bn_http_query_parse(c->query);
        if (got == NULL || !json_equal(got, want)) {
            char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            fail_msg("case '%s': query '%s' gave %s, want %s", c->name, c->query, g ? g : "NULL",
                     c->want);
        }
        json_decref(got);
        json_decref(want);
    }
}

/* A NUL decoded from %00 stays inside the value (json strings have lengths). */
static void test_query_nul_escape(void **state)
{
    (void)state;
    json_t *got = bn_http_query_parse("a=x%00y");
    assert_non_null(got);
    json_t *v = json_object_get(got, "a");
    assert_non_null(v);
    assert_int_equal(json_string_length(v), 3);
    assert_memory_equal(json_string_value(v), "x\0y", 3);
    json_decref(got);
}

/* Long query strings: every pair is kept and nothing overflows. */
static void test_query_long(void **state)
{
    (void)state;
    size_t n = 2000;
    char *q = malloc(n * 16);
    assert_non_null(q);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        o += (size_t)sprintf(q + o, "%sk%zu=%%41%zu", i ? "&" : "", i, i);
    }
    json_t *got = bn_http_query_parse(q);
    assert_non_null(got);
    assert_int_equal(json_object_size(got), n);
    assert_string_equal(json_string_value(json_object_get(got, "k1999")), "A1999");
    json_decref(got);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_table),
        cmocka_unit_test(test_query_nul_escape),
        cmocka_unit_test(test_query_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
