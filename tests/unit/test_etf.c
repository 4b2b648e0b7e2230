/* Unit tests for src/channel/etf.c: the ETF subset used by Phoenix.Token. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/etf.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

typedef struct {
    const char *name;
    const uint8_t *in;
    size_t len;
    const char *want; /* JSON text */
} dec_case_t;

static void assert_json_text(const char *name, const json_t *got, const char *want_text)
{
    json_error_t err;
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, &err);
    if (want == NULL) {
        fail_msg("row %s: bad expected JSON %s", name, want_text);
    }
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        print_error("row %s: got %s want %s\n", name, g ? g : "(null)", want_text);
        free(g);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

/* ---- valid decodes ----------------------------------------------------- */

static const dec_case_t dec_cases[] = {
    {"small int", B(131, 97, 42), "42"},
    {"small int 255", B(131, 97, 255), "255"},
    {"integer -1", B(131, 98, 0xff, 0xff, 0xff, 0xff), "-1"},
    {"integer min32", B(131, 98, 0x80, 0, 0, 0), "-2147483648"},
    {"integer 256", B(131, 98, 0, 0, 1, 0), "256"},
    {"small big ms", B(131, 110, 6, 0, 0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01), "1700000000000"},
    {"small big neg", B(131, 110, 4, 1, 0x01, 0x00, 0x00, 0x80), "-2147483649"},
    {"small big int64 max", B(131, 110, 8, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
     "9223372036854775807"},
    {"small big int64 min", B(131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x80), "-9223372036854775808"},
    {"small big zero digits", B(131, 110, 0, 0), "0"},
    {"small big leading zero", B(131, 110, 10, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0), "5"},
    {"large big", B(131, 111, 0, 0, 0, 2, 1, 0x10, 0x27), "-10000"},
    {"binary", B(131, 109, 0, 0, 0, 7, 'u', 's', 'e', 'r', ':', '4', '2'), "\"user:42\""},
    {"binary empty", B(131, 109, 0, 0, 0, 0), "\"\""},
    {"binary utf8", B(131, 109, 0, 0, 0, 2, 0xc3, 0xa9), "\"\\u00e9\""},
    {"atom true utf8", B(131, 119, 4, 't', 'r', 'u', 'e'), "true"},
    {"atom false", B(131, 100, 0, 5, 'f', 'a', 'l', 's', 'e'), "false"},
    {"atom nil", B(131, 115, 3, 'n', 'i', 'l'), "null"},
    {"atom other", B(131, 118, 0, 2, 'o', 'k'), "\"ok\""},
    {"atom latin1 widened", B(131, 100, 0, 2, 'a', 0xe9), "\"a\\u00e9\""},
    {"atom utf8 multibyte", B(131, 119, 2, 0xc3, 0xa9), "\"\\u00e9\""},
    {"tuple", B(131, 104, 2, 97, 1, 106), "[1, []]"},
    {"tuple empty", B(131, 104, 0), "[]"},
    {"large tuple", B(131, 105, 0, 0, 0, 1, 97, 9), "[9]"},
    {"nil", B(131, 106), "[]"},
    {"list", B(131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 106), "[1, 2]"},
    {"string ext", B(131, 107, 0, 3, 1, 2, 200), "[1, 2, 200]"},
    {"string ext empty", B(131, 107, 0, 0), "[]"},
    {"map binary key", B(131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 2, 'i', 'd', 97, 42), "{\"id\": 42}"},
    {"map atom key", B(131, 116, 0, 0, 0, 1, 119, 2, 'i', 'd', 97, 42), "{\"id\": 42}"},
    {"map empty", B(131, 116, 0, 0, 0, 0), "{}"},
    {"map nested",
     B(131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 'a', 108, 0, 0, 0, 1, 116, 0, 0, 0, 0, 106),
     "{\"a\": [{}]}"},
};

static void test_decode_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof dec_cases / sizeof dec_cases[0]; i++) {
        const dec_case_t *c = &dec_cases[i];
        json_t *got = NULL;
        if (bn_etf_decode(c->in, c->len, &got) != 0) {
            fail_msg("row %s: decode failed", c->name);
        }
        assert_json_text(c->name, got, c->want);
        json_decref(got);
    }
}

/* ETF terms are self-delimiting, so no proper prefix of a valid encoding is
 * itself valid: every truncation must be refused. */
