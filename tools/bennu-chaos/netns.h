/* netns mode of bennu-chaos (root only): every node in its own network
 * namespace, joined to a bridge in the root namespace by a veth pair, and
 * the link faults enacted by the kernel instead of by the fault proxies.
 * The layout and the rule scripts are built by netns_plan.[ch]; this file
 * runs them (ip, iptables-restore, tc, ss) and owns the objects:
 *
 *   partition (REJECT) iptables REJECT --reject-with tcp-reset, plus
 *                      `ss -K` on the cut links, so existing connections
 *                      end at once as they do in proxy mode
 *   one-way, blackhole iptables DROP (no RST; TCP retransmits after the heal)
 *   reset              `ss -K` on both ends (the kernel sends the RSTs)
 *   latency, jitter    NFQUEUE: the packets of a slowed flow wait in a
 *                      kernel queue and the harness gives each its verdict
 *                      latency + U(0, jitter) ms after it arrived, in order.
 *                      tc netem would be the obvious tool, but it is not
 *                      in every kernel (this one has no sch_netem) and its
 *                      jitter reorders packets; the queue keeps proxy
 *                      mode's "chunks never overtake" rule.
 *   bandwidth          tc HTB class (rate = ceil = limit) for the peer's
 *                      address on the node's eth0
 *
 * Only the node-to-node traffic is touched: the rules match peer node
 * addresses, and the workload and probe reach the nodes from the bridge
 * address. Nothing routes out of the subnet (no default route in the
 * namespaces, no NAT, no forwarding set up in the root namespace).
 *
 * Every object name carries the harness pid; setup first deletes objects
 * whose pid is no longer a running process (a crashed run), and teardown
 * (also reached on SIGINT/SIGTERM and at exit) deletes this run's.
 *
 * Ownership: the caller owns bnc_netns_t. bnc_netns_setup and
 * bnc_netns_teardown block (they run commands); the rest runs on the loop. */
#ifndef BNC_NETNS_H
#define BNC_NETNS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "fault.h"
#include "netns_plan.h"

#define BNC_NS_SCRIPT_MAX 4096

typedef struct bnc_nfq_pkt_s {
    uint32_t id;
    uint64_t due_ms;
} bnc_nfq_pkt_t;

/* The held packets of one flow, oldest first. */
typedef struct bnc_nfq_flow_s {
    bnc_nfq_pkt_t *pkts;
    size_t head;
    size_t len;
    size_t cap;
    bnc_pace_t pace;
    uint32_t last_id;
    int any;
    uint64_t delayed; /* packets that went through the queue */
    uint64_t max_held;
} bnc_nfq_flow_t;

typedef struct bnc_netns_s {
    /* read-only */
    long pid;
    int n;
    int subnet;
    char bridge[32];
    char bridge_addr[32];
    char ns[BNC_MAX_NODES][32];
    char addr[BNC_MAX_NODES][32];
    int netem_available;   /* informational: tc netem works in this kernel */
    uint64_t rule_updates; /* iptables-restore runs after setup */
    uint64_t tc_updates;
    uint64_t killed[BNC_MAX_NODES][BNC_MAX_NODES]; /* sockets `ss -K`ed in ns i towards j */
    uint64_t nfq_overruns;
    uint64_t cmd_failures;
    char last_error[512];
    bnc_nfq_flow_t q[BNC_MAX_NODES][BNC_MAX_NODES];
    /* private */
    int made_bridge;
    int made_ns[BNC_MAX_NODES];
    bnc_flow_t flows[BNC_MAX_NODES][BNC_MAX_NODES];
    char rules[BNC_MAX_NODES][BNC_NS_SCRIPT_MAX];
    char tc[BNC_MAX_NODES][BNC_NS_SCRIPT_MAX];
    int tc_on[BNC_MAX_NODES];
    int nfq_fd[BNC_MAX_NODES];
    uv_poll_t poll[BNC_MAX_NODES];
    uv_timer_t timer;
    int started;
    int open_handles;
    uint64_t rng;
    uint64_t (*now_ms)(void *ud);
    void *now_ud;
    void (*close_cb)(void *ud);
    void *close_ud;
} bnc_netns_t;

/* True when this process may build namespaces (effective uid 0). */
bool bnc_netns_privileged(void);

/* Deletes the namespaces, veths and bridges of harness runs whose pid is
 * no longer running (and SIGKILLs processes left in those namespaces,
 * which can only be bennu nodes of the dead run). */
void bnc_netns_cleanup_stale(void);

/* Builds the bridge, n namespaces and veth pairs, installs the empty
 * rule chains and opens the NFQUEUE readers. On failure everything made
 * so far is deleted, *why says what failed, and -1 is returned. */
int bnc_netns_setup(bnc_netns_t *ns, uv_loop_t *loop, int n, uint64_t seed,
                    uint64_t (*now_ms)(void *), void *now_ud, char *why, size_t cap);

/* Enacts the set of active faults (recomputes every flow, rewrites only
 * the namespaces whose rules or shaping changed). Connections a new REJECT
 * cut crosses are destroyed. */
void bnc_netns_set_active(bnc_netns_t *ns, const bnc_fault_t *const *active, size_t n);

/* Destroys every TCP connection between a node of a_mask and one of
 * b_mask (both ends). Returns how many connections it found. */
unsigned bnc_netns_reset(bnc_netns_t *ns, uint32_t a_mask, uint32_t b_mask);

/* Releases every held packet and closes the loop handles; cb runs when
 * they are closed. */
void bnc_netns_close(bnc_netns_t *ns, void (*cb)(void *ud), void *ud);

/* Deletes the namespaces (killing anything left in them) and the bridge.
 * Idempotent; safe after a failed setup. */
void bnc_netns_teardown(bnc_netns_t *ns);

void bnc_netns_free(bnc_netns_t *ns);

#endif
