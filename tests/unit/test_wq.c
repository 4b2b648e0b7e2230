/* core/wq: the write queue shared by client connections and mesh links.
 * Ring bookkeeping (inline slots to heap ring, wrap-around, partial head,
 * dropping and moving what nobody is writing, shrink), and flushes against a
 * real socketpair in a uv loop: writev when the socket has room, a uv_write
 * for what a small send buffer did not take, the transform hook, write
 * errors, the cap, and allocation failures.
 *
 * wq.c is compiled into this test with malloc routed through a switch, so
 * the ring's and the request's allocations can fail on demand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int malloc_fail; /* the next allocation of wq.c fails */

static void *wq_test_malloc(size_t n)
{
    if (malloc_fail) {
        malloc_fail = 0;
        return NULL;
    }
    return malloc(n);
}

#define malloc(n) wq_test_malloc(n)
#include "../../src/core/wq.c"
#undef malloc

/* ---------------------------------------------------------------- an owner */

typedef struct {
    bn_wq_t wq;
    uv_pipe_t pipe; /* our end of the socketpair */
    int closes;
    bn_close_reason_t reason;
    size_t wrote_direct, wrote_async;
    unsigned writevs;
    unsigned done;
    unsigned transforms;
    int push_on_close; /* the hook pushes this buffer (like a close frame) */
    bn_buf_t *close_frame;
} owner_t;

/* The table the hooks below push and flush with (the test's current one). */
static const bn_wq_ops_t *cur_ops;

static void o_close(bn_wq_t *q, bn_close_reason_t reason)
{
    owner_t *o = bn_container_of(q, owner_t, wq);
    o->closes++;
    o->reason = reason;
    if (o->close_frame != NULL && reason == BN_CLOSE_SLOW_CONSUMER) {
        bn_wq_drop_unsent(q);
        bn_wq_push(q, (uv_stream_t *)&o->pipe, cur_ops, o->close_frame, SIZE_MAX);
    }
}

static void o_wrote(bn_wq_t *q, size_t n, bool direct)
{
    owner_t *o = bn_container_of(q, owner_t, wq);
    if (direct) {
        o->writevs++;
        o->wrote_direct += n;
    } else {
        o->wrote_async += n;
    }
}

static void o_done(bn_wq_t *q)
{
    owner_t *o = bn_container_of(q, owner_t, wq);
    o->done++;
    bn_wq_flush(q, (uv_stream_t *)&o->pipe, cur_ops);
}

/* Every entry into one buffer, each prefixed with '<' and followed by '>'. */
static int o_transform(bn_wq_t *q)
{
    owner_t *o = bn_container_of(q, owner_t, wq);
    o->transforms++;
    size_t total = 0;
    for (uint32_t i = 0; i < q->len; i++) {
        total += bn_buf_wire_len(bn_wq_at(q, i)) + 2;
    }
    bn_buf_t *out = bn_buf_new(total);
    if (out == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < q->len; i++) {
        bn_buf_t *b = bn_wq_at(q, i);
        bn_buf_append(&out, "<", 1);
        bn_buf_append(&out, bn_buf_wire(b), bn_buf_wire_len(b));
        bn_buf_append(&out, ">", 1);
    }
    bn_wq_replace_all(q, out);
    return 0;
}

static const bn_wq_ops_t ops = {
    .close = o_close,
    .wrote = o_wrote,
    .write_done = o_done,
};

static const bn_wq_ops_t ops_tf = {
    .close = o_close,
    .wrote = o_wrote,
    .write_done = o_done,
    .transform = o_transform,
};

static bn_buf_t *mk(const char *s)
{
    bn_buf_t *b = bn_buf_new(strlen(s));
    assert_non_null(b);
    assert_int_equal(bn_buf_append(&b, s, strlen(s)), 0);
    return b;
}

static bn_buf_t *mk_fill(size_t n, char c)
{
    bn_buf_t *b = bn_buf_new(n);
    assert_non_null(b);
    memset(bn_buf_body(b), c, n);
    b->len = n;
    return b;
}

