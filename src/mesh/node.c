/* The node table: what we know about each peer node independently of the
 * TCP links that come and go. A node is UP while exactly one link is
 * attached to it; memberships follow the node, and are dropped in one step
 * when it goes down.
 *
 * Competing links are decided inside the handshake, before either end
 * considers the peer up (bn__node_decide), by one rule both ends apply:
 *   - a link that is up is never displaced by a new link to the same
 *     incarnation: the acceptor refuses the newcomer (DUPLICATE). If the
 *     acceptor did accept one, it has already given the old link up, so the
 *     dialler switches to the new link and hands it the old one's unsent
 *     frames (no nodedown: the node never went away);
 *   - two links being set up in opposite directions: the one dialled by the
 *     node with the lower name (byte-wise) wins; each end refuses or cancels
 *     the other with a Refuse, so neither ever sees the loser come up;
 *   - two links in the same direction: the first to reach the decision wins.
 * A node is never dialled while it is up, being dialled, or has a link
 * pending (gossip.c).
 *
 * Names. A name held by a live node (an up link with another incarnation) is
 * refused with NAME_CLASH on both ends; the refused node backs off
 * exponentially instead of evicting the holder. Once the holder's link is
 * gone (a restart closes it, a crash times it out) the new incarnation is
 * taken and the old one's memberships are dropped. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "bennu/log.h"
#include "mesh/internal.h"

const char *bn__node_state_name(bn__node_state_t s)
{
    return s == BN__NODE_UP ? "up" : "down";
}

bool bn__node_name_valid(const uint8_t *name, size_t len)
{
    if (len < 3 || len > BN__MESH_NAME_MAX) {
        return false;
    }
    size_t ats = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] <= ' ' || name[i] > '~') {
            return false;
        }
        if (name[i] == '@') {
            ats++;
        }
    }
    return ats == 1 && name[0] != '@' && name[len - 1] != '@';
}

bn__node_t *bn__node_find(bn_mesh_t *m, const char *name)
{
    bn__node_t *n = NULL;
    HASH_FIND_STR(m->nodes, name, n);
    return n;
}

bn__node_t *bn__node_get(bn_mesh_t *m, const char *name)
{
    bn__node_t *n = bn__node_find(m, name);
    if (n != NULL) {
        return n;
    }
    n = bn_xcalloc(1, sizeof(*n));
    n->name = bn_xstrdup(name);
    n->port = -1;
    n->state = BN__NODE_DOWN;
    HASH_ADD_KEYPTR(hh, m->nodes, n->name, strlen(n->name), n);
    return n;
}

void bn__node_free_all(bn_mesh_t *m)
{
    bn__node_t *n;
    bn__node_t *tmp;
    HASH_ITER(hh, m->nodes, n, tmp)
    {
        HASH_DEL(m->nodes, n);
        bn__gset_clear(&n->groups);
        free(n->name);
        free(n);
    }
}

static void node_down(bn_mesh_t *m, bn__node_t *n, bn_close_reason_t reason)
{
    const bn__link_t *link = n->link;
    n->link = NULL;
    n->state = BN__NODE_DOWN;
    n->down_since_ms = bn__mesh_now(m);
    n->downs++;
    n->last_reason = reason;
    size_t dropped = n->groups.count;
    bn__gset_clear(&n->groups);
    if (n->hidden) {
        /* A bennuctl run: its link lines are at debug; this is its one line. */
        BN_LOG(DEBUG, "mesh_nodedown", "mesh=%s node=%s incarnation=%llu reason=%s", m->name,
               BN_LOG_VAL(n->name), (unsigned long long)n->incarnation,
               bn_close_reason_name(reason));
        BN_LOG(INFO, "admin_session", "mesh=%s node=%s addr=%s requests=%u ops=%s duration_ms=%llu",
               m->name, BN_LOG_VAL(n->name), link != NULL ? link->addr : "-",
               link != NULL ? link->admin_requests : 0u,
               BN_LOG_VAL(link != NULL && link->admin_ops[0] != '\0' ? link->admin_ops : "-"),
               (unsigned long long)(n->down_since_ms - n->up_since_ms));
        return;
    }
    BN_LOG(INFO, "mesh_nodedown", "mesh=%s node=%s incarnation=%llu reason=%s groups_dropped=%zu",
           m->name, BN_LOG_VAL(n->name), (unsigned long long)n->incarnation,
           bn_close_reason_name(reason), dropped);
    if (!n->hidden && !m->hidden && m->cb.peer_down != NULL) {
        m->cb.peer_down(m->ud, n->name, n->incarnation);
    }
}

