/* Phoenix sockets: one per client connection (WebSocket or LongPoll
 * session). Decodes client messages and dispatches them exactly as Phoenix's
 * transport does (PROTOCOL.md 3.2). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"
#include "bennu/log.h"
#include "presence/hooks.h"

/* A client message waiting behind asynchronous work (bn_channel_finish):
 * the decoded message points into its own copy of the bytes. */
typedef struct bn_sock_queued_s {
    struct bn_sock_queued_s *next;
    bn_msg_t m;
    size_t len;
    uint8_t data[];
} bn_sock_queued_t;

bn_socket_t *bn__sock_new_query(bn_server_t *srv, const bn_sock_io_t *io, void *io_ud, bn_vsn_t vsn,
                                const char *query, const char *transport)
{
    size_t qlen = query != NULL ? strlen(query) : 0;
    bn_socket_t *s = calloc(1, offsetof(bn_socket_t, query) + qlen + 1);
    if (s == NULL) {
        return NULL;
    }
    if (qlen > 0) {
        memcpy(s->query, query, qlen);
    }
    s->srv = srv;
    s->io = io;
    s->io_ud = io_ud;
    s->refs = 1; /* the transport's */
    s->vsn = (uint8_t)vsn;
    s->longpoll = strcmp(transport, "longpoll") == 0;
    s->next = srv->sockets;
    if (srv->sockets != NULL) {
        srv->sockets->prev = s;
    }
    srv->sockets = s;
    srv->stats.sockets++;
    if (!s->longpoll) {
        srv->stats.sockets_ws++;
    } else {
        srv->stats.sockets_lp++;
    }
    return s;
}

bn_socket_t *bn__sock_new(bn_server_t *srv, const bn_sock_io_t *io, void *io_ud, bn_vsn_t vsn,
                          json_t *params, const char *transport)
{
    bn_socket_t *s = bn__sock_new_query(srv, io, io_ud, vsn, NULL, transport);
    if (s != NULL) {
        s->params = json_incref(params);
    }
    return s;
}

void bn__sock_ref(bn_socket_t *s)
{
    s->refs++;
}

void bn__sock_unref(bn_socket_t *s)
{
    if (--s->refs > 0) {
        return;
    }
    /* Closed by now: the transport's reference is dropped only after
     * bn__sock_close, and every other one is taken and dropped around a
     * dispatch or a channel's life. */
    json_decref(s->params);
    json_decref(s->assigns);
    free(s->extra);
    free(s);
}

/* Per-socket memory is budgeted (issue: at most 1 KiB per idle joined
 * WebSocket; docs/memory.md): what not every socket needs goes to extra. */
_Static_assert(sizeof(void *) != 8 || sizeof(bn_socket_t) <= 112,
               "bn_socket_s grew: move rarely used fields to bn_sock_extra_t");

bn_sock_extra_t *bn__sock_extra(bn_socket_t *s)
{
    if (s->extra == NULL && (s->extra = calloc(1, sizeof(*s->extra))) != NULL) {
        s->extra->sock = s;
    }
    return s->extra;
}

void bn__sock_close(bn_socket_t *s)
{
    if (s->closed) {
        return;
    }
    s->closed = true;
    bn_server_t *srv = s->srv;
    bn__sock_ref(s); /* through the terminate callbacks */
    if (s->joining != NULL) {
        bn__chan_remove(s->joining, BN_STOP_CLOSED);
    }
    while (s->channels != NULL) {
        bn__chan_remove(s->channels, BN_STOP_CLOSED);
    }
    bn_sock_extra_t *x = s->extra;
    while (x != NULL && x->queue_head != NULL) {
        bn_sock_queued_t *q = x->queue_head;
        x->queue_head = q->next;
        bn_msg_clear(&q->m);
        free(q);
    }
    if (x != NULL) {
        x->queue_tail = NULL;
        x->queue_n = x->queue_bytes = 0;
    }
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        srv->sockets = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    s->prev = s->next = NULL;
    bn__sock_id_detach(s);
    srv->stats.sockets--;
    if (!s->longpoll) {
        srv->stats.sockets_ws--;
    } else {
        srv->stats.sockets_lp--;
    }
    bn__sock_unref(s);
}

