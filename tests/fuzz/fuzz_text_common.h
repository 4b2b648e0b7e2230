/* The body of fuzz_v1_json and fuzz_v2_json: the same oracle for both text
 * serializers, parameterised by vsn.
 *
 * Input: one text frame. When the decoder accepts it:
 *  - topic and event are NUL-free, valid UTF-8 C strings of the stated length;
 *  - a phx_reply built from the decoded refs/topic (response = the payload
 *    when it is an object, {} otherwise) encodes, the output is valid JSON,
 *    and decoding that output gives back the same topic, refs (V1 has only
 *    ref on the wire), event "phx_reply" and response;
 *  - a push of the decoded event round-trips the same way. */
#ifndef BN_FUZZ_TEXT_COMMON_H
#define BN_FUZZ_TEXT_COMMON_H

#include <string.h>

#include "fuzz_common.h"
#include "protocol/message.h"
#include "transport/ws/ws.h"

static bool same_ref(json_t *a, json_t *b)
{
    /* NULL stands for JSON null on both sides. */
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return fuzz_json_equal(a, b);
}

static void check_cstr(const char *s, size_t n, const char *what)
{
    FUZZ_CHECK(s != NULL, what);
    FUZZ_CHECK(strlen(s) == n, what);
    FUZZ_CHECK(bn_utf8_valid((const uint8_t *)s, n), what);
}

static void check_roundtrip(bn_vsn_t vsn, const bn_msg_t *m, bn_out_kind_t kind)
{
    json_t *empty = json_object();
    FUZZ_CHECK(empty != NULL, "json_object");
    json_t *body = (m->payload.kind == BN_PAYLOAD_JSON && json_is_object(m->payload.json))
                       ? m->payload.json
                       : empty;
    bn_payload_t pl = bn_payload_json(body);
    bn_out_t o = {
        .kind = kind,
        .join_ref = m->join_ref,
        .ref = m->ref,
        .topic = m->topic,
        .topic_len = m->topic_len,
        .event = m->event,
        .event_len = m->event_len,
        .status = "ok",
        .payload = &pl,
    };
    const char *err = NULL;
    bn_buf_t *b = bn_ser_encode(vsn, &o, &err);
    FUZZ_CHECK(b != NULL, "encoding a decoded message failed");
    FUZZ_CHECK(!b->binary, "text message encoded as binary");

    json_error_t jerr;
    json_t *j = json_loadb(bn_buf_body(b), b->len, 0, &jerr);
    if (j == NULL) {
        fprintf(stderr, "encoder output: %.*s\njansson: %s\n", (int)b->len, bn_buf_body(b),
                jerr.text);
    }
    FUZZ_CHECK(j != NULL, "encoder output is not valid JSON");
    json_decref(j);

    bn_msg_t back;
    FUZZ_CHECK(bn_ser_decode_text(vsn, bn_buf_body(b), b->len, &back, &err) == 0,
               "encoder output does not decode");
    FUZZ_CHECK(back.topic_len == m->topic_len && memcmp(back.topic, m->topic, m->topic_len) == 0,
               "topic changed in a round trip");
    FUZZ_CHECK(same_ref(back.ref, m->ref), "ref changed in a round trip");
    if (vsn == BN_VSN_2) {
        FUZZ_CHECK(same_ref(back.join_ref, m->join_ref), "join_ref changed in a round trip");
    }
    FUZZ_CHECK(back.payload.kind == BN_PAYLOAD_JSON && json_is_object(back.payload.json),
               "round-trip payload is not an object");
    if (kind == BN_OUT_REPLY) {
        FUZZ_CHECK(strcmp(back.event, "phx_reply") == 0, "reply event is not phx_reply");
        json_t *resp = json_object_get(back.payload.json, "response");
        json_t *status = json_object_get(back.payload.json, "status");
        FUZZ_CHECK(resp != NULL && fuzz_json_equal(resp, body), "reply response changed");
        FUZZ_CHECK(json_is_string(status) && strcmp(json_string_value(status), "ok") == 0,
                   "reply status changed");
    } else {
        FUZZ_CHECK(back.event_len == m->event_len &&
                       memcmp(back.event, m->event, m->event_len) == 0,
                   "push event changed in a round trip");
        FUZZ_CHECK(fuzz_json_equal(back.payload.json, body), "push payload changed");
    }
    bn_msg_clear(&back);
    bn_buf_unref(b);
    json_decref(empty);
}

static int fuzz_text_one(bn_vsn_t vsn, const uint8_t *data, size_t size)
{
    bn_msg_t m;
    const char *err = NULL;
    if (bn_ser_decode_text(vsn, (const char *)data, size, &m, &err) != 0) {
        FUZZ_CHECK(err != NULL, "decode failed without an error string");
        return 0;
    }
    check_cstr(m.topic, m.topic_len, "decoded topic is not a clean UTF-8 C string");
    check_cstr(m.event, m.event_len, "decoded event is not a clean UTF-8 C string");
    FUZZ_CHECK(m.root != NULL, "decoded message has no root");
    FUZZ_CHECK(m.payload.kind == BN_PAYLOAD_JSON && m.payload.json != NULL,
               "text payload is not JSON");
    check_roundtrip(vsn, &m, BN_OUT_REPLY);
    check_roundtrip(vsn, &m, BN_OUT_PUSH);
    bn_msg_clear(&m);
    return 0;
}

#endif