int bn__node_forget(bn_mesh_t *m, const char *name)
{
    bn__node_t *n = bn__node_find(m, name);
    if (n == NULL) {
        return 1;
    }
    if (n->state == BN__NODE_UP || n->link != NULL || n->pending_link != NULL) {
        return -1;
    }
    if (n->dial_link != NULL) {
        /* A redial in flight: it no longer stands for anyone. */
        bn__link_t *l = n->dial_link;
        n->dial_link = NULL;
        l->dial_node = NULL;
        bn__link_close(l, BN_CLOSE_SHUTDOWN);
    }
    for (bn__link_t *l = bn__link_first(m); l != NULL; l = bn__link_next(m, l)) {
        if (l->dial_node == n) {
            l->dial_node = NULL;
        }
        if (l->node == n) {
            l->node = NULL;
        }
    }
    BN_LOG(INFO, "mesh_forget", "mesh=%s node=%s incarnation=%llu", m->name, BN_LOG_VAL(n->name),
           (unsigned long long)n->incarnation);
    HASH_DEL(m->nodes, n);
    bn__gset_clear(&n->groups);
    free(n->name);
    free(n);
    return 0;
}

static void attach(bn_mesh_t *m, bn__node_t *n, bn__link_t *l, bool restarted)
{
    n->link = l;
    l->node = n;
    n->incarnation = l->peer_incarnation;
    n->hidden = l->peer_hidden;
    if (l->peer_port > 0) {
        n->port = l->peer_port;
        memcpy(n->host, l->peer_host, sizeof(n->host));
    }
    n->state = BN__NODE_UP;
    n->up_since_ms = bn__mesh_now(m);
    n->backoff_ms = 0;
    n->redial_at_ms = 0;
    if (n->hidden) {
        /* bennuctl connects at every run: its session is logged once, at
         * info, when it ends (admin_session); the link lines are debug. */
        BN_LOG(DEBUG, "mesh_nodeup", "mesh=%s node=%s incarnation=%llu link#%llu dir=%s hidden=1",
               m->name, BN_LOG_VAL(n->name), (unsigned long long)n->incarnation,
               (unsigned long long)l->id, l->outbound ? "out" : "in");
    } else {
        BN_LOG(INFO, "mesh_nodeup", "mesh=%s node=%s incarnation=%llu link#%llu dir=%s hidden=%d%s",
               m->name, BN_LOG_VAL(n->name), (unsigned long long)n->incarnation,
               (unsigned long long)l->id, l->outbound ? "out" : "in", n->hidden,
               restarted ? " restarted=1" : "");
    }
    bn__mesh_node_up(m, n, restarted);
}

/* Ends a competing link that is not up. Once our side is sealed the peer is
 * told why, so it never mistakes the close for a failure. */
static void cancel_link(bn__link_t *l)
{
    if (l->state == BN__LINK_CLOSING || l->draining) {
        return;
    }
    if (l->outbound ? l->tx_crypt : l->authed) {
        bn__link_refuse(l, BN__REFUSE_DUPLICATE, BN_CLOSE_DUPLICATE_LINK);
    } else {
        bn__link_close(l, BN_CLOSE_DUPLICATE_LINK);
    }
}

