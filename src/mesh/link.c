/* One mesh link: a TCP connection with its frame reader, its handshake and
 * its bounded FIFO of outgoing frames.
 *
 * Lifetime: a link is allocated by the listener or a dialler, sits on the
 * mesh's links list, and is freed only from the tcp handle's close callback.
 * bn__link_close only marks it and starts uv_close, so a link closed from
 * inside any callback (its own read callback, a broadcast loop) remains valid
 * until that callback returns; node-level consequences (nodedown, dropping
 * memberships, redial) happen in the close callback, on a later loop turn.
 *
 * The handshake (handshake.c has the cryptography, node.c the rule that
 * decides between competing links):
 *   dialler:  connect -> Hello -> [Challenge] -> Identify (sealed)
 *             -> [peer Identify] -> decide -> Ready, up   (or Refuse)
 *   acceptor: [Hello] -> keygen, Challenge -> [Identify opens: proof]
 *             -> decide -> Identify, pending -> [Ready] -> up   (or Refuse)
 * An inbound link costs a struct and a 512-byte read buffer until a
 * plausible Hello arrived, and is subject to admission (preauth.c) until
 * its Identify opened. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/net.h"
#include "bennu/log.h"
#include "mesh/internal.h"

/* Read sizes: small until the peer proved the cookie. */
#define LINK_READ_MIN 4096u
#define LINK_READ_MIN_PREAUTH 512u

static const char *link_peer(const bn__link_t *l)
{
    return l->peer_name != NULL ? l->peer_name : "?";
}

bn__link_t *bn__link_new(bn_mesh_t *m, bool outbound)
{
    bn__link_t *l = bn_xcalloc(1, sizeof(*l));
    l->mesh = m;
    l->id = ++m->next_link_id;
    l->outbound = outbound;
    l->state = BN__LINK_CONNECTING;
    l->created_ms = bn__mesh_now(m);
    l->last_rx_ms = l->created_ms;
    l->peer_port = -1;
    bn_wq_init(&l->wq);
    bn__frame_reader_init(&l->rx, BN__MESH_PREAUTH_MAX_FRAME);
    bn__hs_init(&l->hs, outbound);
    if (outbound) {
        /* We chose to dial: the cost is ours. An acceptor generates keys only
         * for a plausible Hello. */
        bn__hs_keygen(&l->hs);
    }
    uv_tcp_init(m->loop, &l->tcp);
    uv_tcp_nodelay(&l->tcp, 1);
    l->tcp.data = l;
    m->open_handles++;
    bn_queue_insert_head(&m->links, &l->link_node);
    return l;
}

bool bn__link_usable(const bn__link_t *l)
{
    return l != NULL && l->state == BN__LINK_UP && !l->draining;
}

/* ---- closing ------------------------------------------------------------ */

static void on_link_closed(uv_handle_t *h)
{
    bn__link_t *l = h->data;
    bn_mesh_t *m = l->mesh;
    bn_queue_remove(&l->link_node);
    bn__node_link_closed(m, l);
    bn_wq_release(&l->wq);
    free(l->own_hello);
    free(l->plain);
    free(l->peer_name);
    bn__frame_reader_free(&l->rx);
    bn__gtx_reset(&l->gtx);
    bn__grx_reset(&l->grx);
    bn__hs_wipe(&l->hs);
    free(l);
    bn__mesh_handle_closed(m);
}

/* Closes that are part of normal operation are logged at debug level. */
static bool quiet_reason(bn_close_reason_t r)
{
    return r == BN_CLOSE_SHUTDOWN || r == BN_CLOSE_DUPLICATE_LINK || r == BN_CLOSE_SELF_CONNECT ||
           r == BN_CLOSE_CONNECT_FAILED;
}

