/* The seam between local PubSub and whatever carries broadcasts to other
 * nodes (the mesh today; a Redis adapter could sit beside it). */
#ifndef BENNU_PUBSUB_H
#define BENNU_PUBSUB_H

#include <stddef.h>

#include "bennu/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_pubsub_adapter_s {
    void *ud;
    /* First local subscriber of topic appeared / last one left. */
    void (*subscribed)(void *ud, const char *topic, size_t topic_len);
    void (*unsubscribed)(void *ud, const char *topic, size_t topic_len);
    /* A broadcast made on this node, to be sent to the other nodes. The
     * payload is RAW_JSON or BINARY. */
    void (*broadcast)(void *ud, const char *topic, size_t topic_len, const char *event,
                      size_t event_len, const bn_payload_t *payload);
} bn_pubsub_adapter_t;

#ifdef __cplusplus
}
#endif

#endif