static bool live(const bn__link_t *l, const bn__link_t *self)
{
    return l != NULL && l != self && l->state != BN__LINK_CLOSING && !l->draining;
}

uint32_t bn__node_decide(bn_mesh_t *m, bn__link_t *l)
{
    const char *name = l->peer_name;
    int order = strcmp(m->name, name);
    if (order == 0) {
        if (l->peer_incarnation == m->incarnation) {
            if (l->seed != NULL) {
                l->seed->done = true;
            }
            return BN__REFUSE_SELF;
        }
        BN_LOG(WARN, "mesh_name_clash", "mesh=%s node=%s addr=%s detail=\"a node with our name\"",
               m->name, BN_LOG_VAL(name), l->addr);
        return BN__REFUSE_NAME_CLASH;
    }
    bn__node_t *n = bn__node_find(m, name);
    if (n == NULL) {
        return 0;
    }
    if (n->state == BN__NODE_UP && live(n->link, l)) {
        if (n->link->peer_incarnation != l->peer_incarnation) {
            BN_LOG(WARN, "mesh_name_clash",
                   "mesh=%s node=%s up_incarnation=%llu new_incarnation=%llu addr=%s", m->name,
                   BN_LOG_VAL(name), (unsigned long long)n->link->peer_incarnation,
                   (unsigned long long)l->peer_incarnation, l->addr);
            return BN__REFUSE_NAME_CLASH;
        }
        /* Same incarnation: as acceptor, the up link stands. As dialler, the
         * peer accepted us, so it has given the old link up: switch. */
        return l->outbound ? 0 : BN__REFUSE_DUPLICATE;
    }
    bool ours_wins = order < 0; /* the link dialled by the lower name wins */
    if (!l->outbound) {
        if (live(n->pending_link, l)) {
            return BN__REFUSE_DUPLICATE; /* same direction: the first stands */
        }
        if (live(n->dial_link, l)) {
            if (ours_wins) {
                return BN__REFUSE_DUPLICATE;
            }
            cancel_link(n->dial_link);
        }
        return 0;
    }
    if (live(n->pending_link, l)) {
        if (!ours_wins) {
            return BN__REFUSE_DUPLICATE;
        }
        cancel_link(n->pending_link);
        n->pending_link = NULL;
    }
    if (live(n->dial_link, l)) {
        cancel_link(n->dial_link); /* two dials of ours: this one got through */
    }
    return 0;
}

void bn__node_link_pending(bn_mesh_t *m, bn__link_t *l)
{
    bn__node_t *n = bn__node_get(m, l->peer_name);
    n->pending_link = l;
}

void bn__node_link_up(bn_mesh_t *m, bn__link_t *l)
{
    if (l->seed != NULL) {
        l->seed->done = true;
    }
    bn__node_t *n = bn__node_get(m, l->peer_name);
    if (l->dial_node != NULL && l->dial_node->dial_link == l) {
        l->dial_node->dial_link = NULL;
        if (l->dial_node != n && l->dial_node->state == BN__NODE_DOWN) {
            /* The address we had for that node now answers with another
             * name; try again later in case it moves back. */
            bn__gossip_schedule(m, &l->dial_node->backoff_ms, &l->dial_node->redial_at_ms);
        }
    }
    if (n->dial_link == l) {
        n->dial_link = NULL;
    }
    if (n->pending_link == l) {
        n->pending_link = NULL;
    }
    bn__link_t *old = n->link;
    if (old != NULL && old != l) {
        /* Only a dialler gets here (bn__node_decide): the peer dropped the
         * old link. Its unsent frames follow, in order, on the new one. */
        old->node = NULL;
        bn__link_take_queue(l, old);
        bn__link_close(old, BN_CLOSE_REPLACED);
        n->link = l;
        l->node = n;
        BN_LOG(INFO, "mesh_link_switch", "mesh=%s node=%s from=link#%llu to=link#%llu", m->name,
               BN_LOG_VAL(n->name), (unsigned long long)old->id, (unsigned long long)l->id);
        /* The peer forgot what it knew from us: full state again. */
        bn__mesh_node_up(m, n, false);
        return;
    }
    bool restarted = n->incarnation != 0 && n->incarnation != l->peer_incarnation;
    if (restarted && n->groups.count > 0) {
        /* What the previous incarnation had joined is gone with it. */
        bn__gset_clear(&n->groups);
    }
    attach(m, n, l, restarted);
}

