/* Replication of presences between nodes, over the mesh's NodeMessage
 * (service BN_MESH_SERVICE_PRESENCE): a delta-state CRDT in the spirit of
 * Phoenix.Tracker, simplified by one fact of Bennu's design: a presence is
 * only ever added or removed by the node that owns it (its replica), so
 * each replica is a single-writer log and its clock one counter.
 *
 *   - every local add or remove advances this node's clock (seq) by one and
 *     is logged; every presence_broadcast_ms the log goes to every up peer
 *     as a delta {base, seq, ops} (nothing when nothing changed; a clock
 *     heartbeat {seq} after BN__PR_HEARTBEAT_TICKS silent ticks);
 *   - a peer applies a delta whose base it has reached (ops at or below its
 *     clock are skipped, the rest applied idempotently by phx_ref); a delta
 *     beyond its clock, or a heartbeat ahead of it, is a gap: it asks for
 *     the full state, which replaces everything it held for that replica;
 *   - on peer_up (first contact, heal, new incarnation, replaced link) each
 *     side sends its full state; a new incarnation's arrival first drops
 *     every presence of the old one (leaves), so the old one can never come
 *     back; on peer_down the peer's presences leave at once (the mesh's
 *     failure detector is the down period; a partition therefore shows each
 *     side only the members it can reach, and never a leave for a member of
 *     its own side).
 *
 * Bodies are compact JSON (docs/presence.md "Wire format"):
 *   {"v":1,"t":"d","inc":"<incarnation>","base":B,"seq":S,"ops":[op...]}
 *       op = ["+",topic,key,meta] | ["-",topic,key,phx_ref]
 *   {"v":1,"t":"f","inc":..,"seq":S,"entries":[[topic,key,meta]...]}
 *   {"v":1,"t":"c","inc":..,"seq":S}
 *   {"v":1,"t":"r"}                       (full-state request)
 * Everything a peer sends is validated before any of it is applied. */
#include <stdlib.h>
#include <string.h>

#include "bennu/log.h"
#include "presence/internal.h"

uint64_t bn__pr_now(const bn__pr_t *pr);

/* ---------------------------------------------------------------- sending */

static bool replicating(const bn__pr_t *pr)
{
    if (pr->hooks.send != NULL) {
        return true;
    }
    if (pr->mesh == NULL) {
        return false;
    }
    for (const bn__pr_rep_t *r = pr->reps; r != NULL; r = r->hh.next) {
        if (r->up) {
            return true;
        }
    }
    return false;
}

static void send_body(bn__pr_t *pr, const char *to, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    if (s == NULL) {
        return;
    }
    size_t len = strlen(s);
    if (pr->hooks.send != NULL) {
        pr->stats.msgs_out++;
        pr->stats.bytes_out += len;
        pr->hooks.send(pr->hooks.ud, to, s, len);
    } else if (pr->mesh != NULL) {
        for (bn__pr_rep_t *r = pr->reps; r != NULL; r = r->hh.next) {
            if (!r->up || (to != NULL && strcmp(r->name, to) != 0)) {
                continue;
            }
            if (bn_mesh_send(pr->mesh, r->name, BN_MESH_SERVICE_PRESENCE, s, len) == 0) {
                pr->stats.msgs_out++;
                pr->stats.bytes_out += len;
            } else {
                /* Over the mesh's max frame (docs/presence.md "Limits"). */
                BN_LOG(WARN, "presence_send_failed", "node=%s peer=%s len=%zu", pr->self->name,
                       BN_LOG_VAL(r->name), len);
            }
        }
    }
    free(s);
}

static json_t *header(const bn__pr_t *pr, const char *type)
{
    char inc[32];
    snprintf(inc, sizeof(inc), "%llu", (unsigned long long)pr->self->incarnation);
    return json_pack("{s:i, s:s, s:s, s:I}", "v", BN__PR_VERSION, "t", type, "inc", inc, "seq",
                     (json_int_t)pr->self->seq);
}

static json_t *topic_str(const bn__pr_meta_t *m)
{
    return json_stringn(m->key->topic->name, m->key->topic->len);
}

