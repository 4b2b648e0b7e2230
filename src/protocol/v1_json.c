/* V1 JSON serializer: {"topic","event","payload","ref"} objects
 * (PROTOCOL.md 2.2). */
#include "protocol/internal.h"

#include <string.h>

int bn__v1_decode(const char *data, size_t len, bn_msg_t *out, const char **err)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (root == NULL) {
        *err = "invalid json";
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *err = "expected object";
        return -1;
    }
    /* All four keys are required (Phoenix raises InvalidMessageError); ref may
     * be null, join_ref may be absent. */
    json_t *topic = json_object_get(root, "topic");
    json_t *event = json_object_get(root, "event");
    json_t *payload = json_object_get(root, "payload");
    json_t *ref = json_object_get(root, "ref");
    if (topic == NULL || event == NULL || payload == NULL || ref == NULL) {
        json_decref(root);
        *err = "missing topic, event, payload or ref";
        return -1;
    }
    if (!json_is_string(topic)) {
        json_decref(root);
        *err = "topic must be a string";
        return -1;
    }
    if (!json_is_string(event)) {
        json_decref(root);
        *err = "event must be a string";
        return -1;
    }
    out->join_ref = bn__ref_or_null(json_object_get(root, "join_ref"));
    out->ref = bn__ref_or_null(ref);
    out->topic = json_string_value(topic);
    out->topic_len = json_string_length(topic);
    out->event = json_string_value(event);
    out->event_len = json_string_length(event);
    out->payload = bn_payload_json(payload);
    out->root = root;
    return 0;
}

int bn__v1_encode(bn_buf_t **bp, const bn_out_t *o, const char **err)
{
    /* V1 never carries join_ref on the wire; a broadcast has a null ref. */
    const json_t *ref = o->kind == BN_OUT_BROADCAST ? NULL : o->ref;
    const char *event = o->kind == BN_OUT_REPLY ? "phx_reply" : o->event;
    size_t event_len = o->kind == BN_OUT_REPLY ? 9 : o->event_len;

    *err = "out of memory";
    if (bn__json_append_lit(bp, "{\"topic\":") != 0 ||
        bn_json_append_string(bp, o->topic, o->topic_len) != 0 ||
        bn__json_append_lit(bp, ",\"event\":") != 0 ||
        bn_json_append_string(bp, event, event_len) != 0 ||
        bn__json_append_lit(bp, ",\"payload\":") != 0) {
        return -1;
    }
    if (o->kind == BN_OUT_REPLY) {
        if (bn__json_append_lit(bp, "{\"status\":") != 0 ||
            bn_json_append_string(bp, o->status, strlen(o->status)) != 0 ||
            bn__json_append_lit(bp, ",\"response\":") != 0) {
            return -1;
        }
        if (bn__json_append_payload(bp, o->payload, err) != 0) {
            return -1;
        }
        *err = "out of memory";
        if (bn_buf_append(bp, "}", 1) != 0) {
            return -1;
        }
    } else if (bn__json_append_payload(bp, o->payload, err) != 0) {
        return -1;
    }
    *err = "out of memory";
    if (bn__json_append_lit(bp, ",\"ref\":") != 0 || bn__json_append_value(bp, ref) != 0 ||
        bn_buf_append(bp, "}", 1) != 0) {
        return -1;
    }
    *err = NULL;
    return 0;
}
