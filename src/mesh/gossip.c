/* Discovery: seeds dialled at start and retried until one link through them
 * authenticates; peer lists exchanged on link-up so every node dials every
 * node it lacks (transitive full mesh, as Erlang's `global` does); redials
 * with capped exponential backoff and jitter. Hidden nodes are never listed
 * and never dialled by others. Hosts are IP literals (or "localhost"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "bennu/log.h"
#include "mesh/internal.h"

int bn__parse_hostport(const char *s, char *host, size_t host_cap, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return -1;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            return -1;
        }
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= host_cap) {
        return -1;
    }
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p <= 0 || p > 65535) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

void bn__gossip_schedule(bn_mesh_t *m, unsigned *backoff_ms, uint64_t *at_ms)
{
    unsigned b = *backoff_ms;
    if (b == 0) {
        b = m->timing.backoff_min_ms;
    } else {
        b = b > m->timing.backoff_max_ms / 2 ? m->timing.backoff_max_ms : b * 2;
    }
    *backoff_ms = b;
    /* +-25% jitter so nodes that lost each other do not redial in lockstep. */
    uint32_t span = b / 2 + 1;
    uint64_t delay = (uint64_t)b - b / 4 + randombytes_uniform(span);
    *at_ms = bn__mesh_now(m) + (delay ? delay : 1);
}

void bn__gossip_dial_seed(bn_mesh_t *m, bn__seed_t *s)
{
    if (s->link != NULL || s->done || m->closing) {
        return;
    }
    s->redial_at_ms = 0;
    bn__link_t *l = bn__link_new(m, true);
    l->seed = s;
    s->link = l;
    int rc = bn__link_dial(l, s->host, s->port);
    if (rc < 0) {
        BN_LOG(WARN, "mesh_dial_failed", "mesh=%s seed=%s:%d err=%s", m->name, s->host, s->port,
               uv_err_name(rc));
        bn__link_close(l, BN_CLOSE_CONNECT_FAILED);
    }
}

void bn__gossip_dial_node(bn_mesh_t *m, bn__node_t *n)
{
    /* Never dial a node we are connected to or connecting with. */
    if (m->closing || n->link != NULL || n->dial_link != NULL || n->pending_link != NULL ||
        n->port <= 0 || n->hidden || n->host[0] == '\0') {
        return;
    }
    n->redial_at_ms = 0;
    const char *host = n->host;
    int port = n->port;
    char ohost[sizeof(n->host)];
    int oport = 0;
    size_t name_len = strlen(n->name);
    for (size_t i = 0; i < m->n_dial_overrides; i++) {
        const char *o = m->dial_overrides[i];
        if (strncmp(o, n->name, name_len) == 0 && o[name_len] == '=' &&
            bn__parse_hostport(o + name_len + 1, ohost, sizeof(ohost), &oport) == 0) {
            host = ohost;
            port = oport;
            break;
        }
    }
    bn__link_t *l = bn__link_new(m, true);
    l->dial_node = n;
    n->dial_link = l;
    int rc = bn__link_dial(l, host, port);
    if (rc < 0) {
        BN_LOG(WARN, "mesh_dial_failed", "mesh=%s node=%s addr=%s:%d err=%s", m->name,
               BN_LOG_VAL(n->name), BN_LOG_VAL(n->host), n->port, uv_err_name(rc));
        bn__link_close(l, BN_CLOSE_CONNECT_FAILED);
    }
}

void bn__gossip_start(bn_mesh_t *m)
{
    for (size_t i = 0; i < m->n_seeds; i++) {
        bn__gossip_dial_seed(m, &m->seeds[i]);
    }
}

/* A seed whose address is that of a node we are already linked with (it
 * dialled us first) needs no dial of its own: redialling it would only make
 * a duplicate link for the handshake to refuse. */
static bool seed_is_up_node(bn_mesh_t *m, const bn__seed_t *s)
{
    const char *host = strcmp(s->host, "localhost") == 0 ? "127.0.0.1" : s->host;
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        if (n->port == s->port && strcmp(n->host, host) == 0 &&
            (n->state == BN__NODE_UP || n->pending_link != NULL)) {
            return true;
        }
    }
    return false;
}

void bn__gossip_sweep(bn_mesh_t *m, uint64_t now)
{
    for (size_t i = 0; i < m->n_seeds; i++) {
        bn__seed_t *s = &m->seeds[i];
        if (!s->done && s->link == NULL && s->redial_at_ms != 0 && now >= s->redial_at_ms) {
            if (seed_is_up_node(m, s)) {
                s->done = true;
                continue;
            }
            bn__gossip_dial_seed(m, s);
        }
    }
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        if (n->state == BN__NODE_DOWN && n->redial_at_ms != 0 && now >= n->redial_at_ms) {
            bn__gossip_dial_node(m, n);
        }
    }
}

static bool listable(const bn__node_t *n)
{
    return n->state == BN__NODE_UP && !n->hidden && n->port > 0 && n->host[0] != '\0';
}

void bn__gossip_send_peers(bn_mesh_t *m, bn__link_t *to, const bn__node_t *only)
{
    size_t cap = only != NULL ? 1 : HASH_COUNT(m->nodes);
    bn__peer_info_t *peers = bn_xcalloc(cap ? cap : 1, sizeof(*peers));
    size_t n_peers = 0;
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        if ((only != NULL && n != only) || n == to->node || !listable(n)) {
            continue;
        }
        peers[n_peers].name = bn__bytes(n->name, strlen(n->name));
        peers[n_peers].host = bn__bytes(n->host, strlen(n->host));
        peers[n_peers].port = n->port;
        peers[n_peers].incarnation = n->incarnation;
        n_peers++;
    }
    if (n_peers > 0) {
        bn__msg_t msg;
        memset(&msg, 0, sizeof(msg));
        msg.type = BN__MSG_PEER_LIST;
        msg.u.peers.peers = peers;
        msg.u.peers.n = n_peers;
        bn__link_send_msg(to, &msg);
    }
    free(peers);
}

void bn__gossip_on_peers(bn_mesh_t *m, bn__link_t *from, const bn__msg_t *msg)
{
    if (m->hidden || from->peer_hidden) {
        return;
    }
    for (size_t i = 0; i < msg->u.peers.n; i++) {
        const bn__peer_info_t *p = &msg->u.peers.peers[i];
        if (!bn__node_name_valid(p->name.data, p->name.len) || p->host.len == 0 ||
            p->host.len > BN__MESH_HOST_MAX || p->port <= 0 || p->port > 65535) {
            continue;
        }
        char name[BN__MESH_NAME_MAX + 1];
        memcpy(name, p->name.data, p->name.len);
        name[p->name.len] = '\0';
        if (strcmp(name, m->name) == 0) {
            continue;
        }
        bn__node_t *n = bn__node_get(m, name);
        if (n->state == BN__NODE_UP || n->dial_link != NULL || n->pending_link != NULL) {
            continue;
        }
        memcpy(n->host, p->host.data, p->host.len);
        n->host[p->host.len] = '\0';
        n->port = p->port;
        if (n->incarnation == 0) {
            n->incarnation = p->incarnation;
        }
        BN_LOG(DEBUG, "mesh_peer_learned", "mesh=%s node=%s addr=%s:%d via=%s", m->name,
               BN_LOG_VAL(n->name), BN_LOG_VAL(n->host), n->port, BN_LOG_VAL(from->peer_name));
        bn__gossip_dial_node(m, n);
    }
}
