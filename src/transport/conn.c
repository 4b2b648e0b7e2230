/* TCP connections: accept, read dispatch, the write queue and its flush,
 * timeouts and close.
 *
 * Writes are batched per loop turn (Redis's beforeSleep idea): bn_conn_send
 * only appends a buffer reference to the connection's queue and puts the
 * connection on the pending-flush list; a check handle (after I/O) and a
 * prepare handle (before the loop blocks) flush every pending connection
 * with one vectored write. Leftovers go to one uv_write at a time.
 *
 * What a client may hold is bounded three ways (README "Limits and bad
 * input"): deadlines that progress cannot extend (a request must be complete
 * handshake_timeout_ms after its first byte, a WebSocket frame or fragmented
 * message frame_timeout_ms after it started); a cap on connections per
 * source address that have not completed a request, the oldest giving way;
 * and a process-wide budget for bytes held in incomplete frames, past which
 * the largest holders are closed. Outbound, a connection whose queue passes
 * a high-water mark is not read until the queue drains below a low-water
 * mark (a client that writes faster than it reads slows itself down, as a
 * Redis client or a NATS connection is throttled); one that does not read at
 * all passes max_queued_bytes and is closed as a slow consumer, with a close
 * frame when the socket still takes one. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bennu/log.h"
#include "core/net.h"
#include "transport/internal.h"

uint64_t bn__now_ms(const bn_transport_t *t)
{
    return uv_now(t->loop);
}

uint64_t bn_conn_id(const bn_conn_t *c)
{
    return c->id;
}

const char *bn_conn_peer(const bn_conn_t *c)
{
    static char peer[64];
    if (c->client != NULL) {
        return c->client;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    peer[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) {
        return "unknown";
    }
    char ip[48];
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(peer, sizeof(peer), "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(peer, sizeof(peer), "%s:%u", ip, ntohs(a->sin_port));
    }
    return peer;
}

/* ---------------------------------------------------------------- close */

static void maybe_finish_stop(bn_transport_t *t);

static void conn_free(bn_conn_t *c)
{
    bn_transport_t *t = c->t;
    if (bn_wq_release(&c->wq)) {
        t->stats.queue_rings--;
    }
    if (c->mode == BN_CONN_WS) {
        bn_ws_parser_free(&c->ws);
    } else {
        if (c->req != NULL) {
            bn__http_req_free(c->req);
        }
        free(c->pending);
    }
    t->stats.partial_bytes -= c->held;
    c->held = 0;
    free(c->client);
    bn__conn_not_pending(c);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        t->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    t->n_conns--;
    t->stats.open--;
    free(c);
    maybe_finish_stop(t);
}

static void on_conn_closed(uv_handle_t *h)
{
    bn_conn_t *c = h->data;
    bn_transport_t *t = c->t;
    if (c->mode == BN_CONN_WS && c->session != NULL) {
        t->ops.ws_closed(t->ops.ud, c->session);
        c->session = NULL;
        t->stats.ws_open--;
    } else if (c->mode == BN_CONN_HTTP_WAIT && t->ops.request_aborted != NULL) {
        t->ops.request_aborted(t->ops.ud, c);
    }
    /* The flush list may still point at us; unlink before freeing. */
    if (c->in_flush_list) {
        bn_conn_t **pp = &t->flush_list;
        while (*pp != NULL && *pp != c) {
            pp = &(*pp)->flush_next;
        }
        if (*pp == c) {
            *pp = c->flush_next;
        }
        c->in_flush_list = false;
    }
    conn_free(c);
}

