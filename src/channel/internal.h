/* Cross-file internals of the channel layer: the server, Phoenix sockets and
 * channel instances. */
#ifndef BN_CHANNEL_INTERNAL_H
#define BN_CHANNEL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "bennu/bennu.h"
#include "channel/router.h"
#include "core/intern.h"
#include "core/queue.h"
#include "protocol/message.h"
#include "pubsub/pubsub.h"
#include "transport/transport.h"

/* How a Phoenix socket reaches its client: a WebSocket connection or a
 * LongPoll session. */
typedef struct bn_sock_io_s {
    /* Queue an encoded message (the transport frames it). 0 or -1. */
    int (*send)(void *io_ud, bn_buf_t *msg);
    /* Close the transport from the server side with a WebSocket close code. */
    void (*close)(void *io_ud, uint16_t code);
} bn_sock_io_t;

/* Why a connect was refused (server stats, /metrics). */
#define BN_REFUSE_REASON_MAP(X)             \
    X(ORIGIN, "origin")                     \
    X(BAD_VSN, "bad_vsn")                   \
    X(CONNECT_CALLBACK, "connect_callback") \
    X(SOCKET_ID, "socket_id")               \
    X(LONGPOLL_SESSIONS, "too_many_longpoll_sessions")

typedef enum {
#define BN_REFUSE_ENUM(name, str) BN_REFUSE_##name,
    BN_REFUSE_REASON_MAP(BN_REFUSE_ENUM)
#undef BN_REFUSE_ENUM
        BN_REFUSE__COUNT
} bn_refuse_reason_t;

typedef struct bn_server_stats_s {
    uint64_t sockets; /* open Phoenix sockets */
    uint64_t sockets_ws;
    uint64_t sockets_lp;
    uint64_t channels; /* open channels */
    uint64_t joins;
    uint64_t join_errors;
    uint64_t crashes;
    uint64_t messages_in;
    uint64_t bad_messages;
    uint64_t refused_connects;
    uint64_t replies;
    uint64_t pushes;
    uint64_t rate_limited;
    /* Refused connects by reason (BN_REFUSE_*), for /metrics. */
    uint64_t refused_by[BN_REFUSE__COUNT];
    uint64_t disconnects;   /* sockets closed by a "disconnect" broadcast to their id */
    uint64_t token_expired; /* sockets closed at their token's expiry */
} bn_server_stats_t;

typedef struct bn_static_file_s {
    char *path;
    char *data;
    size_t len;
    const char *content_type;
} bn_static_file_t;

#define BN_STATIC_MAX 16

struct bn_lp_s;
struct bn__pr_s;

/* Plain HTTP routes (not the WebSocket upgrade): the server's endpoints,
 * matched in registration order by exact path, or by prefix for a path
 * that ends in '/'; static files answer what none matches. */
typedef void (*bn__http_handler_fn)(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req);
typedef struct bn__http_route_s {
    const char *path; /* static storage */
    bn__http_handler_fn handler;
} bn__http_route_t;
#define BN_HTTP_ROUTES_MAX 16
/* Phoenix's default socket mount (`socket "/socket", UserSocket`). */
#define BN_SOCKET_WS_PATH "/socket/websocket"
#define BN_SOCKET_LP_PATH "/socket/longpoll"

struct bn_server_s {
    uv_loop_t *loop;
    bn_config_t cfg;
    char *bind_copy;
    bn_router_t router;
    bn_connect_cb connect_cb;
    void *connect_ud;
    bn_transport_t *transport;
    bn_ps_t *ps;
    bn_intern_t *join_refs; /* channels' string join_refs, shared (NULL = not shared) */
    bn_socket_t *sockets;   /* every open Phoenix socket */
    bn_server_stats_t stats;
    bn_static_file_t files[BN_STATIC_MAX];
    size_t n_files;
    bn__http_route_t http_routes[BN_HTTP_ROUTES_MAX];
    size_t n_http_routes;
    struct bn_lp_s *lp;        /* the LongPoll transport (transport/longpoll/longpoll.h) */
    struct bn__pr_s *presence; /* src/presence/, created on first use */
    void (*stop_cb)(void *ud);
    void *stop_ud;
    uint64_t started_ms;
    bool stopping;                 /* bn_server_stop was called */
    struct bn_ops_s *ops;          /* /api/, /metrics, /health, /ready (http_api.c); NULL = off */
    struct bn__cluster_s *cluster; /* bn_server_attach_mesh (src/cluster/); NULL = none */
};

