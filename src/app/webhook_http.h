/* The webhook client's HTTP side without I/O: the request it writes and an
 * incremental, bounded parser for the backend's response (http-parser). */
#ifndef BN_APP_WEBHOOK_HTTP_H
#define BN_APP_WEBHOOK_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header bytes allowed in a response on top of its body limit. */
#define BN_WH_RESP_HEADER_MAX 16384

typedef enum {
    BN_WH_RESP_MORE = 0,      /* feed more bytes */
    BN_WH_RESP_DONE = 1,      /* a complete response: status, body, keep_alive */
    BN_WH_RESP_GARBAGE = -1,  /* not HTTP/1.x, or bytes after the response */
    BN_WH_RESP_TOO_LARGE = -2 /* body or headers past their limits */
} bn_wh_resp_rc_t;

/* One response. Owner: the connection that reads it (or a test); freed by
 * bn_wh_resp_free. */
typedef struct bn_wh_resp_s {
    http_parser parser;
    size_t max_body;
    size_t fed; /* bytes given so far */
    char *body; /* NUL-terminated, len body_len */
    size_t body_len;
    size_t body_cap;
    int status; /* HTTP status once headers are in */
    bool keep_alive;
    bool done;
    bool too_large;
} bn_wh_resp_t;

void bn_wh_resp_init(bn_wh_resp_t *r, size_t max_body);
void bn_wh_resp_free(bn_wh_resp_t *r);
/* Feeds len bytes (len 0 = the peer closed). Any split of a response gives
 * the same result. Once DONE or an error, the response is finished: bytes
 * fed after DONE are GARBAGE (no pipelining on these connections). */
bn_wh_resp_rc_t bn_wh_resp_feed(bn_wh_resp_t *r, const char *data, size_t len);

/* The request: "POST path HTTP/1.1" with Host, Content-Type JSON,
 * Content-Length, keep-alive and X-Bennu-Signature: sha256=<hex HMAC-SHA256
 * of body under key>. Returns a malloc'd string (length in *out_len). */
char *bn_wh_request_build(const char *host, const char *path, const uint8_t *key, size_t key_len,
                          const char *body, size_t body_len, size_t *out_len);

/* The signature header's value for body ("sha256=" + 64 hex + NUL). */
void bn_wh_sign(const uint8_t *key, size_t key_len, const char *body, size_t body_len,
                char out[72]);

#endif
