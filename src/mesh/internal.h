/* Cross-file internals of the mesh layer. Nothing here is visible outside
 * src/mesh/ except to the mesh unit tests, which poke at the same structs.
 *
 * Module map:
 *   frame.c       incremental length-prefixed frame reader (pure)
 *   codec.c       bn__msg_t <-> protobuf Envelope (the only protobuf-c user)
 *   handshake.c   cookie proof, session keys, per-frame AEAD (libsodium)
 *   membership.c  topic sets, digests, chunked sync receive/transmit state
 *   link.c        one TCP connection: read, frame, write queue, close reason
 *   node.c        node table, nodeup/nodedown, duplicate-link resolution
 *   gossip.c      seeds, peer lists, dialling with backoff
 *   request.c     AdminRequest/AdminResponse: the opaque request channel
 *   mesh.c        public API, dispatch of decoded frames, housekeeping timer */
#ifndef BN_MESH_INTERNAL_H
#define BN_MESH_INTERNAL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>
#include <uv.h>

#include "bennu/mesh.h"
#include "core/buf.h"
#include "core/cidr.h"
#include "core/close_reason.h"
#include "core/queue.h"
#include "core/wq.h"

#define BN__MESH_PROTO_VERSION 2u
/* Frames before authentication are Hello, Challenge, Identify, Refuse and
 * Ready: under 400 bytes. The tight limit and the small read buffer keep an
 * unauthenticated peer from making us allocate. */
#define BN__MESH_PREAUTH_MAX_FRAME 512u
#define BN__MESH_NAME_MAX 255u
#define BN__MESH_HOST_MAX 63u

/* ---- close reasons ------------------------------------------------------ */

/* One table for links and client connections: core/close_reason.h. */

/* ---- frames ------------------------------------------------------------- */

/* Incremental reader for "4-byte big-endian length + body" frames. Owner:
 * the link (or a test); bn__frame_reader_free releases the buffer. */
typedef struct bn__frame_reader_s {
    uint8_t *buf;
    size_t len; /* bytes held */
    size_t off; /* start of the first unconsumed frame */
    size_t cap;
    size_t max_frame; /* bodies above this are refused before any allocation */
} bn__frame_reader_t;

#define BN__FRAME_OK 1
#define BN__FRAME_MORE 0
#define BN__FRAME_TOO_LARGE (-1)
#define BN__FRAME_EMPTY (-2)

void bn__frame_reader_init(bn__frame_reader_t *r, size_t max_frame);
void bn__frame_reader_free(bn__frame_reader_t *r);
/* Space to read into (at least min bytes; grows only up to the pending frame
 * size, which has already passed the limit check). */
void bn__frame_reader_space(bn__frame_reader_t *r, size_t min, uint8_t **p, size_t *avail);
void bn__frame_reader_commit(bn__frame_reader_t *r, size_t n);
/* Copies len bytes in (tests and split feeding). */
void bn__frame_reader_feed(bn__frame_reader_t *r, const void *data, size_t len);
/* Returns BN__FRAME_OK with *body and *len pointing into the reader (valid until
 * the next reader call), BN__FRAME_MORE, or a negative error. */
int bn__frame_next(bn__frame_reader_t *r, const uint8_t **body, size_t *len);
/* Compacts and shrinks the buffer after a burst of large frames. */
void bn__frame_reader_compact(bn__frame_reader_t *r);

/* ---- decoded messages --------------------------------------------------- */

#define BN__MSG_TYPE_MAP(X)             \
    X(NONE, "none")                     \
    X(HELLO, "hello")                   \
    X(CHALLENGE, "challenge")           \
    X(IDENTIFY, "identify")             \
    X(REFUSE, "refuse")                 \
    X(READY, "ready")                   \
    X(TICK, "tick")                     \
    X(PEER_LIST, "peer_list")           \
    X(GROUP_JOIN, "group_join")         \
    X(GROUP_LEAVE, "group_leave")       \
    X(GROUP_SYNC, "group_sync")         \
    X(SYNC_REQUEST, "sync_request")     \
    X(BROADCAST, "broadcast")           \
    X(ADMIN_REQUEST, "admin_request")   \
    X(ADMIN_RESPONSE, "admin_response") \
    X(NODE_MESSAGE, "node_message")