void bn__node_link_refused(bn_mesh_t *m, bn__link_t *l, uint32_t why)
{
    switch (why) {
    case BN__REFUSE_DUPLICATE:
        /* The peer has, or is setting up, another link with us. */
        if (l->seed != NULL) {
            l->seed->done = true;
        }
        BN_LOG(DEBUG, "mesh_refused", "mesh=%s link#%llu addr=%s reason=duplicate", m->name,
               (unsigned long long)l->id, l->addr);
        break;
    case BN__REFUSE_SELF:
        if (l->seed != NULL) {
            l->seed->done = true;
        }
        break;
    case BN__REFUSE_NAME_CLASH:
        BN_LOG(ERROR, "mesh_refused",
               "mesh=%s link#%llu addr=%s reason=name_clash detail=\"the name %s is held by "
               "another live node; retrying with backoff\"",
               m->name, (unsigned long long)l->id, l->addr, m->name);
        break;
    case BN__REFUSE_BAD_COOKIE:
        BN_LOG(ERROR, "mesh_refused",
               "mesh=%s link#%llu addr=%s reason=bad_cookie detail=\"the peer does not share "
               "our cluster cookie, or the handshake was altered in transit\"",
               m->name, (unsigned long long)l->id, l->addr);
        break;
    default:
        BN_LOG(WARN, "mesh_refused", "mesh=%s link#%llu addr=%s reason=%u", m->name,
               (unsigned long long)l->id, l->addr, why);
        break;
    }
}

void bn__node_link_closed(bn_mesh_t *m, bn__link_t *l)
{
    if (l->seed != NULL && l->seed->link == l) {
        l->seed->link = NULL;
        if (!l->seed->done && !m->closing) {
            bn__gossip_schedule(m, &l->seed->backoff_ms, &l->seed->redial_at_ms);
        }
    }
    if (l->dial_node != NULL && l->dial_node->dial_link == l) {
        l->dial_node->dial_link = NULL;
        if (l->dial_node->state == BN__NODE_DOWN && !m->closing) {
            bn__gossip_schedule(m, &l->dial_node->backoff_ms, &l->dial_node->redial_at_ms);
        }
    }
    if (l->peer_name != NULL) {
        bn__node_t *p = bn__node_find(m, l->peer_name);
        if (p != NULL && p->pending_link == l) {
            p->pending_link = NULL;
            if (p->state == BN__NODE_DOWN && l->peer_hidden && p->up_since_ms == 0 &&
                p->dial_link == NULL) {
                /* A tool that never got in leaves no entry behind. */
                HASH_DEL(m->nodes, p);
                bn__gset_clear(&p->groups);
                free(p->name);
                free(p);
            } else if (p->state == BN__NODE_DOWN && !p->hidden && p->port > 0 && !m->closing) {
                bn__gossip_schedule(m, &p->backoff_ms, &p->redial_at_ms);
            }
        }
    }
    bn__node_t *n = l->node;
    if (n == NULL || n->link != l) {
        return;
    }
    node_down(m, n, l->reason);
    if (n->hidden) {
        /* A hidden node (bennuctl, the fault harness's probe) is never
         * redialled or gossiped: forget it, or every CLI run would leave an
         * entry behind for good. */
        HASH_DEL(m->nodes, n);
        bn__gset_clear(&n->groups);
        free(n->name);
        free(n);
        return;
    }
    if (!m->closing && n->port > 0) {
        bn__gossip_schedule(m, &n->backoff_ms, &n->redial_at_ms);
    }
}
