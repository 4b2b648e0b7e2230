/* Lifetimes of what user callbacks can reach, and of closes (DESIGN
 * "Lifetimes", docs/NOTES.md "Lifetimes and closes").
 *
 * 1. A table of re-entrant cases over a fake transport: a channel acts on
 *    itself inside join, handle_in, handle_out or terminate (leaves, crashes,
 *    closes its socket, lets the transport release the socket, broadcasts an
 *    event it intercepts whose handle_out fails) and then goes on using its
 *    channel and socket, as application code does. Run under ASan (the
 *    BN_SANITIZE build) every case must be silent; the frames each client
 *    gets and the terminate calls are checked exactly.
 * 2. The same over real sockets: a WebSocket and a LongPoll client whose
 *    channel intercepts its own broadcast and fails in handle_out.
 * 3. Closes: bn_server_stop never calls back synchronously (a server never
 *    started, one whose start failed, one stopped from inside a callback),
 *    and uv_loop_close() returns 0 inside every stop callback, after
 *    WebSocket and LongPoll sessions included; the same for bn_mesh_close
 *    (never started, listening, with a link up).
 *
 * A loop closed inside a callback is left alone afterwards: the callback's
 * uv_run (UV_RUN_DEFAULT) returns, and nothing touches the loop again. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/mesh.h"
#include "channel/internal.h"
#include "bennu/log.h"
#include "unit_loop.h"

/* ================================================================ part 1: the table */

/* ---------------------------------------------------------------- fake transport */

#define MAX_FRAMES 16

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

/* ---------------------------------------------------------------- the acting channel */

typedef enum { W_JOIN = 1, W_IN, W_OUT, W_TERM } where_t;

typedef enum {
    A_NONE,
    A_LEAVE,        /* what a phx_leave does: phx_close, terminate "left" */
    A_CRASH,        /* what a failed callback does: phx_error, terminate "crash" */
    A_CLOSE_SOCKET, /* the socket closes (every channel terminates "closed") */
    A_RELEASE,      /* the transport lets go of the socket (a LongPoll session ends) */
    A_BCAST_SELF,   /* broadcast "boom", which the actor intercepts */
} action_t;

#define MAX_TERMS 8

static struct {
    where_t where;
    action_t action;
    bn_chan_result_t result;      /* what the acting callback returns */
    bn_chan_result_t boom_result; /* the actor's handle_out for "boom" */
    bool armed;                   /* the next matching callback acts (once) */
    bool acted;
    int push_rc;        /* bn_channel_push after the action */
    bn_socket_t *actor; /* the actor is its channel on room:x */
    char terms[MAX_TERMS][48];
    size_t n_terms;
} g;

static bool is_actor(bn_channel_t *ch)
{
    return bn_channel_socket(ch) == g.actor && strcmp(bn_channel_topic(ch), "room:x") == 0;
}

static void push_event(bn_channel_t *ch, const char *event, int *rc)
{
    json_t *p = json_object();
    bn_payload_t pp = bn_payload_json(p);
    int r = bn_channel_push(ch, event, &pp);
    if (rc != NULL) {
        *rc = r;
    }
    json_decref(p);
}

static void act(bn_channel_t *ch)
{
    g.armed = false;
    g.acted = true;
    bn_socket_t *s = bn_channel_socket(ch);
    switch (g.action) {
    case A_LEAVE:
        bn__chan_stop(ch, BN_STOP_LEFT);
        break;
    case A_CRASH:
        bn__chan_crash(ch);
        break;
    case A_CLOSE_SOCKET:
        bn__sock_close(s);
        break;
    case A_RELEASE:
        bn__sock_free(s);
        break;
    case A_BCAST_SELF: {
        json_t *p = json_object();
        bn_payload_t pp = bn_payload_json(p);
        bn_channel_broadcast(ch, "boom", &pp);
        json_decref(p);
        break;
    }
    case A_NONE:
        break;
    }
    /* The callback goes on with its channel and socket: every one of these
     * reads or writes them (ASan reports a premature free here). */
    push_event(ch, "after", &g.push_rc);
    bn_channel_set_data(ch, bn_channel_data(ch));
    assert_true(bn_channel_topic(ch)[0] == 'r');
    bn_socket_assign(bn_channel_socket(ch), "touched", json_true());
    assert_non_null(bn_socket_assigns_get(s, "touched"));
    assert_non_null(bn_socket_transport(s));
}

static bn_chan_result_t l_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *r)
{
    (void)params;
    (void)r;
    if (g.armed && g.where == W_JOIN && is_actor(ch)) {
        act(ch);
        return g.result;
    }
    return BN_CHAN_OK;
}

static bn_chan_result_t l_handle_in(bn_channel_t *ch, const char *event,
                                    const bn_payload_t *payload, bn_reply_t *r)
{
    (void)payload;
    if (g.armed && g.where == W_IN && is_actor(ch) && strcmp(event, "go") == 0) {
        act(ch);
        if (g.result == BN_CHAN_REPLY || g.result == BN_CHAN_STOP) {
            bn_reply_set(r, "ok", json_pack("{s:b}", "late", 1));
        }
        return g.result;
    }
    if (strcmp(event, "crash") == 0) {
        return BN_CHAN_CRASH;
    }
    return BN_CHAN_OK;
}

