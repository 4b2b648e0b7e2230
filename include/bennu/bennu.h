/* Bennu: a realtime server speaking the Phoenix Channels protocol.
 * The embedding API: configure a server, route topics to channel types,
 * decide connects, start and stop. Everything runs on one libuv loop. */
#ifndef BENNU_H
#define BENNU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bennu/channel.h"
#include "bennu/config_table.h"
#include "bennu/payload.h"
#include "bennu/pubsub.h"
#include "bennu/err.h"
#include "bennu/export.h"
#include "bennu/ops.h"
#include "bennu/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_server_s bn_server_t;

/* Every limit has a safe default (bn_config_defaults) and a defined outcome
 * when hit; README "Limits" lists them. Each field's default and accepted
 * range are in one table, bennu/config_table.h, and nowhere else. */
typedef struct bn_config_s {
    const char *bind;              /* listen address */
    int port;                      /* 0 = ephemeral (see bn_server_port) */
    const char *static_dir;        /* directory served at / (index.html, assets); NULL = none */
    size_t max_frame_size;         /* largest WebSocket frame payload (close 1009) */
    size_t max_message_size;       /* largest reassembled message (close 1009) */
    unsigned idle_timeout_ms;      /* close a WebSocket silent this long (close 1001) */
    unsigned handshake_timeout_ms; /* an HTTP request must be complete this long after its
                                    * first byte (408), and keep-alive idle time */
    unsigned frame_timeout_ms;     /* a started WebSocket frame or fragmented message must
                                 * complete in (close 1008); 0 = no deadline */
    size_t max_queued_bytes;       /* slow-consumer limit per connection (close 1008);
                                 * reading pauses above a quarter of it (flow control) */
    unsigned max_connections;      /* per node (503 beyond), clamped at start below
                                 * RLIMIT_NOFILE minus reserved_fds */
    unsigned reserved_fds;         /* descriptors kept for listeners, the mesh, tools */
    unsigned max_pending_per_ip;   /* connections per source address that have not completed
                                  * a request, the oldest closed beyond; 0 = no cap */
    size_t memory_budget;          /* bytes in incomplete frames/messages, all connections;
                                 * past it the largest holders get 1009 */
    unsigned max_channels;         /* per connection ("too many channels joined") */
    unsigned max_topics;           /* distinct topics with local subscribers (join error
                                 * "too many topics") */
    size_t max_request_line;       /* request line (414) */
    size_t max_header_bytes;       /* all headers (431) */
    unsigned max_headers;          /* header count (431) */
    size_t max_body;               /* request body (413) */
    /* Origin check before connect, both transports (PROTOCOL.md 1.6):
     * NULL or "off" = allow all; "conn" = Origin must equal the request's
     * own scheme://Host; "host" = Origin's host must equal url_host; else a
     * comma-separated list of allowed origins such as "https://example.com",
     * "http://localhost:4000", or a scheme-less entry: two slashes then a
     * host, where a host of "*.example.com" admits every subdomain. A refused
     * origin gets 403 (LongPoll: {"status":403}). */
    const char *check_origin;
    const char *url_host; /* the endpoint's host for check_origin "host" */
    /* Signs LongPoll session tokens; when NULL a random per-process key is
     * used (sessions then live on this node only, which they do anyway). */
    const char *secret_key_base;
    unsigned longpoll_window_ms;          /* a poll waits this long for messages */
    unsigned longpoll_session_timeout_ms; /* a session not polled this long ends */
    unsigned max_longpoll_sessions;       /* {"status":403} beyond, logged */
    unsigned max_longpoll_buffered;       /* messages buffered per session (session closed) */
    /* Per-connection rate limit on client messages: rate_limit per second
     * with bursts of rate_burst (0 = rate_limit). 0 = off. Over
     * the limit: WebSocket close 1008; LongPoll POST {"status":429}. */
    unsigned rate_limit;
    unsigned rate_burst;
    bool reuse_port; /* SO_REUSEPORT: several processes share the port */
    /* Reverse proxies to believe: a comma list of networks ("10.0.0.0/8,::1").
     * A request whose TCP peer is inside one takes its scheme from
     * X-Forwarded-Proto (check_origin "conn") and its client address from
     * X-Forwarded-For (the rightmost hop outside these networks: logs, the
     * connect callback's peer, max_pending_per_ip). NULL = trust nobody. */
    const char *trust_forwarded;
    /* Graceful drain on bn_server_stop: WebSockets are sent close 1001 in
     * batches of drain_batch spread over drain_ms (Phoenix 1.7's drainer),
     * so clients reconnect elsewhere gradually. drain_ms 0 = all at once. */
    unsigned drain_ms;
    unsigned drain_batch;
    /* Presence (bennu/presence.h, docs/presence.md). */
    unsigned presence_diff_ms;       /* presence_diff coalescing interval per topic */
    unsigned presence_broadcast_ms;  /* replication delta interval between nodes */
    unsigned presence_max_per_topic; /* metas per topic; a track beyond fails */
    unsigned presence_count_above;   /* distinct keys above which a topic sends only
                                     * presence_count (0 = never) */
} bn_config_t;

