/* WebSocket workload; contracts in workload.h. */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bennu-bench/phx.h"

#define RETRY_MS 300
#define HEARTBEAT_MS 10000

static uint64_t now_ms(const bnc_workload_t *wl)
{
    return wl->now_ms(wl->now_ud);
}

static void workload_free(void *ud);

static void dec_open(bnc_workload_t *wl)
{
    if (--wl->open == 0) {
        workload_free(wl);
    }
}

static void send_text(bnc_client_t *c, const char *s, size_t len)
{
    if (c->conn.state == BNB_CONN_OPEN) {
        bnb_conn_send_text(&c->conn, s, len);
    }
}

static void on_open(bnb_conn_t *conn)
{
    bnc_client_t *c = conn->ud;
    c->connects++;
    c->join_ref = ++c->next_ref;
    char buf[256];
    /* The name is the client's presence key in the demo chat (the
     * presence invariant's ground truth). */
    char params[48];
    snprintf(params, sizeof(params), "{\"name\":\"c%u\"}", (unsigned)c->idx);
    size_t n =
        bnb_phx_frame(buf, sizeof(buf), c->join_ref, c->join_ref, BNC_TOPIC, "phx_join", params);
    send_text(c, buf, n);
}

static void bucket_add(uint64_t *b, const bnc_workload_t *wl, uint64_t t)
{
    size_t i = (size_t)(t / wl->bucket_ms);
    if (i < wl->n_buckets) {
        b[i]++;
    }
}

static void on_text(bnb_conn_t *conn, const char *data, size_t len, uint64_t now)
{
    (void)now;
    bnc_client_t *c = conn->ud;
    bnc_workload_t *wl = c->wl;
    bnb_phx_in_t in;
    if (bnb_phx_classify(data, len, &in) != 0) {
        return;
    }
    switch (in.event) {
    case BNB_PHX_EV_REPLY:
        if (in.ref == c->join_ref && !c->joined) {
            if (!in.status_ok) {
                bnb_conn_close(&c->conn, UV_EPROTO, "join refused", 1);
                return;
            }
            c->joined = 1;
            bnc_ledger_joined(wl->ledger, c->idx, now_ms(wl));
        }
        break;
    case BNB_PHX_EV_NEW_MSG: {
        uint32_t pub;
        uint64_t seq;
        uint64_t t_ns;
        if (in.body != NULL && bnb_phx_body_parse(in.body, in.body_len, &pub, &seq, &t_ns) == 0) {
            bnc_ledger_delivered(wl->ledger, c->idx, pub, seq);
            bucket_add(wl->recv_per_bucket, wl, now_ms(wl));
        } else {
            /* No client of ours sends that: something altered or made it
             * up on the way (the mitm scenario's point). */
            bnc_ledger_malformed(wl->ledger);
        }
        break;
    }
    case BNB_PHX_EV_CLOSE:
    case BNB_PHX_EV_ERROR:
        /* The channel died on the server: start over on a new socket. */
        bnb_conn_close(&c->conn, UV_ECONNABORTED, "channel closed", 1);
        break;
    default:
        break;
    }
}

static void retry_cb(uv_timer_t *t)
{
    bnc_client_t *c = t->data;
    bnc_workload_t *wl = c->wl;
    if (!wl->stopping && c->conn.state == BNB_CONN_IDLE) {
        bnb_conn_open(wl->net[c->node], &c->conn);
    }
}

static void on_close(bnb_conn_t *conn, int err, const char *why)
{
    (void)err;
    (void)why;
    bnc_client_t *c = conn->ud;
    bnc_workload_t *wl = c->wl;
    if (c->joined) {
        c->joined = 0;
        bnc_ledger_left(wl->ledger, c->idx, now_ms(wl));
    }
    if (wl->stopping) {
        dec_open(wl);
        return;
    }
    c->drops++;
    uv_timer_start(&c->retry_timer, retry_cb, RETRY_MS, 0);
}

static void publish_cb(uv_timer_t *t)
{
    bnc_client_t *c = t->data;
    bnc_workload_t *wl = c->wl;
    if (!wl->publishing || !c->joined || c->conn.state != BNB_CONN_OPEN) {
        return;
    }
    uint64_t now = now_ms(wl);
    c->seq++;
    char buf[512];
    size_t n = bnb_phx_new_msg(buf, sizeof(buf), c->join_ref, ++c->next_ref, BNC_TOPIC, 0, c->idx,
                               c->seq, uv_hrtime());
    bnc_ledger_sent(wl->ledger, c->idx, c->seq, now);
    bucket_add(wl->sent_per_bucket, wl, now);
    send_text(c, buf, n);
}

static void heartbeat_cb(uv_timer_t *t)
{
    bnc_workload_t *wl = t->data;
    for (size_t i = 0; i < wl->n_clients; i++) {
        bnc_client_t *c = &wl->clients[i];
        char buf[128];
        size_t n = bnb_phx_frame(buf, sizeof(buf), 0, ++c->next_ref, "phoenix", "heartbeat", "{}");
        send_text(c, buf, n);
    }
}

