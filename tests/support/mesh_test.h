/* Helpers for the mesh tests: a run-until-predicate loop with a deadline
 * (never sleep), and a raw TCP client that speaks bytes to a mesh port.
 * Header-only so it adds nothing to other test executables. */
#ifndef BN_TEST_MESH_TEST_H
#define BN_TEST_MESH_TEST_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef bool (*mt_pred_fn)(void *ud);

static inline void mt_wake_cb(uv_timer_t *t)
{
    (void)t;
}

static inline unsigned mt_scale(unsigned ms)
{
    const char *s = getenv("BN_TEST_TIMEOUT_MULTIPLIER");
    int k = s != NULL ? atoi(s) : 1;
    return ms * (unsigned)(k > 0 ? k : 1);
}

/* Runs the loop until pred(ud) holds or ms (scaled) pass. */
static inline bool mt_run_until(uv_loop_t *loop, mt_pred_fn pred, void *ud, unsigned ms)
{
    uv_timer_t wake;
    uv_timer_init(loop, &wake);
    uv_timer_start(&wake, mt_wake_cb, 5, 5);
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + mt_scale(ms);
    bool ok;
    while (!(ok = pred(ud)) && uv_now(loop) < deadline) {
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static inline bool mt_false(void *ud)
{
    (void)ud;
    return false;
}

/* Runs the loop for ms regardless (used to check that nothing happens). */
static inline void mt_run_for(uv_loop_t *loop, unsigned ms)
{
    mt_run_until(loop, mt_false, NULL, ms);
}

/* ---- raw client --------------------------------------------------------- */

typedef struct mt_raw_s {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    char *out;
    size_t out_len;
    bool connected, eof, closed;
    size_t received;
} mt_raw_t;

static inline void mt_raw_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    static char sink[65536]; /* test-only scratch; contents are discarded */
    (void)sz;
    *b = uv_buf_init(sink, sizeof(sink));
}

static inline void mt_raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    mt_raw_t *r = s->data;
    (void)b;
    if (n < 0) {
        r->eof = true;
        uv_read_stop(s);
    } else {
        r->received += (size_t)n;
    }
}

static inline void mt_raw_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static inline void mt_raw_connected(uv_connect_t *c, int status)
{
    mt_raw_t *r = c->data;
    if (status < 0) {
        r->eof = true;
        return;
    }
    r->connected = true;
    uv_read_start((uv_stream_t *)&r->tcp, mt_raw_alloc, mt_raw_read);
    if (r->out_len > 0) {
        uv_buf_t b = uv_buf_init(r->out, (unsigned)r->out_len);
        uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, mt_raw_written);
    }
}

/* Connects to 127.0.0.1:port and writes data (copied) once connected. */
static inline void mt_raw_open(uv_loop_t *loop, mt_raw_t *r, int port, const void *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->out = malloc(len ? len : 1);
    memcpy(r->out, data, len);
    r->out_len = len;
    uv_tcp_init(loop, &r->tcp);
    r->tcp.data = r;
    r->conn.data = r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    uv_tcp_connect(&r->conn, &r->tcp, (const struct sockaddr *)&sa, mt_raw_connected);
}

static inline void mt_raw_closed(uv_handle_t *h)
{
    mt_raw_t *r = h->data;
    free(r->out);
    r->out = NULL;
    r->closed = true;
}

static inline void mt_raw_close(mt_raw_t *r)
{
    if (!uv_is_closing((uv_handle_t *)&r->tcp)) {
        uv_close((uv_handle_t *)&r->tcp, mt_raw_closed);
    }
}

#endif
