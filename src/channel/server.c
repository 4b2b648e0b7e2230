/* The server: configuration, wiring of transport, sockets, routes and
 * pubsub, the WebSocket session glue, plain HTTP routes and static files. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/origin.h"
#include "transport/longpoll/longpoll.h"
#include "channel/internal.h"
#include "cluster/cluster.h"
#include "bennu/log.h"
#include "core/sigpipe.h"
#include "presence/hooks.h"

/* ---------------------------------------------------------------- WebSocket glue */

static int ws_io_send(void *io_ud, bn_buf_t *msg)
{
    return bn_conn_send(io_ud, msg);
}

static void ws_io_close(void *io_ud, uint16_t code)
{
    bn_conn_close(io_ud, code, BN_CLOSE_SERVER_CLOSE);
}

static const bn_sock_io_t ws_io = {ws_io_send, ws_io_close};

static json_t *headers_json(const bn_http_req_t *req)
{
    json_t *h = json_object();
    for (size_t i = 0; h != NULL && i < req->n_headers; i++) {
        json_t *v = json_string(req->headers[i].value);
        if (v != NULL) {
            json_object_set_new(h, req->headers[i].name, v);
        }
    }
    return h;
}

/* The phoenix.js authToken: on WebSocket the subprotocol entry
 * "base64url.bearer.phx." + standard base64 without padding (PROTOCOL.md
 * 1.5), on LongPoll the x-phoenix-authtoken header. Decoded into buf. */