void bn__link_close(bn__link_t *l, bn_close_reason_t reason)
{
    if (l->state == BN__LINK_CLOSING) {
        return;
    }
    bn_mesh_t *m = l->mesh;
    bool was_up = l->state == BN__LINK_UP;
    l->state = BN__LINK_CLOSING;
    l->reason = reason;
    m->closes[reason]++;
    if (l->preauth) {
        /* Unauthenticated connections are anyone's: counted, and reported
         * in one summary line per interval instead of a line each (one at
         * debug level, for an operator who asked to see every one). */
        bn__preauth_closed(m, l, reason);
        BN_LOG(DEBUG, "mesh_preauth_close", "mesh=%s link#%llu addr=%s reason=%s", m->name,
               (unsigned long long)l->id, l->addr, bn_close_reason_name(reason));
    } else if (reason == BN_CLOSE_NOT_ALLOWED) {
        /* Counted by admission, reported in its summary. */
    } else if (quiet_reason(reason) || l->peer_hidden) {
        BN_LOG(DEBUG, "mesh_link_close", "mesh=%s link#%llu node=%s addr=%s up=%d reason=%s",
               m->name, (unsigned long long)l->id, BN_LOG_VAL(link_peer(l)), l->addr, was_up,
               bn_close_reason_name(reason));
    } else {
        BN_LOG(WARN, "mesh_link_close", "mesh=%s link#%llu node=%s addr=%s up=%d reason=%s",
               m->name, (unsigned long long)l->id, BN_LOG_VAL(link_peer(l)), l->addr, was_up,
               bn_close_reason_name(reason));
    }
    uv_close((uv_handle_t *)&l->tcp, on_link_closed);
}

void bn__link_close_after_flush(bn__link_t *l, bn_close_reason_t reason)
{
    if (l->state == BN__LINK_CLOSING || l->draining) {
        return;
    }
    l->draining = true;
    l->drain_reason = reason;
    uv_read_stop((uv_stream_t *)&l->tcp);
    if (bn_wq_empty(&l->wq)) {
        bn__link_close(l, reason);
    }
}

void bn__link_stall(bn__link_t *l)
{
    if (l->state != BN__LINK_CLOSING) {
        uv_read_stop((uv_stream_t *)&l->tcp);
        l->stalled = true;
    }
}

/* ---- sending ------------------------------------------------------------ */

static void link_flush(bn__link_t *l);

static size_t wire_cost(const bn_buf_t *frame, bool seal)
{
    return frame->len + (seal ? BN__HS_ABYTES : 0);
}

/* The write queue's reports (core/wq.h). */
static void link_wq_close(bn_wq_t *q, bn_close_reason_t reason)
{
    bn__link_t *l = bn_container_of(q, bn__link_t, wq);
    if (l->state != BN__LINK_CLOSING) {
        bn__link_close(l, l->draining ? l->drain_reason : reason);
    }
}

static void link_wq_wrote(bn_wq_t *q, size_t n, bool direct)
{
    (void)direct;
    bn_container_of(q, bn__link_t, wq)->queued_bytes -= n;
}

static void link_wq_write_done(bn_wq_t *q)
{
    bn__link_t *l = bn_container_of(q, bn__link_t, wq);
    link_flush(l);
    if (l->draining && bn_wq_empty(q) && l->state != BN__LINK_CLOSING) {
        bn__link_close(l, l->drain_reason);
    }
}

/* Seals (or copies) every queued frame into one buffer, which replaces them
 * and goes out in one write; the next batch starts once it is written, which
 * keeps frames in FIFO order. One seal per frame per link: a broadcast is
 * encoded once and sealed once for each interested peer. */
static int link_wq_seal(bn_wq_t *q)
{
    bn__link_t *l = bn_container_of(q, bn__link_t, wq);
    uint32_t n = q->len;
    if (n == 1 && l->plain_unsent == 1) {
        l->plain_unsent = 0; /* one handshake frame: written as it is */
        return 0;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        total += wire_cost(bn_wq_at(q, i), i >= l->plain_unsent);
    }
    bn_buf_t *out = bn_buf_new(total);
    if (out == NULL) {
        bn_oom(total);
    }
    uint8_t *p = (uint8_t *)bn_buf_body(out);
    for (uint32_t i = 0; i < n; i++) {
        const bn_buf_t *fb = bn_wq_at(q, i);
        const uint8_t *f = (const uint8_t *)bn_buf_body((bn_buf_t *)fb);
        size_t flen = fb->len;
        if (i >= l->plain_unsent) {
            size_t clen = flen - 4 + BN__HS_ABYTES;
            p[0] = (uint8_t)(clen >> 24);
            p[1] = (uint8_t)(clen >> 16);
            p[2] = (uint8_t)(clen >> 8);
            p[3] = (uint8_t)clen;
            bn__hs_seal(&l->hs, f + 4, flen - 4, p + 4);
            p += 4 + clen;
        } else {
            memcpy(p, f, flen);
            p += flen;
        }
    }
    out->len = total;
    out->binary = 1;
    l->plain_unsent = 0;
    bn_wq_replace_all(q, out);
    return 0;
}