BN_EXTERN void bn_config_defaults(bn_config_t *cfg);
/* Checks every numeric field against its range in bennu/config_table.h.
 * Returns 0, or UV_EINVAL with "field: V is outside MIN..MAX" in why (when
 * why_len > 0). bn_server_start applies it and refuses to start with
 * UV_EINVAL (the reason logged as config_invalid). */
BN_EXTERN int bn_config_validate(const bn_config_t *cfg, char *why, size_t why_len);

/* One numeric bn_config_t field as the table describes it: an embedder
 * reading its own configuration format can look fields up by name. */
typedef struct bn_config_field_s {
    const char *name; /* the field's C name, "max_frame_size" */
    size_t offset;    /* offsetof(bn_config_t, field) */
    size_t size;      /* sizeof the field */
    bool is_signed;
    long long def, min, max;
} bn_config_field_t;

/* The numeric fields (*n of them), in table order. */
BN_EXTERN const bn_config_field_t *bn_config_fields(size_t *n);
/* The field called name, or NULL. */
BN_EXTERN const bn_config_field_t *bn_config_field(const char *name);
BN_EXTERN long long bn_config_get(const bn_config_t *cfg, const bn_config_field_t *f);
/* Stores v when it is within f's range: 0, else UV_EINVAL (cfg unchanged). */
BN_EXTERN int bn_config_set(bn_config_t *cfg, const bn_config_field_t *f, long long v);

/* Allocates a server on loop. NULL on OOM. */
BN_EXTERN bn_server_t *bn_server_new(uv_loop_t *loop, const bn_config_t *cfg);
/* Routes topics matching pattern ("room:*" prefix match, or an exact topic)
 * to type; ud is available to the channel as bn_channel_route_data. The
 * first matching route wins. Returns 0 or -1. */
BN_EXTERN int bn_server_route(bn_server_t *srv, const char *pattern, const bn_channel_type_t *type,
                              void *ud);
/* Sets the connect callback (default: accept everyone). */
BN_EXTERN void bn_server_on_connect(bn_server_t *srv, bn_connect_cb cb, void *ud);
/* Installs a pubsub adapter (e.g. the mesh) that carries broadcasts to
 * other nodes. Borrowed; must outlive the server. */
BN_EXTERN void bn_server_set_adapter(bn_server_t *srv, const bn_pubsub_adapter_t *adapter);
/* Serves data (copied) at url_path ("/index.html" also answers "/"); the
 * content type follows the extension. Returns 0 or -1 (table full, OOM). */
BN_EXTERN int bn_server_add_static(bn_server_t *srv, const char *url_path, const void *data,
                                   size_t len);
/* Binds and listens. Returns 0 or a negative libuv error.
 * SIGPIPE: the first call (of this or bn_mesh_start) sets SIGPIPE to SIG_IGN
 * for the whole process if its disposition is still SIG_DFL, so a peer that
 * resets a connection mid-write costs that connection (EPIPE), never the
 * process; a handler or SIG_IGN installed by the embedder is kept. */
BN_EXTERN int bn_server_start(bn_server_t *srv);
/* The bound HTTP port (after start). */
BN_EXTERN int bn_server_port(const bn_server_t *srv);
/* Broadcasts from the backend (no sender). Returns local deliveries or -1. */
BN_EXTERN int bn_server_broadcast(bn_server_t *srv, const char *topic, const char *event,
                                  const bn_payload_t *payload);
/* Fans out a broadcast that arrived from another node to local subscribers
 * only (never forwarded). Returns local deliveries. */
BN_EXTERN int bn_server_deliver_remote(bn_server_t *srv, const char *topic, size_t topic_len,
                                       const char *event, const bn_payload_t *payload);
/* Local subscribers of topic on this node. */
BN_EXTERN size_t bn_server_subscriber_count(const bn_server_t *srv, const char *topic,
                                            size_t topic_len);
/* Graceful stop: refuses new connections, sends close 1001 to every
 * WebSocket (in batches over drain_ms when there are more than drain_batch
 * of them), flushes queues (bounded by a short deadline), ends every
 * LongPoll session, terminates every channel ("closed") and closes every
 * handle. cb runs on a later loop turn, never inside this call (even for a
 * server never started or whose start failed), after every handle the
 * server owned has closed. The server is freed before cb: srv is invalid
 * inside cb and after; ud and the loop are the embedder's. Inside cb the
 * loop may be closed: uv_loop_close() returns 0 unless the embedder has
 * handles of its own open. After that the loop must not be run again, and
 * the uv_run that called cb must be UV_RUN_DEFAULT or UV_RUN_NOWAIT
 * (UV_RUN_ONCE reads the loop after close callbacks, and libuv built with
 * assertions poisons a closed loop). A second call while stopping is
 * ignored. */
BN_EXTERN void bn_server_stop(bn_server_t *srv, void (*cb)(void *ud), void *ud);

/* Counters for admin/bennuctl stats: a new JSON object. */
BN_EXTERN json_t *bn_server_stats_json(bn_server_t *srv);

#ifdef __cplusplus
}
#endif

#endif