static const char *auth_token(const bn_http_req_t *req, char *buf, size_t cap)
{
    static const char prefix[] = "base64url.bearer.phx.";
    const char *lp = bn_http_header(req, "x-phoenix-authtoken");
    if (lp != NULL) {
        snprintf(buf, cap, "%s", lp);
        return strlen(lp) < cap ? buf : NULL;
    }
    const char *protos = bn_http_header(req, "sec-websocket-protocol");
    const char *p = protos != NULL ? strstr(protos, prefix) : NULL;
    if (p == NULL) {
        return NULL;
    }
    p += sizeof(prefix) - 1;
    size_t len = strcspn(p, ", \t");
    size_t out_len = 0;
    if (sodium_base642bin((unsigned char *)buf, cap - 1, p, len, NULL, &out_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
        return NULL;
    }
    buf[out_len] = '\0';
    return strlen(buf) == out_len ? buf : NULL;
}

/* Runs the connect callback; returns the new socket or NULL (refused). */
bn_socket_t *bn__socket_connect(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req,
                                const bn_sock_io_t *io, void *io_ud, const char *transport)
{
    json_t *params = bn_http_query_parse(req->query);
    if (params == NULL) {
        return NULL;
    }
    const char *vsn_str = json_string_value(json_object_get(params, "vsn"));
    int vsn = bn_vsn_parse(vsn_str);
    if (vsn < 0) {
        BN_LOG(INFO, "connect_refused", "reason=bad_vsn transport=%s", transport);
        json_decref(params);
        srv->stats.refused_connects++;
        srv->stats.refused_by[BN_REFUSE_BAD_VSN]++;
        return NULL;
    }
    bn_socket_t *s = bn__sock_new_query(srv, io, io_ud, (bn_vsn_t)vsn, req->query, transport);
    if (s == NULL) {
        json_decref(params);
        return NULL;
    }
    if (srv->connect_cb != NULL) {
        json_t *headers = headers_json(req);
        char token_buf[4096];
        bn_connect_info_t info = {bn_conn_peer(c), transport, headers,
                                  auth_token(req, token_buf, sizeof(token_buf))};
        bn__sock_ref(s); /* the callback may close it */
        bool ok = srv->connect_cb(s, params, &info, srv->connect_ud);
        json_decref(headers);
        if (!ok || s->closed) {
            BN_LOG(INFO, "connect_refused", "reason=connect_callback transport=%s", transport);
            srv->stats.refused_connects++;
            srv->stats.refused_by[BN_REFUSE_CONNECT_CALLBACK]++;
            bn__sock_free(s);
            bn__sock_unref(s);
            json_decref(params);
            return NULL;
        }
        bn__sock_unref(s);
    }
    json_decref(params);
    if (bn__sock_id_attach(s) != 0) {
        BN_LOG(WARN, "connect_refused", "reason=socket_id transport=%s", transport);
        srv->stats.refused_connects++;
        srv->stats.refused_by[BN_REFUSE_SOCKET_ID]++;
        bn__sock_free(s);
        return NULL;
    }
    return s;
}

static int on_ws_open(void *ud, bn_conn_t *c, bn_http_req_t *req, void **session)
{
    bn_server_t *srv = ud;
    if (!bn__origin_allowed(&srv->cfg, req)) {
        BN_LOG(INFO, "connect_refused", "reason=origin transport=websocket origin=%s",
               BN_LOG_VAL(bn_http_header(req, "origin")));
        srv->stats.refused_connects++;
        srv->stats.refused_by[BN_REFUSE_ORIGIN]++;
        return 403;
    }
    bn_socket_t *s = bn__socket_connect(srv, c, req, &ws_io, c, "websocket");
    if (s == NULL) {
        return 403;
    }
    *session = s;
    return 0;
}

static void on_ws_message(void *ud, void *session, bool binary, uint8_t *data, size_t len)
{
    (void)ud;
    bn_socket_t *s = session;
    bn_conn_t *c = s->io_ud; /* alive: this is its read callback */
    bn__sock_ref(s);         /* the outermost dispatch */
    int rc = binary ? bn__sock_handle_binary(s, data, len)
                    : bn__sock_handle_text(s, (const char *)data, len);
    if (rc == BN_SOCK_RATE_LIMITED) {
        bn_conn_close(c, BN_WS_CLOSE_POLICY, BN_CLOSE_RATE_LIMITED);
    } else if (rc != 0) {
        /* Phoenix's transport crashes on undecodable input; the client sees
         * the WebSocket close with 1011 and reconnects. */
        bn_conn_close(c, BN_WS_CLOSE_INTERNAL, BN_CLOSE_BAD_MESSAGE);
    }
    bn__sock_unref(s);
}

static void on_ws_closed(void *ud, void *session)
{
    (void)ud;
    bn__sock_free(session);
}

/* ---------------------------------------------------------------- LongPoll session glue */

static int lp_io_send(void *io_ud, bn_buf_t *msg)
{
    return bn_lp_session_send(io_ud, msg);
}

static void lp_io_close(void *io_ud, uint16_t code)
{
    (void)code; /* LongPoll has no close code: the next poll gets 410 */
    bn_lp_session_close(io_ud);
}

static const bn_sock_io_t lp_io = {lp_io_send, lp_io_close};

static int on_lp_admit(void *ud, bn_http_req_t *req, bool preflight)
{
    bn_server_t *srv = ud;
    if (bn__origin_allowed(&srv->cfg, req)) {
        return 0;
    }
    if (!preflight) {
        BN_LOG(INFO, "connect_refused", "reason=origin transport=longpoll origin=%s",
               BN_LOG_VAL(bn_http_header(req, "origin")));
        srv->stats.refused_connects++;
        srv->stats.refused_by[BN_REFUSE_ORIGIN]++;
    }
    return 403;
}

static int on_lp_open(void *ud, bn_lp_session_t *lps, bn_conn_t *c, bn_http_req_t *req,
                      void **session)
{
    bn_socket_t *s = bn__socket_connect(ud, c, req, &lp_io, lps, "longpoll");
    if (s == NULL) {
        return 403;
    }
    *session = s;
    return 0;
}

static int on_lp_message(void *ud, void *session, bool binary, uint8_t *data, size_t len)
{
    (void)ud;
    bn_socket_t *s = session;
    bn__sock_ref(s); /* the outermost dispatch */
    int rc = binary ? bn__sock_handle_binary(s, data, len)
                    : bn__sock_handle_text(s, (const char *)data, len);
    bn__sock_unref(s);
    return rc == BN_SOCK_RATE_LIMITED ? BN_LP_RATE_LIMITED : rc;
}

static void on_lp_session_closed(void *ud, void *session)
{
    (void)ud;
    bn__sock_free(session);
}

static void on_lp_refused(void *ud)
{
    bn_server_t *srv = ud;
    srv->stats.refused_connects++;
    srv->stats.refused_by[BN_REFUSE_LONGPOLL_SESSIONS]++;
}

/* ---------------------------------------------------------------- plain HTTP */

static const bn_static_file_t *find_file(const bn_server_t *srv, const char *path)
{
    if (strcmp(path, "/") == 0) {
        path = "/index.html";
    }
    for (size_t i = 0; i < srv->n_files; i++) {
        if (strcmp(srv->files[i].path, path) == 0) {
            return &srv->files[i];
        }
    }
    return NULL;
}

static bool is_get(const bn_http_req_t *req)
{
    return req->method == HTTP_GET || req->method == HTTP_HEAD;
}

static void serve_health(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req)
{
    (void)srv;
    if (!is_get(req)) {
        bn_http_respond(c, 405, NULL, "allow: GET, HEAD\r\n", NULL, 0);
        return;
    }
    bn_http_respond(c, 200, "text/plain", NULL, "ok\n", req->method == HTTP_HEAD ? 0 : 3);
}

static void serve_longpoll(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req)
{
    bn_lp_request(srv->lp, c, req);
}

void bn__server_serve_static(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req)
{
    const bn_static_file_t *f = find_file(srv, req->path);
    if (f == NULL) {
        bn_http_respond(c, 404, "text/plain", NULL, "not found\n", 10);
        return;
    }
    if (!is_get(req)) {
        bn_http_respond(c, 405, NULL, "allow: GET, HEAD\r\n", NULL, 0);
        return;
    }
    bn_http_respond(c, 200, f->content_type, "cache-control: no-cache\r\n", f->data,
                    req->method == HTTP_HEAD ? 0 : f->len);
}

int bn__server_http_route(bn_server_t *srv, const char *path, bn__http_handler_fn handler)
{
    for (size_t i = 0; i < srv->n_http_routes; i++) {
        if (strcmp(srv->http_routes[i].path, path) == 0) {
            srv->http_routes[i].handler = handler;
            return 0;
        }
    }
    if (srv->n_http_routes == BN_HTTP_ROUTES_MAX) {
        return -1;
    }
    srv->http_routes[srv->n_http_routes++] = (bn__http_route_t){path, handler};
    return 0;
}

static bool route_matches(const bn__http_route_t *r, const char *path)
{
    size_t n = strlen(r->path);
    if (n > 0 && r->path[n - 1] == '/') {
        return strncmp(path, r->path, n) == 0;
    }
    return strcmp(path, r->path) == 0;
}

static void on_request(void *ud, bn_conn_t *c, bn_http_req_t *req)
{
    bn_server_t *srv = ud;
    for (size_t i = 0; i < srv->n_http_routes; i++) {
        if (route_matches(&srv->http_routes[i], req->path)) {
            srv->http_routes[i].handler(srv, c, req);
            return;
        }
    }
    bn__server_serve_static(srv, c, req);
}

static void on_request_aborted(void *ud, bn_conn_t *c)
{
    bn_server_t *srv = ud;
    bn_lp_request_aborted(srv->lp, c);
}

/* ---------------------------------------------------------------- static files */

static const char *content_type_for(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL) {
        return "application/octet-stream";
    }
    if (strcmp(dot, ".html") == 0) {
        return "text/html; charset=utf-8";
    }
    if (strcmp(dot, ".js") == 0) {
        return "text/javascript; charset=utf-8";
    }
    if (strcmp(dot, ".css") == 0) {
        return "text/css; charset=utf-8";
    }
    return "application/octet-stream";
}