void bn__sock_free(bn_socket_t *s)
{
    if (s->released) {
        BN_LOG(ERROR, "socket_double_free", "transport=%s", bn_socket_transport(s));
        return;
    }
    s->released = true;
    s->io_ud = NULL;
    bn__sock_close(s);
    bn__sock_unref(s);
}

int bn__sock_send_out(bn_socket_t *s, const bn_out_t *o)
{
    if (s->closed) {
        return -1;
    }
    const char *err = NULL;
    bn_buf_t *b = bn_ser_encode((bn_vsn_t)s->vsn, o, &err);
    if (b == NULL) {
        BN_LOG(WARN, "encode_failed", "topic=%s error=%s", BN_LOG_VAL_N(o->topic, o->topic_len),
               BN_LOG_VAL(err ? err : "?"));
        return -1;
    }
    int rc = s->io->send(s->io_ud, b);
    bn_buf_unref(b);
    return rc;
}

/* ---------------------------------------------------------------- public socket API */

void bn_socket_assign(bn_socket_t *s, const char *key, json_t *value)
{
    if (s->assigns == NULL) {
        s->assigns = json_object();
        if (s->assigns == NULL) {
            json_decref(value); /* stolen, as json_object_set_new does on failure */
            return;
        }
    }
    json_object_set_new(s->assigns, key, value);
}

json_t *bn_socket_assigns_get(const bn_socket_t *s, const char *key)
{
    return json_object_get(s->assigns, key);
}

/* Parsed on first use and kept: the borrowed object lives as long as the
 * socket. (The connect callback gets its own parse of the same query.) */
json_t *bn_socket_params(const bn_socket_t *s)
{
    if (s->params == NULL) {
        ((bn_socket_t *)s)->params = bn_http_query_parse(s->query);
    }
    return s->params;
}

const char *bn_socket_transport(const bn_socket_t *s)
{
    return s->longpoll ? "longpoll" : "websocket";
}

/* ---------------------------------------------------------------- dispatch */

static void reply_topic(bn_socket_t *s, json_t *join_ref, json_t *ref, const char *topic,
                        size_t topic_len, const char *status, const bn_payload_t *response)
{
    bn_out_t out = {
        .kind = BN_OUT_REPLY,
        .join_ref = join_ref,
        .ref = ref,
        .topic = topic,
        .topic_len = topic_len,
        .status = status,
        .payload = response,
    };
    s->srv->stats.replies++;
    bn__sock_send_out(s, &out);
}

static void reply(bn_socket_t *s, json_t *join_ref, json_t *ref, const bn_msg_t *m,
                  const char *status, const bn_payload_t *response)
{
    reply_topic(s, join_ref, ref, m->topic, m->topic_len, status, response);
}

static void reply_empty(bn_socket_t *s, json_t *join_ref, const bn_msg_t *m, const char *status)
{
    json_t *empty = json_object();
    bn_payload_t p = bn_payload_json(empty);
    reply(s, join_ref, m->ref, m, status, &p);
    json_decref(empty);
}

static void reply_reason(bn_socket_t *s, json_t *join_ref, const bn_msg_t *m, const char *reason)
{
    json_t *resp = json_pack("{s:s}", "reason", reason);
    bn_payload_t p = bn_payload_json(resp);
    reply(s, join_ref, m->ref, m, "error", &p);
    json_decref(resp);
}

/* Sends what a callback put into r as the reply to ref on the channel's topic. */
static void send_reply_ch(bn_channel_t *ch, json_t *join_ref, json_t *ref, bn_reply_t *r)
{
    bn_payload_t p;
    json_t *empty = NULL;
    if (r->is_binary) {
        p = bn_payload_binary(r->bin, r->bin_len);
    } else if (r->response != NULL) {
        p = bn_payload_json(r->response);
    } else {
        empty = json_object();
        p = bn_payload_json(empty);
    }
    reply_topic(ch->sock, join_ref, ref, ch->topic, ch->topic_len, r->status, &p);
    json_decref(empty);
}

