/* The operator surface on the HTTP port (docs/api.md): /health, /ready,
 * /metrics (Prometheus text 0.0.4) and the server API under /api/
 * (bearer key): POST /api/broadcast, GET /api/node, GET /api/presence.
 * Off until bn_server_enable_ops; the server routes here first. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/admin.h"
#include "bennu/mesh.h"
#include "bennu/presence.h"
#include "channel/internal.h"
#include "channel/prom.h"
#include "bennu/log.h"

/* Topic and event bounds of an API broadcast. */
#define BN_API_TOPIC_MAX 1024
#define BN_API_EVENT_MAX 256

struct bn_ops_s {
    bn_server_t *srv;
    bool have_key;
    uint8_t key_hash[crypto_generichash_BYTES];
    bool metrics_public;
    bn_mesh_t *mesh;
    unsigned ready_min_peers;
    char *node_name;
    void (*metrics)(void *ud, bn_metrics_t *m);
    void *metrics_ud;
};

static bool ops_request(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req);

/* The route of each ops path: paths the configuration leaves off (no API
 * key) fall through to the static files, i.e. 404, as without ops. */
static void ops_route(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req)
{
    if (!ops_request(srv, c, req)) {
        bn__server_serve_static(srv, c, req);
    }
}

int bn_server_enable_ops(bn_server_t *srv, const bn_ops_config_t *cfg)
{
    struct bn_ops_s *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return -1;
    }
    o->srv = srv;
    if (cfg->api_key != NULL && cfg->api_key[0] != '\0') {
        o->have_key = true;
        crypto_generichash(o->key_hash, sizeof(o->key_hash), (const unsigned char *)cfg->api_key,
                           strlen(cfg->api_key), NULL, 0);
    }
    o->metrics_public = cfg->metrics_public;
    o->mesh = cfg->mesh;
    o->ready_min_peers = cfg->ready_min_peers;
    o->metrics = cfg->metrics;
    o->metrics_ud = cfg->metrics_ud;
    if (cfg->node_name != NULL && (o->node_name = strdup(cfg->node_name)) == NULL) {
        free(o);
        return -1;
    }
    static const char *const paths[] = {"/health", "/ready", "/metrics", "/api/"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (bn__server_http_route(srv, paths[i], ops_route) != 0) {
            free(o->node_name);
            free(o);
            return -1;
        }
    }
    bn__ops_free(srv->ops);
    srv->ops = o;
    return 0;
}

void bn__ops_free(struct bn_ops_s *ops)
{
    if (ops != NULL) {
        sodium_memzero(ops->key_hash, sizeof(ops->key_hash));
        free(ops->node_name);
        free(ops);
    }
}

/* ---------------------------------------------------------------- presence seam */

/* The presence branch provides bn_presence_list / bn_presence_member_count
 * (include/bennu/presence.h). Until it is merged these two functions are
 * the only places that would call it: /api/presence answers 501 and the
 * presence gauge is left out of /metrics. */
static json_t *ops_presence_list(bn_server_t *srv, const char *topic)
{
    return bn_presence_list(srv, topic);
}

static bool ops_presence_member_count(bn_server_t *srv, size_t *out)
{
    *out = bn_presence_member_count(srv);
    return true;
}

/* ---------------------------------------------------------------- helpers */

static bool is_get(const bn_http_req_t *req)
{
    return req->method == HTTP_GET || req->method == HTTP_HEAD;
}

/* Sends j (stolen) as the JSON body. */
static void respond_json(bn_conn_t *c, const bn_http_req_t *req, int status, json_t *j,
                         const char *extra)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        bn_http_respond(c, 500, NULL, NULL, NULL, 0);
        return;
    }
    size_t len = strlen(text);
    text[len++] = '\n'; /* replaces the NUL: the length is explicit */
    bn_http_respond(c, status, "application/json", extra, text, req->method == HTTP_HEAD ? 0 : len);
    free(text);
}

static void respond_error(bn_conn_t *c, const bn_http_req_t *req, int status, const char *msg,
                          const char *extra)
{
    respond_json(c, req, status, json_pack("{s:s}", "error", msg), extra);
}

