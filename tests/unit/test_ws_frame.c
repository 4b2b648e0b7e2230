/* Tests for the WebSocket frame parser, frame header writer and UTF-8
 * validator (src/transport/ws/ws_parser.c, utf8.c).
 *
 * Inputs are described as tables of client frames that a small builder turns
 * into wire bytes, so each case states its intent (opcode, mask key, length
 * form) rather than a hex dump. Each feed copies its piece into an exact-size
 * heap buffer so ASan catches any read past what the parser was given. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/ws/ws.h"

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

/* --------------------------------------------------------------------------
 * Frame builder
 * -------------------------------------------------------------------------- */

typedef struct {
    uint8_t b0;        /* FIN | RSV | opcode */
    const char *pay;   /* payload bytes (NULL with len 0, or a long filler) */
    size_t len;        /* payload bytes actually written */
    int form;          /* 0 = minimal length encoding, 16 or 64 forces that form */
    int unmasked;      /* 1 = omit the mask (a protocol error from a client) */
    uint32_t key;      /* mask key, big-endian as on the wire */
    uint64_t declared; /* nonzero: length written in the header instead of len */
} fspec_t;

#define S(str) str, sizeof(str) - 1
/* A payload of n bytes from the filler pattern. */
#define FILL(n) filler, (n)

static char filler[70000];

static void filler_init(void)
{
    for (size_t i = 0; i < sizeof filler; i++) {
        filler[i] = (char)('a' + i % 26);
    }
}

static size_t put_frame(uint8_t *out, const fspec_t *f)
{
    uint64_t L = f->declared != 0 ? f->declared : f->len;
    size_t n = 0;
    int form = f->form;
    uint8_t mask = f->unmasked ? 0 : 0x80;

    if (form == 0) {
        form = L < 126 ? 7 : L <= 0xFFFF ? 16 : 64;
    }
    out[n++] = f->b0;
    if (form == 7) {
        out[n++] = (uint8_t)(mask | L);
    } else if (form == 16) {
        out[n++] = mask | 126;
        out[n++] = (uint8_t)(L >> 8);
        out[n++] = (uint8_t)L;
    } else {
        out[n++] = mask | 127;
        for (int i = 0; i < 8; i++) {
            out[n++] = (uint8_t)(L >> (56 - 8 * i));
        }
    }
    uint8_t key[4] = {(uint8_t)(f->key >> 24), (uint8_t)(f->key >> 16), (uint8_t)(f->key >> 8),
                      (uint8_t)f->key};
    if (!f->unmasked) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < f->len; i++) {
        uint8_t c = (uint8_t)f->pay[i];
        out[n++] = f->unmasked ? c : (uint8_t)(c ^ key[i & 3]);
    }
    return n;
}

/* --------------------------------------------------------------------------
 * Event recorder
 * -------------------------------------------------------------------------- */

#define MAX_EV 8

typedef struct {
    bn_ws_event_t ev;
    const char *data;
    size_t len;
    uint16_t code;
} want_t;

typedef struct {
    size_t n;
    struct {
        bn_ws_event_t ev;
        uint8_t *data;
        size_t len;
        uint16_t code;
    } evs[MAX_EV];
    int stop_after;       /* return 42 after this many events; 0 = never */
    const uint8_t *in_lo; /* the caller buffer of the current feed */
    const uint8_t *in_hi;
    size_t in_place; /* events whose data pointed into the caller buffer */
} rec_t;

static int rec_cb(void *ud, bn_ws_event_t ev, uint8_t *data, size_t len, uint16_t code)
{
    rec_t *r = ud;
    assert_true(r->n < MAX_EV);
    assert_true(data != NULL || len == 0);
    r->evs[r->n].ev = ev;
    r->evs[r->n].len = len;
    r->evs[r->n].code = code;
    r->evs[r->n].data = malloc(len + 1);
    assert_non_null(r->evs[r->n].data);
    if (len > 0) {
        memcpy(r->evs[r->n].data, data, len);
    }
    if (data != NULL && data >= r->in_lo && data + len <= r->in_hi) {
        r->in_place++;
    }
    r->n++;
    if (r->stop_after != 0 && (int)r->n >= r->stop_after) {
        return 42;
    }
    return 0;
}

static void rec_clear(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->evs[i].data);
    }
    int stop = r->stop_after;
    memset(r, 0, sizeof *r);
    r->stop_after = stop;
}

static int feed_piece(bn_ws_parser_t *p, rec_t *r, const uint8_t *src, size_t n)
{
    uint8_t *buf = malloc(n == 0 ? 1 : n);
    assert_non_null(buf);
    memcpy(buf, src, n);
    r->in_lo = buf;
    r->in_hi = buf + n;
    int rc = bn_ws_parser_feed(p, buf, n, rec_cb, r);
    r->in_lo = r->in_hi = NULL;
    free(buf);
    return rc;
}

