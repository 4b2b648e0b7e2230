/* One mesh link: a TCP connection with its frame reader, its handshake and
 * its bounded FIFO of outgoing frames.
 *
 * Lifetime: a link is allocated by the listener or a dialler, sits on the
 * mesh's links list, and is freed only from the tcp handle's close callback.
 * bn__link_close only marks it and starts uv_close, so a link closed from
 * inside any callback (its own read callback, a broadcast loop) remains valid
 * until that callback returns; node-level consequences (nodedown, dropping
 * memberships, redial) happen in the close callback, on a later loop turn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "mesh/internal.h"

#define LINK_READ_MIN 4096u

static const char *const close_reason_names[] = {
#define BN__CLOSE_NAME(name, str) str,
    BN__CLOSE_REASON_MAP(BN__CLOSE_NAME)
#undef BN__CLOSE_NAME
};

const char *bn__close_reason_name(bn__close_reason_t r)
{
    if ((unsigned)r >= BN__CLOSE_COUNT) {
        return "invalid";
    }
    return close_reason_names[r];
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        abort();
    }
    return q;
}

static const char *link_peer(const bn__link_t *l)
{
    return l->peer_name != NULL ? l->peer_name : "?";
}

bn__link_t *bn__link_new(bn_mesh_t *m, bool outbound)
{
    bn__link_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        abort();
    }
    l->mesh = m;
    l->id = ++m->next_link_id;
    l->outbound = outbound;
    l->state = BN__LINK_CONNECTING;
    l->created_ms = bn__mesh_now(m);
    l->last_rx_ms = l->created_ms;
    l->peer_port = -1;
    bn__frame_reader_init(&l->rx, BN__MESH_PREAUTH_MAX_FRAME);
    bn__hs_init(&l->hs, outbound);
    if (outbound) {
        memcpy(l->dialer_nonce, l->hs.nonce, sizeof(l->dialer_nonce));
    }
    uv_tcp_init(m->loop, &l->tcp);
    uv_tcp_nodelay(&l->tcp, 1);
    l->tcp.data = l;
    m->open_handles++;
    l->next = m->links;
    m->links = l;
    return l;
}

bool bn__link_usable(const bn__link_t *l)
{
    return l != NULL && l->state == BN__LINK_UP;
}

/* ---- closing ------------------------------------------------------------ */

static void unlink_from_mesh(bn__link_t *l)
{
    bn__link_t **pp = &l->mesh->links;
    while (*pp != NULL && *pp != l) {
        pp = &(*pp)->next;
    }
    if (*pp == l) {
        *pp = l->next;
    }
}