static const bn_wq_ops_t link_wq_ops = {
    .close = link_wq_close,
    .wrote = link_wq_wrote,
    .write_done = link_wq_write_done,
    .transform = link_wq_seal,
};

static void link_flush(bn__link_t *l)
{
    if (l->state == BN__LINK_CLOSING || l->state == BN__LINK_CONNECTING) {
        return;
    }
    bn_wq_flush(&l->wq, (uv_stream_t *)&l->tcp, &link_wq_ops);
}

/* What enqueueing costs besides the queue entry: the tap, the hard cap,
 * the counters. 0, or -1 when the frame is dropped (the link closes). */
static int link_account(bn__link_t *l, bn_buf_t *frame, bool seal)
{
    bn_mesh_t *m = l->mesh;
    if (m->tap != NULL) {
        m->tap(m->tap_ud, l, (const uint8_t *)bn_buf_body(frame), frame->len);
    }
    size_t cost = wire_cost(frame, seal);
    if (l->queued_bytes + cost > m->max_link_queue) {
        /* Closing is asynchronous (uv_close), so callers iterating over
         * links or nodes are not disturbed; membership is resynchronised
         * when the peer comes back. */
        bn__link_close(l, BN_CLOSE_SLOW_CONSUMER);
        return -1;
    }
    l->queued_bytes += cost;
    l->msgs_out++;
    l->bytes_out += cost;
    l->last_tx_ms = bn__mesh_now(m);
    return 0;
}

static int link_enqueue(bn__link_t *l, bn_buf_t *frame, bool seal)
{
    if (link_account(l, frame, seal) != 0) {
        return -1;
    }
    /* The cap is the link's own (on wire cost, link_account). */
    if (bn_wq_push(&l->wq, (uv_stream_t *)&l->tcp, &link_wq_ops, frame, SIZE_MAX) < 0) {
        return -1;
    }
    if (!seal) {
        /* Plain frames come first: the key is set once and never unset. */
        assert(l->plain_unsent + 1 + bn_wq_unsent_start(&l->wq) == l->wq.len);
        l->plain_unsent++;
    }
    link_flush(l);
    return 0;
}

int bn__link_send(bn__link_t *l, bn_buf_t *frame)
{
    if (l->state == BN__LINK_CLOSING || l->draining) {
        return -1;
    }
    return link_enqueue(l, frame, l->tx_crypt);
}

int bn__link_send_msg(bn__link_t *l, const bn__msg_t *msg)
{
    bn_buf_t *b = NULL;
    if (bn__codec_encode(msg, l->mesh->max_frame, &b) != 0) {
        BN_LOG(WARN, "mesh_frame_too_large", "mesh=%s link#%llu type=%s", l->mesh->name,
               (unsigned long long)l->id, bn__msg_type_name(msg->type));
        return -1;
    }
    int rc = bn__link_send(l, b);
    bn_buf_unref(b);
    return rc;
}

void bn__link_take_queue(bn__link_t *to, bn__link_t *from)
{
    bn_wq_t *fq = &from->wq;
    uint32_t first = bn_wq_unsent_start(fq);
    bool keep = to->state != BN__LINK_CLOSING && !to->draining;
    for (uint32_t i = first; i < fq->len; i++) {
        bn_buf_t *b = bn_wq_at(fq, i);
        from->queued_bytes -= wire_cost(b, i - first >= from->plain_unsent);
        /* Under to's keys, sealed; past its cap, to closes and the rest is
         * dropped with it. */
        keep = keep && link_account(to, b, true) == 0;
    }
    from->plain_unsent = 0;
    if (keep && bn_wq_move_unsent(&to->wq, fq) != 0) {
        link_wq_close(&to->wq, BN_CLOSE_WRITE_ERROR);
    }
    bn_wq_drop_unsent(fq);
    link_flush(to);
}