static void reply_reason_ch(bn_channel_t *ch, json_t *ref, const char *reason)
{
    json_t *resp = json_pack("{s:s}", "reason", reason);
    bn_payload_t p = bn_payload_json(resp);
    reply_topic(ch->sock, ch->join_ref, ref, ch->topic, ch->topic_len, "error", &p);
    json_decref(resp);
}

static bn_channel_t *find_channel(const bn_socket_t *s, const char *topic, size_t len)
{
    for (bn_channel_t *ch = s->channels; ch != NULL; ch = ch->next) {
        if (ch->topic_len == len && memcmp(ch->topic, topic, len) == 0) {
            return ch;
        }
    }
    return NULL;
}

/* A null join_ref, or one equal to the channel's, addresses the current join. */
static bool join_ref_matches(const bn_channel_t *ch, const json_t *jr)
{
    if (jr == NULL) {
        return true;
    }
    return ch->join_ref != NULL && json_equal(ch->join_ref, (json_t *)jr);
}

/* Applies a join's result: the channel is listed and subscribed (ok
 * reply), or answered with an error and removed. Consumes the owner's
 * reference on failure. */
static void join_result(bn_channel_t *ch, json_t *ref, bn_chan_result_t res, bn_reply_t *r)
{
    bn_socket_t *s = ch->sock;
    bn_server_t *srv = s->srv;
    const bn_route_t *route = ch->route;
    if (res == BN_CHAN_OK && s->closed && !ch->closing) {
        /* The socket closed inside join: the join took effect and ends at
         * once, so terminate sees "closed"; nothing can be sent. */
        ch->joined = true;
        bn__chan_remove(ch, BN_STOP_CLOSED);
    } else if (res == BN_CHAN_OK && !ch->closing &&
               bn_ps_subscribe(srv->ps, &ch->sub, ch->topic, ch->topic_len) == 0) {
        ch->joined = true;
        ch->next = s->channels;
        s->channels = ch;
        s->n_channels++;
        srv->stats.channels++;
        strcpy(r->status, "ok");
        send_reply_ch(ch, ch->join_ref, ref, r);
        bn__presence_channel_joined(ch);
    } else if (res == BN_CHAN_ERROR && !ch->closing) {
        srv->stats.join_errors++;
        if (!r->set || strcmp(r->status, "ok") == 0) {
            strcpy(r->status, "error");
        }
        send_reply_ch(ch, ch->join_ref, ref, r);
        bn__chan_remove(ch, BN_STOP_NORMAL);
    } else {
        /* A crash, a failed subscribe, or the channel removed inside its own
         * join: the client is told the join failed. */
        srv->stats.join_errors++;
        srv->stats.crashes++;
        BN_LOG(WARN, "join_crashed", "topic=%s channel=%s", BN_LOG_VAL(ch->topic),
               route->type->name);
        reply_reason_ch(ch, ref, "join crashed");
        bn__chan_remove(ch, BN_STOP_CRASH);
    }
}

