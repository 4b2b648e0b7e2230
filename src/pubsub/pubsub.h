/* Local PubSub: the topic registry (topic -> subscribers, subscriber ->
 * topic) and the fanout that encodes a broadcast once per serializer and
 * queues the same bytes on every subscriber.
 *
 * Subscribers are intrusive nodes embedded in their owner (a channel), so
 * subscribe and unsubscribe are O(1) and allocate nothing but the topic entry
 * of a topic's first subscriber. */
#ifndef BN_PUBSUB_H
#define BN_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/pubsub.h"
#include "core/buf.h"
#include "protocol/message.h"

typedef struct bn_ps_s bn_ps_t;
typedef struct bn_ps_topic_s bn_ps_topic_t;
typedef struct bn_ps_sub_s bn_ps_sub_t;

typedef struct bn_ps_sub_ops_s {
    /* Queue the shared encoded broadcast; the callee takes its own ref. */
    void (*send)(bn_ps_sub_t *sub, bn_buf_t *msg);
    /* Only called when sub->intercepts is set: does the subscriber intercept
     * this event? */
    bool (*intercepts)(bn_ps_sub_t *sub, const char *event);
    /* Hand an intercepted broadcast to the subscriber (its own copy). */
    void (*handle_out)(bn_ps_sub_t *sub, const char *event, const bn_payload_t *payload);
} bn_ps_sub_ops_t;

/* Embedded in the subscriber. */
struct bn_ps_sub_s {
    bn_ps_sub_t *prev, *next;
    bn_ps_topic_t *topic;
    const bn_ps_sub_ops_t *ops;
    uint8_t vsn;     /* bn_vsn_t of the subscriber's connection */
    bool intercepts; /* the subscriber intercepts some events */
};

typedef struct bn_ps_stats_s {
    uint64_t broadcasts_local;  /* broadcasts made on this node */
    uint64_t broadcasts_remote; /* broadcasts received from other nodes */
    uint64_t deliveries;        /* messages queued to subscribers */
    uint64_t encodes;           /* serializations (at most one per serializer per broadcast) */
    uint64_t topics;
    uint64_t subscriptions;
} bn_ps_stats_t;

bn_ps_t *bn_ps_new(void);
void bn_ps_free(bn_ps_t *ps);
void bn_ps_set_adapter(bn_ps_t *ps, const bn_pubsub_adapter_t *adapter);
const bn_ps_stats_t *bn_ps_stats(const bn_ps_t *ps);

/* Caps the number of distinct topics with local subscribers (0 = no cap). */
void bn_ps_set_max_topics(bn_ps_t *ps, size_t max_topics);
/* True when subscribing to topic would create a topic over the cap. */
bool bn_ps_topic_full(const bn_ps_t *ps, const char *topic, size_t topic_len);

/* Adds sub (not yet subscribed) to topic. Returns 0, or -1 (OOM, or a new
 * topic over the cap). */
int bn_ps_subscribe(bn_ps_t *ps, bn_ps_sub_t *sub, const char *topic, size_t topic_len);
/* Removes sub from its topic; a no-op if not subscribed. Safe during a
 * fanout of the same topic for the subscriber being delivered to. */
void bn_ps_unsubscribe(bn_ps_t *ps, bn_ps_sub_t *sub);
/* Number of local subscribers of topic. */
size_t bn_ps_count(const bn_ps_t *ps, const char *topic, size_t topic_len);

/* Broadcasts to every local subscriber of topic except `except` (may be
 * NULL), and through the adapter to other nodes. payload may be JSON,
 * RAW_JSON or BINARY. Returns local deliveries, or -1 when the payload cannot
 * be encoded (non-object JSON). */
int bn_ps_broadcast(bn_ps_t *ps, const char *topic, size_t topic_len, const char *event,
                    const bn_payload_t *payload, const bn_ps_sub_t *except);
/* Delivers a broadcast that came from another node: local subscribers only. */
int bn_ps_deliver_remote(bn_ps_t *ps, const char *topic, size_t topic_len, const char *event,
                         const bn_payload_t *payload);
/* Phoenix's local_broadcast (Presence diffs): local subscribers only, never
 * through the adapter, not counted as a broadcast of either kind. */
int bn_ps_local_broadcast(bn_ps_t *ps, const char *topic, size_t topic_len, const char *event,
                          const bn_payload_t *payload);

#endif
