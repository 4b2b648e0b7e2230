/* core/net: address literals, listeners on an ephemeral port, SO_REUSEPORT
 * (two listeners on one port), and a connection accepted through a listener
 * set up by bn_net_listen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/net.h"

static void test_addr(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    assert_int_equal(bn_net_addr("127.0.0.1", 4000, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(bn_net_port((struct sockaddr *)&ss), 4000);
    assert_int_equal(bn_net_addr("::1", 65535, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(bn_net_port((struct sockaddr *)&ss), 65535);
    assert_int_equal(bn_net_addr("0.0.0.0", 0, &ss), 0);
    assert_int_equal(bn_net_port((struct sockaddr *)&ss), 0);
    /* Not literals, or no port. */
    assert_int_equal(bn_net_addr("localhost", 4000, &ss), UV_EINVAL);
    assert_int_equal(bn_net_addr("[::1]", 4000, &ss), UV_EINVAL);
    assert_int_equal(bn_net_addr("", 4000, &ss), UV_EINVAL);
    assert_int_equal(bn_net_addr(NULL, 4000, &ss), UV_EINVAL);
    assert_int_equal(bn_net_addr("127.0.0.1", 65536, &ss), UV_EINVAL);
    assert_int_equal(bn_net_addr("127.0.0.1", -1, &ss), UV_EINVAL);
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(bn_net_port(&un), -1);
}

static int accepted;

static void on_conn(uv_stream_t *server, int status)
{
    assert_int_equal(status, 0);
    uv_tcp_t *c = malloc(sizeof(*c));
    assert_non_null(c);
    uv_tcp_init(server->loop, c);
    assert_int_equal(uv_accept(server, (uv_stream_t *)c), 0);
    accepted++;
    uv_close((uv_handle_t *)c, (uv_close_cb)free);
}

static void on_connect(uv_connect_t *req, int status)
{
    assert_int_equal(status, 0);
    uv_close((uv_handle_t *)req->handle, NULL);
}

static void test_listen_ephemeral_and_reuse_port(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct sockaddr_storage ss;
    assert_int_equal(bn_net_addr("127.0.0.1", 0, &ss), 0);

    uv_tcp_t a, b, c;
    uv_tcp_init_ex(&loop, &a, AF_INET);
    assert_int_equal(bn_net_listen(&a, (struct sockaddr *)&ss, true, 16, on_conn), 0);
    int port = bn_net_bound_port(&a);
    assert_true(port > 0);

    /* A second listener on the same port: only with SO_REUSEPORT. */
    assert_int_equal(bn_net_addr("127.0.0.1", port, &ss), 0);
    uv_tcp_init_ex(&loop, &b, AF_INET);
    assert_int_equal(bn_net_listen(&b, (struct sockaddr *)&ss, true, 16, on_conn), 0);
    assert_int_equal(bn_net_bound_port(&b), port);
    uv_tcp_init_ex(&loop, &c, AF_INET);
    assert_int_equal(bn_net_listen(&c, (struct sockaddr *)&ss, false, 16, on_conn), UV_EADDRINUSE);
    uv_close((uv_handle_t *)&c, NULL);

    /* A connection is accepted by one of them. */
    uv_tcp_t client;
    uv_connect_t req;
    uv_tcp_init(&loop, &client);
    assert_int_equal(uv_tcp_connect(&req, &client, (struct sockaddr *)&ss, on_connect), 0);
    while (accepted == 0) {
        assert_int_equal(uv_run(&loop, UV_RUN_ONCE) >= 0, 1);
    }
    uv_close((uv_handle_t *)&a, NULL);
    uv_close((uv_handle_t *)&b, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(accepted, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_listen_ephemeral_and_reuse_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
