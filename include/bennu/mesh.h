/* The mesh as the rest of a node sees it: a full mesh of authenticated TCP
 * links to the other nodes of the cluster, pg-like group membership keyed by
 * topic, and one Broadcast frame per interested peer. pubsub is its only
 * user inside the node (through the adapter in pubsub.h); bennuctl and the
 * fault harness use it as hidden nodes. */
#ifndef BENNU_MESH_H
#define BENNU_MESH_H

#include <jansson.h>
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
    unsigned tick_ms;         /* interval between ticks; default 1000 */
    unsigned down_ms;         /* silence after which a peer is down; default 5000 */
    bool hidden;              /* join no groups, not gossiped (bennuctl) */
    /* "name@host=HOST:PORT": dial that node at this address instead of the
     * one it advertises (fault-injection proxies, NAT). */
    const char *const *dial_overrides;
    size_t n_dial_overrides;
    size_t max_frame;         /* default 16 MiB */
    size_t max_link_queue;    /* bytes queued per link before it is dropped; default 64 MiB */
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
    /* Node-local statistics for admin queries, as a new JSON object (may be NULL). */
    json_t *(*stats)(void *ud);
    /* Number of local subscribers of topic, for the admin group views
     * (optional: without it counts are reported as null). */
    size_t (*local_count)(void *ud, const char *topic, size_t topic_len);
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
    /* Optional. Admin ops the mesh does not know (e.g. "presence"): returns
     * a new JSON object answer, or NULL for "unknown op". req is borrowed. */
    json_t *(*admin)(void *ud, const char *op, json_t *req);
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

/* Sends one Broadcast frame to every up peer that has a member of topic.
 * Returns the number of peers it was queued to. */
BN_EXTERN size_t bn_mesh_broadcast(bn_mesh_t *m, const char *topic, size_t topic_len,
                                   const char *event, size_t event_len,
                                   const bn_payload_t *payload);

/* Sends a node-to-node message (not a client topic) to the named up peer,
 * for its node_message callback. Returns 0 when queued, -1 when the peer is
 * not up, the mesh is closing, or the frame would exceed max_frame. */
BN_EXTERN int bn_mesh_send(bn_mesh_t *m, const char *node, uint32_t service,
                           const void *bytes, size_t len);
/* Service numbers of NodeMessage. */
#define BN_MESH_SERVICE_PRESENCE 1u

/* The --workers naming convention: worker I of node "NAME@HOST" is the mesh
 * node "NAME-wI@HOST". Returns I (0..99) and writes "NAME@HOST" to base
 * (when base is not NULL), or -1 when name is not a worker's name or base
 * is too small. Admin tools use it to show a node's workers as one node. */
BN_EXTERN int bn_mesh_worker_name(const char *name, char *base, size_t cap);
/* Snapshots for admin and tests: new JSON objects owned by the caller. */
BN_EXTERN json_t *bn_mesh_members_json(bn_mesh_t *m);
BN_EXTERN json_t *bn_mesh_groups_json(bn_mesh_t *m);

/* Admin client (bennuctl, tests). An admin tool runs a hidden mesh whose
 * seeds are the node(s) to query, then sends JSON requests:
 *   {"op":"members"}   -> {"ok":true,"members":<bn_mesh_members_json>}
 *   {"op":"groups"}    -> {"ok":true,"groups":<bn_mesh_groups_json>}
 *                         groups also carries "counts": {topic: local
 *                         subscribers} when cb->local_count is set
 *   {"op":"topic","topic":"t"}
 *                      -> {"ok":true,"node":name,"topic":"t","local":bool,
 *                          "count":n|null,"peers":[up nodes believed to hold t]}
 *   {"op":"stats"}     -> {"ok":true,"node":name,"stats":<cb->stats() or null>,
 *                          "mesh":{"peers_up":n,"local_groups":n,"closes":{reason:n}}}
 *   {"op":"broadcast","topic":"t","event":"e","payload":<json>}
 *                      -> {"ok":true,"peers":n} (delivered locally too)
 * other ops            -> cb->admin's answer when it gives one (the server's
 *                         "presence" op: see bennu/presence.h)
 * anything else        -> {"ok":false,"error":"..."}
 * cb fires exactly once: status 0 with the response (borrowed, valid during
 * the call), UV_ETIMEDOUT if no answer within timeout_ms (0 = 5000; the
 * resolution is the housekeeping period), or UV_ECANCELED at bn_mesh_close.
 * node is the peer's name or NULL for the first up peer; a request made
 * before any link is up waits for one. request is borrowed. Returns 0, or a
 * negative code (and cb never runs). */
typedef void (*bn_mesh_admin_cb)(void *ud, int status, json_t *response);
BN_EXTERN int bn_mesh_admin_request(bn_mesh_t *m, const char *node, json_t *request,
                                    unsigned timeout_ms, bn_mesh_admin_cb cb, void *ud);

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