/* Pushes a new buffer and drops the caller's reference. */
static int push(owner_t *o, const char *s, size_t cap)
{
    bn_buf_t *b = mk(s);
    int rc = bn_wq_push(&o->wq, (uv_stream_t *)&o->pipe, cur_ops, b, cap);
    bn_buf_unref(b);
    return rc;
}

static void expect_entries(const bn_wq_t *q, const char *const *want, uint32_t n)
{
    assert_int_equal(q->len, n);
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        bn_buf_t *b = bn_wq_at(q, i);
        assert_int_equal(b->len, strlen(want[i]));
        assert_memory_equal(bn_buf_body(b), want[i], b->len);
        bytes += b->len;
    }
    assert_int_equal(q->bytes + q->off, bytes);
}

/* ---------------------------------------------------------------- ring only */

static void test_inline_to_ring_and_wrap(void **state)
{
    (void)state;
    owner_t o = {0};
    bn_wq_init(&o.wq);
    assert_int_equal(push(&o, "a", SIZE_MAX), 0);
    assert_int_equal(push(&o, "bb", SIZE_MAX), 0);
    assert_false(bn_wq_has_ring(&o.wq));
    /* The third entry needs a heap ring: reported once. */
    assert_int_equal(push(&o, "ccc", SIZE_MAX), 1);
    assert_true(bn_wq_has_ring(&o.wq));
    assert_int_equal(o.wq.cap, 8);
    const char *w1[] = {"a", "bb", "ccc"};
    expect_entries(&o.wq, w1, 3);
    /* Consume "a" and one byte of "bb": a partly written head. */
    bn_wq_consume(&o.wq, &ops, 2, true);
    assert_int_equal(o.wq.off, 1);
    assert_int_equal(o.wq.bytes, 4);
    assert_int_equal(o.wrote_direct, 2);
    uv_buf_t iov[4];
    size_t total = 0;
    assert_int_equal(bn_wq_iov(&o.wq, iov, 4, &total), 2);
    assert_int_equal(total, 4);
    assert_memory_equal(iov[0].base, "b", 1);
    /* Fill past the end of the ring so it wraps, then grow while wrapped. */
    bn_wq_consume(&o.wq, &ops, 4, false);
    assert_int_equal(o.wq.len, 0);
    assert_int_equal(o.wq.head, 3);
    const char *w2[] = {"d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(push(&o, w2[i], SIZE_MAX), 0);
    }
    assert_int_equal(o.wq.cap, 8);
    expect_entries(&o.wq, w2, 8);
    for (int i = 8; i < 11; i++) {
        assert_int_equal(push(&o, w2[i], SIZE_MAX), 0); /* heap to heap: not reported */
    }
    assert_int_equal(o.wq.cap, 16);
    expect_entries(&o.wq, w2, 11);
    assert_int_equal(bn_wq_iov(&o.wq, iov, 4, &total), 4); /* the batch limit */
    assert_int_equal(total, 4);
    /* A ring in use stays; an empty one goes back to the inline slots. */
    assert_false(bn_wq_shrink(&o.wq));
    bn_wq_consume(&o.wq, &ops, 11, true);
    assert_true(bn_wq_shrink(&o.wq));
    assert_false(bn_wq_has_ring(&o.wq));
    assert_int_equal(o.wq.cap, BN_WQ_INLINE);
    assert_false(bn_wq_shrink(&o.wq));
    assert_int_equal(push(&o, "x", SIZE_MAX), 0);
    assert_false(bn_wq_release(&o.wq));
    assert_int_equal(o.closes, 0);
}

