/* The bennu processes of a chaos run: spawning (and respawning with the
 * same name and ports), signals, and reading each node's stderr log as it
 * is written, both into <out>/nI.log and into a list of mesh events
 * (nodeup/nodedown as each node saw them), exits and sanitizer reports.
 *
 * Ownership: the caller owns bnc_cluster_t; everything runs on one loop. */
#ifndef BNC_CLUSTER_H
#define BNC_CLUSTER_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "proxy.h"

typedef struct bnc_cluster_s bnc_cluster_t;

/* A nodeup/nodedown line of node `observer` about node `peer`. */
typedef struct bnc_mesh_event_s {
    uint64_t t_ms;
    int observer;
    int peer;
    int up;
    char reason[32];
} bnc_mesh_event_t;

typedef struct bnc_exit_s {
    uint64_t t_ms;
    int node; /* -1: the impostor */
    int64_t status;
    int signal;
    int expected; /* the harness killed or stopped it */
} bnc_exit_t;

/* A Refuse the impostor got: its log's mesh_refused line. */
typedef struct bnc_refusal_s {
    uint64_t t_ms;
    char addr[48]; /* the node it dialled */
    char reason[24];
} bnc_refusal_t;

typedef struct bnc_node_s {
    /* read-only */
    int idx; /* -1: the impostor */
    char name[64];
    int http_port;
    int mesh_port;
    int pid; /* 0 when not running */
    int paused;
    int listening;      /* the current process logged event=listening */
    uint64_t listen_ms; /* when it did */
    int starts;
    uint64_t rss_start_kb;
    uint64_t rss_end_kb;
    int sanitizer_lines;
    uint64_t lines;        /* log lines so far */
    unsigned name_clashes; /* mesh_name_clash lines */
    uint64_t first_name_clash_ms;
    unsigned preauth_summaries; /* mesh_preauth_summary lines, and their sums */
    uint64_t pa_accepted;
    uint64_t pa_evicted;
    uint64_t pa_closed;
    unsigned pa_open_max;
    /* private */
    bnc_cluster_t *cl;
    uv_process_t proc;
    uv_pipe_t err;
    int handles;
    int expect_exit;
    int restart_pending;
    char line[16384];
    size_t line_len;
    FILE *log;
} bnc_node_t;

struct bnc_cluster_s {
    /* public: set before bnc_cluster_start */
    const char *bennu;
    const char *out_dir;
    const char *cookie;
    const char *secret;
    unsigned tick_ms;
    unsigned down_ms;
    uint64_t (*now_ms)(void *ud);
    void *now_ud;
    /* netns mode (bnc_cluster_use_netns): node i runs in namespace
     * netns[i] ("ip netns exec"), listens on addr[i] and dials its peers
     * directly; NULL netns[0] = proxy mode. */
    const char *netns[BNC_MAX_NODES];
    const char *addr[BNC_MAX_NODES];
    /* read-only */
    int n;
    bnc_node_t nodes[BNC_MAX_NODES];
    bnc_mesh_event_t *events;
    size_t n_events;
    size_t cap_events;
    bnc_exit_t exits[256];
    size_t n_exits;
    /* the impostor (bnc_impostor_start): a process with a node's name */
    bnc_node_t imp;
    int imp_as; /* whose name it took; -1 = never started */
    bnc_refusal_t refusals[256];
    size_t n_refusals;
    unsigned imp_nodeups; /* mesh_nodeup lines in its log: links it got */
    /* private */
    uv_loop_t *loop;
    const bnc_fabric_t *fab;
    void (*idle_cb)(void *ud);
    void *idle_ud;
};

/* Picks free ports and names for n nodes; no process starts yet. fab
 * (the proxies each node dials through) may be NULL in netns mode.
 * Returns 0 or a negative libuv code. */
int bnc_cluster_init(bnc_cluster_t *cl, uv_loop_t *loop, int n, const bnc_fabric_t *fab);

/* Switches the cluster to netns mode: names become nI@addr[i], and nodes
 * start inside their namespaces with no dial overrides. Both arrays must
 * outlive the cluster. Call after bnc_cluster_init, before any start. */
void bnc_cluster_use_netns(bnc_cluster_t *cl, const char *const *netns, const char *const *addr);

/* Spawns node i with its fixed name and ports. A start requested while the
 * previous process's handles are still closing happens once they are.
 * Returns 0 or a negative libuv code (e.g. the binary is missing). */
int bnc_node_start(bnc_cluster_t *cl, int i);

/* SIGKILL (expected exit), SIGSTOP, SIGCONT. No-ops when not running. */
void bnc_node_kill(bnc_cluster_t *cl, int i);
void bnc_node_pause(bnc_cluster_t *cl, int i);
void bnc_node_resume(bnc_cluster_t *cl, int i);

/* Resident set size of node i's process in KiB (from /proc), 0 if none. */
uint64_t bnc_node_rss_kb(const bnc_node_t *nd);

/* SIGTERM (after SIGCONT) to every running node; cb runs when every
 * process has exited and its handles are closed. */
void bnc_cluster_stop(bnc_cluster_t *cl, void (*cb)(void *ud), void *ud);
/* SIGKILL to whatever is still running (a stop that takes too long). */
void bnc_cluster_kill_all(bnc_cluster_t *cl);

/* Starts a process with node as_node's name, the cluster's cookie, ports
 * of its own and every node's real mesh port (not the proxies) as seeds;
 * its stderr goes to <out>/impostor.log. One impostor per run. Returns 0
 * or a negative libuv code. */
int bnc_impostor_start(bnc_cluster_t *cl, int as_node);
/* SIGTERM: it must exit 0, as a node does. */
void bnc_impostor_stop(bnc_cluster_t *cl);

/* Unexpected exits so far (the impostor's included). */
int bnc_cluster_crashes(const bnc_cluster_t *cl);

void bnc_cluster_free(bnc_cluster_t *cl);

#endif