bool bn__link_shrink_idle(bn__link_t *l, uint64_t now)
{
    return now - l->last_tx_ms >= l->mesh->tick_ms && bn_wq_shrink(&l->wq);
}

/* ---- handshake ---------------------------------------------------------- */

static bool send_plain_msg(bn__link_t *l, const bn__msg_t *msg, bn_buf_t **kept)
{
    bn_buf_t *b = NULL;
    if (bn__codec_encode(msg, BN__MESH_PREAUTH_MAX_FRAME, &b) != 0) {
        bn__link_close(l, BN_CLOSE_PROTOCOL);
        return false;
    }
    link_enqueue(l, b, false);
    if (kept != NULL) {
        *kept = b;
    } else {
        bn_buf_unref(b);
    }
    return true;
}

/* Dialler, on connect: nothing but a nonce and an ephemeral public key. */
static void send_hello(bn__link_t *l)
{
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_HELLO;
    msg.u.hello.nonce = bn__bytes(l->hs.nonce, sizeof(l->hs.nonce));
    msg.u.hello.kx_pk = bn__bytes(l->hs.pk, sizeof(l->hs.pk));
    bn_buf_t *b = NULL;
    if (!send_plain_msg(l, &msg, &b)) {
        return;
    }
    /* The transcript covers the exact bytes sent. */
    l->own_hello_len = b->len - 4;
    l->own_hello = bn_xmalloc(l->own_hello_len);
    memcpy(l->own_hello, bn_buf_body(b) + 4, l->own_hello_len);
    bn_buf_unref(b);
}

static void send_identify(bn__link_t *l)
{
    bn_mesh_t *m = l->mesh;
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_IDENTIFY;
    msg.u.ident.name = bn__bytes(m->name, strlen(m->name));
    msg.u.ident.incarnation = m->incarnation;
    msg.u.ident.hidden = m->hidden;
    /* A wildcard bind says nothing about where to reach us: let the peer use
     * the address it sees. */
    bool wildcard = strcmp(m->bind, "0.0.0.0") == 0 || strcmp(m->bind, "::") == 0;
    msg.u.ident.host = wildcard ? bn__bytes("", 0) : bn__bytes(m->bind, strlen(m->bind));
    msg.u.ident.port = m->port;
    if (m->adv_host[0] != '\0') {
        /* --advertise: where the others must dial (NAT, containers). */
        msg.u.ident.host = bn__bytes(m->adv_host, strlen(m->adv_host));
        msg.u.ident.port = m->adv_port;
    }
    bn__link_send_msg(l, &msg);
    l->sent_identify = true;
}

static bool keys_valid(const bn__msg_t *msg)
{
    return msg->u.hello.nonce.len == BN__HS_NONCE_BYTES &&
           msg->u.hello.kx_pk.len == crypto_kx_PUBLICKEYBYTES;
}

/* Acceptor: a plausible Hello earns a key pair and a Challenge, nothing
 * that depends on the cookie. */
static void on_hello(bn__link_t *l, const bn__msg_t *msg, const uint8_t *body, size_t len)
{
    bn_mesh_t *m = l->mesh;
    if (l->outbound || l->got_hello) {
        bn__link_close(l, BN_CLOSE_PROTOCOL);
        return;
    }
    if (!keys_valid(msg)) {
        bn__link_close(l, BN_CLOSE_BAD_HELLO);
        return;
    }
    l->got_hello = true;
    bn__hs_keygen(&l->hs);
    bn__msg_t chal;
    memset(&chal, 0, sizeof(chal));
    chal.type = BN__MSG_CHALLENGE;
    chal.u.hello.nonce = bn__bytes(l->hs.nonce, sizeof(l->hs.nonce));
    chal.u.hello.kx_pk = bn__bytes(l->hs.pk, sizeof(l->hs.pk));
    bn_buf_t *b = NULL;
    if (bn__codec_encode(&chal, BN__MESH_PREAUTH_MAX_FRAME, &b) != 0) {
        bn__link_close(l, BN_CLOSE_PROTOCOL);
        return;
    }
    int rc = bn__hs_derive(&l->hs, m->cookie_key, body, len, (const uint8_t *)bn_buf_body(b) + 4,
                           b->len - 4, msg->u.hello.kx_pk.data, msg->u.hello.kx_pk.len);
    if (rc != 0) {
        bn_buf_unref(b);
        bn__link_close(l, BN_CLOSE_BAD_HELLO);
        return;
    }
    link_enqueue(l, b, false);
    bn_buf_unref(b);
    /* The dialler's next frame is its sealed Identify. We send nothing
     * sealed until it has opened. */
    l->rx_crypt = true;
}

