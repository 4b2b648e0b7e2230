/* bennuctl's connections: one hidden mesh per node asked (a hidden node
 * never follows gossip, so reaching every node means dialling each one),
 * all on one loop, with requests run in parallel and failures classified
 * fast (refused, wrong cookie) instead of waiting for the timeout. */
#ifndef BNCTL_CLIENT_H
#define BNCTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define BNCTL_ERR_MAP(X)      \
    X(OK, "ok")               \
    X(REFUSED, "unreachable") \
    X(COOKIE, "wrong cookie") \
    X(TIMEOUT, "timeout")     \
    X(CLOSED, "link failed")  \
    X(REMOTE, "refused request")

typedef enum {
#define BNCTL_ERR_ENUM(id, s) BNCTL_E_##id,
    BNCTL_ERR_MAP(BNCTL_ERR_ENUM)
#undef BNCTL_ERR_ENUM
} bnctl_err_t;

const char *bnctl_err_name(bnctl_err_t e);

typedef struct bnctl_client_s bnctl_client_t;

typedef struct bnctl_result_s {
    bnctl_err_t err;
    char msg[256]; /* a sentence naming the address, when err != OK */
    json_t *resp;  /* owned; the response object when err == OK */
} bnctl_result_t;

/* A client with its own loop. cookie is copied. SIGINT sets the flag that
 * bnctl_client_interrupted reports (for --watch). */
bnctl_client_t *bnctl_client_new(const char *cookie, unsigned timeout_ms);
/* Sends reqs[i] to the node at addrs[i] ("host:port"), all at once, and
 * waits for every answer, failure or timeout. out[i].resp must be released
 * with bnctl_result_clear. Connections are kept for later calls; one that
 * failed is dropped so the next call dials afresh. */
void bnctl_client_run(bnctl_client_t *c, size_t n, const char *const *addrs, json_t *const *reqs,
                      bnctl_result_t *out);
/* Runs the loop (keeping links ticking) for ms or until SIGINT. */
void bnctl_client_sleep(bnctl_client_t *c, unsigned ms);
bool bnctl_client_interrupted(const bnctl_client_t *c);
/* True if name is one of this client's own hidden node names. */
bool bnctl_client_is_self(const bnctl_client_t *c, const char *name);
/* The prefix shared by this client's node names ("bennuctl-PID-"). */
const char *bnctl_client_name_prefix(const bnctl_client_t *c);
void bnctl_result_clear(bnctl_result_t *r);
/* Closes every link and frees the client. */
void bnctl_client_free(bnctl_client_t *c);

#endif
