/* Dispatch between serializers, and message lifetime. */
#include "protocol/internal.h"

#include <string.h>

void bn_msg_clear(bn_msg_t *m)
{
    if (m == NULL) {
        return;
    }
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

int bn_ser_decode_text(bn_vsn_t vsn, const char *data, size_t len, bn_msg_t *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    switch (vsn) {
    case BN_VSN_1:
        return bn__v1_decode(data, len, out, err);
    case BN_VSN_2:
        return bn__v2_decode(data, len, out, err);
    }
    *err = "unknown serializer";
    return -1;
}

/* A first guess at the encoded size so the common case does not realloc:
 * the fixed fields plus the payload when its size is known. */
static size_t size_hint(const bn_out_t *o)
{
    size_t n = 96 + o->topic_len + o->event_len;
    if (o->payload != NULL && o->payload->kind != BN_PAYLOAD_JSON) {
        n += o->payload->len;
    } else {
        n += 128;
    }
    return n;
}

bn_buf_t *bn_ser_encode(bn_vsn_t vsn, const bn_out_t *o, const char **err)
{
    if (o->payload == NULL) {
        *err = "missing payload";
        return NULL;
    }
    if (o->kind != BN_OUT_PUSH && o->kind != BN_OUT_REPLY && o->kind != BN_OUT_BROADCAST) {
        *err = "unknown message kind";
        return NULL;
    }
    if (o->kind == BN_OUT_REPLY && o->status == NULL) {
        *err = "reply without status";
        return NULL;
    }
    if (o->kind != BN_OUT_REPLY && o->event == NULL) {
        *err = "missing event";
        return NULL;
    }
    if (o->topic == NULL) {
        *err = "missing topic";
        return NULL;
    }
    bool binary = o->payload->kind == BN_PAYLOAD_BINARY;
    if (binary && vsn != BN_VSN_2) {
        /* V1 has no binary frames (PROTOCOL.md 2.2). */
        *err = "binary payload needs serializer 2.0.0";
        return NULL;
    }
    if (vsn != BN_VSN_1 && vsn != BN_VSN_2) {
        *err = "unknown serializer";
        return NULL;
    }
    bn_buf_t *b = bn_buf_new(size_hint(o));
    if (b == NULL) {
        *err = "out of memory";
        return NULL;
    }
    int rc;
    if (binary) {
        rc = bn__v2_encode_binary(&b, o, err);
        b->binary = 1;
    } else if (vsn == BN_VSN_2) {
        rc = bn__v2_encode_text(&b, o, err);
    } else {
        rc = bn__v1_encode(&b, o, err);
    }
    if (rc != 0) {
        bn_buf_unref(b);
        return NULL;
    }
    return b;
}
