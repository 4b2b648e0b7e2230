/* V2 JSON serializer: [join_ref, ref, topic, event, payload] arrays
 * (PROTOCOL.md 2.1). */
#include "protocol/internal.h"

#include <string.h>

int bn__v2_decode(const char *data, size_t len, bn_msg_t *out, const char **err)
{
    json_error_t jerr;
    /* No JSON_DECODE_ANY: the top level must be an array or object. NUL in
     * strings is rejected by default, so topic/event are safe C strings. */
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (root == NULL) {
        *err = "invalid json";
        return -1;
    }
    /* Phoenix destructures [join_ref, ref, topic, event, payload | _]. */
    if (!json_is_array(root) || json_array_size(root) < 5) {
        json_decref(root);
        *err = "expected array of 5";
        return -1;
    }
    json_t *topic = json_array_get(root, 2);
    json_t *event = json_array_get(root, 3);
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
    out->join_ref = bn__ref_or_null(json_array_get(root, 0));
    out->ref = bn__ref_or_null(json_array_get(root, 1));
    out->topic = json_string_value(topic);
    out->topic_len = json_string_length(topic);
    out->event = json_string_value(event);
    out->event_len = json_string_length(event);
    out->payload = bn_payload_json(json_array_get(root, 4));
    out->root = root;
    return 0;
}

int bn__v2_encode_text(bn_buf_t **bp, const bn_out_t *o, const char **err)
{
    const json_t *join_ref = o->kind == BN_OUT_BROADCAST ? NULL : o->join_ref;
    const json_t *ref = o->kind == BN_OUT_BROADCAST ? NULL : o->ref;
    const char *event = o->kind == BN_OUT_REPLY ? "phx_reply" : o->event;
    size_t event_len = o->kind == BN_OUT_REPLY ? 9 : o->event_len;

    *err = "out of memory";
    if (bn_buf_append(bp, "[", 1) != 0 || bn__json_append_value(bp, join_ref) != 0 ||
        bn_buf_append(bp, ",", 1) != 0 || bn__json_append_value(bp, ref) != 0 ||
        bn_buf_append(bp, ",", 1) != 0 || bn_json_append_string(bp, o->topic, o->topic_len) != 0 ||
        bn_buf_append(bp, ",", 1) != 0 || bn_json_append_string(bp, event, event_len) != 0 ||
        bn_buf_append(bp, ",", 1) != 0) {
        return -1;
    }
    if (o->kind == BN_OUT_REPLY) {
        /* Phoenix emits small maps with sorted keys: response before status. */
        if (bn__json_append_lit(bp, "{\"response\":") != 0) {
            return -1;
        }
        if (bn__json_append_payload(bp, o->payload, err) != 0) {
            return -1;
        }
        *err = "out of memory";
        if (bn__json_append_lit(bp, ",\"status\":") != 0 ||
            bn_json_append_string(bp, o->status, strlen(o->status)) != 0 ||
            bn_buf_append(bp, "}", 1) != 0) {
            return -1;
        }
    } else if (bn__json_append_payload(bp, o->payload, err) != 0) {
        return -1;
    }
    *err = "out of memory";
    if (bn_buf_append(bp, "]", 1) != 0) {
        return -1;
    }
    *err = NULL;
    return 0;
}
