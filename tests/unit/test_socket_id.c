/* Unit tests for src/channel/socket_id.c: socket ids (Phoenix's
 * Socket.id/1), the "disconnect" broadcast to an id topic, and the
 * token-expiry sweep, with a fake transport and a server assembled by hand
 * (router + pubsub, no loop), as in test_channel.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"

typedef struct fake_io_s {
    int sends;
    int closes;
    uint16_t close_code;
} fake_io_t;

static int fake_send(void *ud, bn_buf_t *msg)
{
    (void)msg;
    ((fake_io_t *)ud)->sends++;
    return 0;
}

static void fake_close(void *ud, uint16_t code)
{
    fake_io_t *io = ud;
    io->closes++;
    io->close_code = code;
}

static const bn_sock_io_t fake_io_ops = {fake_send, fake_close};

static int setup(void **state)
{
    bn_server_t *srv = calloc(1, sizeof(*srv));
    bn_config_defaults(&srv->cfg);
    bn_router_init(&srv->router);
    srv->ps = bn_ps_new();
    *state = srv;
    return 0;
}

static int teardown(void **state)
{
    bn_server_t *srv = *state;
    assert_null(srv->sockets);
    assert_int_equal(bn_ps_stats(srv->ps)->topics, 0);
    bn_ps_free(srv->ps);
    bn_router_free(&srv->router);
    free(srv);
    return 0;
}

/* A socket as bn__socket_connect makes it: the connect callback's part
 * (set_id) before the attach. */
static bn_socket_t *connect_with_id(bn_server_t *srv, fake_io_t *io, const char *id)
{
    bn_socket_t *s = bn__sock_new(srv, &fake_io_ops, io, BN_VSN_2, NULL, "websocket");
    assert_non_null(s);
    if (id != NULL) {
        assert_int_equal(bn_socket_set_id(s, id), 0);
    }
    assert_int_equal(bn__sock_id_attach(s), 0);
    return s;
}

static void broadcast(bn_server_t *srv, const char *topic, const char *event)
{
    json_t *p = json_object();
    bn_payload_t pl = bn_payload_json(p);
    assert_int_equal(bn_server_broadcast(srv, topic, event, &pl), 0); /* never a delivery */
    json_decref(p);
}

static void test_disconnect_closes_every_socket_of_the_id(void **state)
{
    bn_server_t *srv = *state;
    fake_io_t a = {0}, b = {0}, c = {0}, anon = {0};
    bn_socket_t *sa = connect_with_id(srv, &a, "users_socket:42");
    bn_socket_t *sb = connect_with_id(srv, &b, "users_socket:42");
    bn_socket_t *sc = connect_with_id(srv, &c, "users_socket:43");
    bn_socket_t *sn = connect_with_id(srv, &anon, NULL);
    assert_string_equal(bn_socket_id(sa), "users_socket:42");
    assert_null(bn_socket_id(sn));
    assert_int_equal(bn_ps_count(srv->ps, "users_socket:42", 15), 2);
    /* Other events on the id topic do nothing and are never encoded. */
    broadcast(srv, "users_socket:42", "new_msg");
    assert_int_equal(a.sends + a.closes + b.sends + b.closes, 0);
    broadcast(srv, "users_socket:42", "disconnect");
    assert_int_equal(a.closes, 1);
    assert_int_equal(a.close_code, 1001);
    assert_int_equal(b.closes, 1);
    assert_int_equal(c.closes + anon.closes + a.sends + b.sends, 0);
    assert_int_equal(srv->stats.disconnects, 2);
    /* The id is fixed once connected. */
    assert_int_equal(bn_socket_set_id(sc, "users_socket:44"), -1);
    assert_string_equal(bn_socket_id(sc), "users_socket:43");
    bn__sock_free(sa);
    bn__sock_free(sb);
    bn__sock_free(sc);
    bn__sock_free(sn);
    assert_int_equal(bn_ps_count(srv->ps, "users_socket:42", 15), 0);
}

static void test_set_id_validation(void **state)
{
    bn_server_t *srv = *state;
    fake_io_t io = {0};
    bn_socket_t *s = bn__sock_new(srv, &fake_io_ops, &io, BN_VSN_2, NULL, "longpoll");
    char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(bn_socket_set_id(s, ""), -1);
    assert_int_equal(bn_socket_set_id(s, big), -1);
    big[1024] = '\0';
    assert_int_equal(bn_socket_set_id(s, big), 0);  /* 1024 bytes is the largest */
    assert_int_equal(bn_socket_set_id(s, "a"), 0);  /* replaced */
    assert_int_equal(bn_socket_set_id(s, NULL), 0); /* cleared */
    assert_null(bn_socket_id(s));
    assert_int_equal(bn__sock_id_attach(s), 0);
    assert_int_equal(bn_ps_stats(srv->ps)->topics, 0);
    bn__sock_free(s);
}

/* Id topics are bounded by the connections, not by --max-topics. */
static void test_id_topic_ignores_topic_cap(void **state)
{
    bn_server_t *srv = *state;
    srv->cfg.max_topics = 1;
    bn_ps_set_max_topics(srv->ps, 1);
    fake_io_t a = {0}, b = {0};
    bn_socket_t *sa = connect_with_id(srv, &a, "users_socket:1");
    bn_socket_t *sb = connect_with_id(srv, &b, "users_socket:2");
    assert_int_equal(bn_ps_stats(srv->ps)->topics, 2);
    assert_true(bn_ps_topic_full(srv->ps, "room:x", 6)); /* the cap is back for joins */
    bn__sock_free(sa);
    bn__sock_free(sb);
}

static void test_expiry_sweep(void **state)
{
    bn_server_t *srv = *state;
    fake_io_t a = {0}, b = {0};
    bn_socket_t *sa = connect_with_id(srv, &a, NULL);
    bn_socket_t *sb = connect_with_id(srv, &b, NULL);
    assert_int_equal(bn_socket_set_expiry(sa, 1000), 0);
    assert_int_equal(bn_server_close_expired(srv, 999), 0);
    assert_int_equal(bn_server_close_expired(srv, 1000), 1);
    assert_int_equal(a.closes, 1);
    assert_int_equal(a.close_code, BN_WS_CLOSE_TOKEN_EXPIRED);
    assert_int_equal(bn_server_close_expired(srv, 5000), 0); /* once */
    assert_int_equal(b.closes, 0);                           /* no expiry: never */
    assert_int_equal(srv->stats.token_expired, 1);
    bn__sock_free(sa);
    bn__sock_free(sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disconnect_closes_every_socket_of_the_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_set_id_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_topic_ignores_topic_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
