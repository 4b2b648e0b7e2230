/* Presence state and the public API: topic -> key -> metas, each meta owned
 * by a replica (this node's or a peer's) and, for local ones, by a channel.
 * Joins and leaves are coalesced per topic into one presence_diff per diff
 * interval (docs/presence.md). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel/internal.h"
#include "core/alloc.h"
#include "core/time.h"
#include "bennu/log.h"
#include "presence/hooks.h"
#include "presence/internal.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ms(const bn__pr_t *pr)
{
    return pr->loop != NULL ? uv_now(pr->loop) : 0;
}

static uint16_t name_hash(const char *name)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p != '\0'; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return (uint16_t)(h ^ (h >> 16));
}

/* Phoenix's phx_ref: 12 bytes (64-bit ns timestamp, 16-bit node hash,
 * 16-bit counter) in unpadded base64url: 16 characters. */
static void make_ref(bn__pr_t *pr, char out[BN__PR_REF_MAX + 1])
{
    uint64_t ns = bn_wall_ns() + pr->ref_counter;
    uint16_t c = (uint16_t)++pr->ref_counter;
    uint8_t b[12];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(ns >> (56 - 8 * i));
    }
    b[8] = (uint8_t)(pr->node_hash >> 8);
    b[9] = (uint8_t)pr->node_hash;
    b[10] = (uint8_t)(c >> 8);
    b[11] = (uint8_t)c;
    sodium_bin2base64(out, BN__PR_REF_MAX + 1, b, sizeof(b),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A new object with meta's keys in sorted order (Phoenix encodes an Elixir
 * map, whose small maps are sorted) plus phx_ref and phx_ref_prev. */