static void method_not_allowed(bn_conn_t *c, const bn_http_req_t *req, const char *allow)
{
    char extra[64];
    snprintf(extra, sizeof(extra), "allow: %s\r\n", allow);
    respond_error(c, req, 405, "method not allowed", extra);
}

/* Constant time in the key: both sides are hashed, then compared with
 * sodium_memcmp, so neither the length nor a prefix of the key leaks. */
static bool authorized(const struct bn_ops_s *o, const bn_http_req_t *req)
{
    const char *tok = NULL;
    size_t len = 0;
    if (!o->have_key || !bn_bearer_parse(bn_http_header(req, "authorization"), &tok, &len)) {
        return false;
    }
    uint8_t h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof(h), (const unsigned char *)tok, len, NULL, 0);
    return sodium_memcmp(h, o->key_hash, sizeof(h)) == 0;
}

static const char *node_name(const struct bn_ops_s *o)
{
    if (o->mesh != NULL) {
        return bn_mesh_name(o->mesh);
    }
    return o->node_name != NULL ? o->node_name : "nonode@nohost";
}

/* Peer nodes up, hidden ones (bennuctl) left out; members (may be NULL)
 * gets {name, state, rtt_us} per visible peer. */
static size_t peers_up(const struct bn_ops_s *o, json_t *members)
{
    if (o->mesh == NULL) {
        return 0;
    }
    json_t *snap = bn_admin_members_json(o->mesh);
    size_t up = 0, i;
    json_t *n;
    json_array_foreach(json_object_get(snap, "nodes"), i, n)
    {
        if (json_is_true(json_object_get(n, "hidden"))) {
            continue;
        }
        const char *state = json_string_value(json_object_get(n, "state"));
        bool is_up = state != NULL && strcmp(state, "up") == 0;
        up += is_up;
        if (members != NULL) {
            json_t *link = json_object_get(n, "link");
            json_t *m = json_pack("{s:O, s:s}", "name", json_object_get(n, "name"), "state",
                                  is_up ? "up" : "down");
            if (m != NULL && is_up && link != NULL) {
                json_object_set(m, "rtt_us", json_object_get(link, "rtt_us"));
            }
            json_array_append_new(members, m);
        }
    }
    json_decref(snap);
    return up;
}

static json_int_t uptime_ms(const bn_server_t *srv)
{
    return (json_int_t)(uv_now(srv->loop) - srv->started_ms);
}

/* ---------------------------------------------------------------- /health, /ready */

static void do_health(struct bn_ops_s *o, bn_conn_t *c, bn_http_req_t *req)
{
    if (!is_get(req)) {
        method_not_allowed(c, req, "GET, HEAD");
        return;
    }
    respond_json(c, req, 200,
                 json_pack("{s:s, s:s, s:s, s:I, s:b}", "status", "ok", "node", node_name(o),
                           "version", BN_VERSION, "uptime_ms", uptime_ms(o->srv), "clustered",
                           o->mesh != NULL),
                 NULL);
}

static void do_ready(struct bn_ops_s *o, bn_conn_t *c, bn_http_req_t *req)
{
    if (!is_get(req)) {
        method_not_allowed(c, req, "GET, HEAD");
        return;
    }
    bool listening = o->srv->transport != NULL && !o->srv->stopping;
    size_t up = peers_up(o, NULL);
    bool ready = listening && up >= o->ready_min_peers;
    const char *reason = !listening ? "not listening" : !ready ? "waiting for peers" : NULL;
    json_t *j = json_pack("{s:b, s:b, s:b, s:I, s:I}", "ready", ready, "listening", listening,
                          "clustered", o->mesh != NULL, "peers_up", (json_int_t)up, "min_peers",
                          (json_int_t)o->ready_min_peers);
    if (j != NULL && reason != NULL) {
        json_object_set_new(j, "reason", json_string(reason));
    }
    respond_json(c, req, ready ? 200 : 503, j, NULL);
}

/* ---------------------------------------------------------------- /metrics */

