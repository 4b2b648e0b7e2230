/* The webhook client: signed HTTP/1.1 POSTs of JSON documents to one
 * backend URL, over a pool of keep-alive connections, with a timeout per
 * call and a bound on the calls in flight. Everything runs on the loop; the
 * address is an IP literal (no resolver call on the loop). */
#ifndef BN_APP_WEBHOOK_H
#define BN_APP_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Why a call failed; counted per reason in the stats. */
#define BN_WH_FAIL_MAP(X)                                                         \
    X(CONNECT, "connect")     /* no connection, or it broke before an answer */   \
    X(TIMEOUT, "timeout")     /* no complete answer within timeout_ms */          \
    X(STATUS, "status")       /* an HTTP status other than 2xx */                 \
    X(GARBAGE, "garbage")     /* not HTTP, or a body that is not a JSON object */ \
    X(TOO_LARGE, "too_large") /* the answer passed max_response_bytes */          \
    X(FULL, "full")           /* max_in_flight calls were already waiting */      \
    X(CLOSED, "closed")       /* the node is stopping */                          \
    X(NO_MEMORY, "no_memory") /* the call could not be allocated */

typedef enum {
    BN_WH_OK = 0,
#define BN_WH_FAIL_ENUM(name, str) BN_WH_FAIL_##name,
    BN_WH_FAIL_MAP(BN_WH_FAIL_ENUM)
#undef BN_WH_FAIL_ENUM
        BN_WH_FAIL_COUNT_
} bn_wh_result_t;

const char *bn_wh_result_name(bn_wh_result_t r);

typedef struct bn_wh_config_s {
    char host[64]; /* IP literal */
    int port;
    char hostport[80]; /* the Host header */
    char path[512];
    unsigned timeout_ms;       /* 2000 */
    unsigned max_in_flight;    /* 64 */
    size_t max_response_bytes; /* 65536 */
    uint8_t key[256];          /* the HMAC key (the secret file's bytes) */
    size_t key_len;
} bn_wh_config_t;

/* Parses "http://IP[:PORT]/path" into cfg (IPv6 in brackets). Returns 0, or
 * -1 with a reason in why. */
int bn_wh_url_parse(const char *url, bn_wh_config_t *cfg, char *why, size_t why_len);

typedef struct bn_wh_s bn_wh_t;

/* Runs once per call, on a later loop callback (never inside bn_wh_call):
 * result and, when BN_WH_OK, the answer (a JSON object, borrowed). */
typedef void (*bn_wh_done_cb)(void *ud, bn_wh_result_t result, json_t *answer);

bn_wh_t *bn_wh_new(uv_loop_t *loop, const bn_wh_config_t *cfg);
/* POSTs body (serialized here). Returns 0 (cb will run) or, at once (cb
 * never runs), BN_WH_FAIL_FULL, BN_WH_FAIL_CLOSED, BN_WH_FAIL_GARBAGE (body
 * not serialisable) or BN_WH_FAIL_NO_MEMORY; those are counted too. cb may be NULL (fire and forget). */
bn_wh_result_t bn_wh_call(bn_wh_t *wh, json_t *body, bn_wh_done_cb cb, void *ud);
/* Fails every pending call (BN_WH_FAIL_CLOSED, callbacks run now), closes
 * every connection and frees wh once they have closed. */
void bn_wh_close(bn_wh_t *wh);
/* The counters as a new JSON object: calls, ok, in_flight, connections,
 * failures {reason: n}, latency_ms {sum, max, count, le_10, le_100, le_1000,
 * gt_1000} (answered calls only). For `bennuctl stats` and /metrics. */
json_t *bn_wh_stats_json(const bn_wh_t *wh);
/* The same counters as Prometheus series (bennu_webhook_*) on /metrics. */
struct bn_metrics_s;
void bn_wh_metrics(const bn_wh_t *wh, struct bn_metrics_s *m);

#endif