static json_t *stamp_meta(const json_t *meta, const char *ref, const char *prev)
{
    json_t *tmp = json_deep_copy(meta);
    if (tmp == NULL) {
        return NULL;
    }
    json_object_set_new(tmp, "phx_ref", json_string(ref));
    if (prev != NULL) {
        json_object_set_new(tmp, "phx_ref_prev", json_string(prev));
    }
    size_t n = json_object_size(tmp);
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    json_t *out = json_object();
    if (keys == NULL || out == NULL) {
        free(keys);
        json_decref(out);
        json_decref(tmp);
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(tmp, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (i = 0; i < n; i++) {
        json_object_set(out, keys[i], json_object_get(tmp, keys[i]));
    }
    free(keys);
    json_decref(tmp);
    return out;
}

/* ---------------------------------------------------------------- lookups */

static bn__pr_topic_t *topic_get(bn__pr_t *pr, const char *name, size_t len, bool create)
{
    bn__pr_topic_t *t = NULL;
    HASH_FIND(hh, pr->topics, name, len, t);
    if (t != NULL || !create) {
        return t;
    }
    t = bn_xcalloc(1, sizeof(*t) + len + 1);
    memcpy(t->name, name, len);
    t->len = len;
    HASH_ADD_KEYPTR(hh, pr->topics, t->name, len, t);
    return t;
}

static void topic_free_if_idle(bn__pr_t *pr, bn__pr_topic_t *t)
{
    if (t->n_metas > 0 || t->dirty) {
        return;
    }
    HASH_DEL(pr->topics, t);
    json_decref(t->joins);
    json_decref(t->leaves);
    free(t);
}

static bn__pr_key_t *key_get(bn__pr_topic_t *t, const char *key, bool create)
{
    bn__pr_key_t *k = NULL;
    size_t len = strlen(key);
    HASH_FIND(hh, t->keys, key, len, k);
    if (k != NULL || !create) {
        return k;
    }
    k = bn_xcalloc(1, sizeof(*k) + len + 1);
    memcpy(k->key, key, len);
    k->topic = t;
    HASH_ADD_KEYPTR(hh, t->keys, k->key, len, k);
    t->n_keys++;
    return k;
}

bn__pr_rep_t *bn__pr_rep_get(bn__pr_t *pr, const char *name)
{
    bn__pr_rep_t *r = NULL;
    HASH_FIND_STR(pr->reps, name, r);
    if (r != NULL) {
        return r;
    }
    size_t len = strlen(name);
    r = bn_xcalloc(1, sizeof(*r) + len + 1);
    memcpy(r->name, name, len);
    HASH_ADD_KEYPTR(hh, pr->reps, r->name, len, r);
    return r;
}

static bn__pr_owner_t *owner_get(bn__pr_t *pr, const void *id, bool create)
{
    bn__pr_owner_t *o = NULL;
    HASH_FIND_PTR(pr->owners, &id, o);
    if (o != NULL || !create) {
        return o;
    }
    o = bn_xcalloc(1, sizeof(*o));
    o->id = id;
    HASH_ADD_PTR(pr->owners, id, o);
    return o;
}

static bn__pr_meta_t *owner_find(bn__pr_owner_t *o, const char *key)
{
    for (bn__pr_meta_t *m = o != NULL ? o->head : NULL; m != NULL; m = m->onext) {
        if (strcmp(m->key->key, key) == 0) {
            return m;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- diffs */

static void fanout(bn__pr_t *pr, bn__pr_topic_t *t, const char *event, json_t *payload)
{
    if (pr->hooks.fanout != NULL) {
        pr->hooks.fanout(pr->hooks.ud, t->name, event, payload);
    } else if (pr->srv != NULL) {
        bn_payload_t p = bn_payload_json(payload);
        bn_ps_local_broadcast(pr->srv->ps, t->name, t->len, event, &p);
    }
}

static void on_diff_timer(uv_timer_t *h);

static bool has_subscribers(bn__pr_t *pr, const bn__pr_topic_t *t)
{
    if (pr->hooks.has_subscribers != NULL) {
        return pr->hooks.has_subscribers(pr->hooks.ud, t->name, t->len);
    }
    if (pr->srv != NULL) {
        return bn_server_subscriber_count(pr->srv, t->name, t->len) > 0;
    }
    return true;
}

static void on_diff_timer(uv_timer_t *h)
{
    bn__pr_t *pr = h->data;
    pr->diff_armed = false;
    bn__pr_flush_diffs(pr);
}

static void mark_dirty(bn__pr_t *pr, bn__pr_topic_t *t)
{
    if (!t->dirty) {
        t->dirty = true;
        t->dirty_next = pr->dirty_head;
        pr->dirty_head = t;
    }
    if (pr->timers && !pr->diff_armed && !pr->closing) {
        pr->diff_armed = true;
        uv_timer_start(&pr->diff_timer, on_diff_timer, pr->diff_ms, 0);
    }
}

/* Sends t's pending diff and count now (it stays on the dirty list). */
static void flush_topic(bn__pr_t *pr, bn__pr_topic_t *t)
{
    if ((t->joins != NULL || t->leaves != NULL) && !has_subscribers(pr, t)) {
        json_decref(t->joins);
        json_decref(t->leaves);
        t->joins = t->leaves = NULL;
    }
    if (t->joins != NULL || t->leaves != NULL) {
        json_t *p = json_object();
        json_object_set_new(p, "joins", t->joins != NULL ? t->joins : json_object());
        json_object_set_new(p, "leaves", t->leaves != NULL ? t->leaves : json_object());
        t->joins = t->leaves = NULL;
        pr->stats.diffs++;
        fanout(pr, t, "presence_diff", p);
        json_decref(p);
    }
    if (t->count_dirty) {
        t->count_dirty = false;
        json_t *p = json_pack("{s:I, s:I}", "count", (json_int_t)t->n_keys, "metas",
                              (json_int_t)t->n_metas);
        pr->stats.counts++;
        fanout(pr, t, "presence_count", p);
        json_decref(p);
    }
}

void bn__pr_flush_diffs(bn__pr_t *pr)
{
    bn__pr_topic_t *t = pr->dirty_head;
    pr->dirty_head = NULL;
    uint64_t now = now_ms(pr);
    bool again = false;
    while (t != NULL) {
        bn__pr_topic_t *next = t->dirty_next;
        t->dirty_next = NULL;
        if (t->count_dirty && pr->loop != NULL && now < t->next_count_ms) {
            /* counts go out at most once per BN__PR_COUNT_MS: keep it */
            t->dirty_next = pr->dirty_head;
            pr->dirty_head = t;
            again = true;
            t = next;
            continue;
        }
        if (t->count_dirty) {
            t->next_count_ms = now + BN__PR_COUNT_MS;
        }
        t->dirty = false;
        flush_topic(pr, t);
        topic_free_if_idle(pr, t);
        t = next;
    }
    if (again && pr->timers && !pr->diff_armed && !pr->closing) {
        pr->diff_armed = true;
        uv_timer_start(&pr->diff_timer, on_diff_timer, pr->diff_ms, 0);
    }
}

static bool pending_has(json_t *side, const char *key, const char *ref)
{
    json_t *metas = json_object_get(json_object_get(side, key), "metas");
    size_t i;
    json_t *m;
    json_array_foreach(metas, i, m)
    {
        const char *r = json_string_value(json_object_get(m, "phx_ref"));
        if (r != NULL && strcmp(r, ref) == 0) {
            return true;
        }
    }
    return false;
}

static void note(bn__pr_t *pr, bn__pr_meta_t *m, bool join)
{
    bn__pr_topic_t *t = m->key->topic;
    if (pr->freeing) {
        return; /* nobody is left to tell */
    }
    if (pr->event_cb != NULL) {
        pr->event_cb(pr->event_ud, t->name, m->key->key, join, m->meta);
    }
    if (t->count_mode) {
        t->count_dirty = true;
        mark_dirty(pr, t);
        return;
    }
    /* phoenix.js applies a diff's joins before its leaves: a ref that would
     * appear on both sides within one interval goes out in two diffs, in
     * the order it happened (a client may hold it from a presence_state). */
    if (pending_has(join ? t->leaves : t->joins, m->key->key, m->ref)) {
        flush_topic(pr, t);
    }
    json_t **side = join ? &t->joins : &t->leaves;
    if (*side == NULL) {
        *side = json_object();
    }
    json_t *entry = json_object_get(*side, m->key->key);
    if (entry == NULL) {
        entry = json_pack("{s:[]}", "metas");
        json_object_set_new(*side, m->key->key, entry);
    }
    json_array_append(json_object_get(entry, "metas"), m->meta);
    mark_dirty(pr, t);
}

/* ---------------------------------------------------------------- add / remove */

bn__pr_meta_t *bn__pr_add(bn__pr_t *pr, bn__pr_rep_t *rep, const char *topic, size_t topic_len,
                          const char *key, json_t *meta, const char *ref)
{
    bn__pr_meta_t *m = NULL;
    HASH_FIND_STR(rep->by_ref, ref, m);
    if (m != NULL || strlen(ref) > BN__PR_REF_MAX) {
        json_decref(meta);
        return NULL;
    }
    m = bn_xcalloc(1, sizeof(*m));
    strcpy(m->ref, ref);
    m->meta = meta;
    m->rep = rep;
    bn__pr_topic_t *t = topic_get(pr, topic, topic_len, true);
    bn__pr_key_t *k = key_get(t, key, true);
    m->key = k;
    m->kprev = k->tail;
    if (k->tail != NULL) {
        k->tail->knext = m;
    } else {
        k->head = m;
    }
    k->tail = m;
    k->n++;
    m->rprev = rep->tail;
    if (rep->tail != NULL) {
        rep->tail->rnext = m;
    } else {
        rep->head = m;
    }
    rep->tail = m;
    rep->n++;
    HASH_ADD_STR(rep->by_ref, ref, m);
    t->n_metas++;
    pr->total++;
    if (pr->count_above > 0 && !t->count_mode && t->n_keys > pr->count_above) {
        /* Count-only from now until the topic empties (docs/presence.md). */
        t->count_mode = true;
        json_decref(t->joins);
        json_decref(t->leaves);
        t->joins = t->leaves = NULL;
        BN_LOG(INFO, "presence_count_mode", "topic=%s keys=%zu", BN_LOG_VAL(t->name), t->n_keys);
    }
    note(pr, m, true);
    return m;
}

void bn__pr_remove(bn__pr_t *pr, bn__pr_meta_t *m)
{
    note(pr, m, false);
    bn__pr_key_t *k = m->key;
    bn__pr_topic_t *t = k->topic;
    bn__pr_rep_t *rep = m->rep;
    if (m->kprev != NULL) {
        m->kprev->knext = m->knext;
    } else {
        k->head = m->knext;
    }
    if (m->knext != NULL) {
        m->knext->kprev = m->kprev;
    } else {
        k->tail = m->kprev;
    }
    if (m->rprev != NULL) {
        m->rprev->rnext = m->rnext;
    } else {
        rep->head = m->rnext;
    }
    if (m->rnext != NULL) {
        m->rnext->rprev = m->rprev;
    } else {
        rep->tail = m->rprev;
    }
    rep->n--;
    HASH_DEL(rep->by_ref, m);
    if (m->owner != NULL) {
        if (m->oprev != NULL) {
            m->oprev->onext = m->onext;
        } else {
            m->owner->head = m->onext;
        }
        if (m->onext != NULL) {
            m->onext->oprev = m->oprev;
        }
    }
    if (--k->n == 0) {
        HASH_DEL(t->keys, k);
        free(k);
        t->n_keys--;
    }
    t->n_metas--;
    pr->total--;
    json_decref(m->meta);
    free(m);
    topic_free_if_idle(pr, t);
}

void bn__pr_rep_clear(bn__pr_t *pr, bn__pr_rep_t *rep)
{
    while (rep->head != NULL) {
        bn__pr_remove(pr, rep->head);
    }
    rep->seq = 0;
    rep->full_requested = false;
}

/* ---------------------------------------------------------------- state */

static bn__pr_t *pr_alloc(const char *name, uint64_t incarnation)
{
    bn__pr_t *pr = bn_xcalloc(1, sizeof(*pr));
    size_t len = strlen(name);
    bn__pr_rep_t *self = bn_xcalloc(1, sizeof(*self) + 256);
    snprintf(self->name, 256, "%.*s", (int)(len < 255 ? len : 255), name);
    self->local = true;
    self->up = true;
    self->incarnation = incarnation;
    pr->self = self;
    pr->node_hash = name_hash(self->name);
    pr->diff_ms = 50;
    pr->broadcast_ms = 100;
    pr->max_per_topic = 100000;
    pr->count_above = 10000;
    return pr;
}

bn__pr_t *bn__pr_new_detached(const char *name, uint64_t incarnation, const bn__pr_hooks_t *h)
{
    bn__pr_t *pr = pr_alloc(name, incarnation);
    if (h != NULL) {
        pr->hooks = *h;
    }
    return pr;
}

void bn__pr_free(bn__pr_t *pr)
{
    if (pr == NULL) {
        return;
    }
    pr->freeing = true;
    bn__pr_rep_t *r;
    bn__pr_rep_t *rtmp;
    HASH_ITER(hh, pr->reps, r, rtmp)
    {
        bn__pr_rep_clear(pr, r);
        HASH_DEL(pr->reps, r);
        free(r);
    }
    bn__pr_rep_clear(pr, pr->self);
    bn__pr_owner_t *o;
    bn__pr_owner_t *otmp;
    HASH_ITER(hh, pr->owners, o, otmp)
    {
        HASH_DEL(pr->owners, o);
        free(o);
    }
    /* Pending diffs have nobody left to go to. */
    bn__pr_topic_t *t = pr->dirty_head;
    while (t != NULL) {
        bn__pr_topic_t *next = t->dirty_next;
        t->dirty = false;
        topic_free_if_idle(pr, t);
        t = next;
    }
    json_decref(pr->ops);
    free(pr->self);
    free(pr);
}

static void on_repl_timer(uv_timer_t *h)
{
    bn__pr_repl_tick(h->data);
}

bn__pr_t *bn__pr_get(bn_server_t *srv)
{
    if (srv->presence != NULL) {
        return srv->presence;
    }
    if (srv->stopping) {
        return NULL;
    }
    bn__pr_t *pr = pr_alloc("nonode@nohost", 0);
    pr->srv = srv;
    pr->loop = srv->loop;
    pr->diff_ms = srv->cfg.presence_diff_ms > 0 ? srv->cfg.presence_diff_ms : 1;
    pr->broadcast_ms = srv->cfg.presence_broadcast_ms > 0 ? srv->cfg.presence_broadcast_ms : 1;
    pr->max_per_topic = srv->cfg.presence_max_per_topic;
    pr->count_above = srv->cfg.presence_count_above;
    uv_timer_init(pr->loop, &pr->diff_timer);
    uv_timer_init(pr->loop, &pr->repl_timer);
    pr->diff_timer.data = pr->repl_timer.data = pr;
    pr->timers = true;
    pr->open_handles = 2;
    srv->presence = pr;
    return pr;
}

/* ---------------------------------------------------------------- local operations */

static int check_meta(json_t *meta)
{
    if (!json_is_object(meta) || json_object_get(meta, "phx_ref") != NULL ||
        json_object_get(meta, "phx_ref_prev") != NULL) {
        return -1;
    }
    size_t size = json_dumpb(meta, NULL, 0, JSON_COMPACT);
    return size > 0 && size <= BN__PR_META_MAX ? 0 : -1;
}

static bool key_ok(const char *key)
{
    size_t len = key != NULL ? strlen(key) : 0;
    return len > 0 && len <= BN__PR_KEY_MAX;
}

static void owner_link(bn__pr_owner_t *o, bn__pr_meta_t *m)
{
    m->owner = o;
    m->onext = o->head;
    if (o->head != NULL) {
        o->head->oprev = m;
    }
    o->head = m;
}

int bn__pr_track(bn__pr_t *pr, const void *owner, bn_channel_t *ch, const char *topic,
                 const char *key, json_t *meta)
{
    if (meta == NULL) {
        meta = json_object();
    }
    size_t tlen = strlen(topic);
    if (!key_ok(key) || tlen == 0 || tlen > BN__PR_TOPIC_MAX || check_meta(meta) != 0) {
        json_decref(meta);
        return -1;
    }
    bn__pr_owner_t *o = owner_get(pr, owner, true);
    o->ch = ch;
    if (owner_find(o, key) != NULL) {
        json_decref(meta);
        return -1;
    }
    bn__pr_topic_t *t = topic_get(pr, topic, tlen, false);
    if (t != NULL && pr->max_per_topic > 0 && t->n_metas >= pr->max_per_topic) {
        pr->stats.capped++;
        BN_LOG(WARN, "presence_cap", "topic=%s limit=%u", BN_LOG_VAL(topic), pr->max_per_topic);
        json_decref(meta);
        return -1;
    }
    char ref[BN__PR_REF_MAX + 1];
    make_ref(pr, ref);
    json_t *stamped = stamp_meta(meta, ref, NULL);
    json_decref(meta);
    if (stamped == NULL) {
        return -1;
    }
    bn__pr_meta_t *m = bn__pr_add(pr, pr->self, topic, tlen, key, stamped, ref);
    if (m == NULL) {
        return -1;
    }
    owner_link(o, m);
    bn__pr_log_add(pr, m);
    return 0;
}

int bn__pr_untrack(bn__pr_t *pr, const void *owner, const char *key)
{
    bn__pr_meta_t *m = owner_find(owner_get(pr, owner, false), key);
    if (m == NULL) {
        return -1;
    }
    bn__pr_log_remove(pr, m);
    bn__pr_remove(pr, m);
    return 0;
}

int bn__pr_update(bn__pr_t *pr, const void *owner, const char *key, json_t *meta)
{
    if (meta == NULL) {
        meta = json_object();
    }
    bn__pr_owner_t *o = owner_get(pr, owner, false);
    bn__pr_meta_t *old = owner_find(o, key);
    if (old == NULL || check_meta(meta) != 0) {
        json_decref(meta);
        return -1;
    }
    char ref[BN__PR_REF_MAX + 1];
    make_ref(pr, ref);
    json_t *stamped = stamp_meta(meta, ref, old->ref);
    json_decref(meta);
    if (stamped == NULL) {
        return -1;
    }
    bn__pr_topic_t *t = old->key->topic;
    char *topic = bn_xstrndup(t->name, t->len);
    size_t tlen = t->len;
    bn__pr_log_remove(pr, old);
    /* The key outlives the remove when it has other metas; copy it. */
    char *k = bn_xstrdup(key);
    bn__pr_remove(pr, old);
    bn__pr_meta_t *m = bn__pr_add(pr, pr->self, topic, tlen, k, stamped, ref);
    free(topic);
    free(k);
    if (m == NULL) {
        return -1;
    }
    owner_link(o, m);
    bn__pr_log_add(pr, m);
    return 0;
}

void bn__pr_owner_gone(bn__pr_t *pr, const void *owner)
{
    bn__pr_owner_t *o = owner_get(pr, owner, false);
    if (o == NULL) {
        return;
    }
    while (o->head != NULL) {
        bn__pr_meta_t *m = o->head;
        bn__pr_log_remove(pr, m);
        bn__pr_remove(pr, m);
    }
    HASH_DEL(pr->owners, o);
    free(o);
}

json_t *bn__pr_list(bn__pr_t *pr, const char *topic)
{
    json_t *out = json_object();
    bn__pr_topic_t *t = pr != NULL ? topic_get(pr, topic, strlen(topic), false) : NULL;
    if (t == NULL || out == NULL) {
        return out;
    }
    for (bn__pr_key_t *k = t->keys; k != NULL; k = k->hh.next) {
        json_t *metas = json_array();
        for (bn__pr_meta_t *m = k->head; m != NULL; m = m->knext) {
            json_array_append(metas, m->meta);
        }
        json_object_set_new(out, k->key, json_pack("{s:o}", "metas", metas));
    }
    return out;
}

/* ---------------------------------------------------------------- public API */

static int push_state(bn__pr_t *pr, bn_channel_t *ch)
{
    bn__pr_topic_t *t = topic_get(pr, ch->topic, ch->topic_len, false);
    json_t *p;
    const char *event;
    if (t != NULL && t->count_mode) {
        p = json_pack("{s:I, s:I}", "count", (json_int_t)t->n_keys, "metas",
                      (json_int_t)t->n_metas);
        event = "presence_count";
    } else {
        p = bn__pr_list(pr, ch->topic);
        event = "presence_state";
    }
    bn_payload_t payload = bn_payload_json(p);
    pr->stats.states++;
    int rc = bn_channel_push(ch, event, &payload);
    json_decref(p);
    return rc;
}

int bn_presence_track(bn_channel_t *ch, const char *key, json_t *meta)
{
    bn__pr_t *pr = ch->closing ? NULL : bn__pr_get(ch->sock->srv);
    if (pr == NULL) {
        json_decref(meta);
        return -1;
    }
    if (bn__pr_track(pr, ch, ch, ch->topic, key, meta) != 0) {
        return -1;
    }
    bn__pr_owner_t *o = owner_get(pr, ch, false);
    if (!o->state_sent) {
        if (ch->joined) {
            o->state_sent = true;
            push_state(pr, ch);
        } else {
            o->state_wanted = true;
        }
    }
    return 0;
}

int bn_presence_untrack(bn_channel_t *ch, const char *key)
{
    bn__pr_t *pr = ch->sock->srv->presence;
    return pr != NULL && key != NULL ? bn__pr_untrack(pr, ch, key) : -1;
}

int bn_presence_update(bn_channel_t *ch, const char *key, json_t *meta)
{
    bn__pr_t *pr = ch->closing ? NULL : ch->sock->srv->presence;
    if (pr == NULL || key == NULL) {
        json_decref(meta);
        return -1;
    }
    return bn__pr_update(pr, ch, key, meta);
}

int bn_presence_push_state(bn_channel_t *ch)
{
    bn__pr_t *pr = ch->closing ? NULL : bn__pr_get(ch->sock->srv);
    return pr != NULL ? push_state(pr, ch) : -1;
}

json_t *bn_presence_list(bn_server_t *srv, const char *topic)
{
    return bn__pr_list(srv->presence, topic);
}

size_t bn_presence_member_count(bn_server_t *srv)
{
    return srv->presence != NULL ? srv->presence->total : 0;
}

void bn_presence_on_event(bn_server_t *srv, bn_presence_event_cb cb, void *ud)
{
    bn__pr_t *pr = bn__pr_get(srv);
    if (pr != NULL) {
        pr->event_cb = cb;
        pr->event_ud = ud;
    }
}

/* ---------------------------------------------------------------- channel hooks */

void bn__presence_channel_gone(bn_channel_t *ch)
{
    bn__pr_t *pr = ch->sock->srv->presence;
    if (pr != NULL) {
        bn__pr_owner_gone(pr, ch);
    }
}

void bn__presence_channel_joined(bn_channel_t *ch)
{
    bn__pr_t *pr = ch->sock->srv->presence;
    bn__pr_owner_t *o = pr != NULL ? owner_get(pr, ch, false) : NULL;
    if (o != NULL && o->state_wanted && !o->state_sent) {
        o->state_wanted = false;
        o->state_sent = true;
        push_state(pr, ch);
    }
}

static void on_pr_handle_closed(uv_handle_t *h)
{
    bn__pr_t *pr = h->data;
    if (--pr->open_handles > 0) {
        return;
    }
    void (*cb)(void *) = pr->close_cb;
    void *ud = pr->close_ud;
    bn__pr_free(pr);
    cb(ud);
}

void bn__presence_close(bn_server_t *srv, void (*cb)(void *ud), void *ud)
{
    bn__pr_t *pr = srv->presence;
    if (pr == NULL) {
        cb(ud);
        return;
    }
    /* Leaves not yet replicated go out before the timers stop. */
    bn__pr_repl_tick(pr);
    srv->presence = NULL;
    pr->closing = true;
    pr->close_cb = cb;
    pr->close_ud = ud;
    uv_close((uv_handle_t *)&pr->diff_timer, on_pr_handle_closed);
    uv_close((uv_handle_t *)&pr->repl_timer, on_pr_handle_closed);
}

void bn_presence_attach_mesh(bn_server_t *srv, bn_mesh_t *mesh)
{
    bn__pr_t *pr = bn__pr_get(srv);
    if (pr == NULL || mesh == NULL) {
        return;
    }
    pr->mesh = mesh;
    snprintf(pr->self->name, 256, "%s", bn_mesh_name(mesh));
    pr->self->incarnation = bn_mesh_incarnation(mesh);
    pr->node_hash = name_hash(pr->self->name);
    uv_timer_start(&pr->repl_timer, on_repl_timer, pr->broadcast_ms, pr->broadcast_ms);
}

void bn_presence_peer_up(bn_server_t *srv, const char *name, uint64_t incarnation)
{
    bn__pr_t *pr = srv->presence;
    if (pr != NULL && !pr->closing) {
        bn__pr_peer_up(pr, name, incarnation);
    }
}

void bn_presence_peer_down(bn_server_t *srv, const char *name, uint64_t incarnation)
{
    bn__pr_t *pr = srv->presence;
    if (pr != NULL && !pr->closing) {
        bn__pr_peer_down(pr, name, incarnation);
    }
}

void bn_presence_node_message(bn_server_t *srv, const char *from, const void *body, size_t len)
{
    bn__pr_t *pr = srv->presence;
    if (pr != NULL && !pr->closing) {
        bn__pr_receive(pr, from, body, len);
    }
}

static uint64_t fnv64(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    }
    return (h ^ 0xff) * 1099511628211ull;
}

/* Order-independent digest of a topic's presences: xor over its metas of a
 * hash of (key, owner node, phx_ref). Equal digests = same members. */
static json_t *topic_digest(const bn__pr_topic_t *t)
{
    uint64_t d = 0;
    for (const bn__pr_key_t *k = t->keys; k != NULL; k = k->hh.next) {
        for (const bn__pr_meta_t *m = k->head; m != NULL; m = m->knext) {
            uint64_t h = fnv64(14695981039346656037ull, k->key, strlen(k->key));
            h = fnv64(h, m->rep->name, strlen(m->rep->name));
            d ^= fnv64(h, m->ref, strlen(m->ref));
        }
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)d);
    return json_pack("{s:I, s:I, s:s}", "keys", (json_int_t)t->n_keys, "metas",
                     (json_int_t)t->n_metas, "digest", hex);
}

static json_t *clocks_json(const bn__pr_t *pr)
{
    json_t *clocks = json_object();
    char inc[32];
    snprintf(inc, sizeof(inc), "%llu", (unsigned long long)pr->self->incarnation);
    json_object_set_new(clocks, pr->self->name,
                        json_pack("{s:s, s:I, s:b}", "incarnation", inc, "seq",
                                  (json_int_t)pr->self->seq, "up", 1));
    for (const bn__pr_rep_t *r = pr->reps; r != NULL; r = r->hh.next) {
        snprintf(inc, sizeof(inc), "%llu", (unsigned long long)r->incarnation);
        json_object_set_new(clocks, r->name,
                            json_pack("{s:s, s:I, s:b}", "incarnation", inc, "seq",
                                      (json_int_t)r->seq, "up", r->up));
    }
    return clocks;
}

json_t *bn_presence_admin_json(bn_server_t *srv, const char *topic)
{
    bn__pr_t *pr = srv->presence;
    const char *node = pr != NULL ? pr->self->name : "";
    if (topic == NULL) {
        json_t *topics = json_object();
        for (const bn__pr_topic_t *t = pr != NULL ? pr->topics : NULL; t != NULL; t = t->hh.next) {
            if (t->n_metas > 0) {
                char *name = bn_xstrndup(t->name, t->len);
                json_object_set_new(topics, name, topic_digest(t));
                free(name);
            }
        }
        return json_pack("{s:s, s:o, s:I, s:o}", "node", node, "topics", topics, "total",
                         (json_int_t)(pr != NULL ? pr->total : 0), "clocks",
                         pr != NULL ? clocks_json(pr) : json_object());
    }
    json_t *by_node = json_object();
    bn__pr_topic_t *t = pr != NULL ? topic_get(pr, topic, strlen(topic), false) : NULL;
    for (bn__pr_key_t *k = t != NULL ? t->keys : NULL; k != NULL; k = k->hh.next) {
        for (bn__pr_meta_t *m = k->head; m != NULL; m = m->knext) {
            json_t *arr = json_object_get(by_node, m->rep->name);
            if (arr == NULL) {
                arr = json_array();
                json_object_set_new(by_node, m->rep->name, arr);
            }
            json_array_append_new(arr, json_string(k->key));
        }
    }
    json_t *sum = t != NULL ? topic_digest(t)
                            : json_pack("{s:i, s:i, s:s}", "keys", 0, "metas", 0, "digest",
                                        "0000000000000000");
    json_t *out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:b}", "node", node, "topic", topic,
                            "presences", bn__pr_list(pr, topic), "by_node", by_node, "clocks",
                            pr != NULL ? clocks_json(pr) : json_object(), "count_mode",
                            t != NULL && t->count_mode);
    json_object_update(out, sum);
    json_decref(sum);
    return out;
}

uint64_t bn__pr_now(const bn__pr_t *pr);
uint64_t bn__pr_now(const bn__pr_t *pr)
{
    return now_ms(pr);
}
