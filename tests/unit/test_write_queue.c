/* Unit tests for the per-connection write queue of src/transport/conn.c (with
 * ws/ws_conn.c framing), through a real server on 127.0.0.1 port 0 in the
 * test's own loop: coalescing of a loop turn's frames into few writes, the
 * slow-consumer limit, ordering, and a graceful stop with close 1001. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/bennu.h"
#include "bennu/log.h"
#include "unit_loop.h"

static bn_chan_result_t join_ok(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *r)
{
    (void)ch;
    (void)params;
    (void)r;
    return BN_CHAN_OK;
}

static const bn_channel_type_t type_ok = {.name = "ok", .join = join_ok};

#define QUEUE_LIMIT 65536

typedef bn_test_server_t fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.max_queued_bytes = QUEUE_LIMIT;
    bn_test_server_start(fx, &cfg, &type_ok);
    *state = fx;
    return 0;
}

static bool pred_stopped(void *ud)
{
    return ((fixture_t *)ud)->stopped;
}

static int teardown(void **state)
{
    bn_test_server_finish(*state);
    free(*state);
    return 0;
}

static json_int_t srv_stat(fixture_t *fx, const char *key)
{
    json_t *s = bn_server_stats_json(fx->srv);
    assert_non_null(s);
    json_t *v = json_object_get(s, key);
    json_int_t n = json_integer_value(v);
    json_decref(s);
    return n;
}

static json_int_t closed_stat(fixture_t *fx, const char *reason)
{
    json_t *s = bn_server_stats_json(fx->srv);
    json_int_t n = json_integer_value(json_object_get(json_object_get(s, "closed"), reason));
    json_decref(s);
    return n;
}

/* Opens a V2 WebSocket and joins topic (join_ref "1"). */
static void ws_join(fixture_t *fx, bn_test_client_t *c, const char *topic)
{
    assert_true(bn_test_ws_connect(&fx->loop, c, fx->port, "/socket/websocket?vsn=2.0.0"));
    char join[256];
    snprintf(join, sizeof(join), "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", topic);
    assert_int_equal(bn_test_ws_send(c, BN_TEST_WS_TEXT, join, strlen(join)), 0);
    char *msg = NULL;
    assert_int_equal(bn_test_ws_recv(c, &msg, NULL, 5000), BN_TEST_WS_TEXT);
    char want[256];
    snprintf(want, sizeof(want),
             "[\"1\",\"1\",\"%s\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]", topic);
    assert_string_equal(msg, want);
    free(msg);
}

/* Waits for the close frame of a graceful stop and the TCP close. */
static void expect_going_away(bn_test_client_t *c)
{
    char *msg = NULL;
    size_t len = 0;
    assert_int_equal(bn_test_ws_recv(c, &msg, &len, 5000), BN_TEST_WS_CLOSE);
    assert_int_equal(len, 2);
    assert_int_equal(((uint8_t)msg[0] << 8) | (uint8_t)msg[1], 1001);
    free(msg);
    assert_true(bn_test_client_wait_eof(c, 5000));
}

static void stop_server(fixture_t *fx)
{
    bn_test_server_begin_stop(fx);
}

/* ---------------------------------------------------------------- coalescing */

static void test_coalescing(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t a, b;
    ws_join(fx, &a, "room:c");
    ws_join(fx, &b, "room:c");
    enum { N = 20 };
    json_int_t frames0 = srv_stat(fx, "frames_out");
    json_int_t writes0 = srv_stat(fx, "writes");
    /* N broadcasts in one loop turn: queued, then flushed together. */
    for (int i = 0; i < N; i++) {
        json_t *p = json_pack("{s:i}", "i", i);
        bn_payload_t pp = bn_payload_json(p);
        assert_int_equal(bn_server_broadcast(fx->srv, "room:c", "tick", &pp), 2);
        json_decref(p);
    }
    bn_test_client_t *clients[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < N; i++) {
            char *msg = NULL;
            assert_int_equal(bn_test_ws_recv(clients[k], &msg, NULL, 5000), BN_TEST_WS_TEXT);
            char want[128];
            snprintf(want, sizeof(want), "[null,null,\"room:c\",\"tick\",{\"i\":%d}]", i);
            if (strcmp(msg, want) != 0) {
                fail_msg("client %d frame %d: got %s, want %s", k, i, msg, want);
            }
            free(msg);
        }
    }
    json_int_t frames = srv_stat(fx, "frames_out") - frames0;
    json_int_t writes = srv_stat(fx, "writes") - writes0;
    assert_int_equal(frames, 2 * N);
    /* One vectored write per connection, plus at most one more each for a
     * short write. */
    if (writes > 4) {
        fail_msg("%lld frames went out in %lld writes", (long long)frames, (long long)writes);
    }
    stop_server(fx);
    expect_going_away(&a);
    expect_going_away(&b);
    assert_true(bn_test_run_until(&fx->loop, pred_stopped, fx, 5000));
    bn_test_client_close(&a);
    bn_test_client_close(&b);
}

/* ---------------------------------------------------------------- idle ring */

static bool no_rings(void *ud)
{
    return srv_stat(ud, "queue_rings") == 0;
}

/* A joined connection that got one frame at a time holds no heap ring; a
 * burst grows one, the sweep gives it back once the connection is idle, and
 * every frame arrives whole and in order across the switches. */
