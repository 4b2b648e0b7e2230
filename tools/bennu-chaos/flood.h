/* The flood scenario's attacker: many unauthenticated TCP connections held
 * on one node's mesh port, and a probe of the same node's HTTP port.
 *
 * Connections come from BNC_FLOOD_SOURCES loopback addresses (127.0.2.1
 * and up), so both of the node's pre-authentication caps, per address and
 * in all, are exercised, while the cluster's own links come from 127.0.0.1.
 * Every other connection sends a valid-looking Hello (attack.h) and then
 * nothing; the others send nothing at all. The flood opens `target`
 * connections at BNC_FLOOD_BURST_PER_S, then keeps trying to hold them all:
 * a connection the node closes is opened again, BNC_FLOOD_REOPEN_PER_S at
 * most. Every BNC_FLOOD_HTTP_EVERY_MS, GET /health on the node's HTTP port
 * must answer 200 within BNC_FLOOD_HTTP_TIMEOUT_MS.
 *
 * Ownership: the caller owns bnc_flood_t; the connection slots are
 * allocated here and freed after bnc_flood_stop's callback. */
#ifndef BNC_FLOOD_H
#define BNC_FLOOD_H

#include <stdint.h>
#include <uv.h>

#define BNC_FLOOD_SOURCES 64
#define BNC_FLOOD_BURST_PER_S 2000u
#define BNC_FLOOD_REOPEN_PER_S 200u
#define BNC_FLOOD_SETTLE_MS 500u /* after the burst, before max_open_settled counts */
#define BNC_FLOOD_HTTP_EVERY_MS 250u
#define BNC_FLOOD_HTTP_TIMEOUT_MS 1000u

typedef struct bnc_flood_conn_s bnc_flood_conn_t;

typedef struct bnc_flood_s {
    /* read-only */
    unsigned target;
    uint64_t attempts;    /* connects started */
    uint64_t established; /* connects that succeeded */
    uint64_t connect_failed;
    uint64_t hellos;         /* Hellos written */
    uint64_t closed_by_node; /* established connections the node ended */
    uint64_t bytes_in;       /* what the node sent (Challenges) */
    unsigned open;           /* established and not yet closed */
    unsigned max_open;
    unsigned max_open_settled; /* the largest `open` from the end of the burst + settle on */
    uint64_t burst_done_ms;    /* 0 while the first `target` connects are being made */
    int bind_failed;           /* the source addresses could not be used: 127.0.0.1 instead */
    uint64_t http_probes;
    uint64_t http_ok;
    uint64_t http_max_ms;
    char http_last_error[96];
    int running;
    /* private */
    uv_loop_t *loop;
    int port;
    int http_port;
    uint64_t rng;
    bnc_flood_conn_t *conns;
    unsigned next_slot;
    uv_timer_t timer;
    uint64_t (*now_ms)(void *ud);
    void *now_ud;
    /* the HTTP probe */
    uv_tcp_t http;
    uv_connect_t http_creq;
    uv_write_t http_wreq;
    int http_busy;
    uint64_t http_started_ms;
    uint64_t http_next_ms;
    char http_buf[256];
    size_t http_len;
    int open_handles;
    void (*close_cb)(void *ud);
    void *close_ud;
} bnc_flood_t;

/* Starts flooding 127.0.0.1:mesh_port with target connections and probing
 * 127.0.0.1:http_port. now_ms is the clock of burst_done_ms. Returns 0 or a
 * negative libuv code. */
int bnc_flood_start(bnc_flood_t *f, uv_loop_t *loop, int mesh_port, int http_port, unsigned target,
                    uint64_t seed, uint64_t (*now_ms)(void *), void *now_ud);

/* Closes every connection; cb runs once all handles are closed (at once if
 * the flood never started). The counters stay readable. Idempotent: a second
 * call only replaces the callback. */
void bnc_flood_stop(bnc_flood_t *f, void (*cb)(void *ud), void *ud);

#endif