/* Every local change advances this node's clock. True when a peer listens:
 * the change then joins the delta sent on the next replication tick (without
 * listeners the next full state carries it instead, so nothing is built). */
static bool log_tick(bn__pr_t *pr)
{
    pr->self->seq++;
    if (!replicating(pr)) {
        pr->delta_base = pr->self->seq;
        return false;
    }
    if (pr->ops == NULL) {
        pr->ops = json_array();
    }
    return true;
}

void bn__pr_log_add(bn__pr_t *pr, const bn__pr_meta_t *m)
{
    if (log_tick(pr)) {
        json_array_append_new(pr->ops,
                              json_pack("[s, o, s, O]", "+", topic_str(m), m->key->key, m->meta));
    }
}

void bn__pr_log_remove(bn__pr_t *pr, const bn__pr_meta_t *m)
{
    if (log_tick(pr)) {
        json_array_append_new(pr->ops,
                              json_pack("[s, o, s, s]", "-", topic_str(m), m->key->key, m->ref));
    }
}

static void send_full(bn__pr_t *pr, const char *to)
{
    json_t *body = header(pr, "f");
    json_t *entries = json_array();
    for (bn__pr_meta_t *m = pr->self->head; m != NULL; m = m->rnext) {
        json_array_append_new(entries, json_pack("[o, s, O]", topic_str(m), m->key->key, m->meta));
    }
    json_object_set_new(body, "entries", entries);
    pr->stats.full_out++;
    send_body(pr, to, body);
    json_decref(body);
}

static void request_full(bn__pr_t *pr, bn__pr_rep_t *rep)
{
    rep->full_requested = true;
    rep->requested_ms = bn__pr_now(pr);
    pr->stats.full_requests++;
    json_t *body = json_pack("{s:i, s:s}", "v", BN__PR_VERSION, "t", "r");
    send_body(pr, rep->name, body);
    json_decref(body);
}

/* The pending delta to every up peer. */
static void flush_delta(bn__pr_t *pr)
{
    if (pr->ops == NULL || json_array_size(pr->ops) == 0) {
        pr->delta_base = pr->self->seq;
        return;
    }
    json_t *body = header(pr, "d");
    json_object_set_new(body, "base", json_integer((json_int_t)pr->delta_base));
    json_object_set_new(body, "ops", pr->ops);
    pr->ops = NULL;
    pr->delta_base = pr->self->seq;
    send_body(pr, NULL, body);
    json_decref(body);
}

void bn__pr_repl_tick(bn__pr_t *pr)
{
    if (pr->ops != NULL && json_array_size(pr->ops) > 0) {
        flush_delta(pr);
        pr->silent_ticks = 0;
    } else if (++pr->silent_ticks >= BN__PR_HEARTBEAT_TICKS) {
        pr->silent_ticks = 0;
        if (replicating(pr)) {
            json_t *body = header(pr, "c");
            send_body(pr, NULL, body);
            json_decref(body);
        }
    }
    uint64_t now = bn__pr_now(pr);
    for (bn__pr_rep_t *r = pr->reps; r != NULL; r = r->hh.next) {
        if (r->up && r->full_requested && now - r->requested_ms >= BN__PR_REQUEST_RETRY_MS) {
            request_full(pr, r);
        }
    }
}

/* ---------------------------------------------------------------- peers */

void bn__pr_peer_up(bn__pr_t *pr, const char *name, uint64_t incarnation)
{
    if (strcmp(name, pr->self->name) == 0) {
        return;
    }
    /* Deltas already owed to the other peers go first, so the full state
     * below and the deltas after it line up on the new peer. */
    flush_delta(pr);
    bn__pr_rep_t *rep = bn__pr_rep_get(pr, name);
    if (rep->incarnation != incarnation) {
        /* A new incarnation: what the old one had is gone for good. */
        bn__pr_rep_clear(pr, rep);
        rep->incarnation = incarnation;
    }
    rep->up = true;
    BN_LOG(DEBUG, "presence_peer_up", "node=%s peer=%s incarnation=%llu", pr->self->name,
           BN_LOG_VAL(name), (unsigned long long)incarnation);
    send_full(pr, name);
}

