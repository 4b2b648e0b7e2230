/* Phoenix messages and the serializers (V1 JSON, V2 JSON, V2 binary).
 *
 * Pure code, no I/O. Decoders turn one complete transport message (a
 * WebSocket text/binary message or one LongPoll line) into a bn_msg_t;
 * encoders turn an outbound message into a bn_buf_t whose body is the
 * serialized text (or binary frame body), with headroom left for a transport
 * header (see core/buf.h). ../shared/PROTOCOL.md sections 2 and 3 are the
 * reference for every byte. */
#ifndef BN_PROTOCOL_MESSAGE_H
#define BN_PROTOCOL_MESSAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/payload.h"
#include "core/buf.h"

/* Serializer versions negotiated by the `vsn` connect param. */
typedef enum {
    BN_VSN_1 = 1, /* "1.0.x" or absent: JSON objects */
    BN_VSN_2 = 2, /* "2.0.x": JSON arrays + binary frames */
} bn_vsn_t;

#define BN_VSN_COUNT 2

/* Maps a vsn query value (NULL when absent) to a serializer: NULL -> V1,
 * "1.0.x" -> V1, "2.0.x" -> V2 (x any decimal); anything else -> -1 (the
 * connect is refused with 403, as Phoenix does). */
int bn_vsn_parse(const char *vsn);

/* A decoded client message. join_ref and ref are JSON values echoed back
 * verbatim (NULL stands for JSON null or absent). topic and event are
 * NUL-terminated UTF-8. Everything points into `root`, which the message
 * owns; bn_msg_clear releases it. A binary payload points into the input
 * frame, so it lives only as long as the bytes given to the decoder. */
typedef struct bn_msg_s {
    json_t *join_ref;
    json_t *ref;
    const char *topic;
    size_t topic_len;
    const char *event;
    size_t event_len;
    bn_payload_t payload;
    json_t *root;
} bn_msg_t;

void bn_msg_clear(bn_msg_t *m);

/* Decoders return 0 on success or -1 with *err set to a static description
 * ("invalid json", "expected array of 5", "topic must be a string", ...).
 * On failure *out holds nothing that needs clearing. */
int bn_ser_decode_text(bn_vsn_t vsn, const char *data, size_t len, bn_msg_t *out, const char **err);
/* V2 binary push (kind 0) from a client; other kinds are an error. A
 * zero-length join_ref or ref (how phoenix.js encodes nil) decodes to NULL;
 * non-empty ones become JSON strings. Every string field must be valid UTF-8
 * without NUL bytes. */
int bn_ser_decode_binary(const uint8_t *data, size_t len, bn_msg_t *out, const char **err);

/* What an outbound message is; it decides the layout (PROTOCOL.md 2.1-2.3). */
typedef enum {
    BN_OUT_PUSH,      /* channel push or phx_close/phx_error: join_ref, ref, event, payload */
    BN_OUT_REPLY,     /* phx_reply: join_ref, ref, status, response */
    BN_OUT_BROADCAST, /* fastlane broadcast: null join_ref and ref */
} bn_out_kind_t;

typedef struct bn_out_s {
    bn_out_kind_t kind;
    json_t *join_ref; /* NULL = null; borrowed */
    json_t *ref;      /* NULL = null; borrowed; binary push layout ignores it */
    const char *topic;
    size_t topic_len;
    const char *event; /* PUSH and BROADCAST */
    size_t event_len;
    const char *status;          /* REPLY: "ok", "error", ... */
    const bn_payload_t *payload; /* the payload, or for REPLY the response */
} bn_out_t;

/* Encodes o for serializer vsn. Returns a new buffer (refs = 1) whose body is
 * the text (binary = 0) or binary frame (binary = 1), or NULL with *err set:
 * a binary payload on V1, a field over 255 bytes in a binary frame, a
 * non-object JSON payload, OOM. RAW_JSON payloads are copied unchecked. In a
 * binary frame join_ref/ref must be JSON strings or null (null -> length 0);
 * BROADCAST always writes null refs whatever o carries. */
bn_buf_t *bn_ser_encode(bn_vsn_t vsn, const bn_out_t *o, const char **err);

/* Writes `s` (n bytes, valid UTF-8) as a JSON string literal, quotes
 * included, appending to *bp. Returns 0 or -1 on OOM. */
int bn_json_append_string(bn_buf_t **bp, const char *s, size_t n);

#endif