static bn_chan_result_t l_handle_out(bn_channel_t *ch, const char *event,
                                     const bn_payload_t *payload)
{
    (void)payload;
    if (is_actor(ch) && strcmp(event, "boom") == 0 && g.boom_result != BN_CHAN_OK) {
        return g.boom_result;
    }
    if (g.armed && g.where == W_OUT && is_actor(ch) && strcmp(event, "out") == 0) {
        act(ch);
        return g.result;
    }
    push_event(ch, event, NULL);
    return BN_CHAN_OK;
}

static void l_terminate(bn_channel_t *ch, bn_stop_reason_t reason)
{
    assert_true(g.n_terms < MAX_TERMS);
    snprintf(g.terms[g.n_terms++], sizeof(g.terms[0]), "%s:%s", bn_channel_topic(ch),
             bn_stop_reason_name(reason));
    if (g.armed && g.where == W_TERM && is_actor(ch)) {
        act(ch);
    }
}

static const char *const life_intercepts[] = {"boom", "out", NULL};

static const bn_channel_type_t type_life = {.name = "life",
                                            .intercept = life_intercepts,
                                            .join = l_join,
                                            .handle_in = l_handle_in,
                                            .handle_out = l_handle_out,
                                            .terminate = l_terminate};

/* ---------------------------------------------------------------- cases */

#define JOIN(jr, topic) "[" jr "," jr ",\"" topic "\",\"phx_join\",{}]"
#define OK_REPLY(jr, ref, topic) \
    "[" jr "," ref ",\"" topic "\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"
#define JOIN_CRASHED                                                                     \
    "[\"1\",\"1\",\"room:x\",\"phx_reply\",{\"response\":{\"reason\":\"join crashed\"}," \
    "\"status\":\"error\"}]"
#define GO "[\"1\",\"2\",\"room:x\",\"go\",{}]"
#define CRASH_IN "[\"1\",\"2\",\"room:x\",\"crash\",{}]"
#define LEAVE "[\"1\",\"2\",\"room:x\",\"phx_leave\",{}]"
#define REJOIN JOIN("\"5\"", "room:x")
#define X_CLOSE "[\"1\",\"1\",\"room:x\",\"phx_close\",{}]"
#define X_ERROR "[\"1\",\"1\",\"room:x\",\"phx_error\",{\"reason\":\"channel_crash\"}]"
#define X_AFTER "[\"1\",null,\"room:x\",\"after\",{}]"
#define X_LEFT_OK OK_REPLY("\"1\"", "\"2\"", "room:x")
#define B_BOOM "[\"9\",null,\"room:x\",\"boom\",{}]"
#define B_OUT "[\"9\",null,\"room:x\",\"out\",{}]"

typedef enum { T_MSG, T_BCAST_OUT, T_RELEASE } trigger_kind_t;

typedef struct {
    const char *name;
    where_t where;
    action_t action;
    bn_chan_result_t result;
    bn_chan_result_t boom_result;
    trigger_kind_t trigger;
    const char *msg;         /* T_MSG: a client message on the actor's socket */
    const char *a_frames[4]; /* what the actor's client gets, in order */
    const char *b_frames[4]; /* what the bystander's client gets */
    const char *terms[4];    /* terminate calls */
    int push_rc;             /* bn_channel_push after the action */
    bool a_closed;           /* the actor's socket is closed afterwards */
} lcase_t;

#define OK BN_CHAN_OK
#define REPLY BN_CHAN_REPLY
#define STOP BN_CHAN_STOP
#define ERROR BN_CHAN_ERROR
#define CRASH BN_CHAN_CRASH

