/* One chaos run: start the proxies, the nodes, the probe and the
 * workload; play the fault schedule; drain; stop everything; judge the
 * invariants. The report writers (report.c) read the finished run. */
#ifndef BNC_RUN_H
#define BNC_RUN_H

#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "cluster.h"
#include "netns.h"
#include "probe.h"
#include "proxy.h"
#include "schedule.h"
#include "workload.h"

/* How link faults are enacted: userspace proxies on every link, or the
 * kernel, with every node in its own network namespace (root only). */
#define BNC_MODE_MAP(X)            \
    X(BNC_MODE_PROXY, "proxy")     \
    X(BNC_MODE_NETNS, "netns")

typedef enum {
#define BNC_MODE_ENUM(name, text) name,
    BNC_MODE_MAP(BNC_MODE_ENUM)
#undef BNC_MODE_ENUM
        BNC_MODE_COUNT
} bnc_mode_t;

const char *bnc_mode_name(bnc_mode_t m);

typedef struct bnc_opts_s {
    bnc_scenario_t scenario;
    bnc_mode_t mode;
    int nodes;
    uint64_t duration_ms;
    uint64_t seed;
    const char *out;
    const char *bennu;
    double rate;
    int per_node;
    unsigned tick_ms;
    unsigned down_ms;
    int quiet;
} bnc_opts_t;

#define BNC_DRAIN_MS 2000u
#define BNC_FORM_TIMEOUT_MS 20000u
#define BNC_CONVERGE_LIMIT_MS 10000u
#define BNC_BUCKET_MS 250u

/* What happened to one scheduled fault. Times on the run clock. */
typedef struct bnc_fault_run_s {
    uint64_t started_ms;
    uint64_t ended_ms;
    int started;
    int ended;
    uint64_t converged_ms; /* first converged probe round after the end; 0 = never */
    unsigned resets;       /* connections reset when a reset/partition began */
} bnc_fault_run_t;

typedef struct bnc_round_s {
    uint64_t t_ms;
    int converged;
} bnc_round_t;

/* A peer-down detection: observer declared peer down delay_ms after the
 * fault began (-1 = not within the limit). */
typedef struct bnc_detect_s {
    uint32_t fault_id;
    int observer;
    int peer;
    int64_t delay_ms;
    char reason[32];
} bnc_detect_t;

#define BNC_INVARIANT_MAP(X)                                                                   \
    X(BNC_INV_FORMED, "cluster_formed", "the cluster formed and every client joined")          \
    X(BNC_INV_DELIVERED, "workload_delivered", "messages were sent and delivered")             \
    X(BNC_INV_NO_UNEXPLAINED_LOSS, "no_unexplained_loss",                                       \
      "every lost copy falls in a fault window between its publisher and subscriber")          \
    X(BNC_INV_NO_DUPLICATES, "no_duplicates", "no subscriber received a message twice")         \
    X(BNC_INV_NO_REORDER, "no_reordering", "per publisher, every subscriber saw increasing seqs") \
    X(BNC_INV_NO_PHANTOMS, "no_phantom_messages", "no copy of a message that was never sent")   \
    X(BNC_INV_DOWN_DETECTED, "down_detected",                                                   \
      "every separated peer was declared down within the limit")                               \
    X(BNC_INV_RECONVERGED, "reconverged", "members and groups agreed again after the last heal") \
    X(BNC_INV_NO_CRASHES, "no_crashes", "no node exited unless the harness made it")          \
    X(BNC_INV_NO_SANITIZER, "no_sanitizer_reports", "no sanitizer report in any node's stderr")

typedef enum {
#define BNC_INV_ENUM(name, text, desc) name,
    BNC_INVARIANT_MAP(BNC_INV_ENUM)
#undef BNC_INV_ENUM
        BNC_INV_COUNT
} bnc_invariant_t;

const char *bnc_invariant_name(bnc_invariant_t i);
const char *bnc_invariant_desc(bnc_invariant_t i);

typedef struct bnc_run_s {
    bnc_opts_t opt;
    uv_loop_t loop;
    uint64_t t0_ns;
    bnc_schedule_t sched;
    bnc_fault_run_t fr[BNC_MAX_FAULTS];
    bnc_fabric_t fab;  /* proxy mode */
    bnc_netns_t ns;    /* netns mode */
    const char *ns_names[BNC_MAX_NODES];
    const char *ns_addrs[BNC_MAX_NODES];
    uv_signal_t sig[2]; /* SIGINT, SIGTERM: stop cleanly (netns objects must go) */
    int interrupted;
    bnc_cluster_t cl;
    bnc_probe_t probe;
    bnc_workload_t wl;
    bnc_ledger_t ledger;
    char cookie[40];
    char secret[72];
    char seeds[BNC_MAX_NODES][32];
    const char *seed_ptrs[BNC_MAX_NODES];
    const char *names[BNC_MAX_NODES];
    uv_timer_t timer;
    int phase;
    int setup_error;
    char setup_why[256];
    uint64_t sched0_ms; /* run-clock time of schedule time 0 */
    uint64_t end_ms;    /* run-clock time the workload stopped */
    uint64_t final_heal_ms;
    uint64_t final_converged_ms;
    bnc_round_t *rounds;
    size_t n_rounds;
    size_t cap_rounds;
    int last_converged;
    size_t next_event;
    uint64_t stop_deadline_ms;
    int closing_parts;
    /* results */
    bnc_window_t windows[BNC_MAX_FAULTS];
    size_t n_windows;
    bnc_grace_t grace;
    bnc_tally_t tally;
    uint64_t *lost_per_bucket;
    size_t n_buckets;
    bnc_detect_t detects[BNC_MAX_FAULTS * BNC_MAX_NODES * 2];
    size_t n_detects;
    int inv_pass[BNC_INV_COUNT];
    char inv_detail[BNC_INV_COUNT][256];
    int all_pass;
} bnc_run_t;

/* Runs to completion (blocking: owns its loop). Returns 0 when every
 * invariant holds, 1 otherwise, 2 when netns mode cannot be set up, 130
 * when interrupted (SIGINT/SIGTERM; the report is still written). */
int bnc_run(bnc_run_t *r, const bnc_opts_t *opt);

/* Run-clock milliseconds. */
uint64_t bnc_run_now(void *r);

void bnc_run_free(bnc_run_t *r);

/* report.c */
int bnc_report_write(const bnc_run_t *r);
void bnc_report_print_summary(const bnc_run_t *r, FILE *out);

#endif
