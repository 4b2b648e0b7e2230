/* Admission of unauthenticated inbound mesh connections.
 *
 * Anyone who can reach the mesh port can open connections. Until a peer's
 * Identify opened under the cookie-bound keys (link.c), its connection is
 * tracked here, and what it may cost is bounded:
 *   - an optional allow-list of networks (--mesh-allow): others are closed
 *     at once;
 *   - at most max_per_ip unauthenticated connections per source address and
 *     max_total in all, far below the descriptor limit, so the client port
 *     and bennuctl keep their descriptors. A new connection over a cap
 *     evicts the oldest one (of its address, else of all): an idle flood
 *     cannot keep a real node out, because a real handshake takes a round
 *     trip or two and a held connection only ages;
 *   - nothing is logged per connection: one summary line per interval
 *     carries the counts.
 * Each tracked link also has the handshake deadline (mesh.c) and a 512-byte
 * frame limit (link.c). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "bennu/log.h"
#include "mesh/internal.h"

static bn__ipcount_t *ip_entry(bn__preauth_t *pa, const char *ip, bool create)
{
    bn__ipcount_t *e = NULL;
    HASH_FIND_STR(pa->ips, ip, e);
    if (e == NULL && create) {
        e = bn_xcalloc(1, sizeof(*e));
        snprintf(e->ip, sizeof(e->ip), "%s", ip);
        HASH_ADD_STR(pa->ips, ip, e);
    }
    return e;
}

static void untrack(bn__preauth_t *pa, bn__link_t *l)
{
    if (!l->preauth) {
        return;
    }
    l->preauth = false;
    bn_queue_remove(&l->pa_node);
    pa->count--;
    bn__ipcount_t *e = ip_entry(pa, l->peer_ip, false);
    if (e != NULL && --e->n == 0) {
        HASH_DEL(pa->ips, e);
        free(e);
    }
}

static void evict(bn_mesh_t *m, bn__link_t *victim)
{
    m->pa.since.evicted++;
    /* bn__link_close counts the close and calls bn__preauth_closed. */
    bn__link_close(victim, BN_CLOSE_PREAUTH_LIMIT);
}

bool bn__preauth_admit(bn_mesh_t *m, bn__link_t *l, const struct sockaddr *sa)
{
    bn__preauth_t *pa = &m->pa;
    if (pa->n_allow > 0) {
        bool ok = false;
        for (size_t i = 0; i < pa->n_allow && !ok; i++) {
            ok = bn__cidr_match(&pa->allow[i], sa);
        }
        if (!ok) {
            pa->since.not_allowed++;
            return false;
        }
    }
    pa->since.accepted++;
    bn__ipcount_t *e = ip_entry(pa, l->peer_ip, true);
    if (e->n >= pa->max_per_ip) {
        bn_queue_t *q;
        bn_queue_foreach(q, &pa->links)
        {
            bn__link_t *x = bn_container_of(q, bn__link_t, pa_node);
            if (strcmp(x->peer_ip, l->peer_ip) == 0) {
                evict(m, x);
                break;
            }
        }
    }
    bn_queue_t *oldest = bn_queue_head(&pa->links);
    if (pa->count >= pa->max_total && oldest != NULL) {
        evict(m, bn_container_of(oldest, bn__link_t, pa_node));
    }
    /* The entry may have been freed by an eviction. */
    e = ip_entry(pa, l->peer_ip, true);
    e->n++;
    l->preauth = true;
    bn_queue_insert_tail(&pa->links, &l->pa_node);
    pa->count++;
    return true;
}

void bn__preauth_done(bn_mesh_t *m, bn__link_t *l)
{
    untrack(&m->pa, l);
}

void bn__preauth_closed(bn_mesh_t *m, bn__link_t *l, bn_close_reason_t reason)
{
    untrack(&m->pa, l);
    m->pa.since.closed++;
    m->pa.since.by_reason[reason]++;
}

void bn__preauth_sweep(bn_mesh_t *m, uint64_t now)
{
    bn__preauth_t *pa = &m->pa;
    if (now - pa->last_summary_ms < pa->summary_ms) {
        return;
    }
    pa->last_summary_ms = now;
    const bn__preauth_counts_t *c = &pa->since;
    if (c->not_allowed == 0 && c->evicted == 0 && c->closed == 0) {
        memset(&pa->since, 0, sizeof(pa->since));
        return;
    }
    /* Handshakes that fail are what an operator needs to see; connections
     * that closed cleanly before proving anything are counted with them. */
    bn_log_level_t level = c->by_reason[BN_CLOSE_BAD_COOKIE] || c->evicted || c->not_allowed
                               ? BN_LOG_WARN
                               : BN_LOG_INFO;
    if (level < bn_log_level) {
        memset(&pa->since, 0, sizeof(pa->since));
        return;
    }
    bn_log_write(level, "mesh_preauth_summary",
                 "mesh=%s interval_ms=%u accepted=%llu open=%zu not_allowed=%llu evicted=%llu "
                 "closed=%llu bad_cookie=%llu handshake_timeout=%llu bad_hello=%llu "
                 "connection_closed=%llu other=%llu",
                 m->name, pa->summary_ms, (unsigned long long)c->accepted, pa->count,
                 (unsigned long long)c->not_allowed, (unsigned long long)c->evicted,
                 (unsigned long long)c->closed,
                 (unsigned long long)c->by_reason[BN_CLOSE_BAD_COOKIE],
                 (unsigned long long)c->by_reason[BN_CLOSE_HANDSHAKE_TIMEOUT],
                 (unsigned long long)c->by_reason[BN_CLOSE_BAD_HELLO],
                 (unsigned long long)c->by_reason[BN_CLOSE_CONNECTION_CLOSED],
                 (unsigned long long)(c->closed - c->by_reason[BN_CLOSE_BAD_COOKIE] -
                                      c->by_reason[BN_CLOSE_HANDSHAKE_TIMEOUT] -
                                      c->by_reason[BN_CLOSE_BAD_HELLO] -
                                      c->by_reason[BN_CLOSE_CONNECTION_CLOSED]));
    memset(&pa->since, 0, sizeof(pa->since));
}

void bn__preauth_free(bn_mesh_t *m)
{
    bn__ipcount_t *e;
    bn__ipcount_t *tmp;
    HASH_ITER(hh, m->pa.ips, e, tmp)
    {
        HASH_DEL(m->pa.ips, e);
        free(e);
    }
    free(m->pa.allow);
    m->pa.allow = NULL;
}