int bn_server_add_static(bn_server_t *srv, const char *url_path, const void *data, size_t len)
{
    if (srv->n_files == BN_STATIC_MAX || url_path[0] != '/') {
        return -1;
    }
    char *copy = malloc(len + 1);
    char *path = strdup(url_path);
    if (copy == NULL || path == NULL) {
        free(copy);
        free(path);
        return -1;
    }
    memcpy(copy, data, len);
    bn_static_file_t *sf = &srv->files[srv->n_files++];
    sf->path = path;
    sf->data = copy;
    sf->len = len;
    sf->content_type = content_type_for(url_path);
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

bn_server_t *bn_server_new(uv_loop_t *loop, const bn_config_t *cfg)
{
    bn_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return NULL;
    }
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->bind_copy = strdup(cfg->bind ? cfg->bind : "127.0.0.1");
    srv->cfg.bind = srv->bind_copy;
    bn_router_init(&srv->router);
    srv->ps = bn_ps_new();
    srv->join_refs = bn_intern_new();
    if (srv->ps != NULL) {
        bn_ps_set_max_topics(srv->ps, cfg->max_topics);
    }
    bn_lp_config_t lpc = {
        .secret_key_base = cfg->secret_key_base,
        .window_ms = cfg->longpoll_window_ms,
        .session_timeout_ms = cfg->longpoll_session_timeout_ms,
        .max_sessions = cfg->max_longpoll_sessions,
        .max_buffered = cfg->max_longpoll_buffered,
    };
    bn_lp_ops_t lpo = {
        .ud = srv,
        .admit = on_lp_admit,
        .open = on_lp_open,
        .message = on_lp_message,
        .closed = on_lp_session_closed,
        .refused = on_lp_refused,
    };
    srv->lp = bn_lp_new(loop, &lpc, &lpo);
    bn__server_http_route(srv, BN_SOCKET_LP_PATH, serve_longpoll);
    bn__server_http_route(srv, "/health", serve_health);
    bn_transport_config_t tc = {
        .bind = srv->cfg.bind,
        .port = srv->cfg.port,
        .ws_path = BN_SOCKET_WS_PATH,
        .ws_subprotocol = "phoenix",
        .ws = {.max_frame = cfg->max_frame_size, .max_message = cfg->max_message_size},
        .idle_timeout_ms = cfg->idle_timeout_ms,
        .handshake_timeout_ms = cfg->handshake_timeout_ms,
        .frame_timeout_ms = cfg->frame_timeout_ms,
        .max_queued_bytes = cfg->max_queued_bytes,
        .max_connections = cfg->max_connections,
        .reserved_fds = cfg->reserved_fds,
        .max_pending_per_ip = cfg->max_pending_per_ip,
        .memory_budget = cfg->memory_budget,
        .max_request_line = cfg->max_request_line,
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = cfg->max_headers,
        .max_body = cfg->max_body,
        .reuse_port = cfg->reuse_port,
        .trust_forwarded = cfg->trust_forwarded,
        .drain_ms = cfg->drain_ms,
        .drain_batch = cfg->drain_batch,
    };
    bn_transport_ops_t ops = {
        .ud = srv,
        .request = on_request,
        .ws_open = on_ws_open,
        .ws_message = on_ws_message,
        .ws_closed = on_ws_closed,
        .request_aborted = on_request_aborted,
    };
    srv->transport = bn_transport_new(loop, &tc, &ops);
    if (srv->ps == NULL || srv->transport == NULL || srv->lp == NULL || srv->bind_copy == NULL ||
        srv->join_refs == NULL) {
        bn_ps_free(srv->ps);
        bn_intern_free(srv->join_refs);
        free(srv->transport); /* never started: no handle */
        if (srv->lp != NULL) {
            bn_lp_close(srv->lp, NULL, NULL); /* no session, no handle: freed now */
        }
        free(srv->bind_copy);
        free(srv);
        return NULL;
    }
    return srv;
}

