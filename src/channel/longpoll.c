/* LongPoll transport placeholder until sessions land: answers 404. */
#include <stdlib.h>

#include "channel/internal.h"

struct bn_lp_s {
    bn_server_t *srv;
};

struct bn_lp_s *bn__lp_new(bn_server_t *srv)
{
    struct bn_lp_s *lp = calloc(1, sizeof(*lp));
    if (lp != NULL) {
        lp->srv = srv;
    }
    return lp;
}

void bn__lp_free(struct bn_lp_s *lp)
{
    free(lp);
}

void bn__lp_request(struct bn_lp_s *lp, bn_conn_t *c, bn_http_req_t *req)
{
    (void)lp;
    (void)req;
    bn_http_respond(c, 404, "text/plain", NULL, "not found\n", 10);
}

void bn__lp_request_aborted(struct bn_lp_s *lp, bn_conn_t *c)
{
    (void)lp;
    (void)c;
}
