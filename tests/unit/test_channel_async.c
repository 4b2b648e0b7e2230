/* Asynchronous join and handle_in (BN_CHAN_ASYNC + bn_channel_finish) over
 * a fake transport: replies come when finished; messages that arrive
 * meanwhile wait in Phoenix order (everything during a join, the same
 * topic during a handle_in); the socket or channel going away while a call
 * is pending is safe (run under ASan); the waiting queue is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"

#define MAX_FRAMES 32

typedef struct fake_io_s {
    char *frames[MAX_FRAMES];
    size_t n;
} fake_io_t;

static int fake_send(void *ud, bn_buf_t *msg)
{
    fake_io_t *io = ud;
    assert_true(io->n < MAX_FRAMES);
    char *s = malloc(msg->len + 1);
    assert_non_null(s);
    memcpy(s, bn_buf_body(msg), msg->len);
    s[msg->len] = '\0';
    io->frames[io->n++] = s;
    return 0;
}

static void fake_close(void *ud, uint16_t code)
{
    (void)ud;
    (void)code;
}

static const bn_sock_io_t fake_io_ops = {fake_send, fake_close};

static void io_clear(fake_io_t *io)
{
    for (size_t i = 0; i < io->n; i++) {
        free(io->frames[i]);
    }
    io->n = 0;
}

/* The channel under test: "slow:*" joins asynchronously; the event "slow"
 * is handled asynchronously, "echo" answers at once. */
static bn_channel_t *pending_join;
static bn_channel_t *pending_event;
static int terminated;

static bn_chan_result_t a_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *r)
{
    (void)params;
    (void)r;
    if (strncmp(bn_channel_topic(ch), "slow:", 5) == 0) {
        pending_join = ch;
        return BN_CHAN_ASYNC;
    }
    return BN_CHAN_OK;
}

static bn_chan_result_t a_handle_in(bn_channel_t *ch, const char *event,
                                    const bn_payload_t *payload, bn_reply_t *r)
{
    if (strcmp(event, "slow") == 0) {
        pending_event = ch;
        return BN_CHAN_ASYNC;
    }
    bn_reply_set(r, "ok", json_incref(payload->json));
    return BN_CHAN_REPLY;
}

static void a_terminate(bn_channel_t *ch, bn_stop_reason_t reason)
{
    (void)ch;
    (void)reason;
    terminated++;
}

static const bn_channel_type_t type_async = {
    .name = "async", .join = a_join, .handle_in = a_handle_in, .terminate = a_terminate};

typedef struct fixture_s {
    bn_server_t srv;
    fake_io_t io;
    bn_socket_t *s;
} fixture_t;

static void setup(fixture_t *f)
{
    memset(f, 0, sizeof(*f));
    bn_config_defaults(&f->srv.cfg);
    bn_router_init(&f->srv.router);
    f->srv.ps = bn_ps_new();
    assert_non_null(f->srv.ps);
    assert_int_equal(bn_server_route(&f->srv, "slow:*", &type_async, NULL), 0);
    assert_int_equal(bn_server_route(&f->srv, "fast:*", &type_async, NULL), 0);
    f->s = bn__sock_new(&f->srv, &fake_io_ops, &f->io, BN_VSN_2, NULL, "websocket");
    assert_non_null(f->s);
    pending_join = pending_event = NULL;
    terminated = 0;
}

static void teardown(fixture_t *f)
{
    if (f->s != NULL) {
        bn__sock_free(f->s);
    }
    assert_null(f->srv.sockets);
    assert_int_equal(f->srv.stats.channels, 0);
    assert_int_equal(bn_ps_stats(f->srv.ps)->subscriptions, 0);
    io_clear(&f->io);
    bn_ps_free(f->srv.ps);
    bn_router_free(&f->srv.router);
}

static void feed(fixture_t *f, const char *text)
{
    assert_int_equal(bn__sock_handle_text(f->s, text, strlen(text)), 0);
}

static void expect(fixture_t *f, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n || i < f->io.n; i++) {
        const char *got = i < f->io.n ? f->io.frames[i] : "(nothing)";
        const char *w = i < n ? want[i] : "(nothing)";
        if (strcmp(got, w) != 0) {
            fail_msg("frame %zu:\n  got  %s\n  want %s", i, got, w);
        }
    }
    io_clear(&f->io);
}

static void test_join_waits(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f);
    feed(&f, "[\"1\",\"1\",\"slow:a\",\"phx_join\",{}]");
    assert_non_null(pending_join);
    feed(&f, "[\"1\",\"2\",\"slow:a\",\"echo\",{\"n\":1}]");
    feed(&f, "[null,\"3\",\"phoenix\",\"heartbeat\",{}]");
    feed(&f, "[\"4\",\"4\",\"fast:b\",\"phx_join\",{}]");
    assert_int_equal(f.io.n, 0); /* the transport is blocked in the join */
    bn_channel_finish(pending_join, BN_CHAN_OK, NULL, json_pack("{s:i}", "hi", 1));
    static const char *const want[] = {
        "[\"1\",\"1\",\"slow:a\",\"phx_reply\",{\"response\":{\"hi\":1},\"status\":\"ok\"}]",
        "[\"1\",\"2\",\"slow:a\",\"phx_reply\",{\"response\":{\"n\":1},\"status\":\"ok\"}]",
        "[null,\"3\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]",
        "[\"4\",\"4\",\"fast:b\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]",
    };
    expect(&f, want, 4);
    assert_int_equal(f.srv.stats.channels, 2);
    teardown(&f);
    assert_int_equal(terminated, 2);
}

