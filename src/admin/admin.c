/* The admin operations (bennu/admin.h): JSON requests answered over the
 * mesh's opaque request channel, reading the mesh's plain snapshots and the
 * server's counters. The mesh knows nothing of this format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/admin.h"
#include "bennu/cluster.h"
#include "bennu/log.h"
#include "bennu/presence.h"

/* ---- snapshots as JSON -------------------------------------------------- */

static json_t *topic_json(const char *topic, size_t len)
{
    json_t *s = json_stringn(topic, len);
    return s != NULL ? s : json_string("<non-utf8>");
}

static void add_close(void *ud, const char *reason, uint64_t n)
{
    json_object_set_new(ud, reason, json_integer((json_int_t)n));
}

static json_t *closes_json(const bn_mesh_t *m)
{
    json_t *closes = json_object();
    bn_mesh_close_counts(m, add_close, closes);
    return closes;
}

static void add_member(void *ud, const bn_mesh_member_t *n)
{
    json_t *o =
        json_pack("{s:s, s:s, s:i, s:I, s:s, s:b, s:I, s:I, s:s, s:I, s:I}", "name", n->name,
                  "host", n->host, "port", n->port, "incarnation", (json_int_t)n->incarnation,
                  "state", n->state, "hidden", n->hidden, "groups", (json_int_t)n->groups, "digest",
                  (json_int_t)n->digest, "last_down_reason", n->last_down_reason, "downs",
                  (json_int_t)n->downs, "up_ms", (json_int_t)n->up_ms);
    json_object_set_new(o, "link_state", json_string(n->link_state));
    if (n->have_down_ms) {
        json_object_set_new(o, "down_ms", json_integer((json_int_t)n->down_ms));
    }
    if (n->have_link) {
        const bn_mesh_link_info_t *l = &n->link;
        json_t *lo = json_pack(
            "{s:I, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "id", (json_int_t)l->id,
            "direction", l->outbound ? "out" : "in", "addr", l->addr, "encrypted", 1, "msgs_in",
            (json_int_t)l->msgs_in, "msgs_out", (json_int_t)l->msgs_out, "bytes_in",
            (json_int_t)l->bytes_in, "bytes_out", (json_int_t)l->bytes_out, "queued_bytes",
            (json_int_t)l->queued_bytes, "rtt_us", (json_int_t)l->rtt_us, "last_rx_ms_ago",
            (json_int_t)l->last_rx_ms_ago);
        json_object_set_new(lo, "age_ms", json_integer((json_int_t)l->age_ms));
        json_object_set_new(lo, "last_tick_ms_ago",
                            l->have_tick ? json_integer((json_int_t)l->last_tick_ms_ago)
                                         : json_null());
        json_object_set_new(o, "link", lo);
    }
    json_array_append_new(ud, o);
}

json_t *bn_admin_members_json(bn_mesh_t *m)
{
    bn_mesh_info_t info;
    bn_mesh_info(m, &info);
    json_t *nodes = json_array();
    bn_mesh_members(m, add_member, nodes);
    return json_pack("{s:s, s:I, s:i, s:b, s:I, s:I, s:o, s:o}", "node", info.name, "incarnation",
                     (json_int_t)info.incarnation, "port", info.port, "hidden", info.hidden,
                     "local_groups", (json_int_t)info.local_groups, "unknown_frames",
                     (json_int_t)info.unknown_frames, "closes", closes_json(m), "nodes", nodes);
}

static void add_topic(void *ud, const char *topic, size_t len)
{
    json_array_append_new(ud, topic_json(topic, len));
}

typedef struct {
    bn_mesh_t *m;
    json_t *peers;
} peers_ctx_t;

static void add_peer_groups(void *ud, const bn_mesh_member_t *n)
{
    peers_ctx_t *c = ud;
    if (!n->up || n->hidden) {
        return;
    }
    json_t *arr = json_array();
    json_object_set_new(c->peers, n->name, arr);
}

json_t *bn_admin_groups_json(bn_mesh_t *m)
{
    json_t *local = json_array();
    bn_mesh_groups(m, NULL, add_topic, local);
    peers_ctx_t c = {m, json_object()};
    /* Members first (their callback may not call into the mesh), then each
     * up peer's groups. */
    bn_mesh_members(m, add_peer_groups, &c);
    const char *name;
    json_t *arr;
    json_object_foreach(c.peers, name, arr)
    {
        bn_mesh_groups(m, name, add_topic, arr);
    }
    return json_pack("{s:o, s:o}", "local", local, "peers", c.peers);
}

