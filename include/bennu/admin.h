/* The admin operations of a node, as JSON over the mesh's opaque request
 * channel (bn_mesh_set_responder / bn_mesh_request in bennu/mesh.h). A node
 * clustered with bn_server_attach_mesh (bennu/cluster.h) already answers
 * them; bennuctl and tests are the clients.
 *
 * Requests and answers (one JSON object each way):
 *   {"op":"members"}   -> {"ok":true,"members":<bn_admin_members_json>}
 *   {"op":"groups"}    -> {"ok":true,"groups":<bn_admin_groups_json>}
 *                         groups also carries "counts": {topic: local
 *                         subscribers} when the node has a server
 *   {"op":"topic","topic":"t"}
 *                      -> {"ok":true,"node":name,"topic":"t","local":bool,
 *                          "count":n|null,"peers":[up nodes believed to hold t]}
 *   {"op":"stats"}     -> {"ok":true,"node":name,"stats":<server stats or null>,
 *                          "mesh":{"peers_up":n,"local_groups":n,"closes":{reason:n}}}
 *   {"op":"broadcast","topic":"t","event":"e","payload":<json>}
 *                      -> {"ok":true,"peers":n}: published through the
 *                         server's pubsub (bn_server_broadcast) like any other
 *                         broadcast, so local subscribers get it too; n is the
 *                         number of up peers holding t when it was sent
 *   {"op":"forget","node":"n@h"}
 *                      -> {"ok":true,"node":name,"forgotten":bool}
 *   {"op":"presence"[,"topic":"t"]}
 *                      -> bn_presence_admin_json plus "ok":true (with a server)
 *   anything else      -> {"ok":false,"error":"..."}
 */
#ifndef BENNU_ADMIN_H
#define BENNU_ADMIN_H

#include <jansson.h>

#include "bennu/bennu.h"
#include "bennu/export.h"
#include "bennu/mesh.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The responder's state: caller-owned, must outlive its registration on the
 * mesh (bn_admin_attach until bn_mesh_set_responder(m, NULL, NULL) or the
 * mesh's close). */
typedef struct bn_admin_s {
    bn_mesh_t *mesh;
    bn_server_t *srv; /* NULL: a bare mesh (no counts, no presence; stats null;
                       * broadcast reaches peers only) */
    /* Optional: the "stats" object instead of bn_server_stats_json(srv), a
     * new JSON object or NULL. */
    json_t *(*stats)(void *ud);
    /* Optional: adds fields to the stats object (e.g. the app's webhook). */
    void (*extend_stats)(void *ud, json_t *stats);
    void *ud;
} bn_admin_t;

/* Fills a (hooks cleared) and registers it as m's request responder. */
BN_EXTERN void bn_admin_attach(bn_admin_t *a, bn_mesh_t *m, bn_server_t *srv);

/* Membership and group snapshots as JSON (new objects owned by the caller):
 * members: {"node","incarnation","port","hidden","local_groups",
 *           "unknown_frames","closes":{reason:n},"nodes":[{...}]}
 * groups:  {"local":[topic...],"peers":{node:[topic...]}} (up, non-hidden peers) */
BN_EXTERN json_t *bn_admin_members_json(bn_mesh_t *m);
BN_EXTERN json_t *bn_admin_groups_json(bn_mesh_t *m);

/* Admin client: sends request (borrowed) over bn_mesh_request. cb fires
 * exactly once: status 0 with the answer (borrowed, valid during the call),
 * UV_EPROTO (NULL) when the answer is not JSON, UV_ETIMEDOUT, or
 * UV_ECANCELED at bn_mesh_close; see bn_mesh_request for node and
 * timeout_ms. Returns 0, or a negative code (and cb never runs). */
typedef void (*bn_admin_cb)(void *ud, int status, json_t *response);
BN_EXTERN int bn_admin_request(bn_mesh_t *m, const char *node, json_t *request, unsigned timeout_ms,
                               bn_admin_cb cb, void *ud);

#ifdef __cplusplus
}
#endif

#endif
