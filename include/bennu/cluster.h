/* Clustering a server over a mesh in one call, and the broadcast routing
 * policy (which peers get a broadcast).
 *
 *   bn_mesh_new(loop, &mesh_cfg, NULL, NULL, &mesh);
 *   bn_mesh_start(mesh);
 *   bn_server_attach_mesh(srv, mesh);
 *
 * installs: the pubsub mesh adapter (the first local subscriber of a topic
 * joins its group, the last leaves it; a local broadcast goes to every up
 * peer holding the topic), delivery of peers' broadcasts to local
 * subscribers, Presence replication (bn_presence_attach_mesh and the mesh's
 * peer_up / peer_down / node_message), and the admin responder
 * (bennu/admin.h). It replaces the mesh's callbacks.
 *
 * Lifetime: the mesh must outlive the server. Stop the server first and
 * close the mesh afterwards (e.g. in bn_server_stop's callback); the server
 * detaches itself from the mesh when it is freed. */
#ifndef BENNU_CLUSTER_H
#define BENNU_CLUSTER_H

#include <jansson.h>
#include <stddef.h>

#include "bennu/bennu.h"
#include "bennu/export.h"
#include "bennu/mesh.h"
#include "bennu/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 0, UV_EINVAL (NULL argument), UV_EALREADY (already attached) or
 * UV_ENOMEM. */
BN_EXTERN int bn_server_attach_mesh(bn_server_t *srv, bn_mesh_t *mesh);

/* Optional, after bn_server_attach_mesh: adds fields to the admin "stats"
 * answer (fn gets the server's stats object). */
BN_EXTERN void bn_server_admin_stats_hook(bn_server_t *srv, void (*fn)(void *ud, json_t *stats),
                                          void *ud);

/* The routing policy: sends one Broadcast frame (encoded once; a JSON payload
 * is serialised once) to every up peer holding topic
 * (bn_mesh_group_peers + bn_mesh_send_broadcast). Returns the number of
 * peers it was queued to (0 also when out of memory, logged). Local
 * subscribers are not involved. */
BN_EXTERN size_t bn_cluster_broadcast(bn_mesh_t *m, const char *topic, size_t topic_len,
                                      const char *event, size_t event_len,
                                      const bn_payload_t *payload);

#ifdef __cplusplus
}
#endif

#endif
