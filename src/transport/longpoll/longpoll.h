/* The LongPoll transport (PROTOCOL.md section 5), next to the WebSocket one:
 * it owns the HTTP side of a session (session tokens, the bounded message
 * buffer, waiting polls, ndjson batches, timeouts) and knows nothing of
 * Phoenix sockets or channels. Its user (the server) supplies the session
 * behind each one through bn_lp_ops_t, as it does for WebSocket sessions
 * through bn_transport_ops_t.
 *
 * Lifetime of a session: open returns the user's session pointer; from then
 * on the user may send to it or close it through the bn_lp_session_t handle;
 * closed is called exactly once when the session ends (poll timeout, a bad
 * message, bn_lp_session_close, bn_lp_close), after which neither side
 * touches the other. Everything runs on the loop thread. */
#ifndef BN_TRANSPORT_LONGPOLL_H
#define BN_TRANSPORT_LONGPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "transport/transport.h"

typedef struct bn_lp_s bn_lp_t;
typedef struct bn_lp_session_s bn_lp_session_t;

typedef struct bn_lp_config_s {
    /* Signs session tokens (a Phoenix.Token over the session id); NULL =
     * a random per-process key, so sessions live on this node only (which
     * they do anyway). */
    const char *secret_key_base;
    unsigned window_ms;          /* a poll waits this long for messages */
    unsigned session_timeout_ms; /* a session not polled this long ends */
    unsigned max_sessions;       /* {"status":403} beyond, logged */
    unsigned max_buffered;       /* messages buffered per session (session closed beyond) */
} bn_lp_config_t;

/* What message returns besides 0 (dispatched) and -1 (undecodable: the
 * session ends, {"status":410}). */
#define BN_LP_RATE_LIMITED 1

typedef struct bn_lp_ops_s {
    void *ud;
    /* Every request (preflight, poll, send) passes this first: 0, or the
     * status to answer in the body (403 for a refused origin). */
    int (*admit)(void *ud, bn_http_req_t *req, bool preflight);
    /* A poll without a valid session token: return 0 and set *session, or
     * a status to answer (403 refused by connect). lps is the handle to
     * send through. */
    int (*open)(void *ud, bn_lp_session_t *lps, bn_conn_t *c, bn_http_req_t *req, void **session);
    /* One client message of a POST; data is valid during the call. */
    int (*message)(void *ud, void *session, bool binary, uint8_t *data, size_t len);
    /* The session ended; see the lifetime above. */
    void (*closed)(void *ud, void *session);
    /* A session was refused before open (the session cap). */
    void (*refused)(void *ud);
} bn_lp_ops_t;

/* NULL on OOM. cfg and ops are copied; strings in cfg are read at once. */
bn_lp_t *bn_lp_new(uv_loop_t *loop, const bn_lp_config_t *cfg, const bn_lp_ops_t *ops);
/* A request to the LongPoll path. */
void bn_lp_request(bn_lp_t *lp, bn_conn_t *c, bn_http_req_t *req);
/* A connection with a pending request (a waiting poll) closed. */
void bn_lp_request_aborted(bn_lp_t *lp, bn_conn_t *c);
/* Buffers one encoded text message for the next poll. -1 when the session
 * has ended or just ended because its buffer is full (slow consumer);
 * binary messages cannot be carried (Phoenix's LongPoll cannot either). */
int bn_lp_session_send(bn_lp_session_t *lps, bn_buf_t *msg);
/* Ends the session from the user's side (closed follows, on a later turn). */
void bn_lp_session_close(bn_lp_session_t *lps);
/* Ends every session (closed for each) and closes the handles; cb runs once
 * they have closed, after lp is freed. When no handle was ever opened, lp is
 * freed and cb runs before this returns (the server calls it from a close
 * callback, which is already a later loop turn). */
void bn_lp_close(bn_lp_t *lp, void (*cb)(void *ud), void *ud);

#endif
