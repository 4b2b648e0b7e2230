/* Incremental reader for mesh frames: a 4-byte big-endian length, then the
 * body. The declared length is checked against the limit as soon as the
 * four header bytes are in, before any buffer is sized from it. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mesh/internal.h"

#define FRAME_HDR 4u
#define FRAME_MIN_CAP 16384u
#define FRAME_SHRINK_CAP (256u * 1024u)

void bn__frame_reader_init(bn__frame_reader_t *r, size_t max_frame)
{
    memset(r, 0, sizeof(*r));
    r->max_frame = max_frame;
}

void bn__frame_reader_free(bn__frame_reader_t *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void reader_reserve(bn__frame_reader_t *r, size_t need)
{
    /* Move unconsumed bytes to the front first: often that is enough. */
    if (r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->cap - r->len >= need) {
        return;
    }
    /* Before authentication the frame limit is tiny: so is the buffer. */
    size_t floor = r->max_frame + 4 < FRAME_MIN_CAP ? r->max_frame + 4 : FRAME_MIN_CAP;
    size_t cap = r->cap < floor ? floor : r->cap;
    while (cap - r->len < need) {
        cap *= 2;
    }
    uint8_t *nb = bn_xrealloc(r->buf, cap);
    r->buf = nb;
    r->cap = cap;
}

void bn__frame_reader_space(bn__frame_reader_t *r, size_t min, uint8_t **p, size_t *avail)
{
    /* Never hand out NULL (+0): a reader asked for 0 bytes still gets room. */
    size_t need = min > 0 ? min : 1;
    size_t held = r->len - r->off;
    if (held >= FRAME_HDR) {
        const uint8_t *h = r->buf + r->off;
        size_t flen = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
        /* Only a length that passed the limit may size the buffer. */
        if (flen <= r->max_frame && FRAME_HDR + flen > held && FRAME_HDR + flen - held > need) {
            need = FRAME_HDR + flen - held;
        }
    }
    if (r->cap - r->len < need || (r->off > 0 && r->off == r->len)) {
        reader_reserve(r, need);
    }
    *p = r->buf + r->len;
    *avail = r->cap - r->len;
}

void bn__frame_reader_commit(bn__frame_reader_t *r, size_t n)
{
    r->len += n;
}

void bn__frame_reader_feed(bn__frame_reader_t *r, const void *data, size_t len)
{
    if (len == 0) {
        return;
    }
    uint8_t *p;
    size_t avail;
    bn__frame_reader_space(r, len, &p, &avail);
    memcpy(p, data, len);
    bn__frame_reader_commit(r, len);
}

int bn__frame_next(bn__frame_reader_t *r, const uint8_t **body, size_t *len)
{
    size_t held = r->len - r->off;
    if (held < FRAME_HDR) {
        return BN__FRAME_MORE;
    }
    const uint8_t *h = r->buf + r->off;
    size_t flen = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    if (flen > r->max_frame) {
        return BN__FRAME_TOO_LARGE;
    }
    if (flen == 0) {
        /* Every frame carries an Envelope with at least its version. */
        return BN__FRAME_EMPTY;
    }
    if (held < FRAME_HDR + flen) {
        return BN__FRAME_MORE;
    }
    *body = h + FRAME_HDR;
    *len = flen;
    r->off += FRAME_HDR + flen;
    return BN__FRAME_OK;
}

void bn__frame_reader_compact(bn__frame_reader_t *r)
{
    if (r->off == r->len) {
        r->off = 0;
        r->len = 0;
        if (r->cap > FRAME_SHRINK_CAP) {
            free(r->buf);
            r->buf = NULL;
            r->cap = 0;
        }
    }
}