static void test_decode_truncated(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof dec_cases / sizeof dec_cases[0]; i++) {
        const dec_case_t *c = &dec_cases[i];
        for (size_t cut = 0; cut < c->len; cut++) {
            json_t *got = NULL;
            if (bn_etf_decode(c->in, cut, &got) != -1) {
                fail_msg("row %s: prefix of %zu bytes accepted", c->name, cut);
            }
            assert_null(got);
        }
    }
}

/* ---- invalid decodes --------------------------------------------------- */

typedef struct {
    const char *name;
    const uint8_t *in;
    size_t len;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"empty", (const uint8_t *)"", 0},
    {"version only", B(131)},
    {"no version", B(97, 1)},
    {"wrong version", B(130, 97, 1)},
    {"trailing byte", B(131, 97, 1, 0)},
    {"two terms", B(131, 97, 1, 97, 2)},
    {"binary huge len", B(131, 109, 0xff, 0xff, 0xff, 0xff, 'a')},
    {"list huge len", B(131, 108, 0xff, 0xff, 0xff, 0xff, 97, 1, 106)},
    {"map huge len", B(131, 116, 0xff, 0xff, 0xff, 0xff, 119, 1, 'a', 97, 1)},
    {"map len over half", B(131, 116, 0, 0, 0, 3, 119, 1, 'a', 97, 1)},
    {"large tuple huge arity", B(131, 105, 0xff, 0xff, 0xff, 0xff, 106)},
    {"small tuple over", B(131, 104, 3, 97, 1)},
    {"string ext huge", B(131, 107, 0xff, 0xff, 1, 2)},
    {"atom huge len", B(131, 100, 0xff, 0xff, 'a')},
    {"small big huge digits", B(131, 110, 0xff, 0, 1, 2)},
    {"large big huge digits", B(131, 111, 0xff, 0xff, 0xff, 0xff, 0, 1)},
    {"big over int64", B(131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x80)},
    {"big neg under int64", B(131, 110, 8, 1, 1, 0, 0, 0, 0, 0, 0, 0x80)},
    {"big nine digits", B(131, 110, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1)},
    {"big bad sign", B(131, 110, 1, 2, 1)},
    {"improper list", B(131, 108, 0, 0, 0, 1, 97, 1, 97, 2)},
    {"list missing tail", B(131, 108, 0, 0, 0, 1, 97, 1)},
    {"new float", B(131, 70, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18)},
    {"old float", B(131, 99, '1', '.', '0', 0)},
    {"pid", B(131, 88, 119, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)},
    {"new reference", B(131, 90, 0, 1, 119, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 1)},
    {"new fun", B(131, 112, 0, 0, 0, 5, 0)},
    {"export", B(131, 113, 119, 1, 'm', 119, 1, 'f', 97, 1)},
    {"compressed", B(131, 80, 0, 0, 0, 1, 0x78, 0x9c)},
    {"bit binary", B(131, 77, 0, 0, 0, 1, 3, 0xe0)},
    {"atom cache ref", B(131, 82, 0)},
    {"unknown tag", B(131, 0)},
    {"binary bad utf8", B(131, 109, 0, 0, 0, 2, 0xc3, 0x28)},
    {"binary lone continuation", B(131, 109, 0, 0, 0, 1, 0x80)},
    {"binary overlong", B(131, 109, 0, 0, 0, 2, 0xc0, 0x80)},
    {"utf8 atom bad", B(131, 119, 1, 0xff)},
    {"map int key", B(131, 116, 0, 0, 0, 1, 97, 1, 97, 2)},
    {"map tuple key", B(131, 116, 0, 0, 0, 1, 104, 0, 97, 2)},
    {"map true key", B(131, 116, 0, 0, 0, 1, 119, 4, 't', 'r', 'u', 'e', 97, 2)},
    {"map dup key",
     B(131, 116, 0, 0, 0, 2, 109, 0, 0, 0, 1, 'a', 97, 1, 109, 0, 0, 0, 1, 'a', 97, 2)},
    {"map atom/binary clash",
     B(131, 116, 0, 0, 0, 2, 119, 1, 'a', 97, 1, 109, 0, 0, 0, 1, 'a', 97, 2)},
    {"map bad value", B(131, 116, 0, 0, 0, 1, 119, 1, 'a', 70)},
    {"tuple bad element", B(131, 104, 2, 97, 1, 70, 0, 0, 0, 0, 0, 0, 0, 0)},
};

