/* The workload of a chaos run: WebSocket clients speaking Phoenix V2 JSON
 * (through bennu-bench's client code), per_node on every node, each
 * subscribed to room:lobby and publishing sequenced new_msg bodies
 * "p<client> s<seq> t<ns>" at a fixed rate. Every send, delivery, join and
 * disconnect goes into the ledger; dropped connections are redialled.
 *
 * Ownership: the caller owns bnc_workload_t; clients and per-node nets are
 * allocated here and freed after bnc_workload_close's callback. */
#ifndef BNC_WORKLOAD_H
#define BNC_WORKLOAD_H

#include <stdint.h>
#include <uv.h>

#include "../bennu-bench/args.h"
#include "../bennu-bench/net.h"
#include "check.h"

#define BNC_TOPIC "room:lobby"

typedef struct bnc_workload_s bnc_workload_t;

typedef struct bnc_client_s {
    /* read-only */
    uint32_t idx;
    int node;
    int joined;
    uint64_t seq;
    uint64_t connects;
    uint64_t drops;
    /* private */
    bnc_workload_t *wl;
    bnb_conn_t conn;
    uint64_t join_ref;
    uint64_t next_ref;
    uv_timer_t pub_timer;
    uv_timer_t retry_timer;
} bnc_client_t;

struct bnc_workload_s {
    /* read-only */
    size_t n_clients;
    bnc_client_t *clients;
    uint64_t *sent_per_bucket; /* by send time */
    uint64_t *recv_per_bucket; /* by arrival time */
    size_t n_buckets;
    uint64_t bucket_ms;
    /* public */
    int publishing;
    /* private */
    uv_loop_t *loop;
    int n_nodes;
    bnc_ledger_t *ledger;
    bnb_config_t cfg[BNC_MAX_NODES];
    bnb_net_t *net[BNC_MAX_NODES];
    uv_timer_t heartbeat;
    uint64_t (*now_ms)(void *ud);
    void *now_ud;
    int stopping;
    int open;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* Prepares per_node clients for each node at host[i]:http_port[i] (host
 * NULL: every node on 127.0.0.1; the strings must outlive the workload)
 * and connects
 * them; the ledger must have been initialised for n_nodes * per_node
 * clients, client k on node k / per_node. Publishing starts when
 * wl->publishing is set. n_buckets of bucket_ms count sends and deliveries
 * for the timeline. Returns 0 or a negative libuv code. */
int bnc_workload_start(bnc_workload_t *wl, uv_loop_t *loop, int n_nodes, int per_node,
                       const char *const *host, const int *http_port, double rate,
                       bnc_ledger_t *ledger, uint64_t (*now_ms)(void *), void *now_ud,
                       size_t n_buckets, uint64_t bucket_ms);

/* Number of clients currently joined. */
size_t bnc_workload_joined(const bnc_workload_t *wl);

/* Closes every client; cb runs once all handles are closed. The counters
 * stay readable until bnc_workload_free. */
void bnc_workload_close(bnc_workload_t *wl, void (*cb)(void *ud), void *ud);
void bnc_workload_free(bnc_workload_t *wl);

#endif
