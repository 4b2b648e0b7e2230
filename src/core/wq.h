/* One write queue for every outgoing TCP stream: client connections
 * (src/transport/conn.c) and mesh links (src/mesh/link.c).
 *
 * A ring of refcounted buffers (each entry holds one reference), in two
 * inline slots until a burst needs more, then in a heap ring that
 * bn_wq_shrink returns to the inline slots once the owner finds it idle.
 * bn_wq_flush writes with writev directly on the descriptor first (the
 * common case, a socket with room, costs one system call and no libuv
 * bookkeeping); only what the kernel did not take goes to one uv_write, whose
 * request lives on the heap while pending and owns the `inflight` entries
 * from the head. Partly written head entries are tracked by `off`, so the
 * byte stream stays a sequence of whole entries.
 *
 * The queue stores neither its owner nor callbacks (a client connection's
 * size is budgeted, docs/memory.md): each owner type has one static const
 * bn_wq_ops_t, passed to the calls that can report something, and finds
 * itself from the queue with bn_container_of. With the flush inlined and the
 * ops a constant, the compiler calls the hooks directly.
 *
 * What the queue reports:
 *  - close(q, WRITE_ERROR): a write failed, a uv_write could not start, or a
 *    ring or request allocation failed; close(q, SLOW_CONSUMER): bn_wq_push
 *    found the hard cap passed even after writing what the socket took. The
 *    call that reported it returns -1 and touches the queue no more; the
 *    owner closes (it may still push, e.g. a close frame, from the hook).
 *  - wrote(q, n, direct): n bytes left the queue, from a writev on the
 *    descriptor (direct: counted once per system call, n may be 0 when the
 *    socket took nothing) or from a completed uv_write. Flow control, stats.
 *  - write_done(q): a uv_write completed; the owner flushes again (or
 *    finishes a close that waited for the queue).
 *  - transform(q) (optional): called before every write that starts with no
 *    write pending, when every entry is unsent; it may replace the entries
 *    with what goes on the wire (bn_wq_replace_all). The mesh link seals its
 *    plaintext frames into one buffer here, so frames stay plaintext while
 *    queued and can move to a link with other keys (bn_wq_move_unsent).
 *    Returns 0, or -1 to report close(q, WRITE_ERROR).
 *
 * Owner: the stream's owner; bn_wq_release before freeing it (a pending
 * uv_write is cancelled by the handle's close first, which reports nothing
 * the owner must act on: its close hook must be idempotent). */
#ifndef BN_CORE_WQ_H
#define BN_CORE_WQ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <uv.h>

#include "core/buf.h"
#include "core/close_reason.h"

#define BN_WQ_INLINE 2      /* entries inside the queue: no ring for one frame at a time */
#define BN_WQ_IOV_BATCH 128 /* entries per writev / uv_write */

typedef struct bn_wq_s {
    uint32_t head, len, cap; /* ring position, entries, slots (a power of two) */
    uint32_t inflight;       /* entries from the head a pending uv_write owns; 0 = none pending */
    bn_buf_t **ring;         /* `inl`, or a heap ring */
    bn_buf_t *inl[BN_WQ_INLINE];
    size_t off;   /* bytes of the head entry already written */
    size_t bytes; /* queued bytes not yet written */
} bn_wq_t;

typedef struct bn_wq_ops_s {
    void (*close)(bn_wq_t *q, bn_close_reason_t reason);
    void (*wrote)(bn_wq_t *q, size_t n, bool direct);
    void (*write_done)(bn_wq_t *q);
    int (*transform)(bn_wq_t *q); /* NULL: entries are written as they are */
} bn_wq_ops_t;

/* uv_buf_t has the layout of struct iovec on Unix (libuv documents it), so
 * the same array feeds writev and uv_write. */
_Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec) &&
                   offsetof(uv_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(uv_buf_t, len) == offsetof(struct iovec, iov_len),
               "uv_buf_t must be an iovec");

static inline void bn_wq_init(bn_wq_t *q)
{
    q->head = q->len = q->inflight = 0;
    q->cap = BN_WQ_INLINE;
    q->ring = q->inl;
    q->off = q->bytes = 0;
}

static inline bool bn_wq_empty(const bn_wq_t *q)
{
    return q->len == 0;
}

/* Whether the entries live in a heap ring. */
static inline bool bn_wq_has_ring(const bn_wq_t *q)
{
    return q->ring != q->inl;
}

/* The i-th entry from the head (i < len). */
static inline bn_buf_t *bn_wq_at(const bn_wq_t *q, uint32_t i)
{
    return q->ring[(q->head + i) & (q->cap - 1)];
}

/* The first entry nobody is writing: after the pending uv_write's entries
 * and after a partly written head. */
static inline uint32_t bn_wq_unsent_start(const bn_wq_t *q)
{
    return q->inflight > 0 ? q->inflight : (q->len > 0 && q->off > 0 ? 1 : 0);
}

/* Stores a reference to b at the tail; the ring must have room. */
static inline void bn__wq_store(bn_wq_t *q, bn_buf_t *b)
{
    q->ring[(q->head + q->len) & (q->cap - 1)] = bn_buf_ref(b);
    q->len++;
    q->bytes += bn_buf_wire_len(b);
}

/* Cold paths of bn_wq_push (wq.c). */
int bn__wq_push_over(bn_wq_t *q, uv_stream_t *s, const bn_wq_ops_t *ops, bn_buf_t *b, size_t cap);
int bn__wq_push_grow(bn_wq_t *q, const bn_wq_ops_t *ops, bn_buf_t *b);

