/* Why a connection was closed: one table for client connections
 * (src/transport) and mesh links (src/mesh). Each reason is counted per
 * layer and logged by name, and the names are part of the observable
 * interface (/metrics labels, the `closed` stats object, `bennuctl stats`,
 * log lines), so a name never changes once released.
 *
 * Columns: enum suffix, name, and the layers that use it (BN_CLOSE_CONN,
 * BN_CLOSE_LINK or both). A client connection and a mesh link share the
 * reasons that mean the same thing for a TCP stream (read/write error,
 * handshake timeout, slow consumer, shutdown). "peer_closed" (a client hung
 * up) and "connection_closed" (a peer node's TCP link ended) stay two names
 * because both are released metric labels. */
#ifndef BN_CORE_CLOSE_REASON_H
#define BN_CORE_CLOSE_REASON_H

#include <stdbool.h>

#define BN_CLOSE_CONN 1u
#define BN_CLOSE_LINK 2u
#define BN_CLOSE_BOTH (BN_CLOSE_CONN | BN_CLOSE_LINK)

#define BN_CLOSE_REASON_MAP(X)                               \
    X(NONE, "none", BN_CLOSE_BOTH)                           \
    X(READ_ERROR, "read_error", BN_CLOSE_BOTH)               \
    X(WRITE_ERROR, "write_error", BN_CLOSE_BOTH)             \
    X(HANDSHAKE_TIMEOUT, "handshake_timeout", BN_CLOSE_BOTH) \
    X(SLOW_CONSUMER, "slow_consumer", BN_CLOSE_BOTH)         \
    X(SHUTDOWN, "shutdown", BN_CLOSE_BOTH)                   \
    /* client connections */                                 \
    X(PEER_CLOSED, "peer_closed", BN_CLOSE_CONN)             \
    X(BAD_REQUEST, "bad_request", BN_CLOSE_CONN)             \
    X(HTTP_DONE, "http_done", BN_CLOSE_CONN)                 \
    X(IDLE_TIMEOUT, "idle_timeout", BN_CLOSE_CONN)           \
    X(WS_PROTOCOL, "ws_protocol_error", BN_CLOSE_CONN)       \
    X(WS_CLOSE, "ws_close", BN_CLOSE_CONN)                   \
    X(BAD_MESSAGE, "bad_message", BN_CLOSE_CONN)             \
    X(SERVER_CLOSE, "server_close", BN_CLOSE_CONN)           \
    X(RATE_LIMITED, "rate_limited", BN_CLOSE_CONN)           \
    X(TOO_MANY_CONNS, "too_many_connections", BN_CLOSE_CONN) \
    X(FRAME_TIMEOUT, "frame_timeout", BN_CLOSE_CONN)         \
    X(MEMORY_BUDGET, "memory_budget", BN_CLOSE_CONN)         \
    X(PENDING_LIMIT, "pending_per_ip", BN_CLOSE_CONN)        \
    /* mesh links */                                         \
    X(CONNECTION_CLOSED, "connection_closed", BN_CLOSE_LINK) \
    X(CONNECT_FAILED, "connect_failed", BN_CLOSE_LINK)       \
    X(TICK_TIMEOUT, "tick_timeout", BN_CLOSE_LINK)           \
    X(BAD_FRAME, "bad_frame", BN_CLOSE_LINK)                 \
    X(FRAME_TOO_LARGE, "frame_too_large", BN_CLOSE_LINK)     \
    X(BAD_COOKIE, "bad_cookie", BN_CLOSE_LINK)               \
    X(VERSION_MISMATCH, "version_mismatch", BN_CLOSE_LINK)   \
    X(PROTOCOL, "protocol", BN_CLOSE_LINK)                   \
    X(BAD_HELLO, "bad_hello", BN_CLOSE_LINK)                 \
    X(DECRYPT_FAILED, "decrypt_failed", BN_CLOSE_LINK)       \
    X(SELF_CONNECT, "self_connect", BN_CLOSE_LINK)           \
    X(DUPLICATE_LINK, "duplicate_link", BN_CLOSE_LINK)       \
    X(NAME_CLASH, "name_clash", BN_CLOSE_LINK)               \
    X(REPLACED, "replaced", BN_CLOSE_LINK)                   \
    X(PREAUTH_LIMIT, "preauth_limit", BN_CLOSE_LINK)         \
    X(NOT_ALLOWED, "not_allowed", BN_CLOSE_LINK)             \
    X(BAD_PAYLOAD, "bad_payload", BN_CLOSE_LINK)

typedef enum {
#define BN_CLOSE_ENUM(name, str, layers) BN_CLOSE_##name,
    BN_CLOSE_REASON_MAP(BN_CLOSE_ENUM)
#undef BN_CLOSE_ENUM
        BN_CLOSE__COUNT
} bn_close_reason_t;

/* The reason's name; "unknown" outside the table. */
const char *bn_close_reason_name(bn_close_reason_t r);
/* Whether a layer (BN_CLOSE_CONN or BN_CLOSE_LINK) uses the reason: counters
 * and metric families list only their own layer's reasons. */
bool bn_close_reason_in(bn_close_reason_t r, unsigned layer);

#endif
