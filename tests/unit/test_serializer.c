/* Serializers (src/protocol): every example of PROTOCOL.md 2.1-2.3 byte for
 * byte, vsn negotiation, bad-input tables for all three decoders, encoder
 * errors and string escaping. Run under ASan to catch leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "protocol/message.h"

#define LIT(s) s, sizeof(s) - 1

/* ---- helpers ---------------------------------------------------------- */

static void expect_body(const char *name, bn_buf_t *b, const char *want, size_t want_len,
                        int binary)
{
    if (b == NULL) {
        fail_msg("%s: encoder returned NULL", name);
    }
    if (b->len != want_len || memcmp(bn_buf_body(b), want, want_len) != 0) {
        fail_msg("%s: got '%.*s' (%zu bytes), want '%.*s' (%zu bytes)", name, (int)b->len,
                 bn_buf_body(b), b->len, (int)want_len, want, want_len);
    }
    assert_int_equal(b->binary, binary);
    assert_int_equal(b->head, 0);
    bn_buf_unref(b);
}

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    return v;
}

/* Compact dump of a decoded JSON value, "null" for NULL, into dst. */
static const char *dump(const json_t *v, char *dst, size_t n)
{
    if (v == NULL) {
        snprintf(dst, n, "null");
        return dst;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(s);
    snprintf(dst, n, "%s", s);
    free(s);
    return dst;
}

/* ---- vsn -------------------------------------------------------------- */

static void test_vsn_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int want;
    } cases[] = {
        {NULL, BN_VSN_1},
        {"1.0.0", BN_VSN_1},
        {"1.0.12", BN_VSN_1},
        {"2.0.0", BN_VSN_2},
        {"2.0.7", BN_VSN_2},
        {"2.0.123", BN_VSN_2},
        {"", -1},
        {"1", -1},
        {"1.0", -1},
        {"1.0.", -1},
        {"1.1.0", -1},
        {"2.1.0", -1},
        {"3.0.0", -1},
        {"2.0.0-rc1", -1},
        {"2.0.x", -1},
        {" 2.0.0", -1},
        {"2.0.0 ", -1},
        {"v2.0.0", -1},
        {"12.0.0", -1},
        {"2.00.0", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = bn_vsn_parse(cases[i].in);
        if (got != cases[i].want) {
            fail_msg("vsn '%s': got %d want %d", cases[i].in ? cases[i].in : "(null)", got,
                     cases[i].want);
        }
    }
}

/* ---- decoding good input ---------------------------------------------- */

typedef struct {
    const char *name;
    bn_vsn_t vsn;
    const char *in;
    const char *join_ref; /* compact JSON of the echoed value, "null" for NULL */
    const char *ref;
    const char *topic;
    const char *event;
    const char *payload;
} decode_case_t;

