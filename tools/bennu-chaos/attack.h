/* The wire side of bennu-chaos's attacks, as pure code (no I/O, no libuv):
 *
 *  - a tracker of the mesh framing (a 4-byte big-endian length, then the
 *    body) for one direction of a proxied connection, which remembers the
 *    last complete frame;
 *  - the tampering of the mitm scenario: one armed attack is applied to the
 *    bytes being forwarded at its first chance (a flipped bit inside the
 *    body of the next frame, or a whole frame injected at the next frame
 *    boundary), and what the receiving node must answer with;
 *  - the valid-looking Hello of the flood scenario.
 *
 * Ownership: plain structs owned by the caller (the proxy connection). */
#ifndef BNC_ATTACK_H
#define BNC_ATTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(enum, name, the close reason the receiver of the bad frame must log).
 * Every frame after the handshake is sealed with a counter nonce, so any
 * change to a body, a frame from the past (of this connection or of an
 * earlier one, under other keys) and any made-up body fail to open; a zero
 * length is not a frame; a length over the limit is refused before the
 * body arrives. */
#define BNC_TAMPER_MAP(X)                                                                      \
    X(BNC_TAMPER_FLIP, "flip", "decrypt_failed")             /* one bit of a frame body */     \
    X(BNC_TAMPER_REPLAY, "replay", "decrypt_failed")         /* the last frame, again */       \
    X(BNC_TAMPER_REPLAY_OLD, "replay_old", "decrypt_failed") /* a frame of an earlier conn. */ \
    X(BNC_TAMPER_GARBAGE, "garbage", "decrypt_failed")       /* 17..300 random bytes */        \
    X(BNC_TAMPER_SHORT, "short", "decrypt_failed")           /* 1..15 bytes: under a tag */    \
    X(BNC_TAMPER_EMPTY, "empty", "bad_frame")                /* length 0 */                    \
    X(BNC_TAMPER_HUGE, "huge", "frame_too_large")            /* length 2^31 - 1 */

typedef enum {
#define BNC_TAMPER_ENUM(name, text, expect) name,
    BNC_TAMPER_MAP(BNC_TAMPER_ENUM)
#undef BNC_TAMPER_ENUM
        BNC_TAMPER_COUNT
} bnc_tamper_kind_t;

const char *bnc_tamper_name(bnc_tamper_kind_t k);
/* The close reason (as the node logs it) the receiver must give. */
const char *bnc_tamper_expect(bnc_tamper_kind_t k);

/* Frames up to this body size are remembered for replays. */
#define BNC_FRAME_REC_MAX 4096u

typedef struct bnc_ftrack_s {
    /* read-only */
    uint64_t frames;                     /* complete frames seen */
    uint8_t last[4 + BNC_FRAME_REC_MAX]; /* the last complete frame that fitted, prefix included */
    size_t last_len;                     /* 0 = none yet */
    /* private */
    uint8_t hdr[4];
    unsigned hdr_have;
    uint32_t body_len;
    uint32_t body_pos;
    uint8_t cur[4 + BNC_FRAME_REC_MAX];
    size_t cur_len;
    bool cur_ok;
} bnc_ftrack_t;

void bnc_ftrack_init(bnc_ftrack_t *tr);

/* One attack on one direction of one connection. */
typedef struct bnc_tamper_s {
    /* read-only */
    bnc_tamper_kind_t kind;
    bool armed;      /* waiting for its chance */
    bool done;       /* applied */
    uint64_t frame;  /* flip: index of the frame changed; injection: frames before it */
    uint32_t detail; /* flip: body offset; injection: bytes injected */
    /* private */
    bool victim; /* flip: the current frame is the one */
    uint32_t flip_at;
    uint8_t flip_xor;
    uint8_t inject[4 + BNC_FRAME_REC_MAX];
    size_t inject_len;
} bnc_tamper_t;

/* Arms t with kind. Replays copy their frame now: the tracker's last frame,
 * or old[0..old_len) (a frame an earlier connection carried the same way).
 * Returns 0, or -1 if there is nothing to replay yet. rng: bnc_rng state. */
int bnc_tamper_arm(bnc_tamper_t *t, bnc_tamper_kind_t kind, const bnc_ftrack_t *tr,
                   const uint8_t *old, size_t old_len, uint64_t *rng);

typedef void (*bnc_emit_fn)(void *ud, const uint8_t *p, size_t n);

/* Walks n bytes of one direction through the tracker and hands them, in
 * order, to emit. An armed t (may be NULL) is applied at its first chance:
 * an injection is emitted at the next frame boundary (the start of data
 * counts when the tracker is between frames), a flip changes one bit of the
 * body of the next frame whose length arrives. data is changed in place by
 * a flip. */
void bnc_ftrack_walk(bnc_ftrack_t *tr, uint8_t *data, size_t n, bnc_tamper_t *t, bnc_emit_fn emit,
                     void *ud);

/* The flood's Hello: a complete protocol-2 frame (length prefix, Envelope
 * {version 2, Hello {32-byte nonce, 32-byte X25519 key}}) with random
 * nonce and key: plausible enough for the node to answer with a Challenge. */
#define BNC_HELLO_FRAME_LEN 76u
void bnc_hello_frame(uint8_t out[BNC_HELLO_FRAME_LEN], uint64_t *rng);

#endif
