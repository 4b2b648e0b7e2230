/* The pubsub adapter that carries broadcasts over the mesh: the first local
 * subscriber of a topic joins the pg group, the last one leaves it, and a
 * local broadcast goes to every up peer holding the topic
 * (bn_cluster_broadcast, the routing policy). Installed by
 * bn_server_attach_mesh (bennu/cluster.h); private to the library. */
#ifndef BN_PUBSUB_MESH_ADAPTER_H
#define BN_PUBSUB_MESH_ADAPTER_H

#include "bennu/mesh.h"
#include "bennu/pubsub.h"

/* Fills a (caller-owned, must outlive its use) with callbacks bound to m. */
void bn_ps_mesh_adapter_init(bn_pubsub_adapter_t *a, bn_mesh_t *m);

#endif