void bn__pr_peer_down(bn__pr_t *pr, const char *name, uint64_t incarnation)
{
    bn__pr_rep_t *rep = NULL;
    HASH_FIND_STR(pr->reps, name, rep);
    if (rep == NULL || (rep->incarnation != incarnation && incarnation != 0)) {
        return;
    }
    size_t n = rep->n;
    rep->up = false;
    bn__pr_rep_clear(pr, rep);
    BN_LOG(INFO, "presence_peer_down", "node=%s peer=%s incarnation=%llu leaves=%zu",
           pr->self->name, BN_LOG_VAL(name), (unsigned long long)incarnation, n);
}

/* ---------------------------------------------------------------- receiving */

static bool str_ok(const json_t *s, size_t max)
{
    size_t len = json_string_length(s);
    return json_is_string(s) && len > 0 && len <= max;
}

static bool meta_ok(const json_t *meta)
{
    if (!json_is_object(meta) || !str_ok(json_object_get(meta, "phx_ref"), BN__PR_REF_MAX)) {
        return false;
    }
    const json_t *prev = json_object_get(meta, "phx_ref_prev");
    if (prev != NULL && !str_ok(prev, BN__PR_REF_MAX)) {
        return false;
    }
    size_t size = json_dumpb(meta, NULL, 0, JSON_COMPACT);
    return size > 0 && size <= BN__PR_META_MAX + 2 * (BN__PR_REF_MAX + 20);
}

/* ["+",topic,key,meta] or ["-",topic,key,ref] */
static bool op_ok(const json_t *op)
{
    if (!json_is_array(op) || json_array_size(op) != 4 ||
        !str_ok(json_array_get(op, 1), BN__PR_TOPIC_MAX) ||
        !str_ok(json_array_get(op, 2), BN__PR_KEY_MAX)) {
        return false;
    }
    const char *kind = json_string_value(json_array_get(op, 0));
    if (kind != NULL && strcmp(kind, "+") == 0) {
        return meta_ok(json_array_get(op, 3));
    }
    return kind != NULL && strcmp(kind, "-") == 0 && str_ok(json_array_get(op, 3), BN__PR_REF_MAX);
}

static bool entry_ok(const json_t *e)
{
    return json_is_array(e) && json_array_size(e) == 3 &&
           str_ok(json_array_get(e, 0), BN__PR_TOPIC_MAX) &&
           str_ok(json_array_get(e, 1), BN__PR_KEY_MAX) && meta_ok(json_array_get(e, 2));
}

static bn__pr_meta_t *add_remote(bn__pr_t *pr, bn__pr_rep_t *rep, const json_t *topic,
                                 const json_t *key, json_t *meta)
{
    return bn__pr_add(pr, rep, json_string_value(topic), json_string_length(topic),
                      json_string_value(key), json_incref(meta),
                      json_string_value(json_object_get(meta, "phx_ref")));
}

static int apply_delta(bn__pr_t *pr, bn__pr_rep_t *rep, uint64_t seq, const json_t *body)
{
    json_t *jbase = json_object_get(body, "base");
    json_t *ops = json_object_get(body, "ops");
    if (!json_is_integer(jbase) || json_integer_value(jbase) < 0 || !json_is_array(ops)) {
        return -1;
    }
    uint64_t base = (uint64_t)json_integer_value(jbase);
    size_t n = json_array_size(ops);
    if (base >= seq || seq - base != n || n > BN__PR_MAX_PER_REPLICA) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!op_ok(json_array_get(ops, i))) {
            return -1;
        }
    }
    if (seq <= rep->seq) {
        return 0; /* already covered (by a full state) */
    }
    if (base > rep->seq) {
        /* A gap: something between our clock and base never arrived. */
        if (!rep->full_requested) {
            BN_LOG(INFO, "presence_gap", "node=%s peer=%s have=%llu base=%llu", pr->self->name,
                   BN_LOG_VAL(rep->name), (unsigned long long)rep->seq, (unsigned long long)base);
            request_full(pr, rep);
        }
        return 0;
    }
    for (size_t i = (size_t)(rep->seq - base); i < n; i++) {
        json_t *op = json_array_get(ops, i);
        if (json_string_value(json_array_get(op, 0))[0] == '+') {
            if (rep->n >= BN__PR_MAX_PER_REPLICA) {
                pr->stats.capped++;
                continue;
            }
            add_remote(pr, rep, json_array_get(op, 1), json_array_get(op, 2),
                       json_array_get(op, 3));
        } else {
            bn__pr_meta_t *m = NULL;
            const char *ref = json_string_value(json_array_get(op, 3));
            HASH_FIND_STR(rep->by_ref, ref, m);
            if (m != NULL) {
                bn__pr_remove(pr, m);
            }
        }
    }
    rep->seq = seq;
    return 0;
}