/* Closes the handle now, dropping anything still queued. */
void bn__conn_abort(bn_conn_t *c, bn_close_reason_t reason)
{
    if (c->handle_closed) {
        return;
    }
    if (c->close_reason == BN_CLOSE_NONE) {
        c->close_reason = (uint8_t)reason;
        c->t->stats.closed[reason]++;
        BN_LOG(DEBUG, "conn_close", "id=%llu reason=%s", (unsigned long long)c->id,
               bn_close_reason_name(reason));
    }
    c->closing = true;
    c->handle_closed = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    /* The FIN is out; the peer's EOF (or the sweep deadline) ends the
     * connection. Reading on lets its close frame arrive without an RST.
     * (libuv calls this, ECANCELED, before the close callback too.) */
    free(req);
}

/* Graceful close: stop processing input, flush the queue, send FIN, then
 * wait (bounded) for the peer to close. */
void bn__conn_shutdown(bn_conn_t *c, bn_close_reason_t reason)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->close_after_flush = true;
    if (c->close_reason == BN_CLOSE_NONE) {
        c->close_reason = (uint8_t)reason;
        c->t->stats.closed[reason]++;
        BN_LOG(DEBUG, "conn_close", "id=%llu reason=%s", (unsigned long long)c->id,
               bn_close_reason_name(reason));
    }
    c->close_deadline_ms = bn__now_ms(c->t) + 2000;
    bn__conn_queue_flush(c);
}

static void conn_do_shutdown(bn_conn_t *c)
{
    if (c->shut || c->handle_closed) {
        return;
    }
    c->shut = true;
    /* Requests live on the heap only while pending: an idle connection
     * carries neither a shutdown nor a write request. */
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL) {
        bn__conn_abort(c, (bn_close_reason_t)c->close_reason);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        bn__conn_abort(c, (bn_close_reason_t)c->close_reason);
    }
}

/* ---------------------------------------------------------------- writes */

