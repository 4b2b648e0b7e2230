/* Networks in CIDR notation, for --mesh-allow and --trust-forwarded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/cidr.h"

int bn__cidr_parse(const char *s, bn__cidr_t *out)
{
    char buf[64];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, s, len + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash != NULL) {
        *slash = '\0';
        char *end = NULL;
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || bits < 0) {
            return -1;
        }
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (bits > 32) {
            return -1;
        }
        out->bits = bits < 0 ? 32u : (unsigned)bits;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        if (bits > 128) {
            return -1;
        }
        out->bits = bits < 0 ? 128u : (unsigned)bits;
    } else {
        return -1;
    }
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8;
    if (memcmp(a, b, full) != 0) {
        return false;
    }
    unsigned rest = bits % 8;
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool bn__cidr_match(const bn__cidr_t *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET && c->family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return prefix_equal((const uint8_t *)&in->sin_addr, c->addr, c->bits);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = (const uint8_t *)&in6->sin6_addr;
        if (c->family == AF_INET6) {
            return prefix_equal(a, c->addr, c->bits);
        }
        /* An IPv4 peer on a dual-stack listener: ::ffff:a.b.c.d */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return memcmp(a, mapped, sizeof(mapped)) == 0 && prefix_equal(a + 12, c->addr, c->bits);
    }
    return false;
}