typedef enum {
#define BN__MSG_ENUM(name, str) BN__MSG_##name,
    BN__MSG_TYPE_MAP(BN__MSG_ENUM)
#undef BN__MSG_ENUM
        BN__MSG_COUNT
} bn__msg_type_t;

const char *bn__msg_type_name(bn__msg_type_t t);

typedef struct {
    const uint8_t *data;
    size_t len;
} bn__bytes_t;

static inline bn__bytes_t bn__bytes(const void *p, size_t len)
{
    bn__bytes_t b = {(const uint8_t *)p, len};
    return b;
}

typedef struct {
    bn__bytes_t name;
    bn__bytes_t host;
    int32_t port;
    uint64_t incarnation;
} bn__peer_info_t;

/* A mesh message in plain C. Decoded ones point into memory owned by the
 * decoder and must be released with bn__msg_free. */
typedef struct bn__msg_s {
    bn__msg_type_t type;
    uint32_t version;
    union {
        struct {
            bn__bytes_t nonce, kx_pk;
        } hello; /* Hello and Challenge */
        struct {
            bn__bytes_t name, host;
            uint64_t incarnation;
            int32_t port;
            bool hidden;
        } ident;
        struct {
            uint32_t reason; /* BN__REFUSE_* */
        } refuse;
        struct {
            uint64_t ts_us, echo_ts_us, echo_delay_us, digest, count;
            bool has_digest;
        } tick;
        struct {
            bn__peer_info_t *peers;
            size_t n;
        } peers;
        struct {
            bn__bytes_t topic;
        } group; /* join and leave */
        struct {
            uint64_t sync_id;
            bool first, last;
            bn__bytes_t *topics;
            size_t n;
        } sync;
        struct {
            bn__bytes_t topic, event, payload;
            bool binary;
        } bcast;
        struct {
            uint64_t id;
            bn__bytes_t body;
        } admin;
        struct {
            uint32_t service;
            bn__bytes_t body;
        } node;
    } u;
    /* private */
    void *pb;
    void *scratch;
} bn__msg_t;

#define BN__DEC_OK 0
#define BN__DEC_BAD (-1)     /* not a valid Envelope */
#define BN__DEC_VERSION (-2) /* valid but another protocol version */
#define BN__DEC_UNKNOWN (-3) /* valid, but no message type we know */

/* Why a handshake was refused; values of RefuseReason in mesh.proto. */
#define BN__REFUSE_DUPLICATE 1u
#define BN__REFUSE_NAME_CLASH 2u
#define BN__REFUSE_SELF 3u
#define BN__REFUSE_BAD_COOKIE 4u

/* Encodes msg as one complete frame (length prefix included) into a new
 * buffer (refs = 1). Returns 0, or -1 if the frame would exceed max_frame. */
int bn__codec_encode(const bn__msg_t *msg, size_t max_frame, bn_buf_t **out);
/* Decodes one frame body. On BN__DEC_OK (and BN__DEC_UNKNOWN) msg must be
 * released with bn__msg_free; on other errors nothing is held. */
int bn__codec_decode(const uint8_t *data, size_t len, bn__msg_t *msg);
void bn__msg_free(bn__msg_t *msg);

/* ---- handshake and link crypto ------------------------------------------ */

#define BN__HS_NONCE_BYTES 32u
#define BN__HS_KEY_BYTES 32u
/* The shortest cookie accepted: 16 bytes. */
#define BN__HS_COOKIE_MIN 16u

/* Per-link handshake state. Owner: the link; bn__hs_wipe clears it. */
typedef struct bn__hs_s {
    uint8_t nonce[BN__HS_NONCE_BYTES];
    uint8_t pk[crypto_kx_PUBLICKEYBYTES];
    uint8_t sk[crypto_kx_SECRETKEYBYTES];
    uint8_t tx_key[BN__HS_KEY_BYTES];
    uint8_t rx_key[BN__HS_KEY_BYTES];
    uint64_t tx_seq, rx_seq;
    bool initiator;
    bool keyed;   /* nonce and key pair generated */
    bool derived; /* session keys ready */
} bn__hs_t;

