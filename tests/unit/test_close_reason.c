/* core/close_reason: one table for client connections and mesh links. The
 * names are released metric labels and log values: this pins a few, checks
 * each layer's reasons and that no name is used twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/close_reason.h"

static void test_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(bn_close_reason_name(BN_CLOSE_NONE), "none");
    assert_string_equal(bn_close_reason_name(BN_CLOSE_SLOW_CONSUMER), "slow_consumer");
    assert_string_equal(bn_close_reason_name(BN_CLOSE_PEER_CLOSED), "peer_closed");
    assert_string_equal(bn_close_reason_name(BN_CLOSE_WS_PROTOCOL), "ws_protocol_error");
    assert_string_equal(bn_close_reason_name(BN_CLOSE_TOO_MANY_CONNS), "too_many_connections");
    assert_string_equal(bn_close_reason_name(BN_CLOSE_PENDING_LIMIT), "pending_per_ip");
    assert_string_equal(bn_close_reason_name(BN_CLOSE_CONNECTION_CLOSED), "connection_closed");
    assert_string_equal(bn_close_reason_name(BN_CLOSE_BAD_COOKIE), "bad_cookie");
    assert_string_equal(bn_close_reason_name(BN_CLOSE__COUNT), "unknown");
    assert_string_equal(bn_close_reason_name((bn_close_reason_t)-1), "unknown");
}

static void test_layers(void **state)
{
    (void)state;
    /* Shared by both layers. */
    assert_true(bn_close_reason_in(BN_CLOSE_SLOW_CONSUMER, BN_CLOSE_CONN));
    assert_true(bn_close_reason_in(BN_CLOSE_SLOW_CONSUMER, BN_CLOSE_LINK));
    assert_true(bn_close_reason_in(BN_CLOSE_SHUTDOWN, BN_CLOSE_LINK));
    /* One layer only: a link reason never appears among /metrics' client
     * close labels and the other way round. */
    assert_true(bn_close_reason_in(BN_CLOSE_WS_CLOSE, BN_CLOSE_CONN));
    assert_false(bn_close_reason_in(BN_CLOSE_WS_CLOSE, BN_CLOSE_LINK));
    assert_true(bn_close_reason_in(BN_CLOSE_TICK_TIMEOUT, BN_CLOSE_LINK));
    assert_false(bn_close_reason_in(BN_CLOSE_TICK_TIMEOUT, BN_CLOSE_CONN));
    assert_false(bn_close_reason_in(BN_CLOSE__COUNT, BN_CLOSE_CONN));
}

static void test_names_unique(void **state)
{
    (void)state;
    for (int i = 0; i < BN_CLOSE__COUNT; i++) {
        const char *a = bn_close_reason_name((bn_close_reason_t)i);
        assert_true(bn_close_reason_in((bn_close_reason_t)i, BN_CLOSE_BOTH));
        for (int j = i + 1; j < BN_CLOSE__COUNT; j++) {
            assert_string_not_equal(a, bn_close_reason_name((bn_close_reason_t)j));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_are_stable),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_names_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