static void test_decode_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case_t *c = &bad_cases[i];
        json_t *got = NULL;
        if (bn_etf_decode(c->in, c->len, &got) != -1) {
            fail_msg("row %s: accepted", c->name);
        }
        assert_null(got);
    }
}

/* Builds depth nested one-element lists around 1, e.g. depth 2 = [[1]]. */
static uint8_t *nested_lists(int depth, size_t *len)
{
    size_t n = 1 + (size_t)depth * 6 + 2;
    uint8_t *p = malloc(n);
    size_t o = 0;
    assert_non_null(p);
    p[o++] = 131;
    for (int i = 0; i < depth; i++) {
        const uint8_t hdr[5] = {108, 0, 0, 0, 1};
        memcpy(p + o, hdr, 5);
        o += 5;
    }
    p[o++] = 97;
    p[o++] = 1;
    for (int i = 0; i < depth; i++) {
        p[o++] = 106;
    }
    *len = o;
    return p;
}

static void test_decode_nesting_limit(void **state)
{
    (void)state;
    size_t len;
    json_t *got = NULL;

    uint8_t *ok = nested_lists(32, &len);
    assert_int_equal(bn_etf_decode(ok, len, &got), 0);
    json_decref(got);
    free(ok);

    got = NULL;
    uint8_t *deep = nested_lists(33, &len);
    assert_int_equal(bn_etf_decode(deep, len, &got), -1);
    assert_null(got);
    free(deep);

    /* Tuples and maps count toward the same limit. */
    uint8_t tuples[1 + 2 * 40 + 1];
    tuples[0] = 131;
    for (int i = 0; i < 40; i++) {
        tuples[1 + 2 * i] = 104;
        tuples[2 + 2 * i] = 1;
    }
    tuples[81] = 106;
    assert_int_equal(bn_etf_decode(tuples, sizeof tuples, &got), -1);

    /* A huge depth must fail fast, not overflow the stack. */
    deep = nested_lists(100000, &len);
    assert_int_equal(bn_etf_decode(deep, len, &got), -1);
    free(deep);
}

static void test_decode_term_internal(void **state)
{
    (void)state;
    /* Two terms back to back: the internal reader stops after each one. */
    const uint8_t in[] = {97, 7, 109, 0, 0, 0, 1, 'x'};
    size_t pos = 0;
    json_t *v = NULL;
    assert_int_equal(bn__etf_decode_term(in, sizeof in, &pos, &v), 0);
    assert_int_equal(pos, 2);
    assert_int_equal(json_integer_value(v), 7);
    json_decref(v);
    assert_int_equal(bn__etf_decode_term(in, sizeof in, &pos, &v), 0);
    assert_int_equal(pos, sizeof in);
    assert_string_equal(json_string_value(v), "x");
    json_decref(v);
    assert_int_equal(bn__etf_decode_term(in, sizeof in, &pos, &v), -1);
    pos = sizeof in + 1;
    assert_int_equal(bn__etf_decode_term(in, sizeof in, &pos, &v), -1);
}

static void test_decode_null_args(void **state)
{
    (void)state;
    json_t *v = NULL;
    assert_int_equal(bn_etf_decode(NULL, 3, &v), -1);
    assert_int_equal(bn_etf_decode((const uint8_t *)"\x83\x61\x01", 3, NULL), -1);
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *json;
    const uint8_t *want;
    size_t want_len;
} enc_case_t;

