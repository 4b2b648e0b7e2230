/* The convergence probe: a hidden mesh node dialing every bennu node's
 * mesh port directly (not through the fault proxies), asking each for
 * "members", "groups" and the workload topic's "presence" every period and judging agreement with
 * bnc_converged. A round ends when every answer or timeout is in.
 *
 * Ownership: the caller owns bnc_probe_t; close with bnc_probe_close. */
#ifndef BNC_PROBE_H
#define BNC_PROBE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "bennu/admin.h"
#include "bennu/mesh.h"
#include "fault.h"

typedef struct bnc_probe_s bnc_probe_t;

/* Called at the end of each round with its verdict. */
typedef void (*bnc_probe_round_cb)(void *ud, int converged, const char *why);
/* Called at the end of each round, before the verdict, with every node's
 * "members" and "groups" answer (NULL: no answer); valid during the call. */
typedef void (*bnc_probe_answers_cb)(void *ud, json_t *const *members, json_t *const *groups);

struct bnc_probe_s {
    /* read-only */
    uint64_t rounds;
    uint64_t timeouts;
    char last_why[160];
    /* public: optional, set after bnc_probe_start */
    bnc_probe_answers_cb answers;
    /* private */
    int n;
    const char *names[BNC_MAX_NODES];
    json_t *members[BNC_MAX_NODES];
    json_t *groups[BNC_MAX_NODES];
    /* each node's {"op":"presence","topic":BNC_TOPIC} answer of the round
     * being reported (NULL: none); valid during the answers callback */
    json_t *presence[BNC_MAX_NODES];
    int outstanding;
    bn_mesh_t *mesh;
    uv_timer_t timer;
    unsigned timeout_ms;
    bnc_probe_round_cb cb;
    void *ud;
    void (*close_cb)(void *ud);
    void *close_ud;
    int closing;
    int pending_closes;
};

/* Starts the hidden mesh and the polling timer. names[i] and the seeds
 * must outlive the probe. Returns 0 or a negative code. */
int bnc_probe_start(bnc_probe_t *p, uv_loop_t *loop, int n, const char *const *names,
                    const char *const *seeds, const char *cookie, unsigned tick_ms,
                    unsigned down_ms, unsigned period_ms, bnc_probe_round_cb cb, void *ud);

void bnc_probe_close(bnc_probe_t *p, void (*cb)(void *ud), void *ud);

#endif
