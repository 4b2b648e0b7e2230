/* Channel instances: lifecycle, the public channel API and the pubsub
 * subscriber operations. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"
#include "bennu/log.h"
#include "presence/hooks.h"

static const char *const stop_reason_names[] = {
#define BN_STOP_NAME(name, str) str,
    BN_STOP_REASON_MAP(BN_STOP_NAME)
#undef BN_STOP_NAME
};

const char *bn_stop_reason_name(bn_stop_reason_t r)
{
    return stop_reason_names[r];
}

void bn__reply_init(bn_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->status, "ok");
}

void bn__reply_clear(bn_reply_t *r)
{
    json_decref(r->response);
    free(r->bin);
    memset(r, 0, sizeof(*r));
}

void bn_reply_set(bn_reply_t *r, const char *status, json_t *response)
{
    snprintf(r->status, sizeof(r->status), "%s", status ? status : "ok");
    json_decref(r->response);
    free(r->bin);
    r->bin = NULL;
    r->is_binary = false;
    r->response = response;
    r->set = true;
}

void bn_reply_set_binary(bn_reply_t *r, const char *status, const void *bytes, size_t len)
{
    snprintf(r->status, sizeof(r->status), "%s", status ? status : "ok");
    json_decref(r->response);
    r->response = NULL;
    free(r->bin);
    r->bin = malloc(len ? len : 1);
    if (r->bin != NULL) {
        memcpy(r->bin, bytes, len);
    }
    r->bin_len = len;
    r->is_binary = true;
    r->set = true;
}

bn_channel_t *bn__chan_new(bn_socket_t *s, const bn_route_t *route, const char *topic,
                           size_t topic_len, json_t *join_ref)
{
    if (topic_len >= UINT32_MAX) {
        return NULL;
    }
    bn_channel_t *ch = calloc(1, offsetof(bn_channel_t, topic) + topic_len + 1);
    if (ch == NULL) {
        return NULL;
    }
    memcpy(ch->topic, topic, topic_len);
    ch->topic_len = (uint32_t)topic_len;
    ch->sock = s;
    bn__sock_ref(s);
    ch->refs = 1;
    ch->route = route;
    bn_intern_t *refs = s->srv->join_refs;
    if (refs != NULL && json_is_string(join_ref) &&
        json_string_length(join_ref) <= BN_JOIN_REF_SHARED_MAX) {
        /* Clients reuse a handful of small refs: share one string. */
        ch->join_ref =
            bn_intern_json(refs, json_string_value(join_ref), json_string_length(join_ref));
        if (ch->join_ref == NULL) {
            bn__sock_unref(s);
            free(ch);
            return NULL;
        }
        ch->join_ref_shared = true;
    } else {
        ch->join_ref = json_incref(join_ref);
    }
    ch->sub.ops = &bn__chan_sub_ops;
    ch->sub.vsn = s->vsn;
    ch->sub.intercepts = route->type->intercept != NULL && route->type->intercept[0] != NULL;
    return ch;
}

void bn__chan_ref(bn_channel_t *ch)
{
    ch->refs++;
}

void bn__chan_unref(bn_channel_t *ch)
{
    if (--ch->refs > 0) {
        return;
    }
    bn_socket_t *s = ch->sock;
    if (ch->join_ref_shared) {
        bn_intern_release(s->srv->join_refs, ch->join_ref);
    } else {
        json_decref(ch->join_ref);
    }
    json_decref(ch->pending_ref);
    free(ch);
    bn__sock_unref(s);
}

/* phx_close / phx_error carry the join_ref in both ref slots (PROTOCOL.md 3.6). */
void bn__chan_send_lifecycle(bn_channel_t *ch, const char *event)
{
    json_t *payload_obj = strcmp(event, "phx_error") == 0
                              ? json_pack("{s:s}", "reason", "channel_crash")
                              : json_object();
    bn_payload_t payload = bn_payload_json(payload_obj);
    bn_out_t out = {
        .kind = BN_OUT_PUSH,
        .join_ref = ch->join_ref,
        .ref = ch->join_ref,
        .topic = ch->topic,
        .topic_len = ch->topic_len,
        .event = event,
        .event_len = strlen(event),
        .payload = &payload,
    };
    bn__sock_send_out(ch->sock, &out);
    json_decref(payload_obj);
}

/* Marks, unsubscribes, unlinks and terminates; the free waits for the last
 * reference (a callback of this channel may be running further up the
 * stack: its own handle_out failing inside a broadcast from its handle_in,
 * its socket closing inside one of its callbacks). */
void bn__chan_remove(bn_channel_t *ch, bn_stop_reason_t reason)
{
    if (ch->closing) {
        return;
    }
    ch->closing = true;
    bn_socket_t *s = ch->sock;
    if (s->joining == ch) {
        s->joining = NULL; /* an asynchronous join that will not complete */
    }
    bn_ps_unsubscribe(s->srv->ps, &ch->sub);
    for (bn_channel_t **pp = &s->channels; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ch) {
            *pp = ch->next;
            ch->next = NULL;
            s->n_channels--;
            s->srv->stats.channels--;
            break;
        }
    }
    if (ch->joined && ch->route->type->terminate != NULL) {
        ch->route->type->terminate(ch, reason);
    }
    bn__presence_channel_gone(ch); /* its presences end with it */
    bn__chan_unref(ch);            /* the owner's */
}

