/* Refcounted byte buffers: the unit of sharing on the fanout path.
 *
 * A broadcast is encoded into one bn_buf_t and the same buffer is queued on
 * every subscriber's connection, each queue entry holding one reference.
 * Every buffer reserves BN_BUF_HEADROOM bytes in front of its body so a
 * transport can prepend its frame header in place (a server WebSocket header
 * is at most 10 bytes) without copying the body.
 *
 * Owner: whoever holds a reference; the last bn_buf_unref frees it. */
#ifndef BN_CORE_BUF_H
#define BN_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BN_BUF_HEADROOM 14

typedef struct bn_buf_s {
    /* private */
    uint32_t refs;
    /* read-only */
    uint32_t head;       /* bytes of frame header written before the body */
    size_t len;          /* body length */
    size_t cap;          /* body capacity */
    unsigned binary : 1; /* body is a binary message (WebSocket opcode 2) */
    unsigned framed : 1; /* a transport header has been written in the headroom */
    char mem[];          /* BN_BUF_HEADROOM bytes of headroom, then the body */
} bn_buf_t;

/* Allocates a buffer with room for cap body bytes; refs = 1. NULL on OOM. */
bn_buf_t *bn_buf_new(size_t cap);
static inline bn_buf_t *bn_buf_ref(bn_buf_t *b)
{
    b->refs++;
    return b;
}
void bn_buf_unref(bn_buf_t *b);

static inline char *bn_buf_body(bn_buf_t *b)
{
    return b->mem + BN_BUF_HEADROOM;
}
/* The framed bytes: header (if any) followed by the body. */
static inline char *bn_buf_wire(bn_buf_t *b)
{
    return b->mem + BN_BUF_HEADROOM - b->head;
}
static inline size_t bn_buf_wire_len(const bn_buf_t *b)
{
    return b->head + b->len;
}

/* Appends n bytes, growing the buffer (which must still have refs == 1).
 * Returns 0 or -1 on OOM; *bp may move. */
int bn_buf_append(bn_buf_t **bp, const void *data, size_t n);

#endif
