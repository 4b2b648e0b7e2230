/* The pure half of netns mode: names and addresses of the run's network
 * objects, and the kernel configuration (iptables-restore and tc batch
 * scripts) that enacts the per-flow state derived from the active faults
 * (bnc_flow_state, fault.h). No I/O: netns.c runs what these build.
 *
 * Layout of a run with harness pid P on subnet 10.213.S.0/24:
 *   bridge  bnc-brP            in the root namespace, 10.213.S.1 (clients, probe)
 *   ns      bncPnI             node I, eth0 = 10.213.S.(10+I), no default route
 *   veth    bncPvI <-> eth0    root end enslaved to the bridge
 * Every name carries P, so a later run can tell a leftover of a dead
 * harness (bnc_ns_owner) from the objects of one still running.
 *
 * Flow (a, b) is enacted in node a's namespace only, in the OUTPUT chain
 * (a user chain BNC) and on a's eth0:
 *   reject   -p tcp REJECT --reject-with tcp-reset (a's sends fail at once
 *            with an RST; b's sends meet the same rule in b's namespace,
 *            since a REJECT cut is always symmetric)
 *   held     DROP: the bytes are retransmitted by TCP after the heal, as
 *            on a real network; nobody sends an RST
 *   latency  NFQUEUE to queue bnc_ns_queue_num(a, b); the harness releases
 *            each packet latency + U(0, jitter) ms later, never before an
 *            earlier packet of the flow (netns.c)
 *   bandwidth an HTB class on a's eth0 with rate = ceil = the limit, chosen
 *            by a u32 filter on b's address; other traffic (clients,
 *            probe) uses the unlimited default class. */
#ifndef BNC_NETNS_PLAN_H
#define BNC_NETNS_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "fault.h"

#define BNC_NS_BRIDGE_PREFIX "bnc-br"
#define BNC_NS_PREFIX "bnc"
#define BNC_NS_DEV "eth0"
#define BNC_NS_CHAIN "BNC"
#define BNC_NS_NET_A 10
#define BNC_NS_NET_B 213
#define BNC_NS_HOST_BASE 10 /* node i is .(10 + i) */
#define BNC_NS_QUEUE_BASE 4200u
/* The default HTB class: effectively unlimited for a test cluster. */
#define BNC_NS_HTB_DEFAULT_RATE "10gbit"
#define BNC_NS_HTB_DEFAULT_BURST (256u * 1024u)

/* Object names (all fit IFNAMSIZ). Return the length written, as snprintf. */
int bnc_ns_netns_name(char *out, size_t cap, long pid, int node);
int bnc_ns_bridge_name(char *out, size_t cap, long pid);
int bnc_ns_veth_name(char *out, size_t cap, long pid, int node);
int bnc_ns_peer_name(char *out, size_t cap, long pid, int node); /* before its rename to eth0 */
/* "10.213.S.(10+node)"; node -1 gives the bridge address "10.213.S.1". */
int bnc_ns_addr(char *out, size_t cap, int subnet, int node);

/* If name is one of ours (a namespace bncPnI, a veth bncPvI or bncPpI, a
 * bridge bnc-brP), sets *pid to P and returns 0; otherwise -1. */
int bnc_ns_owner(const char *name, long *pid);

/* The NFQUEUE number of flow (from, to). */
unsigned bnc_ns_queue_num(int from, int to);

/* The iptables-restore --noflush script that replaces the chain BNC of
 * node self's namespace with the rules for flows (self, j), j != self,
 * given flows[j] = state of flow (self, j). Returns the length, or a
 * value >= cap when it did not fit (as snprintf). */
size_t bnc_ns_rules_script(char *out, size_t cap, int self, int n, const bnc_flow_t *flows,
                           int subnet);

/* The iptables-restore script that creates chain BNC and hooks it into
 * OUTPUT (run once per namespace at setup). */
size_t bnc_ns_rules_init_script(char *out, size_t cap);

/* True if any flow (self, j) has a bandwidth limit. */
bool bnc_ns_has_bandwidth(int self, int n, const bnc_flow_t *flows);

/* The `tc -batch` script installing the HTB tree for node self's eth0
 * (the caller deletes any previous root qdisc first). Empty (returns 0)
 * when no flow of self has a bandwidth limit. Returns the length, or a
 * value >= cap when it did not fit. */
size_t bnc_ns_tc_script(char *out, size_t cap, int self, int n, const bnc_flow_t *flows,
                        int subnet);

/* HTB burst for a rate: enough for a few full-size segments, so a slow
 * class still moves whole packets, but small next to a second of rate. */
unsigned bnc_ns_htb_burst(unsigned bytes_per_s);

#endif
