/* The webhook client (see webhook.h). One call per connection at a time
 * (HTTP/1.1 keep-alive, no pipelining); idle connections are reused, and
 * the number of connections never exceeds max_in_flight. */
#include "app/webhook.h"

#include "bennu/ops.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/webhook_http.h"
#include "bennu/log.h"

static const char *const result_names[] = {"ok",
#define BN_WH_FAIL_NAME(name, str) str,
                                           BN_WH_FAIL_MAP(BN_WH_FAIL_NAME)
#undef BN_WH_FAIL_NAME
};

const char *bn_wh_result_name(bn_wh_result_t r)
{
    return r < BN_WH_FAIL_COUNT_ ? result_names[r] : "?";
}

/* Failures are logged once per this interval, with the counts since. */
#define WH_LOG_INTERVAL_MS 10000

typedef struct wh_call_s {
    bn_wh_done_cb cb;
    void *ud;
    char *req;
    size_t req_len;
    uint64_t start_ns;
    bool retried; /* already moved once off a stale keep-alive connection */
} wh_call_t;

/* One TCP connection to the backend. Owner: wh's list; freed when its two
 * handles have closed. */
typedef struct wh_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    bn_wh_t *wh;
    struct wh_conn_s *prev, *next; /* every connection */
    struct wh_conn_s *idle_next;   /* idle stack */
    wh_call_t *call;               /* the call in progress, or NULL when idle */
    bn_wh_resp_t resp;
    bn_wh_result_t deferred; /* a failure reported on the timer's next run */
    int handles_open;
    bool connected;
    bool reused; /* the call in progress came to an idle connection */
    bool idle;
    bool closing;
    char rbuf[8192];
} wh_conn_t;

struct bn_wh_s {
    uv_loop_t *loop;
    bn_wh_config_t cfg;
    struct sockaddr_storage addr;
    wh_conn_t *conns;
    wh_conn_t *idle;
    unsigned n_conns;
    unsigned in_flight;
    bool closing;
    /* counters */
    uint64_t calls, ok;
    uint64_t failures[BN_WH_FAIL_COUNT_];
    uint64_t lat_sum_ms, lat_max_ms, lat_count;
    uint64_t lat_le10, lat_le100, lat_le1000, lat_gt1000;
    uint64_t log_failures[BN_WH_FAIL_COUNT_]; /* since the last log line */
    uint64_t last_log_ms;
};

int bn_wh_url_parse(const char *url, bn_wh_config_t *cfg, char *why, size_t why_len)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) {
        snprintf(why, why_len, "the URL must start with http:// (got '%s')", url);
        return -1;
    }
    p += 7;
    const char *host_end;
    const char *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL) {
            snprintf(why, why_len, "unterminated [IPv6] in '%s'", url);
            return -1;
        }
        p++;
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        after = host_end;
    }
    size_t hl = (size_t)(host_end - p);
    if (hl == 0 || hl >= sizeof(cfg->host)) {
        snprintf(why, why_len, "no host in '%s'", url);
        return -1;
    }
    memcpy(cfg->host, p, hl);
    cfg->host[hl] = '\0';
    cfg->port = 80;
    if (*after == ':') {
        char *end = NULL;
        long port = strtol(after + 1, &end, 10);
        if (end == after + 1 || port < 1 || port > 65535) {
            snprintf(why, why_len, "invalid port in '%s'", url);
            return -1;
        }
        cfg->port = (int)port;
        after = end;
    }
    if (*after != '\0' && *after != '/') {
        snprintf(why, why_len, "unexpected '%c' after the host in '%s'", *after, url);
        return -1;
    }
    const char *path = *after == '/' ? after : "/";
    if (strlen(path) >= sizeof(cfg->path) || strpbrk(path, " \r\n\t") != NULL) {
        snprintf(why, why_len, "invalid path in '%s'", url);
        return -1;
    }
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (uv_ip4_addr(cfg->host, cfg->port, &a4) != 0 &&
        uv_ip6_addr(cfg->host, cfg->port, &a6) != 0) {
        snprintf(why, why_len,
                 "the host must be an IP address such as 127.0.0.1 (no name lookups on the "
                 "event loop), got '%s'",
                 cfg->host);
        return -1;
    }
    if (strchr(cfg->host, ':') != NULL) {
        snprintf(cfg->hostport, sizeof(cfg->hostport), "[%s]:%d", cfg->host, cfg->port);
    } else {
        snprintf(cfg->hostport, sizeof(cfg->hostport), "%s:%d", cfg->host, cfg->port);
    }
    return 0;
}

