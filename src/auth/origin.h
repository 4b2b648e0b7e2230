/* check_origin as Phoenix applies it (PROTOCOL.md 1.6): the policy of
 * bn_config_t's check_origin fields, applied before connect on both
 * transports. */
#ifndef BN_AUTH_ORIGIN_H
#define BN_AUTH_ORIGIN_H

#include <stdbool.h>

#include "bennu/bennu.h"
#include "transport/transport.h"

/* True when req's Origin header passes cfg's policy. */
bool bn__origin_allowed(const bn_config_t *cfg, const bn_http_req_t *req);

#endif