/* Derives the 32-byte cookie key with a memory-hard KDF (Argon2id): about a
 * tenth of a second and 32 MiB, once per process and cookie (the last result
 * is remembered). Returns 0, or -1 if the cookie is shorter than
 * BN__HS_COOKIE_MIN or the KDF could not get its memory. */
int bn__hs_cookie_key(const char *cookie, uint8_t key[BN__HS_KEY_BYTES]);
void bn__hs_init(bn__hs_t *hs, bool initiator);
/* Fresh nonce and ephemeral key pair: done by the dialler at once and by the
 * acceptor only when a plausible Hello arrived. */
void bn__hs_keygen(bn__hs_t *hs);
/* Once the Hello and the Challenge are known (the exact bytes sent):
 * directional session keys bound to the cookie key, the X25519 exchange and
 * the transcript. Returns 0, or -1 if the peer's public key is unusable. */
int bn__hs_derive(bn__hs_t *hs, const uint8_t cookie_key[BN__HS_KEY_BYTES], const uint8_t *hello,
                  size_t hello_len, const uint8_t *challenge, size_t challenge_len,
                  const uint8_t *peer_pk, size_t peer_pk_len);
/* AEAD per frame with a counter nonce. seal writes len + ABYTES bytes;
 * open returns the plaintext length or -1. */
#define BN__HS_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
void bn__hs_seal(bn__hs_t *hs, const uint8_t *in, size_t len, uint8_t *out);
long bn__hs_open(bn__hs_t *hs, const uint8_t *in, size_t len, uint8_t *out);
void bn__hs_wipe(bn__hs_t *hs);

/* ---- membership --------------------------------------------------------- */

typedef struct bn__topic_s {
    UT_hash_handle hh;
    size_t len;
    char key[];
} bn__topic_t;

/* A set of topics with an order-independent digest maintained on every
 * change (xor of a fixed-key SipHash of each topic), so ticks can carry it
 * at no cost. */
typedef struct bn__gset_s {
    bn__topic_t *head;
    size_t count;
    uint64_t digest;
} bn__gset_t;

uint64_t bn__topic_hash(const void *topic, size_t len);
bool bn__gset_add(bn__gset_t *s, const void *topic, size_t len);
bool bn__gset_del(bn__gset_t *s, const void *topic, size_t len);
bool bn__gset_has(const bn__gset_t *s, const void *topic, size_t len);
void bn__gset_clear(bn__gset_t *s);
/* dst takes src's content; src becomes empty. */
void bn__gset_move(bn__gset_t *dst, bn__gset_t *src);

/* Receive side of a chunked GroupSync from one peer. Deltas that arrive
 * while a sync is being collected are applied to the live set at once and
 * also logged, then replayed on top of the completed snapshot, because the
 * sender took its snapshot before sending them. */
typedef struct bn__gdelta_s {
    struct bn__gdelta_s *next;
    bool join;
    size_t len;
    char topic[];
} bn__gdelta_t;

typedef struct bn__grx_s {
    bool active;
    uint64_t sync_id;
    bn__gset_t pending;
    bn__gdelta_t *log_head, *log_tail;
    size_t log_len;
} bn__grx_t;

#define BN__GRX_LOG_MAX 100000u

/* Returns true when a sync completed and live was replaced. */
bool bn__grx_chunk(bn__grx_t *rx, bn__gset_t *live, uint64_t sync_id, bool first, bool last,
                   const bn__bytes_t *topics, size_t n);
void bn__grx_delta(bn__grx_t *rx, bn__gset_t *live, bool join, const void *topic, size_t len);
void bn__grx_reset(bn__grx_t *rx);

/* Send side: a snapshot of the local set taken when the sync starts, sent a
 * chunk per loop turn. */
typedef struct bn__gtx_s {
    bool active;
    uint64_t sync_id;
    bn__bytes_t *items; /* copies, owned */
    size_t n, pos;
} bn__gtx_t;

void bn__gtx_start(bn__gtx_t *tx, const bn__gset_t *local, uint64_t sync_id);
void bn__gtx_reset(bn__gtx_t *tx);

/* ---- links -------------------------------------------------------------- */

typedef struct bn__node_s bn__node_t;
typedef struct bn__seed_s bn__seed_t;
typedef struct bn__link_s bn__link_t;