static const lcase_t cases[] = {
    /* The case: Phoenix's intercept pattern, the handle_out failing. */
    {"handle_in broadcasts an event it intercepts; handle_out crashes",
     W_IN,
     A_BCAST_SELF,
     REPLY,
     CRASH,
     T_MSG,
     GO,
     {X_ERROR},
     {B_BOOM},
     {"room:x:crash"},
     -1,
     false},
    {"handle_in broadcasts an event it intercepts; handle_out returns error",
     W_IN,
     A_BCAST_SELF,
     REPLY,
     ERROR,
     T_MSG,
     GO,
     {X_ERROR},
     {B_BOOM},
     {"room:x:crash"},
     -1,
     false},
    {"handle_in broadcasts an event it intercepts; handle_out stops",
     W_IN,
     A_BCAST_SELF,
     REPLY,
     STOP,
     T_MSG,
     GO,
     {X_CLOSE},
     {B_BOOM},
     {"room:x:normal"},
     -1,
     false},
    {"handle_in broadcasts an event it intercepts; handle_out replies (invalid)",
     W_IN,
     A_BCAST_SELF,
     STOP,
     REPLY,
     T_MSG,
     GO,
     {X_ERROR},
     {B_BOOM},
     {"room:x:crash"},
     -1,
     false},
    {"handle_in: leaves, then replies",
     W_IN,
     A_LEAVE,
     REPLY,
     OK,
     T_MSG,
     GO,
     {X_CLOSE},
     {NULL},
     {"room:x:left"},
     -1,
     false},
    {"handle_in: crashes, then returns ok",
     W_IN,
     A_CRASH,
     OK,
     OK,
     T_MSG,
     GO,
     {X_ERROR},
     {NULL},
     {"room:x:crash"},
     -1,
     false},
    {"handle_in: crashes, then crashes again",
     W_IN,
     A_CRASH,
     CRASH,
     OK,
     T_MSG,
     GO,
     {X_ERROR},
     {NULL},
     {"room:x:crash"},
     -1,
     false},
    {"handle_in: closes its socket, then replies",
     W_IN,
     A_CLOSE_SOCKET,
     REPLY,
     OK,
     T_MSG,
     GO,
     {NULL},
     {NULL},
     {"room:x:closed", "room:y:closed"},
     -1,
     true},
    {"handle_in: closes its socket, then stops",
     W_IN,
     A_CLOSE_SOCKET,
     STOP,
     OK,
     T_MSG,
     GO,
     {NULL},
     {NULL},
     {"room:x:closed", "room:y:closed"},
     -1,
     true},
    {"handle_in: the transport releases its socket",
     W_IN,
     A_RELEASE,
     REPLY,
     OK,
     T_MSG,
     GO,
     {NULL},
     {NULL},
     {"room:x:closed", "room:y:closed"},
     -1,
     true},

    {"join: leaves inside join",
     W_JOIN,
     A_LEAVE,
     OK,
     OK,
     T_MSG,
     JOIN("\"1\"", "room:x"),
     {JOIN_CRASHED},
     {NULL},
     {NULL},
     -1,
     false},
    {"join: crashes inside join",
     W_JOIN,
     A_CRASH,
     OK,
     OK,
     T_MSG,
     JOIN("\"1\"", "room:x"),
     {JOIN_CRASHED},
     {NULL},
     {NULL},
     -1,
     false},
    {"join: closes its socket, then accepts",
     W_JOIN,
     A_CLOSE_SOCKET,
     OK,
     OK,
     T_MSG,
     JOIN("\"1\"", "room:x"),
     {NULL},
     {NULL},
     {"room:y:closed", "room:x:closed"},
     -1,
     true},
    {"join: closes its socket, then refuses",
     W_JOIN,
     A_CLOSE_SOCKET,
     ERROR,
     OK,
     T_MSG,
     JOIN("\"1\"", "room:x"),
     {NULL},
     {NULL},
     {"room:y:closed"},
     -1,
     true},
    {"join: the transport releases its socket",
     W_JOIN,
     A_RELEASE,
     OK,
     OK,
     T_MSG,
     JOIN("\"1\"", "room:x"),
     {NULL},
     {NULL},
     {"room:y:closed", "room:x:closed"},
     -1,
     true},
    {"join: broadcasts an event it intercepts (not subscribed yet)",
     W_JOIN,
     A_BCAST_SELF,
     OK,
     CRASH,
     T_MSG,
     JOIN("\"1\"", "room:x"),
     {X_AFTER, OK_REPLY("\"1\"", "\"1\"", "room:x")},
     {B_BOOM},
     {NULL},
     0,
     false},

    {"handle_out: leaves",
     W_OUT,
     A_LEAVE,
     OK,
     OK,
     T_BCAST_OUT,
     NULL,
     {X_CLOSE},
     {B_OUT},
     {"room:x:left"},
     -1,
     false},
    {"handle_out: crashes, then returns ok",
     W_OUT,
     A_CRASH,
     OK,
     OK,
     T_BCAST_OUT,
     NULL,
     {X_ERROR},
     {B_OUT},
     {"room:x:crash"},
     -1,
     false},
    {"handle_out: closes its socket",
     W_OUT,
     A_CLOSE_SOCKET,
     OK,
     OK,
     T_BCAST_OUT,
     NULL,
     {NULL},
     {B_OUT},
     {"room:x:closed", "room:y:closed"},
     -1,
     true},
    {"handle_out: the transport releases its socket",
     W_OUT,
     A_RELEASE,
     OK,
     OK,
     T_BCAST_OUT,
     NULL,
     {NULL},
     {B_OUT},
     {"room:x:closed", "room:y:closed"},
     -1,
     true},
    {"handle_out: returns stop",
     W_OUT,
     A_NONE,
     STOP,
     OK,
     T_BCAST_OUT,
     NULL,
     {X_AFTER, X_CLOSE},
     {B_OUT},
     {"room:x:normal"},
     0,
     false},
    {"handle_out: returns error",
     W_OUT,
     A_NONE,
     ERROR,
     OK,
     T_BCAST_OUT,
     NULL,
     {X_AFTER, X_ERROR},
     {B_OUT},
     {"room:x:crash"},
     0,
     false},
    {"handle_out: broadcasts an event it intercepts, whose handle_out crashes (nested)",
     W_OUT,
     A_BCAST_SELF,
     OK,
     CRASH,
     T_BCAST_OUT,
     NULL,
     {X_ERROR},
     {B_BOOM, B_OUT},
     {"room:x:crash"},
     -1,
     false},

    {"terminate (leave): closes its socket",
     W_TERM,
     A_CLOSE_SOCKET,
     OK,
     OK,
     T_MSG,
     LEAVE,
     {X_LEFT_OK, X_CLOSE},
     {NULL},
     {"room:x:left", "room:y:closed"},
     -1,
     true},
    {"terminate (leave): the transport releases its socket",
     W_TERM,
     A_RELEASE,
     OK,
     OK,
     T_MSG,
     LEAVE,
     {X_LEFT_OK, X_CLOSE},
     {NULL},
     {"room:x:left", "room:y:closed"},
     -1,
     true},
    {"terminate (leave): leaves again",
     W_TERM,
     A_LEAVE,
     OK,
     OK,
     T_MSG,
     LEAVE,
     {X_LEFT_OK, X_CLOSE},
     {NULL},
     {"room:x:left"},
     -1,
     false},
    {"terminate (leave): crashes",
     W_TERM,
     A_CRASH,
     OK,
     OK,
     T_MSG,
     LEAVE,
     {X_LEFT_OK, X_CLOSE},
     {NULL},
     {"room:x:left"},
     -1,
     false},
    {"terminate (leave): broadcasts an event it intercepts",
     W_TERM,
     A_BCAST_SELF,
     OK,
     CRASH,
     T_MSG,
     LEAVE,
     {X_LEFT_OK, X_CLOSE},
     {B_BOOM},
     {"room:x:left"},
     -1,
     false},
    {"terminate (crash): closes its socket",
     W_TERM,
     A_CLOSE_SOCKET,
     OK,
     OK,
     T_MSG,
     CRASH_IN,
     {X_ERROR},
     {NULL},
     {"room:x:crash", "room:y:closed"},
     -1,
     true},
    {"terminate (duplicate join): closes its socket; the new join is not made",
     W_TERM,
     A_CLOSE_SOCKET,
     OK,
     OK,
     T_MSG,
     REJOIN,
     {X_CLOSE},
     {NULL},
     {"room:x:duplicate_join", "room:y:closed"},
     -1,
     true},
    {"terminate (duplicate join): the transport releases its socket",
     W_TERM,
     A_RELEASE,
     OK,
     OK,
     T_MSG,
     REJOIN,
     {X_CLOSE},
     {NULL},
     {"room:x:duplicate_join", "room:y:closed"},
     -1,
     true},
    {"terminate (transport gone): closes its socket again",
     W_TERM,
     A_CLOSE_SOCKET,
     OK,
     OK,
     T_RELEASE,
     NULL,
     {NULL},
     {NULL},
     {"room:x:closed", "room:y:closed"},
     -1,
     true},
    {"terminate (transport gone): broadcasts an event it intercepts",
     W_TERM,
     A_BCAST_SELF,
     OK,
     CRASH,
     T_RELEASE,
     NULL,
     {NULL},
     {B_BOOM},
     {"room:x:closed", "room:y:closed"},
     -1,
     true},
};