bn_wh_t *bn_wh_new(uv_loop_t *loop, const bn_wh_config_t *cfg)
{
    bn_wh_t *wh = calloc(1, sizeof(*wh));
    if (wh == NULL) {
        return NULL;
    }
    wh->loop = loop;
    wh->cfg = *cfg;
    if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&wh->addr) != 0) {
        uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&wh->addr);
    }
    return wh;
}

static void count_failure(bn_wh_t *wh, bn_wh_result_t r)
{
    wh->failures[r]++;
    wh->log_failures[r]++;
    uint64_t now = uv_now(wh->loop);
    if (wh->last_log_ms != 0 && now - wh->last_log_ms < WH_LOG_INTERVAL_MS) {
        return;
    }
    /* One line per interval: the failures counted since the last one. */
    char detail[256];
    size_t off = 0;
    for (int i = 1; i < BN_WH_FAIL_COUNT_; i++) {
        if (wh->log_failures[i] > 0 && off < sizeof(detail)) {
            off += (size_t)snprintf(detail + off, sizeof(detail) - off, " %s=%llu", result_names[i],
                                    (unsigned long long)wh->log_failures[i]);
        }
        wh->log_failures[i] = 0;
    }
    wh->last_log_ms = now;
    BN_LOG(WARN, "webhook_failures", "url=http://%s%s%s", wh->cfg.hostport, wh->cfg.path, detail);
}

static void call_free(wh_call_t *call)
{
    free(call->req);
    free(call);
}

/* Ends call with result; the callback runs last (it may call again). */
static void call_done(bn_wh_t *wh, wh_call_t *call, bn_wh_result_t result, json_t *answer)
{
    wh->in_flight--;
    if (result == BN_WH_OK) {
        wh->ok++;
        uint64_t ms = (uv_hrtime() - call->start_ns) / 1000000u;
        wh->lat_sum_ms += ms;
        wh->lat_count++;
        wh->lat_max_ms = ms > wh->lat_max_ms ? ms : wh->lat_max_ms;
        if (ms <= 10) {
            wh->lat_le10++;
        } else if (ms <= 100) {
            wh->lat_le100++;
        } else if (ms <= 1000) {
            wh->lat_le1000++;
        } else {
            wh->lat_gt1000++;
        }
    } else {
        count_failure(wh, result);
    }
    bn_wh_done_cb cb = call->cb;
    void *ud = call->ud;
    call_free(call);
    if (cb != NULL) {
        cb(ud, result, answer);
    }
}

static void conn_closed(uv_handle_t *h)
{
    wh_conn_t *c = h->data;
    if (--c->handles_open > 0) {
        return;
    }
    bn_wh_t *wh = c->wh;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        wh->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    wh->n_conns--;
    bn_wh_resp_free(&c->resp);
    free(c);
    if (wh->closing && wh->conns == NULL) {
        free(wh);
    }
}

static void idle_remove(bn_wh_t *wh, wh_conn_t *c)
{
    if (!c->idle) {
        return;
    }
    for (wh_conn_t **pp = &wh->idle; *pp != NULL; pp = &(*pp)->idle_next) {
        if (*pp == c) {
            *pp = c->idle_next;
            break;
        }
    }
    c->idle = false;
    c->idle_next = NULL;
}