static void test_drop_unsent(void **state)
{
    (void)state;
    owner_t o = {0};
    bn_wq_init(&o.wq);
    const char *w[] = {"one", "two", "three", "four"};
    for (int i = 0; i < 4; i++) {
        push(&o, w[i], SIZE_MAX);
    }
    /* Two entries belong to a pending write, the head partly written. */
    o.wq.inflight = 2;
    o.wq.off = 1;
    o.wq.bytes -= 1;
    bn_wq_drop_unsent(&o.wq);
    assert_int_equal(o.wq.len, 2);
    assert_int_equal(o.wq.bytes, 5);
    /* No write pending but a partly written head: only the head stays. */
    o.wq.inflight = 0;
    push(&o, "five", SIZE_MAX);
    bn_wq_drop_unsent(&o.wq);
    expect_entries(&o.wq, (const char *const[]){"one"}, 1);
    assert_int_equal(o.wq.bytes, 2);
    /* The head written out, nothing written of the rest: everything goes. */
    push(&o, "six", SIZE_MAX);
    bn_wq_consume(&o.wq, &ops, 2, true);
    assert_int_equal(o.wq.off, 0);
    expect_entries(&o.wq, (const char *const[]){"six"}, 1);
    bn_wq_drop_unsent(&o.wq);
    assert_int_equal(o.wq.len, 0);
    assert_int_equal(o.wq.bytes, 0);
    assert_true(bn_wq_release(&o.wq));
}

static void test_move_unsent(void **state)
{
    (void)state;
    owner_t a = {0}, b = {0};
    bn_wq_init(&a.wq);
    bn_wq_init(&b.wq);
    const char *w[] = {"A", "B", "C", "D", "E"};
    for (int i = 0; i < 5; i++) {
        push(&a, w[i], SIZE_MAX);
    }
    push(&b, "x", SIZE_MAX);
    a.wq.inflight = 1; /* "A" is being written */
    assert_int_equal(bn_wq_move_unsent(&b.wq, &a.wq), 0);
    expect_entries(&a.wq, w, 1);
    expect_entries(&b.wq, (const char *const[]){"x", "B", "C", "D", "E"}, 5);
    /* Growing the target fails: nothing moves. */
    a.wq.inflight = 0;
    push(&a, "F", SIZE_MAX);
    push(&a, "G", SIZE_MAX);
    for (int i = 0; i < 3; i++) {
        push(&b, "y", SIZE_MAX);
    }
    assert_int_equal(b.wq.len, b.wq.cap);
    malloc_fail = 1;
    assert_int_equal(bn_wq_move_unsent(&b.wq, &a.wq), -1);
    assert_int_equal(a.wq.len, 3);
    assert_int_equal(b.wq.len, 8);
    /* Nothing unsent: nothing to do. */
    a.wq.inflight = 3;
    assert_int_equal(bn_wq_move_unsent(&b.wq, &a.wq), 0);
    a.wq.inflight = 0;
    bn_wq_release(&a.wq);
    bn_wq_release(&b.wq);
}

static void test_ring_oom(void **state)
{
    (void)state;
    owner_t o = {0};
    bn_wq_init(&o.wq);
    push(&o, "a", SIZE_MAX);
    push(&o, "b", SIZE_MAX);
    malloc_fail = 1;
    /* The ring cannot grow: the entry is not queued, the owner hears
     * WRITE_ERROR, and the queue is as it was. */
    assert_int_equal(push(&o, "c", SIZE_MAX), -1);
    assert_int_equal(o.closes, 1);
    assert_int_equal(o.reason, BN_CLOSE_WRITE_ERROR);
    expect_entries(&o.wq, (const char *const[]){"a", "b"}, 2);
    assert_false(bn_wq_has_ring(&o.wq));
    assert_false(bn_wq_release(&o.wq));
}

/* ---------------------------------------------------------------- flushes */

typedef struct {
    owner_t o;
    uv_loop_t loop;
    uv_pipe_t peer;
    int fds[2];
    char *got;
    size_t got_len, got_cap;
    bool reading;
} pair_t;

static void peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    static char rb[65536];
    (void)suggested;
    *buf = uv_buf_init(rb, sizeof(rb));
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    pair_t *p = s->data;
    if (n <= 0) {
        return;
    }
    if (p->got_len + (size_t)n > p->got_cap) {
        p->got_cap = (p->got_len + (size_t)n) * 2;
        p->got = realloc(p->got, p->got_cap);
        assert_non_null(p->got);
    }
    memcpy(p->got + p->got_len, buf->base, (size_t)n);
    p->got_len += (size_t)n;
}

