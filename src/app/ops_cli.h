/* The node's operator options (--api-key-file, BENNU_API_KEY,
 * --metrics-public, --ready-min-peers, --enforce-token-expiry): reading
 * the key, turning on the HTTP operator surface (include/bennu/ops.h), the
 * socket id of verified users and the token-expiry sweep. */
#ifndef BN_APP_OPS_CLI_H
#define BN_APP_OPS_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "bennu/bennu.h"
#include "bennu/mesh.h"
#include "bennu/ops.h"

/* The largest --api-key-file (trailing newline and blanks apart). */
#define BN_APP_API_KEY_MAX 1023
/* The shortest API key accepted. */
#define BN_APP_API_KEY_MIN 16

typedef struct bn_app_ops_s {
    const char *api_key_file; /* --api-key-file */
    bool metrics_public;      /* --metrics-public */
    long ready_min_peers;     /* --ready-min-peers; -1 = 1 with seeds, else 0 */
    bool enforce_expiry;      /* --enforce-token-expiry */
    const char *api_key;      /* resolved by bn_app_ops_load */
    char key_buf[BN_APP_API_KEY_MAX + 1];
    /* The application's own /metrics series (bn_ops_config_t.metrics). */
    void (*metrics)(void *ud, bn_metrics_t *m);
    void *metrics_ud;
    uv_timer_t expiry_timer;
    bool timer_started;
    bn_server_t *srv;
} bn_app_ops_t;

void bn_app_ops_init(bn_app_ops_t *o);
/* Reads the key from --api-key-file (same checks as the other secret
 * files), else env BENNU_API_KEY. Returns 0, or -1 after printing
 * "bennu: why". */
int bn_app_ops_load(bn_app_ops_t *o);
/* Enables the surface on srv (mesh may be NULL; node_name NULL: the
 * default bennu-PORT@BIND) and starts the expiry
 * sweep when enforced. Returns 0 or -1 (OOM). */
int bn_app_ops_start(bn_app_ops_t *o, uv_loop_t *loop, bn_server_t *srv, bn_mesh_t *mesh,
                     size_t n_seeds, const char *node_name, const char *bind);
/* Closes the sweep timer (at shutdown). */
void bn_app_ops_close(bn_app_ops_t *o);
/* For a socket whose token verified: the socket id users_socket:<user id>
 * (integer or string user ids), and with --enforce-token-expiry its expiry
 * (the token's signed time plus the smaller of its own max age and
 * node_max_age_s). Returns false when the token is already past that
 * expiry (the connect is refused) or the id cannot be set. */
bool bn_app_ops_identify(const bn_app_ops_t *o, bn_socket_t *s, const json_t *user,
                         const char *token, int64_t node_max_age_s, int64_t now_ms);

#endif
