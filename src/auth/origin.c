/* check_origin as Phoenix applies it (PROTOCOL.md 1.6), before connect on
 * both transports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/origin.h"

typedef struct {
    char scheme[16]; /* "" = any */
    char host[256];
    int port; /* 0 = any */
} origin_t;

static int default_port(const char *scheme)
{
    if (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "ws") == 0) {
        return 80;
    }
    if (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "wss") == 0) {
        return 443;
    }
    return 0;
}

/* Parses "scheme://host[:port]" or "//host[:port]" (n bytes). Returns 0 or
 * -1 when no host can be found. */
static int origin_parse(const char *s, size_t n, origin_t *o)
{
    memset(o, 0, sizeof(*o));
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '/')) {
        n--;
    }
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == '/' && s[i + 1] == '/') {
            sep = s + i;
            break;
        }
    }
    if (sep == NULL) {
        return -1;
    }
    size_t slen = (size_t)(sep - s);
    if (slen > 0) {
        if (s[slen - 1] != ':' || slen - 1 >= sizeof(o->scheme)) {
            return -1;
        }
        memcpy(o->scheme, s, slen - 1);
    }
    const char *h = sep + 2;
    size_t hlen = n - (size_t)(h - s);
    const char *slash = memchr(h, '/', hlen);
    if (slash != NULL) {
        hlen = (size_t)(slash - h);
    }
    const char *colon = NULL;
    for (size_t i = hlen; i > 0; i--) {
        if (h[i - 1] == ':') {
            colon = h + i - 1;
            break;
        }
        if (h[i - 1] == ']') {
            break;
        }
    }
    if (colon != NULL) {
        o->port = atoi(colon + 1);
        if (o->port <= 0 || o->port > 65535) {
            return -1;
        }
        hlen = (size_t)(colon - h);
    } else if (o->scheme[0] != '\0') {
        o->port = default_port(o->scheme);
    }
    if (hlen == 0 || hlen >= sizeof(o->host)) {
        return -1;
    }
    memcpy(o->host, h, hlen);
    return 0;
}

static bool host_matches(const char *pattern, const char *host)
{
    if (strncmp(pattern, "*.", 2) == 0) {
        const char *base = pattern + 2;
        size_t bl = strlen(base), hl = strlen(host);
        if (strcasecmp(host, base) == 0) {
            return true;
        }
        return hl > bl + 1 && host[hl - bl - 1] == '.' && strcasecmp(host + hl - bl, base) == 0;
    }
    return strcasecmp(pattern, host) == 0;
}

bool bn__origin_allowed(const bn_config_t *cfg, const bn_http_req_t *req)
{
    const char *mode = cfg->check_origin;
    const char *origin_hdr = bn_http_header(req, "origin");
    if (origin_hdr == NULL || mode == NULL || strcmp(mode, "off") == 0) {
        return true;
    }
    origin_t origin;
    if (origin_parse(origin_hdr, strlen(origin_hdr), &origin) != 0) {
        return false;
    }
    if (strcmp(mode, "host") == 0) {
        return cfg->url_host == NULL || strcasecmp(origin.host, cfg->url_host) == 0;
    }
    if (strcmp(mode, "conn") == 0) {
        /* The request's own scheme: plain HTTP, or what a trusted proxy said
         * (X-Forwarded-Proto); its host and port come from Host. */
        const char *host_hdr = bn_http_header(req, "host");
        if (host_hdr == NULL) {
            return false;
        }
        const char *scheme = req->scheme != NULL ? req->scheme : "http";
        char buf[300];
        int n = snprintf(buf, sizeof(buf), "%s://%s", scheme, host_hdr);
        origin_t self;
        if (n < 0 || (size_t)n >= sizeof(buf) || origin_parse(buf, (size_t)n, &self) != 0) {
            return false;
        }
        return strcasecmp(origin.scheme, scheme) == 0 && strcasecmp(origin.host, self.host) == 0 &&
               origin.port == self.port;
    }
    /* A list: each entry constrains only what it names. */
    const char *p = mode;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        origin_t allowed;
        if (origin_parse(p, len, &allowed) == 0) {
            bool scheme_ok =
                allowed.scheme[0] == '\0' || strcasecmp(allowed.scheme, origin.scheme) == 0;
            bool port_ok = allowed.port == 0 || allowed.port == origin.port;
            if (scheme_ok && port_ok && host_matches(allowed.host, origin.host)) {
                return true;
            }
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return false;
}
