/* One chaos run: start the proxies, the nodes, the probe and the
 * workload; play the fault schedule; drain; stop everything; judge the
 * invariants. The report writers (report.c) read the finished run. */
#ifndef BNC_RUN_H
#define BNC_RUN_H

#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "cluster.h"
#include "flood.h"
#include "netns.h"
#include "probe.h"
#include "proxy.h"
#include "schedule.h"
#include "workload.h"

/* How link faults are enacted: userspace proxies on every link, or the
 * kernel, with every node in its own network namespace (root only). */
#define BNC_MODE_MAP(X)        \
    X(BNC_MODE_PROXY, "proxy") \
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

/* Limits of the attack scenarios' invariants. */
#define BNC_TAMPER_DETECT_MS 1000u    /* a bad frame's receiver closes the link within */
#define BNC_IMPOSTOR_MARGIN_MS 1000u  /* the named node stays up until this after the impostor */
#define BNC_PREAUTH_CAP 128u          /* the nodes' default --mesh-max-preauth */
#define BNC_FLOOD_OPEN_SLACK 64u      /* connections in the accept queue, on top of the cap */
#define BNC_FLOOD_LOG_LINES_MAX 200u  /* lines the flooded node may log during the flood */
#define BNC_FLOOD_RSS_LIMIT_KB 65536u /* the flooded node's RSS */

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

#define BNC_INVARIANT_MAP(X)                                                                      \
    X(BNC_INV_FORMED, "cluster_formed", "the cluster formed and every client joined")             \
    X(BNC_INV_DELIVERED, "workload_delivered", "messages were sent and delivered")                \
    X(BNC_INV_NO_UNEXPLAINED_LOSS, "no_unexplained_loss",                                         \
      "every lost copy falls in a fault window between its publisher and subscriber")             \
    X(BNC_INV_NO_DUPLICATES, "no_duplicates", "no subscriber received a message twice")           \
    X(BNC_INV_NO_REORDER, "no_reordering", "per publisher, every subscriber saw increasing seqs") \
    X(BNC_INV_NO_PHANTOMS, "no_phantom_messages", "no copy of a message that was never sent")     \
    X(BNC_INV_DOWN_DETECTED, "down_detected",                                                     \
      "every separated peer was declared down within the limit")                                  \
    X(BNC_INV_RECONVERGED, "reconverged", "members and groups agreed again after the last heal")  \
    X(BNC_INV_NO_CRASHES, "no_crashes", "no node exited unless the harness made it")              \
    X(BNC_INV_NO_SANITIZER, "no_sanitizer_reports", "no sanitizer report in any node's stderr")   \
    X(BNC_INV_PRESENCE, "presence_agreed",                                                        \
      "after the last heal every node listed exactly the joined clients in room:lobby, one "      \
      "presence each, and the same presences (no zombie, none missing)")                          \
    X(BNC_INV_NAME_HELD, "name_held",                                                             \
      "the node whose name an impostor took stayed up everywhere, with its own incarnation")      \
    X(BNC_INV_IMPOSTOR_REFUSED, "impostor_refused",                                               \
      "every node refused the impostor (name_clash), it backed off and never got a link")         \
    X(BNC_INV_TAMPER_DETECTED, "tamper_detected",                                                 \
      "every altered, replayed or injected frame made its receiver close the link with the "      \
      "matching reason")                                                                          \
    X(BNC_INV_DELIVERY_RESUMED, "delivery_resumed",                                               \
      "after the attack, every message between the attacked nodes was delivered again")           \
    X(BNC_INV_FLOOD_CONTAINED, "flood_contained",                                                 \
      "the flood happened, the node kept at most its pre-auth cap open and logged no line per "   \
      "connection")                                                                               \
    X(BNC_INV_FLOOD_REJOIN, "flood_rejoin",                                                       \
      "a node restarted during the flood was linked with every node again within the limit")      \
    X(BNC_INV_FLOOD_HTTP, "flood_http", "the flooded node's HTTP port answered every probe")      \
    X(BNC_INV_FLOOD_RSS, "flood_rss", "the flooded node's RSS stayed under the limit")

typedef enum {
#define BNC_INV_ENUM(name, text, desc) name,
    BNC_INVARIANT_MAP(BNC_INV_ENUM)
#undef BNC_INV_ENUM
        BNC_INV_COUNT
} bnc_invariant_t;

const char *bnc_invariant_name(bnc_invariant_t i);
const char *bnc_invariant_desc(bnc_invariant_t i);
/* Whether invariant i is judged for a schedule: the first eleven always, the
 * others when the schedule has the attack they are about. */
bool bnc_invariant_applies(bnc_invariant_t i, const bnc_schedule_t *s);

/* What the checker made of one tamper (the fabric's log, same index). */
typedef struct bnc_tamper_seen_s {
    int found; /* the receiver declared the sender down in time */
    int64_t delay_ms;
    char reason[32];
} bnc_tamper_seen_t;

typedef struct bnc_run_s {
    bnc_opts_t opt;
    uv_loop_t loop;
    uint64_t t0_ns;
    bnc_schedule_t sched;
    bnc_fault_run_t fr[BNC_MAX_FAULTS];
    bnc_fabric_t fab; /* proxy mode */
    bnc_netns_t ns;   /* netns mode */
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
    /* presence invariant: the verdict of the latest round taken with the
     * cluster converged, every client joined and the last fault healed */
    int presence_judged;
    int presence_ok;
    uint64_t presence_rounds_ok;
    char presence_why[256];
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
    int inv_applies[BNC_INV_COUNT];
    int inv_unchecked[BNC_INV_COUNT]; /* could not be judged (reported "not checked") */
    char inv_detail[BNC_INV_COUNT][320];
    int all_pass;
    /* attacks */
    bnc_tamper_seen_t tamper_seen[BNC_TAMPER_LOG_MAX];
    uint64_t resumed_from_ms;
    uint64_t resumed_expected[2]; /* a->b, b->a copies sent after the attack */
    uint64_t resumed_delivered[2];
    unsigned imp_rounds; /* probe rounds judged while an impostor ran */
    unsigned imp_bad;
    char imp_bad_why[160];
    bnc_flood_t flood;
    int flood_node;
    uint64_t flood_rss_before_kb;
    uint64_t flood_rss_peak_kb;
    uint64_t flood_rss_after_kb;
    uint64_t flood_rss_next_ms;
    uint64_t flood_lines_before;
    uint64_t flood_lines_during;
    int flood_restarted;        /* the node restarted during the flood, -1 = none */
    int64_t flood_listen_ms;    /* from its restart: listening again, */
    int64_t flood_rejoin_ms;    /* linked with every node both ways (node logs), */
    int64_t flood_converged_ms; /* the probe's next converged round; -1 = never */
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