#undef OK
#undef REPLY
#undef STOP
#undef ERROR
#undef CRASH

static int feed(bn_socket_t *s, const char *text)
{
    return bn__sock_handle_text(s, text, strlen(text));
}

static void check_frames(const lcase_t *c, const char *who, const fake_io_t *io,
                         const char *const *want)
{
    size_t n_want = 0;
    while (n_want < 4 && want[n_want] != NULL) {
        n_want++;
    }
    for (size_t i = 0; i < n_want || i < io->n; i++) {
        const char *got = i < io->n ? io->frames[i] : "(nothing)";
        const char *w = i < n_want ? want[i] : "(nothing)";
        if (strcmp(got, w) != 0) {
            fail_msg("case '%s': %s frame %zu:\n  got  %s\n  want %s", c->name, who, i, got, w);
        }
    }
}

static void run_case(const lcase_t *c)
{
    bn_server_t srv;
    memset(&srv, 0, sizeof(srv));
    bn_config_defaults(&srv.cfg);
    bn_router_init(&srv.router);
    srv.ps = bn_ps_new();
    assert_non_null(srv.ps);
    assert_int_equal(bn_server_route(&srv, "room:*", &type_life, NULL), 0);
    memset(&g, 0, sizeof(g));
    g.where = c->where;
    g.action = c->action;
    g.result = c->result;
    g.boom_result = c->boom_result;
    g.push_rc = 99;

    fake_io_t io_a = {0}, io_b = {0};
    bn_socket_t *b = bn__sock_new(&srv, &fake_io_ops, &io_b, BN_VSN_2, NULL, "websocket");
    bn_socket_t *a = bn__sock_new(&srv, &fake_io_ops, &io_a, BN_VSN_2, NULL, "longpoll");
    assert_non_null(a);
    assert_non_null(b);
    g.actor = a;
    assert_int_equal(feed(b, JOIN("\"9\"", "room:x")), 0);
    assert_int_equal(feed(a, JOIN("\"3\"", "room:y")), 0);
    if (c->where != W_JOIN) {
        assert_int_equal(feed(a, JOIN("\"1\"", "room:x")), 0);
    }
    io_clear(&io_a);
    io_clear(&io_b);
    g.n_terms = 0;

    g.armed = true;
    bool a_released = c->action == A_RELEASE;
    switch (c->trigger) {
    case T_MSG:
        assert_int_equal(feed(a, c->msg), 0);
        break;
    case T_BCAST_OUT: {
        json_t *p = json_object();
        bn_payload_t pp = bn_payload_json(p);
        bn_server_broadcast(&srv, "room:x", "out", &pp);
        json_decref(p);
        break;
    }
    case T_RELEASE:
        bn__sock_free(a);
        a_released = true;
        break;
    }
    if (!g.acted) {
        fail_msg("case '%s': the callback never acted", c->name);
    }
    check_frames(c, "actor", &io_a, c->a_frames);
    check_frames(c, "bystander", &io_b, c->b_frames);
    size_t n_want = 0;
    while (n_want < 4 && c->terms[n_want] != NULL) {
        n_want++;
    }
    for (size_t i = 0; i < n_want || i < g.n_terms; i++) {
        const char *got = i < g.n_terms ? g.terms[i] : "(nothing)";
        const char *w = i < n_want ? c->terms[i] : "(nothing)";
        if (strcmp(got, w) != 0) {
            fail_msg("case '%s': terminate %zu was %s, want %s", c->name, i, got, w);
        }
    }
    if (g.push_rc != c->push_rc) {
        fail_msg("case '%s': push after the action returned %d, want %d", c->name, g.push_rc,
                 c->push_rc);
    }
    assert_int_equal(srv.stats.sockets, c->a_closed ? 1 : 2);
    if (!a_released) {
        if (a->closed != c->a_closed) {
            fail_msg("case '%s': actor socket closed=%d, want %d", c->name, a->closed, c->a_closed);
        }
        if (!a->closed) {
            /* The socket still works. */
            io_clear(&io_a);
            assert_int_equal(feed(a, "[null,\"7\",\"phoenix\",\"heartbeat\",{}]"), 0);
            assert_int_equal(io_a.n, 1);
            assert_string_equal(io_a.frames[0], OK_REPLY("null", "\"7\"", "phoenix"));
        }
        bn__sock_free(a);
    }
    /* The bystander's channel still receives broadcasts. */
    io_clear(&io_b);
    json_t *p = json_object();
    bn_payload_t pp = bn_payload_json(p);
    assert_true(bn_server_broadcast(&srv, "room:x", "plain", &pp) >= 1);
    json_decref(p);
    assert_int_equal(io_b.n, 1);
    assert_string_equal(io_b.frames[0], "[null,null,\"room:x\",\"plain\",{}]");
    bn__sock_free(b);

    assert_null(srv.sockets);
    assert_int_equal(srv.stats.sockets, 0);
    assert_int_equal(srv.stats.channels, 0);
    assert_int_equal(bn_ps_stats(srv.ps)->topics, 0);
    assert_int_equal(bn_ps_stats(srv.ps)->subscriptions, 0);
    io_clear(&io_a);
    io_clear(&io_b);
    bn_ps_free(srv.ps);
    bn_router_free(&srv.router);
}