static void do_join(bn_socket_t *s, const bn_msg_t *m)
{
    bn_server_t *srv = s->srv;
    const bn_route_t *route = bn_router_match(&srv->router, m->topic, m->topic_len);
    if (route == NULL) {
        reply_reason(s, NULL, m, "unmatched topic");
        return;
    }
    if (s->n_channels >= srv->cfg.max_channels) {
        reply_reason(s, m->join_ref, m, "too many channels joined");
        return;
    }
    if (bn_ps_topic_full(srv->ps, m->topic, m->topic_len)) {
        BN_LOG(WARN, "join_refused", "reason=too_many_topics limit=%u", srv->cfg.max_topics);
        reply_reason(s, m->join_ref, m, "too many topics");
        return;
    }
    bn_channel_t *ch = bn__chan_new(s, route, m->topic, m->topic_len, m->join_ref);
    if (ch == NULL) {
        reply_reason(s, m->join_ref, m, "join crashed");
        return;
    }
    /* ch's one reference is its owner's, this frame's until it is listed;
     * one more keeps it allocated to the end of this function whatever the
     * callback does. */
    bn__chan_ref(ch);
    bn_reply_t r;
    bn__reply_init(&r);
    bn_chan_result_t res = route->type->join(ch, &m->payload, &r);
    srv->stats.joins++;
    if (res == BN_CHAN_ASYNC && !ch->closing && !s->closed) {
        /* The owner's reference moves to s->joining; one more is held for
         * bn_channel_finish. Later messages of this socket wait. */
        ch->busy = true;
        ch->pending_ref = json_incref(m->ref);
        s->joining = ch;
        bn__chan_ref(ch);
    } else {
        if (res == BN_CHAN_ASYNC) {
            res = BN_CHAN_CRASH; /* removed inside its own join */
        }
        join_result(ch, m->ref, res, &r);
    }
    bn__reply_clear(&r);
    bn__chan_unref(ch);
}

/* The channel may be removed inside handle_in (a broadcast of an event it
 * intercepts whose handle_out fails, its socket closing); the reference
 * held here keeps it allocated, and a removed channel sends nothing more:
 * its client already has the phx_error or phx_close. */
/* Applies a handle_in result to the push whose ref is ref. */
static void handle_in_result(bn_channel_t *ch, json_t *ref, bn_chan_result_t res, bn_reply_t *r)
{
    if (ch->closing) {
        res = BN_CHAN_OK;
    }
    switch (res) {
    case BN_CHAN_OK:
        break;
    case BN_CHAN_REPLY:
        send_reply_ch(ch, ch->join_ref, ref, r);
        break;
    case BN_CHAN_STOP:
        if (r->set) {
            send_reply_ch(ch, ch->join_ref, ref, r);
        }
        bn__chan_stop(ch, BN_STOP_NORMAL);
        break;
    default:
        bn__chan_crash(ch);
        break;
    }
}

static void do_handle_in(bn_channel_t *ch, const bn_msg_t *m)
{
    const bn_channel_type_t *type = ch->route->type;
    if (type->handle_in == NULL) {
        bn__chan_crash(ch);
        return;
    }
    bn_reply_t r;
    bn__reply_init(&r);
    bn__chan_ref(ch);
    bn_chan_result_t res = type->handle_in(ch, m->event, &m->payload, &r);
    if (res == BN_CHAN_ASYNC && !ch->closing) {
        ch->busy = true;
        ch->pending_ref = json_incref(m->ref);
        bn__chan_ref(ch); /* bn_channel_finish's */
    } else {
        handle_in_result(ch, m->ref, res == BN_CHAN_ASYNC ? BN_CHAN_OK : res, &r);
    }
    bn__reply_clear(&r);
    bn__chan_unref(ch);
}

static void dispatch(bn_socket_t *s, const bn_msg_t *m)
{
    if (s->closed) {
        return; /* input that arrived while the transport is closing */
    }
    bool is_join = strcmp(m->event, "phx_join") == 0;
    bool is_leave = strcmp(m->event, "phx_leave") == 0;
    if (strcmp(m->topic, "phoenix") == 0 && strcmp(m->event, "heartbeat") == 0) {
        reply_empty(s, NULL, m, "ok");
        return;
    }
    bn_channel_t *ch = find_channel(s, m->topic, m->topic_len);
    if (is_join) {
        if (ch != NULL) {
            /* Duplicate join: the old channel closes first (PROTOCOL.md 3.4). */
            BN_LOG(DEBUG, "duplicate_join", "topic=%s", BN_LOG_VAL(ch->topic));
            bn__chan_stop(ch, BN_STOP_DUPLICATE_JOIN);
        }
        if (s->closed) {
            return; /* its terminate closed the socket */
        }
        do_join(s, m);
        return;
    }
    if (ch == NULL) {
        if (is_leave) {
            reply_empty(s, m->join_ref, m, "ok");
        } else {
            reply_reason(s, NULL, m, "unmatched topic");
        }
        return;
    }
    if (!join_ref_matches(ch, m->join_ref)) {
        return; /* stale message for an earlier join: dropped silently */
    }
    if (is_leave) {
        reply_empty(s, ch->join_ref, m, "ok");
        bn__chan_stop(ch, BN_STOP_LEFT);
        return;
    }
    do_handle_in(ch, m);
}

