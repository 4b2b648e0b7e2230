/* bn_json_valid against a table of good and bad texts; jansson, which the
 * client path uses, is the oracle for every row, so the two never drift. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"

static bool jansson_valid(const char *s, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    json_decref(j);
    return j != NULL;
}

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool valid;
    } rows[] = {
        {"{}", true},
        {"[]", true},
        {" {\"a\" : [1, -2.5e+3, 0, 0.5, true, false, null, \"x\"]} ", true},
        {"\"caf\xc3\xa9\"", true},
        {"\"\\u00e9\\n\\t\\\\\\\"\\/\"", true},
        {"123", true},
        {"-0", true},
        {"1E5", true},
        {"[[[[[]]]]]", true},
        {"", false},
        {" ", false},
        {"{", false},
        {"{\"a\"}", false},
        {"{\"a\":}", false},
        {"{\"a\":1,}", false},
        {"[1,]", false},
        {"[1 2]", false},
        {"{a:1}", false},
        {"'x'", false},
        {"\"unterminated", false},
        {"\"bad \\x escape\"", false},
        {"\"\\u12\"", false},
        {"\"tab\there\"", false},
        {"01", false},
        {"1.", false},
        {".5", false},
        {"-", false},
        {"1e", false},
        {"+1", false},
        {"tru", false},
        {"nul", false},
        {"{} {}", false},
        {"[1] x", false},
        {"\"\xff\"", false},
        {"\"\xc3\x28\"", false},
        {"\"\xed\xa0\x80\"", false},
        {"NaN", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n = strlen(rows[i].text);
        bool got = bn_json_valid(rows[i].text, n);
        if (got != rows[i].valid) {
            fail_msg("row %zu '%s': got %d", i, rows[i].text, got);
        }
        if (jansson_valid(rows[i].text, n) != rows[i].valid) {
            fail_msg("row %zu '%s': jansson disagrees", i, rows[i].text);
        }
    }
    /* Not NUL-terminated: the length is authoritative. */
    assert_true(bn_json_valid("[1]xyz", 3));
    assert_false(bn_json_valid("[1]xyz", 2));
}

static void test_depth_limit(void **state)
{
    (void)state;
    size_t n = BN_JSON_CHECK_MAX_DEPTH + 1;
    char *s = malloc(2 * n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        s[i] = '[';
        s[2 * n - 1 - i] = ']';
    }
    assert_false(bn_json_valid(s, 2 * n));
    assert_true(bn_json_valid(s + 1, 2 * n - 2));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
