/* Cross-file internals of the transport layer. */
#ifndef BN_TRANSPORT_INTERNAL_H
#define BN_TRANSPORT_INTERNAL_H

#include <uthash.h>

#include "core/cidr.h"
#include "core/queue.h"
#include "core/wq.h"
#include "transport/transport.h"

#define BN_READ_BUF_SIZE (64 * 1024)
/* Descriptors kept free below RLIMIT_NOFILE before an EMFILE episode is
 * declared (libuv's own reserve, the mesh, log files). */
#define BN_FD_HEADROOM 8

typedef enum {
    BN_CONN_HTTP,      /* reading requests */
    BN_CONN_HTTP_WAIT, /* a request is being answered asynchronously */
    BN_CONN_WS,        /* upgraded */
} bn_conn_mode_t;

/* One TCP connection. Owner: the transport (its `conns` list); freed in the
 * uv_close callback, never earlier. */
struct bn_conn_s {
    uv_tcp_t tcp;
    bn_transport_t *t;
    bn_conn_t *prev, *next; /* all connections */
    bn_conn_t *flush_next;  /* pending-flush list (singly linked: see flush_all) */
    uint64_t id;
    uint64_t last_rx_ms;
    uint64_t req_start_ms;     /* first byte of an incomplete request; 0 = none */
    uint64_t partial_since_ms; /* a WebSocket frame/message started; 0 = none */
    uint64_t close_deadline_ms;
    size_t held;             /* bytes the frame parser holds (memory budget) */
    struct bn_ipcount_s *ip; /* while no request completed (pending per IP) */
    bn_queue_t pend_node;    /* on the transport's pending list */
    uint8_t mode;
    bool in_flush_list;
    bool closing;           /* close started: no more input is processed */
    bool close_after_flush; /* shut down once the queue is empty */
    bool handle_closed;     /* uv_close called */
    bool shut;              /* shutdown issued */
    bool read_blocked;      /* flow control: reading stopped, queue above high water */
    bool trusted;           /* the peer is a trusted proxy (--trust-forwarded) */
    bool fwd_https;         /* ... and said X-Forwarded-Proto: https */
    bool served;            /* a request completed (no longer pending) */
    bool draining;          /* picked by the drain (close sent or due) */
    uint8_t close_reason;
    bool q_recent; /* something was queued since the last sweep */
    char *client;  /* the forwarded client address; NULL = the peer's */
    /* Write queue (core/wq.h): its inline slots until a burst needs a ring,
     * which goes back at the sweep once idle. */
    bn_wq_t wq;
    /* Per-phase state: HTTP until the upgrade, WebSocket after it (the
     * mode says which member is live; the upgrade starts with no request,
     * no pending bytes and no request data held). */
    union {
        struct { /* mode HTTP* */
            http_parser hp;
            bn_http_req_t *req;
            void *request_data; /* the upper layer's, for a request answered later */
            char *pending;      /* request bytes read while a request was answered */
            size_t pending_len;
            int http_status;  /* set by a parser callback that hit a limit */
            bool read_paused; /* reading stopped while a request is answered later */
        };
        struct { /* mode WS */
            bn_ws_parser_t ws;
            void *session;
        };
    };
};

struct bn_transport_s {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_check_t flush_check;
    uv_prepare_t flush_prepare;
    bn_transport_config_t cfg;
    bn_transport_ops_t ops;
    bn_conn_t *conns;
    bn_conn_t *flush_list;
    bn_queue_t pending; /* connections with no completed request, oldest first */
    struct bn_ipcount_s *ips;
    uint64_t next_id;
    unsigned n_conns;
    unsigned open_handles;
    bool stopping;
    bool accept_paused; /* inside an EMFILE episode (logged once) */
    uint64_t fd_limit;  /* RLIMIT_NOFILE at start, 0 = unknown */
    bool handles_closing;
    bool started; /* handles exist and must be closed */
    void (*stop_cb)(void *ud);
    void *stop_ud;
    uint64_t stop_deadline_ms;
    bn__cidr_t *trusted; /* --trust-forwarded networks */
    size_t n_trusted;
    uv_timer_t drain_timer;   /* graceful drain: closes WebSockets in batches */
    unsigned drain_batch_now; /* WebSockets closed per drain tick */
    bn_transport_stats_t stats;
    char read_buf[BN_READ_BUF_SIZE]; /* shared by every connection of the loop */
};

/* Pending connections per source address. */
typedef struct bn_ipcount_s {
    UT_hash_handle hh;
    unsigned n;
    uint8_t key[17]; /* family byte + address */
} bn_ipcount_t;

uint64_t bn__now_ms(const bn_transport_t *t);
/* The connection completed a request (or upgraded): it stops counting as
 * pending for its address. Idempotent. */
void bn__conn_not_pending(bn_conn_t *c);
/* After the WebSocket parser ran: memory accounting and the frame deadline. */
void bn__conn_account_partial(bn_conn_t *c);
void bn__conn_queue_flush(bn_conn_t *c);
int bn__conn_enqueue(bn_conn_t *c, bn_buf_t *b);
void bn__conn_shutdown(bn_conn_t *c, bn_close_reason_t reason);
void bn__conn_abort(bn_conn_t *c, bn_close_reason_t reason);
int bn__conn_read_start(bn_conn_t *c);

void bn__conn_track_pending(bn_conn_t *c, const struct sockaddr_storage *ss);

/* forwarded.c */
/* A comma list of CIDRs into a new array (NULL, 0 for NULL or ""). 0 or -1. */
int bn__fwd_parse(const char *list, bn__cidr_t **out, size_t *n_out);
bool bn__fwd_trusted(const bn_transport_t *t, const struct sockaddr *sa);
/* On a request's complete headers: the forwarded scheme and client of a
 * trusted peer's request (cleared for anyone else). */
void bn__fwd_headers(bn_conn_t *c);

/* http.c */
void bn__http_init(bn_conn_t *c);
void bn__http_feed(bn_conn_t *c, char *data, size_t len);
void bn__http_req_free(bn_http_req_t *req);
void bn__http_error(bn_conn_t *c, int status);

/* ws_conn.c */
void bn__ws_upgrade(bn_conn_t *c, bn_http_req_t *req, char *rest, size_t rest_len);
void bn__ws_feed(bn_conn_t *c, uint8_t *data, size_t len);
int bn__ws_send_control(bn_conn_t *c, uint8_t opcode, const void *data, size_t len);
/* Writes the WebSocket header of b (one FIN frame) into its headroom. */
void bn__ws_frame_buf(bn_buf_t *b, uint8_t opcode);

#endif