static void pair_open(pair_t *p, int sndbuf)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(uv_loop_init(&p->loop), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds), 0);
    if (sndbuf > 0) {
        assert_int_equal(setsockopt(p->fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    }
    assert_int_equal(uv_pipe_init(&p->loop, &p->o.pipe, 0), 0);
    assert_int_equal(uv_pipe_open(&p->o.pipe, p->fds[0]), 0);
    assert_int_equal(uv_pipe_init(&p->loop, &p->peer, 0), 0);
    assert_int_equal(uv_pipe_open(&p->peer, p->fds[1]), 0);
    p->peer.data = p;
    bn_wq_init(&p->o.wq);
}

static void pair_read(pair_t *p)
{
    assert_int_equal(uv_read_start((uv_stream_t *)&p->peer, peer_alloc, peer_read), 0);
    p->reading = true;
}

static void pair_run_until(pair_t *p, size_t want)
{
    for (int i = 0; i < 100000 && p->got_len < want; i++) {
        uv_run(&p->loop, UV_RUN_ONCE);
    }
    assert_int_equal(p->got_len, want);
}

static void pair_close(pair_t *p)
{
    bn_wq_release(&p->o.wq);
    uv_close((uv_handle_t *)&p->o.pipe, NULL);
    if (!uv_is_closing((uv_handle_t *)&p->peer)) {
        uv_close((uv_handle_t *)&p->peer, NULL);
    }
    uv_run(&p->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&p->loop), 0);
    free(p->got);
}

/* The peer reads until it has want's bytes, which must be want. */
static void expect_received(pair_t *p, const char *want)
{
    pair_read(p);
    pair_run_until(p, strlen(want));
    assert_memory_equal(p->got, want, strlen(want));
}

/* Three entries, a socket with room: one writev, nothing pending; with
 * the transform, one buffer replaced the three entries first. */
static void flush_with_room(const bn_wq_ops_t *table, const char *want, unsigned transforms)
{
    pair_t p;
    pair_open(&p, 0);
    cur_ops = table;
    push(&p.o, "a", SIZE_MAX);
    push(&p.o, "bc", SIZE_MAX);
    push(&p.o, "def", SIZE_MAX);
    assert_int_equal(bn_wq_flush(&p.o.wq, (uv_stream_t *)&p.o.pipe, table), 0);
    assert_int_equal(p.o.transforms, transforms);
    assert_int_equal(p.o.writevs, 1);
    assert_int_equal(p.o.wrote_direct, strlen(want));
    assert_int_equal(p.o.wrote_async, 0);
    assert_int_equal(p.o.wq.len, 0);
    assert_int_equal(p.o.wq.inflight, 0);
    expect_received(&p, want);
    cur_ops = &ops;
    pair_close(&p);
}

static void test_flush_writev(void **state)
{
    (void)state;
    flush_with_room(&ops, "abcdef", 0);
}

static void test_flush_eagain_uv_write(void **state)
{
    (void)state;
    pair_t p;
    pair_open(&p, 4096);
    /* 64 frames of 16 KiB, each a different byte: far more than the socket
     * buffer takes at once. */
    size_t frame = 16384, n = 64;
    for (size_t i = 0; i < n; i++) {
        bn_buf_t *b = mk_fill(frame, (char)('A' + i % 26));
        assert_true(bn_wq_push(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops, b, SIZE_MAX) >= 0);
        bn_buf_unref(b);
    }
    assert_int_equal(bn_wq_flush(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops), 1);
    assert_true(p.o.wq.inflight > 0);
    assert_true(p.o.wrote_direct < frame * n);
    /* While the write is pending, a flush does nothing and pushes queue. */
    unsigned writevs = p.o.writevs;
    assert_int_equal(bn_wq_flush(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops), 1);
    assert_int_equal(p.o.writevs, writevs);
    bn_buf_t *tail = mk("tail");
    assert_int_equal(bn_wq_push(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops, tail, SIZE_MAX), 0);
    bn_buf_unref(tail);
    pair_read(&p);
    pair_run_until(&p, frame * n + 4);
    assert_true(p.o.done >= 1);
    assert_int_equal(p.o.wq.len, 0);
    assert_int_equal(p.o.wq.bytes, 0);
    assert_int_equal(p.o.wrote_direct + p.o.wrote_async, frame * n + 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p.got[i * frame], 'A' + i % 26);
        assert_int_equal(p.got[i * frame + frame - 1], 'A' + i % 26);
    }
    assert_memory_equal(p.got + frame * n, "tail", 4);
    assert_int_equal(p.o.closes, 0);
    pair_close(&p);
}