static void test_decode_text_good(void **state)
{
    (void)state;
    static const decode_case_t cases[] = {
        /* PROTOCOL.md 2.1, client -> server lines. */
        {"v2 join", BN_VSN_2, "[\"3\",\"3\",\"room:lobby\",\"phx_join\",{\"token\":\"x\"}]",
         "\"3\"", "\"3\"", "room:lobby", "phx_join", "{\"token\":\"x\"}"},
        {"v2 push", BN_VSN_2, "[\"3\",\"4\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]", "\"3\"",
         "\"4\"", "room:lobby", "new_msg", "{\"body\":\"hi\"}"},
        {"v2 heartbeat", BN_VSN_2, "[null,\"5\",\"phoenix\",\"heartbeat\",{}]", "null", "\"5\"",
         "phoenix", "heartbeat", "{}"},
        {"v2 leave", BN_VSN_2, "[\"3\",\"6\",\"room:lobby\",\"phx_leave\",{}]", "\"3\"", "\"6\"",
         "room:lobby", "phx_leave", "{}"},
        /* Refs of any JSON type are echoed; extra elements are ignored; any
         * payload value passes through. */
        {"v2 numeric refs", BN_VSN_2, "[1,2.5,\"t\",\"e\",{}]", "1", "2.5", "t", "e", "{}"},
        {"v2 object ref", BN_VSN_2, "[{\"a\":1},[true],\"t\",\"e\",{}]", "{\"a\":1}", "[true]", "t",
         "e", "{}"},
        {"v2 extra elements", BN_VSN_2, "[\"1\",\"2\",\"t\",\"e\",{},\"x\",9]", "\"1\"", "\"2\"",
         "t", "e", "{}"},
        {"v2 array payload", BN_VSN_2, "[null,null,\"t\",\"e\",[1,2]]", "null", "null", "t", "e",
         "[1,2]"},
        {"v2 string payload", BN_VSN_2, "[null,null,\"t\",\"e\",\"s\"]", "null", "null", "t", "e",
         "\"s\""},
        {"v2 null payload", BN_VSN_2, "[null,null,\"t\",\"e\",null]", "null", "null", "t", "e",
         "null"},
        {"v2 escaped topic", BN_VSN_2, "[null,null,\"a\\\"b\\u00e9\\n\",\"e\",{}]", "null", "null",
         "a\"b\xc3\xa9\n", "e", "{}"},
        {"v2 whitespace", BN_VSN_2, " [ \"1\" , \"2\" , \"t\" , \"e\" , { } ] \n", "\"1\"", "\"2\"",
         "t", "e", "{}"},
        /* PROTOCOL.md 2.2, V1 objects. */
        {"v1 full", BN_VSN_1,
         "{\"topic\":\"room:lobby\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\","
         "\"join_ref\":\"1\"}",
         "\"1\"", "\"1\"", "room:lobby", "phx_join", "{}"},
        {"v1 no join_ref", BN_VSN_1,
         "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\"},"
         "\"ref\":\"2\"}",
         "null", "\"2\"", "room:lobby", "new_msg", "{\"body\":\"hi\"}"},
        {"v1 null ref", BN_VSN_1,
         "{\"ref\":null,\"payload\":{},\"event\":\"heartbeat\",\"topic\":\"phoenix\"}", "null",
         "null", "phoenix", "heartbeat", "{}"},
        {"v1 numeric ref", BN_VSN_1,
         "{\"topic\":\"t\",\"event\":\"e\",\"payload\":[],\"ref\":7,\"join_ref\":null}", "null",
         "7", "t", "e", "[]"},
    };
    char a[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const decode_case_t *c = &cases[i];
        bn_msg_t m;
        const char *err = NULL;
        if (bn_ser_decode_text(c->vsn, c->in, strlen(c->in), &m, &err) != 0) {
            fail_msg("%s: decode failed: %s", c->name, err);
        }
        if (strcmp(dump(m.join_ref, a, sizeof(a)), c->join_ref) != 0) {
            fail_msg("%s: join_ref %s want %s", c->name, a, c->join_ref);
        }
        if (strcmp(dump(m.ref, a, sizeof(a)), c->ref) != 0) {
            fail_msg("%s: ref %s want %s", c->name, a, c->ref);
        }
        if (m.topic_len != strlen(c->topic) || strcmp(m.topic, c->topic) != 0) {
            fail_msg("%s: topic '%s' want '%s'", c->name, m.topic, c->topic);
        }
        if (m.event_len != strlen(c->event) || strcmp(m.event, c->event) != 0) {
            fail_msg("%s: event '%s' want '%s'", c->name, m.event, c->event);
        }
        assert_int_equal(m.payload.kind, BN_PAYLOAD_JSON);
        if (strcmp(dump(m.payload.json, a, sizeof(a)), c->payload) != 0) {
            fail_msg("%s: payload %s want %s", c->name, a, c->payload);
        }
        assert_non_null(m.root);
        bn_msg_clear(&m);
        assert_null(m.root);
        assert_null(m.topic);
    }
}

/* PROTOCOL.md 2.3: the verified phoenix.js client push. */
static void test_decode_binary_example(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x01, 0x01, 0x06, 0x02, 0x31, 0x32, 0x72, 0x6f,
                                 0x6f, 0x6d, 0x3a, 0x31, 0x75, 0x70, 0xde, 0xad};
    bn_msg_t m;
    const char *err = NULL;
    assert_int_equal(bn_ser_decode_binary(in, sizeof(in), &m, &err), 0);
    assert_true(json_is_string(m.join_ref));
    assert_string_equal(json_string_value(m.join_ref), "1");
    assert_true(json_is_string(m.ref));
    assert_string_equal(json_string_value(m.ref), "2");
    assert_string_equal(m.topic, "room:1");
    assert_int_equal(m.topic_len, 6);
    assert_string_equal(m.event, "up");
    assert_int_equal(m.event_len, 2);
    assert_int_equal(m.payload.kind, BN_PAYLOAD_BINARY);
    assert_int_equal(m.payload.len, 2);
    /* The payload is a view into the frame, not a copy. */
    assert_ptr_equal(m.payload.raw, (const char *)in + 15);
    bn_msg_clear(&m);
}

