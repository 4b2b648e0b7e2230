/* --trust-forwarded: a request that arrives from a trusted reverse proxy
 * (the TCP peer is inside one of the configured networks) is taken to be
 * what the proxy says it is: its scheme comes from X-Forwarded-Proto (so
 * check_origin "conn" compares an https Origin with an https request) and
 * its client address from X-Forwarded-For, read from the right and skipping
 * the trusted hops (the rightmost address no trusted proxy vouches for;
 * everything left of it could have been written by the client). That
 * address is what logs and the connect callback see, and what the limit on
 * pending connections per address counts. A peer outside the networks gets
 * no such trust: its X-Forwarded-* headers are ignored. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/internal.h"

int bn__fwd_parse(const char *list, bn__cidr_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (list == NULL || list[0] == '\0') {
        return 0;
    }
    size_t cap = 1;
    for (const char *p = list; *p != '\0'; p++) {
        cap += *p == ',';
    }
    bn__cidr_t *v = calloc(cap, sizeof(*v));
    if (v == NULL) {
        return -1;
    }
    size_t n = 0;
    const char *p = list;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        char item[64];
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        if (len == 0 || len >= sizeof(item)) {
            free(v);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (bn__cidr_parse(item, &v[n]) != 0) {
            free(v);
            return -1;
        }
        n++;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    *out = v;
    *n_out = n;
    return 0;
}

bool bn__fwd_trusted(const bn_transport_t *t, const struct sockaddr *sa)
{
    for (size_t i = 0; i < t->n_trusted; i++) {
        if (bn__cidr_match(&t->trusted[i], sa)) {
            return true;
        }
    }
    return false;
}

/* One X-Forwarded-For element ("192.0.2.1", "2001:db8::1", "[2001:db8::1]:443",
 * "192.0.2.1:5000") into ss. Returns 0 or -1. */
static int parse_hop(const char *s, size_t len, struct sockaddr_storage *ss)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            return -1;
        }
        len = (size_t)(close - s - 1);
        s++;
    } else if (memchr(s, ':', len) != NULL && memchr(s, '.', len) != NULL &&
               memchr(s, ':', len) == memrchr(s, ':', len)) {
        len = (size_t)((const char *)memchr(s, ':', len) - s); /* a.b.c.d:port */
    }
    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

static const char *req_header_at(const bn_http_req_t *r, size_t i, const char **value)
{
    *value = r->hdr_off[i * 2 + 1] ? r->store + r->hdr_off[i * 2 + 1] : "";
    return r->store + r->hdr_off[i * 2];
}

void bn__fwd_headers(bn_conn_t *c)
{
    bn_transport_t *t = c->t;
    bn_http_req_t *r = c->req;
    c->fwd_https = false;
    free(c->client);
    c->client = NULL;
    if (!c->trusted) {
        return;
    }
    const char *proto = NULL;
    struct sockaddr_storage client;
    bool have_client = false, done = false;
    /* Headers from the last to the first, each list from right to left. */
    for (size_t i = r->n_headers; i > 0; i--) {
        const char *value = NULL;
        const char *name = req_header_at(r, i - 1, &value);
        if (strcmp(name, "x-forwarded-proto") == 0 && proto == NULL) {
            proto = value;
        }
        if (strcmp(name, "x-forwarded-for") != 0 || done) {
            continue;
        }
        size_t end = strlen(value);
        while (!done) {
            size_t start = end;
            while (start > 0 && value[start - 1] != ',') {
                start--;
            }
            struct sockaddr_storage hop;
            if (parse_hop(value + start, end - start, &hop) != 0) {
                /* Garbage where an address should be: trust stops here. */
                done = true;
                break;
            }
            client = hop;
            have_client = true;
            if (!bn__fwd_trusted(t, (struct sockaddr *)&hop)) {
                done = true; /* the rightmost untrusted hop: the client */
                break;
            }
            if (start == 0) {
                break; /* every hop of this header trusted: go on left */
            }
            end = start - 1;
        }
    }
    if (proto != NULL) {
        const char *last = strrchr(proto, ',');
        last = last != NULL ? last + 1 : proto;
        while (*last == ' ' || *last == '\t') {
            last++;
        }
        c->fwd_https = strncasecmp(last, "https", 5) == 0 || strncasecmp(last, "wss", 3) == 0;
    }
    if (have_client) {
        /* Kept on the heap: only connections through a trusted proxy pay
         * for it (an out-of-memory leaves the proxy's address shown). */
        char name[INET6_ADDRSTRLEN];
        if (client.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&client, name, sizeof(name));
        } else {
            uv_ip4_name((struct sockaddr_in *)&client, name, sizeof(name));
        }
        c->client = strdup(name);
        if (!c->served && c->ip == NULL) {
            /* The proxy's own address is not counted (it carries every
             * client); its client is, until this first request completes. */
            bn__conn_track_pending(c, &client);
        }
    }
}