static void test_idle_ring_released(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t a;
    ws_join(fx, &a, "room:r");
    assert_int_equal(srv_stat(fx, "queue_rings"), 0);
    for (int round = 0; round < 2; round++) {
        enum { N = 40 }; /* more than the inline slots and the first ring's 8 */
        for (int i = 0; i < N; i++) {
            json_t *p = json_pack("{s:i}", "i", i);
            bn_payload_t pp = bn_payload_json(p);
            assert_int_equal(bn_server_broadcast(fx->srv, "room:r", "tick", &pp), 1);
            json_decref(p);
        }
        assert_int_equal(srv_stat(fx, "queue_rings"), 1);
        for (int i = 0; i < N; i++) {
            char *msg = NULL;
            assert_int_equal(bn_test_ws_recv(&a, &msg, NULL, 5000), BN_TEST_WS_TEXT);
            char want[128];
            snprintf(want, sizeof(want), "[null,null,\"room:r\",\"tick\",{\"i\":%d}]", i);
            assert_string_equal(msg, want);
            free(msg);
        }
        assert_true(bn_test_run_until(&fx->loop, no_rings, fx, 5000));
    }
    stop_server(fx);
    expect_going_away(&a);
    assert_true(bn_test_run_until(&fx->loop, pred_stopped, fx, 5000));
    bn_test_client_close(&a);
}

/* ---------------------------------------------------------------- slow consumer */

static bool one_connection(void *ud)
{
    return srv_stat(ud, "connections") == 1;
}

static void test_slow_consumer(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t reader, sleeper;
    ws_join(fx, &reader, "room:s");
    ws_join(fx, &sleeper, "room:s");
    uv_read_stop((uv_stream_t *)&sleeper.tcp); /* never reads again */
    assert_int_equal(srv_stat(fx, "connections"), 2);

    /* 16 KiB payloads, one broadcast per loop turn, so the queue only grows
     * once the sleeper's socket buffers are full. */
    size_t big = 16 * 1024;
    char *filler = malloc(big + 1);
    memset(filler, 'x', big);
    filler[big] = '\0';
    json_t *p = json_pack("{s:s}", "blob", filler);
    free(filler);
    bn_payload_t pp = bn_payload_json(p);
    int sent = 0;
    size_t reader_before = reader.total_read;
    while (sent < 20000 && closed_stat(fx, "slow_consumer") == 0) {
        bn_server_broadcast(fx->srv, "room:s", "blob", &pp);
        sent++;
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        bn_test_client_consume(&reader, reader.len); /* the reader keeps up */
    }
    json_decref(p);
    assert_int_equal(closed_stat(fx, "slow_consumer"), 1);
    assert_int_equal(srv_stat(fx, "slow_consumer_closes"), 1);
    /* The sleeper took at most its socket buffers plus the queue limit. */
    assert_true(sent > 1);
    assert_true(sent < 20000);
    /* The reader is still there and got everything sent so far. */
    assert_false(reader.eof);
    bn_test_run_for(&fx->loop, 50);
    bn_test_client_consume(&reader, reader.len);
    assert_true(reader.total_read - reader_before >= (size_t)sent * big);
    /* The sleeper's queue was dropped for a close frame; its socket takes
     * nothing, so the close deadline (2 s) ends it. */
    assert_true(bn_test_run_until(&fx->loop, one_connection, fx, 4000));
    assert_int_equal(srv_stat(fx, "connections"), 1);
    assert_int_equal(srv_stat(fx, "sockets"), 1);
    /* The closed consumer is no longer subscribed. */
    json_t *one = json_object();
    bn_payload_t op = bn_payload_json(one);
    assert_int_equal(bn_server_broadcast(fx->srv, "room:s", "after", &op), 1);
    json_decref(one);
    char *msg = NULL;
    assert_int_equal(bn_test_ws_recv(&reader, &msg, NULL, 5000), BN_TEST_WS_TEXT);
    assert_string_equal(msg, "[null,null,\"room:s\",\"after\",{}]");
    free(msg);

    stop_server(fx);
    expect_going_away(&reader);
    assert_true(bn_test_run_until(&fx->loop, pred_stopped, fx, 5000));
    bn_test_client_close(&reader);
    bn_test_client_close(&sleeper);
}

/* A burst larger than the limit within one loop turn is first handed to the
 * kernel: a client whose socket accepts it is not a slow consumer (the limit
 * is on bytes the kernel would not take), and it receives every frame. */
static void test_limit_within_one_turn(void **state)
{
    fixture_t *fx = *state;
    bn_test_client_t c;
    ws_join(fx, &c, "room:t");
    size_t big = QUEUE_LIMIT / 3;
    char *filler = malloc(big + 1);
    memset(filler, 'y', big);
    filler[big] = '\0';
    json_t *p = json_pack("{s:s}", "blob", filler);
    free(filler);
    bn_payload_t pp = bn_payload_json(p);
    int delivered = 0;
    for (int i = 0; i < 4; i++) {
        delivered += bn_server_broadcast(fx->srv, "room:t", "blob", &pp);
    }
    json_decref(p);
    assert_int_equal(delivered, 4);
    assert_int_equal(closed_stat(fx, "slow_consumer"), 0);
    for (int i = 0; i < 4; i++) {
        char *msg = NULL;
        assert_int_equal(bn_test_ws_recv(&c, &msg, NULL, 5000), BN_TEST_WS_TEXT);
        assert_non_null(strstr(msg, "\"blob\""));
        free(msg);
    }
    stop_server(fx);
    expect_going_away(&c);
    assert_true(bn_test_run_until(&fx->loop, pred_stopped, fx, 5000));
    bn_test_client_close(&c);
}

int main(void)
{
    bn_log_level = BN_LOG_ERROR; /* slow-consumer warnings are expected */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_ring_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_within_one_turn, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
