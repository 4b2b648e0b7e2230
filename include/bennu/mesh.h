/* The mesh as the rest of a node sees it: a full mesh of authenticated TCP
 * links to the other nodes of the cluster, pg-like group membership keyed by
 * topic, send-to-node primitives, membership and group snapshots as plain C
 * structs, and an opaque request/response channel. The mesh knows no JSON
 * and no routing policy: which peers get a broadcast is decided by the
 * pubsub adapter (bennu/cluster.h), the admin operations live in
 * bennu/admin.h on top of the request channel. bennuctl and the fault
 * harness use it as hidden nodes. */
#ifndef BENNU_MESH_H
#define BENNU_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bennu/export.h"
#include "bennu/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_mesh_s bn_mesh_t;

typedef struct bn_mesh_config_s {
    const char *name;         /* node name "name@host"; required */
    const char *bind;         /* listen address; default "127.0.0.1" */
    int port;                 /* listen port; 0 = ephemeral, -1 = no listener (hidden clients) */
    const char *cookie;       /* cluster cookie; required, at least 16 bytes */
    const char *const *seeds; /* "host:port" to dial at start and redial with backoff */
    size_t n_seeds;
    unsigned tick_ms; /* interval between ticks; default 1000 */
    unsigned down_ms; /* silence after which a peer is down; default 5000 */
    bool hidden;      /* join no groups, not gossiped (bennuctl) */
    /* "name@host=HOST:PORT": dial that node at this address instead of the
     * one it advertises (fault-injection proxies, NAT). */
    const char *const *dial_overrides;
    size_t n_dial_overrides;
    size_t max_frame;      /* default 16 MiB */
    size_t max_link_queue; /* bytes queued per link before it is dropped; default 64 MiB */
    /* Inbound connections that have not proved the cookie yet: at most this
     * many in all (default 128) and per source address (default 16); a new
     * one over a cap evicts the oldest. */
    size_t max_preauth;
    size_t max_preauth_per_ip;
    /* Networks allowed to connect ("10.0.0.0/8", "::1"); none = any. */
    const char *const *allow;
    size_t n_allow;
    /* "HOST:PORT" other nodes dial to reach this one (NAT, containers), sent
     * in the handshake's Identify and in peer lists; NULL = the listen
     * address (a wildcard bind: the address the peer sees). HOST is an IP
     * literal or "localhost". */
    const char *advertise;
    /* "NAME[:PORT]" resolved (A and AAAA) at start and every dns_interval_ms
     * (default 5000); each new address becomes a seed and is dialled. No
     * address is ever dropped and no live peer pruned; at most 64 addresses
     * in all (more are ignored, logged once). PORT defaults to this node's
     * own mesh port. */
    const char *const *join_dns;
    size_t n_join_dns;
    unsigned dns_interval_ms;
} bn_mesh_config_t;

typedef struct bn_mesh_callbacks_s {
    /* A Broadcast from a peer, to be fanned out locally (never forwarded).
     * Pointers are valid only during the call. */
    void (*deliver)(void *ud, const char *topic, size_t topic_len, const char *event,
                    size_t event_len, const bn_payload_t *payload);
    /* Optional. A non-hidden peer is up (first contact, return after a
     * partition, a new incarnation, or a replaced link: each time the peer
     * may have lost what we sent, so services resend their full state). */
    void (*peer_up)(void *ud, const char *name, uint64_t incarnation);
    /* Optional. A non-hidden peer that was up went down (its link closed or
     * went silent for down_ms). */
    void (*peer_down)(void *ud, const char *name, uint64_t incarnation);
    /* Optional. A NodeMessage from an up, non-hidden peer: body is borrowed
     * for the call and unvalidated (the service checks it). Messages from one
     * peer arrive in the order it sent them, between its peer_up and
     * peer_down. */
    void (*node_message)(void *ud, const char *from_name, uint32_t service, const void *body,
                         size_t len);
} bn_mesh_callbacks_t;

/* Allocates a mesh; nothing runs until bn_mesh_start. Derives the cookie key
 * with a memory-hard KDF (about 0.1 s and 32 MiB, once per process and
 * cookie). Returns 0 or a negative errno-style code with a logged reason
 * (bad config; UV_EINVAL for a cookie under 16 bytes). */