static int apply_full(bn__pr_t *pr, bn__pr_rep_t *rep, uint64_t seq, const json_t *body)
{
    json_t *entries = json_object_get(body, "entries");
    size_t n = json_array_size(entries);
    if (!json_is_array(entries) || n > BN__PR_MAX_PER_REPLICA) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!entry_ok(json_array_get(entries, i))) {
            return -1;
        }
    }
    pr->stats.full_in++;
    /* Keep what is still there (no leave and re-join for it), add the rest,
     * then drop what the full state no longer has. */
    uint64_t g = ++pr->gen;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(entries, i);
        json_t *meta = json_array_get(e, 2);
        bn__pr_meta_t *m = NULL;
        HASH_FIND_STR(rep->by_ref, json_string_value(json_object_get(meta, "phx_ref")), m);
        if (m == NULL && rep->n < BN__PR_MAX_PER_REPLICA) {
            m = add_remote(pr, rep, json_array_get(e, 0), json_array_get(e, 1), meta);
        }
        if (m != NULL) {
            m->gen = g;
        }
    }
    bn__pr_meta_t *next;
    for (bn__pr_meta_t *m = rep->head; m != NULL; m = next) {
        next = m->rnext;
        if (m->gen != g) {
            bn__pr_remove(pr, m);
        }
    }
    rep->seq = seq;
    rep->full_requested = false;
    return 0;
}

int bn__pr_receive(bn__pr_t *pr, const char *from, const void *data, size_t len)
{
    bn__pr_rep_t *rep = NULL;
    HASH_FIND_STR(pr->reps, from, rep);
    pr->stats.msgs_in++;
    pr->stats.bytes_in += len;
    if (rep == NULL || !rep->up) {
        return 0; /* not (or no longer) a peer we replicate with */
    }
    json_error_t err;
    json_t *body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    const char *type = json_string_value(json_object_get(body, "t"));
    int rc = -1;
    if (!json_is_object(body) || json_integer_value(json_object_get(body, "v")) != BN__PR_VERSION ||
        type == NULL) {
        goto out;
    }
    if (strcmp(type, "r") == 0) {
        send_full(pr, rep->name);
        rc = 0;
        goto out;
    }
    const char *inc_s = json_string_value(json_object_get(body, "inc"));
    json_t *jseq = json_object_get(body, "seq");
    if (inc_s == NULL || !json_is_integer(jseq) || json_integer_value(jseq) < 0) {
        goto out;
    }
    char *end = NULL;
    unsigned long long inc = strtoull(inc_s, &end, 10);
    if (end == inc_s || *end != '\0') {
        goto out;
    }
    if (inc != rep->incarnation) {
        rc = 0; /* from an incarnation the mesh no longer (or not yet) reports */
        goto out;
    }
    uint64_t seq = (uint64_t)json_integer_value(jseq);
    if (strcmp(type, "d") == 0) {
        rc = apply_delta(pr, rep, seq, body);
    } else if (strcmp(type, "f") == 0) {
        rc = apply_full(pr, rep, seq, body);
    } else if (strcmp(type, "c") == 0) {
        if (seq > rep->seq && !rep->full_requested) {
            request_full(pr, rep);
        }
        rc = 0;
    }
out:
    if (rc != 0) {
        pr->stats.bad_in++;
        BN_LOG(WARN, "presence_bad_message", "node=%s peer=%s len=%zu", pr->self->name,
               BN_LOG_VAL(from), len);
    }
    json_decref(body);
    return rc;
}
