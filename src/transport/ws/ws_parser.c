/* Incremental RFC 6455 frame parser for client-to-server frames, and the
 * server frame header writer.
 *
 * Memory model: a frame that lies wholly inside the caller's buffer is
 * unmasked where it lies and handed to the callback by pointer, so the common
 * case copies nothing. Only the bytes of a frame cut off by the end of the
 * input are copied into p->partial, which grows geometrically up to that
 * frame's size (never above header + max_frame) and is freed as soon as the
 * frame completes. Fragmented messages are reassembled in p->msg, bounded by
 * max_message and freed when the message is delivered.
 *
 * Every header field is checked as soon as its byte is available, so limits
 * and protocol violations are reported before any payload is buffered. */
#include <stdlib.h>
#include <string.h>

#include "transport/ws/ws.h"

/* Largest client header: 2 bytes, 8-byte extended length, 4-byte mask key. */
#define WS_MAX_HEADER 14
/* First allocation for a partial frame; small frames fit without regrowth. */
#define WS_PARTIAL_MIN 256

#define WS_FIN 0x80
#define WS_RSV 0x70
#define WS_OPCODE 0x0F
#define WS_MASK 0x80
#define WS_LEN7 0x7F

/* --------------------------------------------------------------------------
 * Header checks
 * -------------------------------------------------------------------------- */

static bool opcode_known(uint8_t op)
{
    return op == BN_WS_OP_CONT || op == BN_WS_OP_TEXT || op == BN_WS_OP_BINARY ||
           op == BN_WS_OP_CLOSE || op == BN_WS_OP_PING || op == BN_WS_OP_PONG;
}

static bool opcode_is_control(uint8_t op)
{
    return (op & 0x08) != 0;
}

/* Checks the first n bytes of a frame (n >= 1) against the protocol and the
 * parser's state. Returns a close code, or 0 with *need set to the number of
 * bytes required for the next step: the header length while the header is
 * incomplete, and header + payload once it is complete (then *hdr_len and
 * *pay_len are set too; otherwise *hdr_len is 0). Being a pure function of
 * the bytes and the parser state, it may be re-run as more bytes arrive. */
static int header_check(const bn_ws_parser_t *p, const uint8_t *b, size_t n, size_t *need,
                        size_t *hdr_len, uint64_t *pay_len)
{
    uint8_t op = b[0] & WS_OPCODE;
    bool fin = (b[0] & WS_FIN) != 0;

    *hdr_len = 0;
    *need = 2;
    /* No extension is negotiated, so every reserved bit must be clear (§5.2). */
    if ((b[0] & WS_RSV) != 0 || !opcode_known(op)) {
        return BN_WS_CLOSE_PROTOCOL;
    }
    if (opcode_is_control(op)) {
        /* Control frames may not be fragmented (§5.5). */
        if (!fin) {
            return BN_WS_CLOSE_PROTOCOL;
        }
    } else if (op == BN_WS_OP_CONT) {
        if (p->msg_opcode == 0) {
            return BN_WS_CLOSE_PROTOCOL;
        }
    } else if (p->msg_opcode != 0) {
        /* A new message may not start inside a fragmented one (§5.4). */
        return BN_WS_CLOSE_PROTOCOL;
    }
    if (n < 2) {
        return 0;
    }

    /* Clients must mask every frame (§5.1). */
    if ((b[1] & WS_MASK) == 0) {
        return BN_WS_CLOSE_PROTOCOL;
    }
    uint8_t len7 = b[1] & WS_LEN7;
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (opcode_is_control(op) && len7 > 125) {
        return BN_WS_CLOSE_PROTOCOL;
    }
    size_t hl = 2 + ext + 4;
    *need = hl;

    /* Check the length as soon as its bytes are here, before the mask key, so
     * an oversized frame is refused at the earliest possible byte. */
    uint64_t len;
    if (ext == 0) {
        len = len7;
    } else if (n >= 2 + ext) {
        len = 0;
        for (size_t i = 0; i < ext; i++) {
            len = (len << 8) | b[2 + i];
        }
        /* §5.2: the most significant bit of a 64-bit length must be 0. */
        if (ext == 8 && (len >> 63) != 0) {
            return BN_WS_CLOSE_PROTOCOL;
        }
    } else {
        return 0;
    }
    if (len > p->limits->max_frame || len > SIZE_MAX - WS_MAX_HEADER) {
        return BN_WS_CLOSE_TOO_BIG;
    }
    if (!opcode_is_control(op)) {
        /* msg_len never exceeds max_message, so the subtraction is safe. */
        size_t have = op == BN_WS_OP_CONT ? p->msg_len : 0;
        if (len > p->limits->max_message - have) {
            return BN_WS_CLOSE_TOO_BIG;
        }
    }
    if (n < hl) {
        return 0;
    }
    *hdr_len = hl;
    *pay_len = len;
    *need = hl + (size_t)len;
    return 0;
}

