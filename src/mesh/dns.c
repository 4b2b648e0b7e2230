/* DNS seed discovery (--join-dns NAME[:PORT]): each name is resolved (A and
 * AAAA, uv_getaddrinfo on libuv's thread pool) at start and every
 * dns_interval_ms. Every address not seen before becomes a seed and is
 * dialled like a --join seed (backoff until a link through it
 * authenticates; our own address makes a link the handshake recognises as
 * ourselves). Addresses that leave the DNS answer are never dropped and no
 * live peer is ever pruned: membership is decided by links, not by DNS
 * (a headless Kubernetes service, a Consul name, an /etc/hosts entry). The
 * number of DNS-found addresses is bounded (BN__DNS_MAX_ADDRS). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "bennu/log.h"
#include "mesh/internal.h"

/* "NAME" or "NAME:PORT" (an IPv6 literal in brackets). */
static int split(const char *s, char *host, size_t cap, int *port)
{
    if (bn__parse_hostport(s, host, cap, port) == 0) {
        return 0;
    }
    size_t len = strlen(s);
    if (len == 0 || len >= cap || strchr(s, ':') != NULL || strchr(s, ' ') != NULL) {
        return -1;
    }
    memcpy(host, s, len + 1);
    *port = 0;
    return 0;
}

int bn__dns_name_check(const char *name, int own_port)
{
    char host[256];
    int port = 0;
    if (name == NULL || split(name, host, sizeof(host), &port) != 0) {
        return -1;
    }
    return port == 0 && own_port <= 0 ? -1 : 0;
}

void bn__dns_init(bn_mesh_t *m, const char *const *names, size_t n)
{
    if (n == 0) {
        return;
    }
    m->dns = bn_xcalloc(n, sizeof(*m->dns));
    for (size_t i = 0; i < n; i++) {
        m->dns[i].mesh = m;
        split(names[i], m->dns[i].host, sizeof(m->dns[i].host), &m->dns[i].port);
    }
    m->n_dns = n;
}

static void add_seed(bn_mesh_t *m, const char *ip, int port)
{
    for (size_t i = 0; i < m->n_seeds; i++) {
        const char *h = strcmp(m->seeds[i].host, "localhost") == 0 ? "127.0.0.1" : m->seeds[i].host;
        if (m->seeds[i].port == port && strcmp(h, ip) == 0) {
            return; /* known (a --join seed or found before) */
        }
    }
    if (m->n_seeds == m->seeds_cap) {
        if (!m->dns_full_logged) {
            m->dns_full_logged = true;
            BN_LOG(WARN, "mesh_dns_full", "mesh=%s max=%d addr=%s:%d", m->name, BN__DNS_MAX_ADDRS,
                   ip, port);
        }
        return;
    }
    bn__seed_t *s = &m->seeds[m->n_seeds++];
    memset(s, 0, sizeof(*s));
    snprintf(s->host, sizeof(s->host), "%s", ip);
    s->port = port;
    BN_LOG(INFO, "mesh_dns_seed", "mesh=%s addr=%s:%d", m->name, s->host, port);
    bn__gossip_dial_seed(m, s);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    bn__dns_name_t *d = req->data;
    bn_mesh_t *m = d->mesh;
    d->busy = false;
    if (status != 0 && status != UV_ECANCELED && !m->closing) {
        BN_LOG(DEBUG, "mesh_dns_failed", "mesh=%s name=%s err=%s", m->name, BN_LOG_VAL(d->host),
               uv_err_name(status));
    }
    for (struct addrinfo *ai = res; status == 0 && !m->closing && ai != NULL; ai = ai->ai_next) {
        char ip[64];
        if (ai->ai_family == AF_INET) {
            uv_ip4_name((const struct sockaddr_in *)ai->ai_addr, ip, sizeof(ip));
        } else if (ai->ai_family == AF_INET6) {
            uv_ip6_name((const struct sockaddr_in6 *)ai->ai_addr, ip, sizeof(ip));
        } else {
            continue;
        }
        int port = d->port > 0 ? d->port : m->port;
        if (port > 0) {
            add_seed(m, ip, port);
        }
    }
    if (res != NULL) {
        uv_freeaddrinfo(res);
    }
    bn__mesh_handle_closed(m); /* the request counted as an open handle */
}

void bn__dns_sweep(bn_mesh_t *m, uint64_t now)
{
    if (m->n_dns == 0 || m->closing || now < m->dns_next_ms) {
        return;
    }
    m->dns_next_ms = now + m->dns_interval_ms;
    for (size_t i = 0; i < m->n_dns; i++) {
        bn__dns_name_t *d = &m->dns[i];
        if (d->busy) {
            continue;
        }
        struct addrinfo hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        d->req.data = d;
        if (uv_getaddrinfo(m->loop, &d->req, on_resolved, d->host, NULL, &hints) == 0) {
            d->busy = true;
            m->open_handles++; /* the mesh is not freed under a pending lookup */
        }
    }
}

void bn__dns_cancel(bn_mesh_t *m)
{
    for (size_t i = 0; i < m->n_dns; i++) {
        if (m->dns[i].busy) {
            uv_cancel((uv_req_t *)&m->dns[i].req);
        }
    }
}
