/* The channels of a config file: join rules, client events (none,
 * broadcast, webhook), presence, and the webhook calls for joins, events
 * and leaves. One channel type serves every route; its route data is the
 * bn_app_route_t. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/config_file.h"
#include "bennu/log.h"
#include "bennu/presence.h"

/* ---------------------------------------------------------------- patterns */

bool bn_app_pattern_valid(const char *pattern, bool *has_user_id)
{
    *has_user_id = false;
    for (const char *p = pattern; *p != '\0'; p++) {
        if (*p == '*' && p[1] != '\0') {
            return false;
        }
        if (*p == '{') {
            if (strncmp(p, "{user_id}", 9) != 0) {
                return false;
            }
            *has_user_id = true;
            p += 8;
        } else if (*p == '}') {
            return false;
        }
    }
    return true;
}

bool bn_app_topic_match(const char *pattern, const char *topic, const char *user_id, bool *owner_ok)
{
    *owner_ok = true;
    const char *p = pattern;
    const char *t = topic;
    while (*p != '\0') {
        if (*p == '*') {
            return true; /* the rest of the topic, possibly empty */
        }
        if (strncmp(p, "{user_id}", 9) == 0) {
            size_t seg = strcspn(t, ":");
            if (seg == 0) {
                return false;
            }
            if (user_id == NULL || strlen(user_id) != seg || strncmp(t, user_id, seg) != 0) {
                *owner_ok = false;
            }
            t += seg;
            p += 9;
            continue;
        }
        if (*p != *t) {
            return false;
        }
        p++;
        t++;
    }
    return *t == '\0';
}

/* ---------------------------------------------------------------- presence */

/* presence: true tracks each joined socket under its user id, else its
 * `name` join param. Phoenix.Presence is bn_presence_track(ch, key, meta)
 * (include/bennu/presence.h), built on another branch; this is the one
 * place to call it from. Until it is wired the route only logs once. */
static void routes_presence_track(bn_channel_t *ch, const char *key)
{
    if (bn_presence_track(ch, key, NULL) != 0) {
        BN_LOG(WARN, "presence_track_failed", "topic=%s key=%s", BN_LOG_VAL(bn_channel_topic(ch)),
               BN_LOG_VAL(key));
    }
}

/* ---------------------------------------------------------------- helpers */

/* The verified user id as text ("7" for 7), or NULL for an anonymous socket. */
static const char *user_id_text(bn_socket_t *s, char *buf, size_t cap)
{
    json_t *u = bn_socket_assigns_get(s, "user_id");
    if (json_is_string(u)) {
        return json_string_value(u);
    }
    if (json_is_integer(u)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(u));
        return buf;
    }
    return NULL;
}

static json_t *user_id_json(bn_socket_t *s)
{
    json_t *u = bn_socket_assigns_get(s, "user_id");
    return u != NULL ? json_incref(u) : json_null();
}

/* A node-unique id for the socket, kept in its assigns. */
static json_t *socket_id_json(bn_app_file_t *f, bn_socket_t *s)
{
    json_t *id = bn_socket_assigns_get(s, "webhook_socket_id");
    if (id == NULL) {
        char buf[300];
        snprintf(buf, sizeof(buf), "%s#%llu", f->node, (unsigned long long)++f->next_socket_id);
        id = json_string(buf);
        bn_socket_assign(s, "webhook_socket_id", id);
    }
    return json_incref(id);
}

static json_t *payload_json(const bn_payload_t *p)
{
    if (p->kind == BN_PAYLOAD_JSON && p->json != NULL) {
        return json_incref(p->json);
    }
    if (p->kind == BN_PAYLOAD_RAW_JSON) {
        json_t *j = json_loadb(p->raw, p->len, JSON_DECODE_ANY, NULL);
        if (j != NULL) {
            return j;
        }
    }
    return json_object();
}

static json_t *reason(const char *why)
{
    return json_pack("{s:s}", "reason", why);
}

typedef struct pending_s {
    bn_channel_t *ch;
    bn_app_route_t *rt;
    char *name; /* the join's `name` param (presence key of an anonymous socket), or NULL */
} pending_t;

/* The `name` join param, or NULL. */
static const char *join_name(const bn_payload_t *params)
{
    if (params == NULL || params->kind != BN_PAYLOAD_JSON) {
        return NULL;
    }
    return json_string_value(json_object_get(params->json, "name"));
}

static void presence_after_join(bn_app_route_t *rt, bn_channel_t *ch, const char *name)
{
    if (!rt->presence) {
        return;
    }
    char buf[32];
    const char *key = user_id_text(bn_channel_socket(ch), buf, sizeof(buf));
    if (key == NULL) {
        key = name;
    }
    if (key != NULL) {
        routes_presence_track(ch, key);
    }
}

