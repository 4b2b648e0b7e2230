/* bn_strerror / bn_err_name over Bennu's table and libuv's codes, the
 * promise that the two ranges never meet, and the version API. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "bennu/bennu.h"

static const struct {
    int code;
    const char *name;
    const char *msg;
} bn_codes[] = {
#define ROW(name, value, msg) {BN_E##name, "BN_E" #name, msg},
    BN_ERRNO_MAP(ROW)
#undef ROW
};
#define N_BN_CODES (sizeof(bn_codes) / sizeof(bn_codes[0]))

static const int uv_codes[] = {
#define UV_ROW(name, msg) UV_##name,
    UV_ERRNO_MAP(UV_ROW)
#undef UV_ROW
};
#define N_UV_CODES (sizeof(uv_codes) / sizeof(uv_codes[0]))

static void test_bennu_codes(void **state)
{
    (void)state;
    assert_true(N_BN_CODES >= 1);
    for (size_t i = 0; i < N_BN_CODES; i++) {
        int c = bn_codes[i].code;
        assert_true(c < 0);
        assert_true(BN_IS_BN_ERR(c));
        assert_string_equal(bn_err_name(c), bn_codes[i].name);
        assert_string_equal(bn_strerror(c), bn_codes[i].msg);
        assert_true(strlen(bn_codes[i].msg) > 0);
        for (size_t j = i + 1; j < N_BN_CODES; j++) {
            assert_int_not_equal(c, bn_codes[j].code);
            assert_string_not_equal(bn_codes[i].msg, bn_codes[j].msg);
        }
    }
    /* Spot checks against the literal values, which are ABI. */
    assert_int_equal(BN_ECOOKIE, -30001);
    assert_string_equal(bn_err_name(BN_ECOOKIE), "BN_ECOOKIE");
    assert_string_equal(bn_strerror(BN_EGONE), "connection or channel gone");
}

/* libuv's codes sit in [-4095, -1] and none of them is in Bennu's range. */
static void test_no_collision_with_libuv(void **state)
{
    (void)state;
    assert_true(N_UV_CODES > 50);
    for (size_t i = 0; i < N_UV_CODES; i++) {
        int c = uv_codes[i];
        assert_true(c < 0 && c >= -4095);
        assert_false(BN_IS_BN_ERR(c));
        for (size_t j = 0; j < N_BN_CODES; j++) {
            assert_int_not_equal(c, bn_codes[j].code);
        }
    }
}

/* Every libuv code is described exactly as libuv describes it. */
static void test_libuv_passthrough(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_UV_CODES; i++) {
        int c = uv_codes[i];
        assert_string_equal(bn_strerror(c), uv_strerror(c));
        assert_string_equal(bn_err_name(c), uv_err_name(c));
    }
    assert_string_equal(bn_err_name(UV_EADDRINUSE), "EADDRINUSE");
    assert_string_equal(bn_err_name(UV_EOF), "EOF");
    assert_string_equal(bn_err_name(UV_EAI_NONAME), "EAI_NONAME");
    assert_string_equal(bn_strerror(UV_EINVAL), "invalid argument");
}

/* Zero and codes nobody knows: static strings, no allocation (libuv's
 * functions would leak an "Unknown system error" string here, which
 * LeakSanitizer in the sanitizer build would report). */
static void test_zero_and_unknown(void **state)
{
    (void)state;
    assert_string_equal(bn_strerror(0), "success");
    assert_string_equal(bn_err_name(0), "OK");
    const int unknown[] = {1,      42,     INT_MAX, INT_MIN, -4096, -29999,
                           -30000, -30998, -30999,  -31000,  -4000};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        int c = unknown[i];
        int is_uv = 0;
        for (size_t j = 0; j < N_UV_CODES; j++) {
            is_uv |= uv_codes[j] == c;
        }
        if (is_uv) {
            continue; /* -4000 is not a libuv code on Linux; skip it where it is */
        }
        assert_string_equal(bn_strerror(c), "unknown error");
        assert_string_equal(bn_err_name(c), "UNKNOWN");
    }
    assert_true(BN_IS_BN_ERR(-30999));
    assert_false(BN_IS_BN_ERR(-31000));
    assert_false(BN_IS_BN_ERR(-30000));
}

static void test_version(void **state)
{
    (void)state;
    char expect[32];
    snprintf(expect, sizeof(expect), "%d.%d.%d", BN_VERSION_MAJOR, BN_VERSION_MINOR,
             BN_VERSION_PATCH);
    assert_string_equal(BN_VERSION_STRING, expect);
    assert_string_equal(bn_version_string(), expect);
    assert_string_equal(BN_VERSION, BN_VERSION_STRING);
    assert_int_equal(bn_version(), BN_VERSION_HEX);
    assert_int_equal(bn_version() >> 16, BN_VERSION_MAJOR);
    assert_int_equal((bn_version() >> 8) & 0xff, BN_VERSION_MINOR);
    assert_int_equal(bn_version() & 0xff, BN_VERSION_PATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bennu_codes),       cmocka_unit_test(test_no_collision_with_libuv),
        cmocka_unit_test(test_libuv_passthrough), cmocka_unit_test(test_zero_and_unknown),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
