/* The fault proxies of bennu-chaos: one TCP proxy per ordered node pair
 * (dialer i, target j), listening on a free loopback port and forwarding
 * to node j's mesh port. Node i is told to reach node j through it
 * (--dial-override), so every mesh link crosses exactly one proxy and the
 * harness controls both directions of every link.
 *
 * Faults are applied per flow (see fault.h): withheld bytes are kept, in
 * order, and released when the fault ends (a network that drops packets
 * delays a TCP stream, it never removes bytes from the middle of it); more
 * than BNC_PROXY_HOLD_MAX withheld bytes reset the connection, as a TCP
 * retransmission timeout would. An end of stream travels in its flow like
 * data, so a one-way cut also withholds a FIN.
 *
 * Ownership: the caller owns bnc_fabric_t; proxies and connections are
 * allocated here and freed after bnc_fabric_close's callback. */
#ifndef BNC_PROXY_H
#define BNC_PROXY_H

#include <stdint.h>
#include <uv.h>

#include "attack.h"
#include "fault.h"
#include "schedule.h"

#define BNC_PROXY_HOLD_MAX (8u << 20)
/* Tampering (the mitm scenario's tamper faults): a connection is attacked
 * once, when the link it carries is up on both ends (at least 4 frames from
 * the dialer, 3 from the target: the handshake and the first frames after
 * it) and it is BNC_TAMPER_MIN_AGE_MS old, in one direction drawn from the
 * seed; the next attack on the same pair of nodes waits BNC_TAMPER_GAP_MS.
 * The kinds take turns. */
#define BNC_TAMPER_MIN_AGE_MS 150u
#define BNC_TAMPER_GAP_MS 250u
#define BNC_TAMPER_LOG_MAX 256

/* One attack as it happened. */
typedef struct bnc_tamper_event_s {
    uint64_t t_ms; /* on the fabric's clock (now_ms) */
    int from;      /* the bad frame's sender and receiver */
    int to;
    bnc_tamper_kind_t kind;
    uint64_t frame; /* see bnc_tamper_t */
    uint32_t detail;
} bnc_tamper_event_t;

typedef struct bnc_proxy_s bnc_proxy_t;

typedef struct bnc_proxy_stats_s {
    uint64_t accepted;
    uint64_t refused;        /* reset at accept by a REJECT partition */
    uint64_t reset_by_fault; /* existing connections reset by a fault */
    uint64_t overflow_resets;
    uint64_t bytes[2]; /* forwarded dialer->target, target->dialer */
    uint64_t max_held; /* largest withheld backlog seen on one flow */
} bnc_proxy_stats_t;

typedef struct bnc_fabric_s {
    /* read-only */
    int n;
    int listen_port[BNC_MAX_NODES][BNC_MAX_NODES]; /* [dialer][target]; 0 on the diagonal */
    bnc_tamper_event_t tampers[BNC_TAMPER_LOG_MAX];
    size_t n_tampers;
    /* public: where node j really listens; set before any connection arrives */
    int mesh_port[BNC_MAX_NODES];
    /* public: the clock of the tamper log (the run clock); may be NULL */
    uint64_t (*now_ms)(void *ud);
    void *now_ud;
    /* private */
    uv_loop_t *loop;
    bnc_proxy_t *px[BNC_MAX_NODES][BNC_MAX_NODES];
    const bnc_fault_t *active[BNC_MAX_FAULTS];
    size_t n_active;
    uint64_t rng;
    uint64_t tamper_rng;
    unsigned tamper_turn;
    uint64_t tamper_next_ms[BNC_MAX_NODES][BNC_MAX_NODES]; /* [lower][higher], loop clock */
    uint8_t *old_frame[BNC_MAX_NODES][BNC_MAX_NODES]; /* [from][to]: last frame of an old conn. */
    size_t old_len[BNC_MAX_NODES][BNC_MAX_NODES];
    int open_handles;
    int closing;
    void (*close_cb)(void *ud);
    void *close_ud;
    char rbuf[64 * 1024];
} bnc_fabric_t;

/* Creates and starts n*(n-1) listeners on 127.0.0.1 ephemeral ports.
 * Returns 0 or a negative libuv code (then call bnc_fabric_close anyway). */
int bnc_fabric_init(bnc_fabric_t *f, uv_loop_t *loop, int n, uint64_t seed);

/* Replaces the set of active faults (pointers must stay valid until the
 * next call). Connections a new REJECT cut crosses are reset, withheld
 * bytes of healed flows are released, deferred dials are made. */
void bnc_fabric_set_active(bnc_fabric_t *f, const bnc_fault_t *const *active, size_t n);

/* Resets (RST both sides) every connection between a node of a_mask and
 * a node of b_mask. Returns how many. */
unsigned bnc_fabric_reset(bnc_fabric_t *f, uint32_t a_mask, uint32_t b_mask);

/* Statistics of the proxy (dialer, target). */
bnc_proxy_stats_t bnc_fabric_stats(const bnc_fabric_t *f, int dialer, int target);

/* Closes every connection and listener; cb runs once all handles are
 * closed. */
void bnc_fabric_close(bnc_fabric_t *f, void (*cb)(void *ud), void *ud);

#endif
