/* Internals of the presence layer (bennu/presence.h).
 *
 *   presence.c  state (topic -> key -> metas, per replica, per channel),
 *               local track/untrack/update, coalesced diffs, the public API
 *   replica.c   replication between nodes: a delta-state CRDT in the spirit
 *               of Phoenix.Tracker (docs/presence.md)
 *
 * The state does not depend on a server or a loop: unit tests run it with
 * srv == NULL and hooks that capture what would be sent to clients and to
 * peers. */
#ifndef BN_PRESENCE_INTERNAL_H
#define BN_PRESENCE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>
#include <uv.h>

#include "bennu/bennu.h"
#include "bennu/mesh.h"
#include "bennu/presence.h"

#define BN__PR_KEY_MAX 1024u
#define BN__PR_TOPIC_MAX 1024u
#define BN__PR_META_MAX 4096u
#define BN__PR_REF_MAX 32u
/* Presences one peer may hold in our replica of it. */
#define BN__PR_MAX_PER_REPLICA 1000000u
/* Protocol version of the presence bodies (docs/presence.md). */
#define BN__PR_VERSION 1

typedef struct bn__pr_s bn__pr_t;
typedef struct bn__pr_meta_s bn__pr_meta_t;
typedef struct bn__pr_key_s bn__pr_key_t;
typedef struct bn__pr_topic_s bn__pr_topic_t;
typedef struct bn__pr_rep_s bn__pr_rep_t;
typedef struct bn__pr_owner_s bn__pr_owner_t;

/* One presence (one meta). Owner: its replica's list (and ref hash). */
struct bn__pr_meta_s {
    UT_hash_handle hh;            /* replica's ref -> meta */
    bn__pr_meta_t *kprev, *knext; /* within its key, in join order */
    bn__pr_meta_t *rprev, *rnext; /* within its replica */
    bn__pr_meta_t *oprev, *onext; /* within its local owner (a channel) */
    bn__pr_key_t *key;
    bn__pr_rep_t *rep;
    bn__pr_owner_t *owner; /* local presences only */
    json_t *meta;          /* with phx_ref; never modified once stored */
    uint64_t gen;          /* mark of the last full state that had it */
    char ref[BN__PR_REF_MAX + 1];
};

struct bn__pr_key_s {
    UT_hash_handle hh;
    bn__pr_topic_t *topic;
    bn__pr_meta_t *head, *tail;
    size_t n;
    char key[];
};

struct bn__pr_topic_s {
    UT_hash_handle hh;
    bn__pr_key_t *keys;
    size_t n_keys, n_metas;
    json_t *joins, *leaves; /* pending presence_diff, NULL = none */
    bool dirty;             /* on the dirty list */
    bool count_mode;        /* above presence_count_above: counts only */
    bool count_dirty;
    uint64_t next_count_ms; /* presence_count not before (loop time) */
    bn__pr_topic_t *dirty_next;
    size_t len;
    char name[];
};

/* A node's replica: ours (local) or a peer's, as of its incarnation and the
 * last operation seq we applied (its clock). */
struct bn__pr_rep_s {
    UT_hash_handle hh;
    bn__pr_meta_t *by_ref;
    bn__pr_meta_t *head, *tail;
    size_t n;
    uint64_t incarnation;
    uint64_t seq;
    bool up;
    bool local;
    bool full_requested;
    uint64_t requested_ms;
    char name[];
};

/* A local owner of presences (a channel), keyed by its pointer. */
struct bn__pr_owner_s {
    UT_hash_handle hh;
    const void *id;
    bn_channel_t *ch; /* NULL in unit tests */
    bn__pr_meta_t *head;
    bool state_wanted; /* tracked inside join: push the state after the reply */
    bool state_sent;
};

typedef struct bn__pr_hooks_s {
    /* Instead of the mesh: a body for peer `to` (NULL = every up peer). */
    void (*send)(void *ud, const char *to, const char *body, size_t len);
    /* Instead of local fanout: event and payload for topic's subscribers. */
    void (*fanout)(void *ud, const char *topic, const char *event, json_t *payload);
    /* Do the topic's local subscribers exist? (absent: yes). */
    bool (*has_subscribers)(void *ud, const char *topic, size_t len);
    void *ud;
} bn__pr_hooks_t;

