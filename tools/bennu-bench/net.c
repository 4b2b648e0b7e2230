/* libuv client connections; contracts in net.h. */
#include "net.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Replies and broadcasts are small; this bounds the reassembly buffer a
 * misbehaving server could make us grow. */
#define BNB_MAX_MSG (16u << 20)

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

bnb_net_t *bnb_net_new(uv_loop_t *loop, const bnb_config_t *cfg)
{
    bnb_net_t *net = malloc(sizeof(*net));
    if (net == NULL) {
        abort();
    }
    int rc = bnb_net_init(net, loop, cfg);
    if (rc != 0) {
        fprintf(stderr, "bennu-bench: bad --host '%s': %s\n", cfg->host, uv_strerror(rc));
        free(net);
        return NULL;
    }
    return net;
}

int bnb_net_init(bnb_net_t *net, uv_loop_t *loop, const bnb_config_t *cfg)
{
    memset(net, 0, sizeof(*net));
    net->loop = loop;
    net->cfg = cfg;
    net->rng = uv_hrtime() | 1;
    int rc = uv_ip4_addr(cfg->host, cfg->port, &net->dst);
    if (rc != 0) {
        return rc;
    }
    uint32_t a = ntohl(net->dst.sin_addr.s_addr);
    net->bind_src = cfg->src_addrs > 0 && (a >> 24) == 127;
    int n = snprintf(net->path_q, sizeof(net->path_q), "%s?vsn=2.0.0", cfg->path);
    if (n < 0 || (size_t)n >= sizeof(net->path_q)) {
        return UV_EINVAL;
    }
    return 0;
}

void bnb_net_free(bnb_net_t *net)
{
    while (net->free_wreqs != NULL) {
        bnb_wreq_t *w = net->free_wreqs;
        net->free_wreqs = w->next;
        free(w->buf);
        free(w);
    }
}

static bnb_wreq_t *wreq_get(bnb_net_t *net, size_t need)
{
    bnb_wreq_t *w = net->free_wreqs;
    if (w != NULL) {
        net->free_wreqs = w->next;
    } else {
        w = calloc(1, sizeof(*w));
        if (w == NULL) {
            abort();
        }
        w->net = net;
    }
    w->len = 0;
    if (w->cap < need) {
        size_t cap = need < 4096 ? 4096 : need;
        uint8_t *b = realloc(w->buf, cap);
        if (b == NULL) {
            abort();
        }
        w->buf = b;
        w->cap = cap;
    }
    return w;
}

static void wreq_put(bnb_wreq_t *w)
{
    /* Oversized buffers are not kept: one burst must not pin memory for the
     * rest of the run. */
    if (w->cap > (1u << 20)) {
        free(w->buf);
        w->buf = NULL;
        w->cap = 0;
    }
    w->next = w->net->free_wreqs;
    w->net->free_wreqs = w;
}

static void on_write(uv_write_t *req, int status)
{
    bnb_wreq_t *w = (bnb_wreq_t *)req;
    bnb_conn_t *c = w->conn;
    wreq_put(w);
    if (status < 0 && status != UV_ECANCELED) {
        bnb_conn_close(c, status, "write failed", 0);
    }
}

static void write_raw(bnb_conn_t *c, bnb_wreq_t *w)
{
    w->conn = c;
    uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)w->len);
    c->net->bytes_out += w->len;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        wreq_put(w);
        bnb_conn_close(c, rc, "write failed", 0);
    }
}

void bnb_conn_queue(bnb_conn_t *c, int opcode, const void *data, size_t len)
{
    if (c->state != BNB_CONN_OPEN) {
        return;
    }
    size_t need = len + BNB_WS_HDR_MAX;
    if (c->batch == NULL) {
        c->batch = wreq_get(c->net, need);
    } else if (c->batch->len + need > c->batch->cap) {
        size_t cap = c->batch->cap * 2;
        while (cap < c->batch->len + need) {
            cap *= 2;
        }
        uint8_t *b = realloc(c->batch->buf, cap);
        if (b == NULL) {
            abort();
        }
        c->batch->buf = b;
        c->batch->cap = cap;
    }
    uint64_t r = rng_next(&c->net->rng);
    uint8_t mask[4];
    memcpy(mask, &r, 4);
    c->batch->len += bnb_ws_frame_build(c->batch->buf + c->batch->len, opcode, data, len, mask);
}

