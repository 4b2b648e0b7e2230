#include "pubsub/mesh_adapter.h"

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
    bn_mesh_broadcast(ud, topic, topic_len, event, event_len, payload);
}

void bn_ps_mesh_adapter_init(bn_pubsub_adapter_t *a, bn_mesh_t *m)
{
    a->ud = m;
    a->subscribed = on_subscribed;
    a->unsubscribed = on_unsubscribed;
    a->broadcast = on_broadcast;
}