/* Token bucket per connection: rate_limit events per second with bursts of
 * rate_burst. Returns false when the message must be refused. */
static bool rate_allow(bn_socket_t *s)
{
    const bn_config_t *cfg = &s->srv->cfg;
    if (cfg->rate_limit == 0) {
        return true;
    }
    uint64_t now = uv_now(s->srv->loop);
    double burst = cfg->rate_burst > 0 ? (double)cfg->rate_burst : (double)cfg->rate_limit;
    if (s->rate_last_ms == 0) {
        s->rate_tokens = burst;
    } else {
        s->rate_tokens += (double)(now - s->rate_last_ms) * cfg->rate_limit / 1000.0;
        if (s->rate_tokens > burst) {
            s->rate_tokens = burst;
        }
    }
    s->rate_last_ms = now;
    if (s->rate_tokens < 1.0) {
        s->srv->stats.rate_limited++;
        BN_LOG(WARN, "rate_limited", "transport=%s limit=%u burst=%u", bn_socket_transport(s),
               cfg->rate_limit, cfg->rate_burst);
        return false;
    }
    s->rate_tokens -= 1.0;
    return true;
}

/* ---------------------------------------------------------------- async queue */

/* Must m wait behind asynchronous work? During an asynchronous join every
 * message waits (Phoenix's transport is blocked in join); otherwise a
 * message waits when its topic's channel is busy or an earlier message of
 * its topic is already waiting, so each topic keeps its order. */
static bool must_wait(const bn_socket_t *s, const char *topic, size_t topic_len,
                      const bn_sock_queued_t *before)
{
    if (s->joining != NULL) {
        return true;
    }
    const bn_sock_queued_t *first = s->extra != NULL ? s->extra->queue_head : NULL;
    for (const bn_sock_queued_t *q = first; q != NULL && q != before; q = q->next) {
        if (q->m.topic_len == topic_len && memcmp(q->m.topic, topic, topic_len) == 0) {
            return true;
        }
    }
    const bn_channel_t *ch = find_channel(s, topic, topic_len);
    return ch != NULL && ch->busy;
}

/* Dispatches the waiting messages that no longer have to wait, in order,
 * until none can go. Not re-entered: a dispatch that completes
 * synchronously is picked up by the loop here. */
static void drain(bn_socket_t *s)
{
    if (s->draining) {
        return;
    }
    s->draining = true;
    bn__sock_ref(s);
    bn_sock_extra_t *x = s->extra;
    while (x != NULL && !s->closed && s->joining == NULL) {
        bn_sock_queued_t **pp = &x->queue_head;
        bn_sock_queued_t *prev = NULL;
        while (*pp != NULL && must_wait(s, (*pp)->m.topic, (*pp)->m.topic_len, *pp)) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        bn_sock_queued_t *q = *pp;
        if (q == NULL) {
            break;
        }
        *pp = q->next;
        if (x->queue_tail == q) {
            x->queue_tail = prev;
        }
        x->queue_n--;
        x->queue_bytes -= q->len;
        dispatch(s, &q->m);
        bn_msg_clear(&q->m);
        free(q);
    }
    s->draining = false;
    bn__sock_unref(s);
}

void bn__sock_join_finish(bn_channel_t *ch, bn_chan_result_t res, bn_reply_t *r)
{
    bn_socket_t *s = ch->sock;
    ch->busy = false;
    json_t *ref = ch->pending_ref;
    ch->pending_ref = NULL;
    if (ch->closing || s->closed) {
        json_decref(ref);
        return; /* the socket closed meanwhile; the owner's reference is gone */
    }
    s->joining = NULL;
    if (res != BN_CHAN_OK && res != BN_CHAN_ERROR) {
        res = BN_CHAN_CRASH;
    }
    bn__sock_ref(s);
    join_result(ch, ref, res, r);
    json_decref(ref);
    drain(s);
    bn__sock_unref(s);
}