static void conn_close(wh_conn_t *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    idle_remove(c->wh, c);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static int conn_start(bn_wh_t *wh, wh_call_t *call);

/* The call on c fails (c is closed). A call that met a stale keep-alive
 * connection (closed by the backend while idle, before any answer byte)
 * is moved once to a new connection instead. */
static void conn_fail(wh_conn_t *c, bn_wh_result_t result)
{
    wh_call_t *call = c->call;
    c->call = NULL;
    bool stale = result == BN_WH_FAIL_CONNECT && c->reused && c->resp.fed == 0;
    conn_close(c);
    if (call == NULL) {
        return;
    }
    if (stale && !call->retried && !c->wh->closing) {
        call->retried = true;
        if (conn_start(c->wh, call) == 0) {
            return;
        }
        result = BN_WH_FAIL_NO_MEMORY;
    }
    call_done(c->wh, call, result, NULL);
}

static void on_timer(uv_timer_t *t)
{
    wh_conn_t *c = t->data;
    conn_fail(c, c->deferred != BN_WH_OK ? c->deferred : BN_WH_FAIL_TIMEOUT);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    wh_conn_t *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_response(wh_conn_t *c)
{
    bn_wh_t *wh = c->wh;
    uv_timer_stop(&c->timer);
    wh_call_t *call = c->call;
    c->call = NULL;
    bn_wh_result_t result = BN_WH_OK;
    json_t *answer = NULL;
    if (c->resp.status < 200 || c->resp.status > 299) {
        result = BN_WH_FAIL_STATUS;
    } else {
        json_error_t jerr;
        answer = c->resp.body != NULL
                     ? json_loadb(c->resp.body, c->resp.body_len, JSON_REJECT_DUPLICATES, &jerr)
                     : NULL;
        if (!json_is_object(answer)) {
            result = BN_WH_FAIL_GARBAGE;
        }
    }
    if (result == BN_WH_OK && c->resp.keep_alive && !wh->closing) {
        bn_wh_resp_free(&c->resp);
        bn_wh_resp_init(&c->resp, wh->cfg.max_response_bytes);
        c->idle = true;
        c->idle_next = wh->idle;
        wh->idle = c;
    } else {
        conn_close(c);
    }
    call_done(wh, call, result, result == BN_WH_OK ? answer : NULL);
    json_decref(answer);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    wh_conn_t *c = s->data;
    if (c->closing || nread == 0) {
        return;
    }
    if (c->call == NULL) {
        /* Idle: the backend closed the connection (or sent bytes nobody
         * asked for); it is not reused. */
        conn_close(c);
        return;
    }
    bn_wh_resp_rc_t rc = nread < 0 ? bn_wh_resp_feed(&c->resp, NULL, 0)
                                   : bn_wh_resp_feed(&c->resp, buf->base, (size_t)nread);
    if (rc == BN_WH_RESP_DONE) {
        if (nread < 0) {
            c->resp.keep_alive = false;
        }
        on_response(c);
    } else if (rc == BN_WH_RESP_TOO_LARGE) {
        conn_fail(c, BN_WH_FAIL_TOO_LARGE);
    } else if (rc == BN_WH_RESP_GARBAGE) {
        conn_fail(c, nread < 0 && c->resp.fed == 0 ? BN_WH_FAIL_CONNECT : BN_WH_FAIL_GARBAGE);
    } else if (nread < 0) {
        conn_fail(c, BN_WH_FAIL_CONNECT);
    }
}

static void on_write(uv_write_t *w, int status)
{
    wh_conn_t *c = w->data;
    if (c->closing || status == 0) {
        return;
    }
    conn_fail(c, BN_WH_FAIL_CONNECT);
}

static void conn_send(wh_conn_t *c)
{
    uv_buf_t b = uv_buf_init(c->call->req, (unsigned)c->call->req_len);
    c->write.data = c;
    int rc = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        c->deferred = BN_WH_FAIL_CONNECT;
        uv_timer_start(&c->timer, on_timer, 0, 0);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    wh_conn_t *c = req->data;
    if (c->closing) {
        return;
    }
    if (status != 0) {
        conn_fail(c, BN_WH_FAIL_CONNECT);
        return;
    }
    c->connected = true;
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_fail(c, BN_WH_FAIL_CONNECT);
        return;
    }
    conn_send(c);
}

/* Puts call on an idle connection or a new one; the timeout starts now.
 * Returns 0, or -1 when no connection could be allocated (call untouched). */
static int conn_start(bn_wh_t *wh, wh_call_t *call)
{
    wh_conn_t *c = wh->idle;
    if (c != NULL) {
        idle_remove(wh, c);
        c->call = call;
        c->reused = true;
        c->deferred = BN_WH_OK;
        uv_timer_start(&c->timer, on_timer, wh->cfg.timeout_ms, 0);
        conn_send(c);
        return 0;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -1;
    }
    c->wh = wh;
    c->call = call;
    bn_wh_resp_init(&c->resp, wh->cfg.max_response_bytes);
    uv_tcp_init(wh->loop, &c->tcp);
    uv_timer_init(wh->loop, &c->timer);
    c->tcp.data = c->timer.data = c->connect.data = c;
    c->handles_open = 2;
    c->next = wh->conns;
    if (wh->conns != NULL) {
        wh->conns->prev = c;
    }
    wh->conns = c;
    wh->n_conns++;
    int rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&wh->addr, on_connect);
    if (rc != 0) {
        /* Reported on a later loop turn, never inside bn_wh_call. */
        c->deferred = BN_WH_FAIL_CONNECT;
        uv_timer_start(&c->timer, on_timer, 0, 0);
        return 0;
    }
    uv_timer_start(&c->timer, on_timer, wh->cfg.timeout_ms, 0);
    return 0;
}