static const enc_case_t enc_cases[] = {
    {"zero", "0", B(131, 97, 0)},
    {"255", "255", B(131, 97, 255)},
    {"256", "256", B(131, 98, 0, 0, 1, 0)},
    {"-1", "-1", B(131, 98, 0xff, 0xff, 0xff, 0xff)},
    {"int32 max", "2147483647", B(131, 98, 0x7f, 0xff, 0xff, 0xff)},
    {"int32 min", "-2147483648", B(131, 98, 0x80, 0, 0, 0)},
    {"2^31", "2147483648", B(131, 110, 4, 0, 0, 0, 0, 0x80)},
    {"-2^31-1", "-2147483649", B(131, 110, 4, 1, 1, 0, 0, 0x80)},
    {"ms timestamp", "1700000000000", B(131, 110, 6, 0, 0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01)},
    {"int64 max", "9223372036854775807",
     B(131, 110, 8, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)},
    {"int64 min", "-9223372036854775808", B(131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x80)},
    {"string", "\"user:42\"", B(131, 109, 0, 0, 0, 7, 'u', 's', 'e', 'r', ':', '4', '2')},
    {"empty string", "\"\"", B(131, 109, 0, 0, 0, 0)},
    {"true", "true", B(131, 119, 4, 't', 'r', 'u', 'e')},
    {"false", "false", B(131, 119, 5, 'f', 'a', 'l', 's', 'e')},
    {"null", "null", B(131, 119, 3, 'n', 'i', 'l')},
    {"empty array", "[]", B(131, 106)},
    {"array", "[1, \"a\"]", B(131, 108, 0, 0, 0, 2, 97, 1, 109, 0, 0, 0, 1, 'a', 106)},
    {"empty object", "{}", B(131, 116, 0, 0, 0, 0)},
    {"object", "{\"id\": 42}", B(131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 2, 'i', 'd', 97, 42)},
    /* Erlang term order for binaries: bytewise, prefix first. */
    {"object sorted", "{\"b\": 1, \"aa\": 2, \"a\": 3}",
     B(131, 116, 0, 0, 0, 3, 109, 0, 0, 0, 1, 'a', 97, 3, 109, 0, 0, 0, 2, 'a', 'a', 97, 2, 109, 0,
       0, 0, 1, 'b', 97, 1)},
};

static void test_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof enc_cases / sizeof enc_cases[0]; i++) {
        const enc_case_t *c = &enc_cases[i];
        json_t *v = json_loads(c->json, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        uint8_t *out = NULL;
        size_t len = 0;
        if (bn_etf_encode(v, &out, &len) != 0) {
            fail_msg("row %s: encode failed", c->name);
        }
        if (len != c->want_len || memcmp(out, c->want, len) != 0) {
            fail_msg("row %s: bytes differ (len %zu want %zu)", c->name, len, c->want_len);
        }
        /* And back again. */
        json_t *back = NULL;
        if (bn_etf_decode(out, len, &back) != 0) {
            fail_msg("row %s: round trip decode failed", c->name);
        }
        assert_json_text(c->name, back, c->json);
        json_decref(back);
        free(out);
        json_decref(v);
    }
}

static void test_encode_rejects(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t len = 0;

    json_t *real = json_real(1.5);
    assert_int_equal(bn_etf_encode(real, &out, &len), -1);
    json_decref(real);

    json_t *nested_real = json_pack("{s:[f]}", "a", 2.5);
    assert_int_equal(bn_etf_encode(nested_real, &out, &len), -1);
    json_decref(nested_real);

    assert_int_equal(bn_etf_encode(NULL, &out, &len), -1);

    /* 32 levels encode (and decode); 33 do not. */
    json_t *v = json_integer(1);
    for (int i = 0; i < 32; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    assert_int_equal(bn_etf_encode(v, &out, &len), 0);
    json_t *back = NULL;
    assert_int_equal(bn_etf_decode(out, len, &back), 0);
    assert_true(json_equal(back, v));
    json_decref(back);
    free(out);
    json_t *obj = json_object();
    json_object_set_new(obj, "k", v);
    assert_int_equal(bn_etf_encode(obj, &out, &len), -1);
    json_decref(obj);
}

static void test_encode_roundtrip_mixed(void **state)
{
    (void)state;
    const char *text = "{\"user\": {\"id\": -5, \"name\": \"\\u00e9l\\u00e8ve\", \"tags\": [\"a\", "
                       "null, true, false, []], \"big\": 123456789012345}, \"\": 0}";
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(bn_etf_encode(v, &out, &len), 0);
    json_t *back = NULL;
    assert_int_equal(bn_etf_decode(out, len, &back), 0);
    assert_true(json_equal(v, back));
    json_decref(back);
    free(out);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_bad),
        cmocka_unit_test(test_decode_nesting_limit),
        cmocka_unit_test(test_decode_term_internal),
        cmocka_unit_test(test_decode_null_args),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_encode_roundtrip_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