/* ---- the responder ------------------------------------------------------ */

static json_t *admin_error(const char *why)
{
    return json_pack("{s:b, s:s}", "ok", 0, "error", why);
}

static json_t *admin_broadcast(bn_admin_t *a, json_t *req)
{
    const char *topic = NULL;
    const char *event = NULL;
    json_t *payload = NULL;
    if (json_unpack(req, "{s:s, s:s, s:o}", "topic", &topic, "event", &event, "payload",
                    &payload) != 0) {
        return admin_error("broadcast needs topic, event and payload");
    }
    char *text = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return admin_error("payload not encodable");
    }
    bn_payload_t p = bn_payload_raw_json(text, strlen(text));
    size_t n;
    if (a->srv != NULL) {
        /* Through pubsub like any other broadcast: local subscribers and,
         * by the mesh adapter's policy, every up peer holding the topic. */
        n = bn_mesh_group_peers(a->mesh, topic, strlen(topic), NULL, 0);
        bn_server_broadcast(a->srv, topic, event, &p);
    } else {
        n = bn_cluster_broadcast(a->mesh, topic, strlen(topic), event, strlen(event), &p);
    }
    free(text);
    return json_pack("{s:b, s:I}", "ok", 1, "peers", (json_int_t)n);
}

typedef struct {
    bn_admin_t *a;
    json_t *counts;
} counts_ctx_t;

static void add_count(void *ud, const char *topic, size_t len)
{
    counts_ctx_t *c = ud;
    json_object_setn_new(
        c->counts, topic, len,
        json_integer((json_int_t)bn_server_subscriber_count(c->a->srv, topic, len)));
}

/* The groups snapshot plus this node's subscriber count per local topic,
 * so bennuctl can show counts without asking the channel layer itself. */
static json_t *admin_groups(bn_admin_t *a)
{
    json_t *groups = bn_admin_groups_json(a->mesh);
    if (a->srv != NULL) {
        counts_ctx_t c = {a, json_object()};
        bn_mesh_groups(a->mesh, NULL, add_count, &c);
        json_object_set_new(groups, "counts", c.counts);
    }
    return json_pack("{s:b, s:o}", "ok", 1, "groups", groups);
}

typedef struct {
    bn_mesh_t *m;
    const char *topic;
    size_t len;
    json_t *peers;
} topic_ctx_t;

static void add_topic_peer(void *ud, const bn_mesh_member_t *n)
{
    topic_ctx_t *c = ud;
    if (n->up && !n->hidden) {
        json_array_append_new(c->peers, json_string(n->name));
    }
}

/* One topic as this node sees it: whether it holds it locally and which up
 * peers it believes hold it. Asked of every node, it shows divergence. */
static json_t *admin_topic(bn_admin_t *a, json_t *req)
{
    const char *topic = NULL;
    size_t len = 0;
    if (json_unpack(req, "{s:s%}", "topic", &topic, &len) != 0) {
        return admin_error("topic needs a topic");
    }
    topic_ctx_t c = {a->mesh, topic, len, json_array()};
    bn_mesh_members(a->mesh, add_topic_peer, &c);
    /* Keep only the peers holding the topic (asked outside the iteration). */
    for (size_t i = json_array_size(c.peers); i-- > 0;) {
        if (!bn_mesh_has_group(a->mesh, json_string_value(json_array_get(c.peers, i)), topic,
                               len)) {
            json_array_remove(c.peers, i);
        }
    }
    bool local = bn_mesh_has_group(a->mesh, NULL, topic, len);
    json_t *count = a->srv != NULL
                        ? json_integer((json_int_t)bn_server_subscriber_count(a->srv, topic, len))
                        : json_null();
    return json_pack("{s:b, s:s, s:s%, s:b, s:o, s:o}", "ok", 1, "node", bn_mesh_name(a->mesh),
                     "topic", topic, len, "local", local, "count", count, "peers", c.peers);
}

static json_t *admin_stats(bn_admin_t *a)
{
    json_t *stats = a->stats != NULL ? a->stats(a->ud)
                    : a->srv != NULL ? bn_server_stats_json(a->srv)
                                     : NULL;
    if (a->extend_stats != NULL && stats != NULL) {
        a->extend_stats(a->ud, stats);
    }
    bn_mesh_info_t info;
    bn_mesh_info(a->mesh, &info);
    json_t *mesh =
        json_pack("{s:I, s:I, s:o}", "peers_up", (json_int_t)bn_mesh_up_count(a->mesh),
                  "local_groups", (json_int_t)info.local_groups, "closes", closes_json(a->mesh));
    return json_pack("{s:b, s:s, s:o, s:o}", "ok", 1, "node", info.name, "stats",
                     stats != NULL ? stats : json_null(), "mesh", mesh);
}