typedef enum {
    BN__LINK_CONNECTING, /* outbound: TCP connect in flight */
    BN__LINK_HANDSHAKE,  /* Hello, Challenge, Identify: the peer has proved nothing yet */
    BN__LINK_PENDING,    /* acceptor: the dialler proved the cookie and we sent our
                            Identify; waiting for its Ready (or Refuse) */
    BN__LINK_UP,
    BN__LINK_CLOSING,
} bn__link_state_t;

/* One TCP connection, inbound or outbound. Owner: the mesh (links list);
 * freed from the tcp handle's close callback, never earlier, so a link
 * closed inside a callback stays valid until the callback returns. */
struct bn__link_s {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    bn_mesh_t *mesh;
    bn_queue_t link_node; /* on the mesh's links list, newest first */
    uint64_t id;
    bn__link_state_t state;
    bn_close_reason_t reason;
    bool outbound;
    bool stalled;  /* test hook: reads stopped */
    bool draining; /* closes with drain_reason once the queue is written */
    bn_close_reason_t drain_reason;

    bn__node_t *dial_node; /* node this outbound link was dialled for */
    bn__seed_t *seed;      /* seed this outbound link was dialled for */
    bn__node_t *node;      /* set once up and attached */
    char addr[80];         /* "ip:port" of the remote end */
    char peer_ip[64];

    /* handshake */
    bn__hs_t hs;
    uint8_t *own_hello; /* dialler: our Hello bytes until the Challenge binds them */
    size_t own_hello_len;
    bool got_hello;      /* acceptor: Hello received, Challenge sent */
    bool sent_identify;  /* our Identify is out: everything we send is sealed */
    bool authed;         /* the peer proved the cookie (its Identify opened) */
    bool tx_crypt;       /* our frames are sealed */
    bool rx_crypt;       /* the peer's frames are sealed */
    bool resync_pending; /* we sent a SyncRequest and await its GroupSync */
    uint32_t refused;    /* BN__REFUSE_* the peer sent us, 0 = none */
    char *peer_name;
    char peer_host[BN__MESH_HOST_MAX + 1];
    int peer_port;
    uint64_t peer_incarnation;
    bool peer_hidden;
    unsigned admin_requests; /* admin requests this link carried (request.c) */
    char admin_ops[64];      /* their ops, comma-separated, cut when full */

    /* admission (preauth.c): inbound links until the peer proved the cookie */
    bool preauth;
    bn_queue_t pa_node; /* on the mesh's pre-auth list */

    /* receive */
    bn__frame_reader_t rx;
    uint8_t *plain;
    size_t plain_cap;

    /* send queue (core/wq.h): plaintext frames, sealed into one buffer per
     * write when flushed (so a link being replaced can hand its unsent
     * frames to the winner). The first `plain_unsent` unsent frames go out
     * in plain text (the handshake's first frames; our key is set once, so
     * they always come first); queued_bytes counts what they cost on the
     * wire, sealing overhead included, until written. */
    bn_wq_t wq;
    uint32_t plain_unsent;
    size_t queued_bytes;

    /* liveness and counters */
    uint64_t created_ms, last_rx_ms, last_tx_ms, last_tick_rx_ms, last_tick_tx_ms;
    uint64_t peer_tick_ts_us, peer_tick_rx_us;
    uint64_t rtt_us;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;

    /* membership sync in both directions */
    bn__gtx_t gtx;
    bn__grx_t grx;
};

/* Creates a link around an accepted or to-be-connected tcp handle. */
bn__link_t *bn__link_new(bn_mesh_t *m, bool outbound);
/* Starts reading and sends our Hello. */
void bn__link_start(bn__link_t *l);
/* Dials host:port; on failure the link closes with CONNECT_FAILED. */
int bn__link_dial(bn__link_t *l, const char *host, int port);
/* Queues one encoded frame (takes a new reference); it is sealed when
 * flushed once our Identify is out. Never closes synchronously:
 * overflowing the queue schedules a close with SLOW_CONSUMER. Returns 0 or
 * -1 if dropped. */
int bn__link_send(bn__link_t *l, bn_buf_t *frame);
/* Moves every frame still queued (not yet being written) on from to the
 * end of to's queue, in order. */
