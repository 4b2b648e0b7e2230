/* core/alloc under UNIT_TESTING: the bn_x* allocation macros route to
 * cmocka's checked allocator, so a block they hand out is tracked (freed
 * with cmocka's free, which UNIT_TESTING maps `free` to; a leak would fail
 * the test). */
#define UNIT_TESTING 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/alloc.h"

static void test_routes_to_cmocka(void **state)
{
    (void)state;
    char *p = bn_xmalloc(8);
    memcpy(p, "abcdefg", 8);
    p = bn_xrealloc(p, 64);
    assert_string_equal(p, "abcdefg");
    free(p); /* test_free: aborts the test if p was not from _test_malloc */
    unsigned char *z = bn_xcalloc(4, 4);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(z[i], 0);
    }
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_to_cmocka),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
