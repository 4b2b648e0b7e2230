/* The demo chat application of the default server, written only with the
 * public API (include/bennu/):
 *   room:lobby   anyone may join
 *   room:secret  only a socket whose connect verified a user token
 *   room:*       any other: join refused with {"reason":"unauthorized"}
 *   new_msg      {"body": b} broadcast to every subscriber, no reply
 *   ping         reply ok with the same payload (JSON or binary) */
#include <string.h>

#include "app/chat_channel.h"

static bn_chan_result_t chat_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *reply)
{
    (void)params;
    const char *topic = bn_channel_topic(ch);
    if (strcmp(topic, "room:lobby") == 0) {
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
        json_t *body = payload->kind == BN_PAYLOAD_JSON ? json_object_get(payload->json, "body")
                                                        : NULL;
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