static void test_reentrant_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("  case: %s\n", cases[i].name);
        run_case(&cases[i]);
    }
}

/* ================================================================ parts 2 and 3: real sockets */

/* A stop whose callback closes the loop. */
typedef struct stop_probe_s {
    uv_loop_t *loop;
    int calls;
    int close_rc;
} stop_probe_t;

static void on_stop_close_loop(void *ud)
{
    stop_probe_t *p = ud;
    p->calls++;
    p->close_rc = uv_loop_close(p->loop);
}

static void on_stop_count(void *ud)
{
    (*(int *)ud)++;
}

/* Stops srv, checks that the callback did not run inside bn_server_stop,
 * then runs the loop until it returns: the callback closes the loop, and
 * must find nothing of the server (or of this test) still open. */
static void stop_and_close_loop(bn_server_t *srv, uv_loop_t *loop)
{
    stop_probe_t p = {loop, 0, 1};
    bn_server_stop(srv, on_stop_close_loop, &p);
    assert_int_equal(p.calls, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.close_rc, 0);
    /* The loop is closed: nothing may touch it any more. */
}

/* ---------------------------------------------------------------- the channel type */

static struct {
    bn_server_t *srv; /* for a stop from inside a callback */
    int stop_calls;
    int after_rc;
    unsigned terms[BN_STOP_CRASH + 1];
} r;

static bn_chan_result_t r_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *reply)
{
    (void)ch;
    (void)params;
    (void)reply;
    return BN_CHAN_OK;
}

