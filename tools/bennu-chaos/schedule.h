/* Scenarios and fault schedules of bennu-chaos. A schedule is a pure
 * function of (scenario, nodes, duration, seed): the same inputs always
 * give the same faults, so any run can be replayed from its report. */
#ifndef BNC_SCHEDULE_H
#define BNC_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "fault.h"

#define BNC_SCENARIO_MAP(X)                                                                        \
    X(BNC_SC_PARTITION_HALVES, "partition-halves",                                                 \
      "cut the cluster into two halves (RST on every cross link), then heal")                      \
    X(BNC_SC_ISOLATE_ONE, "isolate-one",                                                           \
      "one node: first a one-way cut (its bytes withheld), then a full isolation")                 \
    X(BNC_SC_FLAPPING_LINK, "flapping-link",                                                       \
      "one link cut and healed repeatedly, with connection resets in between")                     \
    X(BNC_SC_BLACKHOLE, "blackhole",                                                               \
      "one link silently withholds bytes both ways (no RST; only ticks notice)")                   \
    X(BNC_SC_SLOW_LINK, "slow-link",                                                               \
      "latency+jitter on one node's links and a bandwidth cap on one link; nothing may be lost")   \
    X(BNC_SC_KILL_RESTART, "kill-restart",                                                         \
      "SIGKILL one node, restart it with the same name and ports")                                 \
    X(BNC_SC_PAUSE_RESUME, "pause-resume", "SIGSTOP one node longer than --down-ms, then SIGCONT") \
    X(BNC_SC_RANDOM, "random",                                                                     \
      "a random, overlapping mix of every fault, reproducible from --seed")                        \
    X(BNC_SC_DUPLICATE_NAME, "duplicate-name",                                                     \
      "an impostor with a live node's name and the cookie joins; it is refused, the node stays "   \
      "up")                                                                                        \
    X(BNC_SC_MITM, "mitm",                                                                         \
      "an attacker on one link flips bytes, replays and injects frames; nothing reaches clients")  \
    X(BNC_SC_FLOOD, "flood",                                                                       \
      "2000 unauthenticated connections on one node's mesh port while another node restarts")

typedef enum {
#define BNC_SC_ENUM(name, text, desc) name,
    BNC_SCENARIO_MAP(BNC_SC_ENUM)
#undef BNC_SC_ENUM
        BNC_SC_COUNT
} bnc_scenario_t;

const char *bnc_scenario_name(bnc_scenario_t s);
const char *bnc_scenario_desc(bnc_scenario_t s);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int bnc_scenario_parse(const char *name, bnc_scenario_t *out);

/* Shortest schedule (ms) a scenario can be fitted into: faults occupy
 * [BNC_LEAD_MS, duration - BNC_TAIL_MS) and the tail lets the cluster
 * reconverge while the workload still runs. */
#define BNC_LEAD_MS 1500u
#define BNC_TAIL_MS 4500u
#define BNC_MIN_DURATION_MS 8000u
#define BNC_MAX_FAULTS 64

/* The flood scenario: connections held on the flooded node's mesh port, and
 * how soon after its restart the other node must be back in a full mesh
 * (the flood lasts at least that long after the restart). */
#define BNC_FLOOD_CONNS 2000u
#define BNC_FLOOD_REJOIN_MS 4000u
#define BNC_FLOOD_KILL_AT_MS 1000u /* after the flood starts */
#define BNC_FLOOD_KILL_MS 500u

/* Shortest --duration a scenario accepts (BNC_MIN_DURATION_MS, or more for
 * flood, whose restart must fit inside the flood). */
uint64_t bnc_scenario_min_duration_ms(bnc_scenario_t s);

typedef struct bnc_schedule_s {
    bnc_fault_t faults[BNC_MAX_FAULTS];
    size_t n;
    uint64_t duration_ms;
} bnc_schedule_t;

/* The schedule's parameters that depend on the node timing. */
typedef struct bnc_timing_s {
    uint32_t tick_ms;
    uint32_t down_ms;
} bnc_timing_t;

/* Fills s. nodes in [2, BNC_MAX_NODES], duration_ms >=
 * bnc_scenario_min_duration_ms(sc). Faults come out sorted by start time
 * with ids 1..n. Returns 0 or -1 on a bad argument. */
int bnc_schedule_build(bnc_schedule_t *s, bnc_scenario_t sc, int nodes, uint64_t duration_ms,
                       uint64_t seed, const bnc_timing_t *t);

/* xorshift64* generator used for schedules and proxy jitter; state must
 * not be 0 (bnc_rng_seed takes care of that). */
uint64_t bnc_rng_seed(uint64_t seed);
uint64_t bnc_rng_next(uint64_t *state);
/* Uniform in [0, n) (n > 0). */
uint32_t bnc_rng_below(uint64_t *state, uint32_t n);
/* Uniform in [0, 1). */
double bnc_rng_unit(uint64_t *state);

/* One-line description of a fault ("partition {0}|{1,2} 1500-6000ms"). */
size_t bnc_fault_describe(const bnc_fault_t *f, char *out, size_t cap);

#endif
