/* The pubsub adapter that carries broadcasts over the mesh, and the routing
 * policy: the first local subscriber of a topic joins its pg group, the last
 * one leaves it, and a local broadcast becomes one Broadcast frame (encoded
 * once) per up peer holding the topic. The mesh only answers "who holds t"
 * (bn_mesh_group_peers) and sends to the peers named. */
#include <stdlib.h>
#include <string.h>

#include "bennu/cluster.h"
#include "bennu/log.h"
#include "pubsub/mesh_adapter.h"

/* Peers named from the stack up to this many; a bigger cluster takes one
 * allocation per broadcast (never one per recipient). */
#define ADAPTER_STACK_PEERS 64

size_t bn_cluster_broadcast(bn_mesh_t *m, const char *topic, size_t topic_len, const char *event,
                            size_t event_len, const bn_payload_t *payload)
{
    const char *small[ADAPTER_STACK_PEERS];
    const char **names = small;
    size_t n = bn_mesh_group_peers(m, topic, topic_len, small, ADAPTER_STACK_PEERS);
    if (n == 0) {
        return 0; /* nobody interested: skip encoding entirely */
    }
    if (n > ADAPTER_STACK_PEERS) {
        names = malloc(n * sizeof(*names));
        if (names == NULL) {
            /* Out of memory: no peer gets it (as when the payload cannot
             * be serialised below); the local fanout is not affected. */
            BN_LOG(ERROR, "oom", "what=cluster_broadcast peers=%zu", n);
            return 0;
        }
        n = bn_mesh_group_peers(m, topic, topic_len, names, n);
    }
    char *owned = NULL;
    bn_payload_t p = *payload;
    if (payload->kind == BN_PAYLOAD_JSON) {
        owned = json_dumps(payload->json, JSON_COMPACT | JSON_ENCODE_ANY);
        if (owned == NULL) {
            if (names != small) {
                free(names);
            }
            return 0;
        }
        p = bn_payload_raw_json(owned, strlen(owned));
    }
    size_t sent = bn_mesh_send_broadcast(m, names, n, topic, topic_len, event, event_len, &p);
    free(owned);
    if (names != small) {
        free(names);
    }
    return sent;
}

static void on_subscribed(void *ud, const char *topic, size_t topic_len)
{
    bn_mesh_group_join(ud, topic, topic_len);
}

static void on_unsubscribed(void *ud, const char *topic, size_t topic_len)
{
    bn_mesh_group_leave(ud, topic, topic_len);
}

static void on_broadcast(void *ud, const char *topic, size_t topic_len, const char *event,
                         size_t event_len, const bn_payload_t *payload)
{
    bn_cluster_broadcast(ud, topic, topic_len, event, event_len, payload);
}

void bn_ps_mesh_adapter_init(bn_pubsub_adapter_t *a, bn_mesh_t *m)
{
    a->ud = m;
    a->subscribed = on_subscribed;
    a->unsubscribed = on_unsubscribed;
    a->broadcast = on_broadcast;
}