/* Dialler: derive the keys and prove the cookie with our sealed Identify. */
static void on_challenge(bn__link_t *l, const bn__msg_t *msg, const uint8_t *body, size_t len)
{
    bn_mesh_t *m = l->mesh;
    if (!l->outbound || l->own_hello == NULL) {
        bn__link_close(l, BN_CLOSE_PROTOCOL);
        return;
    }
    if (!keys_valid(msg) ||
        bn__hs_derive(&l->hs, m->cookie_key, l->own_hello, l->own_hello_len, body, len,
                      msg->u.hello.kx_pk.data, msg->u.hello.kx_pk.len) != 0) {
        bn__link_close(l, BN_CLOSE_BAD_HELLO);
        return;
    }
    free(l->own_hello);
    l->own_hello = NULL;
    l->tx_crypt = true;
    l->rx_crypt = true;
    send_identify(l);
}

static bool host_valid(bn__bytes_t h)
{
    if (h.len > BN__MESH_HOST_MAX) {
        return false;
    }
    for (size_t i = 0; i < h.len; i++) {
        if (h.data[i] <= ' ' || h.data[i] > '~') {
            return false;
        }
    }
    return true;
}

static bool take_identity(bn__link_t *l, const bn__msg_t *msg)
{
    const bn__bytes_t *name = &msg->u.ident.name;
    if (!bn__node_name_valid(name->data, name->len) || !host_valid(msg->u.ident.host) ||
        msg->u.ident.port > 65535) {
        return false;
    }
    l->peer_name = bn_xmalloc(name->len + 1);
    memcpy(l->peer_name, name->data, name->len);
    l->peer_name[name->len] = '\0';
    l->peer_incarnation = msg->u.ident.incarnation;
    l->peer_hidden = msg->u.ident.hidden;
    l->peer_port = msg->u.ident.port > 0 ? msg->u.ident.port : -1;
    if (msg->u.ident.host.len > 0) {
        memcpy(l->peer_host, msg->u.ident.host.data, msg->u.ident.host.len);
        l->peer_host[msg->u.ident.host.len] = '\0';
    } else {
        snprintf(l->peer_host, sizeof(l->peer_host), "%s", l->peer_ip);
    }
    return true;
}

static bn_close_reason_t refuse_close_reason(uint32_t why)
{
    switch (why) {
    case BN__REFUSE_DUPLICATE:
        return BN_CLOSE_DUPLICATE_LINK;
    case BN__REFUSE_NAME_CLASH:
        return BN_CLOSE_NAME_CLASH;
    case BN__REFUSE_SELF:
        return BN_CLOSE_SELF_CONNECT;
    case BN__REFUSE_BAD_COOKIE:
        return BN_CLOSE_BAD_COOKIE;
    default:
        return BN_CLOSE_PROTOCOL;
    }
}

void bn__link_refuse(bn__link_t *l, uint32_t why, bn_close_reason_t reason)
{
    if (l->state == BN__LINK_CLOSING || l->draining) {
        return;
    }
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_REFUSE;
    msg.u.refuse.reason = why;
    bn__link_send_msg(l, &msg);
    bn__link_close_after_flush(l, reason);
}

static void link_up(bn__link_t *l)
{
    bn_mesh_t *m = l->mesh;
    l->state = BN__LINK_UP;
    l->rx.max_frame = m->max_frame + BN__HS_ABYTES;
    l->last_rx_ms = bn__mesh_now(m);
    BN_LOG(DEBUG, "mesh_link_up", "mesh=%s link#%llu node=%s addr=%s dir=%s", m->name,
           (unsigned long long)l->id, BN_LOG_VAL(l->peer_name), l->addr,
           l->outbound ? "out" : "in");
    bn__node_link_up(m, l);
}

