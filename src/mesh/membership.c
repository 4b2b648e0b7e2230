/* pg-like membership: topic sets with an incremental digest, and the two
 * halves of the chunked full-state sync.
 *
 * The digest is the xor of a SipHash-2-4 (fixed all-zero key, so every node
 * computes the same value) of each topic. Xor makes it independent of order
 * and O(1) to maintain on join/leave; the count travels beside it so that
 * an even number of colliding changes is still unlikely to go unnoticed. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mesh/internal.h"

uint64_t bn__topic_hash(const void *topic, size_t len)
{
    static const uint8_t key[crypto_shorthash_KEYBYTES] = {0};
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, topic, len, key);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) {
        h |= (uint64_t)out[i] << (8 * i);
    }
    return h;
}

bool bn__gset_has(const bn__gset_t *s, const void *topic, size_t len)
{
    bn__topic_t *t = NULL;
    HASH_FIND(hh, s->head, topic, len, t);
    return t != NULL;
}

bool bn__gset_add(bn__gset_t *s, const void *topic, size_t len)
{
    if (bn__gset_has(s, topic, len)) {
        return false;
    }
    bn__topic_t *t = bn_xmalloc(sizeof(*t) + len + 1);
    t->len = len;
    memcpy(t->key, topic, len);
    t->key[len] = '\0';
    HASH_ADD_KEYPTR(hh, s->head, t->key, t->len, t);
    s->count++;
    s->digest ^= bn__topic_hash(topic, len);
    return true;
}

bool bn__gset_del(bn__gset_t *s, const void *topic, size_t len)
{
    bn__topic_t *t = NULL;
    HASH_FIND(hh, s->head, topic, len, t);
    if (t == NULL) {
        return false;
    }
    HASH_DEL(s->head, t);
    s->count--;
    s->digest ^= bn__topic_hash(topic, len);
    free(t);
    return true;
}

void bn__gset_clear(bn__gset_t *s)
{
    bn__topic_t *t;
    bn__topic_t *tmp;
    HASH_ITER(hh, s->head, t, tmp)
    {
        HASH_DEL(s->head, t);
        free(t);
    }
    s->head = NULL;
    s->count = 0;
    s->digest = 0;
}

void bn__gset_move(bn__gset_t *dst, bn__gset_t *src)
{
    bn__gset_clear(dst);
    *dst = *src;
    src->head = NULL;
    src->count = 0;
    src->digest = 0;
}

/* ---- receive side ------------------------------------------------------- */

static void grx_log_clear(bn__grx_t *rx)
{
    bn__gdelta_t *d = rx->log_head;
    while (d != NULL) {
        bn__gdelta_t *next = d->next;
        free(d);
        d = next;
    }
    rx->log_head = NULL;
    rx->log_tail = NULL;
    rx->log_len = 0;
}

void bn__grx_reset(bn__grx_t *rx)
{
    grx_log_clear(rx);
    bn__gset_clear(&rx->pending);
    rx->active = false;
    rx->sync_id = 0;
}

bool bn__grx_chunk(bn__grx_t *rx, bn__gset_t *live, uint64_t sync_id, bool first, bool last,
                   const bn__bytes_t *topics, size_t n)
{
    if (first) {
        /* A new sync supersedes one still being collected. */
        bn__grx_reset(rx);
        rx->active = true;
        rx->sync_id = sync_id;
    } else if (!rx->active || rx->sync_id != sync_id) {
        /* A stray chunk of an abandoned sync. */
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bn__gset_add(&rx->pending, topics[i].data, topics[i].len);
    }
    if (!last) {
        return false;
    }
    bn__gset_move(live, &rx->pending);
    for (bn__gdelta_t *d = rx->log_head; d != NULL; d = d->next) {
        if (d->join) {
            bn__gset_add(live, d->topic, d->len);
        } else {
            bn__gset_del(live, d->topic, d->len);
        }
    }
    grx_log_clear(rx);
    rx->active = false;
    return true;
}

void bn__grx_delta(bn__grx_t *rx, bn__gset_t *live, bool join, const void *topic, size_t len)
{
    if (join) {
        bn__gset_add(live, topic, len);
    } else {
        bn__gset_del(live, topic, len);
    }
    if (!rx->active) {
        return;
    }
    if (rx->log_len >= BN__GRX_LOG_MAX) {
        /* Give up on this sync: the digest in the next tick will not match
         * and triggers a fresh one. */
        bn__grx_reset(rx);
        return;
    }
    bn__gdelta_t *d = bn_xmalloc(sizeof(*d) + len);
    d->next = NULL;
    d->join = join;
    d->len = len;
    memcpy(d->topic, topic, len);
    if (rx->log_tail != NULL) {
        rx->log_tail->next = d;
    } else {
        rx->log_head = d;
    }
    rx->log_tail = d;
    rx->log_len++;
}

/* ---- send side ---------------------------------------------------------- */

void bn__gtx_reset(bn__gtx_t *tx)
{
    for (size_t i = 0; i < tx->n; i++) {
        free((void *)(uintptr_t)tx->items[i].data);
    }
    free(tx->items);
    memset(tx, 0, sizeof(*tx));
}

void bn__gtx_start(bn__gtx_t *tx, const bn__gset_t *local, uint64_t sync_id)
{
    bn__gtx_reset(tx);
    tx->active = true;
    tx->sync_id = sync_id;
    tx->n = local->count;
    tx->items = bn_xmalloc((tx->n ? tx->n : 1) * sizeof(*tx->items));
    size_t i = 0;
    for (bn__topic_t *t = local->head; t != NULL; t = t->hh.next) {
        uint8_t *copy = bn_xmalloc(t->len ? t->len : 1);
        memcpy(copy, t->key, t->len);
        tx->items[i++] = bn__bytes(copy, t->len);
    }
}