/* ---------------------------------------------------------------- join */

static void on_join_answer(void *ud, bn_wh_result_t result, json_t *answer)
{
    pending_t *p = ud;
    bn_channel_t *ch = p->ch;
    bn_app_route_t *rt = p->rt;
    char *name = p->name;
    free(p);
    json_t *ok = json_object_get(answer, "ok");
    if (result != BN_WH_OK || !json_is_boolean(ok)) {
        if (result == BN_WH_OK) {
            BN_LOG(WARN, "webhook_bad_answer", "type=join topic=%s detail=%s",
                   BN_LOG_VAL(bn_channel_topic(ch)), BN_LOG_VAL("no boolean \"ok\""));
        }
        free(name);
        bn_channel_finish(ch, BN_CHAN_ERROR, "error", reason("unavailable"));
        return;
    }
    if (json_is_false(ok)) {
        json_t *r = json_object_get(answer, "reason");
        free(name);
        bn_channel_finish(ch, BN_CHAN_ERROR, "error",
                          reason(json_is_string(r) ? json_string_value(r) : "unauthorized"));
        return;
    }
    json_t *assigns = json_object_get(answer, "assigns");
    if (json_is_object(assigns) && bn_channel_alive(ch)) {
        bn_channel_set_data(ch, json_deep_copy(assigns));
    }
    if (bn_channel_alive(ch)) {
        presence_after_join(rt, ch, name);
    }
    free(name);
    json_t *reply = json_object_get(answer, "reply");
    bn_channel_finish(ch, BN_CHAN_OK, "ok", json_is_object(reply) ? json_incref(reply) : NULL);
}

static bn_chan_result_t route_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *reply)
{
    bn_app_route_t *rt = bn_channel_route_data(ch);
    bn_socket_t *s = bn_channel_socket(ch);
    char buf[32];
    const char *user = user_id_text(s, buf, sizeof(buf));
    bool owner_ok = true;
    if (!bn_app_topic_match(rt->pattern, bn_channel_topic(ch), user, &owner_ok)) {
        /* The router matched the literal prefix only. */
        bn_reply_set(reply, "error", reason("unmatched topic"));
        return BN_CHAN_ERROR;
    }
    if (!owner_ok) {
        bn_reply_set(reply, "error", reason("unauthorized"));
        return BN_CHAN_ERROR;
    }
    switch (rt->join) {
    case BN_APP_JOIN_ANYONE:
    case BN_APP_JOIN_OWNER: /* owner_ok above */
        break;
    case BN_APP_JOIN_TOKEN:
        if (user == NULL) {
            bn_reply_set(reply, "error", reason("unauthorized"));
            return BN_CHAN_ERROR;
        }
        break;
    case BN_APP_JOIN_DENY:
        bn_reply_set(reply, "error", reason("unauthorized"));
        return BN_CHAN_ERROR;
    case BN_APP_JOIN_WEBHOOK: {
        bn_app_file_t *f = rt->file;
        json_t *body =
            json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "type", "join", "topic",
                      bn_channel_topic(ch), "params", payload_json(params), "user_id",
                      user_id_json(s), "socket_id", socket_id_json(f, s), "node", f->node);
        pending_t *p = malloc(sizeof(*p));
        const char *name = rt->presence ? join_name(params) : NULL;
        char *name_copy = name != NULL ? strdup(name) : NULL;
        if (body == NULL || p == NULL || (name != NULL && name_copy == NULL)) {
            json_decref(body);
            free(p);
            free(name_copy);
            bn_reply_set(reply, "error", reason("unavailable"));
            return BN_CHAN_ERROR; /* out of memory: this join fails, nothing else */
        }
        p->ch = ch;
        p->rt = rt;
        p->name = name_copy;
        bn_wh_result_t rc = bn_wh_call(f->wh, body, on_join_answer, p);
        json_decref(body);
        if (rc != BN_WH_OK) {
            free(p->name);
            free(p);
            bn_reply_set(reply, "error", reason("unavailable"));
            return BN_CHAN_ERROR;
        }
        return BN_CHAN_ASYNC;
    }
    }
    presence_after_join(rt, ch, join_name(params));
    return BN_CHAN_OK;
}

/* ---------------------------------------------------------------- events */