static void on_identify(bn__link_t *l, const bn__msg_t *msg)
{
    bn_mesh_t *m = l->mesh;
    /* Only a sealed Identify counts: one that arrived in plain text (before
     * the Hello and Challenge set up the keys) proves nothing. */
    if (l->authed || !l->rx_crypt || (l->outbound && !l->sent_identify)) {
        bn__link_close(l, BN_CLOSE_PROTOCOL);
        return;
    }
    /* The frame opened under the cookie-bound keys: the peer knows the
     * cookie. */
    l->authed = true;
    l->tx_crypt = true; /* from here on the acceptor may answer sealed */
    bn__preauth_done(m, l);
    if (!take_identity(l, msg)) {
        bn__link_close(l, BN_CLOSE_BAD_HELLO);
        return;
    }
    uint32_t why = bn__node_decide(m, l);
    if (why != 0) {
        bn__link_refuse(l, why, refuse_close_reason(why));
        return;
    }
    if (l->outbound) {
        bn__msg_t ready;
        memset(&ready, 0, sizeof(ready));
        ready.type = BN__MSG_READY;
        bn__link_send_msg(l, &ready);
        link_up(l);
        return;
    }
    send_identify(l);
    l->state = BN__LINK_PENDING;
    bn__node_link_pending(m, l);
}

static void on_refuse(bn__link_t *l, const bn__msg_t *msg)
{
    uint32_t why = msg->u.refuse.reason;
    l->refused = why ? why : BN__REFUSE_DUPLICATE;
    bn__node_link_refused(l->mesh, l, l->refused);
    bn__link_close(l, refuse_close_reason(l->refused));
}

static void handshake_frame(bn__link_t *l, const bn__msg_t *msg, const uint8_t *body, size_t len)
{
    switch (msg->type) {
    case BN__MSG_HELLO:
        on_hello(l, msg, body, len);
        break;
    case BN__MSG_CHALLENGE:
        on_challenge(l, msg, body, len);
        break;
    case BN__MSG_IDENTIFY:
        on_identify(l, msg);
        break;
    case BN__MSG_READY:
        if (l->state == BN__LINK_PENDING) {
            link_up(l);
        } else {
            bn__link_close(l, BN_CLOSE_PROTOCOL);
        }
        break;
    case BN__MSG_REFUSE:
        if (l->authed || (l->outbound && l->sent_identify)) {
            on_refuse(l, msg);
        } else {
            bn__link_close(l, BN_CLOSE_PROTOCOL);
        }
        break;
    default:
        bn__link_close(l, BN_CLOSE_PROTOCOL);
        break;
    }
}

/* ---- receiving ---------------------------------------------------------- */

/* A sealed frame did not open. */
static void open_failed(bn__link_t *l, const uint8_t *body, size_t len)
{
    if (!l->outbound && !l->authed) {
        /* The dialler's proof failed. Say so in plain text (nothing in it
         * depends on the cookie) and close. */
        bn__msg_t msg;
        memset(&msg, 0, sizeof(msg));
        msg.type = BN__MSG_REFUSE;
        msg.u.refuse.reason = BN__REFUSE_BAD_COOKIE;
        if (send_plain_msg(l, &msg, NULL)) {
            bn__link_close_after_flush(l, BN_CLOSE_BAD_COOKIE);
        }
        return;
    }
    if (l->outbound && !l->authed) {
        /* The acceptor could not open our proof: its plain-text Refuse. */
        bn__msg_t msg;
        if (bn__codec_decode(body, len, &msg) == BN__DEC_OK) {
            bool bad_cookie =
                msg.type == BN__MSG_REFUSE && msg.u.refuse.reason == BN__REFUSE_BAD_COOKIE;
            bn__msg_free(&msg);
            if (bad_cookie) {
                l->refused = BN__REFUSE_BAD_COOKIE;
                bn__node_link_refused(l->mesh, l, BN__REFUSE_BAD_COOKIE);
                bn__link_close(l, BN_CLOSE_BAD_COOKIE);
                return;
            }
        }
    }
    bn__link_close(l, BN_CLOSE_DECRYPT_FAILED);
}

