/* V2 binary frames (PROTOCOL.md 2.3). The client->server push has a 5-byte
 * header (it carries ref) while the server->client push has 4 bytes, so each
 * direction has its own code path rather than a shared struct. */
#include "protocol/internal.h"

#include <string.h>

enum { KIND_PUSH = 0, KIND_REPLY = 1, KIND_BROADCAST = 2 };

#define FIELD_MAX 255

/* Copies one field into a JSON string. jansson validates UTF-8; embedded NUL
 * is refused as well because topic/event are handed out as C strings and a
 * text frame could never carry one either. */
static json_t *field_string(const uint8_t *p, size_t n)
{
    if (memchr(p, '\0', n) != NULL) {
        return NULL;
    }
    return json_stringn((const char *)p, n);
}

int bn_ser_decode_binary(const uint8_t *data, size_t len, bn_msg_t *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    if (len < 1) {
        *err = "empty binary frame";
        return -1;
    }
    if (data[0] != KIND_PUSH) {
        *err = "unknown binary kind";
        return -1;
    }
    if (len < 5) {
        *err = "truncated binary header";
        return -1;
    }
    size_t jl = data[1], rl = data[2], tl = data[3], el = data[4];
    size_t off = 5;
    if (off + jl + rl + tl + el > len) {
        *err = "binary field lengths past end of frame";
        return -1;
    }
    /* root keeps the strings alive: [join_ref, ref, topic, event]. A zero
     * length join_ref or ref is how phoenix.js encodes nil, so it decodes to
     * null (NULL) rather than "". */
    json_t *root = json_array();
    if (root == NULL) {
        *err = "out of memory";
        return -1;
    }
    const size_t lens[4] = {jl, rl, tl, el};
    json_t *vals[4];
    for (int i = 0; i < 4; i++) {
        if (lens[i] == 0 && i < 2) {
            vals[i] = json_null();
        } else {
            vals[i] = field_string(data + off, lens[i]);
        }
        if (vals[i] == NULL || json_array_append_new(root, vals[i]) != 0) {
            json_decref(root);
            *err = i < 2 ? "binary ref is not valid UTF-8"
                         : (i == 2 ? "binary topic is not valid UTF-8"
                                   : "binary event is not valid UTF-8");
            return -1;
        }
        off += lens[i];
    }
    out->join_ref = bn__ref_or_null(vals[0]);
    out->ref = bn__ref_or_null(vals[1]);
    out->topic = json_string_value(vals[2]);
    out->topic_len = tl;
    out->event = json_string_value(vals[3]);
    out->event_len = el;
    out->payload = bn_payload_binary(data + off, len - off);
    out->root = root;
    return 0;
}

/* The binary layout has only byte strings for refs: a JSON string gives its
 * bytes and null gives length 0. Other JSON values (numbers a V2 text client
 * could have sent) have no binary form in Phoenix either, so they are refused
 * rather than guessed at. */
static int ref_bytes(const json_t *v, const char **p, size_t *n, const char **err)
{
    if (v == NULL || json_is_null(v)) {
        *p = "";
        *n = 0;
        return 0;
    }
    if (!json_is_string(v)) {
        *err = "binary frame ref must be a string";
        return -1;
    }
    *p = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

int bn__v2_encode_binary(bn_buf_t **bp, const bn_out_t *o, const char **err)
{
    const char *f[4];
    size_t n[4];
    uint8_t hdr[5];
    size_t nf = 0;

    switch (o->kind) {
    case BN_OUT_PUSH:
        /* Server->client push: kind, J, T, E; no ref on the wire. */
        hdr[0] = KIND_PUSH;
        if (ref_bytes(o->join_ref, &f[0], &n[0], err) != 0) {
            return -1;
        }
        f[1] = o->topic;
        n[1] = o->topic_len;
        f[2] = o->event;
        n[2] = o->event_len;
        nf = 3;
        break;
    case BN_OUT_REPLY:
        /* Reply: kind, J, R, T, S; the status sits where an event would. */
        hdr[0] = KIND_REPLY;
        if (ref_bytes(o->join_ref, &f[0], &n[0], err) != 0 ||
            ref_bytes(o->ref, &f[1], &n[1], err) != 0) {
            return -1;
        }
        f[2] = o->topic;
        n[2] = o->topic_len;
        f[3] = o->status;
        n[3] = strlen(o->status);
        nf = 4;
        break;
    case BN_OUT_BROADCAST:
        hdr[0] = KIND_BROADCAST;
        f[0] = o->topic;
        n[0] = o->topic_len;
        f[1] = o->event;
        n[1] = o->event_len;
        nf = 2;
        break;
    default:
        *err = "unknown message kind";
        return -1;
    }
    for (size_t i = 0; i < nf; i++) {
        if (n[i] > FIELD_MAX) {
            *err = "binary frame field over 255 bytes";
            return -1;
        }
        hdr[1 + i] = (uint8_t)n[i];
    }
    *err = "out of memory";
    if (bn_buf_append(bp, hdr, 1 + nf) != 0) {
        return -1;
    }
    for (size_t i = 0; i < nf; i++) {
        if (n[i] > 0 && bn_buf_append(bp, f[i], n[i]) != 0) {
            return -1;
        }
    }
    if (o->payload->len > 0 && bn_buf_append(bp, o->payload->raw, o->payload->len) != 0) {
        return -1;
    }
    *err = NULL;
    return 0;
}
