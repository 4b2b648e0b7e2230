/* The flood attacker; contracts in flood.h. */
#include "flood.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "schedule.h"

#define TICK_MS 10u

enum { SLOT_FREE, SLOT_CONNECTING, SLOT_OPEN, SLOT_CLOSING };

struct bnc_flood_conn_s {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    bnc_flood_t *f;
    int state;
    unsigned idx;
    uint8_t hello[BNC_HELLO_FRAME_LEN];
};

static char read_buf[16384];

static uint64_t now_ms(const bnc_flood_t *f)
{
    return f->now_ms(f->now_ud);
}

static void handle_gone(bnc_flood_t *f)
{
    if (--f->open_handles > 0 || f->running) {
        return;
    }
    free(f->conns);
    f->conns = NULL;
    if (f->close_cb != NULL) {
        void (*cb)(void *) = f->close_cb;
        f->close_cb = NULL;
        cb(f->close_ud);
    }
}

/* ---- flood connections ---- */

static void slot_closed(uv_handle_t *h)
{
    bnc_flood_conn_t *c = h->data;
    c->state = SLOT_FREE;
    handle_gone(c->f);
}

static void slot_close(bnc_flood_conn_t *c)
{
    if (c->state == SLOT_FREE || c->state == SLOT_CLOSING) {
        return;
    }
    if (c->state == SLOT_OPEN) {
        c->f->open--;
    }
    c->state = SLOT_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, slot_closed);
}

static void slot_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void slot_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    bnc_flood_conn_t *c = s->data;
    if (nread > 0) {
        c->f->bytes_in += (uint64_t)nread;
    } else if (nread < 0 && c->state == SLOT_OPEN) {
        c->f->closed_by_node++;
        slot_close(c);
    }
}

static void slot_written(uv_write_t *req, int status)
{
    bnc_flood_conn_t *c = req->data;
    if (status == 0) {
        c->f->hellos++;
    }
}

static void slot_connected(uv_connect_t *req, int status)
{
    bnc_flood_conn_t *c = req->data;
    bnc_flood_t *f = c->f;
    if (c->state != SLOT_CONNECTING) {
        return;
    }
    if (status < 0) {
        f->connect_failed++;
        slot_close(c);
        return;
    }
    f->established++;
    c->state = SLOT_OPEN;
    f->open++;
    if (f->open > f->max_open) {
        f->max_open = f->open;
    }
    uv_read_start((uv_stream_t *)&c->tcp, slot_alloc, slot_read);
    if (c->idx % 2 == 0) {
        bnc_hello_frame(c->hello, &f->rng);
        uv_buf_t b = uv_buf_init((char *)c->hello, sizeof(c->hello));
        c->wreq.data = c;
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, slot_written) != 0) {
            slot_close(c);
        }
    }
}

static void slot_open(bnc_flood_t *f, bnc_flood_conn_t *c)
{
    uv_tcp_init(f->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    c->state = SLOT_CONNECTING;
    f->open_handles++;
    f->attempts++;
    if (!f->bind_failed) {
        char ip[32];
        snprintf(ip, sizeof(ip), "127.0.2.%u", 1 + c->idx % BNC_FLOOD_SOURCES);
        struct sockaddr_in src;
        uv_ip4_addr(ip, 0, &src);
        if (uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0) != 0) {
            f->bind_failed = 1;
        }
    }
    struct sockaddr_in dst;
    uv_ip4_addr("127.0.0.1", f->port, &dst);
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&dst, slot_connected) != 0) {
        f->connect_failed++;
        slot_close(c);
    }
}

/* ---- the HTTP probe ---- */

static void http_closed(uv_handle_t *h)
{
    bnc_flood_t *f = h->data;
    f->http_busy = 0;
    f->http_next_ms = f->http_started_ms + BNC_FLOOD_HTTP_EVERY_MS;
    handle_gone(f);
}

static void http_finish(bnc_flood_t *f, int ok, const char *why)
{
    if (uv_is_closing((uv_handle_t *)&f->http)) {
        return;
    }
    f->http_probes++;
    if (ok) {
        f->http_ok++;
        uint64_t took = now_ms(f) - f->http_started_ms;
        if (took > f->http_max_ms) {
            f->http_max_ms = took;
        }
    } else {
        snprintf(f->http_last_error, sizeof(f->http_last_error), "%s", why);
    }
    uv_close((uv_handle_t *)&f->http, http_closed);
}

static void http_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    bnc_flood_t *f = h->data;
    *buf =
        uv_buf_init(f->http_buf + f->http_len, (unsigned)(sizeof(f->http_buf) - 1 - f->http_len));
}