void bn__chan_stop(bn_channel_t *ch, bn_stop_reason_t reason)
{
    if (ch->closing) {
        return;
    }
    if (ch->joined) {
        bn__chan_send_lifecycle(ch, "phx_close");
    }
    bn__chan_remove(ch, reason);
}

/* A callback failed: the client sees phx_error and the channel is gone,
 * like a crashed channel process; other channels are unaffected. */
void bn__chan_crash(bn_channel_t *ch)
{
    if (ch->closing) {
        return;
    }
    BN_LOG(WARN, "channel_crash", "topic=%s channel=%s", BN_LOG_VAL(ch->topic),
           ch->route->type->name);
    if (ch->joined) {
        /* (inside its own join the crash is answered as "join crashed") */
        ch->sock->srv->stats.crashes++;
        bn__chan_send_lifecycle(ch, "phx_error");
    }
    bn__chan_remove(ch, BN_STOP_CRASH);
}

/* ---------------------------------------------------------------- public API */

const char *bn_channel_topic(const bn_channel_t *ch)
{
    return ch->topic;
}

bn_socket_t *bn_channel_socket(bn_channel_t *ch)
{
    return ch->sock;
}

void *bn_channel_route_data(const bn_channel_t *ch)
{
    return ch->route->ud;
}

void bn_channel_set_data(bn_channel_t *ch, void *data)
{
    ch->data = data;
}

void *bn_channel_data(const bn_channel_t *ch)
{
    return ch->data;
}

int bn_channel_push(bn_channel_t *ch, const char *event, const bn_payload_t *payload)
{
    if (ch->closing) {
        return -1; /* left, crashed or closed: the client no longer has this join */
    }
    bn_out_t out = {
        .kind = BN_OUT_PUSH,
        .join_ref = ch->join_ref,
        .ref = NULL,
        .topic = ch->topic,
        .topic_len = ch->topic_len,
        .event = event,
        .event_len = strlen(event),
        .payload = payload,
    };
    ch->sock->srv->stats.pushes++;
    return bn__sock_send_out(ch->sock, &out);
}

int bn_channel_broadcast(bn_channel_t *ch, const char *event, const bn_payload_t *payload)
{
    return bn_ps_broadcast(ch->sock->srv->ps, ch->topic, ch->topic_len, event, payload, NULL);
}

int bn_channel_broadcast_from(bn_channel_t *ch, const char *event, const bn_payload_t *payload)
{
    return bn_ps_broadcast(ch->sock->srv->ps, ch->topic, ch->topic_len, event, payload, &ch->sub);
}

bool bn_channel_alive(const bn_channel_t *ch)
{
    return !ch->closing && !ch->sock->closed;
}

/* The reference taken when the callback returned BN_CHAN_ASYNC is dropped
 * here, after the completion (which may remove the channel) has run. */
void bn_channel_finish(bn_channel_t *ch, bn_chan_result_t res, const char *status, json_t *response)
{
    if (!ch->busy) {
        BN_LOG(ERROR, "channel_finish_unexpected", "topic=%s", BN_LOG_VAL(ch->topic));
        json_decref(response);
        return;
    }
    bn_reply_t r;
    bn__reply_init(&r);
    if (status != NULL || response != NULL) {
        bn_reply_set(&r, status, response);
    }
    if (ch->joined) {
        bn__sock_event_finish(ch, res, &r);
    } else {
        bn__sock_join_finish(ch, res, &r);
    }
    bn__reply_clear(&r);
    bn__chan_unref(ch);
}

/* ---------------------------------------------------------------- subscriber ops */

static void sub_send(bn_ps_sub_t *sub, bn_buf_t *msg)
{
    bn_channel_t *ch = bn_container_of(sub, bn_channel_t, sub);
    bn_socket_t *s = ch->sock;
    if (!s->closed) {
        s->io->send(s->io_ud, msg);
    }
}

static bool sub_intercepts(bn_ps_sub_t *sub, const char *event)
{
    bn_channel_t *ch = bn_container_of(sub, bn_channel_t, sub);
    for (const char *const *e = ch->route->type->intercept; *e != NULL; e++) {
        if (strcmp(*e, event) == 0) {
            return true;
        }
    }
    return false;
}

/* handle_out returns OK ({:noreply, socket}) or STOP ({:stop, :normal,
 * socket}: phx_close, terminate "normal"); anything else is a crash, as an
 * invalid return is in Phoenix. The channel may be removed inside the
 * callback (by a nested broadcast, its socket closing); the reference held
 * here keeps it allocated until this returns. */
static void sub_handle_out(bn_ps_sub_t *sub, const char *event, const bn_payload_t *payload)
{
    bn_channel_t *ch = bn_container_of(sub, bn_channel_t, sub);
    const bn_channel_type_t *type = ch->route->type;
    if (ch->closing || ch->sock->closed) {
        return;
    }
    bn__chan_ref(ch);
    bn_chan_result_t res =
        type->handle_out != NULL ? type->handle_out(ch, event, payload) : BN_CHAN_CRASH;
    if (res == BN_CHAN_STOP) {
        bn__chan_stop(ch, BN_STOP_NORMAL);
    } else if (res != BN_CHAN_OK) {
        bn__chan_crash(ch);
    }
    bn__chan_unref(ch);
}

const bn_ps_sub_ops_t bn__chan_sub_ops = {
    .send = sub_send,
    .intercepts = sub_intercepts,
    .handle_out = sub_handle_out,
};
