/* Fuzzes the V2 binary frame decoder (PROTOCOL.md 2.3).
 *
 * Input: one binary WebSocket message from a client. When the decoder
 * accepts it:
 *  - the decoded fields are NUL-free UTF-8 and the payload is the tail of the
 *    input (5 + J + R + T + E bytes in);
 *  - a binary reply, push and broadcast built from the decoded message
 *    encode, and their headers are parsed back here: kind byte, each length
 *    byte equal to its field, the fields' bytes, and the total length equal
 *    to header + fields + payload. */
#include <string.h>

#include "fuzz_common.h"
#include "protocol/message.h"
#include "transport/ws/ws.h"

static void ref_field(const json_t *v, const char **p, size_t *n)
{
    if (v == NULL) {
        *p = "";
        *n = 0;
        return;
    }
    FUZZ_CHECK(json_is_string(v), "binary-decoded ref is not a string");
    *p = json_string_value(v);
    *n = json_string_length(v);
    FUZZ_CHECK(*n > 0, "empty binary ref should have decoded to null");
}

/* Parses kind, then nf length bytes, then the fields; compares each. */
static void check_frame(const bn_buf_t *b, uint8_t kind, size_t nf, const char *const *f,
                        const size_t *n, const bn_payload_t *pl)
{
    const uint8_t *p = (const uint8_t *)b->mem + BN_BUF_HEADROOM;
    size_t len = b->len;
    FUZZ_CHECK(b->binary, "binary payload not encoded as a binary message");
    FUZZ_CHECK(len >= 1 + nf, "binary frame shorter than its header");
    FUZZ_CHECK(p[0] == kind, "binary frame kind byte");
    size_t off = 1 + nf;
    for (size_t i = 0; i < nf; i++) {
        FUZZ_CHECK(p[1 + i] == n[i], "binary header length byte differs from the field");
        FUZZ_CHECK(off + n[i] <= len, "binary field past end of frame");
        FUZZ_CHECK(n[i] == 0 || memcmp(p + off, f[i], n[i]) == 0, "binary field bytes differ");
        off += n[i];
    }
    FUZZ_CHECK(len - off == pl->len, "binary frame length != header + fields + payload");
    FUZZ_CHECK(pl->len == 0 || memcmp(p + off, pl->raw, pl->len) == 0,
               "binary payload bytes differ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_msg_t m;
    const char *err = NULL;
    if (bn_ser_decode_binary(data, size, &m, &err) != 0) {
        FUZZ_CHECK(err != NULL, "decode failed without an error string");
        return 0;
    }
    FUZZ_CHECK(size >= 5 && data[0] == 0, "accepted a frame that is not a kind-0 push");
    FUZZ_CHECK(m.topic_len == data[3] && m.event_len == data[4], "topic/event lengths");
    FUZZ_CHECK(strlen(m.topic) == m.topic_len && strlen(m.event) == m.event_len,
               "topic/event contain NUL");
    FUZZ_CHECK(bn_utf8_valid((const uint8_t *)m.topic, m.topic_len) &&
                   bn_utf8_valid((const uint8_t *)m.event, m.event_len),
               "topic/event not UTF-8");
    size_t hdr = 5u + data[1] + data[2] + data[3] + data[4];
    FUZZ_CHECK(m.payload.kind == BN_PAYLOAD_BINARY && m.payload.raw == (const char *)data + hdr &&
                   m.payload.len == size - hdr,
               "binary payload is not the tail of the frame");

    const char *jr, *rf;
    size_t jn, rn;
    ref_field(m.join_ref, &jr, &jn);
    ref_field(m.ref, &rf, &rn);
    FUZZ_CHECK(jn == data[1] && rn == data[2], "ref lengths");

    bn_out_t o = {
        .join_ref = m.join_ref,
        .ref = m.ref,
        .topic = m.topic,
        .topic_len = m.topic_len,
        .event = m.event,
        .event_len = m.event_len,
        .status = "ok",
        .payload = &m.payload,
    };

    o.kind = BN_OUT_REPLY;
    bn_buf_t *b = bn_ser_encode(BN_VSN_2, &o, &err);
    FUZZ_CHECK(b != NULL, "binary reply did not encode");
    {
        const char *f[4] = {jr, rf, m.topic, "ok"};
        size_t n[4] = {jn, rn, m.topic_len, 2};
        check_frame(b, 1, 4, f, n, &m.payload);
    }
    bn_buf_unref(b);

    o.kind = BN_OUT_PUSH;
    b = bn_ser_encode(BN_VSN_2, &o, &err);
    FUZZ_CHECK(b != NULL, "binary push did not encode");
    {
        const char *f[3] = {jr, m.topic, m.event};
        size_t n[3] = {jn, m.topic_len, m.event_len};
        check_frame(b, 0, 3, f, n, &m.payload);
    }
    bn_buf_unref(b);

    o.kind = BN_OUT_BROADCAST;
    b = bn_ser_encode(BN_VSN_2, &o, &err);
    FUZZ_CHECK(b != NULL, "binary broadcast did not encode");
    {
        const char *f[2] = {m.topic, m.event};
        size_t n[2] = {m.topic_len, m.event_len};
        check_frame(b, 2, 2, f, n, &m.payload);
    }
    bn_buf_unref(b);

    /* V1 has no binary frames: the encoder must refuse, not crash. */
    o.kind = BN_OUT_REPLY;
    FUZZ_CHECK(bn_ser_encode(BN_VSN_1, &o, &err) == NULL, "V1 encoded a binary payload");

    bn_msg_clear(&m);
    return 0;
}