static void conn_flush(bn_conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reading stops above a quarter of the slow-consumer limit and resumes below
 * a sixteenth. */
static size_t high_water(const bn_transport_t *t)
{
    return t->cfg.max_queued_bytes / 4;
}

static size_t low_water(const bn_transport_t *t)
{
    return t->cfg.max_queued_bytes / 16;
}

/* A client that does not read: everything not yet being written is dropped,
 * a close frame 1008 takes its place, and the connection closes once that is
 * written (or after the close deadline, when the socket takes nothing). */
static void conn_slow_consumer(bn_conn_t *c)
{
    if (c->closing || c->close_reason == BN_CLOSE_SLOW_CONSUMER) {
        /* Already closing, or even the close frame does not fit. */
        bn__conn_abort(c, BN_CLOSE_SLOW_CONSUMER);
        return;
    }
    c->close_reason = BN_CLOSE_SLOW_CONSUMER;
    c->t->stats.closed[BN_CLOSE_SLOW_CONSUMER]++;
    /* Keep the entries a pending uv_write owns, and a head entry partly
     * written, so the byte stream stays a sequence of whole frames. */
    bn_wq_drop_unsent(&c->wq);
    if (c->mode == BN_CONN_WS) {
        static const uint8_t payload[] = {0x03, 0xf0, 's', 'l', 'o', 'w', ' ', 'c',
                                          'o',  'n',  's', 'u', 'm', 'e', 'r'}; /* 1008 */
        bn__ws_send_control(c, BN_WS_OP_CLOSE, payload, sizeof(payload));
    }
    bn__conn_shutdown(c, BN_CLOSE_SLOW_CONSUMER);
}

/* The write queue's reports (core/wq.h). */
static void conn_wq_close(bn_wq_t *q, bn_close_reason_t reason)
{
    bn_conn_t *c = bn_container_of(q, bn_conn_t, wq);
    if (reason == BN_CLOSE_SLOW_CONSUMER) {
        BN_LOG(WARN, "slow_consumer", "id=%llu queued=%zu limit=%zu", (unsigned long long)c->id,
               c->wq.bytes, c->t->cfg.max_queued_bytes);
        conn_slow_consumer(c);
    } else {
        bn__conn_abort(c, reason);
    }
}

static void conn_wq_wrote(bn_wq_t *q, size_t n, bool direct)
{
    bn_conn_t *c = bn_container_of(q, bn_conn_t, wq);
    bn_transport_t *t = c->t;
    if (direct) {
        t->stats.writes++;
        t->stats.bytes_out += n;
    }
    if (c->read_blocked && c->wq.bytes < low_water(t) && !c->closing) {
        c->read_blocked = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void conn_wq_write_done(bn_wq_t *q)
{
    bn_conn_t *c = bn_container_of(q, bn_conn_t, wq);
    if (!c->handle_closed) {
        conn_flush(c);
    }
}

static const bn_wq_ops_t conn_wq_ops = {
    .close = conn_wq_close,
    .wrote = conn_wq_wrote,
    .write_done = conn_wq_write_done,
};

int bn__conn_enqueue(bn_conn_t *c, bn_buf_t *b)
{
    bn_transport_t *t = c->t;
    int rc = bn_wq_push(&c->wq, (uv_stream_t *)&c->tcp, &conn_wq_ops, b, t->cfg.max_queued_bytes);
    if (rc < 0) {
        return -1;
    }
    if (rc > 0) {
        t->stats.queue_rings++;
    }
    c->q_recent = true;
    t->stats.frames_out++;
    if (c->mode == BN_CONN_WS && !c->read_blocked && !c->closing && c->wq.bytes > high_water(t)) {
        /* Flow control: the peer takes our bytes slower than it sends its
         * own; stop reading it until the queue drains. */
        if (uv_read_stop((uv_stream_t *)&c->tcp) == 0) {
            c->read_blocked = true;
            t->stats.read_pauses++;
        }
    }
    bn__conn_queue_flush(c);
    return 0;
}

static void conn_flush(bn_conn_t *c)
{
    if (c->handle_closed) {
        return;
    }
    if (bn_wq_flush(&c->wq, (uv_stream_t *)&c->tcp, &conn_wq_ops) == 0 && c->close_after_flush) {
        conn_do_shutdown(c);
    }
}

void bn__conn_queue_flush(bn_conn_t *c)
{
    if (!c->in_flush_list) {
        c->in_flush_list = true;
        c->flush_next = c->t->flush_list;
        c->t->flush_list = c;
    }
}

/* The flush list is touched once per delivery (every recipient of a
 * broadcast joins it), so it stays a singly linked stack with a flag: a
 * bn_queue_t here measured about 11 more instructions per delivery (callgrind,
 * docs/NOTES.md). Its one walk, unlinking a connection freed while queued,
 * runs in a close callback, when the list holds only what was queued since
 * the last check phase, in practice nothing. */
static void flush_all(bn_transport_t *t)
{
    while (t->flush_list != NULL) {
        bn_conn_t *c = t->flush_list;
        t->flush_list = c->flush_next;
        c->in_flush_list = false;
        c->flush_next = NULL;
        conn_flush(c);
    }
}

static void on_flush_check(uv_check_t *h)
{
    flush_all(h->data);
}

static void on_flush_prepare(uv_prepare_t *h)
{
    flush_all(h->data);
}

int bn_conn_send(bn_conn_t *c, bn_buf_t *msg)
{
    if (c->closing || c->mode != BN_CONN_WS) {
        return -1;
    }
    if (!msg->framed) {
        bn__ws_frame_buf(msg, msg->binary ? BN_WS_OP_BINARY : BN_WS_OP_TEXT);
    }
    return bn__conn_enqueue(c, msg);
}

void bn_conn_close(bn_conn_t *c, uint16_t code, bn_close_reason_t reason)
{
    if (c->closing) {
        return;
    }
    if (c->mode == BN_CONN_WS) {
        uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        bn__ws_send_control(c, BN_WS_OP_CLOSE, payload, sizeof(payload));
    }
    bn__conn_shutdown(c, reason);
}

/* ---------------------------------------------------------------- pending per address */

static void ip_key(const struct sockaddr_storage *ss, uint8_t key[17])
{
    memset(key, 0, 17);
    if (ss->ss_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    } else {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    }
}

void bn__conn_not_pending(bn_conn_t *c)
{
    bn_transport_t *t = c->t;
    bn_ipcount_t *e = c->ip;
    if (e == NULL) {
        return;
    }
    c->ip = NULL;
    bn_queue_remove(&c->pend_node);
    if (--e->n == 0) {
        HASH_DEL(t->ips, e);
        free(e);
    }
}

/* Counts c as pending for its address; over the cap, the address's oldest
 * pending connection is closed (a slow or idle one: a real client completes
 * its request in a round trip). */
void bn__conn_track_pending(bn_conn_t *c, const struct sockaddr_storage *ss)
{
    bn_transport_t *t = c->t;
    if (t->cfg.max_pending_per_ip == 0) {
        return;
    }
    uint8_t key[17];
    ip_key(ss, key);
    bn_ipcount_t *e = NULL;
    HASH_FIND(hh, t->ips, key, sizeof(key), e);
    if (e != NULL && e->n >= t->cfg.max_pending_per_ip) {
        bn_queue_t *q;
        bn_queue_foreach(q, &t->pending)
        {
            bn_conn_t *o = bn_container_of(q, bn_conn_t, pend_node);
            if (o->ip == e) {
                bn__conn_not_pending(o); /* may free e when it was the last */
                bn__conn_abort(o, BN_CLOSE_PENDING_LIMIT);
                break;
            }
        }
        e = NULL;
        HASH_FIND(hh, t->ips, key, sizeof(key), e);
    }
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            return;
        }
        memcpy(e->key, key, sizeof(key));
        HASH_ADD(hh, t->ips, key, sizeof(e->key), e);
    }
    e->n++;
    c->ip = e;
    bn_queue_insert_tail(&t->pending, &c->pend_node);
}

/* ---------------------------------------------------------------- memory budget */

/* Closes the connections holding the most partial-frame bytes until the
 * total is back under the budget. The scan is linear, but runs only when the
 * budget is crossed, and each pass frees at least one holder. */
static void enforce_budget(bn_transport_t *t)
{
    while (t->cfg.memory_budget > 0 && t->stats.partial_bytes > t->cfg.memory_budget) {
        bn_conn_t *worst = NULL;
        for (bn_conn_t *c = t->conns; c != NULL; c = c->next) {
            if (c->held > 0 && !c->handle_closed && (worst == NULL || c->held > worst->held)) {
                worst = c;
            }
        }
        if (worst == NULL) {
            return;
        }
        BN_LOG(WARN, "memory_budget_close", "id=%llu held=%zu total=%llu budget=%zu",
               (unsigned long long)worst->id, worst->held,
               (unsigned long long)t->stats.partial_bytes, t->cfg.memory_budget);
        t->stats.partial_bytes -= worst->held;
        worst->held = 0;
        worst->partial_since_ms = 0;
        if (worst->mode == BN_CONN_WS) {
            /* Its bytes are released now: the parser is never fed again once
             * the connection is closing. */
            bn_ws_parser_free(&worst->ws);
            bn_conn_close(worst, BN_WS_CLOSE_TOO_BIG, BN_CLOSE_MEMORY_BUDGET);
        } else {
            /* An HTTP request being received: refused, freed at close. */
            worst->close_reason = BN_CLOSE_MEMORY_BUDGET;
            t->stats.closed[BN_CLOSE_MEMORY_BUDGET]++;
            bn__http_error(worst, 503);
        }
    }
}

/* Bytes c holds for input not yet complete: a WebSocket frame or
 * fragmented message, or an HTTP request (its store and pipelined bytes). */
static size_t conn_partial(const bn_conn_t *c)
{
    if (c->mode == BN_CONN_WS) {
        return bn_ws_parser_held(&c->ws);
    }
    return (c->req != NULL ? c->req->store_cap : 0) + c->pending_len;
}

void bn__conn_account_partial(bn_conn_t *c)
{
    bn_transport_t *t = c->t;
    if (c->handle_closed) {
        return;
    }
    size_t held = c->closing ? 0 : conn_partial(c);
    t->stats.partial_bytes += held;
    t->stats.partial_bytes -= c->held;
    c->held = held;
    if (c->mode != BN_CONN_WS || held == 0) {
        c->partial_since_ms = 0;
    } else if (c->partial_since_ms == 0) {
        c->partial_since_ms = bn__now_ms(t);
    }
    enforce_budget(t);
}

/* ---------------------------------------------------------------- reads */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    bn_conn_t *c = h->data;
    /* One buffer per loop: libuv calls alloc and read back to back, and every
     * consumer copies what it must keep (only partial frames/requests). */
    *buf = uv_buf_init(c->t->read_buf, sizeof(c->t->read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bn_conn_t *c = s->data;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            BN_LOG(DEBUG, "conn_read_error", "id=%llu error=%s", (unsigned long long)c->id,
                   uv_err_name((int)nread));
        }
        bn__conn_abort(c, nread == UV_EOF ? BN_CLOSE_PEER_CLOSED : BN_CLOSE_READ_ERROR);
        return;
    }
    if (c->closing) {
        return; /* draining after our close: discard */
    }
    c->last_rx_ms = bn__now_ms(c->t);
    if (c->mode == BN_CONN_WS) {
        bn__ws_feed(c, (uint8_t *)buf->base, (size_t)nread);
    } else {
        bn__http_feed(c, buf->base, (size_t)nread);
    }
}