static void handle_frame(bn__link_t *l, const uint8_t *body, size_t len)
{
    bn_mesh_t *m = l->mesh;
    l->msgs_in++;
    if (l->rx_crypt) {
        if (l->plain_cap < len) {
            l->plain_cap = len;
            l->plain = bn_xrealloc(l->plain, len);
        }
        long n = bn__hs_open(&l->hs, body, len, l->plain);
        if (n < 0) {
            open_failed(l, body, len);
            return;
        }
        body = l->plain;
        len = (size_t)n;
    }
    bn__msg_t msg;
    int rc = bn__codec_decode(body, len, &msg);
    switch (rc) {
    case BN__DEC_OK:
        break;
    case BN__DEC_VERSION:
        BN_LOG(WARN, "mesh_version_mismatch", "mesh=%s link#%llu version=%u want=%u", m->name,
               (unsigned long long)l->id, msg.version, BN__MESH_PROTO_VERSION);
        bn__link_close(l, BN_CLOSE_VERSION_MISMATCH);
        return;
    case BN__DEC_UNKNOWN:
        bn__msg_free(&msg);
        if (l->state != BN__LINK_UP) {
            bn__link_close(l, BN_CLOSE_PROTOCOL);
        } else {
            /* A newer peer's message: counted and ignored. */
            m->unknown_frames++;
        }
        return;
    default:
        bn__link_close(l, BN_CLOSE_BAD_FRAME);
        return;
    }
    if (l->state == BN__LINK_UP) {
        bn__mesh_dispatch(m, l, &msg);
    } else {
        handshake_frame(l, &msg, body, len);
    }
    bn__msg_free(&msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    bn__link_t *l = h->data;
    (void)suggested;
    uint8_t *p;
    size_t avail;
    bn__frame_reader_space(&l->rx, l->state == BN__LINK_UP ? LINK_READ_MIN : LINK_READ_MIN_PREAUTH,
                           &p, &avail);
    *buf = uv_buf_init((char *)p, (unsigned)avail);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bn__link_t *l = s->data;
    (void)buf;
    if (l->state == BN__LINK_CLOSING || l->draining) {
        return;
    }
    if (nread < 0) {
        bn__link_close(l, nread == UV_EOF ? BN_CLOSE_CONNECTION_CLOSED : BN_CLOSE_READ_ERROR);
        return;
    }
    if (nread == 0) {
        return;
    }
    bn__frame_reader_commit(&l->rx, (size_t)nread);
    l->bytes_in += (uint64_t)nread;
    l->last_rx_ms = bn__mesh_now(l->mesh);
    while (l->state != BN__LINK_CLOSING && !l->draining && !l->stalled) {
        const uint8_t *body;
        size_t len;
        int rc = bn__frame_next(&l->rx, &body, &len);
        if (rc == BN__FRAME_MORE) {
            break;
        }
        if (rc == BN__FRAME_TOO_LARGE) {
            bn__link_close(l, BN_CLOSE_FRAME_TOO_LARGE);
            return;
        }
        if (rc != BN__FRAME_OK) {
            bn__link_close(l, BN_CLOSE_BAD_FRAME);
            return;
        }
        handle_frame(l, body, len);
    }
    bn__frame_reader_compact(&l->rx);
}

void bn__link_start(bn__link_t *l)
{
    l->state = BN__LINK_HANDSHAKE;
    int rc = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
    if (rc < 0) {
        bn__link_close(l, BN_CLOSE_READ_ERROR);
        return;
    }
    if (l->outbound) {
        send_hello(l);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    bn__link_t *l = req->data;
    if (l->state == BN__LINK_CLOSING) {
        return;
    }
    if (status < 0) {
        BN_LOG(DEBUG, "mesh_connect_failed", "mesh=%s link#%llu addr=%s err=%s", l->mesh->name,
               (unsigned long long)l->id, l->addr, uv_err_name(status));
        bn__link_close(l, BN_CLOSE_CONNECT_FAILED);
        return;
    }
    bn__link_start(l);
}

int bn__link_dial(bn__link_t *l, const char *host, int port)
{
    struct sockaddr_storage ss;
    const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    snprintf(l->addr, sizeof(l->addr), "%s:%d", ip, port);
    snprintf(l->peer_ip, sizeof(l->peer_ip), "%s", ip);
    int rc = bn_net_addr(ip, port, &ss);
    if (rc < 0) {
        return rc;
    }
    l->connect_req.data = l;
    return uv_tcp_connect(&l->connect_req, &l->tcp, (const struct sockaddr *)&ss, on_connect);
}