int bn_server_route(bn_server_t *srv, const char *pattern, const bn_channel_type_t *type, void *ud)
{
    return bn_router_add(&srv->router, pattern, type, ud);
}

void bn_server_on_connect(bn_server_t *srv, bn_connect_cb cb, void *ud)
{
    srv->connect_cb = cb;
    srv->connect_ud = ud;
}

void bn_server_set_adapter(bn_server_t *srv, const bn_pubsub_adapter_t *adapter)
{
    bn_ps_set_adapter(srv->ps, adapter);
}

int bn_server_start(bn_server_t *srv)
{
    char why[160];
    if (bn_config_validate(&srv->cfg, why, sizeof(why)) != 0) {
        BN_LOG(ERROR, "config_invalid", "detail=%s", BN_LOG_VAL(why));
        return UV_EINVAL;
    }
    bn_sigpipe_ignore();
    srv->started_ms = uv_now(srv->loop);
    return bn_transport_start(srv->transport);
}

int bn_server_port(const bn_server_t *srv)
{
    return srv->transport != NULL ? bn_transport_port(srv->transport) : -1;
}

int bn_server_broadcast(bn_server_t *srv, const char *topic, const char *event,
                        const bn_payload_t *payload)
{
    return bn_ps_broadcast(srv->ps, topic, strlen(topic), event, payload, NULL);
}

int bn_server_deliver_remote(bn_server_t *srv, const char *topic, size_t topic_len,
                             const char *event, const bn_payload_t *payload)
{
    return bn_ps_deliver_remote(srv->ps, topic, topic_len, event, payload);
}

size_t bn_server_subscriber_count(const bn_server_t *srv, const char *topic, size_t topic_len)
{
    return bn_ps_count(srv->ps, topic, topic_len);
}

/* Stop, step 4: the presence timers are closed too, so every handle the
 * server owned is. The server is freed, then the embedder told; from inside
 * cb the loop may be closed. */