/* Resumes reading (after an asynchronously answered HTTP request). */
int bn__conn_read_start(bn_conn_t *c)
{
    return uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *server, int status)
{
    bn_transport_t *t = server->data;
    if (status < 0) {
        /* EMFILE/ENFILE: libuv already accepted and dropped the pending
         * connections with its reserved descriptor, so the listener does not
         * spin; we count and log once per episode. */
        t->stats.accept_errors++;
        if (!t->accept_paused) {
            t->accept_paused = true;
            BN_LOG(WARN, "accept_failed", "error=%s open=%u", uv_err_name(status), t->n_conns);
        }
        return;
    }
    bn_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    uv_tcp_init(t->loop, &c->tcp);
    c->tcp.data = c;
    c->t = t;
    bn_wq_init(&c->wq);
    c->id = ++t->next_id;
    c->last_rx_ms = bn__now_ms(t);
    c->next = t->conns;
    if (t->conns != NULL) {
        t->conns->prev = c;
    }
    t->conns = c;
    t->n_conns++;
    t->stats.open++;
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        t->stats.accept_errors++;
        c->handle_closed = true;
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    /* libuv absorbs EMFILE/ENFILE itself (it accepts and drops pending
     * connections with a reserved descriptor, so the listener never spins)
     * and does not report it; we see the episode coming from the numbers of
     * the descriptors we get, and log it once. */
    uv_os_fd_t fd = -1;
    uv_fileno((uv_handle_t *)&c->tcp, &fd);
    if (t->fd_limit > 0 && (uint64_t)fd + BN_FD_HEADROOM >= t->fd_limit) {
        if (!t->accept_paused) {
            t->accept_paused = true;
            BN_LOG(WARN, "accept_failed", "error=EMFILE open=%u fd_limit=%llu detail=%s",
                   t->n_conns, (unsigned long long)t->fd_limit,
                   "\"descriptors exhausted: new connections are dropped until some close\"");
        }
    } else if (t->accept_paused && (uint64_t)fd + 2 * BN_FD_HEADROOM < t->fd_limit) {
        t->accept_paused = false;
        BN_LOG(INFO, "accept_recovered", "open=%u", t->n_conns);
    }
    t->stats.accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    bn__http_init(c);
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0) {
        c->trusted = t->n_trusted > 0 && bn__fwd_trusted(t, (struct sockaddr *)&ss);
        if (!c->trusted) {
            bn__conn_track_pending(c, &ss); /* a proxy's clients: bn__fwd_headers */
        }
    }
    /* Reading starts in both cases: a refused connection discards what it
     * reads (it is closing) but must see the client's FIN, or it would hold
     * its place under the cap until the close deadline, and clients that
     * retry would keep the node full on their own. */
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (t->n_conns > t->cfg.max_connections) {
        BN_LOG(WARN, "conn_refused", "reason=too_many_connections limit=%u",
               t->cfg.max_connections);
        bn__http_error(c, 503);
    }
}