void bn__link_take_queue(bn__link_t *to, bn__link_t *from);
/* From the sweep: a link that has sent nothing for a tick gives a ring grown
 * by a burst back (its queue is then empty). True if a ring was freed. */
bool bn__link_shrink_idle(bn__link_t *l, uint64_t now);
/* Sends nothing more, stops reading, closes once the queue is written (or
 * the handshake deadline passes). */
/* Iterating the mesh's links: for (l = bn__link_first(m); l; l = bn__link_next(m, l)).
 * A link closed during the walk stays on the list until its close callback. */
static inline bn__link_t *bn__link_of(const bn_queue_t *head, bn_queue_t *q)
{
    return q != head ? bn_container_of(q, bn__link_t, link_node) : NULL;
}
#define bn__link_first(m) bn__link_of(&(m)->links, (m)->links.next)
#define bn__link_next(m, l) bn__link_of(&(m)->links, (l)->link_node.next)

void bn__link_close_after_flush(bn__link_t *l, bn_close_reason_t reason);
/* Encodes and sends. */
int bn__link_send_msg(bn__link_t *l, const bn__msg_t *msg);
/* Idempotent; the link is freed later from the close callback. */
void bn__link_close(bn__link_t *l, bn_close_reason_t reason);
bool bn__link_usable(const bn__link_t *l);
/* Sends a sealed Refuse and closes after it is written. */
void bn__link_refuse(bn__link_t *l, uint32_t why, bn_close_reason_t reason);
/* Test hook: stop reading from the link without closing it. */
void bn__link_stall(bn__link_t *l);

/* ---- nodes -------------------------------------------------------------- */

typedef enum {
    BN__NODE_DOWN,
    BN__NODE_UP,
} bn__node_state_t;

/* A peer node as we know it, kept after it goes down so it can be redialled
 * and its last close reason shown. Owner: the mesh node table; freed at
 * mesh close. */
struct bn__node_s {
    UT_hash_handle hh;
    char *name;
    char host[BN__MESH_HOST_MAX + 1];
    int port;
    uint64_t incarnation;
    bool hidden;
    bn__node_state_t state;
    bn__link_t *link;         /* the authenticated link carrying this node */
    bn__link_t *dial_link;    /* our outbound attempt, if any */
    bn__link_t *pending_link; /* an inbound link we accepted, awaiting Ready */
    bn__gset_t groups;
    uint64_t up_since_ms;
    uint64_t down_since_ms; /* when the node last went down; 0 = never up */
    unsigned downs;
    bn_close_reason_t last_reason;
    unsigned backoff_ms;
    uint64_t redial_at_ms; /* 0 = no redial scheduled */
};

bn__node_t *bn__node_find(bn_mesh_t *m, const char *name);
bn__node_t *bn__node_get(bn_mesh_t *m, const char *name);
/* The one rule both ends apply to the peer's Identify (the acceptor on
 * receipt, the dialler on the answer) before either considers the peer up.
 * Returns 0 to go on, or the BN__REFUSE_* reason; may cancel a competing
 * link that is not up (asynchronously). */
uint32_t bn__node_decide(bn_mesh_t *m, bn__link_t *l);
/* The acceptor accepted l and sent its Identify: l now stands for the node
 * until Ready arrives. */
void bn__node_link_pending(bn_mesh_t *m, bn__link_t *l);
/* The link is up on both sides: attach it to its node (replacing a link the
 * peer has already given up, and taking over its unsent frames). */
void bn__node_link_up(bn_mesh_t *m, bn__link_t *l);
/* The peer refused our dial with why: back off and log. */
void bn__node_link_refused(bn_mesh_t *m, bn__link_t *l, uint32_t why);
/* Called from a link's close callback path. */
void bn__node_link_closed(bn_mesh_t *m, bn__link_t *l);
void bn__node_free_all(bn_mesh_t *m);
/* Removes a down node from the table (bennuctl forget). 0 removed, 1 not
 * known, -1 the node is up or connecting (not removed). */
int bn__node_forget(bn_mesh_t *m, const char *name);
const char *bn__node_state_name(bn__node_state_t s);
/* "name@host": 3..255 printable non-space ASCII bytes with one '@'. */
bool bn__node_name_valid(const uint8_t *name, size_t len);

