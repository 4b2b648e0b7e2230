/* WebSocket client-side codec for bennu-bench (RFC 6455): the opening
 * handshake, masked client frames, and an incremental parser for the
 * unmasked frames a server sends. Pure code: no I/O, no libuv. */
#ifndef BNB_WSPROTO_H
#define BNB_WSPROTO_H

#include <stddef.h>
#include <stdint.h>

#define BNB_WS_OP_CONT 0x0
#define BNB_WS_OP_TEXT 0x1
#define BNB_WS_OP_BINARY 0x2
#define BNB_WS_OP_CLOSE 0x8
#define BNB_WS_OP_PING 0x9
#define BNB_WS_OP_PONG 0xA

/* Largest header a client frame can need: 2 + 8 (length) + 4 (mask). */
#define BNB_WS_HDR_MAX 14

/* Error codes of the parser and handshake; negative, distinct, each with a
 * name for diagnostics. */
#define BNB_WS_ERR_MAP(X)                                                         \
    X(BNB_WS_E_MASKED, -1, "server frame is masked")                              \
    X(BNB_WS_E_RSV, -2, "reserved bits set")                                      \
    X(BNB_WS_E_OPCODE, -3, "unknown opcode")                                      \
    X(BNB_WS_E_CONTROL, -4, "control frame fragmented or longer than 125 bytes")  \
    X(BNB_WS_E_CONT, -5, "continuation frame without a message in progress")      \
    X(BNB_WS_E_FRAG, -6, "new data frame inside a fragmented message")            \
    X(BNB_WS_E_TOO_BIG, -7, "message longer than the configured maximum")         \
    X(BNB_WS_E_LENGTH, -8, "payload length not minimally encoded or too large")   \
    X(BNB_WS_E_HS_STATUS, -20, "handshake status is not 101")                     \
    X(BNB_WS_E_HS_UPGRADE, -21, "handshake lacks Upgrade: websocket")             \
    X(BNB_WS_E_HS_ACCEPT, -22, "handshake Sec-WebSocket-Accept missing or wrong") \
    X(BNB_WS_E_HS_TOO_LONG, -23, "handshake response headers too long")           \
    X(BNB_WS_E_HS_SYNTAX, -24, "handshake response malformed")

typedef enum {
#define BNB_WS_ERR_ENUM(name, val, text) name = val,
    BNB_WS_ERR_MAP(BNB_WS_ERR_ENUM)
#undef BNB_WS_ERR_ENUM
} bnb_ws_err_t;

/* Symbolic name and description of an error code; "?" for unknown codes. */
const char *bnb_ws_err_name(int err);
const char *bnb_ws_strerror(int err);

/* ---- Handshake ---- */

/* Longest response header block accepted before "\r\n\r\n". */
#define BNB_WS_HS_MAX 8192

/* Writes a random 16-byte nonce, base64-encoded (24 chars + NUL), drawn
 * from the xorshift state *rng (must be non-zero). */
void bnb_ws_key_make(char key[25], uint64_t *rng);

/* Computes the Sec-WebSocket-Accept value expected for key (28 chars + NUL). */
void bnb_ws_accept_for(const char *key, char accept[29]);

/* Writes the HTTP upgrade request for host:port path (path includes any
 * query). Returns the length written, or 0 if cap is too small. */
size_t bnb_ws_handshake_request(char *out, size_t cap, const char *host, int port, const char *path,
                                const char *key);

/* Examines the first len bytes received on a fresh connection. Returns 0
 * when the header block is not complete yet, 1 when it is complete and
 * valid (then *hdr_len is its length including the blank line; any bytes
 * after it are already WebSocket frames), or a negative BNB_WS_E_HS_* code.
 * *status receives the HTTP status code once the status line is complete
 * (0 before). */
int bnb_ws_handshake_parse(const char *buf, size_t len, const char *accept, size_t *hdr_len,
                           int *status);

/* ---- Client frames ---- */

/* Writes a masked frame (FIN set) carrying len payload bytes into out,
 * which needs len + BNB_WS_HDR_MAX bytes. Returns the frame length. */
size_t bnb_ws_frame_build(uint8_t *out, int opcode, const void *payload, size_t len,
                          const uint8_t mask[4]);

/* ---- Server frame parser ---- */

/* Called once per complete message (text/binary, reassembled if fragmented)
 * and once per control frame. data is valid only during the call. Return 0
 * to continue; any other value stops bnb_ws_parser_feed, which returns it. */
typedef int (*bnb_ws_msg_cb)(void *ud, int opcode, const uint8_t *data, size_t len);

typedef struct bnb_ws_parser_s {
    /* private */
    uint8_t hdr[10];
    uint8_t hdr_len;
    uint8_t hdr_need;
    uint8_t opcode; /* of the current frame */
    uint8_t fin;
    uint8_t in_payload;
    uint8_t msg_opcode; /* opcode of a fragmented message in progress, 0 if none */
    int err;
    uint64_t remaining; /* payload bytes of the current frame still to come */
    size_t max_msg;
    uint8_t *msg; /* reassembly buffer, heap, grows on demand */
    size_t msg_len;
    size_t msg_cap;
    uint8_t ctl[125];
    size_t ctl_len;
} bnb_ws_parser_t;

/* Prepares p; messages longer than max_msg bytes are an error. */
void bnb_ws_parser_init(bnb_ws_parser_t *p, size_t max_msg);

/* Returns p to the start-of-frame state, keeping its buffer. */
void bnb_ws_parser_reset(bnb_ws_parser_t *p);

/* Frees the reassembly buffer; p may be re-initialised afterwards. */
void bnb_ws_parser_free(bnb_ws_parser_t *p);

/* Consumes len bytes, calling cb for each complete message. Handles any
 * split of the stream. Returns 0, a negative BNB_WS_E_* code (sticky: later
 * calls return it again), or the non-zero value cb returned. Complete
 * unfragmented frames are passed to cb without copying. */
int bnb_ws_parser_feed(bnb_ws_parser_t *p, const uint8_t *data, size_t len, bnb_ws_msg_cb cb,
                       void *ud);

#endif