/* ---------------------------------------------------------------- timers */

static void on_sweep(uv_timer_t *h)
{
    bn_transport_t *t = h->data;
    uint64_t now = bn__now_ms(t);
    for (bn_conn_t *c = t->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->handle_closed) {
            continue;
        }
        if (!c->q_recent && bn_wq_shrink(&c->wq)) {
            /* Nothing queued for a whole sweep period after a burst: back to
             * the inline slots (a busy connection keeps its ring). */
            t->stats.queue_rings--;
        }
        c->q_recent = false;
        if (c->closing) {
            if (now >= c->close_deadline_ms) {
                bn__conn_abort(c, (bn_close_reason_t)c->close_reason);
            }
        } else if (c->mode == BN_CONN_HTTP && c->req_start_ms != 0 &&
                   now - c->req_start_ms > t->cfg.handshake_timeout_ms) {
            /* A request still incomplete at its deadline, however many bytes
             * trickled in (slowloris). */
            BN_LOG(INFO, "request_timeout", "id=%llu elapsed_ms=%llu", (unsigned long long)c->id,
                   (unsigned long long)(now - c->req_start_ms));
            c->close_reason = BN_CLOSE_HANDSHAKE_TIMEOUT;
            t->stats.closed[BN_CLOSE_HANDSHAKE_TIMEOUT]++;
            bn__http_error(c, 408);
        } else if (c->mode == BN_CONN_HTTP && c->req_start_ms == 0 &&
                   now - c->last_rx_ms > t->cfg.handshake_timeout_ms) {
            /* Idle keep-alive (or silent new) connections end here. */
            bn__conn_abort(c, BN_CLOSE_HANDSHAKE_TIMEOUT);
        } else if (c->mode == BN_CONN_WS && c->partial_since_ms != 0 && t->cfg.frame_timeout_ms &&
                   now - c->partial_since_ms > t->cfg.frame_timeout_ms) {
            BN_LOG(INFO, "frame_timeout", "id=%llu held=%zu elapsed_ms=%llu",
                   (unsigned long long)c->id, c->held,
                   (unsigned long long)(now - c->partial_since_ms));
            bn_ws_parser_free(&c->ws);
            t->stats.partial_bytes -= c->held;
            c->held = 0;
            c->partial_since_ms = 0;
            bn_conn_close(c, BN_WS_CLOSE_POLICY, BN_CLOSE_FRAME_TIMEOUT);
        } else if (c->mode == BN_CONN_WS && now - c->last_rx_ms > t->cfg.idle_timeout_ms) {
            BN_LOG(INFO, "idle_timeout", "id=%llu idle_ms=%llu", (unsigned long long)c->id,
                   (unsigned long long)(now - c->last_rx_ms));
            bn_conn_close(c, BN_WS_CLOSE_GOING_AWAY, BN_CLOSE_IDLE_TIMEOUT);
        }
    }
    if (t->stopping && now >= t->stop_deadline_ms) {
        for (bn_conn_t *c = t->conns, *next; c != NULL; c = next) {
            next = c->next;
            bn__conn_abort(c, BN_CLOSE_SHUTDOWN);
        }
    }
}

