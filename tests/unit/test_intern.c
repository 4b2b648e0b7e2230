/* Unit tests for src/core/intern.c: the shared-string table behind
 * channels' join_refs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/intern.h"

/* Equal bytes give one value; uses are counted; the last release frees. */
static void test_share_and_release(void **state)
{
    (void)state;
    bn_intern_t *t = bn_intern_new();
    assert_non_null(t);
    json_t *a = bn_intern_json(t, "1", 1);
    json_t *b = bn_intern_json(t, "1x", 1); /* only the first byte counts */
    json_t *c = bn_intern_json(t, "2", 1);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_string_equal(json_string_value(a), "1");
    assert_string_equal(json_string_value(c), "2");
    assert_int_equal(bn_intern_count(t), 2);
    bn_intern_release(t, a);
    assert_int_equal(bn_intern_count(t), 2); /* b still uses it */
    assert_string_equal(json_string_value(b), "1");
    bn_intern_release(t, b);
    assert_int_equal(bn_intern_count(t), 1);
    /* A new use after the last release makes a fresh entry. */
    json_t *d = bn_intern_json(t, "1", 1);
    assert_string_equal(json_string_value(d), "1");
    assert_int_equal(bn_intern_count(t), 2);
    bn_intern_release(t, d);
    bn_intern_release(t, c);
    assert_int_equal(bn_intern_count(t), 0);
    bn_intern_free(t);
}

/* Embedded NULs and the empty string are distinct keys; values the table
 * did not hand out (an equal string made elsewhere, a non-string) are
 * ignored on release. */
static void test_keys_and_foreign_values(void **state)
{
    (void)state;
    bn_intern_t *t = bn_intern_new();
    json_t *e = bn_intern_json(t, "", 0);
    json_t *z = bn_intern_json(t, "a\0b", 3);
    json_t *a = bn_intern_json(t, "a", 1);
    assert_int_equal(bn_intern_count(t), 3);
    assert_int_equal(json_string_length(z), 3);
    assert_int_equal(json_string_length(e), 0);
    json_t *other = json_string("a");
    bn_intern_release(t, other);
    json_decref(other);
    json_t *num = json_integer(1);
    bn_intern_release(t, num);
    json_decref(num);
    bn_intern_release(t, NULL);
    assert_int_equal(bn_intern_count(t), 3);
    assert_string_equal(json_string_value(a), "a");
    bn_intern_release(t, e);
    bn_intern_release(t, z);
    bn_intern_release(t, a);
    assert_int_equal(bn_intern_count(t), 0);
    bn_intern_free(t);
}

/* Freeing a table that still holds values frees them (server teardown
 * after an abort); ASan checks nothing leaks. */
static void test_free_with_entries(void **state)
{
    (void)state;
    bn_intern_t *t = bn_intern_new();
    for (int i = 0; i < 100; i++) {
        char k[8];
        int n = snprintf(k, sizeof(k), "%d", i % 10);
        assert_non_null(bn_intern_json(t, k, (size_t)n));
    }
    assert_int_equal(bn_intern_count(t), 10);
    bn_intern_free(t);
    bn_intern_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_and_release),
        cmocka_unit_test(test_keys_and_foreign_values),
        cmocka_unit_test(test_free_with_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
