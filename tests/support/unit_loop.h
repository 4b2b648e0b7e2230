/* Test helpers for code that runs on a libuv loop: wait for a condition
 * against a deadline (never sleep), and raw TCP clients living in the same
 * loop as the server under test, with a minimal WebSocket client framing.
 *
 * Everything here is test-only; helpers assert (cmocka) on setup failures
 * and return false on timeouts so the caller's assertion names the case. */
#ifndef BN_TEST_UNIT_LOOP_H
#define BN_TEST_UNIT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bennu/bennu.h"

/* A real server on a private loop, for tests over real sockets. */
typedef struct bn_test_server_s {
    uv_loop_t loop;
    bn_server_t *srv; /* NULL once a stop has begun */
    int port;
    bool stopped; /* the stop callback ran */
} bn_test_server_t;

/* Initialises ts->loop and starts a server with cfg (its port is replaced
 * by 0, any free port) routing "room:*" to type. Asserts on failure. */
void bn_test_server_start(bn_test_server_t *ts, bn_config_t *cfg, const bn_channel_type_t *type);
/* Begins a graceful stop (close 1001 to every WebSocket) without waiting. */
void bn_test_server_begin_stop(bn_test_server_t *ts);
/* Stops the server if still running, waits for the stop callback, runs the
 * loop dry and asserts that uv_loop_close() succeeds. */
void bn_test_server_finish(bn_test_server_t *ts);

/* timeout_ms scaled by $BN_TEST_TIMEOUT_MULTIPLIER (default 1). */
unsigned bn_test_timeout(unsigned ms);

typedef bool (*bn_test_pred_fn)(void *ud);

/* Runs loop until pred(ud) is true or timeout_ms (scaled) have passed.
 * A private timer keeps uv_run from blocking forever; it is closed before
 * returning. Returns the final value of pred. */
bool bn_test_run_until(uv_loop_t *loop, bn_test_pred_fn pred, void *ud, unsigned timeout_ms);
/* Runs loop for about ms milliseconds (lets queued I/O settle). */
void bn_test_run_for(uv_loop_t *loop, unsigned ms);

/* A raw TCP client. Owner: the test (usually on its stack or in a fixture);
 * it must be closed with bn_test_client_close and the loop run before it
 * goes out of scope. */
typedef struct bn_test_client_s {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_loop_t *loop;
    bool connected;
    int connect_status;
    bool eof;        /* the peer closed (or reset) the connection */
    int read_status; /* UV_EOF or the read error */
    bool closing;
    bool closed;       /* the close callback ran */
    bool auto_read;    /* read as soon as connected */
    bool close_on_eof; /* close our handle when the peer's EOF arrives */
    char *buf;         /* everything read and not consumed */
    size_t len, cap;
    size_t total_read;
    unsigned writes_pending;
} bn_test_client_t;

/* Connects to 127.0.0.1:port and runs the loop until connected. When
 * auto_read is false the client never reads (a slow consumer). Returns true
 * when connected. */
bool bn_test_client_connect(uv_loop_t *loop, bn_test_client_t *c, int port, bool auto_read);
/* Queues a copy of data. Returns 0 or a libuv error. */
int bn_test_client_write(bn_test_client_t *c, const void *data, size_t len);
/* Runs the loop until the buffer contains needle (returns its offset) or the
 * timeout; -1 on timeout. */
long bn_test_client_read_until(bn_test_client_t *c, const char *needle, unsigned timeout_ms);
/* Runs the loop until at least n bytes are buffered. */
bool bn_test_client_read_bytes(bn_test_client_t *c, size_t n, unsigned timeout_ms);
/* Runs the loop until the peer closed the connection. */
bool bn_test_client_wait_eof(bn_test_client_t *c, unsigned timeout_ms);
/* Drops the first n buffered bytes. */
void bn_test_client_consume(bn_test_client_t *c, size_t n);
/* Closes the handle (idempotent) and runs the loop until its close callback
 * ran; frees the buffer. */
void bn_test_client_close(bn_test_client_t *c);

/* ---------------------------------------------------------------- WebSocket */

#define BN_TEST_WS_TEXT 0x1
#define BN_TEST_WS_BINARY 0x2
#define BN_TEST_WS_CLOSE 0x8

/* Writes a complete HTTP upgrade request for path into out (NUL-terminated)
 * with the RFC 6455 sample key "dGhlIHNhbXBsZSBub25jZQ==". Returns its
 * length. */
size_t bn_test_ws_request(char *out, size_t cap, const char *path_and_query);
/* Connects, upgrades and consumes the 101 response. Returns true on 101. */
bool bn_test_ws_connect(uv_loop_t *loop, bn_test_client_t *c, int port, const char *path);
/* Sends one masked client frame with FIN set. Returns 0 or a libuv error. */
int bn_test_ws_send(bn_test_client_t *c, int opcode, const void *data, size_t len);

/* One server frame (unmasked). */
typedef struct bn_test_ws_frame_s {
    int opcode;
    bool fin;
    const uint8_t *payload; /* points into the parsed input */
    size_t len;
} bn_test_ws_frame_t;

/* Parses one frame at in[0..n). Returns its total size, 0 when incomplete,
 * or -1 when the frame is masked or malformed. */
long bn_test_ws_parse(const uint8_t *in, size_t n, bn_test_ws_frame_t *f);
/* Runs the loop until a complete frame is buffered; copies its payload into
 * a NUL-terminated malloc'd string (*out, free it) and consumes it. Returns
 * the opcode, or -1 on timeout / malformed input. */
int bn_test_ws_recv(bn_test_client_t *c, char **out, size_t *out_len, unsigned timeout_ms);

#endif