/* ---------------------------------------------------------------- lifecycle */

bn_transport_t *bn_transport_new(uv_loop_t *loop, const bn_transport_config_t *cfg,
                                 const bn_transport_ops_t *ops)
{
    bn_transport_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->loop = loop;
    t->cfg = *cfg;
    t->ops = *ops;
    bn_queue_init(&t->pending);
    if (bn__fwd_parse(cfg->trust_forwarded, &t->trusted, &t->n_trusted) != 0) {
        free(t);
        return NULL;
    }
    t->cfg.trust_forwarded = NULL; /* parsed; the string is the caller's */
    return t;
}

int bn_transport_start(bn_transport_t *t)
{
    if (t->started) {
        return UV_EALREADY;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        t->fd_limit = (uint64_t)rl.rlim_cur;
    }
    /* A limit above what the descriptors allow would never be reached: the
     * kernel's EMFILE would drop new clients silently instead of the 503. */
    unsigned reserved = t->cfg.reserved_fds;
    if (t->fd_limit > 0) {
        uint64_t room = t->fd_limit > (uint64_t)reserved + 16 ? t->fd_limit - reserved : 16;
        if (t->cfg.max_connections > room) {
            BN_LOG(INFO, "max_connections_clamped",
                   "configured=%u used=%llu fd_limit=%llu reserved=%u", t->cfg.max_connections,
                   (unsigned long long)room, (unsigned long long)t->fd_limit, reserved);
            t->cfg.max_connections = (unsigned)room;
        }
    }
    t->stats.max_connections = t->cfg.max_connections;
    struct sockaddr_storage addr;
    int rc = bn_net_addr(t->cfg.bind, t->cfg.port, &addr);
    if (rc != 0) {
        return rc;
    }
    t->started = true;
    uv_tcp_init_ex(t->loop, &t->listener, ((struct sockaddr *)&addr)->sa_family);
    t->listener.data = t;
    uv_timer_init(t->loop, &t->sweep);
    t->sweep.data = t;
    uv_timer_init(t->loop, &t->drain_timer);
    t->drain_timer.data = t;
    uv_check_init(t->loop, &t->flush_check);
    t->flush_check.data = t;
    uv_prepare_init(t->loop, &t->flush_prepare);
    t->flush_prepare.data = t;
    /* With reuse_port, worker processes share one port; the kernel spreads
     * connections. */
    rc = bn_net_listen(&t->listener, (struct sockaddr *)&addr, t->cfg.reuse_port, 1024,
                       on_connection);
    if (rc != 0) {
        return rc;
    }
    uv_check_start(&t->flush_check, on_flush_check);
    uv_prepare_start(&t->flush_prepare, on_flush_prepare);
    uint64_t period = 1000;
    if (t->cfg.idle_timeout_ms < 4000 || t->cfg.handshake_timeout_ms < 4000 ||
        (t->cfg.frame_timeout_ms != 0 && t->cfg.frame_timeout_ms < 4000)) {
        period = 250; /* short timeouts (tests) need a finer sweep */
    }
    uv_timer_start(&t->sweep, on_sweep, period, period);
    return 0;
}