static void on_link_closed(uv_handle_t *h)
{
    bn__link_t *l = h->data;
    bn_mesh_t *m = l->mesh;
    unlink_from_mesh(l);
    bn__node_link_closed(m, l);
    for (size_t i = 0; i < l->q_len; i++) {
        bn_buf_unref(l->q[i]);
    }
    free(l->q);
    free(l->wbufs);
    free(l->uvbufs);
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

void bn__link_close(bn__link_t *l, bn__close_reason_t reason)
{
    if (l->state == BN__LINK_CLOSING) {
        return;
    }
    bn_mesh_t *m = l->mesh;
    bool was_up = l->state == BN__LINK_UP;
    l->state = BN__LINK_CLOSING;
    l->reason = reason;
    m->closes[reason]++;
    switch (reason) {
    case BN__CLOSE_SHUTDOWN:
    case BN__CLOSE_DUPLICATE_LINK:
    case BN__CLOSE_SELF_CONNECT:
    case BN__CLOSE_CONNECT_FAILED:
        BN_LOG(DEBUG, "mesh_link_close", "mesh=%s link#%llu node=%s addr=%s up=%d reason=%s",
               m->name, (unsigned long long)l->id, link_peer(l), l->addr, was_up,
               bn__close_reason_name(reason));
        break;
    default:
        BN_LOG(WARN, "mesh_link_close", "mesh=%s link#%llu node=%s addr=%s up=%d reason=%s",
               m->name, (unsigned long long)l->id, link_peer(l), l->addr, was_up,
               bn__close_reason_name(reason));
        break;
    }
    uv_close((uv_handle_t *)&l->tcp, on_link_closed);
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

static void on_write(uv_write_t *req, int status)
{
    bn__link_t *l = req->data;
    for (size_t i = 0; i < l->n_wbufs; i++) {
        l->queued_bytes -= l->wbufs[i]->len;
        bn_buf_unref(l->wbufs[i]);
    }
    l->n_wbufs = 0;
    l->writing = false;
    if (status < 0) {
        if (l->state != BN__LINK_CLOSING) {
            bn__link_close(l, BN__CLOSE_WRITE_ERROR);
        }
        return;
    }
    link_flush(l);
}

/* Writes everything queued in one multi-buffer uv_write; the next batch
 * starts from the write callback, which keeps frames in FIFO order. */
static void link_flush(bn__link_t *l)
{
    if (l->writing || l->q_len == 0 || l->state == BN__LINK_CLOSING ||
        l->state == BN__LINK_CONNECTING) {
        return;
    }
    if (l->wcap < l->q_len) {
        l->wcap = l->q_len;
        l->uvbufs = xrealloc(l->uvbufs, l->wcap * sizeof(*l->uvbufs));
        l->wbufs = xrealloc(l->wbufs, l->wcap * sizeof(*l->wbufs));
    }
    for (size_t i = 0; i < l->q_len; i++) {
        l->wbufs[i] = l->q[i];
        l->uvbufs[i] = uv_buf_init(bn_buf_wire(l->q[i]), (unsigned)bn_buf_wire_len(l->q[i]));
    }
    l->n_wbufs = l->q_len;
    l->q_len = 0;
    l->write_req.data = l;
    l->writing = true;
    int rc = uv_write(&l->write_req, (uv_stream_t *)&l->tcp, l->uvbufs, (unsigned)l->n_wbufs,
                      on_write);
    if (rc < 0) {
        /* The callback will not run: release the batch here. */
        for (size_t i = 0; i < l->n_wbufs; i++) {
            l->queued_bytes -= l->wbufs[i]->len;
            bn_buf_unref(l->wbufs[i]);
        }
        l->n_wbufs = 0;
        l->writing = false;
        bn__link_close(l, BN__CLOSE_WRITE_ERROR);
    }
}

int bn__link_send(bn__link_t *l, bn_buf_t *frame)
{
    if (l->state == BN__LINK_CLOSING) {
        return -1;
    }
    bn_mesh_t *m = l->mesh;
    if (m->tap != NULL) {
        m->tap(m->tap_ud, l, (const uint8_t *)bn_buf_body(frame), frame->len);
    }
    bn_buf_t *out;
    if (l->tx_crypt) {
        size_t plen = frame->len - 4;
        size_t clen = plen + BN__HS_ABYTES;
        out = bn_buf_new(4 + clen);
        if (out == NULL) {
            abort();
        }
        uint8_t *p = (uint8_t *)bn_buf_body(out);
        p[0] = (uint8_t)(clen >> 24);
        p[1] = (uint8_t)(clen >> 16);
        p[2] = (uint8_t)(clen >> 8);
        p[3] = (uint8_t)clen;
        bn__hs_seal(&l->hs, (const uint8_t *)bn_buf_body(frame) + 4, plen, p + 4);
        out->len = 4 + clen;
    } else {
        out = bn_buf_ref(frame);
    }
    if (l->queued_bytes + out->len > m->max_link_queue) {
        bn_buf_unref(out);
        /* Closing is asynchronous (uv_close), so callers iterating over
         * links or nodes are not disturbed; membership is resynchronised
         * when the peer comes back. */
        bn__link_close(l, BN__CLOSE_SLOW_CONSUMER);
        return -1;
    }
    if (l->q_len == l->q_cap) {
        l->q_cap = l->q_cap ? l->q_cap * 2 : 16;
        l->q = xrealloc(l->q, l->q_cap * sizeof(*l->q));
    }
    l->q[l->q_len++] = out;
    l->queued_bytes += out->len;
    l->msgs_out++;
    l->bytes_out += out->len;
    l->last_tx_ms = bn__mesh_now(m);
    link_flush(l);
    return 0;
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

/* ---- handshake ---------------------------------------------------------- */

static void send_hello(bn__link_t *l)
{
    bn_mesh_t *m = l->mesh;
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_HELLO;
    msg.u.hello.name = bn__bytes(m->name, strlen(m->name));
    msg.u.hello.incarnation = m->incarnation;
    msg.u.hello.hidden = m->hidden;
    msg.u.hello.nonce = bn__bytes(l->hs.nonce, sizeof(l->hs.nonce));
    msg.u.hello.kx_pk = bn__bytes(l->hs.pk, sizeof(l->hs.pk));
    /* A wildcard bind says nothing about where to reach us: let the peer use
     * the address it sees. */
    bool wildcard = strcmp(m->bind, "0.0.0.0") == 0 || strcmp(m->bind, "::") == 0;
    msg.u.hello.host = wildcard ? bn__bytes("", 0) : bn__bytes(m->bind, strlen(m->bind));
    msg.u.hello.port = m->port;
    msg.u.hello.encrypt = m->encrypt;
    bn_buf_t *b = NULL;
    if (bn__codec_encode(&msg, BN__MESH_PREAUTH_MAX_FRAME, &b) != 0) {
        bn__link_close(l, BN__CLOSE_PROTOCOL);
        return;
    }
    /* The transcript covers the exact bytes sent. */
    l->own_hello_len = b->len - 4;
    l->own_hello = malloc(l->own_hello_len);
    if (l->own_hello == NULL) {
        abort();
    }
    memcpy(l->own_hello, bn_buf_body(b) + 4, l->own_hello_len);
    bn__link_send(l, b);
    bn_buf_unref(b);
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

static void on_hello(bn__link_t *l, const bn__msg_t *msg, const uint8_t *body, size_t len)
{
    bn_mesh_t *m = l->mesh;
    if (l->got_hello) {
        bn__link_close(l, BN__CLOSE_PROTOCOL);
        return;
    }
    l->got_hello = true;
    const bn__bytes_t *name = &msg->u.hello.name;
    if (!bn__node_name_valid(name->data, name->len) ||
        msg->u.hello.nonce.len != BN__HS_NONCE_BYTES || !host_valid(msg->u.hello.host) ||
        msg->u.hello.port > 65535) {
        bn__link_close(l, BN__CLOSE_BAD_HELLO);
        return;
    }
    l->peer_name = malloc(name->len + 1);
    if (l->peer_name == NULL) {
        abort();
    }
    memcpy(l->peer_name, name->data, name->len);
    l->peer_name[name->len] = '\0';
    if (strcmp(l->peer_name, m->name) == 0) {
        if (l->seed != NULL) {
            l->seed->done = true;
        }
        bn__link_close(l, BN__CLOSE_SELF_CONNECT);
        return;
    }
    if (msg->u.hello.encrypt != m->encrypt) {
        bn__link_close(l, BN__CLOSE_ENCRYPT_MISMATCH);
        return;
    }
    l->encrypt = m->encrypt;
    l->peer_incarnation = msg->u.hello.incarnation;
    l->peer_hidden = msg->u.hello.hidden;
    l->peer_port = msg->u.hello.port > 0 ? msg->u.hello.port : -1;
    if (msg->u.hello.host.len > 0) {
        memcpy(l->peer_host, msg->u.hello.host.data, msg->u.hello.host.len);
        l->peer_host[msg->u.hello.host.len] = '\0';
    } else {
        snprintf(l->peer_host, sizeof(l->peer_host), "%s", l->peer_ip);
    }
    if (!l->outbound) {
        memcpy(l->dialer_nonce, msg->u.hello.nonce.data, BN__HS_NONCE_BYTES);
    }
    if (bn__hs_derive(&l->hs, m->cookie_key, l->own_hello, l->own_hello_len, body, len,
                      msg->u.hello.kx_pk.data, msg->u.hello.kx_pk.len) != 0) {
        bn__link_close(l, BN__CLOSE_BAD_HELLO);
        return;
    }
    free(l->own_hello);
    l->own_hello = NULL;

    uint8_t mac[BN__HS_MAC_BYTES];
    bn__hs_own_mac(&l->hs, mac);
    bn__msg_t auth;
    memset(&auth, 0, sizeof(auth));
    auth.type = BN__MSG_AUTH;
    auth.u.auth.mac = bn__bytes(mac, sizeof(mac));
    bn__link_send_msg(l, &auth);
    /* Everything we send after our Auth is sealed when encryption is on. */
    l->tx_crypt = l->encrypt;
}

static void on_auth(bn__link_t *l, const bn__msg_t *msg)
{
    bn_mesh_t *m = l->mesh;
    if (!l->got_hello) {
        bn__link_close(l, BN__CLOSE_PROTOCOL);
        return;
    }
    if (!bn__hs_verify_peer(&l->hs, msg->u.auth.mac.data, msg->u.auth.mac.len)) {
        bn__link_close(l, BN__CLOSE_BAD_COOKIE);
        return;
    }
    l->rx_crypt = l->encrypt;
    l->state = BN__LINK_UP;
    l->rx.max_frame = m->max_frame + (l->encrypt ? BN__HS_ABYTES : 0);
    l->last_rx_ms = bn__mesh_now(m);
    BN_LOG(DEBUG, "mesh_link_up", "mesh=%s link#%llu node=%s addr=%s dir=%s encrypted=%d",
           m->name, (unsigned long long)l->id, l->peer_name, l->addr,
           l->outbound ? "out" : "in", l->encrypt);
    bn__node_link_authenticated(m, l);
}

static void handshake_frame(bn__link_t *l, const bn__msg_t *msg, const uint8_t *body, size_t len)
{
    switch (msg->type) {
    case BN__MSG_HELLO:
        on_hello(l, msg, body, len);
        break;
    case BN__MSG_AUTH:
        on_auth(l, msg);
        break;
    default:
        bn__link_close(l, BN__CLOSE_PROTOCOL);
        break;
    }
}

/* ---- receiving ---------------------------------------------------------- */

static void handle_frame(bn__link_t *l, const uint8_t *body, size_t len)
{
    bn_mesh_t *m = l->mesh;
    l->msgs_in++;
    if (l->rx_crypt) {
        if (l->plain_cap < len) {
            l->plain_cap = len;
            l->plain = xrealloc(l->plain, len);
        }
        long n = bn__hs_open(&l->hs, body, len, l->plain);
        if (n < 0) {
            bn__link_close(l, BN__CLOSE_DECRYPT_FAILED);
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
        bn__link_close(l, BN__CLOSE_VERSION_MISMATCH);
        return;
    case BN__DEC_UNKNOWN:
        bn__msg_free(&msg);
        if (l->state == BN__LINK_HANDSHAKE) {
            bn__link_close(l, BN__CLOSE_PROTOCOL);
        } else {
            /* A newer peer's message: counted and ignored. */
            m->unknown_frames++;
        }
        return;
    default:
        bn__link_close(l, BN__CLOSE_BAD_FRAME);
        return;
    }
    if (l->state == BN__LINK_HANDSHAKE) {
        handshake_frame(l, &msg, body, len);
    } else {
        bn__mesh_dispatch(m, l, &msg);
    }
    bn__msg_free(&msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    bn__link_t *l = h->data;
    (void)suggested;
    uint8_t *p;
    size_t avail;
    bn__frame_reader_space(&l->rx, LINK_READ_MIN, &p, &avail);
    *buf = uv_buf_init((char *)p, (unsigned)avail);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bn__link_t *l = s->data;
    (void)buf;
    if (l->state == BN__LINK_CLOSING) {
        return;
    }
    if (nread < 0) {
        bn__link_close(l, nread == UV_EOF ? BN__CLOSE_CONNECTION_CLOSED : BN__CLOSE_READ_ERROR);
        return;
    }
    if (nread == 0) {
        return;
    }
    bn__frame_reader_commit(&l->rx, (size_t)nread);
    l->bytes_in += (uint64_t)nread;
    l->last_rx_ms = bn__mesh_now(l->mesh);
    while (l->state != BN__LINK_CLOSING && !l->stalled) {
        const uint8_t *body;
        size_t len;
        int rc = bn__frame_next(&l->rx, &body, &len);
        if (rc == BN__FRAME_MORE) {
            break;
        }
        if (rc == BN__FRAME_TOO_LARGE) {
            bn__link_close(l, BN__CLOSE_FRAME_TOO_LARGE);
            return;
        }
        if (rc != BN__FRAME_OK) {
            bn__link_close(l, BN__CLOSE_BAD_FRAME);
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
        bn__link_close(l, BN__CLOSE_READ_ERROR);
        return;
    }
    send_hello(l);
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
        bn__link_close(l, BN__CLOSE_CONNECT_FAILED);
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
    int rc = uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss);
    if (rc < 0) {
        rc = uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss);
    }
    if (rc < 0) {
        return rc;
    }
    l->connect_req.data = l;
    return uv_tcp_connect(&l->connect_req, &l->tcp, (const struct sockaddr *)&ss, on_connect);
}
