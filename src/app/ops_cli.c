/* See ops_cli.h. */
#include "app/ops_cli.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/token.h"
#include "channel/token_cli.h"
#include "core/log.h"

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
        o->api_key = bn_secret_file_read(o->api_key_file, o->key_buf, sizeof(o->key_buf), why,
                                         sizeof(why));
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
        bn_server_close_expired(o->srv, bn_token_cli_now_ms());
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
                           : n_seeds > 0          ? 1
                                                  : 0,
        .node_name = node_name,
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
           o->metrics_public ? "public" : o->api_key != NULL ? "api_key" : "off",
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

int64_t bn_app_token_expiry_ms(const char *token, int64_t node_max_age_s)
{
    /* "<header>.<base64url payload>.<mac>"; the MAC was checked already. */
    const char *a = token != NULL ? strchr(token, '.') : NULL;
    const char *b = a != NULL ? strchr(a + 1, '.') : NULL;
    if (b == NULL) {
        return 0;
    }
    size_t n = (size_t)(b - (a + 1));
    while (n > 0 && a[n] == '=') { /* optional padding */
        n--;
    }
    uint8_t *bin = malloc(n + 1);
    size_t len = 0;
    json_t *term = NULL;
    int64_t out = 0;
    if (bin != NULL &&
        sodium_base642bin(bin, n + 1, a + 1, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        bn_etf_decode(bin, len, &term) == 0 && json_is_array(term) &&
        json_array_size(term) >= 2 && json_is_integer(json_array_get(term, 1))) {
        int64_t signed_ms = (int64_t)json_integer_value(json_array_get(term, 1));
        int64_t max_s = node_max_age_s;
        json_t *embedded = json_array_get(term, 2); /* absent in legacy tokens; or :infinity */
        if (json_is_integer(embedded) && json_integer_value(embedded) < max_s) {
            max_s = (int64_t)json_integer_value(embedded);
        }
        if (max_s < 0) {
            max_s = 0;
        }
        out = signed_ms + max_s * 1000;
    }
    json_decref(term);
    free(bin);
    return out;
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
        int64_t exp = bn_app_token_expiry_ms(token, node_max_age_s);
        if (exp != 0 && exp <= now_ms) {
            BN_LOG(INFO, "connect_refused", "reason=token_expired id=%s", BN_LOG_VAL(id));
            return false;
        }
        bn_socket_set_expiry(s, exp);
    }
    return true;
}