static void on_presence_closed(void *ud)
{
    bn_server_t *srv = ud;
    void (*cb)(void *) = srv->stop_cb;
    void *cb_ud = srv->stop_ud;
    bn__cluster_free(srv);
    bn__ops_free(srv->ops);
    bn_ps_free(srv->ps);
    bn_intern_free(srv->join_refs);
    bn_router_free(&srv->router);
    for (size_t i = 0; i < srv->n_files; i++) {
        free(srv->files[i].path);
        free(srv->files[i].data);
    }
    free(srv->bind_copy);
    free(srv);
    if (cb != NULL) {
        cb(cb_ud);
    }
}

/* Stop, step 3: the LongPoll handles are closed and every channel is gone;
 * the presence state goes (its last leaves replicated first). */
static void on_lp_closed(void *ud)
{
    bn__presence_close(ud, on_presence_closed, ud);
}

/* Stop, step 2 (a close callback, so a later loop turn): every connection
 * is closed and every WebSocket socket gone; LongPoll sessions end now (their
 * channels terminate with "closed") and the LongPoll handles close. */
static void on_transport_stopped(void *ud)
{
    bn_server_t *srv = ud;
    srv->transport = NULL; /* freed */
    bn_lp_t *lp = srv->lp;
    srv->lp = NULL;
    bn_lp_close(lp, on_lp_closed, srv);
}

void bn_server_stop(bn_server_t *srv, void (*cb)(void *ud), void *ud)
{
    if (srv->stopping) {
        return;
    }
    srv->stopping = true;
    srv->stop_cb = cb;
    srv->stop_ud = ud;
    bn_transport_stop(srv->transport, 2000, on_transport_stopped, srv);
}

json_t *bn_server_stats_json(bn_server_t *srv)
{
    static const bn_transport_stats_t stopped; /* between transport and server free */
    const bn_transport_stats_t *ts =
        srv->transport != NULL ? bn_transport_stats(srv->transport) : &stopped;
    const bn_ps_stats_t *ps = bn_ps_stats(srv->ps);
    json_t *closed = json_object();
    for (int i = 0; i < BN_CLOSE__COUNT; i++) {
        if (ts->closed[i] > 0) {
            json_object_set_new(closed, bn_close_reason_name((bn_close_reason_t)i),
                                json_integer((json_int_t)ts->closed[i]));
        }
    }
    size_t rss = 0;
    uv_resident_set_memory(&rss);
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, "
        "s:I, s:o}",
        "uptime_ms", (json_int_t)(uv_now(srv->loop) - srv->started_ms), "rss_bytes",
        (json_int_t)rss, "connections", (json_int_t)ts->open, "sockets",
        (json_int_t)srv->stats.sockets, "sockets_websocket", (json_int_t)srv->stats.sockets_ws,
        "sockets_longpoll", (json_int_t)srv->stats.sockets_lp, "channels",
        (json_int_t)srv->stats.channels, "joins", (json_int_t)srv->stats.joins, "join_errors",
        (json_int_t)srv->stats.join_errors, "channel_crashes", (json_int_t)srv->stats.crashes,
        "messages_in", (json_int_t)srv->stats.messages_in, "bad_messages",
        (json_int_t)srv->stats.bad_messages, "refused_connects",
        (json_int_t)(srv->stats.refused_connects + ts->refused_upgrades), "broadcasts_out",
        (json_int_t)ps->broadcasts_local, "broadcasts_in", (json_int_t)ps->broadcasts_remote,
        "deliveries", (json_int_t)ps->deliveries, "slow_consumer_closes",
        (json_int_t)ts->closed[BN_CLOSE_SLOW_CONSUMER], "rate_limited",
        (json_int_t)srv->stats.rate_limited, "frames_out", (json_int_t)ts->frames_out, "writes",
        (json_int_t)ts->writes, "topics", (json_int_t)ps->topics, "closed", closed);
    if (o != NULL) {
        /* The client port's limits in force and what they hold now. */
        json_object_set_new(o, "partial_bytes", json_integer((json_int_t)ts->partial_bytes));
        json_object_set_new(o, "memory_budget", json_integer((json_int_t)srv->cfg.memory_budget));
        json_object_set_new(o, "read_pauses", json_integer((json_int_t)ts->read_pauses));
        json_object_set_new(o, "queue_rings", json_integer((json_int_t)ts->queue_rings));
        json_object_set_new(o, "max_connections", json_integer((json_int_t)ts->max_connections));
    }
    return o;
}
