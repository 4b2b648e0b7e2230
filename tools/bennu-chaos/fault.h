/* Fault model of bennu-chaos: the kinds of fault, which node pairs a fault
 * touches, and the per-flow state a proxy derives from the set of active
 * faults (the proxy fault state machine). Pure code: no I/O, no libuv.
 *
 * A flow is one direction of the traffic between two nodes: flow (a, b)
 * carries the bytes node a sends to node b, whichever of the two dialed the
 * TCP connection. Every proxy consults the state of its two flows. */
#ifndef BNC_FAULT_H
#define BNC_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BNC_MAX_NODES 16

/* X(enum, name, separating): a separating fault may legitimately cost
 * messages between the nodes it touches; the others (latency, bandwidth,
 * an impostor, a connection flood) must lose nothing.
 *
 * The last three are attacks rather than failures:
 *   tamper    an active man in the middle on the links between a_mask and
 *             b_mask (in the proxies): flipped bytes, replayed frames,
 *             garbage frames; each attacked connection must be closed by
 *             the node that received the bad frame;
 *   impostor  a second bennu process with the name (and cookie) of the node
 *             in a_mask, joined to every node; it must be refused;
 *   flood     `conns` unauthenticated connections held on the mesh port of
 *             the node in a_mask, some silent, some after a Hello. */
#define BNC_FAULT_KIND_MAP(X)              \
    X(BNC_FAULT_PARTITION, "partition", 1) \
    X(BNC_FAULT_BLACKHOLE, "blackhole", 1) \
    X(BNC_FAULT_RESET, "reset", 1)         \
    X(BNC_FAULT_LATENCY, "latency", 0)     \
    X(BNC_FAULT_BANDWIDTH, "bandwidth", 0) \
    X(BNC_FAULT_KILL, "kill", 1)           \
    X(BNC_FAULT_PAUSE, "pause", 1)         \
    X(BNC_FAULT_TAMPER, "tamper", 1)       \
    X(BNC_FAULT_IMPOSTOR, "impostor", 0)   \
    X(BNC_FAULT_FLOOD, "flood", 0)

typedef enum {
#define BNC_FAULT_ENUM(name, text, sep) name,
    BNC_FAULT_KIND_MAP(BNC_FAULT_ENUM)
#undef BNC_FAULT_ENUM
        BNC_FAULT_KIND_COUNT
} bnc_fault_kind_t;

/* The `random` scenario draws from the failures only (partition to pause),
 * so its schedules do not depend on the attacks added later. */
#define BNC_FAULT_RANDOM_KINDS (BNC_FAULT_PAUSE + 1)

const char *bnc_fault_kind_name(bnc_fault_kind_t k);
bool bnc_fault_kind_separating(bnc_fault_kind_t k);
/* True for faults acting on a process rather than on links (kill, pause,
 * and the attacks aimed at one node: impostor, flood). */
bool bnc_fault_kind_is_node(bnc_fault_kind_t k);

/* One scheduled fault. Link faults touch the flows between the node sets
 * a_mask and b_mask (bit i = node i): a->b, and b->a unless oneway. Node
 * faults (kill, pause) act on the single node in a_mask; b_mask is unused.
 * A reset is instantaneous: end_ms == start_ms. Times are milliseconds from
 * the start of the fault schedule. */
typedef struct bnc_fault_s {
    uint32_t id;
    bnc_fault_kind_t kind;
    uint32_t a_mask;
    uint32_t b_mask;
    bool oneway;             /* partition: only a->b bytes are withheld */
    uint32_t latency_ms;     /* latency: added one-way delay */
    uint32_t jitter_ms;      /* latency: extra uniform 0..jitter delay per chunk */
    uint32_t bw_bytes_per_s; /* bandwidth: limit per flow */
    uint32_t conns;          /* flood: connections held */
    uint64_t start_ms;
    uint64_t end_ms;
} bnc_fault_t;

/* True if fault f acts on flow (from, to). Node faults act on every flow
 * to or from their node. */
bool bnc_fault_covers_flow(const bnc_fault_t *f, int from, int to);
/* True if f separates nodes x and y (x may equal y for node faults):
 * used to decide whether a message from x to y may be lost. Link faults
 * are taken as symmetric here, since a one-way cut also ends the link. */
bool bnc_fault_separates(const bnc_fault_t *f, int x, int y);

/* What a proxy does with one flow, derived from the active faults. */
typedef struct bnc_flow_s {
    bool reject; /* new connections are reset at once, existing ones were reset */
    bool held;   /* bytes are withheld (not lost) until the fault ends */
    uint32_t latency_ms;
    uint32_t jitter_ms;
    uint32_t bw_bytes_per_s; /* 0 = unlimited */
    bool tamper;             /* a man in the middle attacks the connections */
} bnc_flow_t;

/* Combines every fault in active[0..n) covering flow (from, to): held,
 * reject and tamper if any says so, the largest latency and jitter, the
 * smallest non-zero bandwidth. Node faults and resets do not change flows
 * (the harness acts on processes and connections for those). */
bnc_flow_t bnc_flow_state(const bnc_fault_t *const *active, size_t n, int from, int to);

/* What a proxy does with a connection that node `dialer` opens towards
 * node `target`. */
typedef enum {
    BNC_ADMIT_CONNECT, /* dial the target now */
    BNC_ADMIT_DEFER,   /* keep the client, dial once dialer->target is no longer held */
    BNC_ADMIT_RESET,   /* reset the client at once (a REJECT firewall) */
} bnc_admit_t;

bnc_admit_t bnc_flow_admit(const bnc_flow_t *fwd, const bnc_flow_t *back);

/* Pacing of one flow: the earliest time the next chunk may be written.
 * last_due_ms and bw_free_ms carry the flow's history (start both at 0);
 * chunks never overtake each other, so TCP ordering is preserved even with
 * jitter. r is a uniform random number in [0, 1). */
typedef struct bnc_pace_s {
    uint64_t last_due_ms;
    double bw_free_ms;
} bnc_pace_t;

uint64_t bnc_pace_due(bnc_pace_t *p, const bnc_flow_t *f, uint64_t arrival_ms, size_t len,
                      double r);

#endif