static void check_events(const char *name, const char *how, const rec_t *r, const want_t *want,
                         size_t nwant)
{
    if (r->n != nwant) {
        fail_msg("case %s (%s): %zu events, want %zu", name, how, r->n, nwant);
    }
    for (size_t i = 0; i < nwant; i++) {
        const want_t *w = &want[i];
        if (r->evs[i].ev != w->ev || r->evs[i].len != w->len || r->evs[i].code != w->code ||
            (w->len > 0 && memcmp(r->evs[i].data, w->data, w->len) != 0)) {
            fail_msg("case %s (%s): event %zu differs (ev %d len %zu code %u)", name, how, i,
                     (int)r->evs[i].ev, r->evs[i].len, r->evs[i].code);
        }
    }
}

/* --------------------------------------------------------------------------
 * Case tables
 * -------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const bn_ws_limits_t *limits; /* NULL = small_limits */
    fspec_t frames[6];
    size_t nframes;
    want_t want[MAX_EV];
    size_t nwant;
    int rc; /* 0 for valid input, else the expected close code */
} case_t;

static const bn_ws_limits_t small_limits = {.max_frame = 1000, .max_message = 1500};
static const bn_ws_limits_t big_limits = {.max_frame = 1 << 20, .max_message = 1 << 20};
static const bn_ws_limits_t msg_lt_frame = {.max_frame = 1000, .max_message = 500};

#define TEXT (FIN | BN_WS_OP_TEXT)
#define BIN (FIN | BN_WS_OP_BINARY)
#define PING (FIN | BN_WS_OP_PING)
#define PONG (FIN | BN_WS_OP_PONG)
#define CLOSE (FIN | BN_WS_OP_CLOSE)
#define CONT_FIN (FIN | BN_WS_OP_CONT)
#define K1 0x37fa213du

