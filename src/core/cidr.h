/* Networks in CIDR notation: parse "10.0.0.0/8", "fd00::/8" or a bare
 * address, and match a socket address against one (an IPv4 address seen as
 * ::ffff:a.b.c.d on a dual-stack socket matches its IPv4 network). */
#ifndef BN_CORE_CIDR_H
#define BN_CORE_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct bn__cidr_s {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
} bn__cidr_t;

/* "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128). Returns 0 or -1. */
int bn__cidr_parse(const char *s, bn__cidr_t *out);
bool bn__cidr_match(const bn__cidr_t *c, const struct sockaddr *sa);

#endif