static void test_decode_binary_edges(void **state)
{
    (void)state;
    /* A nil join_ref is length 0 and decodes to NULL; empty payload is fine. */
    static const uint8_t nil_jr[] = {0x00, 0x00, 0x01, 0x01, 0x01, '7', 't', 'e'};
    bn_msg_t m;
    const char *err = NULL;
    assert_int_equal(bn_ser_decode_binary(nil_jr, sizeof(nil_jr), &m, &err), 0);
    assert_null(m.join_ref);
    assert_string_equal(json_string_value(m.ref), "7");
    assert_string_equal(m.topic, "t");
    assert_string_equal(m.event, "e");
    assert_int_equal(m.payload.len, 0);
    bn_msg_clear(&m);

    /* Zero-length ref also decodes to NULL; empty topic/event stay "". */
    static const uint8_t empties[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
    assert_int_equal(bn_ser_decode_binary(empties, sizeof(empties), &m, &err), 0);
    assert_null(m.join_ref);
    assert_null(m.ref);
    assert_string_equal(m.topic, "");
    assert_string_equal(m.event, "");
    assert_int_equal(m.payload.len, 1);
    bn_msg_clear(&m);

    /* UTF-8 topic. */
    static const uint8_t utf8[] = {0x00, 0x00, 0x01, 0x03, 0x01, '1', 'r', 0xc3, 0xa9, 'e'};
    assert_int_equal(bn_ser_decode_binary(utf8, sizeof(utf8), &m, &err), 0);
    assert_string_equal(m.topic, "r\xc3\xa9");
    assert_int_equal(m.topic_len, 3);
    bn_msg_clear(&m);
}

/* ---- decoding bad input ----------------------------------------------- */

static void test_decode_text_bad(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bn_vsn_t vsn;
        const char *in;
        size_t len; /* 0: strlen */
    } cases[] = {
        {"v2 not json", BN_VSN_2, "hello", 0},
        {"v2 empty", BN_VSN_2, "", 0},
        {"v2 truncated", BN_VSN_2, "[\"1\",\"2\",\"t\",\"e\",{}", 0},
        {"v2 trailing garbage", BN_VSN_2, "[null,null,\"t\",\"e\",{}] x", 0},
        {"v2 object", BN_VSN_2, "{\"topic\":\"t\"}", 0},
        {"v2 bare string", BN_VSN_2, "\"t\"", 0},
        {"v2 bare number", BN_VSN_2, "5", 0},
        {"v2 four elements", BN_VSN_2, "[null,\"1\",\"t\",\"e\"]", 0},
        {"v2 empty array", BN_VSN_2, "[]", 0},
        {"v2 topic number", BN_VSN_2, "[null,null,1,\"e\",{}]", 0},
        {"v2 topic null", BN_VSN_2, "[null,null,null,\"e\",{}]", 0},
        {"v2 event null", BN_VSN_2, "[null,null,\"t\",null,{}]", 0},
        {"v2 event object", BN_VSN_2, "[null,null,\"t\",{},{}]", 0},
        {"v2 NUL escape in topic", BN_VSN_2, "[null,null,\"a\\u0000b\",\"e\",{}]", 0},
        {"v2 raw NUL byte", BN_VSN_2, "[null,null,\"t\",\"e\",{}]\0", 24},
        {"v2 invalid utf8", BN_VSN_2, "[null,null,\"\xff\",\"e\",{}]", 0},
        {"v1 not json", BN_VSN_1, "{topic:1}", 0},
        {"v1 array", BN_VSN_1, "[null,null,\"t\",\"e\",{}]", 0},
        {"v1 missing topic", BN_VSN_1, "{\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}", 0},
        {"v1 missing event", BN_VSN_1, "{\"topic\":\"t\",\"payload\":{},\"ref\":\"1\"}", 0},
        {"v1 missing payload", BN_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"ref\":\"1\"}", 0},
        {"v1 missing ref", BN_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{}}", 0},
        {"v1 topic number", BN_VSN_1, "{\"topic\":3,\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}",
         0},
        {"v1 event null", BN_VSN_1, "{\"topic\":\"t\",\"event\":null,\"payload\":{},\"ref\":\"1\"}",
         0},
        {"unknown vsn", (bn_vsn_t)3, "[null,null,\"t\",\"e\",{}]", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bn_msg_t m;
        const char *err = NULL;
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        if (bn_ser_decode_text(cases[i].vsn, cases[i].in, len, &m, &err) != -1) {
            bn_msg_clear(&m);
            fail_msg("%s: decoded bad input", cases[i].name);
        }
        if (err == NULL || err[0] == '\0') {
            fail_msg("%s: no error description", cases[i].name);
        }
        assert_null(m.root);
    }
}

static void test_decode_binary_bad(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t in[24];
        size_t len;
    } cases[] = {
        {"empty", {0}, 0},
        {"kind only", {0x00}, 1},
        {"header cut at 3", {0x00, 0x01, 0x01}, 3},
        {"header cut at 4", {0x00, 0x00, 0x00, 0x01}, 4},
        {"join_ref past end", {0x00, 0x05, 0x00, 0x00, 0x00, '1'}, 6},
        {"ref past end", {0x00, 0x00, 0x02, 0x00, 0x00, '1'}, 6},
        {"topic past end", {0x00, 0x00, 0x00, 0x03, 0x00, 't', 't'}, 7},
        {"event past end", {0x00, 0x00, 0x00, 0x01, 0x02, 't', 'e'}, 7},
        {"all lengths max", {0x00, 0xff, 0xff, 0xff, 0xff, 'x'}, 6},
        {"kind reply", {0x01, 0x00, 0x00, 0x01, 0x01, 't', 'e'}, 7},
        {"kind broadcast", {0x02, 0x01, 0x01, 't', 'e'}, 5},
        {"kind 3", {0x03, 0x00, 0x00, 0x01, 0x01, 't', 'e'}, 7},
        {"kind 0xff", {0xff, 0x00, 0x00, 0x00, 0x00}, 5},
        {"invalid utf8 topic", {0x00, 0x00, 0x00, 0x02, 0x01, 0xc3, 0x28, 'e'}, 8},
        {"lone continuation topic", {0x00, 0x00, 0x00, 0x01, 0x01, 0x80, 'e'}, 7},
        {"invalid utf8 event", {0x00, 0x00, 0x00, 0x01, 0x01, 't', 0xff}, 7},
        {"invalid utf8 ref", {0x00, 0x00, 0x01, 0x01, 0x01, 0xfe, 't', 'e'}, 8},
        {"invalid utf8 join_ref", {0x00, 0x01, 0x00, 0x01, 0x01, 0xc0, 't', 'e'}, 8},
        {"NUL in topic", {0x00, 0x00, 0x00, 0x02, 0x01, 'a', 0x00, 'e'}, 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bn_msg_t m;
        const char *err = NULL;
        if (bn_ser_decode_binary(cases[i].in, cases[i].len, &m, &err) != -1) {
            bn_msg_clear(&m);
            fail_msg("%s: decoded bad input", cases[i].name);
        }
        if (err == NULL || err[0] == '\0') {
            fail_msg("%s: no error description", cases[i].name);
        }
        assert_null(m.root);
    }
}

/* Every prefix of a valid binary push is truncated and must be refused
 * without reading past the given length (ASan checks the latter). */
static void test_decode_binary_every_prefix(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x01, 0x01, 0x06, 0x02, 0x31, 0x32, 0x72, 0x6f,
                                 0x6f, 0x6d, 0x3a, 0x31, 0x75, 0x70, 0xde, 0xad};
    for (size_t cut = 0; cut < 15; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, in, cut);
        bn_msg_t m;
        const char *err = NULL;
        if (bn_ser_decode_binary(copy, cut, &m, &err) != -1) {
            fail_msg("prefix %zu decoded", cut);
        }
        free(copy);
    }
    /* From 15 bytes on, the header is satisfied and the payload grows. */
    for (size_t cut = 15; cut <= sizeof(in); cut++) {
        bn_msg_t m;
        const char *err = NULL;
        assert_int_equal(bn_ser_decode_binary(in, cut, &m, &err), 0);
        assert_int_equal(m.payload.len, cut - 15);
        bn_msg_clear(&m);
    }
}

