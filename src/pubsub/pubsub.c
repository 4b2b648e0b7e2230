#include "pubsub/pubsub.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "bennu/log.h"

/* A running fanout's position. Fanouts of one topic can nest (a handle_out
 * that broadcasts), so each registers its iterator with the topic; an
 * unsubscribe advances every iterator that points at the leaving
 * subscriber, and the topic entry outlives all of them. */
typedef struct fan_iter_s {
    bn_ps_sub_t *next;
    struct fan_iter_s *outer;
} fan_iter_t;

struct bn_ps_topic_s {
    UT_hash_handle hh;
    bn_ps_sub_t *head;
    size_t count;
    fan_iter_t *iters;
    size_t len;
    char name[];
};

struct bn_ps_s {
    bn_ps_topic_t *topics;
    size_t max_topics;
    const bn_pubsub_adapter_t *adapter;
    bn_ps_stats_t stats;
};

bn_ps_t *bn_ps_new(void)
{
    return calloc(1, sizeof(bn_ps_t));
}

void bn_ps_free(bn_ps_t *ps)
{
    if (ps == NULL) {
        return;
    }
    bn_ps_topic_t *t, *tmp;
    HASH_ITER(hh, ps->topics, t, tmp)
    {
        HASH_DEL(ps->topics, t);
        free(t);
    }
    free(ps);
}

void bn_ps_set_adapter(bn_ps_t *ps, const bn_pubsub_adapter_t *adapter)
{
    ps->adapter = adapter;
}

const bn_ps_stats_t *bn_ps_stats(const bn_ps_t *ps)
{
    return &ps->stats;
}

static bn_ps_topic_t *topic_find(const bn_ps_t *ps, const char *topic, size_t len)
{
    bn_ps_topic_t *t = NULL;
    HASH_FIND(hh, ps->topics, topic, len, t);
    return t;
}

/* The last subscriber is gone and no fanout is walking the topic. */
static void topic_drop(bn_ps_t *ps, bn_ps_topic_t *t)
{
    if (ps->adapter != NULL && ps->adapter->unsubscribed != NULL) {
        ps->adapter->unsubscribed(ps->adapter->ud, t->name, t->len);
    }
    HASH_DEL(ps->topics, t);
    ps->stats.topics--;
    free(t);
}

void bn_ps_set_max_topics(bn_ps_t *ps, size_t max_topics)
{
    ps->max_topics = max_topics;
}

bool bn_ps_topic_full(const bn_ps_t *ps, const char *topic, size_t topic_len)
{
    return ps->max_topics > 0 && ps->stats.topics >= ps->max_topics &&
           topic_find(ps, topic, topic_len) == NULL;
}

int bn_ps_subscribe(bn_ps_t *ps, bn_ps_sub_t *sub, const char *topic, size_t topic_len)
{
    bn_ps_topic_t *t = topic_find(ps, topic, topic_len);
    if (t == NULL) {
        if (ps->max_topics > 0 && ps->stats.topics >= ps->max_topics) {
            return -1;
        }
        t = calloc(1, sizeof(*t) + topic_len + 1);
        if (t == NULL) {
            return -1;
        }
        memcpy(t->name, topic, topic_len);
        t->len = topic_len;
        HASH_ADD(hh, ps->topics, name[0], topic_len, t);
        ps->stats.topics++;
        if (ps->adapter != NULL && ps->adapter->subscribed != NULL) {
            ps->adapter->subscribed(ps->adapter->ud, t->name, t->len);
        }
    }
    sub->topic = t;
    sub->prev = NULL;
    sub->next = t->head;
    if (t->head != NULL) {
        t->head->prev = sub;
    }
    t->head = sub;
    t->count++;
    ps->stats.subscriptions++;
    return 0;
}

void bn_ps_unsubscribe(bn_ps_t *ps, bn_ps_sub_t *sub)
{
    bn_ps_topic_t *t = sub->topic;
    if (t == NULL) {
        return;
    }
    for (fan_iter_t *it = t->iters; it != NULL; it = it->outer) {
        if (it->next == sub) {
            it->next = sub->next;
        }
    }
    if (sub->prev != NULL) {
        sub->prev->next = sub->next;
    } else {
        t->head = sub->next;
    }
    if (sub->next != NULL) {
        sub->next->prev = sub->prev;
    }
    sub->topic = NULL;
    sub->prev = sub->next = NULL;
    t->count--;
    ps->stats.subscriptions--;
    if (t->count == 0 && t->iters == NULL) {
        topic_drop(ps, t);
    }
}

