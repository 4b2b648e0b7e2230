/* What bennuctl prints, computed from the nodes' admin answers: tables,
 * merged JSON documents, and the comparisons behind `topic` and `check`.
 * Pure (JSON in, JSON or tables out), so it is unit tested with canned
 * answers. "nodes" arguments are objects keyed by node name whose values
 * hold that node's answers ("members", "groups", "topic", "stats", "mesh")
 * or an "error" string when it could not be asked. */
#ifndef BNCTL_VIEW_H
#define BNCTL_VIEW_H

#include <jansson.h>
#include <stdbool.h>

#include "table.h"

/* A copy of a members snapshot without the nodes whose name starts with
 * hide_prefix (bennuctl's own hidden connections) and without hidden nodes
 * that are down (admin tools that have exited). */
json_t *bnctl_members_clean(const json_t *members, const char *hide_prefix);
/* NODE INCARNATION ADDRESS STATE LINK AGE LAST TICK RTT MSGS IN/OUT BYTES
 * IN/OUT; the first row is the answering node itself ("self"). self_addr is
 * the address it was reached at. */
void bnctl_members_table(const json_t *members, const char *self_addr, bnctl_table_t *t);

/* The topics with subscribers anywhere, as target_name sees them, with each
 * node's local count taken from that node's own "groups" answer:
 *   {"node":target,"topics":[{"topic","nodes":[..],"counts":{node:n|null},
 *    "subscribers":n}]}, sorted by topic, filtered by the glob pattern. */
json_t *bnctl_groups_merge(const char *target_name, const json_t *nodes, const char *pattern);
/* TOPIC NODES SUBSCRIBERS PER NODE */
void bnctl_groups_table(const json_t *merged, bnctl_table_t *t);
/* {"topics":n,"memberships":n,"subscribers":n,"nodes":{node:{"topics","subscribers"}}} */
json_t *bnctl_groups_summary(const json_t *merged);
/* NODE TOPICS SUBSCRIBERS, with a total row */
void bnctl_groups_summary_table(const json_t *summary, bnctl_table_t *t);

/* One topic across nodes (each value's "topic" is that node's topic answer):
 *   {"topic","known":bool,"agree":bool,"holders":[..],"subscribers":n,
 *    "nodes":[{"node","local","count","sees":[..],"agrees"} | {"node","error"}],
 *    "problems":[sentences]}
 * holders are the nodes with local subscribers; a node agrees when the set
 * of holders it sees (its peers holding the topic, plus itself when local)
 * equals that. known is false when no node holds or sees the topic. */
json_t *bnctl_topic_compare(const char *topic, const json_t *nodes);
/* NODE LOCAL SUBSCRIBERS SEES HOLDERS AGREES */
void bnctl_topic_table(const json_t *cmp, bnctl_table_t *t);

/* NODE CONNS WS LP CHANNELS BCAST IN BCAST OUT DELIVERIES SLOW CLOSES
 * REFUSED CONNS REFUSED LINKS RSS UPTIME */
void bnctl_stats_table(const json_t *nodes, bnctl_table_t *t);
/* Mesh links a node refused at the handshake, from its close counters. */
json_int_t bnctl_refused_links(const json_t *closes);

/* Compares every answering node's members and groups:
 *   {"ok":bool,"answered":[..],"up":[..],"down":[..],"topics":n,
 *    "problems":[sentences]}
 * Problems: a node that answers but another sees it down; a node seen up
 * that did not answer; incarnations that differ; a peer's belief about a
 * node's topics that differs from the topics the node holds. Nodes that
 * every answering node sees down are listed in "down", not a problem. */
json_t *bnctl_check(const json_t *nodes);

/* Node names mentioned anywhere in the answers' members (up or down, not
 * hidden) that are not yet keys of nodes, with their "host:port":
 * {name: addr}. Lets `check` ask nodes the target did not know about. */
json_t *bnctl_unasked_nodes(const json_t *nodes);

#endif
