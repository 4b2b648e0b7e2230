/* See ops_cli.h. */
#include "app/ops_cli.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/token.h"
#include "bennu/secret.h"
#include "bennu/log.h"

/* The sweep period of --enforce-token-expiry: a socket closes at most this
 * long after its token expires. */
#define BN_APP_EXPIRY_SWEEP_MS 250

void bn_app_ops_init(bn_app_ops_t *o)
{
    memset(o, 0, sizeof(*o));
    o->ready_min_peers = -1;
}

int bn_app_ops_load(bn_app_ops_t *o)
{
    char why[512];
    if (o->api_key_file != NULL) {
        o->api_key =
            bn_secret_file_read(o->api_key_file, o->key_buf, sizeof(o->key_buf), why, sizeof(why));
        if (o->api_key == NULL) {
            fprintf(stderr, "bennu: --api-key-file: %s\n", why);
            return -1;
        }
    } else {
        o->api_key = getenv("BENNU_API_KEY");
        if (o->api_key != NULL && o->api_key[0] == '\0') {
            o->api_key = NULL;
        }
    }
    if (o->api_key != NULL && strlen(o->api_key) < BN_APP_API_KEY_MIN) {
        fprintf(stderr,
                "bennu: the API key must be at least %d bytes (got %zu); `bennu cookie new FILE` "
                "writes a suitable random one\n",
                BN_APP_API_KEY_MIN, strlen(o->api_key));
        return -1;
    }
    return 0;
}

static void on_expiry_sweep(uv_timer_t *t)
{
    bn_app_ops_t *o = t->data;
    if (o->srv != NULL) {
        bn_server_close_expired(o->srv, bn_token_now_ms());
    }
}

int bn_app_ops_start(bn_app_ops_t *o, uv_loop_t *loop, bn_server_t *srv, bn_mesh_t *mesh,
                     size_t n_seeds, const char *node_name, const char *bind)
{
    char default_name[128];
    if (node_name == NULL) { /* the name the node would have in a mesh */
        snprintf(default_name, sizeof(default_name), "bennu-%d@%s", bn_server_port(srv), bind);
        node_name = default_name;
    }
    bn_ops_config_t cfg = {
        .api_key = o->api_key,
        .metrics_public = o->metrics_public,
        .mesh = mesh,
        .ready_min_peers = o->ready_min_peers >= 0 ? (unsigned)o->ready_min_peers
                           : n_seeds > 0           ? 1
                                                   : 0,
        .node_name = node_name,
        .metrics = o->metrics,
        .metrics_ud = o->metrics_ud,
    };
    if (bn_server_enable_ops(srv, &cfg) != 0) {
        return -1;
    }
    o->srv = srv;
    if (o->enforce_expiry) {
        uv_timer_init(loop, &o->expiry_timer);
        o->expiry_timer.data = o;
        uv_timer_start(&o->expiry_timer, on_expiry_sweep, BN_APP_EXPIRY_SWEEP_MS,
                       BN_APP_EXPIRY_SWEEP_MS);
        o->timer_started = true;
    }
    BN_LOG(INFO, "ops", "api=%s metrics=%s ready_min_peers=%u enforce_token_expiry=%s",
           o->api_key != NULL ? "on" : "off",
           o->metrics_public    ? "public"
           : o->api_key != NULL ? "api_key"
                                : "off",
           cfg.ready_min_peers, o->enforce_expiry ? "on" : "off");
    return 0;
}

void bn_app_ops_close(bn_app_ops_t *o)
{
    o->srv = NULL;
    if (o->timer_started) {
        o->timer_started = false;
        uv_close((uv_handle_t *)&o->expiry_timer, NULL);
    }
}

bool bn_app_ops_identify(const bn_app_ops_t *o, bn_socket_t *s, const json_t *user,
                         const char *token, int64_t node_max_age_s, int64_t now_ms)
{
    char id[160];
    id[0] = '\0';
    if (json_is_integer(user)) {
        snprintf(id, sizeof(id), "users_socket:%lld", (long long)json_integer_value(user));
    } else if (json_is_string(user) && json_string_length(user) <= 128 &&
               strlen(json_string_value(user)) == json_string_length(user)) {
        snprintf(id, sizeof(id), "users_socket:%s", json_string_value(user));
    }
    if (id[0] != '\0' && bn_socket_set_id(s, id) != 0) {
        return false;
    }
    if (o->enforce_expiry) {
        int64_t exp = bn_token_expires_at_ms(token, node_max_age_s);
        if (exp != 0 && exp <= now_ms) {
            BN_LOG(INFO, "connect_refused", "reason=token_expired id=%s", BN_LOG_VAL(id));
            return false;
        }
        if (bn_socket_set_expiry(s, exp) != 0) {
            return false;
        }
    }
    return true;
}
