/* The node table: what we know about each peer node independently of the
 * TCP links that come and go. A node is UP while exactly one authenticated
 * link is attached to it; memberships follow the node, and are dropped in
 * one step when it goes down.
 *
 * Duplicate links. When a second authenticated link to the same node
 * incarnation appears (both sides dialled at once, or a seed and a gossip
 * dial raced), both ends must pick the same survivor without talking:
 *   - links dialled in opposite directions: keep the one dialled by the node
 *     with the lower name (byte-wise);
 *   - links dialled in the same direction: keep the one whose dialler nonce
 *     (known to both ends from the Hello) is lower.
 * The loser closes with DUPLICATE_LINK. If the loser was the active link the
 * node stays up and switches to the winner, re-sending full state on it.
 *
 * Name clash. A link from a known name with a different incarnation is
 * taken as a restart when the node has no up link, or when the new
 * incarnation is greater (incarnations start with the wall-clock start time,
 * so a restarted node compares greater); the old link closes with REPLACED
 * and the old incarnation's memberships are dropped. A smaller incarnation
 * while the current one is up is a stale or misconfigured node: the new link
 * closes with NAME_CLASH. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
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
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        abort();
    }
    n->name = strdup(name);
    if (n->name == NULL) {
        abort();
    }
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

static void node_down(bn_mesh_t *m, bn__node_t *n, bn__close_reason_t reason)
{
    n->link = NULL;
    n->state = BN__NODE_DOWN;
    n->down_since_ms = bn__mesh_now(m);
    n->downs++;
    n->last_reason = reason;
    size_t dropped = n->groups.count;
    bn__gset_clear(&n->groups);
    BN_LOG(INFO, "mesh_nodedown", "mesh=%s node=%s incarnation=%llu reason=%s groups_dropped=%zu",
           m->name, n->name, (unsigned long long)n->incarnation, bn__close_reason_name(reason),
           dropped);
}

/* The winner between two authenticated links to the same incarnation. */
static bn__link_t *duplicate_winner(bn_mesh_t *m, bn__link_t *a, bn__link_t *b)
{
    if (a->outbound != b->outbound) {
        bool we_are_lower = strcmp(m->name, a->peer_name) < 0;
        return a->outbound == we_are_lower ? a : b;
    }
    return memcmp(a->dialer_nonce, b->dialer_nonce, BN__HS_NONCE_BYTES) <= 0 ? a : b;
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
    BN_LOG(INFO, "mesh_nodeup", "mesh=%s node=%s incarnation=%llu link#%llu dir=%s hidden=%d%s",
           m->name, n->name, (unsigned long long)n->incarnation, (unsigned long long)l->id,
           l->outbound ? "out" : "in", n->hidden, restarted ? " restarted=1" : "");
    bn__mesh_node_up(m, n, restarted);
}

void bn__node_link_authenticated(bn_mesh_t *m, bn__link_t *l)
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
    bn__link_t *old = n->link;
    if (old == NULL) {
        bool restarted = n->incarnation != 0 && n->incarnation != l->peer_incarnation;
        attach(m, n, l, restarted);
        return;
    }
    if (old->peer_incarnation == l->peer_incarnation) {
        bn__link_t *keep = duplicate_winner(m, old, l);
        if (keep == old) {
            bn__link_close(l, BN__CLOSE_DUPLICATE_LINK);
            return;
        }
        old->node = NULL;
        bn__link_close(old, BN__CLOSE_DUPLICATE_LINK);
        n->link = l;
        l->node = n;
        BN_LOG(INFO, "mesh_link_switch", "mesh=%s node=%s from=link#%llu to=link#%llu", m->name,
               n->name, (unsigned long long)old->id, (unsigned long long)l->id);
        /* The peer replaces what it knew from us when our sync arrives on
         * the surviving link, so nothing lost on the old one lingers. */
        bn__mesh_node_up(m, n, false);
        return;
    }
    if (l->peer_incarnation > old->peer_incarnation) {
        old->node = NULL;
        bn__link_close(old, BN__CLOSE_REPLACED);
        node_down(m, n, BN__CLOSE_REPLACED);
        attach(m, n, l, true);
        return;
    }
    BN_LOG(WARN, "mesh_name_clash", "mesh=%s node=%s up_incarnation=%llu new_incarnation=%llu",
           m->name, n->name, (unsigned long long)old->peer_incarnation,
           (unsigned long long)l->peer_incarnation);
    bn__link_close(l, BN__CLOSE_NAME_CLASH);
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
