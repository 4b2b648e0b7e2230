/* Socket ids, Phoenix's way (PROTOCOL.md 3.9): the connect callback may
 * give a socket an id such as "users_socket:42"; the socket is then
 * subscribed to the topic of that name, and a broadcast of "disconnect" to
 * it, from any node, closes every socket with that id (WebSocket close
 * 1001, so phoenix.js reconnects and must authenticate again; a LongPoll
 * session ends and its next poll gets 410). Other events on the id topic
 * are ignored, as Phoenix does.
 *
 * Token expiry on live sockets: bn_socket_set_expiry records when a
 * socket's credentials end and bn_server_close_expired closes those past
 * it with close code 4001 (BN_WS_CLOSE_TOKEN_EXPIRED). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"
#include "bennu/log.h"

/* The largest socket id (it is a topic: the same bound as any topic the
 * connect callback could build from a user id). */
#define BN_SOCKET_ID_MAX 1024

static bn_socket_t *sock_of(bn_ps_sub_t *sub)
{
    return bn_container_of(sub, bn_sock_extra_t, id_sub)->sock;
}

/* Never called: every event on the id topic is intercepted. */
static void id_send(bn_ps_sub_t *sub, bn_buf_t *msg)
{
    (void)sub;
    (void)msg;
}

static bool id_intercepts(bn_ps_sub_t *sub, const char *event)
{
    (void)sub;
    (void)event;
    return true;
}

/* Inside a fanout of the id topic: only the transport is asked to close
 * (a close frame; the socket itself goes when the transport reports it
 * gone), so nothing is freed or unsubscribed under the fanout's feet. */
static void id_handle_out(bn_ps_sub_t *sub, const char *event, const bn_payload_t *payload)
{
    (void)payload;
    bn_socket_t *s = sock_of(sub);
    if (strcmp(event, "disconnect") != 0 || s->closed || s->io_ud == NULL) {
        return;
    }
    BN_LOG(INFO, "socket_disconnect", "id=%s transport=%s", BN_LOG_VAL(s->extra->id),
           bn_socket_transport(s));
    s->srv->stats.disconnects++;
    s->io->close(s->io_ud, BN_WS_CLOSE_GOING_AWAY);
}

static const bn_ps_sub_ops_t id_sub_ops = {id_send, id_intercepts, id_handle_out};

int bn_socket_set_id(bn_socket_t *s, const char *id)
{
    if (s->id_fixed || s->closed) {
        return -1; /* only inside the connect callback */
    }
    if (id != NULL && (id[0] == '\0' || strlen(id) > BN_SOCKET_ID_MAX)) {
        return -1;
    }
    if (id == NULL && s->extra == NULL) {
        return 0;
    }
    bn_sock_extra_t *x = bn__sock_extra(s);
    char *copy = NULL;
    if (x == NULL || (id != NULL && (copy = strdup(id)) == NULL)) {
        return -1;
    }
    free(x->id);
    x->id = copy;
    return 0;
}

const char *bn_socket_id(const bn_socket_t *s)
{
    return s->extra != NULL ? s->extra->id : NULL;
}

int bn__sock_id_attach(bn_socket_t *s)
{
    s->id_fixed = true;
    bn_sock_extra_t *x = s->extra;
    if (x == NULL || x->id == NULL) {
        return 0;
    }
    x->id_sub.ops = &id_sub_ops;
    x->id_sub.vsn = s->vsn;
    x->id_sub.intercepts = true;
    /* Id topics are bounded by the connections, not by --max-topics (a
     * cap on what clients can make the node hold by joining): the cap is
     * lifted for this one subscribe. */
    bn_ps_t *ps = s->srv->ps;
    bn_ps_set_max_topics(ps, 0);
    int rc = bn_ps_subscribe(ps, &x->id_sub, x->id, strlen(x->id));
    bn_ps_set_max_topics(ps, s->srv->cfg.max_topics);
    if (rc != 0) {
        return -1; /* OOM */
    }
    s->id_subscribed = true;
    return 0;
}

void bn__sock_id_detach(bn_socket_t *s)
{
    bn_sock_extra_t *x = s->extra;
    if (x == NULL) {
        return;
    }
    if (s->id_subscribed) {
        bn_ps_unsubscribe(s->srv->ps, &x->id_sub);
        s->id_subscribed = false;
    }
    free(x->id);
    x->id = NULL;
}

int bn_socket_set_expiry(bn_socket_t *s, int64_t unix_ms)
{
    if (unix_ms == 0 && s->extra == NULL) {
        return 0;
    }
    bn_sock_extra_t *x = bn__sock_extra(s);
    if (x == NULL) {
        return -1;
    }
    x->expires_ms = unix_ms;
    return 0;
}

size_t bn_server_close_expired(bn_server_t *srv, int64_t now_unix_ms)
{
    size_t n = 0;
    for (bn_socket_t *s = srv->sockets; s != NULL; s = s->next) {
        /* Closing asks the transport only; the socket stays listed until
         * the transport reports it gone, so the walk is safe. */
        bn_sock_extra_t *x = s->extra;
        if (x != NULL && x->expires_ms != 0 && x->expires_ms <= now_unix_ms && s->io_ud != NULL) {
            BN_LOG(INFO, "token_expired", "id=%s transport=%s", BN_LOG_VAL(x->id),
                   bn_socket_transport(s));
            x->expires_ms = 0; /* once */
            srv->stats.token_expired++;
            s->io->close(s->io_ud, BN_WS_CLOSE_TOKEN_EXPIRED);
            n++;
        }
    }
    return n;
}