bn_wh_result_t bn_wh_call(bn_wh_t *wh, json_t *body, bn_wh_done_cb cb, void *ud)
{
    wh->calls++;
    if (wh->closing) {
        count_failure(wh, BN_WH_FAIL_CLOSED);
        return BN_WH_FAIL_CLOSED;
    }
    if (wh->in_flight >= wh->cfg.max_in_flight) {
        count_failure(wh, BN_WH_FAIL_FULL);
        return BN_WH_FAIL_FULL;
    }
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text == NULL) {
        count_failure(wh, BN_WH_FAIL_GARBAGE);
        return BN_WH_FAIL_GARBAGE;
    }
    wh_call_t *call = calloc(1, sizeof(*call));
    if (call != NULL) {
        call->req = bn_wh_request_build(wh->cfg.hostport, wh->cfg.path, wh->cfg.key,
                                        wh->cfg.key_len, text, strlen(text), &call->req_len);
    }
    free(text);
    if (call == NULL || call->req == NULL) {
        if (call != NULL) {
            call_free(call);
        }
        count_failure(wh, BN_WH_FAIL_NO_MEMORY);
        return BN_WH_FAIL_NO_MEMORY;
    }
    call->cb = cb;
    call->ud = ud;
    call->start_ns = uv_hrtime();
    wh->in_flight++;
    if (conn_start(wh, call) != 0) {
        wh->in_flight--;
        call_free(call);
        count_failure(wh, BN_WH_FAIL_NO_MEMORY);
        return BN_WH_FAIL_NO_MEMORY;
    }
    return BN_WH_OK;
}

void bn_wh_close(bn_wh_t *wh)
{
    if (wh == NULL || wh->closing) {
        return;
    }
    wh->closing = true;
    for (wh_conn_t *c = wh->conns; c != NULL; c = c->next) {
        wh_call_t *call = c->call;
        c->call = NULL;
        conn_close(c);
        if (call != NULL) {
            call_done(wh, call, BN_WH_FAIL_CLOSED, NULL);
        }
    }
    if (wh->conns == NULL) {
        free(wh);
    }
}

json_t *bn_wh_stats_json(const bn_wh_t *wh)
{
    json_t *fail = json_object();
    for (int i = 1; i < BN_WH_FAIL_COUNT_; i++) {
        json_object_set_new(fail, result_names[i], json_integer((json_int_t)wh->failures[i]));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "calls",
                     (json_int_t)wh->calls, "ok", (json_int_t)wh->ok, "in_flight",
                     (json_int_t)wh->in_flight, "connections", (json_int_t)wh->n_conns, "failures",
                     fail, "latency_ms", "count", (json_int_t)wh->lat_count, "sum",
                     (json_int_t)wh->lat_sum_ms, "max", (json_int_t)wh->lat_max_ms, "le_10",
                     (json_int_t)wh->lat_le10, "le_100", (json_int_t)wh->lat_le100, "le_1000",
                     (json_int_t)wh->lat_le1000, "gt_1000", (json_int_t)wh->lat_gt1000);
}

void bn_wh_metrics(const bn_wh_t *wh, bn_metrics_t *m)
{
    bn_metrics_family(m, "bennu_webhook_calls_total", "counter", "Webhook calls started.");
    bn_metrics_u64(m, "bennu_webhook_calls_total", NULL, NULL, wh->calls);
    bn_metrics_family(m, "bennu_webhook_failures_total", "counter",
                      "Webhook calls that failed, by reason.");
    for (int i = 1; i < BN_WH_FAIL_COUNT_; i++) {
        bn_metrics_u64(m, "bennu_webhook_failures_total", "reason", result_names[i],
                       wh->failures[i]);
    }
    bn_metrics_family(m, "bennu_webhook_in_flight", "gauge",
                      "Webhook calls waiting for an answer.");
    bn_metrics_u64(m, "bennu_webhook_in_flight", NULL, NULL, wh->in_flight);
    /* The latency of answered calls, as a Prometheus histogram (cumulative
     * buckets, seconds). */
    bn_metrics_family(m, "bennu_webhook_latency_seconds", "histogram",
                      "Time from sending a webhook call to its answer.");
    uint64_t le = wh->lat_le10;
    bn_metrics_u64(m, "bennu_webhook_latency_seconds_bucket", "le", "0.01", le);
    le += wh->lat_le100;
    bn_metrics_u64(m, "bennu_webhook_latency_seconds_bucket", "le", "0.1", le);
    le += wh->lat_le1000;
    bn_metrics_u64(m, "bennu_webhook_latency_seconds_bucket", "le", "1", le);
    bn_metrics_u64(m, "bennu_webhook_latency_seconds_bucket", "le", "+Inf", wh->lat_count);
    bn_metrics_double(m, "bennu_webhook_latency_seconds_sum", NULL, NULL,
                      (double)wh->lat_sum_ms / 1000.0);
    bn_metrics_u64(m, "bennu_webhook_latency_seconds_count", NULL, NULL, wh->lat_count);
}