static bn_chan_result_t r_handle_in(bn_channel_t *ch, const char *event,
                                    const bn_payload_t *payload, bn_reply_t *reply)
{
    (void)payload;
    if (strcmp(event, "go") == 0) {
        /* Phoenix's intercept pattern; its own handle_out fails. */
        json_t *p = json_object();
        bn_payload_t pp = bn_payload_json(p);
        bn_channel_broadcast(ch, "boom", &pp);
        r.after_rc = bn_channel_push(ch, "after", &pp);
        json_decref(p);
        bn_reply_set(reply, "ok", json_pack("{s:b}", "late", 1));
        return BN_CHAN_REPLY;
    }
    if (strcmp(event, "stop_server") == 0) {
        bn_server_stop(r.srv, on_stop_count, &r.stop_calls);
        assert_int_equal(r.stop_calls, 0);
        return BN_CHAN_REPLY;
    }
    return BN_CHAN_OK;
}

static bn_chan_result_t r_handle_out(bn_channel_t *ch, const char *event,
                                     const bn_payload_t *payload)
{
    (void)ch;
    (void)event;
    (void)payload;
    return BN_CHAN_ERROR;
}

static void r_terminate(bn_channel_t *ch, bn_stop_reason_t reason)
{
    (void)ch;
    r.terms[reason]++;
}

static const char *const r_intercepts[] = {"boom", NULL};

static const bn_channel_type_t type_real = {.name = "real",
                                            .intercept = r_intercepts,
                                            .join = r_join,
                                            .handle_in = r_handle_in,
                                            .handle_out = r_handle_out,
                                            .terminate = r_terminate};

static void real_start(bn_test_server_t *ts)
{
    memset(&r, 0, sizeof(r));
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.longpoll_window_ms = 500; /* a 100 ms LongPoll sweep */
    bn_test_server_start(ts, &cfg, &type_real);
    r.srv = ts->srv;
}

#define X_JOIN_OK OK_REPLY("\"1\"", "\"1\"", "room:x")

static void ws_expect(bn_test_client_t *c, const char *want)
{
    char *msg = NULL;
    assert_int_equal(bn_test_ws_recv(c, &msg, NULL, 5000), BN_TEST_WS_TEXT);
    assert_string_equal(msg, want);
    free(msg);
}

static void ws_say(bn_test_client_t *c, const char *text)
{
    assert_int_equal(bn_test_ws_send(c, BN_TEST_WS_TEXT, text, strlen(text)), 0);
}

/* ---------------------------------------------------------------- WebSocket */

/* The case end to end: phx_error, no reply for the crashed join,
 * the connection still serves; then a stop with the WebSocket still open
 * (close 1001), whose callback closes the loop. */
static void test_ws_intercept_own_broadcast(void **state)
{
    (void)state;
    bn_test_server_t ts;
    real_start(&ts);
    bn_test_client_t c;
    assert_true(bn_test_ws_connect(&ts.loop, &c, ts.port, "/socket/websocket?vsn=2.0.0"));
    ws_say(&c, JOIN("\"1\"", "room:x"));
    ws_expect(&c, X_JOIN_OK);
    ws_say(&c, JOIN("\"3\"", "room:y"));
    ws_expect(&c, OK_REPLY("\"3\"", "\"3\"", "room:y"));
    ws_say(&c, GO);
    ws_expect(&c, X_ERROR);
    assert_int_equal(r.after_rc, -1);
    assert_int_equal(r.terms[BN_STOP_CRASH], 1);
    ws_say(&c, "[null,\"8\",\"phoenix\",\"heartbeat\",{}]");
    ws_expect(&c, OK_REPLY("null", "\"8\"", "phoenix"));

    /* Stop with the WebSocket open: it gets 1001, its client closes on
     * the server's FIN, room:y terminates "closed", then the callback. */
    stop_and_close_loop(ts.srv, &ts.loop);
    assert_true(c.closed);
    assert_int_equal(r.terms[BN_STOP_CLOSED], 1);
    bn_test_ws_frame_t f;
    long n = bn_test_ws_parse((const uint8_t *)c.buf, c.len, &f);
    assert_true(n > 0);
    assert_int_equal(f.opcode, BN_TEST_WS_CLOSE);
    assert_true(f.len >= 2 && f.payload[0] == 0x03 && f.payload[1] == 0xe9); /* 1001 */
    free(c.buf);
}

/* A server stopped from inside one of its own callbacks: nothing runs
 * synchronously; the dispatch finishes, then the close completes. */
