/* core/queue: the intrusive list and container_of. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/queue.h"

typedef struct {
    int before;
    bn_queue_t node;
    int value;
} item_t;

static int values(bn_queue_t *head, int *out, int max)
{
    int n = 0;
    bn_queue_t *q;
    bn_queue_foreach(q, head)
    {
        assert_true(n < max);
        out[n++] = bn_container_of(q, item_t, node)->value;
    }
    return n;
}

static void test_container_of(void **state)
{
    (void)state;
    item_t it = {.value = 7};
    assert_ptr_equal(bn_container_of(&it.node, item_t, node), &it);
    assert_ptr_equal(bn_container_of(&it.value, item_t, value), &it);
}

static void test_insert_remove_order(void **state)
{
    (void)state;
    bn_queue_t head;
    bn_queue_init(&head);
    assert_true(bn_queue_empty(&head));
    assert_null(bn_queue_head(&head));
    assert_null(bn_queue_tail(&head));

    item_t it[4];
    memset(it, 0, sizeof(it));
    for (int i = 0; i < 4; i++) {
        it[i].value = i;
        assert_false(bn_queue_linked(&it[i].node)); /* zeroed: not on a list */
    }
    bn_queue_insert_tail(&head, &it[1].node);
    bn_queue_insert_tail(&head, &it[2].node);
    bn_queue_insert_head(&head, &it[0].node);
    bn_queue_insert_tail(&head, &it[3].node);
    int v[8];
    assert_int_equal(values(&head, v, 8), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(v[i], i);
    }
    assert_ptr_equal(bn_queue_head(&head), &it[0].node);
    assert_ptr_equal(bn_queue_tail(&head), &it[3].node);

    /* O(1) removal from the middle, and removing twice is harmless. */
    bn_queue_remove(&it[2].node);
    assert_false(bn_queue_linked(&it[2].node));
    bn_queue_remove(&it[2].node);
    assert_int_equal(values(&head, v, 8), 3);
    assert_int_equal(v[0], 0);
    assert_int_equal(v[1], 1);
    assert_int_equal(v[2], 3);

    /* Removing while walking. */
    bn_queue_t *q, *n;
    bn_queue_foreach_safe(q, n, &head)
    {
        bn_queue_remove(q);
    }
    assert_true(bn_queue_empty(&head));
    for (int i = 0; i < 4; i++) {
        assert_false(bn_queue_linked(&it[i].node));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_of),
        cmocka_unit_test(test_insert_remove_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