/* Mesh link closes that end a handshake (never an established link). */
static bool handshake_reason(const char *r)
{
    static const char *const names[] = {"handshake_timeout", "bad_cookie",    "version_mismatch",
                                        "protocol",          "bad_hello",     "decrypt_failed",
                                        "self_connect",      "name_clash",    "preauth_limit",
                                        "not_allowed",       "connect_failed"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(r, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void metrics_mesh(struct bn_ops_s *o, bn_prom_t *p)
{
    json_t *snap = bn_admin_members_json(o->mesh);
    json_t *nodes = json_object_get(snap, "nodes");
    size_t i;
    json_t *n;
    bn_prom_family(p, "bennu_mesh_links_up", "gauge",
                   "Peer nodes with an established mesh link (hidden admin nodes excluded).");
    bn_prom_u64(p, "bennu_mesh_links_up", NULL, NULL, peers_up(o, NULL));
    bn_prom_family(p, "bennu_mesh_peer_rtt_seconds", "gauge",
                   "Round-trip time of the mesh link to each peer node that is up.");
    json_array_foreach(nodes, i, n)
    {
        json_t *link = json_object_get(n, "link");
        if (json_is_true(json_object_get(n, "hidden")) || link == NULL) {
            continue;
        }
        bn_prom_double(p, "bennu_mesh_peer_rtt_seconds", "peer",
                       json_string_value(json_object_get(n, "name")),
                       (double)json_integer_value(json_object_get(link, "rtt_us")) / 1e6);
    }
    bn_prom_family(p, "bennu_mesh_peer_queue_bytes", "gauge",
                   "Bytes queued on the mesh link to each peer node.");
    json_array_foreach(nodes, i, n)
    {
        json_t *link = json_object_get(n, "link");
        if (json_is_true(json_object_get(n, "hidden")) || link == NULL) {
            continue;
        }
        bn_prom_u64(p, "bennu_mesh_peer_queue_bytes", "peer",
                    json_string_value(json_object_get(n, "name")),
                    (uint64_t)json_integer_value(json_object_get(link, "queued_bytes")));
    }
    json_t *closes = json_object_get(snap, "closes");
    const char *k;
    json_t *v;
    bn_prom_family(p, "bennu_mesh_link_closes_total", "counter",
                   "Mesh links (and link attempts) closed, by reason.");
    json_object_foreach(closes, k, v)
    {
        bn_prom_u64(p, "bennu_mesh_link_closes_total", "reason", k,
                    (uint64_t)json_integer_value(v));
    }
    bn_prom_family(p, "bennu_mesh_handshake_failures_total", "counter",
                   "Mesh connections that failed before the link was established, by reason.");
    json_object_foreach(closes, k, v)
    {
        if (handshake_reason(k)) {
            bn_prom_u64(p, "bennu_mesh_handshake_failures_total", "reason", k,
                        (uint64_t)json_integer_value(v));
        }
    }
    json_decref(snap);
}

static void counter(bn_prom_t *p, const char *name, const char *help, uint64_t v)
{
    bn_prom_family(p, name, "counter", help);
    bn_prom_u64(p, name, NULL, NULL, v);
}

static void gauge(bn_prom_t *p, const char *name, const char *help, uint64_t v)
{
    bn_prom_family(p, name, "gauge", help);
    bn_prom_u64(p, name, NULL, NULL, v);
}

/* The whole exposition; p->oom on allocation failure. */
static void metrics_text(struct bn_ops_s *o, bn_prom_t *p)
{
    static const bn_transport_stats_t stopped;
    bn_server_t *srv = o->srv;
    const bn_transport_stats_t *ts =
        srv->transport != NULL ? bn_transport_stats(srv->transport) : &stopped;
    const bn_ps_stats_t *ps = bn_ps_stats(srv->ps);
    const bn_server_stats_t *st = &srv->stats;

    bn_prom_family(p, "bennu_info", "gauge", "Constant 1, labelled with the version.");
    bn_prom_u64(p, "bennu_info", "version", BN_VERSION, 1);
    bn_prom_family(p, "bennu_uptime_seconds", "gauge", "Seconds since the server started.");
    bn_prom_double(p, "bennu_uptime_seconds", NULL, NULL, (double)uptime_ms(srv) / 1000.0);
    bn_prom_family(p, "bennu_connections", "gauge", "Open Phoenix sockets by transport.");
    bn_prom_u64(p, "bennu_connections", "transport", "websocket", st->sockets_ws);
    bn_prom_u64(p, "bennu_connections", "transport", "longpoll", st->sockets_lp);
    gauge(p, "bennu_http_connections", "Open TCP connections on the HTTP port (any state).",
          ts->open);
    gauge(p, "bennu_channels_joined", "Joined channels on this node.", st->channels);
    gauge(p, "bennu_topics", "Distinct topics with local subscribers.", ps->topics);
    counter(p, "bennu_joins_total", "Channel joins attempted.", st->joins);
    counter(p, "bennu_join_errors_total", "Channel joins refused or crashed.", st->join_errors);
    counter(p, "bennu_messages_in_total", "Client messages received.", st->messages_in);
    counter(p, "bennu_deliveries_total", "Broadcast messages queued to local subscribers.",
            ps->deliveries);
    bn_prom_family(p, "bennu_broadcasts_total", "counter",
                   "Broadcasts made on this node (out) and received from other nodes (in).");
    bn_prom_u64(p, "bennu_broadcasts_total", "direction", "out", ps->broadcasts_local);
    bn_prom_u64(p, "bennu_broadcasts_total", "direction", "in", ps->broadcasts_remote);
    gauge(p, "bennu_queued_bytes", "Outbound bytes queued on client connections, not yet written.",
          srv->transport != NULL ? bn_transport_queued_bytes(srv->transport) : 0);
    counter(p, "bennu_slow_consumer_closes_total",
            "Connections closed because their outbound queue exceeded the limit.",
            ts->closed[BN_CLOSE_SLOW_CONSUMER]);
    counter(p, "bennu_rate_limit_closes_total",
            "Client messages refused by the per-connection rate limit.", st->rate_limited);
    counter(p, "bennu_disconnects_total",
            "Sockets closed by a \"disconnect\" broadcast to their socket id.", st->disconnects);
    counter(p, "bennu_token_expired_closes_total", "Sockets closed at their token's expiry.",
            st->token_expired);
    bn_prom_family(p, "bennu_refusals_total", "counter", "Refused connects by reason.");
    static const char *const refuse_names[] = {
#define BN_REFUSE_NAME(name, str) str,
        BN_REFUSE_REASON_MAP(BN_REFUSE_NAME)
#undef BN_REFUSE_NAME
    };
    for (int i = 0; i < BN_REFUSE__COUNT; i++) {
        bn_prom_u64(p, "bennu_refusals_total", "reason", refuse_names[i], st->refused_by[i]);
    }
    bn_prom_u64(p, "bennu_refusals_total", "reason", "upgrade", ts->refused_upgrades);
    bn_prom_family(p, "bennu_connection_closes_total", "counter",
                   "Client connections closed, by reason.");
    for (int i = 1; i < BN_CLOSE__COUNT; i++) {
        if (bn_close_reason_in((bn_close_reason_t)i, BN_CLOSE_CONN)) {
            bn_prom_u64(p, "bennu_connection_closes_total", "reason",
                        bn_close_reason_name((bn_close_reason_t)i), ts->closed[i]);
        }
    }
    size_t rss = 0;
    if (uv_resident_set_memory(&rss) == 0) {
        gauge(p, "bennu_resident_memory_bytes", "Resident set size of the process.", rss);
    }
    size_t members = 0;
    if (ops_presence_member_count(srv, &members)) {
        gauge(p, "bennu_presence_members", "Presence entries known to this node.", members);
    }
    if (o->mesh != NULL) {
        metrics_mesh(o, p);
    }
}

static void do_metrics(struct bn_ops_s *o, bn_conn_t *c, bn_http_req_t *req)
{
    if (!is_get(req)) {
        bn_http_respond(c, 405, NULL, "allow: GET, HEAD\r\n", NULL, 0);
        return;
    }
    bn_prom_t p;
    bn_prom_init(&p);
    metrics_text(o, &p);
    if (o->metrics != NULL) {
        o->metrics(o->metrics_ud, &p);
    }
    if (p.oom) {
        bn_prom_free(&p);
        bn_http_respond(c, 500, NULL, NULL, NULL, 0);
        return;
    }
    bn_http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, p.buf,
                    req->method == HTTP_HEAD ? 0 : p.len);
    bn_prom_free(&p);
}

/* ---------------------------------------------------------------- /api/ */

/* A required string field; NULL after a 400 naming it. */
static const char *string_field(bn_conn_t *c, bn_http_req_t *req, json_t *body, const char *name,
                                size_t max)
{
    char msg[96];
    json_t *v = json_object_get(body, name);
    if (v == NULL) {
        snprintf(msg, sizeof(msg), "missing field: %s", name);
    } else if (!json_is_string(v)) {
        snprintf(msg, sizeof(msg), "field %s must be a string", name);
    } else if (json_string_length(v) == 0 || json_string_length(v) > max ||
               strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, sizeof(msg), "field %s must be 1 to %zu bytes without NUL", name, max);
    } else {
        return json_string_value(v);
    }
    respond_error(c, req, 400, msg, NULL);
    return NULL;
}

static void api_broadcast(struct bn_ops_s *o, bn_conn_t *c, bn_http_req_t *req)
{
    if (req->method != HTTP_POST) {
        method_not_allowed(c, req, "POST");
        return;
    }
    json_error_t err;
    json_t *body =
        json_loadb(req->body != NULL ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (body == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "invalid JSON: %s", err.text);
        respond_error(c, req, 400, msg, NULL);
        return;
    }
    if (!json_is_object(body)) {
        respond_error(c, req, 400, "the body must be a JSON object", NULL);
        json_decref(body);
        return;
    }
    const char *topic = string_field(c, req, body, "topic", BN_API_TOPIC_MAX);
    const char *event =
        topic != NULL ? string_field(c, req, body, "event", BN_API_EVENT_MAX) : NULL;
    if (event == NULL) {
        json_decref(body);
        return;
    }
    json_t *payload = json_object_get(body, "payload");
    if (payload == NULL || !json_is_object(payload)) {
        respond_error(c, req, 400,
                      payload == NULL ? "missing field: payload"
                                      : "field payload must be a JSON object",
                      NULL);
        json_decref(body);
        return;
    }
    bn_payload_t pl = bn_payload_json(payload);
    int local = bn_server_broadcast(o->srv, topic, event, &pl);
    if (local < 0) {
        respond_error(c, req, 500, "broadcast failed", NULL);
        json_decref(body);
        return;
    }
    BN_LOG(DEBUG, "api_broadcast", "topic=%s event=%s local=%d", BN_LOG_VAL(topic),
           BN_LOG_VAL(event), local);
    respond_json(c, req, 200,
                 json_pack("{s:b, s:s, s:i, s:I}", "ok", 1, "node", node_name(o), "local", local,
                           "peers_up", (json_int_t)peers_up(o, NULL)),
                 NULL);
    json_decref(body);
}

/* A worker of a --workers node (bn_mesh_worker_name) answers for the
 * whole node too: "node" is the node's name, "worker" this worker's index
 * and "workers" every worker with its state (this one is up). The counts
 * of the answer stay this worker's own. */
static void add_workers(json_t *j, const char *self, const json_t *members)
{
    char base[256], other[256];
    int index = bn_mesh_worker_name(self, base, sizeof(base));
    if (index < 0) {
        return;
    }
    json_t *workers = json_array();
    json_array_append_new(
        workers, json_pack("{s:s, s:i, s:s}", "name", self, "index", index, "state", "up"));
    size_t up = 1, i;
    json_t *m;
    json_array_foreach(members, i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        int w = bn_mesh_worker_name(name, other, sizeof(other));
        if (w < 0 || strcmp(other, base) != 0) {
            continue;
        }
        const char *state = json_string_value(json_object_get(m, "state"));
        up += state != NULL && strcmp(state, "up") == 0;
        json_array_append_new(workers, json_pack("{s:s, s:i, s:s}", "name", name, "index", w,
                                                 "state", state != NULL ? state : "down"));
    }
    if (json_array_size(workers) < 2) {
        json_decref(workers); /* a lone node whose name ends in -wN */
        return;
    }
    json_object_set_new(j, "node", json_string(base));
    json_object_set_new(j, "worker", json_integer(index));
    json_object_set_new(j, "workers_up", json_integer((json_int_t)up));
    json_object_set_new(j, "workers", workers);
}

static void api_node(struct bn_ops_s *o, bn_conn_t *c, bn_http_req_t *req)
{
    if (!is_get(req)) {
        method_not_allowed(c, req, "GET, HEAD");
        return;
    }
    const bn_server_stats_t *st = &o->srv->stats;
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:b, s:{s:I, s:I}, s:I, s:I}", "name", node_name(o), "version", BN_VERSION,
        "uptime_ms", uptime_ms(o->srv), "clustered", o->mesh != NULL, "connections", "websocket",
        (json_int_t)st->sockets_ws, "longpoll", (json_int_t)st->sockets_lp, "channels",
        (json_int_t)st->channels, "topics", (json_int_t)bn_ps_stats(o->srv->ps)->topics);
    if (j != NULL && o->mesh != NULL) {
        json_t *members = json_array();
        peers_up(o, members);
        add_workers(j, node_name(o), members);
        json_object_set_new(j, "members", members);
    }
    respond_json(c, req, 200, j, NULL);
}