static void test_transform(void **state)
{
    (void)state;
    flush_with_room(&ops_tf, "<a><bc><def>", 1);
}

static void test_write_error(void **state)
{
    (void)state;
    pair_t p;
    pair_open(&p, 0);
    uv_close((uv_handle_t *)&p.peer, NULL); /* the peer is gone */
    uv_run(&p.loop, UV_RUN_NOWAIT);
    push(&p.o, "lost", SIZE_MAX);
    assert_int_equal(bn_wq_flush(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops), -1);
    assert_int_equal(p.o.closes, 1);
    assert_int_equal(p.o.reason, BN_CLOSE_WRITE_ERROR);
    assert_int_equal(p.o.writevs, 1); /* the failed system call counts */
    pair_close(&p);
}

static void test_cap_flushes_first(void **state)
{
    (void)state;
    pair_t p;
    pair_open(&p, 4096);
    /* Past the cap, but the socket takes the queue: nobody is judged. */
    push(&p.o, "0123456789", SIZE_MAX);
    assert_int_equal(push(&p.o, "abcdefghij", 15), 0);
    assert_int_equal(p.o.closes, 0);
    assert_int_equal(p.o.writevs, 1);
    assert_int_equal(p.o.wq.len, 1);
    /* Fill the socket; then the cap closes as a slow consumer and the hook
     * may still queue its close frame. */
    bn_buf_t *big = mk_fill(1 << 20, 'z');
    assert_int_equal(bn_wq_push(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops, big, SIZE_MAX), 0);
    bn_buf_unref(big);
    assert_int_equal(bn_wq_flush(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops), 1);
    size_t queued = p.o.wq.bytes;
    p.o.close_frame = mk("bye");
    assert_int_equal(push(&p.o, "over", queued + 2), -1);
    assert_int_equal(p.o.closes, 1);
    assert_int_equal(p.o.reason, BN_CLOSE_SLOW_CONSUMER);
    /* The pending write's entries stayed, the close frame follows them. */
    assert_int_equal(p.o.wq.len, p.o.wq.inflight + 1);
    assert_memory_equal(bn_buf_body(bn_wq_at(&p.o.wq, p.o.wq.len - 1)), "bye", 3);
    bn_buf_unref(p.o.close_frame);
    pair_close(&p);
}

static void test_request_oom(void **state)
{
    (void)state;
    pair_t p;
    pair_open(&p, 4096);
    bn_buf_t *big = mk_fill(1 << 20, 'z');
    bn_wq_push(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops, big, SIZE_MAX);
    bn_buf_unref(big);
    /* The write request cannot be allocated: WRITE_ERROR, nothing pending. */
    malloc_fail = 1;
    assert_int_equal(bn_wq_flush(&p.o.wq, (uv_stream_t *)&p.o.pipe, &ops), -1);
    assert_int_equal(p.o.closes, 1);
    assert_int_equal(p.o.reason, BN_CLOSE_WRITE_ERROR);
    assert_int_equal(p.o.wq.inflight, 0);
    pair_close(&p);
}

int main(void)
{
    cur_ops = &ops;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_to_ring_and_wrap),
        cmocka_unit_test(test_drop_unsent),
        cmocka_unit_test(test_move_unsent),
        cmocka_unit_test(test_ring_oom),
        cmocka_unit_test(test_flush_writev),
        cmocka_unit_test(test_flush_eagain_uv_write),
        cmocka_unit_test(test_transform),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_cap_flushes_first),
        cmocka_unit_test(test_request_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
