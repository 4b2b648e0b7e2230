#include "channel/router.h"

#include <stdlib.h>
#include <string.h>

void bn_router_init(bn_router_t *r)
{
    memset(r, 0, sizeof(*r));
}

void bn_router_free(bn_router_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].pattern);
    }
    r->n = 0;
}

int bn_router_add(bn_router_t *r, const char *pattern, const bn_channel_type_t *type, void *ud)
{
    if (r->n == BN_ROUTER_MAX || pattern == NULL || type == NULL || type->join == NULL) {
        return -1;
    }
    const char *star = strchr(pattern, '*');
    if (star != NULL && star[1] != '\0') {
        return -1; /* Phoenix allows the wildcard only at the end */
    }
    char *copy = strdup(pattern);
    if (copy == NULL) {
        return -1;
    }
    bn_route_t *rt = &r->routes[r->n++];
    rt->pattern = copy;
    rt->wildcard = star != NULL;
    rt->prefix_len = star != NULL ? (size_t)(star - pattern) : strlen(pattern);
    rt->type = type;
    rt->ud = ud;
    return 0;
}

const bn_route_t *bn_router_match(const bn_router_t *r, const char *topic, size_t topic_len)
{
    for (size_t i = 0; i < r->n; i++) {
        const bn_route_t *rt = &r->routes[i];
        if (rt->wildcard) {
            if (topic_len >= rt->prefix_len && memcmp(topic, rt->pattern, rt->prefix_len) == 0) {
                return rt;
            }
        } else if (topic_len == rt->prefix_len && memcmp(topic, rt->pattern, topic_len) == 0) {
            return rt;
        }
    }
    return NULL;
}
