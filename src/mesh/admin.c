/* Admin requests over the mesh. Server side: any authenticated peer (in
 * practice a hidden bennuctl node) may send an AdminRequest with a JSON
 * body; the answer is an AdminResponse with the same id. Client side:
 * bn_mesh_admin_request queues a request until a suitable link is up and
 * matches the answer by id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/log.h"
#include "mesh/internal.h"

#define ADMIN_DEFAULT_TIMEOUT_MS 5000u

/* ---- server side -------------------------------------------------------- */

static json_t *admin_error(const char *why)
{
    return json_pack("{s:b, s:s}", "ok", 0, "error", why);
}

static json_t *admin_broadcast(bn_mesh_t *m, json_t *req)
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
    /* A broadcast injected by an admin tool reaches local subscribers too,
     * exactly as one published on this node would. */
    if (m->cb.deliver != NULL) {
        m->cb.deliver(m->ud, topic, strlen(topic), event, strlen(event), &p);
    }
    size_t n = bn_mesh_broadcast(m, topic, strlen(topic), event, strlen(event), &p);
    free(text);
    return json_pack("{s:b, s:I}", "ok", 1, "peers", (json_int_t)n);
}

/* The groups snapshot plus this node's subscriber count per local topic,
 * so bennuctl can show counts without asking the channel layer itself. */
static json_t *admin_groups(bn_mesh_t *m)
{
    json_t *groups = bn_mesh_groups_json(m);
    if (m->cb.local_count != NULL) {
        json_t *counts = json_object();
        for (bn__topic_t *t = m->local.head; t != NULL; t = t->hh.next) {
            char *key = strndup(t->key, t->len);
            if (key == NULL) {
                abort();
            }
            json_object_set_new(counts, key,
                                json_integer((json_int_t)m->cb.local_count(m->ud, t->key, t->len)));
            free(key);
        }
        json_object_set_new(groups, "counts", counts);
    }
    return json_pack("{s:b, s:o}", "ok", 1, "groups", groups);
}

/* One topic as this node sees it: whether it holds it locally and which up
 * peers it believes hold it. Asked of every node, it shows divergence. */
static json_t *admin_topic(bn_mesh_t *m, json_t *req)
{
    const char *topic = NULL;
    size_t len = 0;
    if (json_unpack(req, "{s:s%}", "topic", &topic, &len) != 0) {
        return admin_error("topic needs a topic");
    }
    json_t *peers = json_array();
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        if (n->state == BN__NODE_UP && !n->hidden && bn__gset_has(&n->groups, topic, len)) {
            json_array_append_new(peers, json_string(n->name));
        }
    }
    bool local = bn__gset_has(&m->local, topic, len);
    json_t *count = m->cb.local_count != NULL
                        ? json_integer((json_int_t)m->cb.local_count(m->ud, topic, len))
                        : json_null();
    return json_pack("{s:b, s:s, s:s%, s:b, s:o, s:o}", "ok", 1, "node", m->name, "topic", topic,
                     len, "local", local, "count", count, "peers", peers);
}

static json_t *admin_stats(bn_mesh_t *m)
{
    json_t *stats = m->cb.stats != NULL ? m->cb.stats(m->ud) : NULL;
    json_t *closes = json_object();
    for (int r = 0; r < BN__CLOSE_COUNT; r++) {
        if (m->closes[r] != 0) {
            json_object_set_new(closes, bn__close_reason_name((bn__close_reason_t)r),
                                json_integer((json_int_t)m->closes[r]));
        }
    }
    json_t *mesh = json_pack("{s:I, s:I, s:o}", "peers_up", (json_int_t)bn_mesh_up_count(m),
                             "local_groups", (json_int_t)m->local.count, "closes", closes);
    return json_pack("{s:b, s:s, s:o, s:o}", "ok", 1, "node", m->name, "stats",
                     stats != NULL ? stats : json_null(), "mesh", mesh);
}

static json_t *admin_handle(bn_mesh_t *m, json_t *req)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    if (op == NULL) {
        return admin_error("missing op");
    }
    if (strcmp(op, "members") == 0) {
        return json_pack("{s:b, s:o}", "ok", 1, "members", bn_mesh_members_json(m));
    }
    if (strcmp(op, "groups") == 0) {
        return admin_groups(m);
    }
    if (strcmp(op, "topic") == 0) {
        return admin_topic(m, req);
    }
    if (strcmp(op, "stats") == 0) {
        return admin_stats(m);
    }
    if (strcmp(op, "broadcast") == 0) {
        return admin_broadcast(m, req);
    }
    if (strcmp(op, "forget") == 0) {
        const char *node = json_string_value(json_object_get(req, "node"));
        if (node == NULL) {
            return admin_error("forget needs a node");
        }
        if (strcmp(node, m->name) == 0) {
            return admin_error("a node cannot forget itself");
        }
        int r = bn__node_forget(m, node);
        if (r < 0) {
            return admin_error("the node is up: only a down node can be forgotten");
        }
        return json_pack("{s:b, s:s, s:b}", "ok", 1, "node", m->name, "forgotten", r == 0);
    }
    json_t *ext = m->cb.admin != NULL ? m->cb.admin(m->ud, op, req) : NULL;
    return ext != NULL ? ext : admin_error("unknown op");
}

