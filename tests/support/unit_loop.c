/* Loop-driving and raw-client helpers for unit tests (see unit_loop.h). */
#include "unit_loop.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

unsigned bn_test_timeout(unsigned ms)
{
    const char *m = getenv("BN_TEST_TIMEOUT_MULTIPLIER");
    long k = m != NULL ? strtol(m, NULL, 10) : 1;
    if (k < 1) {
        k = 1;
    }
    return (unsigned)(ms * (unsigned long)k);
}

static void on_tick(uv_timer_t *h)
{
    (void)h; /* only there to make UV_RUN_ONCE return regularly */
}

static void on_timer_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

bool bn_test_run_until(uv_loop_t *loop, bn_test_pred_fn pred, void *ud, unsigned timeout_ms)
{
    uv_timer_t tick;
    bool tick_closed = false;
    uv_timer_init(loop, &tick);
    tick.data = &tick_closed;
    uv_timer_start(&tick, on_tick, 5, 5);
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + bn_test_timeout(timeout_ms);
    bool ok = pred(ud);
    while (!ok && uv_now(loop) < deadline) {
        uv_run(loop, UV_RUN_ONCE);
        ok = pred(ud);
    }
    uv_close((uv_handle_t *)&tick, on_timer_closed);
    while (!tick_closed) {
        uv_run(loop, UV_RUN_ONCE);
    }
    return ok;
}

static bool never(void *ud)
{
    (void)ud;
    return false;
}

void bn_test_run_for(uv_loop_t *loop, unsigned ms)
{
    bn_test_run_until(loop, never, NULL, ms);
}

/* ---------------------------------------------------------------- client */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    bn_test_client_t *c = h->data;
    (void)suggested;
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        while (cap - c->len < 65536) {
            cap *= 2;
        }
        char *nb = realloc(c->buf, cap);
        if (nb == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = nb;
        c->cap = cap;
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_closed(uv_handle_t *h)
{
    bn_test_client_t *c = h->data;
    c->closed = true;
}

static void client_close_handle(bn_test_client_t *c)
{
    if (!c->closing) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bn_test_client_t *c = s->data;
    (void)buf;
    if (nread > 0) {
        c->len += (size_t)nread;
        c->total_read += (size_t)nread;
    } else if (nread < 0) {
        c->eof = true;
        c->read_status = (int)nread;
        uv_read_stop(s);
        if (c->close_on_eof) {
            client_close_handle(c);
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    bn_test_client_t *c = req->data;
    c->connect_status = status;
    c->connected = status == 0;
    if (status == 0 && c->auto_read) {
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static bool pred_connect_done(void *ud)
{
    bn_test_client_t *c = ud;
    return c->connected || c->connect_status != 0;
}

bool bn_test_client_connect(uv_loop_t *loop, bn_test_client_t *c, int port, bool auto_read)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->auto_read = auto_read;
    c->close_on_eof = true;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    if (uv_tcp_init(loop, &c->tcp) != 0) {
        return false;
    }
    c->tcp.data = c;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, on_connect) != 0) {
        client_close_handle(c);
        return false;
    }
    bn_test_run_until(loop, pred_connect_done, c, 5000);
    return c->connected;
}

typedef struct write_req_s {
    uv_write_t req;
    bn_test_client_t *c;
    char data[];
} write_req_t;

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    (void)status;
    w->c->writes_pending--;
    free(w);
}

int bn_test_client_write(bn_test_client_t *c, const void *data, size_t len)
{
    write_req_t *w = malloc(sizeof(*w) + len);
    if (w == NULL) {
        return UV_ENOMEM;
    }
    memcpy(w->data, data, len);
    w->c = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        free(w);
        return rc;
    }
    c->writes_pending++;
    return 0;
}

typedef struct needle_s {
    bn_test_client_t *c;
    const char *needle;
    size_t n;
} needle_t;

