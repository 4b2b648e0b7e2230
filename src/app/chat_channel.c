/* The demo chat application of the default server, written only with the
 * public API (include/bennu/):
 *   room:lobby   anyone may join
 *   room:secret  only a socket whose connect verified a user token
 *   room:*       any other: join refused with {"reason":"unauthorized"}
 *   new_msg      {"body": b} broadcast to every subscriber, no reply
 *   ping         reply ok with the same payload (JSON or binary)
 * Presence in room:lobby: each socket is tracked under its verified user id,
 * else the `name` join param, else a per-socket anonymous key, with meta
 * {"node": this node's name, "online_at": unix seconds as a string}; the
 * client gets presence_state after the join reply, then presence_diffs.
 * The route's user data is the node name (a string, may be empty). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/chat_channel.h"
#include "bennu/presence.h"

static unsigned long long g_anon;

/* The presence key of the joining socket (docs/presence.md "Demo chat"). */
static void presence_key(bn_channel_t *ch, const bn_payload_t *params, char *out, size_t cap)
{
    bn_socket_t *s = bn_channel_socket(ch);
    json_t *user = bn_socket_assigns_get(s, "user_id");
    if (json_is_string(user)) {
        snprintf(out, cap, "%s", json_string_value(user));
        return;
    }
    if (json_is_integer(user)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(user));
        return;
    }
    json_t *name = params->kind == BN_PAYLOAD_JSON ? json_object_get(params->json, "name") : NULL;
    if (json_is_string(name) && json_string_length(name) > 0 && json_string_length(name) <= 64) {
        snprintf(out, cap, "%s", json_string_value(name));
        return;
    }
    json_t *anon = bn_socket_assigns_get(s, "presence_anon");
    if (!json_is_string(anon)) {
        /* Unique in the cluster: the node name is part of it. */
        const char *node = bn_channel_route_data(ch);
        char buf[320];
        snprintf(buf, sizeof(buf), "anon-%llu@%s", ++g_anon, node != NULL ? node : "");
        bn_socket_assign(s, "presence_anon", json_string(buf));
        anon = bn_socket_assigns_get(s, "presence_anon");
    }
    snprintf(out, cap, "%s", json_string_value(anon));
}

static bn_chan_result_t chat_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *reply)
{
    const char *topic = bn_channel_topic(ch);
    if (strcmp(topic, "room:lobby") == 0) {
        char key[128];
        presence_key(ch, params, key, sizeof(key));
        const char *node = bn_channel_route_data(ch);
        char online_at[32];
        snprintf(online_at, sizeof(online_at), "%lld", (long long)time(NULL));
        /* A failed track (the room is at its cap) leaves the join as it is:
         * the member is online but not listed (logged "presence_cap"). */
        bn_presence_track(
            ch, key,
            json_pack("{s:s, s:s}", "node", node != NULL ? node : "", "online_at", online_at));
        return BN_CHAN_OK;
    }
    if (strcmp(topic, "room:secret") == 0 &&
        bn_socket_assigns_get(bn_channel_socket(ch), "user_id") != NULL) {
        return BN_CHAN_OK;
    }
    bn_reply_set(reply, "error", json_pack("{s:s}", "reason", "unauthorized"));
    return BN_CHAN_ERROR;
}

static bn_chan_result_t chat_handle_in(bn_channel_t *ch, const char *event,
                                       const bn_payload_t *payload, bn_reply_t *reply)
{
    if (strcmp(event, "new_msg") == 0) {
        json_t *body =
            payload->kind == BN_PAYLOAD_JSON ? json_object_get(payload->json, "body") : NULL;
        if (body == NULL) {
            /* Phoenix's pattern match %{"body" => body} would raise here. */
            return BN_CHAN_CRASH;
        }
        json_t *msg = json_pack("{s:O}", "body", body);
        bn_payload_t p = bn_payload_json(msg);
        bn_channel_broadcast(ch, "new_msg", &p);
        json_decref(msg);
        return BN_CHAN_OK;
    }
    if (strcmp(event, "ping") == 0) {
        if (payload->kind == BN_PAYLOAD_BINARY) {
            bn_reply_set_binary(reply, "ok", payload->raw, payload->len);
        } else if (json_is_object(payload->json)) {
            bn_reply_set(reply, "ok", json_incref(payload->json));
        } else {
            bn_reply_set(reply, "ok", json_object());
        }
        return BN_CHAN_REPLY;
    }
    return BN_CHAN_CRASH; /* unknown event: no matching handle_in clause */
}

const bn_channel_type_t bn_chat_channel = {
    .name = "ChatChannel",
    .intercept = NULL,
    .join = chat_join,
    .handle_in = chat_handle_in,
    .handle_out = NULL,
    .terminate = NULL,
};
