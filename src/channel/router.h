/* Topic routing: "room:*" matches every topic starting with "room:", any
 * other pattern matches exactly. First match wins, as in Phoenix's
 * `channel "room:*", RoomChannel` declarations. */
#ifndef BN_CHANNEL_ROUTER_H
#define BN_CHANNEL_ROUTER_H

#include <stddef.h>

#include "bennu/channel.h"

#define BN_ROUTER_MAX 64

typedef struct bn_route_s {
    char *pattern;
    size_t prefix_len; /* for wildcard patterns: bytes before '*' */
    int wildcard;
    const bn_channel_type_t *type;
    void *ud;
} bn_route_t;

typedef struct bn_router_s {
    bn_route_t routes[BN_ROUTER_MAX];
    size_t n;
} bn_router_t;

void bn_router_init(bn_router_t *r);
void bn_router_free(bn_router_t *r);
/* Returns 0, or -1 (table full, '*' not at the end, OOM). */
int bn_router_add(bn_router_t *r, const char *pattern, const bn_channel_type_t *type, void *ud);
const bn_route_t *bn_router_match(const bn_router_t *r, const char *topic, size_t topic_len);

#endif
