/* bn_server_attach_mesh (bennu/cluster.h): the one call that clusters a
 * server over a mesh. It wires the layers together and owns nothing but the
 * glue: the pubsub mesh adapter (routing policy, src/pubsub/mesh_adapter.c),
 * delivery of peers' broadcasts into pubsub, Presence replication, and the
 * admin responder (src/admin/). The glue lives in the server (freed with it,
 * detaching itself from the mesh). */
#include <stdlib.h>
#include <string.h>

#include "bennu/admin.h"
#include "bennu/cluster.h"
#include "bennu/presence.h"
#include "channel/internal.h"
#include "cluster/cluster.h"
#include "pubsub/mesh_adapter.h"

struct bn__cluster_s {
    bn_server_t *srv;
    bn_mesh_t *mesh;
    bn_pubsub_adapter_t adapter;
    bn_admin_t admin;
};

static void on_deliver(void *ud, const char *topic, size_t topic_len, const char *event,
                       size_t event_len, const bn_payload_t *payload)
{
    (void)event_len;
    bn__cluster_t *c = ud;
    bn_server_deliver_remote(c->srv, topic, topic_len, event, payload);
}

static void on_peer_up(void *ud, const char *name, uint64_t incarnation)
{
    bn__cluster_t *c = ud;
    bn_presence_peer_up(c->srv, name, incarnation);
}

static void on_peer_down(void *ud, const char *name, uint64_t incarnation)
{
    bn__cluster_t *c = ud;
    bn_presence_peer_down(c->srv, name, incarnation);
}

static void on_node_message(void *ud, const char *from, uint32_t service, const void *body,
                            size_t len)
{
    bn__cluster_t *c = ud;
    if (service == BN_MESH_SERVICE_PRESENCE) {
        bn_presence_node_message(c->srv, from, body, len);
    }
}

int bn_server_attach_mesh(bn_server_t *srv, bn_mesh_t *mesh)
{
    if (srv == NULL || mesh == NULL) {
        return UV_EINVAL;
    }
    if (srv->cluster != NULL) {
        return UV_EALREADY;
    }
    bn__cluster_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return UV_ENOMEM;
    }
    c->srv = srv;
    c->mesh = mesh;
    srv->cluster = c;
    bn_mesh_callbacks_t cb = {
        .deliver = on_deliver,
        .peer_up = on_peer_up,
        .peer_down = on_peer_down,
        .node_message = on_node_message,
    };
    bn_mesh_set_callbacks(mesh, &cb, c);
    bn_presence_attach_mesh(srv, mesh);
    bn_ps_mesh_adapter_init(&c->adapter, mesh);
    bn_server_set_adapter(srv, &c->adapter);
    bn_admin_attach(&c->admin, mesh, srv);
    return 0;
}

void bn_server_admin_stats_hook(bn_server_t *srv, void (*fn)(void *ud, json_t *stats), void *ud)
{
    if (srv != NULL && srv->cluster != NULL) {
        srv->cluster->admin.extend_stats = fn;
        srv->cluster->admin.ud = ud;
    }
}

void bn__cluster_free(bn_server_t *srv)
{
    bn__cluster_t *c = srv->cluster;
    if (c == NULL) {
        return;
    }
    bn_mesh_set_callbacks(c->mesh, NULL, NULL);
    bn_mesh_set_responder(c->mesh, NULL, NULL);
    srv->cluster = NULL;
    free(c);
}