size_t bn_ps_count(const bn_ps_t *ps, const char *topic, size_t topic_len)
{
    bn_ps_topic_t *t = topic_find(ps, topic, topic_len);
    return t != NULL ? t->count : 0;
}

/* The fanout. Encodings are made lazily, once per serializer actually
 * present among the subscribers, and shared by reference. */
static int fanout(bn_ps_t *ps, bn_ps_topic_t *t, const char *event, const bn_payload_t *payload,
                  const bn_ps_sub_t *except)
{
    bn_buf_t *enc[BN_VSN_COUNT + 1] = {NULL};
    bool failed[BN_VSN_COUNT + 1] = {false};
    json_t *parsed = NULL; /* intercepting subscribers get a JSON value */
    int delivered = 0;
    bn_out_t out = {
        .kind = BN_OUT_BROADCAST,
        .topic = t->name,
        .topic_len = t->len,
        .event = event,
        .event_len = strlen(event),
        .payload = payload,
    };
    /* The registered iterator makes the walk safe against unsubscribes
     * during delivery (a slow consumer closed, a crashed handle_out). */
    fan_iter_t it = {NULL, t->iters};
    t->iters = &it;
    bn_ps_sub_t *sub = t->head;
    while (sub != NULL) {
        it.next = sub->next;
        if (sub != except) {
            if (sub->intercepts && sub->ops->intercepts(sub, event)) {
                bn_payload_t p = *payload;
                if (payload->kind == BN_PAYLOAD_RAW_JSON) {
                    if (parsed == NULL) {
                        parsed = json_loadb(payload->raw, payload->len, JSON_DECODE_ANY, NULL);
                    }
                    p = bn_payload_json(parsed);
                }
                if (p.kind != BN_PAYLOAD_JSON || p.json != NULL) {
                    sub->ops->handle_out(sub, event, &p);
                }
            } else {
                uint8_t v = sub->vsn;
                if (enc[v] == NULL && !failed[v]) {
                    const char *err = NULL;
                    enc[v] = bn_ser_encode((bn_vsn_t)v, &out, &err);
                    ps->stats.encodes++;
                    if (enc[v] == NULL) {
                        failed[v] = true;
                        BN_LOG(DEBUG, "broadcast_encode_failed", "topic=%s vsn=%u error=%s",
                               BN_LOG_VAL_N(t->name, t->len), v, BN_LOG_VAL(err ? err : "?"));
                    }
                }
                if (enc[v] != NULL) {
                    sub->ops->send(sub, enc[v]);
                    delivered++;
                }
            }
        }
        sub = it.next;
    }
    t->iters = it.outer;
    for (size_t i = 0; i <= BN_VSN_COUNT; i++) {
        bn_buf_unref(enc[i]);
    }
    json_decref(parsed);
    ps->stats.deliveries += (uint64_t)delivered;
    if (t->count == 0 && t->iters == NULL) {
        topic_drop(ps, t); /* everyone left during the fanout */
    }
    return delivered;
}

int bn_ps_broadcast(bn_ps_t *ps, const char *topic, size_t topic_len, const char *event,
                    const bn_payload_t *payload, const bn_ps_sub_t *except)
{
    bn_payload_t p = *payload;
    char *text = NULL;
    if (p.kind == BN_PAYLOAD_JSON) {
        /* Phoenix requires maps; dump once so every serializer and the mesh
         * reuse the same text. */
        if (!json_is_object(p.json)) {
            return -1;
        }
        text = json_dumps(p.json, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL) {
            return -1;
        }
        p = bn_payload_raw_json(text, strlen(text));
    }
    ps->stats.broadcasts_local++;
    int delivered = 0;
    bn_ps_topic_t *t = topic_find(ps, topic, topic_len);
    if (t != NULL) {
        delivered = fanout(ps, t, event, &p, except);
    }
    if (ps->adapter != NULL && ps->adapter->broadcast != NULL) {
        ps->adapter->broadcast(ps->adapter->ud, topic, topic_len, event, strlen(event), &p);
    }
    free(text);
    return delivered;
}

int bn_ps_deliver_remote(bn_ps_t *ps, const char *topic, size_t topic_len, const char *event,
                         const bn_payload_t *payload)
{
    ps->stats.broadcasts_remote++;
    bn_ps_topic_t *t = topic_find(ps, topic, topic_len);
    if (t == NULL) {
        return 0;
    }
    return fanout(ps, t, event, payload, NULL);
}

int bn_ps_local_broadcast(bn_ps_t *ps, const char *topic, size_t topic_len, const char *event,
                          const bn_payload_t *payload)
{
    bn_ps_topic_t *t = topic_find(ps, topic, topic_len);
    return t != NULL ? fanout(ps, t, event, payload, NULL) : 0;
}