/* --------------------------------------------------------------------------
 * Frame handling
 * -------------------------------------------------------------------------- */

/* XORs the payload with the 4-byte key (§5.3). The key is widened to 64 bits
 * by memcpy so that byte order is preserved on any host. */
static void unmask(uint8_t *d, size_t n, const uint8_t key[4])
{
    uint64_t k64;
    size_t i = 0;

    memcpy(&k64, key, 4);
    memcpy((uint8_t *)&k64 + 4, key, 4);
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, d + i, 8);
        w ^= k64;
        memcpy(d + i, &w, 8);
    }
    for (; i < n; i++) {
        d[i] ^= key[i & 3];
    }
}

/* §7.4: codes a peer may put on the wire. 1004, 1005, 1006 and 1015 are
 * reserved for local use, 1016..2999 are unassigned, 3000..4999 belong to
 * libraries and applications. */
static bool close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int handle_close(bn_ws_parser_t *p, uint8_t *pay, size_t len, bn_ws_event_cb cb, void *ud)
{
    uint16_t code = BN_WS_CLOSE_NO_STATUS;

    if (len == 1) {
        return BN_WS_CLOSE_PROTOCOL;
    }
    if (len >= 2) {
        code = (uint16_t)((pay[0] << 8) | pay[1]);
        if (!close_code_valid(code)) {
            return BN_WS_CLOSE_PROTOCOL;
        }
        if (!bn_utf8_valid(pay + 2, len - 2)) {
            return BN_WS_CLOSE_INVALID_DATA;
        }
        pay += 2;
        len -= 2;
    }
    /* Set before the callback so a handler that inspects the parser sees it. */
    p->closed = true;
    return cb(ud, BN_WS_EV_CLOSE, pay, len, code);
}

static void msg_reset(bn_ws_parser_t *p)
{
    free(p->msg);
    p->msg = NULL;
    p->msg_len = 0;
    p->msg_cap = 0;
    p->msg_opcode = 0;
    p->utf8_state = BN_UTF8_ACCEPT;
}

/* Appends a fragment to the reassembly buffer. The header check has already
 * bounded msg_len + n by max_message, and capacity never exceeds it. */
static int msg_append(bn_ws_parser_t *p, const uint8_t *d, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (p->msg_cap - p->msg_len < n) {
        size_t want = p->msg_len + n;
        size_t cap = p->msg_cap < SIZE_MAX / 2 ? p->msg_cap * 2 : SIZE_MAX;
        if (cap < want) {
            cap = want;
        }
        if (cap > p->limits->max_message) {
            cap = p->limits->max_message;
        }
        uint8_t *m = realloc(p->msg, cap);
        if (m == NULL) {
            return BN_WS_CLOSE_INTERNAL;
        }
        p->msg = m;
        p->msg_cap = cap;
    }
    memcpy(p->msg + p->msg_len, d, n);
    p->msg_len += n;
    return 0;
}

/* Handles one complete, header-checked frame at f (in the caller's buffer or
 * in p->partial). Returns 0, a close code, or the callback's return. */
static int frame_process(bn_ws_parser_t *p, uint8_t *f, size_t hl, size_t pl, bn_ws_event_cb cb,
                         void *ud)
{
    uint8_t op = f[0] & WS_OPCODE;
    bool fin = (f[0] & WS_FIN) != 0;
    uint8_t *pay = f + hl;

    unmask(pay, pl, f + hl - 4);
    switch (op) {
    case BN_WS_OP_PING:
        return cb(ud, BN_WS_EV_PING, pay, pl, 0);
    case BN_WS_OP_PONG:
        return cb(ud, BN_WS_EV_PONG, pay, pl, 0);
    case BN_WS_OP_CLOSE:
        return handle_close(p, pay, pl, cb, ud);
    case BN_WS_OP_TEXT:
    case BN_WS_OP_BINARY:
        if (fin) {
            if (op == BN_WS_OP_TEXT && !bn_utf8_valid(pay, pl)) {
                return BN_WS_CLOSE_INVALID_DATA;
            }
            return cb(ud, op == BN_WS_OP_TEXT ? BN_WS_EV_TEXT : BN_WS_EV_BINARY, pay, pl, 0);
        }
        p->msg_opcode = op;
        p->utf8_state = BN_UTF8_ACCEPT;
        break;
    default: /* BN_WS_OP_CONT; header_check admitted no other opcode */
        break;
    }

    /* A fragment of a message: validate text before buffering it so bad
     * UTF-8 fails on the fragment that carries it (§8.1). */
    bool text = p->msg_opcode == BN_WS_OP_TEXT;
    if (text) {
        p->utf8_state = bn_utf8_feed(p->utf8_state, pay, pl);
        if (p->utf8_state == BN_UTF8_REJECT || (fin && p->utf8_state != BN_UTF8_ACCEPT)) {
            return BN_WS_CLOSE_INVALID_DATA;
        }
    }
    int rc = msg_append(p, pay, pl);
    if (rc != 0 || !fin) {
        return rc;
    }
    /* An all-empty message never allocated; give the callback a valid pointer. */
    uint8_t *data = p->msg != NULL ? p->msg : pay;
    rc = cb(ud, text ? BN_WS_EV_TEXT : BN_WS_EV_BINARY, data, p->msg_len, 0);
    msg_reset(p);
    return rc;
}

