/* Webhook HTTP: request bytes and the bounded response parser. */
#include "app/webhook_http.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_headers_complete(http_parser *p)
{
    bn_wh_resp_t *r = p->data;
    r->status = (int)p->status_code;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    bn_wh_resp_t *r = p->data;
    if (len > r->max_body - r->body_len) {
        r->too_large = true;
        return -1;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1) {
            cap *= 2;
        }
        char *nb = realloc(r->body, cap);
        if (nb == NULL) {
            r->too_large = true;
            return -1;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    bn_wh_resp_t *r = p->data;
    r->done = true;
    r->keep_alive = http_should_keep_alive(p) != 0;
    /* 1xx interim responses are not part of this protocol: a backend that
     * sends one answers garbage. */
    if (p->status_code < 200) {
        return -1;
    }
    /* Stop right after this response, so the caller sees whether bytes
     * follow it in the same read, exactly as when they come in a later one
     * (the parser would otherwise read them as the start of another). */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void bn_wh_resp_init(bn_wh_resp_t *r, size_t max_body)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    r->max_body = max_body;
}

void bn_wh_resp_free(bn_wh_resp_t *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
}

bn_wh_resp_rc_t bn_wh_resp_feed(bn_wh_resp_t *r, const char *data, size_t len)
{
    if (r->done) {
        return len == 0 ? BN_WH_RESP_DONE : BN_WH_RESP_GARBAGE;
    }
    if (len > r->max_body + BN_WH_RESP_HEADER_MAX - r->fed) {
        /* Checked before parsing: the whole response is bounded. */
        return BN_WH_RESP_TOO_LARGE;
    }
    r->fed += len;
    size_t n = http_parser_execute(&r->parser, &settings, data, len);
    if (r->too_large) {
        return BN_WH_RESP_TOO_LARGE;
    }
    if (r->done) {
        /* Anything after the response on a non-pipelined connection. */
        enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
        return n == len && (e == HPE_OK || e == HPE_PAUSED) ? BN_WH_RESP_DONE : BN_WH_RESP_GARBAGE;
    }
    if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || n != len || len == 0) {
        return BN_WH_RESP_GARBAGE;
    }
    return BN_WH_RESP_MORE;
}

void bn_wh_sign(const uint8_t *key, size_t key_len, const char *body, size_t body_len, char out[72])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 65, mac, sizeof(mac));
}

char *bn_wh_request_build(const char *host, const char *path, const uint8_t *key, size_t key_len,
                          const char *body, size_t body_len, size_t *out_len)
{
    char sig[72];
    bn_wh_sign(key, key_len, body, body_len, sig);
    const char *fmt = "POST %s HTTP/1.1\r\n"
                      "Host: %s\r\n"
                      "User-Agent: bennu-webhook\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n"
                      "Connection: keep-alive\r\n"
                      "X-Bennu-Signature: %s\r\n"
                      "\r\n";
    int head = snprintf(NULL, 0, fmt, path, host, body_len, sig);
    if (head < 0) {
        return NULL;
    }
    char *out = malloc((size_t)head + body_len + 1);
    if (out == NULL) {
        return NULL;
    }
    snprintf(out, (size_t)head + 1, fmt, path, host, body_len, sig);
    memcpy(out + head, body, body_len);
    out[head + body_len] = '\0';
    *out_len = (size_t)head + body_len;
    return out;
}