int bnc_workload_start(bnc_workload_t *wl, uv_loop_t *loop, int n_nodes, int per_node,
                       const char *const *host, const int *http_port, double rate,
                       bnc_ledger_t *ledger, uint64_t (*now_fn)(void *), void *now_ud,
                       size_t n_buckets, uint64_t bucket_ms)
{
    memset(wl, 0, sizeof(*wl));
    wl->loop = loop;
    wl->n_nodes = n_nodes;
    wl->ledger = ledger;
    wl->now_ms = now_fn;
    wl->now_ud = now_ud;
    wl->n_buckets = n_buckets;
    wl->bucket_ms = bucket_ms;
    wl->sent_per_bucket = calloc(n_buckets + 1, sizeof(uint64_t));
    wl->recv_per_bucket = calloc(n_buckets + 1, sizeof(uint64_t));
    wl->n_clients = (size_t)n_nodes * (size_t)per_node;
    wl->clients = calloc(wl->n_clients, sizeof(bnc_client_t));
    if (wl->sent_per_bucket == NULL || wl->recv_per_bucket == NULL || wl->clients == NULL) {
        abort();
    }
    for (int i = 0; i < n_nodes; i++) {
        bnb_config_t *cfg = &wl->cfg[i];
        memset(cfg, 0, sizeof(*cfg));
        cfg->host = host != NULL ? host[i] : "127.0.0.1";
        cfg->port = http_port[i];
        cfg->path = "/socket/websocket";
        wl->net[i] = calloc(1, sizeof(bnb_net_t));
        if (wl->net[i] == NULL) {
            abort();
        }
        int rc = bnb_net_init(wl->net[i], loop, cfg);
        if (rc != 0) {
            return rc;
        }
        wl->net[i]->on_open = on_open;
        wl->net[i]->on_text = on_text;
        wl->net[i]->on_close = on_close;
        wl->net[i]->ud = wl;
    }
    uv_timer_init(loop, &wl->heartbeat);
    wl->heartbeat.data = wl;
    wl->open++;
    uv_timer_start(&wl->heartbeat, heartbeat_cb, HEARTBEAT_MS, HEARTBEAT_MS);
    uint64_t period = rate > 0 ? (uint64_t)(1000.0 / rate) : 1000;
    if (period == 0) {
        period = 1;
    }
    for (size_t k = 0; k < wl->n_clients; k++) {
        bnc_client_t *c = &wl->clients[k];
        c->idx = (uint32_t)k;
        c->node = (int)(k / (size_t)per_node);
        c->wl = wl;
        c->conn.ud = c;
        c->conn.id = (uint32_t)k;
        uv_timer_init(loop, &c->pub_timer);
        uv_timer_init(loop, &c->retry_timer);
        c->pub_timer.data = c;
        c->retry_timer.data = c;
        wl->open += 3; /* two timers and the connection's close */
        /* Spread the publishers over the period rather than in lockstep. */
        uint64_t offset = period * k / wl->n_clients;
        uv_timer_start(&c->pub_timer, publish_cb, period + offset, period);
        bnb_conn_open(wl->net[c->node], &c->conn);
    }
    return 0;
}

size_t bnc_workload_joined(const bnc_workload_t *wl)
{
    size_t n = 0;
    for (size_t i = 0; i < wl->n_clients; i++) {
        n += wl->clients[i].joined != 0;
    }
    return n;
}

static void workload_free(void *ud)
{
    bnc_workload_t *wl = ud;
    for (int i = 0; i < wl->n_nodes; i++) {
        if (wl->net[i] != NULL) {
            bnb_net_free(wl->net[i]);
            free(wl->net[i]);
            wl->net[i] = NULL;
        }
    }
    void (*cb)(void *) = wl->close_cb;
    void *cud = wl->close_ud;
    wl->close_cb = NULL;
    if (cb != NULL) {
        cb(cud);
    }
}

static void final_closed(uv_handle_t *h)
{
    dec_open(h->data);
}

void bnc_workload_close(bnc_workload_t *wl, void (*cb)(void *ud), void *ud)
{
    wl->stopping = 1;
    wl->publishing = 0;
    wl->close_cb = cb;
    wl->close_ud = ud;
    uv_close((uv_handle_t *)&wl->heartbeat, final_closed);
    for (size_t i = 0; i < wl->n_clients; i++) {
        bnc_client_t *c = &wl->clients[i];
        c->pub_timer.data = wl;
        c->retry_timer.data = wl;
        uv_close((uv_handle_t *)&c->pub_timer, final_closed);
        uv_close((uv_handle_t *)&c->retry_timer, final_closed);
        if (c->conn.state == BNB_CONN_IDLE) {
            wl->open--;
        } else {
            bnb_conn_close(&c->conn, 0, "done", 1);
        }
    }
}

void bnc_workload_free(bnc_workload_t *wl)
{
    free(wl->clients);
    free(wl->sent_per_bucket);
    free(wl->recv_per_bucket);
    wl->clients = NULL;
    wl->sent_per_bucket = NULL;
    wl->recv_per_bucket = NULL;
}
