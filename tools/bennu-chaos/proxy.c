/* Fault proxies; contracts in proxy.h. */
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

typedef struct chunk_s {
    uv_write_t req;
    struct chunk_s *next;
    struct pconn_s *pc;
    uint64_t arrival_ms;
    uint64_t due_ms; /* 0 until the chunk reaches the head of its queue */
    int eof;         /* 0 data, 1 end of stream, 2 reset */
    size_t len;
    char data[];
} chunk_t;

typedef struct queue_s {
    chunk_t *head;
    chunk_t *tail;
    size_t bytes;
    bnc_pace_t pace;
} queue_t;

/* One proxied TCP connection. side[0] faces the dialer, side[1] the
 * target; q[0] carries dialer->target bytes, q[1] target->dialer. Freed
 * when its last handle is closed. */
typedef struct pconn_s {
    struct pconn_s *next;
    struct pconn_s *prev;
    bnc_proxy_t *px;
    uv_tcp_t side[2];
    uv_connect_t creq;
    uv_timer_t timer;
    int handles;
    int up_init;
    int up_connected;
    int closing;
    queue_t q[2];
    /* tampering */
    uint64_t created_ms;
    bnc_ftrack_t trk[2];
    int tamper_want; /* the direction to attack (chosen at accept) */
    int tamper_dir;  /* -1 = not attacked (yet) */
    int tamper_logged;
    bnc_tamper_t tamper;
} pconn_t;

struct bnc_proxy_s {
    uv_tcp_t listener;
    bnc_fabric_t *fab;
    int dialer;
    int target;
    pconn_t *conns;
    bnc_proxy_stats_t st;
};

static void pump(pconn_t *pc);

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        abort();
    }
    return p;
}

static bnc_flow_t flow_of(const bnc_proxy_t *px, int dir)
{
    const bnc_fabric_t *f = px->fab;
    int from = dir == 0 ? px->dialer : px->target;
    int to = dir == 0 ? px->target : px->dialer;
    return bnc_flow_state(f->active, f->n_active, from, to);
}

/* ---- connection teardown ---- */

static void free_proxies(bnc_fabric_t *f)
{
    for (int i = 0; i < BNC_MAX_NODES; i++) {
        for (int j = 0; j < BNC_MAX_NODES; j++) {
            free(f->px[i][j]);
            f->px[i][j] = NULL;
            free(f->old_frame[i][j]);
            f->old_frame[i][j] = NULL;
        }
    }
}

/* Proxies are freed only once every handle is closed: libuv runs close
 * callbacks in no promised order, and a connection needs its proxy. */
static void fabric_handle_closed(bnc_fabric_t *f)
{
    if (--f->open_handles == 0 && f->closing) {
        free_proxies(f);
    }
    if (f->open_handles == 0 && f->closing && f->close_cb != NULL) {
        void (*cb)(void *) = f->close_cb;
        f->close_cb = NULL;
        cb(f->close_ud);
    }
}

/* The last frame each way outlives the connection, for replays into the
 * next one (under other keys). */
static void keep_old_frames(pconn_t *pc)
{
    bnc_proxy_t *px = pc->px;
    bnc_fabric_t *fab = px->fab;
    for (int d = 0; d < 2; d++) {
        const bnc_ftrack_t *tr = &pc->trk[d];
        if (tr->last_len == 0) {
            continue;
        }
        int from = d == 0 ? px->dialer : px->target;
        int to = d == 0 ? px->target : px->dialer;
        uint8_t *copy = xmalloc(tr->last_len);
        memcpy(copy, tr->last, tr->last_len);
        free(fab->old_frame[from][to]);
        fab->old_frame[from][to] = copy;
        fab->old_len[from][to] = tr->last_len;
    }
}

static void pconn_handle_closed(uv_handle_t *h)
{
    pconn_t *pc = h->data;
    if (--pc->handles > 0) {
        return;
    }
    bnc_fabric_t *fab = pc->px->fab;
    keep_old_frames(pc);
    for (int d = 0; d < 2; d++) {
        while (pc->q[d].head != NULL) {
            chunk_t *c = pc->q[d].head;
            pc->q[d].head = c->next;
            free(c);
        }
    }
    free(pc);
    fabric_handle_closed(fab);
}