/* bn__wq_store, growing a full ring first (0, 1 or -1 as bn_wq_push). */
static inline int bn__wq_put(bn_wq_t *q, const bn_wq_ops_t *ops, bn_buf_t *b)
{
    if (q->len == q->cap) {
        return bn__wq_push_grow(q, ops, b);
    }
    bn__wq_store(q, b);
    return 0;
}

/* Queues a reference to b (its wire bytes). Past `cap` queued bytes, what
 * the socket takes is written first (unless a uv_write is pending) and the
 * cap judged after: still past it, close(q, SLOW_CONSUMER) and -1. Returns
 * 0, 1 when the entries just moved from the inline slots to a heap ring,
 * -1 when b was not queued (close was reported). */
static inline int bn_wq_push(bn_wq_t *q, uv_stream_t *s, const bn_wq_ops_t *ops, bn_buf_t *b,
                             size_t cap)
{
    if (q->bytes + bn_buf_wire_len(b) > cap) {
        return bn__wq_push_over(q, s, ops, b, cap);
    }
    return bn__wq_put(q, ops, b);
}

/* Drops n written bytes from the head of the queue, then reports them. */
static inline void bn_wq_consume(bn_wq_t *q, const bn_wq_ops_t *ops, size_t n, bool direct)
{
    size_t left_n = n;
    q->bytes -= n;
    while (left_n > 0) {
        bn_buf_t *b = q->ring[q->head];
        size_t left = bn_buf_wire_len(b) - q->off;
        if (left_n < left) {
            q->off += left_n;
            break;
        }
        left_n -= left;
        q->off = 0;
        bn_buf_unref(b);
        q->head = (q->head + 1) & (q->cap - 1);
        q->len--;
    }
    ops->wrote(q, n, direct);
}

/* Fills iov from the head of the queue; returns the count and, in *total,
 * the bytes they cover. */
static inline size_t bn_wq_iov(const bn_wq_t *q, uv_buf_t *iov, size_t max, size_t *total)
{
    size_t n = 0, bytes = 0;
    uint32_t mask = q->cap - 1;
    for (uint32_t i = 0; i < q->len && n < max; i++) {
        bn_buf_t *b = q->ring[(q->head + i) & mask];
        size_t off = i == 0 ? q->off : 0;
        size_t len = bn_buf_wire_len(b) - off;
        iov[n].base = bn_buf_wire(b) + off;
        iov[n].len = len;
        bytes += len;
        n++;
    }
    *total = bytes;
    return n;
}

/* One writev on the stream's descriptor: bytes written, 0 when the socket
 * takes nothing now, or a negative errno. */
static inline ssize_t bn_wq_writev(uv_stream_t *s, const uv_buf_t *iov, size_t n)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)s, &fd) != 0) {
        return UV_EBADF;
    }
    ssize_t w;
    do {
        w = writev(fd, (const struct iovec *)iov, (int)n);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    return w;
}

/* Hands the rest of the queue to one uv_write (wq.c). 1, or -1 (close
 * reported). */
int bn__wq_write_rest(bn_wq_t *q, uv_stream_t *s, const bn_wq_ops_t *ops);

/* Writes what the socket takes now and hands the rest to one uv_write.
 * Does nothing while a uv_write is pending (its callback reports
 * write_done). Returns 0 when the queue is empty, 1 when bytes wait (a
 * uv_write is pending), -1 when close was reported. */
static inline int bn_wq_flush(bn_wq_t *q, uv_stream_t *s, const bn_wq_ops_t *ops)
{
    uv_buf_t iov[BN_WQ_IOV_BATCH];
    while (q->inflight == 0 && q->len > 0) {
        if (ops->transform != NULL && ops->transform(q) != 0) {
            ops->close(q, BN_CLOSE_WRITE_ERROR);
            return -1;
        }
        size_t total = 0;
        size_t n = bn_wq_iov(q, iov, BN_WQ_IOV_BATCH, &total);
        ssize_t w = bn_wq_writev(s, iov, n);
        if (w < 0) {
            ops->wrote(q, 0, true);
            ops->close(q, BN_CLOSE_WRITE_ERROR);
            return -1;
        }
        bn_wq_consume(q, ops, (size_t)w, true);
        if ((size_t)w != total) {
            /* The socket buffer is full: the rest waits for it to drain. */
            return bn__wq_write_rest(q, s, ops);
        }
    }
    return q->len > 0 ? 1 : 0;
}

/* Drops every entry nobody is writing (a slow consumer's backlog): the
 * pending uv_write's entries and a partly written head stay, so the stream
 * remains a sequence of whole entries. */
void bn_wq_drop_unsent(bn_wq_t *q);
/* Moves the entries of `from` nobody is writing to the tail of `to`, in
 * order (references move with them). 0, or -1 when `to`'s ring could not
 * grow: then nothing moved. */
int bn_wq_move_unsent(bn_wq_t *to, bn_wq_t *from);
/* For transform: replaces every entry (all unsent) with b, whose reference
 * the queue takes over. */
void bn_wq_replace_all(bn_wq_t *q, bn_buf_t *b);
/* Returns an idle heap ring to the inline slots; true if one was freed. */
bool bn_wq_shrink(bn_wq_t *q);
/* Drops every entry and the heap ring; true if a ring was freed. */
bool bn_wq_release(bn_wq_t *q);

#endif
