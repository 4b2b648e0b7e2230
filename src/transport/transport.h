/* The transport layer: TCP connections on libuv, HTTP/1.1 requests, the
 * WebSocket session of an upgraded connection, and the per-connection write
 * queue of shared, pre-framed buffers.
 *
 * The layer knows nothing of channels: complete requests and WebSocket
 * messages go up through bn_transport_ops_t, registered by the layer above
 * (the server in src/channel/), which talks back through bn_conn_send /
 * bn_conn_close / bn_http_respond. */
#ifndef BN_TRANSPORT_H
#define BN_TRANSPORT_H

#include <http_parser.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/close_reason.h"
#include "transport/ws/ws.h"

typedef struct bn_conn_s bn_conn_t;
typedef struct bn_transport_s bn_transport_t;

typedef struct bn_http_header_s {
    const char *name; /* lower-case */
    const char *value;
} bn_http_header_t;

/* One parsed HTTP request. Owned by its connection; valid until the
 * response has been queued (bn_http_respond) or the connection upgraded. */
typedef struct bn_http_req_s {
    /* read-only */
    enum http_method method;
    const char *path;  /* raw (undecoded) path, NUL-terminated, without the query */
    const char *query; /* raw query string without '?', "" when absent */
    bn_http_header_t *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    bool keep_alive;
    bool upgrade;
    /* "https" when a trusted proxy said so in X-Forwarded-Proto, else "http". */
    const char *scheme;
    /* private: storage */
    char *store;
    size_t store_len, store_cap;
    size_t *hdr_off; /* pairs of offsets into store */
    size_t hdr_cap;
    size_t url_off, url_len;
    size_t body_off;
    bool in_value;
    size_t header_bytes;
} bn_http_req_t;

/* Returns the value of header name (lower-case), or NULL. */
const char *bn_http_header(const bn_http_req_t *req, const char *name);
/* True when the comma-separated list value (a header; NULL = empty) holds
 * token exactly, blanks around items ignored: Connection and Upgrade compare
 * ignoring case, Sec-WebSocket-Protocol names exactly (RFC 6455 4.1). */
bool bn_http_token_listed(const char *value, const char *token, bool ignore_case);
/* Query strings to a JSON object of strings:
 * application/x-www-form-urlencoded with %XX and '+' decoding; keys stay
 * flat ("user[id]" is one key); the last occurrence wins, as in Plug. NULL
 * on OOM. */
json_t *bn_http_query_parse(const char *query);

typedef struct bn_transport_ops_s {
    void *ud;
    /* A complete HTTP request (not an upgrade). The callee answers with
     * bn_http_respond, now or later (LongPoll waits); until it does, the
     * connection reads no further request. */
    void (*request)(void *ud, bn_conn_t *c, bn_http_req_t *req);
    /* A WebSocket upgrade request that passed the RFC 6455 checks. Return 0
     * to accept (*session set) or an HTTP status to refuse (e.g. 403). */
    int (*ws_open)(void *ud, bn_conn_t *c, bn_http_req_t *req, void **session);
    /* A complete message. data may be modified and is valid during the call. */
    void (*ws_message)(void *ud, void *session, bool binary, uint8_t *data, size_t len);
    /* The connection of an accepted session is gone; the session must drop
     * its pointer to c. Called once, from the close callback. */
    void (*ws_closed)(void *ud, void *session);
    /* A connection with a pending request closed (e.g. a LongPoll GET). */
    void (*request_aborted)(void *ud, bn_conn_t *c);
} bn_transport_ops_t;