void bnb_conn_flush(bnb_conn_t *c)
{
    bnb_wreq_t *w = c->batch;
    if (w == NULL) {
        return;
    }
    c->batch = NULL;
    if (c->state != BNB_CONN_OPEN || w->len == 0) {
        wreq_put(w);
        return;
    }
    write_raw(c, w);
}

void bnb_conn_send_text(bnb_conn_t *c, const void *data, size_t len)
{
    bnb_conn_queue(c, BNB_WS_OP_TEXT, data, len);
    bnb_conn_flush(c);
}

size_t bnb_conn_write_queue(const bnb_conn_t *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static void on_closed(uv_handle_t *h)
{
    bnb_conn_t *c = h->data;
    free(c->hs);
    c->hs = NULL;
    c->hs_len = 0;
    bnb_ws_parser_free(&c->wsp);
    c->state = BNB_CONN_IDLE;
    c->net->on_close(c, c->close_err, c->close_why);
}

void bnb_conn_close(bnb_conn_t *c, int err, const char *why, int polite)
{
    if (c->state == BNB_CONN_CLOSING || c->state == BNB_CONN_IDLE) {
        return;
    }
    if (polite && c->state == BNB_CONN_OPEN) {
        /* Status 1000, best effort: uv_close would cancel a queued write,
         * so the frame is only sent if it fits in the socket right now. */
        bnb_conn_flush(c);
        uint8_t frame[BNB_WS_HDR_MAX + 2];
        static const uint8_t code[2] = {0x03, 0xe8};
        static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
        size_t n = bnb_ws_frame_build(frame, BNB_WS_OP_CLOSE, code, 2, mask);
        uv_buf_t b = uv_buf_init((char *)frame, (unsigned)n);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    if (c->batch != NULL) {
        wreq_put(c->batch);
        c->batch = NULL;
    }
    c->state = BNB_CONN_CLOSING;
    c->close_err = err;
    c->close_why = why;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    bnb_conn_t *c = h->data;
    *buf = uv_buf_init((char *)c->net->rbuf, sizeof(c->net->rbuf));
}

static int on_ws_msg(void *ud, int opcode, const uint8_t *data, size_t len)
{
    bnb_conn_t *c = ud;
    switch (opcode) {
    case BNB_WS_OP_TEXT:
        c->net->on_text(c, (const char *)data, len, uv_hrtime());
        break;
    case BNB_WS_OP_PING:
        c->net->pings_in++;
        bnb_conn_queue(c, BNB_WS_OP_PONG, data, len);
        bnb_conn_flush(c);
        break;
    case BNB_WS_OP_CLOSE:
        bnb_conn_close(c, UV_EOF, "server sent close", 1);
        break;
    default:
        break; /* binary and pong frames are not used by the benchmark */
    }
    return c->state == BNB_CONN_OPEN ? 0 : 1;
}

static void feed_frames(bnb_conn_t *c, const uint8_t *data, size_t len)
{
    int rc = bnb_ws_parser_feed(&c->wsp, data, len, on_ws_msg, c);
    if (rc < 0) {
        bnb_conn_close(c, rc, bnb_ws_strerror(rc), 0);
        return;
    }
    if (rc == 0 && c->state == BNB_CONN_OPEN && c->net->on_read_done != NULL) {
        c->net->on_read_done(c);
    }
}

static void handshake_read(bnb_conn_t *c, const char *data, size_t len)
{
    size_t room = BNB_WS_HS_MAX + 1 - c->hs_len;
    size_t take = len < room ? len : room;
    memcpy(c->hs + c->hs_len, data, take);
    c->hs_len += take;
    size_t hdr_len = 0;
    int status = 0;
    int rc = bnb_ws_handshake_parse(c->hs, c->hs_len, c->accept, &hdr_len, &status);
    if (rc == 0) {
        return;
    }
    if (rc < 0) {
        bnb_conn_close(c, rc,
                       rc == BNB_WS_E_HS_STATUS ? "upgrade refused (HTTP status not 101)"
                                                : bnb_ws_strerror(rc),
                       0);
        return;
    }
    /* Bytes after the header block already belong to the frame stream; they
     * are the tail of this read because earlier reads held no blank line. */
    size_t prev = c->hs_len - take;
    size_t used_here = hdr_len - prev;
    free(c->hs);
    c->hs = NULL;
    c->hs_len = 0;
    c->state = BNB_CONN_OPEN;
    c->net->on_open(c);
    if (c->state == BNB_CONN_OPEN && used_here < len) {
        feed_frames(c, (const uint8_t *)data + used_here, len - used_here);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bnb_conn_t *c = s->data;
    if (nread < 0) {
        bnb_conn_close(c, (int)nread,
                       nread == UV_EOF ? "server closed the connection" : "read failed", 0);
        return;
    }
    if (nread == 0) {
        return;
    }
    c->net->bytes_in += (uint64_t)nread;
    if (c->state == BNB_CONN_HANDSHAKE) {
        handshake_read(c, buf->base, (size_t)nread);
    } else if (c->state == BNB_CONN_OPEN) {
        feed_frames(c, (const uint8_t *)buf->base, (size_t)nread);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    bnb_conn_t *c = req->data;
    if (c->state != BNB_CONN_CONNECTING) {
        return;
    }
    if (status < 0) {
        bnb_conn_close(c, status, "connect failed", 0);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    char key[25];
    bnb_ws_key_make(key, &c->net->rng);
    bnb_ws_accept_for(key, c->accept);
    bnb_wreq_t *w = wreq_get(c->net, 2048);
    w->len = bnb_ws_handshake_request((char *)w->buf, w->cap, c->net->cfg->host, c->net->cfg->port,
                                      c->net->path_q, key);
    c->hs = malloc(BNB_WS_HS_MAX + 1);
    if (c->hs == NULL) {
        abort();
    }
    c->hs_len = 0;
    c->state = BNB_CONN_HANDSHAKE;
    write_raw(c, w);
    if (c->state != BNB_CONN_HANDSHAKE) {
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        bnb_conn_close(c, rc, "read start failed", 0);
    }
}

int bnb_conn_open(bnb_net_t *net, bnb_conn_t *c)
{
    c->net = net;
    c->batch = NULL;
    c->hs = NULL;
    c->hs_len = 0;
    c->close_err = 0;
    c->close_why = NULL;
    bnb_ws_parser_init(&c->wsp, BNB_MAX_MSG);
    int rc = uv_tcp_init_ex(net->loop, &c->tcp, AF_INET);
    if (rc != 0) {
        return rc;
    }
    c->tcp.data = c;
    c->creq.data = c;
    c->state = BNB_CONN_CONNECTING;
    c->t_open = uv_hrtime();
    if (net->bind_src) {
        /* Deferring the port choice to connect() lets every source address
         * reuse the whole ephemeral range per destination, which is what
         * takes a single client past 64k sockets. */
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
            int one = 1;
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        }
        uint32_t idx = net->src_next++ % net->cfg->src_addrs;
        uint32_t host = (127u << 24) | ((idx / (254u * 256u)) % 256u) << 16 |
                        ((idx / 254u) % 256u) << 8 | (1u + idx % 254u);
        struct sockaddr_in src;
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(host);
        rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
    }
    if (rc == 0) {
        rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&net->dst, on_connect);
    }
    if (rc != 0) {
        /* Callers see a synchronous failure only; the handle is closed
         * without notifying them, per the contract. */
        c->state = BNB_CONN_CLOSING;
        c->close_err = rc;
        c->close_why = "connect failed";
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return 0;
    }
    return 0;
}