static void close_side(uv_tcp_t *t, int reset)
{
    if (uv_is_closing((uv_handle_t *)t)) {
        return;
    }
    if (reset && uv_tcp_close_reset(t, pconn_handle_closed) == 0) {
        return;
    }
    uv_close((uv_handle_t *)t, pconn_handle_closed);
}

/* Idempotent. reset: RST both sides instead of a normal close. */
static void pconn_close(pconn_t *pc, int reset)
{
    if (pc->closing) {
        return;
    }
    pc->closing = 1;
    bnc_proxy_t *px = pc->px;
    if (pc->prev != NULL) {
        pc->prev->next = pc->next;
    } else {
        px->conns = pc->next;
    }
    if (pc->next != NULL) {
        pc->next->prev = pc->prev;
    }
    uv_close((uv_handle_t *)&pc->timer, pconn_handle_closed);
    close_side(&pc->side[0], reset);
    if (pc->up_init) {
        /* An upstream still connecting cannot be reset, only closed. */
        close_side(&pc->side[1], reset && pc->up_connected);
    }
}

/* ---- data path ---- */

static void write_done(uv_write_t *req, int status)
{
    chunk_t *c = req->data;
    pconn_t *pc = c->pc;
    free(c);
    if (status < 0 && status != UV_ECANCELED) {
        pconn_close(pc, 1);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    pconn_t *pc = h->data;
    bnc_fabric_t *f = pc->px->fab;
    *buf = uv_buf_init(f->rbuf, sizeof(f->rbuf));
}

static void enqueue(pconn_t *pc, int dir, const char *data, size_t len, int eof)
{
    chunk_t *c = xmalloc(sizeof(*c) + len);
    memset(c, 0, sizeof(*c));
    c->pc = pc;
    c->arrival_ms = uv_now(pc->px->fab->loop);
    c->eof = eof;
    c->len = len;
    if (len > 0) {
        memcpy(c->data, data, len);
    }
    queue_t *q = &pc->q[dir];
    if (q->tail != NULL) {
        q->tail->next = c;
    } else {
        q->head = c;
    }
    q->tail = c;
    q->bytes += len;
    if (q->bytes > pc->px->st.max_held) {
        pc->px->st.max_held = q->bytes;
    }
}

/* ---- tampering ---- */

static uint64_t fab_now(const bnc_fabric_t *f)
{
    return f->now_ms != NULL ? f->now_ms(f->now_ud) : uv_now(f->loop);
}

/* Arms an attack on the bytes arriving in direction dir if that is the
 * direction this connection is to be attacked in, and its link is under a
 * tamper fault, up, and due. */
static void maybe_arm(pconn_t *pc, int dir)
{
    bnc_proxy_t *px = pc->px;
    bnc_fabric_t *fab = px->fab;
    if (pc->tamper_dir >= 0 || dir != pc->tamper_want || !flow_of(px, dir).tamper ||
        pc->trk[0].frames < 4 || pc->trk[1].frames < 3) {
        return;
    }
    uint64_t now = uv_now(fab->loop);
    int lo = px->dialer < px->target ? px->dialer : px->target;
    int hi = px->dialer < px->target ? px->target : px->dialer;
    if (now - pc->created_ms < BNC_TAMPER_MIN_AGE_MS || now < fab->tamper_next_ms[lo][hi]) {
        return;
    }
    int from = dir == 0 ? px->dialer : px->target;
    int to = dir == 0 ? px->target : px->dialer;
    for (unsigned k = 0; k < BNC_TAMPER_COUNT; k++) {
        bnc_tamper_kind_t kind = (bnc_tamper_kind_t)((fab->tamper_turn + k) % BNC_TAMPER_COUNT);
        if (bnc_tamper_arm(&pc->tamper, kind, &pc->trk[dir], fab->old_frame[from][to],
                           fab->old_len[from][to], &fab->tamper_rng) == 0) {
            fab->tamper_turn = (unsigned)kind + 1;
            pc->tamper_dir = dir;
            fab->tamper_next_ms[lo][hi] = now + BNC_TAMPER_GAP_MS;
            return;
        }
    }
}

typedef struct emit_ctx_s {
    pconn_t *pc;
    int dir;
} emit_ctx_t;

static void emit_cb(void *ud, const uint8_t *p, size_t n)
{
    emit_ctx_t *e = ud;
    enqueue(e->pc, e->dir, (const char *)p, n, 0);
}

static void log_tamper(pconn_t *pc)
{
    bnc_proxy_t *px = pc->px;
    bnc_fabric_t *fab = px->fab;
    pc->tamper_logged = 1;
    if (fab->n_tampers >= BNC_TAMPER_LOG_MAX) {
        return;
    }
    bnc_tamper_event_t *e = &fab->tampers[fab->n_tampers++];
    e->t_ms = fab_now(fab);
    e->from = pc->tamper_dir == 0 ? px->dialer : px->target;
    e->to = pc->tamper_dir == 0 ? px->target : px->dialer;
    e->kind = pc->tamper.kind;
    e->frame = pc->tamper.frame;
    e->detail = pc->tamper.detail;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    pconn_t *pc = s->data;
    if (pc->closing) {
        return;
    }
    int dir = s == (uv_stream_t *)&pc->side[0] ? 0 : 1;
    if (nread > 0) {
        maybe_arm(pc, dir);
        emit_ctx_t ctx = {pc, dir};
        bnc_ftrack_walk(&pc->trk[dir], (uint8_t *)buf->base, (size_t)nread,
                        pc->tamper_dir == dir ? &pc->tamper : NULL, emit_cb, &ctx);
        if (pc->tamper.done && !pc->tamper_logged) {
            log_tamper(pc);
        }
    } else if (nread < 0) {
        uv_read_stop(s);
        enqueue(pc, dir, NULL, 0, nread == UV_EOF ? 1 : 2);
    } else {
        return;
    }
    if (pc->q[dir].bytes > BNC_PROXY_HOLD_MAX) {
        pc->px->st.overflow_resets++;
        pconn_close(pc, 1);
        return;
    }
    pump(pc);
}

static void connect_cb(uv_connect_t *req, int status)
{
    pconn_t *pc = req->data;
    if (pc->closing) {
        return;
    }
    if (status < 0) {
        /* The target is not listening (killed): the dialer sees a reset,
         * as it would connecting to it directly. */
        pconn_close(pc, 1);
        return;
    }
    pc->up_connected = 1;
    uv_read_start((uv_stream_t *)&pc->side[1], alloc_cb, read_cb);
    pump(pc);
}

static void start_upstream(pconn_t *pc)
{
    bnc_proxy_t *px = pc->px;
    struct sockaddr_in dst;
    uv_ip4_addr("127.0.0.1", px->fab->mesh_port[px->target], &dst);
    uv_tcp_init(px->fab->loop, &pc->side[1]);
    pc->side[1].data = pc;
    pc->handles++;
    pc->up_init = 1;
    pc->creq.data = pc;
    if (uv_tcp_connect(&pc->creq, &pc->side[1], (const struct sockaddr *)&dst, connect_cb) != 0) {
        pconn_close(pc, 1);
    }
}

static void timer_cb(uv_timer_t *t)
{
    pump(t->data);
}

/* Moves every chunk whose time has come, dials a deferred upstream, and
 * arms the timer for the next chunk. */
static void pump(pconn_t *pc)
{
    bnc_proxy_t *px = pc->px;
    bnc_fabric_t *fab = px->fab;
    uint64_t now = uv_now(fab->loop);
    uint64_t next = UINT64_MAX;
    bnc_flow_t fl[2] = {flow_of(px, 0), flow_of(px, 1)};
    if (!pc->up_init) {
        bnc_admit_t a = bnc_flow_admit(&fl[0], &fl[1]);
        if (a == BNC_ADMIT_RESET) {
            pconn_close(pc, 1);
            return;
        }
        if (a == BNC_ADMIT_CONNECT) {
            start_upstream(pc);
            if (pc->closing) {
                return;
            }
        }
    }
    for (int d = 0; d < 2 && !pc->closing; d++) {
        queue_t *q = &pc->q[d];
        if (fl[d].held || (d == 0 && !pc->up_connected)) {
            continue;
        }
        while (q->head != NULL) {
            chunk_t *c = q->head;
            if (c->due_ms == 0) {
                c->due_ms =
                    bnc_pace_due(&q->pace, &fl[d], c->arrival_ms, c->len, bnc_rng_unit(&fab->rng));
            }
            if (c->due_ms > now) {
                if (c->due_ms < next) {
                    next = c->due_ms;
                }
                break;
            }
            q->head = c->next;
            if (q->head == NULL) {
                q->tail = NULL;
            }
            q->bytes -= c->len;
            if (c->eof != 0) {
                int reset = c->eof == 2;
                free(c);
                pconn_close(pc, reset);
                return;
            }
            px->st.bytes[d] += c->len;
            c->req.data = c;
            uv_buf_t b = uv_buf_init(c->data, (unsigned)c->len);
            uv_tcp_t *dst = &pc->side[1 - d];
            if (uv_write(&c->req, (uv_stream_t *)dst, &b, 1, write_done) != 0) {
                free(c);
                pconn_close(pc, 1);
                return;
            }
        }
    }
    if (!pc->closing && next != UINT64_MAX) {
        uv_timer_start(&pc->timer, timer_cb, next - now, 0);
    }
}

static void on_accept(uv_stream_t *server, int status)
{
    bnc_proxy_t *px = server->data;
    bnc_fabric_t *fab = px->fab;
    if (status < 0 || fab->closing) {
        return;
    }
    pconn_t *pc = xmalloc(sizeof(*pc));
    memset(pc, 0, sizeof(*pc));
    pc->px = px;
    pc->created_ms = uv_now(fab->loop);
    pc->tamper_dir = -1;
    pc->tamper_want = (int)bnc_rng_below(&fab->tamper_rng, 2);
    uv_tcp_init(fab->loop, &pc->side[0]);
    uv_timer_init(fab->loop, &pc->timer);
    pc->side[0].data = pc;
    pc->timer.data = pc;
    pc->handles = 2;
    fab->open_handles++;
    pc->next = px->conns;
    if (px->conns != NULL) {
        px->conns->prev = pc;
    }
    px->conns = pc;
    if (uv_accept(server, (uv_stream_t *)&pc->side[0]) != 0) {
        pconn_close(pc, 0);
        return;
    }
    px->st.accepted++;
    uv_tcp_nodelay(&pc->side[0], 1);
    bnc_flow_t fwd = flow_of(px, 0);
    bnc_flow_t back = flow_of(px, 1);
    if (bnc_flow_admit(&fwd, &back) == BNC_ADMIT_RESET) {
        px->st.refused++;
        pconn_close(pc, 1);
        return;
    }
    uv_read_start((uv_stream_t *)&pc->side[0], alloc_cb, read_cb);
    pump(pc);
}

/* ---- fabric ---- */

static void listener_closed(uv_handle_t *h)
{
    bnc_proxy_t *px = h->data;
    fabric_handle_closed(px->fab);
}

int bnc_fabric_init(bnc_fabric_t *f, uv_loop_t *loop, int n, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->n = n;
    f->rng = bnc_rng_seed(seed ^ 0x70726f7879ull);
    f->tamper_rng = bnc_rng_seed(seed ^ 0x74616d706572ull);
    f->tamper_turn = bnc_rng_below(&f->tamper_rng, BNC_TAMPER_COUNT);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            if (i == j) {
                continue;
            }
            bnc_proxy_t *px = xmalloc(sizeof(*px));
            memset(px, 0, sizeof(*px));
            px->fab = f;
            px->dialer = i;
            px->target = j;
            uv_tcp_init(loop, &px->listener);
            px->listener.data = px;
            f->px[i][j] = px;
            f->open_handles++;
            struct sockaddr_in a;
            uv_ip4_addr("127.0.0.1", 0, &a);
            int rc = uv_tcp_bind(&px->listener, (const struct sockaddr *)&a, 0);
            if (rc == 0) {
                rc = uv_listen((uv_stream_t *)&px->listener, 64, on_accept);
            }
            if (rc != 0) {
                return rc;
            }
            struct sockaddr_storage ss;
            int len = sizeof(ss);
            uv_tcp_getsockname(&px->listener, (struct sockaddr *)&ss, &len);
            f->listen_port[i][j] = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    return 0;
}

static void for_each_conn(bnc_fabric_t *f, void (*fn)(pconn_t *pc, void *ud), void *ud)
{
    for (int i = 0; i < f->n; i++) {
        for (int j = 0; j < f->n; j++) {
            bnc_proxy_t *px = f->px[i][j];
            if (px == NULL) {
                continue;
            }
            pconn_t *pc = px->conns;
            while (pc != NULL) {
                /* fn may unlink pc. */
                pconn_t *next = pc->next;
                fn(pc, ud);
                pc = next;
            }
        }
    }
}

static void apply_one(pconn_t *pc, void *ud)
{
    (void)ud;
    bnc_flow_t fwd = flow_of(pc->px, 0);
    bnc_flow_t back = flow_of(pc->px, 1);
    if (fwd.reject || back.reject) {
        pc->px->st.reset_by_fault++;
        pconn_close(pc, 1);
        return;
    }
    pump(pc);
}

void bnc_fabric_set_active(bnc_fabric_t *f, const bnc_fault_t *const *active, size_t n)
{
    if (n > BNC_MAX_FAULTS) {
        n = BNC_MAX_FAULTS;
    }
    for (size_t i = 0; i < n; i++) {
        f->active[i] = active[i];
    }
    f->n_active = n;
    for_each_conn(f, apply_one, NULL);
}

typedef struct reset_ctx_s {
    uint32_t a;
    uint32_t b;
    unsigned count;
} reset_ctx_t;

static void reset_one(pconn_t *pc, void *ud)
{
    reset_ctx_t *r = ud;
    uint32_t x = 1u << pc->px->dialer;
    uint32_t y = 1u << pc->px->target;
    if (((r->a & x) && (r->b & y)) || ((r->b & x) && (r->a & y))) {
        pc->px->st.reset_by_fault++;
        r->count++;
        pconn_close(pc, 1);
    }
}

unsigned bnc_fabric_reset(bnc_fabric_t *f, uint32_t a_mask, uint32_t b_mask)
{
    reset_ctx_t r = {a_mask, b_mask, 0};
    for_each_conn(f, reset_one, &r);
    return r.count;
}

bnc_proxy_stats_t bnc_fabric_stats(const bnc_fabric_t *f, int dialer, int target)
{
    bnc_proxy_stats_t z;
    memset(&z, 0, sizeof(z));
    if (dialer < 0 || target < 0 || dialer >= f->n || target >= f->n ||
        f->px[dialer][target] == NULL) {
        return z;
    }
    return f->px[dialer][target]->st;
}

static void close_one(pconn_t *pc, void *ud)
{
    (void)ud;
    pconn_close(pc, 0);
}

void bnc_fabric_close(bnc_fabric_t *f, void (*cb)(void *ud), void *ud)
{
    f->closing = 1;
    f->close_cb = cb;
    f->close_ud = ud;
    for_each_conn(f, close_one, NULL);
    for (int i = 0; i < BNC_MAX_NODES; i++) {
        for (int j = 0; j < BNC_MAX_NODES; j++) {
            if (f->px[i][j] != NULL) {
                uv_close((uv_handle_t *)&f->px[i][j]->listener, listener_closed);
            }
        }
    }
    if (f->open_handles == 0) {
        free_proxies(f);
        if (f->close_cb != NULL) {
            f->close_cb = NULL;
            cb(ud);
        }
    }
}