/* Lifetimes (DESIGN "Lifetimes", docs/NOTES.md): sockets and channels are
 * what user callbacks can reach, so both are reference-counted with a
 * closing flag. Removing one inside a callback only marks it (and runs its
 * terminate callbacks); the memory is freed when the last reference goes,
 * which is when the outermost dispatch on the stack returns. References:
 *   socket:  the transport's (dropped by bn__sock_free), one per channel
 *            alive (so ch->sock is always valid), one per dispatch running
 *            on it (client message, connect callback);
 *   channel: its owner's (do_join during the join, then the socket's list;
 *            dropped by bn__chan_remove), one per callback running on it. */
/* (Field order is packing: the query string starts in what would be the
 * trailing padding, and the allocation is offsetof(query) + its length.) */
/* What only some sockets use, allocated on first use (bn__sock_extra) and
 * freed with the socket: an idle socket with no id, no token expiry and no
 * message ever waiting behind asynchronous work pays a pointer for it, not
 * this block (docs/memory.md). */
typedef struct bn_sock_extra_s {
    bn_socket_t *sock; /* back from id_sub's callbacks */
    /* Socket id (socket_id.c): while set and the socket is open, id_sub is
     * subscribed to the topic of that name ("disconnect" closes). */
    char *id;
    bn_ps_sub_t id_sub;
    int64_t expires_ms; /* Unix ms when the socket closes (token expiry); 0 = never */
    struct bn_sock_queued_s *queue_head, *queue_tail; /* messages waiting behind async work */
    size_t queue_n, queue_bytes;
} bn_sock_extra_t;

struct bn_socket_s {
    bn_server_t *srv;
    const bn_sock_io_t *io;
    void *io_ud; /* NULL once released (the transport is gone) */
    bn_socket_t *prev, *next;
    bn_channel_t *channels; /* singly linked; at most cfg.max_channels */
    json_t *assigns;        /* NULL until the first bn_socket_assign */
    json_t *params;         /* NULL until bn_socket_params parses `query` */
    double rate_tokens;     /* token bucket of the per-connection rate limit */
    uint64_t rate_last_ms;
    bn_channel_t *joining;  /* a channel whose join is asynchronous (owner ref) */
    bn_sock_extra_t *extra; /* NULL until needed */
    unsigned n_channels;
    unsigned refs;
    uint8_t vsn;
    bool longpoll; /* the transport: LongPoll, else WebSocket */
    bool closed;   /* the closing flag: no channel, nothing sent, unlisted */
    bool released; /* bn__sock_free ran (the transport's reference is gone) */
    bool draining;
    bool id_fixed;      /* connect is over: the id can no longer change */
    bool id_subscribed; /* extra->id_sub is subscribed */
    char query[];       /* the connect query string, parsed on first use (last: the
                         * socket is allocated as offsetof(query) + its length + 1) */
};

/* The socket's extra block, allocated (zeroed) on first call; NULL on OOM. */
bn_sock_extra_t *bn__sock_extra(bn_socket_t *s);

/* One channel. Owner: do_join, then its socket's list; removed (marked,
 * unsubscribed, unlisted, terminated) by bn__chan_remove and freed when its
 * last reference goes. */
struct bn_channel_s {
    bn_ps_sub_t sub; /* the channel's subscription (bn_container_of) */
    bn_channel_t *next;
    bn_socket_t *sock; /* holds a socket reference */
    const bn_route_t *route;
    json_t *join_ref; /* as the client sent it; NULL = null */
    void *data;
    unsigned refs;
    bool joined;
    bool busy;            /* an asynchronous join or handle_in is pending */
    json_t *pending_ref;  /* the ref of that join or push */
    bool closing;         /* removed: nothing more is sent or called for it but terminate */
    bool join_ref_shared; /* join_ref came from srv->join_refs */
    uint32_t topic_len;
    char topic[]; /* allocated as offsetof(topic) + length + 1 */
};

struct bn_reply_s {
    char status[64];
    json_t *response; /* owned */
    uint8_t *bin;     /* owned */
    size_t bin_len;
    bool is_binary;
    bool set; /* a bn_reply_set* call was made */
};