static void http_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    bnc_flood_t *f = s->data;
    if (nread < 0) {
        http_finish(f, 0,
                    nread == UV_EOF ? "closed before a status line" : uv_err_name((int)nread));
        return;
    }
    f->http_len += (size_t)nread;
    f->http_buf[f->http_len] = '\0';
    if (strstr(f->http_buf, "\r\n") != NULL) {
        int ok = strncmp(f->http_buf, "HTTP/1.1 200", 12) == 0;
        char why[64];
        snprintf(why, sizeof(why), "status line %.40s", f->http_buf);
        why[strcspn(why, "\r\n")] = '\0';
        http_finish(f, ok, why);
    } else if (f->http_len == sizeof(f->http_buf) - 1) {
        http_finish(f, 0, "no status line");
    }
}

static void http_written(uv_write_t *req, int status)
{
    bnc_flood_t *f = req->data;
    if (status < 0 && status != UV_ECANCELED) {
        http_finish(f, 0, uv_err_name(status));
    }
}

static void http_connected(uv_connect_t *req, int status)
{
    bnc_flood_t *f = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED) {
            http_finish(f, 0, uv_err_name(status));
        }
        return;
    }
    static const char get[] =
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)get, sizeof(get) - 1);
    f->http_wreq.data = f;
    uv_read_start((uv_stream_t *)&f->http, http_alloc, http_read);
    if (uv_write(&f->http_wreq, (uv_stream_t *)&f->http, &b, 1, http_written) != 0) {
        http_finish(f, 0, "write failed");
    }
}

static void http_start(bnc_flood_t *f, uint64_t now)
{
    uv_tcp_init(f->loop, &f->http);
    f->http.data = f;
    f->open_handles++;
    f->http_busy = 1;
    f->http_started_ms = now;
    f->http_len = 0;
    f->http_buf[0] = '\0';
    struct sockaddr_in dst;
    uv_ip4_addr("127.0.0.1", f->http_port, &dst);
    f->http_creq.data = f;
    if (uv_tcp_connect(&f->http_creq, &f->http, (const struct sockaddr *)&dst, http_connected) !=
        0) {
        http_finish(f, 0, "connect failed");
    }
}

/* ---- pacing ---- */

static void tick(uv_timer_t *t)
{
    bnc_flood_t *f = t->data;
    uint64_t now = now_ms(f);
    if (f->burst_done_ms == 0) {
        unsigned budget = BNC_FLOOD_BURST_PER_S * TICK_MS / 1000;
        while (budget-- > 0 && f->next_slot < f->target) {
            slot_open(f, &f->conns[f->next_slot++]);
        }
        if (f->next_slot == f->target) {
            f->burst_done_ms = now;
            f->next_slot = 0;
        }
    } else {
        unsigned budget = BNC_FLOOD_REOPEN_PER_S * TICK_MS / 1000;
        for (unsigned k = 0; k < f->target && budget > 0; k++) {
            bnc_flood_conn_t *c = &f->conns[f->next_slot];
            f->next_slot = (f->next_slot + 1) % f->target;
            if (c->state == SLOT_FREE) {
                slot_open(f, c);
                budget--;
            }
        }
        if (now >= f->burst_done_ms + BNC_FLOOD_SETTLE_MS && f->open > f->max_open_settled) {
            f->max_open_settled = f->open;
        }
    }
    if (f->http_busy) {
        if (now - f->http_started_ms > BNC_FLOOD_HTTP_TIMEOUT_MS) {
            http_finish(f, 0, "no answer within the timeout");
        }
    } else if (now >= f->http_next_ms) {
        http_start(f, now);
    }
}

int bnc_flood_start(bnc_flood_t *f, uv_loop_t *loop, int mesh_port, int http_port, unsigned target,
                    uint64_t seed, uint64_t (*now)(void *), void *now_ud)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->port = mesh_port;
    f->http_port = http_port;
    f->target = target > 0 ? target : 1;
    f->rng = bnc_rng_seed(seed ^ 0x666c6f6f64ull);
    f->now_ms = now;
    f->now_ud = now_ud;
    f->conns = calloc(f->target, sizeof(*f->conns));
    if (f->conns == NULL) {
        return UV_ENOMEM;
    }
    for (unsigned i = 0; i < f->target; i++) {
        f->conns[i].f = f;
        f->conns[i].idx = i;
        f->conns[i].state = SLOT_FREE;
    }
    f->running = 1;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    f->open_handles = 1;
    uv_timer_start(&f->timer, tick, 0, TICK_MS);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

void bnc_flood_stop(bnc_flood_t *f, void (*cb)(void *ud), void *ud)
{
    f->close_cb = cb;
    f->close_ud = ud;
    if (!f->running) {
        if (f->open_handles == 0 && cb != NULL) {
            f->close_cb = NULL;
            cb(ud);
        }
        return;
    }
    f->running = 0;
    uv_close((uv_handle_t *)&f->timer, timer_closed);
    for (unsigned i = 0; i < f->target; i++) {
        slot_close(&f->conns[i]);
    }
    if (f->http_busy && !uv_is_closing((uv_handle_t *)&f->http)) {
        uv_close((uv_handle_t *)&f->http, http_closed);
    }
}