/* ---- encoding --------------------------------------------------------- */

typedef struct {
    const char *name;
    bn_vsn_t vsn;
    bn_out_kind_t kind;
    const char *join_ref; /* JSON text or NULL */
    const char *ref;
    const char *topic;
    const char *event;
    const char *status;
    const char *payload; /* JSON text */
    const char *want;
} encode_case_t;

static bn_buf_t *encode_case(const encode_case_t *c, const char **err)
{
    json_t *jr = c->join_ref ? js(c->join_ref) : NULL;
    json_t *ref = c->ref ? js(c->ref) : NULL;
    json_t *pj = js(c->payload);
    bn_payload_t p = bn_payload_json(pj);
    bn_out_t o = {
        .kind = c->kind,
        .join_ref = jr,
        .ref = ref,
        .topic = c->topic,
        .topic_len = strlen(c->topic),
        .event = c->event,
        .event_len = c->event ? strlen(c->event) : 0,
        .status = c->status,
        .payload = &p,
    };
    bn_buf_t *b = bn_ser_encode(c->vsn, &o, err);
    json_decref(jr);
    json_decref(ref);
    json_decref(pj);
    return b;
}

static void test_encode_text(void **state)
{
    (void)state;
    static const encode_case_t cases[] = {
        /* PROTOCOL.md 2.1, server -> client lines. */
        {"v2 join reply", BN_VSN_2, BN_OUT_REPLY, "\"3\"", "\"3\"", "room:lobby", NULL, "ok", "{}",
         "[\"3\",\"3\",\"room:lobby\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {"v2 push reply", BN_VSN_2, BN_OUT_REPLY, "\"3\"", "\"4\"", "room:lobby", NULL, "ok", "{}",
         "[\"3\",\"4\",\"room:lobby\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {"v2 broadcast", BN_VSN_2, BN_OUT_BROADCAST, NULL, NULL, "room:lobby", "new_msg", NULL,
         "{\"body\":\"hi\"}", "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]"},
        {"v2 broadcast ignores refs", BN_VSN_2, BN_OUT_BROADCAST, "\"3\"", "\"9\"", "room:lobby",
         "new_msg", NULL, "{\"body\":\"hi\"}",
         "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]"},
        {"v2 channel push", BN_VSN_2, BN_OUT_PUSH, "\"3\"", NULL, "room:lobby", "presence_state",
         NULL, "{}", "[\"3\",null,\"room:lobby\",\"presence_state\",{}]"},
        {"v2 heartbeat reply", BN_VSN_2, BN_OUT_REPLY, NULL, "\"5\"", "phoenix", NULL, "ok", "{}",
         "[null,\"5\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {"v2 leave reply", BN_VSN_2, BN_OUT_REPLY, "\"3\"", "\"6\"", "room:lobby", NULL, "ok", "{}",
         "[\"3\",\"6\",\"room:lobby\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {"v2 phx_close", BN_VSN_2, BN_OUT_PUSH, "\"3\"", "\"3\"", "room:lobby", "phx_close", NULL,
         "{}", "[\"3\",\"3\",\"room:lobby\",\"phx_close\",{}]"},
        {"v2 phx_error", BN_VSN_2, BN_OUT_PUSH, "\"3\"", "\"3\"", "room:lobby", "phx_error", NULL,
         "{\"reason\":\"channel_crash\"}",
         "[\"3\",\"3\",\"room:lobby\",\"phx_error\",{\"reason\":\"channel_crash\"}]"},
        {"v2 error reply", BN_VSN_2, BN_OUT_REPLY, "\"3\"", "\"7\"", "room:lobby", NULL, "error",
         "{\"reason\":\"unauthorized\"}",
         "[\"3\",\"7\",\"room:lobby\",\"phx_reply\",{\"response\":{\"reason\":\"unauthorized\"},"
         "\"status\":\"error\"}]"},
        /* Non-string refs are echoed as the client sent them. */
        {"v2 numeric refs", BN_VSN_2, BN_OUT_REPLY, "1", "22", "t", NULL, "ok", "{}",
         "[1,22,\"t\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {"v2 float/object ref", BN_VSN_2, BN_OUT_REPLY, "{\"a\":[1]}", "2.5", "t", NULL, "ok", "{}",
         "[{\"a\":[1]},2.5,\"t\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {"v2 nested payload", BN_VSN_2, BN_OUT_PUSH, "\"1\"", NULL, "t", "e", NULL,
         "{\"a\":{\"b\":[1,\"x\",null,true]},\"c\":\"\\u00e9\\n\"}",
         "[\"1\",null,\"t\",\"e\",{\"a\":{\"b\":[1,\"x\",null,true]},\"c\":\"\xc3\xa9\\n\"}]"},
        /* PROTOCOL.md 2.2, V1 lines. */
        {"v1 reply", BN_VSN_1, BN_OUT_REPLY, "\"1\"", "\"1\"", "room:lobby", NULL, "ok", "{}",
         "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\","
         "\"response\":{}},\"ref\":\"1\"}"},
        {"v1 push", BN_VSN_1, BN_OUT_PUSH, "\"1\"", NULL, "room:lobby", "new_msg", NULL,
         "{\"body\":\"hi\"}",
         "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\"},"
         "\"ref\":null}"},
        {"v1 broadcast", BN_VSN_1, BN_OUT_BROADCAST, NULL, NULL, "room:lobby", "new_msg", NULL,
         "{\"body\":\"hi\"}",
         "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\"},"
         "\"ref\":null}"},
        {"v1 phx_close null join_ref", BN_VSN_1, BN_OUT_PUSH, NULL, NULL, "room:lobby", "phx_close",
         NULL, "{}",
         "{\"topic\":\"room:lobby\",\"event\":\"phx_close\",\"payload\":{},\"ref\":null}"},
        {"v1 phx_close with ref", BN_VSN_1, BN_OUT_PUSH, "\"1\"", "\"1\"", "room:lobby",
         "phx_close", NULL, "{}",
         "{\"topic\":\"room:lobby\",\"event\":\"phx_close\",\"payload\":{},\"ref\":\"1\"}"},
        {"v1 numeric ref", BN_VSN_1, BN_OUT_REPLY, NULL, "42", "t", NULL, "ok", "{}",
         "{\"topic\":\"t\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\","
         "\"response\":{}},\"ref\":42}"},
        /* Escaping of topics, events and string refs. */
        {"escape quotes", BN_VSN_2, BN_OUT_PUSH, "\"a\\\"b\"", NULL, "ro\"om\\1", "e\"v", NULL,
         "{}", "[\"a\\\"b\",null,\"ro\\\"om\\\\1\",\"e\\\"v\",{}]"},
        {"escape controls", BN_VSN_2, BN_OUT_BROADCAST, NULL, NULL, "a\nb\tc\rd\be\ff\x01g\x1f",
         "e", NULL, "{}", "[null,null,\"a\\nb\\tc\\rd\\be\\ff\\u0001g\\u001F\",\"e\",{}]"},
        {"unicode passes through", BN_VSN_2, BN_OUT_BROADCAST, NULL, NULL,
         "room:\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/x", "e", NULL, "{}",
         "[null,null,\"room:\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/x\",\"e\",{}]"},
        {"v1 escape", BN_VSN_1, BN_OUT_PUSH, NULL, NULL, "q\"\x7f", "e", NULL, "{}",
         "{\"topic\":\"q\\\"\x7f\",\"event\":\"e\",\"payload\":{},\"ref\":null}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *err = NULL;
        bn_buf_t *b = encode_case(&cases[i], &err);
        if (b == NULL) {
            fail_msg("%s: encode failed: %s", cases[i].name, err);
        }
        /* The output must also be valid JSON. */
        json_error_t e;
        json_t *back = json_loadb(bn_buf_body(b), b->len, 0, &e);
        if (back == NULL) {
            fail_msg("%s: output is not JSON: %s", cases[i].name, e.text);
        }
        json_decref(back);
        expect_body(cases[i].name, b, cases[i].want, strlen(cases[i].want), 0);
    }
}

/* A decoded message's refs go straight back into the reply. */
static void test_roundtrip_echo(void **state)
{
    (void)state;
    static const struct {
        bn_vsn_t vsn;
        const char *in;
        const char *want;
    } cases[] = {
        {BN_VSN_2, "[7,8,\"t\",\"e\",{}]",
         "[7,8,\"t\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {BN_VSN_2, "[null,\"5\",\"phoenix\",\"heartbeat\",{}]",
         "[null,\"5\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {BN_VSN_2, "[\"1\",-3,\"a\\u0001\\\"\",\"e\",{}]",
         "[\"1\",-3,\"a\\u0001\\\"\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]"},
        {BN_VSN_1, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":9,\"join_ref\":1}",
         "{\"topic\":\"t\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\","
         "\"response\":{}},\"ref\":9}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bn_msg_t m;
        const char *err = NULL;
        assert_int_equal(
            bn_ser_decode_text(cases[i].vsn, cases[i].in, strlen(cases[i].in), &m, &err), 0);
        json_t *empty = json_object();
        bn_payload_t p = bn_payload_json(empty);
        bn_out_t o = {.kind = BN_OUT_REPLY,
                      .join_ref = m.join_ref,
                      .ref = m.ref,
                      .topic = m.topic,
                      .topic_len = m.topic_len,
                      .status = "ok",
                      .payload = &p};
        bn_buf_t *b = bn_ser_encode(cases[i].vsn, &o, &err);
        expect_body(cases[i].in, b, cases[i].want, strlen(cases[i].want), 0);
        json_decref(empty);
        bn_msg_clear(&m);
    }
}

static void test_encode_raw_json(void **state)
{
    (void)state;
    static const char raw[] = "{\"body\":\"hi\",\"n\":[1,2]}";
    bn_payload_t p = bn_payload_raw_json(raw, sizeof(raw) - 1);
    bn_out_t o = {.kind = BN_OUT_BROADCAST,
                  .topic = "room:lobby",
                  .topic_len = 10,
                  .event = "new_msg",
                  .event_len = 7,
                  .payload = &p};
    const char *err = NULL;
    expect_body("raw v2", bn_ser_encode(BN_VSN_2, &o, &err),
                LIT("[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\",\"n\":[1,2]}]"), 0);
    expect_body("raw v1", bn_ser_encode(BN_VSN_1, &o, &err),
                LIT("{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\","
                    "\"n\":[1,2]},\"ref\":null}"),
                0);
    /* RAW_JSON is trusted and copied without checking its shape. */
    bn_payload_t arr = bn_payload_raw_json("[1]", 3);
    o.payload = &arr;
    expect_body("raw array", bn_ser_encode(BN_VSN_2, &o, &err),
                LIT("[null,null,\"room:lobby\",\"new_msg\",[1]]"), 0);
    /* As a reply response too. */
    o.kind = BN_OUT_REPLY;
    o.status = "ok";
    o.ref = NULL;
    o.payload = &p;
    expect_body("raw reply", bn_ser_encode(BN_VSN_2, &o, &err),
                LIT("[null,null,\"room:lobby\",\"phx_reply\",{\"response\":{\"body\":\"hi\","
                    "\"n\":[1,2]},\"status\":\"ok\"}]"),
                0);
}

/* A payload large enough to force the buffer to grow several times. */
static void test_encode_large_payload(void **state)
{
    (void)state;
    json_t *obj = json_object();
    for (int i = 0; i < 500; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%03d", i);
        json_object_set_new(obj, k, json_string("value with \"quotes\" and \n newline"));
    }
    char *want_payload = json_dumps(obj, JSON_COMPACT);
    assert_non_null(want_payload);
    bn_payload_t p = bn_payload_json(obj);
    bn_out_t o = {.kind = BN_OUT_PUSH,
                  .topic = "t",
                  .topic_len = 1,
                  .event = "e",
                  .event_len = 1,
                  .payload = &p};
    const char *err = NULL;
    bn_buf_t *b = bn_ser_encode(BN_VSN_2, &o, &err);
    assert_non_null(b);
    size_t pl = strlen(want_payload);
    char *want = malloc(pl + 64);
    assert_non_null(want);
    int n = snprintf(want, pl + 64, "[null,null,\"t\",\"e\",%s]", want_payload);
    expect_body("large", b, want, (size_t)n, 0);
    free(want);
    free(want_payload);
    json_decref(obj);
}

/* PROTOCOL.md 2.3, server -> client layouts. */
static void test_encode_binary(void **state)
{
    (void)state;
    static const uint8_t efg[] = {0x65, 0x66, 0x67};
    bn_payload_t p = bn_payload_binary(efg, sizeof(efg));
    const char *err = NULL;

    /* Reply example from Phoenix's tests: 01 02 03 05 02 "12" "123" "topic" "ok" 65 66 67. */
    json_t *jr = json_string("12");
    json_t *ref = json_string("123");
    bn_out_t reply = {.kind = BN_OUT_REPLY,
                      .join_ref = jr,
                      .ref = ref,
                      .topic = "topic",
                      .topic_len = 5,
                      .status = "ok",
                      .payload = &p};
    expect_body("binary reply", bn_ser_encode(BN_VSN_2, &reply, &err),
                LIT("\x01\x02\x03\x05\x02"
                    "12"
                    "123"
                    "topic"
                    "ok"
                    "efg"),
                1);

    /* Broadcast example: 02 05 05 "topic" "event" 65 66 67; refs never appear. */
    bn_out_t bc = {.kind = BN_OUT_BROADCAST,
                   .join_ref = jr,
                   .ref = ref,
                   .topic = "topic",
                   .topic_len = 5,
                   .event = "event",
                   .event_len = 5,
                   .payload = &p};
    expect_body("binary broadcast", bn_ser_encode(BN_VSN_2, &bc, &err),
                LIT("\x02\x05\x05"
                    "topic"
                    "event"
                    "efg"),
                1);

    /* Server push: 4-byte header, no ref even when one is given. */
    bn_out_t push = bc;
    push.kind = BN_OUT_PUSH;
    expect_body("binary push", bn_ser_encode(BN_VSN_2, &push, &err),
                LIT("\x00\x02\x05\x05"
                    "12"
                    "topic"
                    "event"
                    "efg"),
                1);

    /* A nil join_ref is length 0; an empty payload is allowed. */
    bn_payload_t empty = bn_payload_binary(efg, 0);
    push.join_ref = NULL;
    push.payload = &empty;
    expect_body("binary push nil join_ref", bn_ser_encode(BN_VSN_2, &push, &err),
                LIT("\x00\x00\x05\x05"
                    "topic"
                    "event"),
                1);
    json_t *jnull = json_null();
    reply.join_ref = jnull;
    reply.ref = NULL;
    reply.status = "error";
    expect_body("binary reply null refs", bn_ser_encode(BN_VSN_2, &reply, &err),
                LIT("\x01\x00\x00\x05\x05"
                    "topic"
                    "error"
                    "efg"),
                1);

    /* Exactly 255 bytes is the maximum that fits. */
    char big[256];
    memset(big, 'x', sizeof(big));
    bc.topic = big;
    bc.topic_len = 255;
    bn_buf_t *b = bn_ser_encode(BN_VSN_2, &bc, &err);
    assert_non_null(b);
    assert_int_equal(b->len, 3 + 255 + 5 + 3);
    assert_int_equal((uint8_t)bn_buf_body(b)[1], 255);
    bn_buf_unref(b);

    json_decref(jr);
    json_decref(ref);
}

/* A server-encoded binary push, re-headed the way a client would send it,
 * decodes back to the same fields. */
static void test_binary_client_roundtrip(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x02, 0x01, 0x04, 0x03, '1', '0',  '9',  'r',
                                 'o',  'o',  'm',  'm',  's',  'g', 0x00, 0x01, 0x02};
    bn_msg_t m;
    const char *err = NULL;
    assert_int_equal(bn_ser_decode_binary(in, sizeof(in), &m, &err), 0);
    bn_out_t o = {.kind = BN_OUT_REPLY,
                  .join_ref = m.join_ref,
                  .ref = m.ref,
                  .topic = m.topic,
                  .topic_len = m.topic_len,
                  .status = "ok",
                  .payload = &m.payload};
    expect_body("binary echo reply", bn_ser_encode(BN_VSN_2, &o, &err),
                LIT("\x01\x02\x01\x04\x02"
                    "10"
                    "9"
                    "room"
                    "ok"
                    "\x00\x01\x02"),
                1);
    bn_msg_clear(&m);
}

static void test_encode_errors(void **state)
{
    (void)state;
    static const uint8_t bytes[] = {1, 2, 3};
    char big[300];
    memset(big, 'y', sizeof(big));
    json_t *arr = js("[1]");
    json_t *str = js("\"s\"");
    json_t *num = js("5");
    json_t *obj = json_object();
    json_t *bigref = json_stringn(big, 256);
    bn_payload_t p_arr = bn_payload_json(arr);
    bn_payload_t p_str = bn_payload_json(str);
    bn_payload_t p_null = bn_payload_json(NULL);
    bn_payload_t p_obj = bn_payload_json(obj);
    bn_payload_t p_bin = bn_payload_binary(bytes, sizeof(bytes));
    bn_payload_t p_raw_empty = bn_payload_raw_json("", 0);

    static const struct {
        const char *name;
        bn_vsn_t vsn;
        bn_out_kind_t kind;
        int payload; /* index into pl[] */
        int topic_len;
        int ref; /* 0 none, 1 number, 2 oversized string */
        const char *status;
    } cases[] = {
        {"v2 array payload", BN_VSN_2, BN_OUT_PUSH, 0, 1, 0, NULL},
        {"v2 string payload", BN_VSN_2, BN_OUT_BROADCAST, 1, 1, 0, NULL},
        {"v2 NULL json", BN_VSN_2, BN_OUT_PUSH, 2, 1, 0, NULL},
        {"v2 array response", BN_VSN_2, BN_OUT_REPLY, 0, 1, 0, "ok"},
        {"v1 array payload", BN_VSN_1, BN_OUT_PUSH, 0, 1, 0, NULL},
        {"v1 string response", BN_VSN_1, BN_OUT_REPLY, 1, 1, 0, "ok"},
        {"v1 binary push", BN_VSN_1, BN_OUT_PUSH, 4, 1, 0, NULL},
        {"v1 binary reply", BN_VSN_1, BN_OUT_REPLY, 4, 1, 0, "ok"},
        {"reply without status", BN_VSN_2, BN_OUT_REPLY, 3, 1, 0, NULL},
        {"binary topic 256", BN_VSN_2, BN_OUT_BROADCAST, 4, 256, 0, NULL},
        {"binary push topic 256", BN_VSN_2, BN_OUT_PUSH, 4, 256, 0, NULL},
        {"binary reply topic 256", BN_VSN_2, BN_OUT_REPLY, 4, 256, 0, "ok"},
        {"binary numeric ref", BN_VSN_2, BN_OUT_REPLY, 4, 1, 1, "ok"},
        {"binary ref 256", BN_VSN_2, BN_OUT_REPLY, 4, 1, 2, "ok"},
        {"binary join_ref 256", BN_VSN_2, BN_OUT_PUSH, 4, 1, 2, NULL},
        {"empty raw json", BN_VSN_2, BN_OUT_PUSH, 5, 1, 0, NULL},
        {"unknown vsn", (bn_vsn_t)7, BN_OUT_PUSH, 3, 1, 0, NULL},
    };
    const bn_payload_t *pl[] = {&p_arr, &p_str, &p_null, &p_obj, &p_bin, &p_raw_empty};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = cases[i].ref == 1 ? num : (cases[i].ref == 2 ? bigref : NULL);
        bn_out_t o = {.kind = cases[i].kind,
                      .join_ref = r,
                      .ref = r,
                      .topic = big,
                      .topic_len = (size_t)cases[i].topic_len,
                      .event = "e",
                      .event_len = 1,
                      .status = cases[i].status,
                      .payload = pl[cases[i].payload]};
        const char *err = NULL;
        bn_buf_t *b = bn_ser_encode(cases[i].vsn, &o, &err);
        if (b != NULL) {
            bn_buf_unref(b);
            fail_msg("%s: encoded", cases[i].name);
        }
        if (err == NULL || err[0] == '\0') {
            fail_msg("%s: no error description", cases[i].name);
        }
    }
    json_decref(arr);
    json_decref(str);
    json_decref(num);
    json_decref(obj);
    json_decref(bigref);
}

static void test_append_string(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {LIT(""), "\"\""},
        {LIT("plain"), "\"plain\""},
        {LIT("\"\\"), "\"\\\"\\\\\""},
        {LIT("/"), "\"/\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {LIT("\x1b[0m"), "\"\\u001B[0m\""},
        {LIT("\xe6\x97\xa5\xe6\x9c\xac"), "\"\xe6\x97\xa5\xe6\x9c\xac\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bn_buf_t *b = bn_buf_new(1);
        assert_non_null(b);
        assert_int_equal(bn_json_append_string(&b, cases[i].in, cases[i].len), 0);
        expect_body(cases[i].want, b, cases[i].want, strlen(cases[i].want), 0);
    }
    /* Every C0 control matches jansson's own escaping. */
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c;
        json_t *s = json_stringn(&in, 1);
        char *want = json_dumps(s, JSON_ENCODE_ANY);
        bn_buf_t *b = bn_buf_new(0);
        assert_int_equal(bn_json_append_string(&b, &in, 1), 0);
        expect_body(want, b, want, strlen(want), 0);
        free(want);
        json_decref(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vsn_parse),
        cmocka_unit_test(test_decode_text_good),
        cmocka_unit_test(test_decode_binary_example),
        cmocka_unit_test(test_decode_binary_edges),
        cmocka_unit_test(test_decode_text_bad),
        cmocka_unit_test(test_decode_binary_bad),
        cmocka_unit_test(test_decode_binary_every_prefix),
        cmocka_unit_test(test_encode_text),
        cmocka_unit_test(test_roundtrip_echo),
        cmocka_unit_test(test_encode_raw_json),
        cmocka_unit_test(test_encode_large_payload),
        cmocka_unit_test(test_encode_binary),
        cmocka_unit_test(test_binary_client_roundtrip),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_append_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