static void on_event_answer(void *ud, bn_wh_result_t result, json_t *answer)
{
    pending_t *p = ud;
    bn_channel_t *ch = p->ch;
    free(p);
    if (result != BN_WH_OK) {
        bn_channel_finish(ch, BN_CHAN_REPLY, "error", reason("unavailable"));
        return;
    }
    json_t *bc = json_object_get(answer, "broadcast");
    const char *bc_event = json_string_value(json_object_get(bc, "event"));
    if (bc_event != NULL && bn_channel_alive(ch)) {
        json_t *bp = json_object_get(bc, "payload");
        json_t *empty = NULL;
        if (!json_is_object(bp)) {
            bp = empty = json_object();
        }
        bn_payload_t pl = bn_payload_json(bp);
        bn_channel_broadcast(ch, bc_event, &pl);
        json_decref(empty);
    }
    json_t *reply = json_object_get(answer, "reply");
    const char *status = json_string_value(json_object_get(answer, "reply_status"));
    json_t *resp = json_is_object(reply) ? json_incref(reply) : NULL;
    if (json_is_true(json_object_get(answer, "stop"))) {
        bn_channel_finish(ch, BN_CHAN_STOP, reply != NULL ? (status ? status : "ok") : NULL, resp);
    } else if (reply != NULL) {
        bn_channel_finish(ch, BN_CHAN_REPLY, status ? status : "ok", resp);
    } else {
        json_decref(resp);
        bn_channel_finish(ch, BN_CHAN_OK, NULL, NULL);
    }
}

static bn_chan_result_t route_handle_in(bn_channel_t *ch, const char *event,
                                        const bn_payload_t *payload, bn_reply_t *reply)
{
    bn_app_route_t *rt = bn_channel_route_data(ch);
    switch (rt->events) {
    case BN_APP_EVENTS_NONE:
        return BN_CHAN_CRASH; /* as an unmatched handle_in clause */
    case BN_APP_EVENTS_BROADCAST:
        bn_channel_broadcast(ch, event, payload);
        return BN_CHAN_OK;
    case BN_APP_EVENTS_WEBHOOK:
        break;
    }
    if (payload->kind == BN_PAYLOAD_BINARY) {
        bn_reply_set(reply, "error", reason("binary payloads are not forwarded to the webhook"));
        return BN_CHAN_REPLY;
    }
    bn_app_file_t *f = rt->file;
    bn_socket_t *s = bn_channel_socket(ch);
    json_t *assigns = bn_channel_data(ch);
    json_t *body = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "type", "event", "topic",
                             bn_channel_topic(ch), "event", event, "payload", payload_json(payload),
                             "user_id", user_id_json(s), "socket_id", socket_id_json(f, s),
                             "assigns", assigns != NULL ? json_incref(assigns) : json_object());
    pending_t *p = malloc(sizeof(*p));
    if (body == NULL || p == NULL) {
        /* Out of memory: this event fails as an unreachable backend would. */
        json_decref(body);
        free(p);
        bn_reply_set(reply, "error", reason("unavailable"));
        return BN_CHAN_REPLY;
    }
    p->ch = ch;
    p->rt = rt;
    bn_wh_result_t rc = bn_wh_call(f->wh, body, on_event_answer, p);
    json_decref(body);
    if (rc != BN_WH_OK) {
        free(p);
        bn_reply_set(reply, "error", reason("unavailable"));
        return BN_CHAN_REPLY;
    }
    return BN_CHAN_ASYNC;
}

static void route_terminate(bn_channel_t *ch, bn_stop_reason_t why)
{
    bn_app_route_t *rt = bn_channel_route_data(ch);
    json_t *assigns = bn_channel_data(ch);
    bn_channel_set_data(ch, NULL);
    if (rt->leave_webhook && rt->file->wh != NULL) {
        bn_socket_t *s = bn_channel_socket(ch);
        json_t *body = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "type", "leave", "topic",
                                 bn_channel_topic(ch), "user_id", user_id_json(s), "socket_id",
                                 socket_id_json(rt->file, s), "reason", bn_stop_reason_name(why),
                                 "node", rt->file->node);
        if (body != NULL) {
            bn_wh_call(rt->file->wh, body, NULL, NULL); /* fire and forget */
            json_decref(body);
        }
    }
    json_decref(assigns);
}

static const bn_channel_type_t config_channel = {
    .name = "config",
    .join = route_join,
    .handle_in = route_handle_in,
    .terminate = route_terminate,
};

int bn_app_file_install(bn_app_file_t *f, bn_server_t *srv, uv_loop_t *loop)
{
    if (f == NULL || !f->have_channels) {
        return 0;
    }
    if (f->have_webhook && (f->wh = bn_wh_new(loop, &f->wh_cfg)) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < f->n_routes; i++) {
        if (bn_server_route(srv, f->routes[i].router_pattern, &config_channel, &f->routes[i]) !=
            0) {
            BN_LOG(ERROR, "route_failed", "topic=%s", BN_LOG_VAL(f->routes[i].pattern));
        }
    }
    return 1;
}