typedef struct bn_transport_config_s {
    const char *bind;
    int port;
    /* The one path that accepts WebSocket upgrades (the server's, e.g.
     * "/socket/websocket"); NULL = none. Any other upgrade is a plain
     * request. Borrowed for the transport's lifetime. */
    const char *ws_path;
    /* A subprotocol echoed in the 101 when the client offers it (Phoenix
     * 1.8 answers "phoenix", which carries the auth token); NULL = none. */
    const char *ws_subprotocol;
    bn_ws_limits_t ws;
    unsigned idle_timeout_ms;
    /* A request must be complete this long after its first byte (absolute:
     * trickling bytes does not extend it); also the keep-alive idle time. */
    unsigned handshake_timeout_ms;
    /* A started WebSocket frame or fragmented message must complete in this
     * long (close 1008). */
    unsigned frame_timeout_ms;
    size_t max_queued_bytes;
    /* Clamped at start below RLIMIT_NOFILE minus reserved_fds, so 503 is
     * answered before descriptors run out. */
    unsigned max_connections;
    unsigned reserved_fds;
    /* Connections that have not completed a first request, per source
     * address; a new one over the cap closes the oldest. 0 = no cap. */
    unsigned max_pending_per_ip;
    /* Process-wide bytes held in incomplete WebSocket frames and
     * fragmented messages; past it the largest holders are closed (1009). */
    size_t memory_budget;
    size_t max_request_line;
    size_t max_header_bytes;
    unsigned max_headers;
    size_t max_body;
    bool reuse_port; /* SO_REUSEPORT on the listener (worker processes) */
    /* Comma list of CIDRs whose X-Forwarded-For/-Proto are believed; NULL = none. */
    const char *trust_forwarded;
    /* Graceful stop: WebSockets get close 1001 in batches of drain_batch
     * spread evenly over drain_ms (0 = all at once). */
    unsigned drain_ms;
    unsigned drain_batch;
} bn_transport_config_t;

typedef struct bn_transport_stats_s {
    uint64_t accepted;
    uint64_t open;
    uint64_t ws_open;
    uint64_t refused_upgrades;
    uint64_t frames_out;
    uint64_t bytes_out;
    uint64_t writes;
    uint64_t closed[BN_CLOSE__COUNT];
    uint64_t accept_errors;
    uint64_t partial_bytes;   /* held in incomplete frames and messages now */
    uint64_t read_pauses;     /* flow control: reads stopped on a full queue */
    uint64_t queue_rings;     /* connections holding a write-queue ring now */
    unsigned max_connections; /* the figure in force after clamping */
} bn_transport_stats_t;

bn_transport_t *bn_transport_new(uv_loop_t *loop, const bn_transport_config_t *cfg,
                                 const bn_transport_ops_t *ops);
int bn_transport_start(bn_transport_t *t);
int bn_transport_port(const bn_transport_t *t);
const bn_transport_stats_t *bn_transport_stats(const bn_transport_t *t);
/* Bytes queued and not yet written, all connections (a walk: for scrapes). */
size_t bn_transport_queued_bytes(const bn_transport_t *t);
/* Stops accepting, sends close code 1001 to every WebSocket (in batches of
 * cfg.drain_batch spread over cfg.drain_ms when there are more), lets queues
 * drain for at most drain_ms after the last batch, then closes everything. cb runs on a later
 * loop turn (never inside this call, even for a transport never started),
 * after every handle the transport owned has closed and every session got
 * ws_closed; the transport is freed before cb, so t is invalid inside it. */
void bn_transport_stop(bn_transport_t *t, unsigned drain_ms, void (*cb)(void *ud), void *ud);

/* Queues a message on an upgraded connection: frames it (in the buffer's
 * headroom, once for all its sharers) and takes one reference. Returns 0, or
 * -1 when the connection is closing or was just closed as a slow consumer. */
int bn_conn_send(bn_conn_t *c, bn_buf_t *msg);
/* Starts a WebSocket close with code (a close frame, flush, then TCP close). */
void bn_conn_close(bn_conn_t *c, uint16_t code, bn_close_reason_t reason);
uint64_t bn_conn_id(const bn_conn_t *c);
/* "ip:port" of the TCP peer, or the client address a trusted proxy
 * forwarded for the current request ("ip"). */
const char *bn_conn_peer(const bn_conn_t *c);

/* Data the layer above attaches to a request answered later (a waiting
 * LongPoll poll); cleared when the request is answered. */
void bn_conn_set_request_data(bn_conn_t *c, void *data);
void *bn_conn_request_data(const bn_conn_t *c);

/* Answers the pending request of c. extra_headers is raw "Name: v\r\n" lines
 * or NULL. The connection is closed after the response unless keep-alive. */
void bn_http_respond(bn_conn_t *c, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len);

#endif
