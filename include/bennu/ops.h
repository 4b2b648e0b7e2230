/* Running a node in production: socket ids and "disconnect", token expiry
 * on live sockets, and the operator surface on the HTTP port (/api/ server
 * API, /metrics, /health, /ready; docs/api.md). */
#ifndef BENNU_OPS_H
#define BENNU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/channel.h"
#include "bennu/export.h"

#ifdef __cplusplus
extern "C" {
#endif

struct bn_server_s; /* bn_server_t of bennu.h */
struct bn_mesh_s;

/* WebSocket close code of a socket closed at its token's expiry (an
 * application code, so a client can tell it from a restart or a crash). */
#define BN_WS_CLOSE_TOKEN_EXPIRED 4001

/* Gives the socket an id (Phoenix's Socket.id/1), from the connect callback
 * only: the socket is subscribed to the topic named id, and a broadcast of
 * the event "disconnect" to that topic, from any node, closes it (WebSocket
 * close 1001; LongPoll: the session ends). NULL clears it. Returns 0, or -1
 * (called after connect, empty or longer than 1024 bytes, OOM). */
BN_EXTERN int bn_socket_set_id(bn_socket_t *s, const char *id);
/* The socket's id, or NULL. */
BN_EXTERN const char *bn_socket_id(const bn_socket_t *s);
/* The socket is closed (close 4001) by the first bn_server_close_expired
 * at or after unix_ms (0 = never). Returns 0, or -1 on OOM (nothing set). */
BN_EXTERN int bn_socket_set_expiry(bn_socket_t *s, int64_t unix_ms);
/* Closes every socket whose expiry is at or before now_unix_ms; returns how
 * many. The embedder calls it periodically (bennu: every 250 ms). */
BN_EXTERN size_t bn_server_close_expired(struct bn_server_s *srv, int64_t now_unix_ms);

/* An application's own series on /metrics, written from the metrics
 * callback below in the same text format (0.0.4). Names should carry the
 * bennu_ prefix; each family gets its HELP and TYPE line once, before its
 * samples. Label values are escaped. */
typedef struct bn_metrics_s bn_metrics_t;
/* type: "counter", "gauge" or "histogram". */
BN_EXTERN void bn_metrics_family(bn_metrics_t *m, const char *name, const char *type,
                                 const char *help);
/* name{label="value"} v, or name v when label is NULL. */
BN_EXTERN void bn_metrics_u64(bn_metrics_t *m, const char *name, const char *label,
                              const char *value, uint64_t v);
BN_EXTERN void bn_metrics_double(bn_metrics_t *m, const char *name, const char *label,
                                 const char *value, double v);

typedef struct bn_ops_config_s {
    /* The bearer key of /api/ (copied). NULL or "": /api/ answers 404. */
    const char *api_key;
    /* /metrics without a key. Otherwise /metrics needs the API key, and
     * answers 404 when there is none. */
    bool metrics_public;
    /* The mesh of a cluster node, or NULL. Borrowed; must outlive the
     * server (or be closed after it). */
    struct bn_mesh_s *mesh;
    /* /ready needs this many peer nodes up (hidden ones, e.g. bennuctl, do
     * not count). */
    unsigned ready_min_peers;
    const char *node_name; /* for /api/node when there is no mesh; copied */
    /* Optional: called at each scrape, after Bennu's own series, to add the
     * application's (the bennu binary: its webhook client's). */
    void (*metrics)(void *ud, bn_metrics_t *m);
    void *metrics_ud;
} bn_ops_config_t;

/* Turns the operator surface on (before or after bn_server_start): /health
 * and /ready answer JSON, /metrics and /api/ as configured. Without this
 * call /health answers "ok" and the rest 404. Returns 0 or -1 (OOM). */
BN_EXTERN int bn_server_enable_ops(struct bn_server_s *srv, const bn_ops_config_t *cfg);

#ifdef __cplusplus
}
#endif

#endif
