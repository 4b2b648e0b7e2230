/* The opaque request channel (AdminRequest/AdminResponse frames). Server
 * side: any authenticated peer (in practice a hidden bennuctl node) may send
 * a request; the registered responder (bennu/admin.h in a node) answers it
 * with bytes under the same id. Client side: bn_mesh_request queues a
 * request until a suitable link is up and matches the answer by id. The
 * mesh never looks inside either body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/internal.h"

#define REQUEST_DEFAULT_TIMEOUT_MS 5000u

/* ---- server side -------------------------------------------------------- */

void bn_mesh_set_responder(bn_mesh_t *m, bn_mesh_responder_fn fn, void *ud)
{
    m->responder = fn;
    m->responder_ud = ud;
}

void bn__admin_on_request(bn_mesh_t *m, bn__link_t *l, const bn__msg_t *msg)
{
    bn_mesh_answer_t ans;
    memset(&ans, 0, sizeof(ans));
    l->admin_requests++;
    if (m->responder != NULL) {
        m->responder(m->responder_ud, l->peer_name, msg->u.admin.body.data, msg->u.admin.body.len,
                     &ans);
    }
    const char *tag = ans.tag;
    size_t used = strlen(l->admin_ops);
    if (tag[0] != '\0' && memchr(tag, '\0', sizeof(ans.tag)) != NULL &&
        strstr(l->admin_ops, tag) == NULL && used + strlen(tag) + 2 < sizeof(l->admin_ops)) {
        snprintf(l->admin_ops + used, sizeof(l->admin_ops) - used, "%s%s", used ? "," : "", tag);
    }
    bn__msg_t out;
    memset(&out, 0, sizeof(out));
    out.type = BN__MSG_ADMIN_RESPONSE;
    out.u.admin.id = msg->u.admin.id;
    out.u.admin.body = bn__bytes(ans.body != NULL ? ans.body : "", ans.body != NULL ? ans.len : 0);
    bn__link_send_msg(l, &out);
    free(ans.body);
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
        msg.u.admin.body = bn__bytes(r->body, r->len);
        if (bn__link_send_msg(l, &msg) == 0) {
            r->sent = true;
        }
    }
}

int bn_mesh_request(bn_mesh_t *m, const char *node, const void *req, size_t len,
                    unsigned timeout_ms, bn_mesh_request_cb cb, void *ud)
{
    if (m->closing || (req == NULL && len > 0) || cb == NULL) {
        return UV_EINVAL;
    }
    char *body = malloc(len + 1);
    bn__admin_req_t *r = calloc(1, sizeof(*r));
    char *to = node != NULL ? strdup(node) : NULL;
    if (body == NULL || r == NULL || (node != NULL && to == NULL)) {
        free(body);
        free(r);
        free(to);
        return UV_ENOMEM;
    }
    if (len > 0) {
        memcpy(body, req, len);
    }
    r->id = ++m->next_admin_id;
    r->node = to;
    r->body = body;
    r->len = len;
    r->cb = cb;
    r->ud = ud;
    r->deadline_ms = bn__mesh_now(m) + (timeout_ms ? timeout_ms : REQUEST_DEFAULT_TIMEOUT_MS);
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
    r->cb(r->ud, 0, msg->u.admin.body.data, msg->u.admin.body.len);
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
        r->cb(r->ud, UV_ETIMEDOUT, NULL, 0);
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
        r->cb(r->ud, UV_ECANCELED, NULL, 0);
        admin_req_free(r);
    }
}