/* ---- gossip / discovery ------------------------------------------------- */

struct bn__seed_s {
    char host[BN__MESH_HOST_MAX + 1];
    int port;
    bn__link_t *link;
    bool done; /* a link through this seed authenticated (or it is us) */
    unsigned backoff_ms;
    uint64_t redial_at_ms;
};

int bn__parse_hostport(const char *s, char *host, size_t host_cap, int *port);

/* ---- DNS seed discovery (dns.c) ----------------------------------------- */

#define BN__DNS_MAX_ADDRS 64
typedef struct bn__dns_name_s {
    bn_mesh_t *mesh;
    char host[256];
    int port; /* 0 = our own mesh port */
    uv_getaddrinfo_t req;
    bool busy;
} bn__dns_name_t;

/* 0 when name is "NAME[:PORT]" (PORT required when own_port is 0). */
int bn__dns_name_check(const char *name, int own_port);
/* Copies the (checked) join_dns names into m. */
void bn__dns_init(bn_mesh_t *m, const char *const *names, size_t n);
/* Resolves every name when due (from the sweep, and at start). */
void bn__dns_sweep(bn_mesh_t *m, uint64_t now);
/* Cancels resolutions in flight (their callbacks still run). */
void bn__dns_cancel(bn_mesh_t *m);
void bn__gossip_start(bn_mesh_t *m);
void bn__gossip_dial_node(bn_mesh_t *m, bn__node_t *n);
/* Schedules a redial with capped exponential backoff and jitter. */
void bn__gossip_schedule(bn_mesh_t *m, unsigned *backoff_ms, uint64_t *at_ms);
void bn__gossip_sweep(bn_mesh_t *m, uint64_t now);
/* Sends `to` a PeerList: just `only` when given, else every up, dialable,
 * non-hidden node other than `to` itself. */
void bn__gossip_send_peers(bn_mesh_t *m, bn__link_t *to, const bn__node_t *only);
void bn__gossip_on_peers(bn_mesh_t *m, bn__link_t *from, const bn__msg_t *msg);
void bn__gossip_dial_seed(bn_mesh_t *m, bn__seed_t *s);

/* ---- admission of unauthenticated connections (preauth.c) --------------- */

/* bn__cidr_t, bn__cidr_parse, bn__cidr_match: core/cidr.h */

typedef struct bn__ipcount_s {
    UT_hash_handle hh;
    unsigned n;
    char ip[64];
} bn__ipcount_t;

/* Counters since the last summary line. */
typedef struct bn__preauth_counts_s {
    uint64_t accepted, not_allowed, evicted, closed;
    uint64_t by_reason[BN_CLOSE__COUNT];
} bn__preauth_counts_t;

typedef struct bn__preauth_s {
    size_t max_total, max_per_ip;
    bn__cidr_t *allow; /* empty = any address */
    size_t n_allow;
    bn_queue_t links; /* unauthenticated inbound links, oldest first */
    size_t count;
    bn__ipcount_t *ips;
    bn__preauth_counts_t since; /* reset by each summary */
    uint64_t last_summary_ms;
    unsigned summary_ms;
} bn__preauth_t;

/* An inbound connection was accepted from sa. Returns false if its address
 * is not allowed (the caller closes it); otherwise makes room (closing the
 * oldest unauthenticated connection from the same address, or the oldest of
 * all, with PREAUTH_LIMIT) and tracks l until bn__preauth_done. */
bool bn__preauth_admit(bn_mesh_t *m, bn__link_t *l, const struct sockaddr *sa);
/* The peer proved the cookie: no longer counted. Idempotent. */
void bn__preauth_done(bn_mesh_t *m, bn__link_t *l);
/* An unauthenticated link closed: counted for the summary. */
void bn__preauth_closed(bn_mesh_t *m, bn__link_t *l, bn_close_reason_t reason);
/* Logs one summary line per interval when anything happened. */
void bn__preauth_sweep(bn_mesh_t *m, uint64_t now);
void bn__preauth_free(bn_mesh_t *m);

/* ---- admin -------------------------------------------------------------- */