/* --------------------------------------------------------------------------
 * Partial frames
 * -------------------------------------------------------------------------- */

static void partial_drop(bn_ws_parser_t *p)
{
    free(p->partial);
    p->partial = NULL;
    p->partial_len = 0;
    p->partial_cap = 0;
}

/* Appends n bytes to p->partial. limit is the size of the frame being
 * collected (or the largest header while its length is unknown), so capacity
 * never exceeds header + max_frame. */
static int partial_append(bn_ws_parser_t *p, const uint8_t *d, size_t n, size_t limit)
{
    size_t want = p->partial_len + n;

    if (want > p->partial_cap) {
        size_t cap = p->partial_cap < WS_PARTIAL_MIN ? WS_PARTIAL_MIN : p->partial_cap;
        while (cap < want && cap < SIZE_MAX / 2) {
            cap *= 2;
        }
        if (cap > limit) {
            cap = limit;
        }
        if (cap < want) {
            cap = want;
        }
        uint8_t *b = realloc(p->partial, cap);
        if (b == NULL) {
            return BN_WS_CLOSE_INTERNAL;
        }
        p->partial = b;
        p->partial_cap = cap;
    }
    memcpy(p->partial + p->partial_len, d, n);
    p->partial_len = want;
    return 0;
}

/* Continues a frame held in p->partial with input from data[*off..len).
 * Consumes only that frame's bytes. On completion processes the frame and
 * frees the buffer; otherwise all input has been absorbed. */
static int partial_feed(bn_ws_parser_t *p, const uint8_t *data, size_t len, size_t *off,
                        bn_ws_event_cb cb, void *ud)
{
    for (;;) {
        size_t need;
        size_t hl;
        uint64_t pl;
        int rc = header_check(p, p->partial, p->partial_len, &need, &hl, &pl);
        if (rc != 0) {
            return rc;
        }
        if (hl != 0 && p->partial_len == need) {
            rc = frame_process(p, p->partial, hl, (size_t)pl, cb, ud);
            partial_drop(p);
            return rc;
        }
        size_t take = need - p->partial_len;
        if (take > len - *off) {
            take = len - *off;
        }
        if (take == 0) {
            return 0;
        }
        rc = partial_append(p, data + *off, take, hl != 0 ? need : WS_MAX_HEADER);
        if (rc != 0) {
            return rc;
        }
        *off += take;
    }
}

/* --------------------------------------------------------------------------
 * Public API
 * -------------------------------------------------------------------------- */

void bn_ws_parser_init(bn_ws_parser_t *p, const bn_ws_limits_t *limits)
{
    memset(p, 0, sizeof *p);
    p->limits = limits;
    p->utf8_state = BN_UTF8_ACCEPT;
}

void bn_ws_parser_free(bn_ws_parser_t *p)
{
    partial_drop(p);
    msg_reset(p);
}

int bn_ws_parser_feed(bn_ws_parser_t *p, uint8_t *data, size_t len, bn_ws_event_cb cb, void *ud)
{
    size_t off = 0;
    int rc;

    /* §5.5.1: nothing after a close frame is data; drop it unread. */
    if (p->closed) {
        return 0;
    }
    if (p->partial_len > 0) {
        rc = partial_feed(p, data, len, &off, cb, ud);
        if (rc != 0 || p->partial_len > 0 || p->closed) {
            return rc;
        }
    }
    while (off < len) {
        uint8_t *f = data + off;
        size_t avail = len - off;
        size_t need;
        size_t hl;
        uint64_t pl;

        rc = header_check(p, f, avail, &need, &hl, &pl);
        if (rc != 0) {
            return rc;
        }
        if (avail < need) {
            /* The frame is cut off by the end of the input: keep its bytes
             * (already checked against the limits) until the rest arrives. */
            return partial_append(p, f, avail, hl != 0 ? need : WS_MAX_HEADER);
        }
        rc = frame_process(p, f, hl, (size_t)pl, cb, ud);
        off += need;
        if (rc != 0 || p->closed) {
            return rc;
        }
    }
    return 0;
}

size_t bn_ws_parser_held(const bn_ws_parser_t *p)
{
    return p->partial_cap + p->msg_cap;
}

size_t bn_ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(WS_FIN | (opcode & WS_OPCODE));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) {
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    }
    return 10;
}