static void test_ws_stop_from_callback(void **state)
{
    (void)state;
    bn_test_server_t ts;
    real_start(&ts);
    bn_test_client_t c;
    assert_true(bn_test_ws_connect(&ts.loop, &c, ts.port, "/socket/websocket?vsn=2.0.0"));
    ws_say(&c, JOIN("\"1\"", "room:x"));
    ws_expect(&c, X_JOIN_OK);
    ws_say(&c, "[\"1\",\"2\",\"room:x\",\"stop_server\",{}]");
    assert_int_equal(r.stop_calls, 0);
    assert_true(bn_test_client_wait_eof(&c, 5000)); /* the stop's 1001 and FIN */
    bn_test_client_close(&c);
    uv_run(&ts.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.stop_calls, 1);
    assert_int_equal(r.terms[BN_STOP_CLOSED], 1);
    assert_int_equal(uv_loop_close(&ts.loop), 0);
}

/* A WebSocket session that ended before the stop. */
static void test_stop_after_ws_session(void **state)
{
    (void)state;
    bn_test_server_t ts;
    real_start(&ts);
    bn_test_client_t c;
    assert_true(bn_test_ws_connect(&ts.loop, &c, ts.port, "/socket/websocket?vsn=2.0.0"));
    ws_say(&c, JOIN("\"1\"", "room:x"));
    ws_expect(&c, X_JOIN_OK);
    bn_test_client_close(&c);
    stop_and_close_loop(ts.srv, &ts.loop);
    assert_int_equal(r.terms[BN_STOP_CLOSED], 1);
}

/* ---------------------------------------------------------------- LongPoll */

/* One HTTP request on its own connection ("connection: close"); returns the
 * response body parsed as JSON. */
static json_t *lp_http(uv_loop_t *loop, int port, const char *method, const char *token,
                       const char *body)
{
    bn_test_client_t c;
    assert_true(bn_test_client_connect(loop, &c, port, true));
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "%s /socket/longpoll?vsn=2.0.0%s%s HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Connection: close\r\n"
                     "Content-Type: application/x-ndjson\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n%s",
                     method, token ? "&token=" : "", token ? token : "", body ? strlen(body) : 0,
                     body ? body : "");
    assert_true(n > 0 && (size_t)n < sizeof(req));
    assert_int_equal(bn_test_client_write(&c, req, (size_t)n), 0);
    assert_true(bn_test_client_wait_eof(&c, 5000));
    assert_non_null(c.buf);
    size_t at = 0;
    while (at + 4 <= c.len && memcmp(c.buf + at, "\r\n\r\n", 4) != 0) {
        at++;
    }
    assert_true(at + 4 <= c.len);
    json_t *j = json_loadb(c.buf + at + 4, c.len - at - 4, 0, NULL);
    assert_non_null(j);
    bn_test_client_close(&c);
    return j;
}

static int lp_status(json_t *j)
{
    return (int)json_integer_value(json_object_get(j, "status"));
}

/* The case over LongPoll, then a stop with the session (and a
 * joined channel) still alive: the session ends inside the stop, and the
 * LongPoll timers are closed before the callback, which closes the loop. */
static void test_lp_intercept_own_broadcast(void **state)
{
    (void)state;
    bn_test_server_t ts;
    real_start(&ts);
    json_t *open = lp_http(&ts.loop, ts.port, "GET", NULL, NULL);
    assert_int_equal(lp_status(open), 410);
    char *token = strdup(json_string_value(json_object_get(open, "token")));
    json_decref(open);
    assert_non_null(token);

    json_t *post = lp_http(&ts.loop, ts.port, "POST", token,
                           JOIN("\"1\"", "room:x") "\n" JOIN("\"3\"", "room:y") "\n" GO "\n");
    assert_int_equal(lp_status(post), 200);
    json_decref(post);
    assert_int_equal(r.after_rc, -1);

    json_t *poll = lp_http(&ts.loop, ts.port, "GET", token, NULL);
    assert_int_equal(lp_status(poll), 200);
    json_t *msgs = json_object_get(poll, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    assert_string_equal(json_string_value(json_array_get(msgs, 0)), X_JOIN_OK);
    assert_string_equal(json_string_value(json_array_get(msgs, 1)),
                        OK_REPLY("\"3\"", "\"3\"", "room:y"));
    assert_string_equal(json_string_value(json_array_get(msgs, 2)), X_ERROR);
    json_decref(poll);
    free(token);
    assert_int_equal(r.terms[BN_STOP_CRASH], 1);
    assert_int_equal(r.terms[BN_STOP_CLOSED], 0);

    stop_and_close_loop(ts.srv, &ts.loop);
    assert_int_equal(r.terms[BN_STOP_CLOSED], 1); /* room:y, as the session ended */
}

/* A LongPoll session that was polled once and is still open at the stop. */
static void test_stop_after_lp_session(void **state)
{
    (void)state;
    bn_test_server_t ts;
    real_start(&ts);
    json_t *open = lp_http(&ts.loop, ts.port, "GET", NULL, NULL);
    assert_int_equal(lp_status(open), 410);
    json_decref(open);
    stop_and_close_loop(ts.srv, &ts.loop);
}

/* ---------------------------------------------------------------- stops without sessions */

static void test_stop_never_started(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    bn_server_t *srv = bn_server_new(&loop, &cfg);
    assert_non_null(srv);
    stop_probe_t p = {&loop, 0, 1};
    bn_server_stop(srv, on_stop_close_loop, &p);
    bn_server_stop(srv, on_stop_close_loop, &p); /* a second stop is ignored */
    assert_int_equal(p.calls, 0);                /* not inside bn_server_stop */
    uv_run(&loop, UV_RUN_NOWAIT);                /* one later turn */
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.close_rc, 0);
}