static void test_join_error_then_unmatched(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f);
    feed(&f, "[\"1\",\"1\",\"slow:a\",\"phx_join\",{}]");
    feed(&f, "[\"1\",\"2\",\"slow:a\",\"echo\",{}]");
    bn_channel_finish(pending_join, BN_CHAN_ERROR, NULL, json_pack("{s:s}", "reason", "no"));
    static const char *const want[] = {
        "[\"1\",\"1\",\"slow:a\",\"phx_reply\",{\"response\":{\"reason\":\"no\"},\"status\":"
        "\"error\"}]",
        "[null,\"2\",\"slow:a\",\"phx_reply\",{\"response\":{\"reason\":\"unmatched topic\"},"
        "\"status\":\"error\"}]",
    };
    expect(&f, want, 2);
    teardown(&f);
    assert_int_equal(terminated, 0);
}

static void test_socket_gone_during_join(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f);
    feed(&f, "[\"1\",\"1\",\"slow:a\",\"phx_join\",{}]");
    feed(&f, "[\"1\",\"2\",\"slow:a\",\"echo\",{}]");
    bn_channel_t *ch = pending_join;
    assert_true(bn_channel_alive(ch));
    bn__sock_free(f.s); /* the transport went away */
    f.s = NULL;
    assert_false(bn_channel_alive(ch));
    bn_channel_finish(ch, BN_CHAN_OK, NULL, json_object()); /* only releases it */
    assert_int_equal(f.io.n, 0);
    teardown(&f);
    assert_int_equal(terminated, 0);
}

static void test_event_waits_per_topic(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f);
    feed(&f, "[\"1\",\"1\",\"fast:a\",\"phx_join\",{}]");
    feed(&f, "[\"2\",\"2\",\"fast:b\",\"phx_join\",{}]");
    io_clear(&f.io);
    feed(&f, "[\"1\",\"3\",\"fast:a\",\"slow\",{}]");
    assert_non_null(pending_event);
    feed(&f, "[\"1\",\"4\",\"fast:a\",\"echo\",{\"n\":4}]"); /* waits behind slow */
    feed(&f, "[\"2\",\"5\",\"fast:b\",\"echo\",{\"n\":5}]"); /* another topic: goes */
    feed(&f, "[null,\"6\",\"phoenix\",\"heartbeat\",{}]");   /* the transport: goes */
    static const char *const want1[] = {
        "[\"2\",\"5\",\"fast:b\",\"phx_reply\",{\"response\":{\"n\":5},\"status\":\"ok\"}]",
        "[null,\"6\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]",
    };
    expect(&f, want1, 2);
    bn_channel_finish(pending_event, BN_CHAN_REPLY, "error", json_pack("{s:s}", "reason", "x"));
    static const char *const want2[] = {
        "[\"1\",\"3\",\"fast:a\",\"phx_reply\",{\"response\":{\"reason\":\"x\"},\"status\":"
        "\"error\"}]",
        "[\"1\",\"4\",\"fast:a\",\"phx_reply\",{\"response\":{\"n\":4},\"status\":\"ok\"}]",
    };
    expect(&f, want2, 2);
    /* STOP from an asynchronous handle_in: reply, then phx_close. */
    feed(&f, "[\"1\",\"7\",\"fast:a\",\"slow\",{}]");
    bn_channel_finish(pending_event, BN_CHAN_STOP, "ok", NULL);
    static const char *const want3[] = {
        "[\"1\",\"7\",\"fast:a\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]",
        "[\"1\",\"1\",\"fast:a\",\"phx_close\",{}]",
    };
    expect(&f, want3, 2);
    teardown(&f);
    assert_int_equal(terminated, 2);
}

static void test_channel_gone_during_event(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f);
    feed(&f, "[\"1\",\"1\",\"fast:a\",\"phx_join\",{}]");
    feed(&f, "[\"1\",\"2\",\"fast:a\",\"slow\",{}]");
    bn_channel_t *ch = pending_event;
    bn__sock_free(f.s);
    f.s = NULL;
    assert_int_equal(terminated, 1);
    bn_channel_finish(ch, BN_CHAN_REPLY, NULL, json_object());
    io_clear(&f.io);
    teardown(&f);
}

static void test_queue_bounded(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f);
    feed(&f, "[\"1\",\"1\",\"slow:a\",\"phx_join\",{}]");
    const char *msg = "[null,\"2\",\"phoenix\",\"heartbeat\",{}]";
    for (int i = 0; i < BN_CHAN_ASYNC_QUEUE_MAX; i++) {
        feed(&f, msg);
    }
    assert_int_equal(bn__sock_handle_text(f.s, msg, strlen(msg)), BN_SOCK_RATE_LIMITED);
    bn_channel_t *ch = pending_join;
    bn__sock_free(f.s);
    f.s = NULL;
    bn_channel_finish(ch, BN_CHAN_OK, NULL, NULL);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_waits),
        cmocka_unit_test(test_join_error_then_unmatched),
        cmocka_unit_test(test_socket_gone_during_join),
        cmocka_unit_test(test_event_waits_per_topic),
        cmocka_unit_test(test_channel_gone_during_event),
        cmocka_unit_test(test_queue_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