static long find(const bn_test_client_t *c, const char *needle)
{
    size_t nl = strlen(needle);
    if (c->buf == NULL || c->len < nl) {
        return -1;
    }
    for (size_t i = 0; i + nl <= c->len; i++) {
        if (memcmp(c->buf + i, needle, nl) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static bool pred_needle(void *ud)
{
    needle_t *n = ud;
    return find(n->c, n->needle) >= 0 || n->c->eof;
}

long bn_test_client_read_until(bn_test_client_t *c, const char *needle, unsigned timeout_ms)
{
    needle_t n = {c, needle, 0};
    bn_test_run_until(c->loop, pred_needle, &n, timeout_ms);
    return find(c, needle);
}

static bool pred_bytes(void *ud)
{
    needle_t *n = ud;
    return n->c->len >= n->n || n->c->eof;
}

bool bn_test_client_read_bytes(bn_test_client_t *c, size_t n, unsigned timeout_ms)
{
    needle_t nd = {c, NULL, n};
    bn_test_run_until(c->loop, pred_bytes, &nd, timeout_ms);
    return c->len >= n;
}

static bool pred_eof(void *ud)
{
    return ((bn_test_client_t *)ud)->eof;
}

bool bn_test_client_wait_eof(bn_test_client_t *c, unsigned timeout_ms)
{
    if (!c->auto_read && !c->eof && !c->closing) {
        c->auto_read = true;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
    return bn_test_run_until(c->loop, pred_eof, c, timeout_ms);
}

void bn_test_client_consume(bn_test_client_t *c, size_t n)
{
    if (n >= c->len) {
        c->len = 0;
        return;
    }
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static bool pred_closed(void *ud)
{
    bn_test_client_t *c = ud;
    return c->closed && c->writes_pending == 0;
}

void bn_test_client_close(bn_test_client_t *c)
{
    if (c->loop != NULL) {
        client_close_handle(c);
        bn_test_run_until(c->loop, pred_closed, c, 5000);
    }
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

/* ---------------------------------------------------------------- WebSocket */

size_t bn_test_ws_request(char *out, size_t cap, const char *path_and_query)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     path_and_query);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

bool bn_test_ws_connect(uv_loop_t *loop, bn_test_client_t *c, int port, const char *path)
{
    if (!bn_test_client_connect(loop, c, port, true)) {
        return false;
    }
    char req[1024];
    size_t n = bn_test_ws_request(req, sizeof(req), path);
    if (n == 0 || bn_test_client_write(c, req, n) != 0) {
        return false;
    }
    long end = bn_test_client_read_until(c, "\r\n\r\n", 5000);
    if (end < 0 || c->len < 12 || memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
        return false;
    }
    bn_test_client_consume(c, (size_t)end + 4);
    return true;
}

int bn_test_ws_send(bn_test_client_t *c, int opcode, const void *data, size_t len)
{
    uint8_t *f = malloc(len + 14);
    if (f == NULL) {
        return UV_ENOMEM;
    }
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        f[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        f[h++] = 0x80 | 126;
        f[h++] = (uint8_t)(len >> 8);
        f[h++] = (uint8_t)len;
    } else {
        f[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) {
            f[h++] = (uint8_t)((uint64_t)len >> (8 * i));
        }
    }
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    memcpy(f + h, mask, 4);
    h += 4;
    const uint8_t *d = data;
    for (size_t i = 0; i < len; i++) {
        f[h + i] = d[i] ^ mask[i % 4];
    }
    int rc = bn_test_client_write(c, f, h + len);
    free(f);
    return rc;
}

long bn_test_ws_parse(const uint8_t *in, size_t n, bn_test_ws_frame_t *f)
{
    if (n < 2) {
        return 0;
    }
    if (in[1] & 0x80) {
        return -1; /* server frames are never masked (RFC 6455 §5.1) */
    }
    f->fin = (in[0] & 0x80) != 0;
    f->opcode = in[0] & 0x0f;
    uint64_t len = in[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        if (n < 4) {
            return 0;
        }
        len = ((uint64_t)in[2] << 8) | in[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10) {
            return 0;
        }
        len = 0;
        for (int i = 0; i < 8; i++) {
            len = (len << 8) | in[2 + i];
        }
        h = 10;
    }
    if (n - h < len) {
        return 0;
    }
    f->payload = in + h;
    f->len = (size_t)len;
    return (long)(h + len);
}

typedef struct frame_wait_s {
    bn_test_client_t *c;
    long size;
    bn_test_ws_frame_t f;
} frame_wait_t;

static bool pred_frame(void *ud)
{
    frame_wait_t *w = ud;
    w->size = bn_test_ws_parse((const uint8_t *)w->c->buf, w->c->len, &w->f);
    return w->size != 0 || w->c->eof;
}

int bn_test_ws_recv(bn_test_client_t *c, char **out, size_t *out_len, unsigned timeout_ms)
{
    frame_wait_t w = {c, 0, {0}};
    *out = NULL;
    if (out_len != NULL) {
        *out_len = 0;
    }
    bn_test_run_until(c->loop, pred_frame, &w, timeout_ms);
    if (w.size <= 0) {
        return -1;
    }
    char *s = malloc(w.f.len + 1);
    if (s == NULL) {
        return -1;
    }
    memcpy(s, w.f.payload, w.f.len);
    s[w.f.len] = '\0';
    *out = s;
    if (out_len != NULL) {
        *out_len = w.f.len;
    }
    int op = w.f.opcode;
    bn_test_client_consume(c, (size_t)w.size);
    return op;
}

/* ---------------------------------------------------------------- servers */

void bn_test_server_start(bn_test_server_t *ts, bn_config_t *cfg, const bn_channel_type_t *type)
{
    memset(ts, 0, sizeof(*ts));
    assert_int_equal(uv_loop_init(&ts->loop), 0);
    cfg->port = 0;
    ts->srv = bn_server_new(&ts->loop, cfg);
    assert_non_null(ts->srv);
    assert_int_equal(bn_server_route(ts->srv, "room:*", type, NULL), 0);
    assert_int_equal(bn_server_start(ts->srv), 0);
    ts->port = bn_server_port(ts->srv);
    assert_true(ts->port > 0);
}

static void on_server_stopped(void *ud)
{
    ((bn_test_server_t *)ud)->stopped = true;
}

static bool server_stopped(void *ud)
{
    return ((bn_test_server_t *)ud)->stopped;
}

void bn_test_server_begin_stop(bn_test_server_t *ts)
{
    if (ts->srv != NULL) {
        bn_server_stop(ts->srv, on_server_stopped, ts);
        ts->srv = NULL;
    }
}

void bn_test_server_finish(bn_test_server_t *ts)
{
    bn_test_server_begin_stop(ts);
    assert_true(bn_test_run_until(&ts->loop, server_stopped, ts, 5000));
    uv_run(&ts->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&ts->loop), 0);
}