void bn__sock_event_finish(bn_channel_t *ch, bn_chan_result_t res, bn_reply_t *r)
{
    bn_socket_t *s = ch->sock;
    ch->busy = false;
    json_t *ref = ch->pending_ref;
    ch->pending_ref = NULL;
    if (s->closed) {
        json_decref(ref);
        return;
    }
    bn__sock_ref(s);
    if (res == BN_CHAN_ASYNC) {
        res = BN_CHAN_CRASH;
    }
    handle_in_result(ch, ref, res, r);
    json_decref(ref);
    drain(s);
    bn__sock_unref(s);
}

/* Decodes and dispatches one client message, or queues it behind
 * asynchronous work (then the bytes are copied: a binary payload points
 * into them). Returns 0, -1 (malformed) or BN_SOCK_RATE_LIMITED (the queue
 * is full). */
static int handle_message(bn_socket_t *s, const uint8_t *data, size_t len, bool binary)
{
    bn_msg_t m;
    const char *err = NULL;
    if (!rate_allow(s)) {
        return BN_SOCK_RATE_LIMITED;
    }
    s->srv->stats.messages_in++;
    int rc;
    if (binary) {
        rc = s->vsn != BN_VSN_2 ? -1 : bn_ser_decode_binary(data, len, &m, &err);
        if (s->vsn != BN_VSN_2) {
            err = "binary frame on a V1 socket";
        }
    } else {
        rc = bn_ser_decode_text((bn_vsn_t)s->vsn, (const char *)data, len, &m, &err);
    }
    if (rc != 0) {
        s->srv->stats.bad_messages++;
        BN_LOG(INFO, "bad_message", "transport=%s error=%s", bn_socket_transport(s),
               BN_LOG_VAL(err ? err : "?"));
        return -1;
    }
    if (!s->closed && must_wait(s, m.topic, m.topic_len, NULL)) {
        bn_msg_clear(&m);
        bn_sock_extra_t *x = bn__sock_extra(s);
        if (x == NULL) {
            return -1;
        }
        if (x->queue_n >= BN_CHAN_ASYNC_QUEUE_MAX ||
            x->queue_bytes + len > s->srv->cfg.max_queued_bytes) {
            s->srv->stats.rate_limited++;
            BN_LOG(WARN, "async_queue_full", "transport=%s queued=%zu", bn_socket_transport(s),
                   x->queue_n);
            return BN_SOCK_RATE_LIMITED;
        }
        bn_sock_queued_t *q = malloc(sizeof(*q) + (len ? len : 1));
        if (q == NULL) {
            return -1;
        }
        memcpy(q->data, data, len);
        q->len = len;
        q->next = NULL;
        /* Decoding the same bytes again cannot fail. */
        if (binary) {
            rc = bn_ser_decode_binary(q->data, len, &q->m, &err);
        } else {
            rc = bn_ser_decode_text((bn_vsn_t)s->vsn, (const char *)q->data, len, &q->m, &err);
        }
        if (rc != 0) {
            free(q);
            return -1;
        }
        if (x->queue_tail != NULL) {
            x->queue_tail->next = q;
        } else {
            x->queue_head = q;
        }
        x->queue_tail = q;
        x->queue_n++;
        x->queue_bytes += len;
        return 0;
    }
    bn__sock_ref(s);
    dispatch(s, &m);
    bn__sock_unref(s);
    bn_msg_clear(&m);
    return 0;
}

int bn__sock_handle_text(bn_socket_t *s, const char *data, size_t len)
{
    return handle_message(s, (const uint8_t *)data, len, false);
}

int bn__sock_handle_binary(bn_socket_t *s, const uint8_t *data, size_t len)
{
    return handle_message(s, data, len, true);
}
