/* Cross-file internals of the protocol layer (serializers). Not part of the
 * public API; only the protocol layer's .c files include this. */
#ifndef BN_PROTOCOL_INTERNAL_H
#define BN_PROTOCOL_INTERNAL_H

#include "protocol/message.h"

/* Per-format decoders and encoders, dispatched by message.c. Same contracts
 * as bn_ser_decode_text / bn_ser_encode; encoders append to *bp, which the
 * caller allocated and frees on failure. */
int bn__v1_decode(const char *data, size_t len, bn_msg_t *out, const char **err);
int bn__v2_decode(const char *data, size_t len, bn_msg_t *out, const char **err);
int bn__v1_encode(bn_buf_t **bp, const bn_out_t *o, const char **err);
int bn__v2_encode_text(bn_buf_t **bp, const bn_out_t *o, const char **err);
int bn__v2_encode_binary(bn_buf_t **bp, const bn_out_t *o, const char **err);

/* JSON output helpers (json_out.c). */

/* Appends a NUL-terminated literal. */
int bn__json_append_lit(bn_buf_t **bp, const char *lit);
/* Appends v as compact JSON; NULL is written as `null`. */
int bn__json_append_value(bn_buf_t **bp, const json_t *v);
/* Appends an outbound payload (the value of "payload" or "response"): a JSON
 * payload must be an object, as Phoenix requires of outgoing maps; RAW_JSON is
 * copied unchecked; BINARY is an error here (text encoders only). */
int bn__json_append_payload(bn_buf_t **bp, const bn_payload_t *p, const char **err);

/* Stores a decoded ref (join_ref/ref): JSON null becomes NULL. */
static inline json_t *bn__ref_or_null(json_t *v)
{
    return (v == NULL || json_is_null(v)) ? NULL : v;
}

#endif