/* Without closing the loop inside: the callback runs on the next turn, and
 * the loop is dry afterwards. */
static void test_stop_never_started_later_turn(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    bn_server_t *srv = bn_server_new(&loop, &cfg);
    assert_non_null(srv);
    int calls = 0;
    bn_server_stop(srv, on_stop_count, &calls);
    assert_int_equal(calls, 0);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_listener_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

/* bn_server_start failed after creating its handles (the port is taken). */
static void test_stop_after_failed_start(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_tcp_t taken;
    bool taken_closed = false;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_init(&loop, &taken), 0);
    taken.data = &taken_closed;
    assert_int_equal(uv_tcp_bind(&taken, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&taken, 8, NULL), 0);
    struct sockaddr_in bound;
    int len = sizeof(bound);
    assert_int_equal(uv_tcp_getsockname(&taken, (struct sockaddr *)&bound, &len), 0);

    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.port = ntohs(bound.sin_port);
    bn_server_t *srv = bn_server_new(&loop, &cfg);
    assert_non_null(srv);
    assert_true(bn_server_start(srv) < 0);
    uv_close((uv_handle_t *)&taken, on_listener_closed);
    while (!taken_closed) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    stop_and_close_loop(srv, &loop);
}

/* Started, never used. */
static void test_stop_idle(void **state)
{
    (void)state;
    bn_test_server_t ts;
    real_start(&ts);
    stop_and_close_loop(ts.srv, &ts.loop);
}

/* ---------------------------------------------------------------- the mesh */

#define MESH_COOKIE "lifetime-test-cookie-0123456789"

static bn_mesh_t *mesh_new(uv_loop_t *loop, const char *name, int port, int seed_port)
{
    char seed[64];
    const char *seeds[1] = {seed};
    bn_mesh_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = name;
    cfg.cookie = MESH_COOKIE;
    cfg.port = port;
    cfg.tick_ms = 50;
    if (seed_port > 0) {
        snprintf(seed, sizeof(seed), "127.0.0.1:%d", seed_port);
        cfg.seeds = seeds;
        cfg.n_seeds = 1;
    }
    bn_mesh_t *m = NULL;
    assert_int_equal(bn_mesh_new(loop, &cfg, NULL, NULL, &m), 0);
    return m;
}

/* Closes m with a callback that closes the loop; as stop_and_close_loop. */
static void mesh_close_and_close_loop(bn_mesh_t *m, uv_loop_t *loop)
{
    stop_probe_t p = {loop, 0, 1};
    bn_mesh_close(m, on_stop_close_loop, &p);
    assert_int_equal(p.calls, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.close_rc, 0);
}

static void test_mesh_close_never_started(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    mesh_close_and_close_loop(mesh_new(&loop, "a@127.0.0.1", 0, 0), &loop);
}

static bool mesh_linked(void *ud)
{
    bn_mesh_t **m = ud;
    return bn_mesh_up_count(m[0]) == 1 && bn_mesh_up_count(m[1]) == 1;
}

static bool flag_set(void *ud)
{
    return *(int *)ud != 0;
}

/* Two nodes linked; the first closes (its callback only counts), then the
 * second, whose callback closes the loop. */
static void test_mesh_close_linked(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bn_mesh_t *m[2];
    m[0] = mesh_new(&loop, "a@127.0.0.1", 0, 0);
    assert_int_equal(bn_mesh_start(m[0]), 0);
    m[1] = mesh_new(&loop, "b@127.0.0.1", 0, bn_mesh_port(m[0]));
    assert_int_equal(bn_mesh_start(m[1]), 0);
    assert_true(bn_test_run_until(&loop, mesh_linked, m, 10000));
    int closed = 0;
    bn_mesh_close(m[0], on_stop_count, &closed);
    assert_int_equal(closed, 0);
    assert_true(bn_test_run_until(&loop, flag_set, &closed, 5000));
    mesh_close_and_close_loop(m[1], &loop);
}

int main(void)
{
    bn_log_level = BN_LOG_ERROR; /* crashes are expected here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reentrant_table),
        cmocka_unit_test(test_ws_intercept_own_broadcast),
        cmocka_unit_test(test_ws_stop_from_callback),
        cmocka_unit_test(test_stop_after_ws_session),
        cmocka_unit_test(test_lp_intercept_own_broadcast),
        cmocka_unit_test(test_stop_after_lp_session),
        cmocka_unit_test(test_stop_never_started),
        cmocka_unit_test(test_stop_never_started_later_turn),
        cmocka_unit_test(test_stop_after_failed_start),
        cmocka_unit_test(test_stop_idle),
        cmocka_unit_test(test_mesh_close_never_started),
        cmocka_unit_test(test_mesh_close_linked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