typedef struct bn__admin_req_s {
    struct bn__admin_req_s *next;
    uint64_t id;
    char *node; /* NULL = any */
    char *body;
    size_t len;
    bool sent;
    uint64_t deadline_ms;
    bn_mesh_request_cb cb;
    void *ud;
} bn__admin_req_t;

void bn__admin_on_request(bn_mesh_t *m, bn__link_t *l, const bn__msg_t *msg);
void bn__admin_on_response(bn_mesh_t *m, const bn__msg_t *msg);
void bn__admin_flush(bn_mesh_t *m);
void bn__admin_sweep(bn_mesh_t *m, uint64_t now);
void bn__admin_cancel_all(bn_mesh_t *m);

/* ---- the mesh ----------------------------------------------------------- */

/* Knobs that tests shrink. Defaults in bn_mesh_new. */
typedef struct bn__mesh_timing_s {
    unsigned sweep_ms;     /* housekeeping period */
    unsigned handshake_ms; /* connect + Hello + Auth must finish within */
    unsigned backoff_min_ms;
    unsigned backoff_max_ms;
    unsigned sync_chunk; /* topics per GroupSync frame */
    unsigned tick_force; /* send a tick at least every N intervals even when busy */
} bn__mesh_timing_t;

typedef void (*bn__mesh_tap_cb)(void *ud, bn__link_t *l, const uint8_t *frame, size_t len);

struct bn_mesh_s {
    uv_loop_t *loop;
    char *name;
    char *bind;
    int cfg_port;
    char adv_host[BN__MESH_HOST_MAX + 1]; /* --advertise; "" = none */
    int adv_port;
    struct bn__dns_name_s *dns; /* --join-dns names (dns.c) */
    size_t n_dns;
    size_t seeds_cap; /* seeds has room for DNS-found addresses */
    unsigned dns_interval_ms;
    uint64_t dns_next_ms;
    bool dns_full_logged;
    int port;
    uint8_t cookie_key[BN__HS_KEY_BYTES];
    uint64_t incarnation;
    unsigned tick_ms, down_ms;
    bool hidden;
    size_t max_frame, max_link_queue;
    bn__preauth_t pa;
    bn_mesh_callbacks_t cb;
    void *ud;
    bn__mesh_timing_t timing;

    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_idle_t idle;
    bool listening, started, closing, idle_on;
    unsigned open_handles;
    void (*close_cb)(void *ud);
    void *close_ud;

    bn_queue_t links; /* every link, newest first: bn__link_first/next */
    uint64_t next_link_id;
    bn__node_t *nodes;
    bn__seed_t *seeds;
    size_t n_seeds;
    char **dial_overrides; /* "name=host:port", copied from the config */
    size_t n_dial_overrides;
    bn__gset_t local;
    uint64_t next_sync_id;
    unsigned tick_round;

    bn__admin_req_t *admin;
    uint64_t next_admin_id;
    bn_mesh_responder_fn responder;
    void *responder_ud;

    uint64_t closes[BN_CLOSE__COUNT];
    uint64_t unknown_frames;

    bn__mesh_tap_cb tap;
    void *tap_ud;
};

uint64_t bn__mesh_now(const bn_mesh_t *m);
/* Decoded frame from an authenticated link. */
void bn__mesh_dispatch(bn_mesh_t *m, bn__link_t *l, const bn__msg_t *msg);
/* A link reached UP and is attached to its node: exchange state. */
void bn__mesh_node_up(bn_mesh_t *m, bn__node_t *n, bool restarted);
/* Starts the idle handle that sends sync chunks. */
void bn__mesh_want_idle(bn_mesh_t *m);
void bn__mesh_handle_closed(bn_mesh_t *m);
/* Sends a tick now on l. */
void bn__mesh_send_tick(bn_mesh_t *m, bn__link_t *l);

/* Test access. */
bn__mesh_timing_t *bn__mesh_timing(bn_mesh_t *m);
void bn__mesh_set_tap(bn_mesh_t *m, bn__mesh_tap_cb cb, void *ud);
uint64_t bn__mesh_close_count(const bn_mesh_t *m, bn_close_reason_t r);
/* Stops reading the link to the named node (simulates a hung peer). */
bool bn__mesh_stall_node(bn_mesh_t *m, const char *name);

#endif
