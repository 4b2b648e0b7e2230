#include "core/wq.h"

#include <stdlib.h>

#include "core/queue.h"

/* A pending uv_write: the request and what its callback needs, on the heap
 * only while it is pending (an idle queue carries no request). */
typedef struct {
    uv_write_t req;
    bn_wq_t *q;
    const bn_wq_ops_t *ops;
} bn__wq_req_t;

/* Copies the entries into a ring of cap slots (cap >= len). */
static int ring_resize(bn_wq_t *q, uint32_t cap)
{
    bn_buf_t **ring = malloc(cap * sizeof(*ring));
    if (ring == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < q->len; i++) {
        ring[i] = bn_wq_at(q, i);
    }
    if (bn_wq_has_ring(q)) {
        free(q->ring);
    }
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* Room for `more` entries; 1 if a heap ring replaced the inline slots. */
static int ring_reserve(bn_wq_t *q, uint32_t more)
{
    if (q->len + more <= q->cap) {
        return 0;
    }
    uint32_t cap = q->cap < 8 ? 8 : q->cap * 2;
    while (cap < q->len + more) {
        cap *= 2;
    }
    bool was_inline = !bn_wq_has_ring(q);
    if (ring_resize(q, cap) != 0) {
        return -1;
    }
    return was_inline ? 1 : 0;
}

int bn__wq_push_grow(bn_wq_t *q, const bn_wq_ops_t *ops, bn_buf_t *b)
{
    int grew = ring_reserve(q, 1);
    if (grew < 0) {
        ops->close(q, BN_CLOSE_WRITE_ERROR);
        return -1;
    }
    bn__wq_store(q, b);
    return grew;
}

int bn__wq_push_over(bn_wq_t *q, uv_stream_t *s, const bn_wq_ops_t *ops, bn_buf_t *b, size_t cap)
{
    size_t n = bn_buf_wire_len(b);
    if (q->inflight == 0 && bn_wq_flush(q, s, ops) < 0) {
        /* The limit is on what the kernel would not take: a burst produced
         * within one loop turn is written out before anyone is judged. */
        return -1;
    }
    if (q->bytes + n > cap) {
        ops->close(q, BN_CLOSE_SLOW_CONSUMER);
        return -1;
    }
    return bn__wq_put(q, ops, b);
}

static void on_write(uv_write_t *req, int status)
{
    bn__wq_req_t *r = bn_container_of(req, bn__wq_req_t, req);
    bn_wq_t *q = r->q;
    const bn_wq_ops_t *ops = r->ops;
    free(r);
    if (status < 0) {
        /* Also UV_ECANCELED when the owner closed the handle: its close
         * hook ignores a second close. The entries stay until release. */
        q->inflight = 0;
        ops->close(q, BN_CLOSE_WRITE_ERROR);
        return;
    }
    size_t bytes = 0;
    for (uint32_t i = 0; i < q->inflight; i++) {
        bytes += bn_buf_wire_len(bn_wq_at(q, i)) - (i == 0 ? q->off : 0);
    }
    q->inflight = 0;
    bn_wq_consume(q, ops, bytes, false);
    ops->write_done(q);
}

int bn__wq_write_rest(bn_wq_t *q, uv_stream_t *s, const bn_wq_ops_t *ops)
{
    uv_buf_t iov[BN_WQ_IOV_BATCH];
    size_t total = 0;
    size_t n = bn_wq_iov(q, iov, BN_WQ_IOV_BATCH, &total);
    bn__wq_req_t *r = malloc(sizeof(*r));
    if (r == NULL) {
        ops->close(q, BN_CLOSE_WRITE_ERROR);
        return -1;
    }
    r->q = q;
    r->ops = ops;
    if (uv_write(&r->req, s, iov, (unsigned)n, on_write) != 0) {
        free(r);
        ops->close(q, BN_CLOSE_WRITE_ERROR);
        return -1;
    }
    q->inflight = (uint32_t)n;
    return 1;
}

void bn_wq_drop_unsent(bn_wq_t *q)
{
    uint32_t keep = bn_wq_unsent_start(q);
    while (q->len > keep) {
        uint32_t last = (q->head + q->len - 1) & (q->cap - 1);
        q->bytes -= bn_buf_wire_len(q->ring[last]);
        bn_buf_unref(q->ring[last]);
        q->len--;
    }
}

int bn_wq_move_unsent(bn_wq_t *to, bn_wq_t *from)
{
    uint32_t first = bn_wq_unsent_start(from);
    uint32_t n = from->len - first;
    if (n == 0) {
        return 0;
    }
    if (ring_reserve(to, n) < 0) {
        return -1;
    }
    for (uint32_t i = first; i < from->len; i++) {
        bn_buf_t *b = bn_wq_at(from, i);
        size_t len = bn_buf_wire_len(b);
        to->ring[(to->head + to->len) & (to->cap - 1)] = b;
        to->len++;
        to->bytes += len;
        from->bytes -= len;
    }
    from->len = first;
    return 0;
}

/* Drops every entry. */
static void unref_all(bn_wq_t *q)
{
    while (q->len > 0) {
        bn_buf_unref(q->ring[q->head]);
        q->head = (q->head + 1) & (q->cap - 1);
        q->len--;
    }
    q->head = 0;
    q->off = 0;
    q->bytes = 0;
}

void bn_wq_replace_all(bn_wq_t *q, bn_buf_t *b)
{
    unref_all(q);
    q->ring[0] = b;
    q->len = 1;
    q->bytes = bn_buf_wire_len(b);
}

bool bn_wq_shrink(bn_wq_t *q)
{
    if (!bn_wq_has_ring(q) || q->len > 0) {
        return false;
    }
    free(q->ring);
    q->ring = q->inl;
    q->cap = BN_WQ_INLINE;
    q->head = 0;
    return true;
}

bool bn_wq_release(bn_wq_t *q)
{
    unref_all(q);
    q->inflight = 0;
    return bn_wq_shrink(q);
}
