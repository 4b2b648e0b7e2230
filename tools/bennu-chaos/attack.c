/* Wire side of the attacks; contracts in attack.h. */
#include "attack.h"

#include <string.h>

#include "schedule.h"

static const char *const tamper_names[] = {
#define BNC_TAMPER_NAME(name, text, expect) text,
    BNC_TAMPER_MAP(BNC_TAMPER_NAME)
#undef BNC_TAMPER_NAME
};

static const char *const tamper_expect[] = {
#define BNC_TAMPER_EXPECT(name, text, expect) expect,
    BNC_TAMPER_MAP(BNC_TAMPER_EXPECT)
#undef BNC_TAMPER_EXPECT
};

const char *bnc_tamper_name(bnc_tamper_kind_t k)
{
    return (unsigned)k < BNC_TAMPER_COUNT ? tamper_names[k] : "?";
}

const char *bnc_tamper_expect(bnc_tamper_kind_t k)
{
    return (unsigned)k < BNC_TAMPER_COUNT ? tamper_expect[k] : "?";
}

void bnc_ftrack_init(bnc_ftrack_t *tr)
{
    memset(tr, 0, sizeof(*tr));
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void random_bytes(uint8_t *p, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(bnc_rng_next(rng) >> 56);
    }
}

int bnc_tamper_arm(bnc_tamper_t *t, bnc_tamper_kind_t kind, const bnc_ftrack_t *tr,
                   const uint8_t *old, size_t old_len, uint64_t *rng)
{
    memset(t, 0, offsetof(bnc_tamper_t, inject));
    t->inject_len = 0;
    t->kind = kind;
    uint32_t len;
    switch (kind) {
    case BNC_TAMPER_FLIP:
        t->flip_at = (uint32_t)(bnc_rng_next(rng) >> 32);
        t->flip_xor = (uint8_t)(1u << bnc_rng_below(rng, 8));
        break;
    case BNC_TAMPER_REPLAY:
        if (tr->last_len == 0) {
            return -1;
        }
        memcpy(t->inject, tr->last, tr->last_len);
        t->inject_len = tr->last_len;
        break;
    case BNC_TAMPER_REPLAY_OLD:
        if (old == NULL || old_len == 0 || old_len > sizeof(t->inject)) {
            return -1;
        }
        memcpy(t->inject, old, old_len);
        t->inject_len = old_len;
        break;
    case BNC_TAMPER_GARBAGE:
    case BNC_TAMPER_SHORT:
        len =
            kind == BNC_TAMPER_GARBAGE ? 17 + bnc_rng_below(rng, 284) : 1 + bnc_rng_below(rng, 15);
        put_be32(t->inject, len);
        random_bytes(t->inject + 4, len, rng);
        t->inject_len = 4 + (size_t)len;
        break;
    case BNC_TAMPER_EMPTY:
        put_be32(t->inject, 0);
        t->inject_len = 4;
        break;
    case BNC_TAMPER_HUGE:
        put_be32(t->inject, 0x7fffffffu);
        t->inject_len = 4;
        break;
    default:
        return -1;
    }
    t->armed = true;
    return 0;
}

static bool injects(const bnc_tamper_t *t)
{
    return t->kind != BNC_TAMPER_FLIP;
}

static void frame_done(bnc_ftrack_t *tr)
{
    tr->frames++;
    if (tr->cur_ok) {
        memcpy(tr->last, tr->cur, tr->cur_len);
        tr->last_len = tr->cur_len;
    }
    tr->hdr_have = 0;
    tr->body_len = 0;
    tr->body_pos = 0;
    tr->cur_len = 0;
    tr->cur_ok = false;
}

void bnc_ftrack_walk(bnc_ftrack_t *tr, uint8_t *data, size_t n, bnc_tamper_t *t, bnc_emit_fn emit,
                     void *ud)
{
    size_t seg = 0; /* start of the bytes not yet emitted */
    size_t i = 0;
    for (;;) {
        if (t != NULL && t->armed && injects(t) && tr->hdr_have == 0) {
            /* A frame boundary: the made-up frame goes in here. */
            if (i > seg) {
                emit(ud, data + seg, i - seg);
            }
            seg = i;
            emit(ud, t->inject, t->inject_len);
            t->armed = false;
            t->done = true;
            t->frame = tr->frames;
            t->detail = (uint32_t)t->inject_len;
        }
        if (i >= n) {
            break;
        }
        if (tr->hdr_have < 4) {
            tr->hdr[tr->hdr_have++] = data[i];
            tr->cur[tr->cur_len++] = data[i];
            i++;
            if (tr->hdr_have < 4) {
                continue;
            }
            tr->body_len = ((uint32_t)tr->hdr[0] << 24) | ((uint32_t)tr->hdr[1] << 16) |
                           ((uint32_t)tr->hdr[2] << 8) | tr->hdr[3];
            tr->body_pos = 0;
            tr->cur_ok = tr->body_len <= BNC_FRAME_REC_MAX;
            if (t != NULL && t->armed && !injects(t) && tr->body_len > 0) {
                t->armed = false;
                t->victim = true;
                t->flip_at %= tr->body_len;
                t->frame = tr->frames;
                t->detail = t->flip_at;
            }
            if (tr->body_len == 0) {
                frame_done(tr);
            }
            continue;
        }
        size_t left = tr->body_len - tr->body_pos;
        size_t k = n - i < left ? n - i : left;
        if (t != NULL && t->victim && t->flip_at >= tr->body_pos && t->flip_at < tr->body_pos + k) {
            data[i + (t->flip_at - tr->body_pos)] ^= t->flip_xor;
            t->victim = false;
            t->done = true;
        }
        if (tr->cur_ok) {
            memcpy(tr->cur + tr->cur_len, data + i, k);
            tr->cur_len += k;
        }
        tr->body_pos += (uint32_t)k;
        i += k;
        if (tr->body_pos == tr->body_len) {
            frame_done(tr);
        }
    }
    if (n > seg) {
        emit(ud, data + seg, n - seg);
    }
}

void bnc_hello_frame(uint8_t out[BNC_HELLO_FRAME_LEN], uint64_t *rng)
{
    /* Envelope: 08 02 (version 2), 52 44 (field 10, Hello, 68 bytes);
     * Hello: 0a 20 nonce, 12 20 kx_public (proto/mesh.proto). */
    uint8_t *p = out;
    put_be32(p, BNC_HELLO_FRAME_LEN - 4);
    p += 4;
    *p++ = 0x08;
    *p++ = 0x02;
    *p++ = 0x52;
    *p++ = 0x44;
    *p++ = 0x0a;
    *p++ = 0x20;
    random_bytes(p, 32, rng);
    p += 32;
    *p++ = 0x12;
    *p++ = 0x20;
    random_bytes(p, 32, rng);
}