static const case_t valid_cases[] = {
    {"text", NULL, {{TEXT, S("Hello"), 0, 0, K1, 0}}, 1, {{BN_WS_EV_TEXT, S("Hello"), 0}}, 1, 0},
    {"binary_with_nul",
     NULL,
     {{BIN, S("a\0b\xff\x01"), 0, 0, 0x00000000u, 0}},
     1,
     {{BN_WS_EV_BINARY, S("a\0b\xff\x01"), 0}},
     1,
     0},
    {"mask_ffffffff",
     NULL,
     {{TEXT, S("thirteen byte"), 0, 0, 0xffffffffu, 0}},
     1,
     {{BN_WS_EV_TEXT, S("thirteen byte"), 0}},
     1,
     0},
    {"mask_01020304_long",
     NULL,
     {{BIN, S("0123456789abcdefghijklmnopq"), 0, 0, 0x01020304u, 0}},
     1,
     {{BN_WS_EV_BINARY, S("0123456789abcdefghijklmnopq"), 0}},
     1,
     0},
    {"mask_80000001_utf8",
     NULL,
     {{TEXT, S("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 0, 0, 0x80000001u, 0}},
     1,
     {{BN_WS_EV_TEXT, S("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 0}},
     1,
     0},
    {"len16_300",
     NULL,
     {{BIN, FILL(300), 0, 0, 0xdeadbeefu, 0}},
     1,
     {{BN_WS_EV_BINARY, FILL(300), 0}},
     1,
     0},
    {"len16_nonminimal",
     NULL,
     {{TEXT, S("abc"), 16, 0, K1, 0}},
     1,
     {{BN_WS_EV_TEXT, S("abc"), 0}},
     1,
     0},
    {"len64_nonminimal",
     NULL,
     {{TEXT, S("abc"), 64, 0, K1, 0}},
     1,
     {{BN_WS_EV_TEXT, S("abc"), 0}},
     1,
     0},
    {"len64_70000",
     &big_limits,
     {{BIN, FILL(70000), 0, 0, 0x12345678u, 0}},
     1,
     {{BN_WS_EV_BINARY, FILL(70000), 0}},
     1,
     0},
    {"exactly_max_frame",
     NULL,
     {{BIN, FILL(1000), 0, 0, K1, 0}},
     1,
     {{BN_WS_EV_BINARY, FILL(1000), 0}},
     1,
     0},
    {"fragmented_text_with_ping",
     NULL,
     {{BN_WS_OP_TEXT, S("Hel"), 0, 0, K1, 0},
      {PING, S("p"), 0, 0, 0x01010101u, 0},
      {BN_WS_OP_CONT, S("lo"), 0, 0, 0xa0b0c0d0u, 0},
      {CONT_FIN, S("!"), 0, 0, K1, 0}},
     4,
     {{BN_WS_EV_PING, S("p"), 0}, {BN_WS_EV_TEXT, S("Hello!"), 0}},
     2,
     0},
    {"fragmented_codepoint_split",
     NULL,
     {{BN_WS_OP_TEXT, S("x\xf0\x9f"), 0, 0, K1, 0},
      {BN_WS_OP_CONT, S("\x98"), 0, 0, K1, 0},
      {PONG, S(""), 0, 0, K1, 0},
      {CONT_FIN, S("\x80y"), 0, 0, K1, 0}},
     4,
     {{BN_WS_EV_PONG, S(""), 0}, {BN_WS_EV_TEXT, S("x\xf0\x9f\x98\x80y"), 0}},
     2,
     0},
    {"fragmented_binary_empty_first",
     NULL,
     {{BN_WS_OP_BINARY, S(""), 0, 0, K1, 0}, {CONT_FIN, S("\x00\x01"), 0, 0, K1, 0}},
     2,
     {{BN_WS_EV_BINARY, S("\x00\x01"), 0}},
     1,
     0},
    {"fragmented_all_empty",
     NULL,
     {{BN_WS_OP_TEXT, S(""), 0, 0, K1, 0},
      {BN_WS_OP_CONT, S(""), 0, 0, K1, 0},
      {CONT_FIN, S(""), 0, 0, K1, 0}},
     3,
     {{BN_WS_EV_TEXT, S(""), 0}},
     1,
     0},
    {"fragmented_exactly_max_message",
     NULL,
     {{BN_WS_OP_BINARY, FILL(1000), 0, 0, K1, 0}, {CONT_FIN, filler + 1000, 500, 0, 0, K1, 0}},
     2,
     {{BN_WS_EV_BINARY, FILL(1500), 0}},
     1,
     0},
    {"empty_payloads",
     NULL,
     {{TEXT, S(""), 0, 0, K1, 0},
      {BIN, S(""), 0, 0, K1, 0},
      {PING, S(""), 0, 0, K1, 0},
      {PONG, S(""), 0, 0, K1, 0}},
     4,
     {{BN_WS_EV_TEXT, S(""), 0},
      {BN_WS_EV_BINARY, S(""), 0},
      {BN_WS_EV_PING, S(""), 0},
      {BN_WS_EV_PONG, S(""), 0}},
     4,
     0},
    {"ping_125", NULL, {{PING, FILL(125), 0, 0, K1, 0}}, 1, {{BN_WS_EV_PING, FILL(125), 0}}, 1, 0},
    {"several_in_one",
     NULL,
     {{TEXT, S("one"), 0, 0, K1, 0},
      {PING, S("two"), 0, 0, 0x11223344u, 0},
      {BIN, S("three"), 0, 0, 0u, 0}},
     3,
     {{BN_WS_EV_TEXT, S("one"), 0}, {BN_WS_EV_PING, S("two"), 0}, {BN_WS_EV_BINARY, S("three"), 0}},
     3,
     0},
    {"close_code_reason",
     NULL,
     {{CLOSE,
       S("\x03\xe8"
         "bye"),
       0, 0, K1, 0}},
     1,
     {{BN_WS_EV_CLOSE, S("bye"), 1000}},
     1,
     0},
    {"close_code_only_3000",
     NULL,
     {{CLOSE, S("\x0b\xb8"), 0, 0, K1, 0}},
     1,
     {{BN_WS_EV_CLOSE, S(""), 3000}},
     1,
     0},
    {"close_4999_utf8_reason",
     NULL,
     {{CLOSE, S("\x13\x87\xc3\xa9"), 0, 0, K1, 0}},
     1,
     {{BN_WS_EV_CLOSE, S("\xc3\xa9"), 4999}},
     1,
     0},
    {"close_1014",
     NULL,
     {{CLOSE, S("\x03\xf6"), 0, 0, K1, 0}},
     1,
     {{BN_WS_EV_CLOSE, S(""), 1014}},
     1,
     0},
    {"close_empty",
     NULL,
     {{CLOSE, S(""), 0, 0, K1, 0}},
     1,
     {{BN_WS_EV_CLOSE, S(""), BN_WS_CLOSE_NO_STATUS}},
     1,
     0},
    {"bytes_after_close_ignored",
     NULL,
     {{CLOSE, S("\x03\xe9"), 0, 0, K1, 0},
      {TEXT, S("late"), 0, 0, K1, 0},
      {0x73, S("garbage"), 0, 1, 0, 0}},
     3,
     {{BN_WS_EV_CLOSE, S(""), 1001}},
     1,
     0},
    {"close_inside_fragmented",
     NULL,
     {{BN_WS_OP_TEXT, S("par"), 0, 0, K1, 0}, {CLOSE, S("\x03\xe8"), 0, 0, K1, 0}},
     2,
     {{BN_WS_EV_CLOSE, S(""), 1000}},
     1,
     0},
};

static const case_t bad_cases[] = {
    {"unmasked_text", NULL, {{TEXT, S("hi"), 0, 1, 0, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"unmasked_close", NULL, {{CLOSE, S(""), 0, 1, 0, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"rsv1", NULL, {{TEXT | RSV1, S("hi"), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"rsv2", NULL, {{BIN | RSV2, S("hi"), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"rsv3_ping", NULL, {{PING | RSV3, S(""), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"opcode_3", NULL, {{FIN | 0x3, S("x"), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"opcode_7", NULL, {{FIN | 0x7, S("x"), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"opcode_B", NULL, {{FIN | 0xB, S("x"), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"opcode_F", NULL, {{FIN | 0xF, S(""), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"ping_not_fin",
     NULL,
     {{BN_WS_OP_PING, S("x"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_not_fin",
     NULL,
     {{BN_WS_OP_CLOSE, S(""), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"ping_126", NULL, {{PING, FILL(126), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"pong_len16_form", NULL, {{PONG, S("x"), 16, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"close_len_1", NULL, {{CLOSE, S("\x03"), 0, 0, K1, 0}}, 1, {{0}}, 0, BN_WS_CLOSE_PROTOCOL},
    {"close_code_0",
     NULL,
     {{CLOSE, S("\x00\x00"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_999",
     NULL,
     {{CLOSE, S("\x03\xe7"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_1004",
     NULL,
     {{CLOSE, S("\x03\xec"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_1005",
     NULL,
     {{CLOSE, S("\x03\xed"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_1006",
     NULL,
     {{CLOSE, S("\x03\xee"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_1015",
     NULL,
     {{CLOSE, S("\x03\xf7"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_1016",
     NULL,
     {{CLOSE, S("\x03\xf8"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_2999",
     NULL,
     {{CLOSE, S("\x0b\xb7"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_5000",
     NULL,
     {{CLOSE, S("\x13\x88"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_code_65535",
     NULL,
     {{CLOSE, S("\xff\xff"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"close_reason_bad_utf8",
     NULL,
     {{CLOSE, S("\x03\xe8ok\xc0\x80"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    {"close_reason_truncated_utf8",
     NULL,
     {{CLOSE, S("\x03\xe8\xe2\x82"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    {"cont_without_start",
     NULL,
     {{CONT_FIN, S("x"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"cont_after_complete",
     NULL,
     {{TEXT, S("done"), 0, 0, K1, 0}, {BN_WS_OP_CONT, S("x"), 0, 0, K1, 0}},
     2,
     {{BN_WS_EV_TEXT, S("done"), 0}},
     1,
     BN_WS_CLOSE_PROTOCOL},
    {"text_inside_fragmented",
     NULL,
     {{BN_WS_OP_TEXT, S("a"), 0, 0, K1, 0}, {TEXT, S("b"), 0, 0, K1, 0}},
     2,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"binary_inside_fragmented",
     NULL,
     {{BN_WS_OP_TEXT, S("a"), 0, 0, K1, 0},
      {PING, S(""), 0, 0, K1, 0},
      {BN_WS_OP_BINARY, S("b"), 0, 0, K1, 0}},
     3,
     {{BN_WS_EV_PING, S(""), 0}},
     1,
     BN_WS_CLOSE_PROTOCOL},
    {"text_bad_utf8",
     NULL,
     {{TEXT, S("ok\xff"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    {"text_overlong",
     NULL,
     {{TEXT, S("\xc0\x80"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    {"text_surrogate",
     NULL,
     {{TEXT, S("\xed\xa0\x80"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    {"text_truncated",
     NULL,
     {{TEXT, S("ab\xe2\x82"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    /* Fail fast: the bad byte is in the first fragment; no FIN ever arrives. */
    {"fragment_bad_utf8_fails_fast",
     NULL,
     {{BN_WS_OP_TEXT, S("ok\xf5"), 0, 0, K1, 0}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    {"fragment_surrogate_across_frames",
     NULL,
     {{BN_WS_OP_TEXT, S("\xed"), 0, 0, K1, 0}, {BN_WS_OP_CONT, S("\xa0\x80"), 0, 0, K1, 0}},
     2,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    {"fragments_end_truncated",
     NULL,
     {{BN_WS_OP_TEXT, S("a\xf0\x9f"), 0, 0, K1, 0}, {CONT_FIN, S("\x98"), 0, 0, K1, 0}},
     2,
     {{0}},
     0,
     BN_WS_CLOSE_INVALID_DATA},
    /* Only the header is present: the limit must trip before any payload. */
    {"frame_over_max_frame",
     NULL,
     {{BIN, NULL, 0, 0, 0, K1, 1001}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_TOO_BIG},
    {"frame_over_max_frame_len64",
     NULL,
     {{TEXT, NULL, 0, 64, 0, K1, 1001}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_TOO_BIG},
    {"frame_huge_len64",
     NULL,
     {{BIN, NULL, 0, 64, 0, K1, UINT64_C(0x7fffffffffffffff)}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_TOO_BIG},
    {"len64_msb_set",
     &big_limits,
     {{BIN, NULL, 0, 64, 0, K1, UINT64_C(0x8000000000000001)}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_PROTOCOL},
    {"message_over_max_message",
     NULL,
     {{BN_WS_OP_BINARY, FILL(800), 0, 0, K1, 0}, {CONT_FIN, NULL, 0, 0, 0, K1, 800}},
     2,
     {{0}},
     0,
     BN_WS_CLOSE_TOO_BIG},
    {"single_frame_over_max_message",
     &msg_lt_frame,
     {{TEXT, NULL, 0, 0, 0, K1, 501}},
     1,
     {{0}},
     0,
     BN_WS_CLOSE_TOO_BIG},
    {"events_before_error_kept",
     NULL,
     {{TEXT, S("ok"), 0, 0, K1, 0}, {PONG, S("x"), 0, 0, K1, 0}, {BIN, S("y"), 0, 1, 0, 0}},
     3,
     {{BN_WS_EV_TEXT, S("ok"), 0}, {BN_WS_EV_PONG, S("x"), 0}},
     2,
     BN_WS_CLOSE_PROTOCOL},
};

#define NVALID (sizeof valid_cases / sizeof valid_cases[0])
#define NBAD (sizeof bad_cases / sizeof bad_cases[0])

/* Builds a case's wire bytes into a fresh heap buffer. */
static uint8_t *build(const case_t *c, size_t *len)
{
    size_t cap = 0;
    for (size_t i = 0; i < c->nframes; i++) {
        cap += 14 + c->frames[i].len;
    }
    uint8_t *b = malloc(cap);
    assert_non_null(b);
    *len = 0;
    for (size_t i = 0; i < c->nframes; i++) {
        *len += put_frame(b + *len, &c->frames[i]);
    }
    return b;
}

static const bn_ws_limits_t *case_limits(const case_t *c)
{
    return c->limits != NULL ? c->limits : &small_limits;
}

/* Feeds in pieces whose ends are listed in cuts (the last must be len),
 * stopping at the first nonzero return, and checks events and result. */
static void run_cuts(const case_t *c, const uint8_t *in, size_t len, const size_t *cuts,
                     size_t ncuts, const char *how)
{
    bn_ws_parser_t p;
    rec_t r;
    size_t start = 0;
    int rc = 0;

    assert_true(ncuts > 0 && cuts[ncuts - 1] == len);
    memset(&r, 0, sizeof r);
    bn_ws_parser_init(&p, case_limits(c));
    for (size_t i = 0; i < ncuts && rc == 0; i++) {
        rc = feed_piece(&p, &r, in + start, cuts[i] - start);
        start = cuts[i];
        /* Bytes held never exceed one frame plus one message. */
        size_t bound = 14 + case_limits(c)->max_frame + case_limits(c)->max_message;
        if (bn_ws_parser_held(&p) > bound) {
            fail_msg("case %s (%s): holds %zu bytes", c->name, how, bn_ws_parser_held(&p));
        }
    }
    if (rc != c->rc) {
        fail_msg("case %s (%s): rc %d, want %d", c->name, how, rc, c->rc);
    }
    check_events(c->name, how, &r, c->want, c->nwant);
    if (c->rc == 0 && !p.closed && bn_ws_parser_held(&p) != 0) {
        fail_msg("case %s (%s): still holds %zu bytes", c->name, how, bn_ws_parser_held(&p));
    }
    rec_clear(&r);
    bn_ws_parser_free(&p);
    assert_int_equal(bn_ws_parser_held(&p), 0);
}

static void run_table(const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint8_t *in = build(&cases[i], &len);
        run_cuts(&cases[i], in, len, &len, 1, "whole");
        free(in);
    }
}

static void test_valid_whole(void **state)
{
    (void)state;
    run_table(valid_cases, NVALID);
}

static void test_bad_whole(void **state)
{
    (void)state;
    run_table(bad_cases, NBAD);
}

/* Every cut point for inputs up to 4 KiB; a stride for the large one keeps
 * the quadratic cost in check while still cutting headers and the tail. */
static void split_table(const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint8_t *in = build(&cases[i], &len);
        size_t stride = len <= 4096 ? 1 : 997;
        for (size_t cut = 1; cut < len; cut = cut < 16 || cut + 16 > len ? cut + 1 : cut + stride) {
            size_t cuts[2] = {cut, len};
            char how[32];
            snprintf(how, sizeof how, "cut at %zu", cut);
            run_cuts(&cases[i], in, len, cuts, 2, how);
        }
        free(in);
    }
}

static void test_valid_split(void **state)
{
    (void)state;
    split_table(valid_cases, NVALID);
}

static void test_bad_split(void **state)
{
    (void)state;
    split_table(bad_cases, NBAD);
}

static void bytewise_table(const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint8_t *in = build(&cases[i], &len);
        size_t *cuts = malloc(len * sizeof *cuts);
        assert_non_null(cuts);
        for (size_t k = 0; k < len; k++) {
            cuts[k] = k + 1;
        }
        run_cuts(&cases[i], in, len, cuts, len, "byte by byte");
        free(cuts);
        free(in);
    }
}

static void test_valid_bytewise(void **state)
{
    (void)state;
    bytewise_table(valid_cases, NVALID);
}

static void test_bad_bytewise(void **state)
{
    (void)state;
    bytewise_table(bad_cases, NBAD);
}

/* Three pieces with both cuts at every position, for a multi-frame input. */
static void test_three_way_split(void **state)
{
    (void)state;
    const case_t *c = NULL;
    for (size_t i = 0; i < NVALID; i++) {
        if (strcmp(valid_cases[i].name, "fragmented_text_with_ping") == 0) {
            c = &valid_cases[i];
        }
    }
    assert_non_null(c);
    size_t len;
    uint8_t *in = build(c, &len);
    for (size_t a = 1; a < len; a++) {
        for (size_t b = a; b < len; b++) {
            size_t cuts[3] = {a, b, len};
            run_cuts(c, in, len, cuts, 3, "three-way");
        }
    }
    free(in);
}

/* --------------------------------------------------------------------------
 * Specific behaviour
 * -------------------------------------------------------------------------- */

/* RFC 6455 §5.7: a single-frame masked text message "Hello". */
static void test_rfc_example_bytes(void **state)
{
    (void)state;
    uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    bn_ws_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof r);
    bn_ws_parser_init(&p, &small_limits);
    assert_int_equal(feed_piece(&p, &r, in, sizeof in), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.evs[0].ev, BN_WS_EV_TEXT);
    assert_int_equal(r.evs[0].len, 5);
    assert_memory_equal(r.evs[0].data, "Hello", 5);
    rec_clear(&r);
    bn_ws_parser_free(&p);
}

/* Whole frames are delivered from the caller's buffer, unmasked in place,
 * with nothing allocated; only a cut-off frame is held. */
static void test_in_place_and_partial(void **state)
{
    (void)state;
    fspec_t f = {TEXT, S("in place please"), 0, 0, K1, 0};
    uint8_t wire[64];
    size_t n = put_frame(wire, &f);
    bn_ws_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof r);
    bn_ws_parser_init(&p, &small_limits);

    uint8_t buf[64];
    memcpy(buf, wire, n);
    r.in_lo = buf;
    r.in_hi = buf + n;
    assert_int_equal(bn_ws_parser_feed(&p, buf, n, rec_cb, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.in_place, 1);
    assert_int_equal(bn_ws_parser_held(&p), 0);
    assert_null(p.partial);
    /* The payload was unmasked where it lay. */
    assert_memory_equal(buf + n - f.len, "in place please", f.len);
    rec_clear(&r);

    /* Half a frame is held, then released when the rest arrives. */
    assert_int_equal(feed_piece(&p, &r, wire, 9), 0);
    assert_int_equal(r.n, 0);
    assert_true(bn_ws_parser_held(&p) >= 9);
    assert_true(bn_ws_parser_held(&p) <= n);
    assert_int_equal(feed_piece(&p, &r, wire + 9, n - 9), 0);
    assert_int_equal(r.n, 1);
    assert_memory_equal(r.evs[0].data, "in place please", f.len);
    assert_int_equal(bn_ws_parser_held(&p), 0);
    assert_null(p.partial);
    rec_clear(&r);

    /* A frame completed from partial, followed by whole frames in the same
     * input: the later frames are still delivered in place. */
    uint8_t two[128];
    memcpy(two, wire, n);
    memcpy(two + n, wire, n);
    assert_int_equal(feed_piece(&p, &r, two, 3), 0);
    assert_int_equal(feed_piece(&p, &r, two + 3, 2 * n - 3), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.in_place, 1);
    assert_int_equal(bn_ws_parser_held(&p), 0);
    rec_clear(&r);
    bn_ws_parser_free(&p);
}

/* An oversized frame is refused on its header, holding no payload. */
static void test_too_big_from_header(void **state)
{
    (void)state;
    bn_ws_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof r);
    uint8_t hdr[14];

    /* 16-bit length 1001: refused as soon as the length bytes arrive, before
     * the mask key. */
    bn_ws_parser_init(&p, &small_limits);
    fspec_t f = {BIN, NULL, 0, 0, 0, K1, 1001};
    put_frame(hdr, &f);
    assert_int_equal(feed_piece(&p, &r, hdr, 3), 0);
    assert_true(bn_ws_parser_held(&p) <= 14);
    assert_int_equal(feed_piece(&p, &r, hdr + 3, 1), BN_WS_CLOSE_TOO_BIG);
    assert_int_equal(r.n, 0);
    bn_ws_parser_free(&p);

    /* Second fragment would push the message past max_message. */
    bn_ws_parser_init(&p, &small_limits);
    fspec_t first = {BN_WS_OP_BINARY, FILL(900), 0, 0, K1, 0};
    uint8_t *wire = malloc(1000);
    assert_non_null(wire);
    size_t n = put_frame(wire, &first);
    assert_int_equal(feed_piece(&p, &r, wire, n), 0);
    fspec_t second = {BN_WS_OP_CONT, NULL, 0, 0, 0, K1, 601};
    n = put_frame(wire, &second);
    assert_int_equal(feed_piece(&p, &r, wire, 4), BN_WS_CLOSE_TOO_BIG);
    free(wire);
    bn_ws_parser_free(&p);
    assert_int_equal(bn_ws_parser_held(&p), 0);
}

/* A nonzero callback return stops parsing and is returned as is. */
static void test_callback_stops(void **state)
{
    (void)state;
    const case_t *c = NULL;
    for (size_t i = 0; i < NVALID; i++) {
        if (strcmp(valid_cases[i].name, "several_in_one") == 0) {
            c = &valid_cases[i];
        }
    }
    assert_non_null(c);
    size_t len;
    uint8_t *in = build(c, &len);
    for (int stop = 1; stop <= 3; stop++) {
        bn_ws_parser_t p;
        rec_t r;
        memset(&r, 0, sizeof r);
        r.stop_after = stop;
        bn_ws_parser_init(&p, &small_limits);
        assert_int_equal(feed_piece(&p, &r, in, len), 42);
        assert_int_equal(r.n, (size_t)stop);
        rec_clear(&r);
        bn_ws_parser_free(&p);
    }
    /* Also when the event comes from a frame completed in p->partial, which
     * must still be released. */
    bn_ws_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof r);
    r.stop_after = 1;
    bn_ws_parser_init(&p, &small_limits);
    assert_int_equal(feed_piece(&p, &r, in, 2), 0);
    assert_int_equal(feed_piece(&p, &r, in + 2, len - 2), 42);
    assert_int_equal(r.n, 1);
    assert_int_equal(bn_ws_parser_held(&p), 0);
    rec_clear(&r);
    bn_ws_parser_free(&p);
    free(in);
}

/* Freeing mid-frame and mid-message releases everything (ASan checks). */
static void test_free_midstream(void **state)
{
    (void)state;
    fspec_t frames[2] = {{BN_WS_OP_TEXT, FILL(200), 0, 0, K1, 0},
                         {BN_WS_OP_CONT, FILL(200), 0, 0, K1, 0}};
    uint8_t wire[512];
    size_t n = put_frame(wire, &frames[0]);
    n += put_frame(wire + n, &frames[1]);
    bn_ws_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof r);
    bn_ws_parser_init(&p, &small_limits);
    assert_int_equal(feed_piece(&p, &r, wire, n - 50), 0);
    assert_non_null(p.msg);
    assert_non_null(p.partial);
    bn_ws_parser_free(&p);
    assert_int_equal(bn_ws_parser_held(&p), 0);
    /* Reusable after init. */
    bn_ws_parser_init(&p, &small_limits);
    assert_int_equal(feed_piece(&p, &r, wire, 10), 0);
    bn_ws_parser_free(&p);
    assert_int_equal(r.n, 0);
}

/* --------------------------------------------------------------------------
 * Frame header writer
 * -------------------------------------------------------------------------- */

static void test_frame_header(void **state)
{
    (void)state;
    static const struct {
        uint8_t op;
        uint64_t len;
        size_t hl;
        uint8_t want[10];
    } rows[] = {
        {BN_WS_OP_TEXT, 0, 2, {0x81, 0x00}},
        {BN_WS_OP_TEXT, 5, 2, {0x81, 0x05}},
        {BN_WS_OP_BINARY, 125, 2, {0x82, 0x7d}},
        {BN_WS_OP_TEXT, 126, 4, {0x81, 0x7e, 0x00, 0x7e}},
        {BN_WS_OP_BINARY, 65535, 4, {0x82, 0x7e, 0xff, 0xff}},
        {BN_WS_OP_TEXT, 65536, 10, {0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
        {BN_WS_OP_CLOSE, 2, 2, {0x88, 0x02}},
        {BN_WS_OP_PING, 0, 2, {0x89, 0x00}},
        {BN_WS_OP_PONG, 125, 2, {0x8a, 0x7d}},
        {BN_WS_OP_BINARY,
         UINT64_C(0x0102030405060708),
         10,
         {0x82, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint8_t out[10];
        memset(out, 0xee, sizeof out);
        size_t hl = bn_ws_frame_header(out, rows[i].op, rows[i].len);
        if (hl != rows[i].hl || memcmp(out, rows[i].want, hl) != 0) {
            fail_msg("frame header row %zu wrong", i);
        }
        /* Nothing is written past the header. */
        for (size_t k = hl; k < sizeof out; k++) {
            assert_int_equal(out[k], 0xee);
        }
    }
}

/* --------------------------------------------------------------------------
 * UTF-8
 * -------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *s;
    size_t n;
    bool valid;
} utf8_case_t;

static const utf8_case_t utf8_cases[] = {
    {"empty", S(""), true},
    {"ascii", S("hello, world"), true},
    {"ascii_long", S("0123456789abcdefghijklmnopqrstuvwxyz0123456789"), true},
    {"nul", S("a\0b"), true},
    {"two_byte", S("\xc2\x80\xdf\xbf"), true},
    {"three_byte", S("\xe0\xa0\x80\xe2\x82\xac\xef\xbf\xbf"), true},
    {"before_surrogates", S("\xed\x9f\xbf"), true},
    {"after_surrogates", S("\xee\x80\x80"), true},
    {"four_byte", S("\xf0\x90\x80\x80\xf0\x9f\x98\x80"), true},
    {"max_code_point", S("\xf4\x8f\xbf\xbf"), true},
    {"mixed_after_ascii_run", S("abcdefgh\xc3\xa9ijklmnop\xe2\x82\xac"), true},
    {"overlong_c0_80", S("\xc0\x80"), false},
    {"overlong_c1_bf", S("\xc1\xbf"), false},
    {"overlong_3byte", S("\xe0\x80\xaf"), false},
    {"overlong_3byte_9f", S("\xe0\x9f\xbf"), false},
    {"overlong_4byte", S("\xf0\x8f\xbf\xbf"), false},
    {"surrogate_d800", S("\xed\xa0\x80"), false},
    {"surrogate_dfff", S("\xed\xbf\xbf"), false},
    {"above_max_f4_90", S("\xf4\x90\x80\x80"), false},
    {"f5", S("\xf5\x80\x80\x80"), false},
    {"ff", S("\xff"), false},
    {"fe", S("\xfe"), false},
    {"lone_continuation", S("\x80"), false},
    {"continuation_after_ascii_run", S("abcdefgh\xbf"), false},
    {"truncated_2", S("\xc3"), false},
    {"truncated_3", S("\xe2\x82"), false},
    {"truncated_4", S("\xf0\x9f\x98"), false},
    {"truncated_then_ascii", S("\xe2\x82x"), false},
    {"two_byte_bad_continuation", S("\xc3\x28"), false},
    {"four_byte_bad_last", S("\xf0\x9f\x98\xc0"), false},
};

static void test_utf8_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const utf8_case_t *c = &utf8_cases[i];
        /* Exact-size heap copy so a read past n is caught. */
        uint8_t *b = malloc(c->n == 0 ? 1 : c->n);
        assert_non_null(b);
        memcpy(b, c->s, c->n);
        if (bn_utf8_valid(b, c->n) != c->valid) {
            fail_msg("utf8 case %s: want %s", c->name, c->valid ? "valid" : "invalid");
        }
        /* Incremental: every split gives the same verdict. */
        for (size_t cut = 0; cut <= c->n; cut++) {
            uint32_t st = bn_utf8_feed(BN_UTF8_ACCEPT, b, cut);
            st = bn_utf8_feed(st, b + cut, c->n - cut);
            if ((st == BN_UTF8_ACCEPT) != c->valid) {
                fail_msg("utf8 case %s: split at %zu disagrees", c->name, cut);
            }
        }
        free(b);
    }
}

/* Rejection is sticky, and a truncated sequence is neither accept nor reject. */
static void test_utf8_states(void **state)
{
    (void)state;
    uint32_t st = bn_utf8_feed(BN_UTF8_ACCEPT, (const uint8_t *)"\xe2\x82", 2);
    assert_true(st != BN_UTF8_ACCEPT && st != BN_UTF8_REJECT);
    st = bn_utf8_feed(st, (const uint8_t *)"\xac", 1);
    assert_int_equal(st, BN_UTF8_ACCEPT);
    st = bn_utf8_feed(BN_UTF8_ACCEPT, (const uint8_t *)"\xff", 1);
    assert_int_equal(st, BN_UTF8_REJECT);
    st = bn_utf8_feed(st, (const uint8_t *)"abc", 3);
    assert_int_equal(st, BN_UTF8_REJECT);
}

int main(void)
{
    filler_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_whole),          cmocka_unit_test(test_bad_whole),
        cmocka_unit_test(test_valid_split),          cmocka_unit_test(test_bad_split),
        cmocka_unit_test(test_valid_bytewise),       cmocka_unit_test(test_bad_bytewise),
        cmocka_unit_test(test_three_way_split),      cmocka_unit_test(test_rfc_example_bytes),
        cmocka_unit_test(test_in_place_and_partial), cmocka_unit_test(test_too_big_from_header),
        cmocka_unit_test(test_callback_stops),       cmocka_unit_test(test_free_midstream),
        cmocka_unit_test(test_frame_header),         cmocka_unit_test(test_utf8_table),
        cmocka_unit_test(test_utf8_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