void bn__admin_on_request(bn_mesh_t *m, bn__link_t *l, const bn__msg_t *msg)
{
    json_error_t err;
    json_t *req = json_loadb((const char *)msg->u.admin.body.data, msg->u.admin.body.len, 0, &err);
    json_t *resp;
    if (req == NULL || !json_is_object(req)) {
        resp = admin_error("body is not a JSON object");
    } else {
        const char *op = json_string_value(json_object_get(req, "op"));
        BN_LOG(DEBUG, "mesh_admin_request", "mesh=%s from=%s op=%s", m->name,
               BN_LOG_VAL(l->peer_name), BN_LOG_VAL(op));
        l->admin_requests++;
        size_t used = strlen(l->admin_ops);
        if (op != NULL && strstr(l->admin_ops, op) == NULL &&
            used + strlen(op) + 2 < sizeof(l->admin_ops)) {
            snprintf(l->admin_ops + used, sizeof(l->admin_ops) - used, "%s%s", used ? "," : "", op);
        }
        resp = admin_handle(m, req);
    }
    json_decref(req);
    char *text = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    if (text == NULL) {
        return;
    }
    bn__msg_t out;
    memset(&out, 0, sizeof(out));
    out.type = BN__MSG_ADMIN_RESPONSE;
    out.u.admin.id = msg->u.admin.id;
    out.u.admin.body = bn__bytes(text, strlen(text));
    bn__link_send_msg(l, &out);
    free(text);
}

/* ---- client side -------------------------------------------------------- */

static void admin_req_free(bn__admin_req_t *r)
{
    free(r->node);
    free(r->body);
    free(r);
}

static bn__link_t *admin_target(bn_mesh_t *m, const char *node)
{
    if (node != NULL) {
        bn__node_t *n = bn__node_find(m, node);
        return n != NULL && bn__link_usable(n->link) ? n->link : NULL;
    }
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        if (bn__link_usable(n->link)) {
            return n->link;
        }
    }
    return NULL;
}

void bn__admin_flush(bn_mesh_t *m)
{
    for (bn__admin_req_t *r = m->admin; r != NULL; r = r->next) {
        if (r->sent) {
            continue;
        }
        bn__link_t *l = admin_target(m, r->node);
        if (l == NULL) {
            continue;
        }
        bn__msg_t msg;
        memset(&msg, 0, sizeof(msg));
        msg.type = BN__MSG_ADMIN_REQUEST;
        msg.u.admin.id = r->id;
        msg.u.admin.body = bn__bytes(r->body, strlen(r->body));
        if (bn__link_send_msg(l, &msg) == 0) {
            r->sent = true;
        }
    }
}

int bn_mesh_admin_request(bn_mesh_t *m, const char *node, json_t *request, unsigned timeout_ms,
                          bn_mesh_admin_cb cb, void *ud)
{
    if (m->closing || request == NULL || cb == NULL) {
        return UV_EINVAL;
    }
    char *body = json_dumps(request, JSON_COMPACT);
    if (body == NULL) {
        return UV_EINVAL;
    }
    bn__admin_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        abort();
    }
    r->id = ++m->next_admin_id;
    r->node = node != NULL ? strdup(node) : NULL;
    r->body = body;
    r->cb = cb;
    r->ud = ud;
    r->deadline_ms = bn__mesh_now(m) + (timeout_ms ? timeout_ms : ADMIN_DEFAULT_TIMEOUT_MS);
    /* Appended so requests go out in the order they were made. */
    bn__admin_req_t **pp = &m->admin;
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = r;
    bn__admin_flush(m);
    return 0;
}

static bn__admin_req_t *admin_take(bn_mesh_t *m, uint64_t id)
{
    for (bn__admin_req_t **pp = &m->admin; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            bn__admin_req_t *r = *pp;
            *pp = r->next;
            return r;
        }
    }
    return NULL;
}

void bn__admin_on_response(bn_mesh_t *m, const bn__msg_t *msg)
{
    bn__admin_req_t *r = admin_take(m, msg->u.admin.id);
    if (r == NULL) {
        return;
    }
    json_error_t err;
    json_t *resp = json_loadb((const char *)msg->u.admin.body.data, msg->u.admin.body.len, 0, &err);
    r->cb(r->ud, resp != NULL ? 0 : UV_EPROTO, resp);
    json_decref(resp);
    admin_req_free(r);
}

void bn__admin_sweep(bn_mesh_t *m, uint64_t now)
{
    bn__admin_req_t **pp = &m->admin;
    while (*pp != NULL) {
        bn__admin_req_t *r = *pp;
        if (now < r->deadline_ms) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        r->cb(r->ud, UV_ETIMEDOUT, NULL);
        admin_req_free(r);
        /* The callback may have added or answered requests: restart. */
        pp = &m->admin;
    }
}

void bn__admin_cancel_all(bn_mesh_t *m)
{
    while (m->admin != NULL) {
        bn__admin_req_t *r = m->admin;
        m->admin = r->next;
        r->cb(r->ud, UV_ECANCELED, NULL);
        admin_req_free(r);
    }
}