typedef struct bn__pr_stats_s {
    uint64_t diffs, counts, states;
    uint64_t msgs_out, bytes_out, msgs_in, bytes_in;
    uint64_t full_out, full_in, full_requests, bad_in, capped;
} bn__pr_stats_t;

struct bn__pr_s {
    bn_server_t *srv;
    uv_loop_t *loop;
    bn_mesh_t *mesh;
    bn__pr_hooks_t hooks;
    unsigned diff_ms, broadcast_ms, max_per_topic, count_above;
    bn__pr_topic_t *topics;
    bn__pr_rep_t *reps;
    bn__pr_rep_t *self;
    bn__pr_owner_t *owners;
    bn__pr_topic_t *dirty_head;
    size_t total;
    uint64_t ref_counter;
    uint64_t gen;
    uint16_t node_hash;
    /* replication: operations since the last delta, applied locally with
     * seqs (delta_base, self->seq] */
    json_t *ops;
    uint64_t delta_base;
    unsigned silent_ticks;
    uv_timer_t diff_timer, repl_timer;
    bool timers, diff_armed, closing, freeing;
    unsigned open_handles;
    void (*close_cb)(void *ud);
    void *close_ud;
    bn_presence_event_cb event_cb;
    void *event_ud;
    bn__pr_stats_t stats;
};

/* presence.c */
/* A state without server or loop (unit tests): self named `name`. */
bn__pr_t *bn__pr_new_detached(const char *name, uint64_t incarnation, const bn__pr_hooks_t *h);
void bn__pr_free(bn__pr_t *pr);
/* The server's state, created on first use (NULL on OOM). */
bn__pr_t *bn__pr_get(bn_server_t *srv);
/* Local operations by an owner id (a channel pointer). */
int bn__pr_track(bn__pr_t *pr, const void *owner, bn_channel_t *ch, const char *topic,
                 const char *key, json_t *meta);
int bn__pr_untrack(bn__pr_t *pr, const void *owner, const char *key);
int bn__pr_update(bn__pr_t *pr, const void *owner, const char *key, json_t *meta);
void bn__pr_owner_gone(bn__pr_t *pr, const void *owner);
json_t *bn__pr_list(bn__pr_t *pr, const char *topic);
/* Sends every pending diff / count now (the diff timer's work). */
void bn__pr_flush_diffs(bn__pr_t *pr);
/* Adds a presence to a replica (remote or local); emits the join. The meta
 * reference is stolen. NULL if the ref is already there or OOM. */
bn__pr_meta_t *bn__pr_add(bn__pr_t *pr, bn__pr_rep_t *rep, const char *topic, size_t topic_len,
                          const char *key, json_t *meta, const char *ref);
/* Removes a presence; emits the leave. */
void bn__pr_remove(bn__pr_t *pr, bn__pr_meta_t *m);
bn__pr_rep_t *bn__pr_rep_get(bn__pr_t *pr, const char *name);
void bn__pr_rep_clear(bn__pr_t *pr, bn__pr_rep_t *rep);

/* replica.c */
/* A local add (meta with ref) or remove, for the next delta. */
void bn__pr_log_add(bn__pr_t *pr, const bn__pr_meta_t *m);
void bn__pr_log_remove(bn__pr_t *pr, const bn__pr_meta_t *m);
/* The replication timer's work: the pending delta to every up peer, or a
 * clock heartbeat after a silent stretch. */
void bn__pr_repl_tick(bn__pr_t *pr);
void bn__pr_peer_up(bn__pr_t *pr, const char *name, uint64_t incarnation);
void bn__pr_peer_down(bn__pr_t *pr, const char *name, uint64_t incarnation);
/* Returns 0, or -1 for a body that was refused (counted, logged). */
int bn__pr_receive(bn__pr_t *pr, const char *from, const void *body, size_t len);
/* presence_count goes out at most this often per topic. */
#define BN__PR_COUNT_MS 1000u
/* Heartbeats every this many replication ticks when nothing changed. */
#define BN__PR_HEARTBEAT_TICKS 10u
/* A full-state request is repeated if unanswered this long. */
#define BN__PR_REQUEST_RETRY_MS 1000u

#endif
