/* core/alloc: the abort-on-OOM helpers return usable memory, and a failed
 * allocation goes through the failure path (here a hook that longjmps
 * instead of aborting) with the size that was asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Under AddressSanitizer an impossible malloc is a report unless the
 * allocator may return NULL, which is what this test needs to see. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static jmp_buf oom_jmp;
static size_t oom_size;

static void on_oom(size_t size)
{
    oom_size = size;
    longjmp(oom_jmp, 1);
}

static void test_helpers_return_memory(void **state)
{
    (void)state;
    char *s = bn_xstrdup("hello");
    assert_string_equal(s, "hello");
    free(s);
    s = bn_xstrndup("hello world", 5);
    assert_string_equal(s, "hello");
    free(s);
    unsigned char *z = bn_xcalloc(16, 4);
    for (size_t i = 0; i < 64; i++) {
        assert_int_equal(z[i], 0);
    }
    z = bn_xrealloc(z, 128);
    assert_int_equal(z[63], 0);
    free(z);
    /* Zero-sized requests still give a pointer that free accepts. */
    free(bn_xmalloc(0));
    free(bn_xcalloc(0, 8));
}

static void test_failure_calls_the_hook(void **state)
{
    (void)state;
    bn__alloc_set_fail_hook(on_oom);
    oom_size = 0;
    if (setjmp(oom_jmp) == 0) {
        void *p = bn_xmalloc(SIZE_MAX - 64);
        free(p);
        fail_msg("bn_xmalloc returned from an impossible allocation");
    }
    assert_int_equal(oom_size, SIZE_MAX - 64);
    oom_size = 0;
    if (setjmp(oom_jmp) == 0) {
        void *p = bn_xcalloc(SIZE_MAX / 2, 4);
        free(p);
        fail_msg("bn_xcalloc returned from an overflowing allocation");
    }
    assert_int_equal(oom_size, 4);
    bn__alloc_set_fail_hook(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helpers_return_memory),
        cmocka_unit_test(test_failure_calls_the_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