static void api_presence(struct bn_ops_s *o, bn_conn_t *c, bn_http_req_t *req)
{
    if (!is_get(req)) {
        method_not_allowed(c, req, "GET, HEAD");
        return;
    }
    json_t *q = bn_http_query_parse(req->query);
    const char *topic = json_string_value(json_object_get(q, "topic"));
    if (q == NULL || topic == NULL || topic[0] == '\0') {
        respond_error(c, req, 400, "missing query parameter: topic", NULL);
        json_decref(q);
        return;
    }
    json_t *list = ops_presence_list(o->srv, topic);
    if (list == NULL) {
        respond_error(c, req, 501, "presence not available", NULL);
    } else {
        respond_json(c, req, 200, json_pack("{s:s, s:o}", "topic", topic, "presences", list), NULL);
    }
    json_decref(q);
}

static void do_api(struct bn_ops_s *o, bn_conn_t *c, bn_http_req_t *req)
{
    if (!authorized(o, req)) {
        respond_error(c, req, 401, "missing or wrong API key",
                      "www-authenticate: Bearer realm=\"bennu\"\r\n");
        return;
    }
    const char *sub = req->path + strlen("/api/");
    if (strcmp(sub, "broadcast") == 0) {
        api_broadcast(o, c, req);
    } else if (strcmp(sub, "node") == 0) {
        api_node(o, c, req);
    } else if (strcmp(sub, "presence") == 0) {
        api_presence(o, c, req);
    } else {
        respond_error(c, req, 404, "no such API endpoint", NULL);
    }
}

static bool ops_request(bn_server_t *srv, bn_conn_t *c, bn_http_req_t *req)
{
    struct bn_ops_s *o = srv->ops;
    if (o == NULL) {
        return false;
    }
    const char *path = req->path;
    if (strcmp(path, "/health") == 0) {
        do_health(o, c, req);
    } else if (strcmp(path, "/ready") == 0) {
        do_ready(o, c, req);
    } else if (strcmp(path, "/metrics") == 0 && (o->metrics_public || o->have_key)) {
        if (!o->metrics_public && !authorized(o, req)) {
            respond_error(c, req, 401, "missing or wrong API key",
                          "www-authenticate: Bearer realm=\"bennu\"\r\n");
        } else {
            do_metrics(o, c, req);
        }
    } else if (strncmp(path, "/api/", 5) == 0 && o->have_key) {
        do_api(o, c, req);
    } else {
        return false;
    }
    return true;
}