BN_EXTERN int bn_mesh_new(uv_loop_t *loop, const bn_mesh_config_t *cfg,
                          const bn_mesh_callbacks_t *cb, void *ud, bn_mesh_t **out);
/* Binds the listener and dials the seeds. Returns 0 or a negative libuv error.
 * Like bn_server_start, sets SIGPIPE to SIG_IGN once per process if it is
 * still SIG_DFL (an embedder's handler is kept), so a peer reset never kills
 * the process. */
BN_EXTERN int bn_mesh_start(bn_mesh_t *m);
/* The listening port actually bound (useful with port 0), or -1. */
BN_EXTERN int bn_mesh_port(const bn_mesh_t *m);

/* Called by pubsub when the first local subscriber of a topic appears / the
 * last one goes. Idempotent per topic. */
BN_EXTERN void bn_mesh_group_join(bn_mesh_t *m, const char *topic, size_t topic_len);
BN_EXTERN void bn_mesh_group_leave(bn_mesh_t *m, const char *topic, size_t topic_len);

/* Sends one Broadcast frame, encoded once, to each named peer that is up
 * (names not up are skipped). The payload must be BN_PAYLOAD_RAW_JSON or
 * BN_PAYLOAD_BINARY (the mesh serialises nothing; a BN_PAYLOAD_JSON payload
 * sends nothing). Which peers: the caller's policy (bennu/cluster.h
 * bn_cluster_broadcast asks bn_mesh_group_peers). Returns the number of
 * peers it was queued to. */
BN_EXTERN size_t bn_mesh_send_broadcast(bn_mesh_t *m, const char *const *nodes, size_t n_nodes,
                                        const char *topic, size_t topic_len, const char *event,
                                        size_t event_len, const bn_payload_t *payload);

/* Names of the up peers that have a member of topic: fills up to max of
 * names (borrowed, valid until the mesh next runs) and returns how many
 * there are in all (may exceed max). */
BN_EXTERN size_t bn_mesh_group_peers(bn_mesh_t *m, const char *topic, size_t topic_len,
                                     const char **names, size_t max);

/* Sends a node-to-node message (not a client topic) to the named up peer,
 * for its node_message callback. Returns 0 when queued, -1 when the peer is
 * not up, the mesh is closing, or the frame would exceed max_frame. */
BN_EXTERN int bn_mesh_send(bn_mesh_t *m, const char *node, uint32_t service, const void *bytes,
                           size_t len);
/* Service numbers of NodeMessage. */
#define BN_MESH_SERVICE_PRESENCE 1u

/* Replaces the callbacks given to bn_mesh_new (NULL: none). Used by
 * bn_server_attach_mesh (bennu/cluster.h) to wire a mesh created without
 * callbacks. */
BN_EXTERN void bn_mesh_set_callbacks(bn_mesh_t *m, const bn_mesh_callbacks_t *cb, void *ud);
/* The --workers naming convention: worker I of node "NAME@HOST" is the mesh
 * node "NAME-wI@HOST". Returns I (0..99) and writes "NAME@HOST" to base
 * (when base is not NULL), or -1 when name is not a worker's name or base
 * is too small. Admin tools use it to show a node's workers as one node. */
BN_EXTERN int bn_mesh_worker_name(const char *name, char *base, size_t cap);

/* ---- snapshots (plain C; bennu/admin.h renders them as JSON) ------------ */

typedef struct bn_mesh_link_info_s {
    uint64_t id;
    bool outbound;
    const char *addr;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, queued_bytes, rtt_us;
    uint64_t last_rx_ms_ago, age_ms;
    bool have_tick;            /* a tick was received on this link */
    uint64_t last_tick_ms_ago; /* valid when have_tick */
} bn_mesh_link_info_t;

typedef struct bn_mesh_member_s {
    const char *name, *host;
    int port;
    uint64_t incarnation;
    const char *state;      /* "up", "down", ... */
    const char *link_state; /* "up", "connecting" (a dial in flight) or "down" */
    bool up, hidden;
    size_t groups;
    uint64_t digest;
    const char *last_down_reason; /* a close-reason name */
    uint64_t downs;
    uint64_t up_ms; /* 0 unless up */
    bool have_down_ms;
    uint64_t down_ms; /* valid when have_down_ms */
    bool have_link;
    bn_mesh_link_info_t link; /* valid when have_link */
} bn_mesh_member_t;