int bn_transport_port(const bn_transport_t *t)
{
    return bn_net_bound_port(&t->listener);
}

const bn_transport_stats_t *bn_transport_stats(const bn_transport_t *t)
{
    return &t->stats;
}

size_t bn_transport_queued_bytes(const bn_transport_t *t)
{
    size_t n = 0;
    for (const bn_conn_t *c = t->conns; c != NULL; c = c->next) {
        n += c->wq.bytes;
    }
    return n;
}

static void on_handle_closed(uv_handle_t *h)
{
    bn_transport_t *t = h->data;
    t->open_handles--;
    maybe_finish_stop(t);
}

/* Stop completes in two steps: once every connection is gone the loop
 * handles are closed; once their close callbacks ran, the transport is freed
 * and the caller told. */
static void maybe_finish_stop(bn_transport_t *t)
{
    if (!t->stopping || t->conns != NULL) {
        return;
    }
    if (!t->handles_closing) {
        t->handles_closing = true;
        t->open_handles += 4;
        uv_close((uv_handle_t *)&t->sweep, on_handle_closed);
        uv_close((uv_handle_t *)&t->drain_timer, on_handle_closed);
        uv_close((uv_handle_t *)&t->flush_check, on_handle_closed);
        uv_close((uv_handle_t *)&t->flush_prepare, on_handle_closed);
        return;
    }
    if (t->open_handles == 0) {
        void (*cb)(void *) = t->stop_cb;
        void *ud = t->stop_ud;
        free(t->trusted);
        free(t);
        if (cb != NULL) {
            cb(ud);
        }
    }
}