/* String join_refs up to this length are shared through srv->join_refs. */
#define BN_JOIN_REF_SHARED_MAX 16

/* server.c: runs vsn negotiation and the connect callback; NULL = refused. */
bn_socket_t *bn__socket_connect(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req,
                                const bn_sock_io_t *io, void *io_ud, const char *transport);

/* socket.c */
bn_socket_t *bn__sock_new(bn_server_t *srv, const bn_sock_io_t *io, void *io_ud, bn_vsn_t vsn,
                          json_t *params, const char *transport);
/* Same, keeping only the raw query string (copied): bn_socket_params parses
 * it on first use, so an idle socket holds no JSON object. */
bn_socket_t *bn__sock_new_query(bn_server_t *srv, const bn_sock_io_t *io, void *io_ud, bn_vsn_t vsn,
                                const char *query, const char *transport);
/* The client's messages. Return 0; -1 when the message was malformed and
 * the transport must be closed (Phoenix kills the connection); or
 * BN_SOCK_RATE_LIMITED when the connection exceeded its rate limit (the
 * message was not processed; the transport closes with 1008). */
#define BN_SOCK_RATE_LIMITED (-2)
int bn__sock_handle_text(bn_socket_t *s, const char *data, size_t len);
int bn__sock_handle_binary(bn_socket_t *s, const uint8_t *data, size_t len);
/* Closes the socket (idempotent, safe inside any callback): marks it
 * closed, removes every channel with reason "closed" (their terminate
 * callbacks run now) and takes it off the server's list; nothing is sent to
 * the transport from now on. The memory stays until the last reference. */
void bn__sock_close(bn_socket_t *s);
/* The transport is gone: bn__sock_close, then the transport's reference is
 * dropped. Called exactly once per socket, by its transport. */
void bn__sock_free(bn_socket_t *s);
void bn__sock_ref(bn_socket_t *s);
void bn__sock_unref(bn_socket_t *s);
int bn__sock_send_out(bn_socket_t *s, const bn_out_t *o);

/* socket.c: the asynchronous completions (bn_channel_finish). */
void bn__sock_join_finish(bn_channel_t *ch, bn_chan_result_t res, bn_reply_t *r);
void bn__sock_event_finish(bn_channel_t *ch, bn_chan_result_t res, bn_reply_t *r);

/* channel.c */
/* A new channel with one reference, its owner's (the caller). */
bn_channel_t *bn__chan_new(bn_socket_t *s, const bn_route_t *route, const char *topic,
                           size_t topic_len, json_t *join_ref);
void bn__chan_ref(bn_channel_t *ch);
void bn__chan_unref(bn_channel_t *ch);
/* Removes a channel without telling the client: sets the closing flag,
 * unsubscribes, unlinks it from its socket, runs terminate (if it had
 * joined) and drops the owner's reference. A no-op on a closing channel. */
void bn__chan_remove(bn_channel_t *ch, bn_stop_reason_t reason);
/* phx_close to the client (when it had joined), then bn__chan_remove.
 * A no-op on a closing channel. */
void bn__chan_stop(bn_channel_t *ch, bn_stop_reason_t reason);
/* phx_error to the client (when it had joined), then bn__chan_remove(CRASH).
 * A no-op on a closing channel. */
void bn__chan_crash(bn_channel_t *ch);
void bn__chan_send_lifecycle(bn_channel_t *ch, const char *event);
extern const bn_ps_sub_ops_t bn__chan_sub_ops;
void bn__reply_init(bn_reply_t *r);
void bn__reply_clear(bn_reply_t *r);

/* server.c: adds a plain HTTP route (path has static storage), or replaces
 * the handler of the route with that path. 0 or -1 (table full). */
int bn__server_http_route(bn_server_t *srv, const char *path, bn__http_handler_fn handler);
/* server.c: the static files, what answers a path no route takes (404). */
void bn__server_serve_static(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req);

/* socket_id.c: subscribes the socket to its id topic once connected (0;
 * -1 when the topic cannot be subscribed: the connect is refused), and
 * drops the subscription and id at close. */
int bn__sock_id_attach(bn_socket_t *s);
void bn__sock_id_detach(bn_socket_t *s);

/* http_api.c: bn_server_enable_ops routes /health, /ready, /metrics and
 * /api/ there. */
void bn__ops_free(struct bn_ops_s *ops);

#endif