typedef struct bn_mesh_info_s {
    const char *name;
    uint64_t incarnation;
    int port;
    bool hidden;
    size_t local_groups;
    uint64_t unknown_frames;
} bn_mesh_info_t;

/* This node. Strings borrowed from m. */
BN_EXTERN void bn_mesh_info(const bn_mesh_t *m, bn_mesh_info_t *out);
/* Calls cb once per known node (hidden ones included); the member and its
 * strings are valid during the call only. cb must not call into m. */
BN_EXTERN void bn_mesh_members(bn_mesh_t *m, void (*cb)(void *ud, const bn_mesh_member_t *mb),
                               void *ud);
/* Calls cb for each group of node (NULL: this node's local groups). Does
 * nothing for an unknown node. topic is not NUL-terminated. */
BN_EXTERN void bn_mesh_groups(bn_mesh_t *m, const char *node,
                              void (*cb)(void *ud, const char *topic, size_t topic_len), void *ud);
/* Whether node (NULL: this node) has topic in its groups. */
BN_EXTERN bool bn_mesh_has_group(bn_mesh_t *m, const char *node, const char *topic,
                                 size_t topic_len);
/* Link-close counters by reason, non-zero ones only, in reason order. */
BN_EXTERN void bn_mesh_close_counts(const bn_mesh_t *m,
                                    void (*cb)(void *ud, const char *reason, uint64_t n), void *ud);
/* Drops a down node from the membership (bennuctl forget). Returns 0 when
 * forgotten, 1 when unknown, -1 when it is up or linked (not forgettable). */
BN_EXTERN int bn_mesh_forget(bn_mesh_t *m, const char *node);

/* ---- the request channel ------------------------------------------------ */

/* An AdminRequest carries opaque bytes; the node answers with opaque bytes
 * under the same id. bennu/admin.h speaks JSON over it. */
typedef struct bn_mesh_answer_s {
    void *body; /* malloc'd by the responder, freed by the mesh; NULL = empty */
    size_t len;
    char tag[24]; /* optional short label for the admin_session log line ("" = none) */
} bn_mesh_answer_t;
/* Answers one request synchronously: from is the requesting node, req its
 * body (borrowed). Fill ans; the mesh sends it. */
typedef void (*bn_mesh_responder_fn)(void *ud, const char *from, const void *req, size_t len,
                                     bn_mesh_answer_t *ans);
/* Installs the responder (NULL: requests get an empty answer). */
BN_EXTERN void bn_mesh_set_responder(bn_mesh_t *m, bn_mesh_responder_fn fn, void *ud);

/* Client side. cb fires exactly once: status 0 with the answer bytes
 * (borrowed, valid during the call), UV_ETIMEDOUT if no answer within
 * timeout_ms (0 = 5000; the resolution is the housekeeping period), or
 * UV_ECANCELED at bn_mesh_close. node is the peer's name or NULL for the
 * first up peer; a request made before any link is up waits for one. req is
 * copied. Returns 0, or a negative code (and cb never runs). */
typedef void (*bn_mesh_request_cb)(void *ud, int status, const void *body, size_t len);
BN_EXTERN int bn_mesh_request(bn_mesh_t *m, const char *node, const void *req, size_t len,
                              unsigned timeout_ms, bn_mesh_request_cb cb, void *ud);

/* Number of peer nodes currently up (hidden ones included). */
BN_EXTERN size_t bn_mesh_up_count(const bn_mesh_t *m);
/* This node's name and incarnation. */
BN_EXTERN const char *bn_mesh_name(const bn_mesh_t *m);
BN_EXTERN uint64_t bn_mesh_incarnation(const bn_mesh_t *m);

/* Closes links and the listener. cb runs on a later loop turn, never inside
 * this call, once every handle the mesh owned has closed. The mesh is freed
 * before cb: m is invalid inside cb and after. Inside cb the loop may be
 * closed (uv_loop_close() returns 0 unless the embedder has handles of its
 * own open; see bn_server_stop). */
BN_EXTERN void bn_mesh_close(bn_mesh_t *m, void (*cb)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif

#endif
