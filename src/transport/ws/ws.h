/* WebSocket (RFC 6455) server-side codec: handshake helpers, an incremental
 * frame parser for client frames, and server frame headers.
 *
 * Why our own parser rather than wslay's: wslay's frame and event contexts
 * own their input buffering (a fixed 4 KiB input buffer per context) and
 * pull bytes through a recv callback, which would cost every idle socket
 * several KiB and a copy per frame. This parser works on the caller's read
 * buffer in place (unmasking where the bytes lie) and keeps only the bytes of
 * an incomplete frame, allocated on demand and freed when consumed, so an
 * idle connection holds no buffer at all. Outbound frames are built by us in
 * any case so one buffer can be shared by every subscriber. */
#ifndef BN_TRANSPORT_WS_H
#define BN_TRANSPORT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/utf8.h" /* bn_utf8_valid, bn_utf8_feed: used by the frame parser */

#define BN_WS_OP_CONT 0x0
#define BN_WS_OP_TEXT 0x1
#define BN_WS_OP_BINARY 0x2
#define BN_WS_OP_CLOSE 0x8
#define BN_WS_OP_PING 0x9
#define BN_WS_OP_PONG 0xA

/* Close codes we send (RFC 6455 §7.4.1). */
#define BN_WS_CLOSE_NORMAL 1000
#define BN_WS_CLOSE_GOING_AWAY 1001
#define BN_WS_CLOSE_PROTOCOL 1002
#define BN_WS_CLOSE_UNSUPPORTED 1003
#define BN_WS_CLOSE_NO_STATUS 1005
#define BN_WS_CLOSE_INVALID_DATA 1007
#define BN_WS_CLOSE_POLICY 1008
#define BN_WS_CLOSE_TOO_BIG 1009
#define BN_WS_CLOSE_INTERNAL 1011
#define BN_WS_CLOSE_RESTART 1012

typedef enum {
    BN_WS_EV_TEXT,   /* a complete text message, UTF-8 validated */
    BN_WS_EV_BINARY, /* a complete binary message */
    BN_WS_EV_PING,   /* data = ping payload (<= 125 bytes) */
    BN_WS_EV_PONG,
    BN_WS_EV_CLOSE, /* code = peer's close code (1005 when the frame had none), data = reason */
} bn_ws_event_t;

/* Called for each complete message or control frame. data is unmasked and
 * valid only during the call (it may point into the caller's buffer or the
 * parser's own). A nonzero return stops parsing; bn_ws_parser_feed returns it. */
typedef int (*bn_ws_event_cb)(void *ud, bn_ws_event_t ev, uint8_t *data, size_t len, uint16_t code);

typedef struct bn_ws_limits_s {
    size_t max_frame;   /* largest payload of one frame */
    size_t max_message; /* largest reassembled message */
} bn_ws_limits_t;

/* Parser state for one connection. Caller-owned (embedded); holds heap memory
 * only while a frame or a fragmented message is incomplete. */
typedef struct bn_ws_parser_s {
    /* private */
    const bn_ws_limits_t *limits;
    uint8_t *partial; /* bytes of an incomplete frame (heap, or NULL) */
    size_t partial_len;
    size_t partial_cap;
    uint8_t *msg; /* reassembly of a fragmented message (heap, or NULL) */
    size_t msg_len;
    size_t msg_cap;
    uint8_t msg_opcode;  /* opcode of the message being reassembled, 0 if none */
    bool closed;         /* a close frame was received; further input is ignored */
    uint32_t utf8_state; /* incremental UTF-8 validation across fragments */
} bn_ws_parser_t;

void bn_ws_parser_init(bn_ws_parser_t *p, const bn_ws_limits_t *limits);
/* Frees any held memory; the parser may be reused after init. */
void bn_ws_parser_free(bn_ws_parser_t *p);

/* Feeds len bytes (which the parser may modify in place: unmasking). Returns
 * 0 when all bytes were consumed (an incomplete trailing frame is kept), the
 * nonzero value a callback returned, or a close code to send the peer:
 *   1002 protocol error: unmasked client frame, reserved bits or opcode,
 *        fragmented or oversized (>125) control frame, continuation without a
 *        started message, new data frame inside a fragmented message, close
 *        frame with a 1-byte payload or an invalid close code;
 *   1007 invalid UTF-8 in a text message or close reason;
 *   1009 frame payload over max_frame or message over max_message (checked
 *        from the header, before the payload is buffered);
 *   1011 out of memory.
 * After an error the parser must not be fed again. */
int bn_ws_parser_feed(bn_ws_parser_t *p, uint8_t *data, size_t len, bn_ws_event_cb cb, void *ud);

/* Bytes currently held by the parser (for memory accounting). */
size_t bn_ws_parser_held(const bn_ws_parser_t *p);

/* Writes an unmasked, FIN=1 server frame header for a payload of len bytes
 * into out (at most 10 bytes); returns the header length. */
size_t bn_ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len);

/* Computes Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)).
 * out receives 28 characters and a NUL. Returns 0, or -1 if the key is not
 * the base64 form of 16 bytes (24 characters: 22 from the standard alphabet
 * then "=="), which is a bad handshake (RFC 6455 §4.2.1). The caller strips
 * the header value's surrounding whitespace; out is untouched on -1. */
int bn_ws_accept_key(const char *key, size_t key_len, char out[29]);

#endif