/* The graceful drain: the next drain_batch_now WebSockets get close 1001.
 * Returns how many are left after this batch. */
static unsigned drain_batch(bn_transport_t *t)
{
    unsigned closed = 0, left = 0;
    for (bn_conn_t *c = t->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->mode != BN_CONN_WS || c->closing || c->draining) {
            continue;
        }
        if (closed < t->drain_batch_now) {
            c->draining = true;
            closed++;
            bn_conn_close(c, BN_WS_CLOSE_GOING_AWAY, BN_CLOSE_SHUTDOWN);
        } else {
            left++;
        }
    }
    return left;
}

static void on_drain_timer(uv_timer_t *h)
{
    bn_transport_t *t = h->data;
    if (drain_batch(t) == 0) {
        uv_timer_stop(&t->drain_timer);
    }
}

void bn_transport_stop(bn_transport_t *t, unsigned drain_ms, void (*cb)(void *ud), void *ud)
{
    if (t->stopping) {
        return;
    }
    t->stopping = true;
    t->stop_cb = cb;
    t->stop_ud = ud;
    if (!t->started) {
        /* Never started (or start failed before any handle existed): one
         * handle is opened only to be closed, so cb runs from its close
         * callback on a later loop turn, as after every close. */
        uv_timer_init(t->loop, &t->sweep);
        t->sweep.data = t;
        t->handles_closing = true;
        t->open_handles = 1;
        uv_close((uv_handle_t *)&t->sweep, on_handle_closed);
        return;
    }
    /* The listener goes first so no connection arrives during the drain. */
    t->open_handles += 1;
    uv_close((uv_handle_t *)&t->listener, on_handle_closed);
    unsigned n_ws = 0;
    for (bn_conn_t *c = t->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->mode == BN_CONN_WS && !c->closing) {
            n_ws++;
        } else if (c->mode != BN_CONN_WS) {
            bn__conn_abort(c, BN_CLOSE_SHUTDOWN);
        }
    }
    unsigned batch = t->cfg.drain_batch > 0 ? t->cfg.drain_batch : n_ws;
    if (t->cfg.drain_ms == 0 || n_ws <= batch) {
        batch = n_ws; /* one batch: everyone now */
    }
    unsigned batches = batch > 0 ? (n_ws + batch - 1) / batch : 0;
    uint64_t interval = batches > 1 ? t->cfg.drain_ms / batches : 0;
    t->drain_batch_now = batch;
    t->stop_deadline_ms = bn__now_ms(t) + interval * (batches > 0 ? batches - 1 : 0) + drain_ms;
    if (batches > 1) {
        BN_LOG(INFO, "drain_start", "websockets=%u batches=%u batch=%u interval_ms=%llu", n_ws,
               batches, batch, (unsigned long long)interval);
    }
    drain_batch(t);
    if (batches > 1) {
        uv_timer_start(&t->drain_timer, on_drain_timer, interval > 0 ? interval : 1,
                       interval > 0 ? interval : 1);
    }
    uv_timer_start(&t->sweep, on_sweep, 50, 50);
    maybe_finish_stop(t);
}
