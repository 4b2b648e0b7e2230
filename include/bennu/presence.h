/* Presence: Phoenix.Presence on a Bennu node, replicated across the mesh.
 *
 * A channel tracks its socket under a key (a string) with a meta (a JSON
 * object) on the channel's topic. Every meta gets a fresh "phx_ref" (and
 * "phx_ref_prev" after an update), exactly as Phoenix.Presence emits them,
 * so the official phoenix.js `Presence` class works unchanged:
 *
 *   - the tracking channel's client gets "presence_state" (a push carrying
 *     its join_ref; sent once, after the join reply when tracked inside
 *     join, as Phoenix's after_join would) with the full list of the topic;
 *   - every local subscriber of the topic gets "presence_diff" broadcasts
 *     {"joins":{key:{"metas":[...]}},"leaves":{...}}, coalesced per topic
 *     over cfg.presence_diff_ms (one diff carries many joins and leaves).
 *
 * A channel's presences end when the channel ends, whatever the reason
 * (leave, crash, close, duplicate join, connection drop).
 *
 * Big rooms: a topic whose distinct keys exceed cfg.presence_count_above
 * switches to count-only mode until it empties: instead of diffs its
 * subscribers get "presence_count" {"count": distinct keys, "metas": total
 * metas} at most once per second per topic when it changed, and a channel that
 * tracks gets "presence_count" instead of "presence_state". A track that
 * would take a topic over cfg.presence_max_per_topic metas fails (-1, logged
 * "presence_cap"). docs/presence.md has the details.
 *
 * Everything runs on the server's loop thread. */
#ifndef BENNU_PRESENCE_H
#define BENNU_PRESENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/bennu.h"
#include "bennu/channel.h"
#include "bennu/export.h"
#include "bennu/mesh.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tracks ch's socket under key on ch's topic. meta: a JSON object (reference
 * stolen, even on failure; NULL = {}); it must not carry phx_ref or
 * phx_ref_prev (they are set here) and is not modified by the caller
 * afterwards. Valid inside join (the state is pushed after the join reply)
 * and later. Returns 0, or -1: the channel is closing, (ch, key) is already
 * tracked, key is empty or over 1024 bytes, meta is not an object or its
 * JSON is over 4096 bytes, the topic is at presence_max_per_topic, OOM. */
BN_EXTERN int bn_presence_track(bn_channel_t *ch, const char *key, json_t *meta);
/* Removes ch's presence under key (a leave). 0, or -1 when not tracked. */
BN_EXTERN int bn_presence_untrack(bn_channel_t *ch, const char *key);
/* Replaces the meta of ch's presence under key (reference stolen; NULL =
 * {}): clients see the old meta leave and the new one join (phx_ref_prev =
 * the old phx_ref) in one diff. 0, or -1 as for track / not tracked. */
BN_EXTERN int bn_presence_update(bn_channel_t *ch, const char *key, json_t *meta);
/* Pushes "presence_state" (or "presence_count" in count-only mode) to ch's
 * client now, for channels that only watch. 0 or -1. */
BN_EXTERN int bn_presence_push_state(bn_channel_t *ch);

/* The topic's presences as this node knows them, in the shape of
 * presence_state: {key: {"metas": [...]}} (a new reference; {} for an
 * unknown topic). */
BN_EXTERN json_t *bn_presence_list(bn_server_t *srv, const char *topic);
/* Total presences (metas) this node knows, all topics and nodes. */
BN_EXTERN size_t bn_presence_member_count(bn_server_t *srv);

/* A callback for joins and leaves seen by this node (local and remote), so
 * an application can react: join is true for a join, false for a leave;
 * meta is borrowed for the call. One per server; NULL removes it. */
typedef void (*bn_presence_event_cb)(void *ud, const char *topic, const char *key, bool join,
                                     const json_t *meta);
BN_EXTERN void bn_presence_on_event(bn_server_t *srv, bn_presence_event_cb cb, void *ud);

/* ---- replication over the mesh ----
 * The embedder that runs both a server and a mesh wires them: call
 * bn_presence_attach_mesh once after bn_mesh_new, and forward the mesh's
 * peer_up, peer_down and node_message callbacks (service
 * BN_MESH_SERVICE_PRESENCE) to the three functions below. The mesh must
 * outlive the server (close it after bn_server_stop's callback). */
BN_EXTERN void bn_presence_attach_mesh(bn_server_t *srv, bn_mesh_t *mesh);
BN_EXTERN void bn_presence_peer_up(bn_server_t *srv, const char *name, uint64_t incarnation);
BN_EXTERN void bn_presence_peer_down(bn_server_t *srv, const char *name, uint64_t incarnation);
BN_EXTERN void bn_presence_node_message(bn_server_t *srv, const char *from, const void *body,
                                        size_t len);
/* This node's replica view for admin tools (a new reference). With a topic:
 * {"node":name,"topic":t,"presences":{key:{"metas":[...]}},"by_node":{node:
 * [keys...]},"clocks":{node:{"incarnation":"...","seq":n,"up":b}},
 * "count_mode":b,"keys":n,"metas":n,"digest":"16 hex"}; with topic NULL:
 * {"node":name,"topics":{t:{"keys":n,"metas":n,"digest":"..."}},"total":n,
 * "clocks":{...}}. The digest is order-independent over (key, owner node,
 * phx_ref): nodes with equal digests list the same members. */
BN_EXTERN json_t *bn_presence_admin_json(bn_server_t *srv, const char *topic);

#ifdef __cplusplus
}
#endif

#endif
