/* Writing JSON text straight into a bn_buf_t, so an encoder builds its frame
 * in one buffer without an intermediate json_t tree or string. */
#include "protocol/internal.h"

#include <string.h>

static const char hex[] = "0123456789ABCDEF";

/* Escapes as RFC 8259 requires: quote, backslash and C0 controls. Everything
 * else, including non-ASCII UTF-8, is copied in runs; the caller vouches that
 * the input is valid UTF-8 (decoded topics always are). */
int bn_json_append_string(bn_buf_t **bp, const char *s, size_t n)
{
    if (bn_buf_append(bp, "\"", 1) != 0) {
        return -1;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        if (i > run && bn_buf_append(bp, s + run, i - run) != 0) {
            return -1;
        }
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            elen = 6;
            break;
        }
        if (bn_buf_append(bp, esc, elen) != 0) {
            return -1;
        }
    }
    if (n > run && bn_buf_append(bp, s + run, n - run) != 0) {
        return -1;
    }
    return bn_buf_append(bp, "\"", 1);
}

int bn__json_append_lit(bn_buf_t **bp, const char *lit)
{
    return bn_buf_append(bp, lit, strlen(lit));
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return bn_buf_append((bn_buf_t **)data, buffer, size);
}

int bn__json_append_value(bn_buf_t **bp, const json_t *v)
{
    /* Refs are nearly always strings or null: skip jansson's dumper for them. */
    if (v == NULL || json_is_null(v)) {
        return bn_buf_append(bp, "null", 4);
    }
    if (json_is_string(v)) {
        return bn_json_append_string(bp, json_string_value(v), json_string_length(v));
    }
    return json_dump_callback(v, dump_cb, bp, JSON_COMPACT | JSON_ENCODE_ANY);
}

int bn__json_append_payload(bn_buf_t **bp, const bn_payload_t *p, const char **err)
{
    switch (p->kind) {
    case BN_PAYLOAD_JSON:
        /* Phoenix raises on outgoing payloads that are not maps (2.1). */
        if (!json_is_object(p->json)) {
            *err = "payload must be a JSON object";
            return -1;
        }
        if (json_dump_callback(p->json, dump_cb, bp, JSON_COMPACT) != 0) {
            *err = "payload not encodable";
            return -1;
        }
        return 0;
    case BN_PAYLOAD_RAW_JSON:
        /* Already serialized by a trusted peer; copying unchecked is the point. */
        if (p->raw == NULL || p->len == 0) {
            *err = "empty raw JSON payload";
            return -1;
        }
        if (bn_buf_append(bp, p->raw, p->len) != 0) {
            *err = "out of memory";
            return -1;
        }
        return 0;
    case BN_PAYLOAD_BINARY:
        break;
    }
    *err = "binary payload in a text frame";
    return -1;
}