static json_t *admin_forget(bn_admin_t *a, json_t *req)
{
    const char *node = json_string_value(json_object_get(req, "node"));
    if (node == NULL) {
        return admin_error("forget needs a node");
    }
    if (strcmp(node, bn_mesh_name(a->mesh)) == 0) {
        return admin_error("a node cannot forget itself");
    }
    int r = bn_mesh_forget(a->mesh, node);
    if (r < 0) {
        return admin_error("the node is up: only a down node can be forgotten");
    }
    return json_pack("{s:b, s:s, s:b}", "ok", 1, "node", bn_mesh_name(a->mesh), "forgotten",
                     r == 0);
}

static json_t *admin_presence(bn_admin_t *a, json_t *req)
{
    if (a->srv == NULL) {
        return admin_error("unknown op");
    }
    json_t *topic = json_object_get(req, "topic");
    json_t *out = bn_presence_admin_json(a->srv, json_string_value(topic));
    json_object_set_new(out, "ok", json_true());
    return out;
}

static json_t *admin_handle(bn_admin_t *a, json_t *req)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    if (op == NULL) {
        return admin_error("missing op");
    }
    if (strcmp(op, "members") == 0) {
        return json_pack("{s:b, s:o}", "ok", 1, "members", bn_admin_members_json(a->mesh));
    }
    if (strcmp(op, "groups") == 0) {
        return admin_groups(a);
    }
    if (strcmp(op, "topic") == 0) {
        return admin_topic(a, req);
    }
    if (strcmp(op, "stats") == 0) {
        return admin_stats(a);
    }
    if (strcmp(op, "broadcast") == 0) {
        return admin_broadcast(a, req);
    }
    if (strcmp(op, "forget") == 0) {
        return admin_forget(a, req);
    }
    if (strcmp(op, "presence") == 0) {
        return admin_presence(a, req);
    }
    return admin_error("unknown op");
}

static void admin_respond(void *ud, const char *from, const void *body, size_t len,
                          bn_mesh_answer_t *ans)
{
    bn_admin_t *a = ud;
    json_error_t err;
    json_t *req = json_loadb(body, len, 0, &err);
    json_t *resp;
    if (req == NULL || !json_is_object(req)) {
        resp = admin_error("body is not a JSON object");
    } else {
        const char *op = json_string_value(json_object_get(req, "op"));
        BN_LOG(DEBUG, "mesh_admin_request", "mesh=%s from=%s op=%s", bn_mesh_name(a->mesh),
               BN_LOG_VAL(from), BN_LOG_VAL(op));
        if (op != NULL && strlen(op) < sizeof(ans->tag)) {
            snprintf(ans->tag, sizeof(ans->tag), "%s", op);
        }
        resp = admin_handle(a, req);
    }
    json_decref(req);
    char *text = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    if (text != NULL) {
        ans->body = text;
        ans->len = strlen(text);
    }
}

void bn_admin_attach(bn_admin_t *a, bn_mesh_t *m, bn_server_t *srv)
{
    memset(a, 0, sizeof(*a));
    a->mesh = m;
    a->srv = srv;
    bn_mesh_set_responder(m, admin_respond, a);
}

/* ---- the client --------------------------------------------------------- */

typedef struct {
    bn_admin_cb cb;
    void *ud;
} admin_call_t;

static void on_answer(void *ud, int status, const void *body, size_t len)
{
    admin_call_t *c = ud;
    json_t *resp = NULL;
    if (status == 0) {
        json_error_t err;
        resp = json_loadb(body, len, 0, &err);
        status = resp != NULL ? 0 : UV_EPROTO;
    }
    c->cb(c->ud, status, resp);
    json_decref(resp);
    free(c);
}

int bn_admin_request(bn_mesh_t *m, const char *node, json_t *request, unsigned timeout_ms,
                     bn_admin_cb cb, void *ud)
{
    if (request == NULL || cb == NULL) {
        return UV_EINVAL;
    }
    char *body = json_dumps(request, JSON_COMPACT);
    if (body == NULL) {
        return UV_EINVAL;
    }
    admin_call_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        free(body);
        return UV_ENOMEM;
    }
    c->cb = cb;
    c->ud = ud;
    int rc = bn_mesh_request(m, node, body, strlen(body), timeout_ms, on_answer, c);
    free(body);
    if (rc != 0) {
        free(c);
    }
    return rc;
}
