/* main() of the bennu server: argument parsing and wiring only. */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "app/chat_channel.h"
#include "app/config_file.h"
#include "app/cookie_cli.h"
#include "app/ops_cli.h"
#include "app/options.h"
#include "app/static_assets.h"
#include "app/workers.h"
#include "app/token_cli.h"
#include "bennu/bennu.h"
#include "bennu/cluster.h"
#include "bennu/log.h"
#include "bennu/mesh.h"
#include "bennu/secret.h"
#include "bennu/token.h"

#ifndef BN_DEFAULT_STATIC_DIR
#define BN_DEFAULT_STATIC_DIR NULL
#endif

typedef struct app_s {
    uv_loop_t *loop;
    bn_server_t *srv;
    uv_signal_t sigint, sigterm;
    int stopping;
    bool have_user_key;
    bn_token_key_t user_key;
    bn_mesh_t *mesh;
    bn_app_file_t *file; /* --config FILE, or NULL */
    bn_app_ops_t ops;
    bn_app_opts_t o;     /* the flags */
    const char *secret;  /* resolved secret_key_base, or NULL */
    int worker;          /* index of this --workers child, or -1 */
    char node_name[256]; /* the chat's presence meta; set once the mesh is named */
    char bind_addr[64], mesh_bind_addr[64];
} app_t;

/* Without --mesh-port the mesh listens on the HTTP port + 370 (4370 for the
 * default 4000), or on any free port when the HTTP port is 0. */
#define BN_MESH_PORT_OFFSET 370
#define BN_DEV_COOKIE "bennu-dev-cookie-not-secret"

/* The admin "stats" answer carries the --config file's webhook counters. */
static void admin_stats(void *ud, json_t *stats)
{
    app_t *app = ud;
    bn_app_file_stats(app->file, stats);
}

/* The Phoenix guide's UserSocket.connect: a `token` param, when present,
 * must verify (salt "user socket", two weeks), and its user id goes into
 * the assigns; without one the socket is anonymous. */
static bool app_connect(bn_socket_t *s, json_t *params, const bn_connect_info_t *info, void *ud)
{
    app_t *app = ud;
    /* The token comes as the `token` param (the guide's way) or as
     * phoenix.js's authToken (Phoenix 1.8, kept out of URLs and logs). */
    const char *token = json_string_value(json_object_get(params, "token"));
    if (token == NULL) {
        token = info->auth_token;
    }
    if (token == NULL && json_object_get(params, "token") == NULL) {
        return true;
    }
    if (!app->have_user_key) {
        BN_LOG(INFO, "connect_refused", "reason=token_without_secret peer=%s", info->peer);
        return false;
    }
    json_t *user = NULL;
    int64_t now_ms = bn_token_now_ms();
    bn_token_result_t r =
        bn_token_verify(&app->user_key, token, BN_USER_TOKEN_MAX_AGE, now_ms, &user);
    if (r != BN_TOKEN_OK) {
        BN_LOG(INFO, "connect_refused", "reason=token_%s peer=%s transport=%s",
               bn_token_result_name(r), info->peer, info->transport);
        return false;
    }
    /* The socket id users_socket:<user id> (a "disconnect" broadcast to it
     * closes the socket) and, with --enforce-token-expiry, the expiry. */
    bool ok = bn_app_ops_identify(&app->ops, s, user, token, BN_USER_TOKEN_MAX_AGE, now_ms);
    bn_socket_assign(s, "user_id", user);
    return ok;
}

/* A secret given on the command line: kept in a copy, and blanked in argv
 * so that ps shows x's from now on (it was visible to every local user
 * until this point, hence the secret_in_argv warning). */
static const char *secret_from_argv(char *value)
{
    static char *copies[4];
    static size_t n_copies;
    char *copy = strdup(value);
    if (copy == NULL || n_copies == sizeof(copies) / sizeof(copies[0])) {
        fprintf(stderr, "bennu: out of memory\n");
        exit(1);
    }
    copies[n_copies++] = copy;
    memset(value, 'x', strlen(value));
    return copy;
}

static void on_mesh_closed(void *ud)
{
    app_t *app = ud;
    app->mesh = NULL;
}

static void on_stopped(void *ud)
{
    app_t *app = ud;
    app->srv = NULL;
    bn_app_file_close(app->file);
    bn_app_ops_close(&app->ops);
    if (app->mesh != NULL) {
        bn_mesh_close(app->mesh, on_mesh_closed, app);
    }
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    if (app->stopping++) {
        /* A second SIGINT/SIGTERM during the drain: exit now, as an
         * operator who presses Ctrl-C twice means. */
        BN_LOG(WARN, "shutdown_forced", "signal=%d", signum);
        _exit(1);
    }
    BN_LOG(INFO, "shutdown", "signal=%d", signum);
    bn_server_stop(app->srv, on_stopped, app);
}

/* Host names, secrets and the cookie: resolved once the flags are read.
 * Returns 0, or 2 after printing the reason. */
static int app_resolve(app_t *app)
{
    bn_app_opts_t *o = &app->o;
    char why[512];
    /* Host names are resolved once, here: the listeners take addresses. */
    if (bn_app_resolve_bind(o->cfg.bind, app->bind_addr, sizeof(app->bind_addr), why,
                            sizeof(why)) != 0) {
        fprintf(stderr, "bennu: --bind: %s\n", why);
        return 2;
    }
    o->cfg.bind = app->bind_addr;
    if (o->mesh_bind != NULL) {
        if (bn_app_resolve_bind(o->mesh_bind, app->mesh_bind_addr, sizeof(app->mesh_bind_addr), why,
                                sizeof(why)) != 0) {
            fprintf(stderr, "bennu: --mesh-bind: %s\n", why);
            return 2;
        }
        o->mesh_bind = app->mesh_bind_addr;
    }
    /* Never the secret itself: only which flag carried one. */
    if (o->secret_flag != NULL) {
        o->secret_flag = secret_from_argv((char *)o->secret_flag);
        BN_LOG(WARN, "secret_in_argv", "flag=--secret-key-base detail=%s",
               BN_LOG_VAL("visible to every local user in ps; use --secret-key-base-file or "
                          "SECRET_KEY_BASE"));
    }
    if (o->cookie != NULL) {
        o->cookie = secret_from_argv((char *)o->cookie);
        BN_LOG(WARN, "secret_in_argv", "flag=--cookie detail=%s",
               BN_LOG_VAL("visible to every local user in ps; use --cookie-file or BENNU_COOKIE"));
    }
    app->ops.api_key_file = o->api_key_file;
    app->ops.metrics_public = o->metrics_public;
    app->ops.ready_min_peers = o->ready_min_peers;
    app->ops.enforce_expiry = o->enforce_expiry;
    if (bn_app_ops_load(&app->ops) != 0) {
        return 2;
    }
    if (bn_token_secret_resolve("bennu", o->secret_flag, o->secret_file, o->dev, &app->secret) !=
        0) {
        return 2;
    }
    o->cfg.secret_key_base = app->secret;
    if (o->cookie == NULL && o->cookie_file != NULL) {
        static char cookie_buf[BN_APP_COOKIE_FILE_MAX + 1]; /* lives as long as the process */
        o->cookie =
            bn_secret_file_read(o->cookie_file, cookie_buf, sizeof(cookie_buf), why, sizeof(why));
        if (o->cookie == NULL) {
            fprintf(stderr, "bennu: --cookie-file: %s\n", why);
            return 2;
        }
        if (o->cookie[0] == '\0') {
            fprintf(stderr, "bennu: --cookie-file: %s is empty\n", o->cookie_file);
            return 2;
        }
    }
    if (o->cookie == NULL) {
        o->cookie = getenv("BENNU_COOKIE");
    }
    bool cookie_explicit = o->cookie != NULL;
    if (o->cookie == NULL && o->dev) {
        o->cookie = BN_DEV_COOKIE;
    }
    if (o->cookie != NULL && !o->no_mesh && strlen(o->cookie) < BN_APP_COOKIE_MIN) {
        fprintf(stderr,
                "bennu: the cluster cookie must be at least %d bytes (got %zu); "
                "`bennu cookie new FILE` writes a random one\n",
                BN_APP_COOKIE_MIN, strlen(o->cookie));
        return 2;
    }
    const char *mesh_addr = o->mesh_bind != NULL ? o->mesh_bind : o->cfg.bind;
    if (o->dev && !cookie_explicit && !o->no_mesh && !bn_app_is_loopback(mesh_addr)) {
        fprintf(stderr,
                "bennu: --dev would open the mesh on %s with the public development "
                "cookie; pass --cookie-file (or --cookie, BENNU_COOKIE), or --no-mesh\n",
                mesh_addr);
        return 2;
    }
    if (!o->no_mesh && o->cookie == NULL && (o->seeds.n > 0 || o->join_dns.n > 0)) {
        fprintf(stderr, "bennu: --join needs a cluster cookie (--cookie, --cookie-file or "
                        "BENNU_COOKIE)\n");
        return 2;
    }
    if (o->mesh_port < 0) {
        o->mesh_port = o->cfg.port == 0 || o->cfg.port + BN_MESH_PORT_OFFSET > 65535
                           ? 0
                           : o->cfg.port + BN_MESH_PORT_OFFSET;
    }
    return 0;
}

/* Worker i of a --workers node: shared HTTP port, mesh port base+i, a
 * "-wI" name suffix, and worker 0 as the siblings' seed. A worker never
 * outlives its supervisor, even one killed with SIGKILL. */
static void app_as_worker(app_t *app)
{
    bn_app_opts_t *o = &app->o;
    static char worker_name[160], worker_seed[96], worker_adv[96];
    int worker = app->worker;
    bn_app_worker_bind_to_parent();
    o->cfg.reuse_port = true;
    if (o->node_name == NULL) {
        snprintf(worker_name, sizeof(worker_name), "bennu-%d-w%d@%s", o->cfg.port, worker,
                 o->cfg.bind);
    } else {
        const char *at = strchr(o->node_name, '@');
        snprintf(worker_name, sizeof(worker_name), "%.*s-w%d%s",
                 (int)(at ? at - o->node_name : (long)strlen(o->node_name)), o->node_name, worker,
                 at ? at : "");
    }
    o->node_name = worker_name;
    if (worker > 0 && o->seeds.n < BN_APP_LIST_MAX) {
        snprintf(worker_seed, sizeof(worker_seed), "%s:%ld",
                 o->mesh_bind != NULL ? o->mesh_bind : o->cfg.bind, o->mesh_port);
        o->seeds.v[o->seeds.n++] = worker_seed;
    }
    o->mesh_port += worker;
    if (o->advertise != NULL) {
        /* Worker i listens on the mesh port + i: so is it reached. */
        const char *colon = strrchr(o->advertise, ':');
        snprintf(worker_adv, sizeof(worker_adv), "%.*s:%ld", (int)(colon - o->advertise),
                 o->advertise, strtol(colon + 1, NULL, 10) + worker);
        o->advertise = worker_adv;
    }
}

/* The server with its routes, connect callback, static page and signal
 * handlers, started. Returns 0 or the exit status after a message. */
static int app_build_server(app_t *app)
{
    bn_app_opts_t *o = &app->o;
    char why[160];
    if (bn_config_validate(&o->cfg, why, sizeof(why)) != 0) {
        fprintf(stderr, "bennu: invalid configuration: %s\n", why); /* the flags prevent it */
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    app->loop = uv_default_loop();
    if (app->secret != NULL) {
        bn_token_key_derive(&app->user_key, app->secret, strlen(app->secret), BN_USER_TOKEN_SALT,
                            strlen(BN_USER_TOKEN_SALT));
        app->have_user_key = true;
    } else {
        BN_LOG(WARN, "no_secret", "%s",
               "detail=\"no secret_key_base: token connects are refused; see --help\"");
    }
    app->srv = bn_server_new(app->loop, &o->cfg);
    if (app->srv == NULL) {
        fprintf(stderr, "bennu: out of memory\n");
        return 1;
    }
    app->ops.metrics = bn_app_file_metrics; /* the webhook's series on /metrics */
    app->ops.metrics_ud = app->file;
    int routed = bn_app_file_install(app->file, app->srv, app->loop);
    if (routed < 0) {
        fprintf(stderr, "bennu: out of memory\n");
        return 1;
    }
    if (routed == 0) {
        bn_server_route(app->srv, "room:*", &bn_chat_channel, app->node_name);
    }
    bn_server_on_connect(app->srv, app_connect, app);
    if (o->static_dir != NULL) {
        bn_app_static_load(app->srv, o->static_dir,
                           o->dev && app->have_user_key ? &app->user_key : NULL);
    }
    /* Signal handlers first: a supervisor may signal as soon as it reads
     * the "listening" line. */
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    int rc = bn_server_start(app->srv);
    if (rc != 0) {
        fprintf(stderr, "bennu: cannot listen on %s:%d: %s\n", o->cfg.bind, o->cfg.port,
                uv_strerror(rc));
        return 1;
    }
    return 0;
}

/* The mesh, and its wiring to the server (broadcasts, presence, admin).
 * Returns 0 or the exit status after a message. */
static int app_build_mesh(app_t *app)
{
    bn_app_opts_t *o = &app->o;
    if (o->no_mesh) {
        return 0;
    }
    if (o->cookie == NULL) {
        BN_LOG(WARN, "mesh_disabled", "%s",
               "detail=\"no cluster cookie: set --cookie, --cookie-file or BENNU_COOKIE\"");
        return 0;
    }
    static char default_name[128];
    if (o->node_name == NULL) {
        snprintf(default_name, sizeof(default_name), "bennu-%d@%s", bn_server_port(app->srv),
                 o->cfg.bind);
        o->node_name = default_name;
    }
    bn_mesh_config_t mc = {
        .name = o->node_name,
        .bind = o->mesh_bind != NULL ? o->mesh_bind : o->cfg.bind,
        .port = (int)o->mesh_port,
        .cookie = o->cookie,
        .seeds = o->seeds.v,
        .n_seeds = o->seeds.n,
        .tick_ms = (unsigned)o->tick_ms,
        .down_ms = (unsigned)o->down_ms,
        .max_preauth = (size_t)o->max_preauth,
        .max_preauth_per_ip = (size_t)o->max_preauth_per_ip,
        .allow = o->allow.v,
        .n_allow = o->allow.n,
        .dial_overrides = o->overrides.v,
        .n_dial_overrides = o->overrides.n,
        .advertise = o->advertise,
        .join_dns = o->join_dns.v,
        .n_join_dns = o->join_dns.n,
    };
    if (bn_mesh_new(app->loop, &mc, NULL, NULL, &app->mesh) != 0) {
        fprintf(stderr, "bennu: invalid mesh configuration (see the log)\n");
        return 2;
    }
    int rc = bn_mesh_start(app->mesh);
    if (rc != 0) {
        fprintf(stderr, "bennu: cannot listen for the mesh on %s:%ld: %s\n", mc.bind, o->mesh_port,
                uv_strerror(rc));
        return 1;
    }
    snprintf(app->node_name, sizeof(app->node_name), "%s", bn_mesh_name(app->mesh));
    /* Pubsub over the mesh, peers' broadcasts, presence replication and the
     * admin responder, in one call. */
    bn_server_attach_mesh(app->srv, app->mesh);
    bn_server_admin_stats_hook(app->srv, admin_stats, app);
    return 0;
}

/* The operator surface, the "listening" line, and the loop until stopped. */
static int app_run(app_t *app)
{
    bn_app_opts_t *o = &app->o;
    bn_app_file_set_node(app->file, app->mesh ? bn_mesh_name(app->mesh) : NULL);
    /* With a mesh the name is the mesh's. */
    if (bn_app_ops_start(&app->ops, app->loop, app->srv, app->mesh, o->seeds.n,
                         app->mesh != NULL ? NULL : o->node_name, o->cfg.bind) != 0) {
        fprintf(stderr, "bennu: out of memory\n");
        return 1;
    }
    BN_LOG(INFO, "listening", "bind=%s port=%d mesh_port=%d node=%s version=%s", o->cfg.bind,
           bn_server_port(app->srv), app->mesh ? bn_mesh_port(app->mesh) : -1,
           app->mesh ? bn_mesh_name(app->mesh) : "-", BN_VERSION);
    if (app->worker >= 0) {
        bn_app_worker_ready();
    }
    uv_run(app->loop, UV_RUN_DEFAULT);
    BN_LOG(INFO, "stopped", "%s", "exit=0");
    uv_loop_close(app->loop);
    return 0;
}

/* Subcommands: bennu token ..., bennu --dev token ..., bennu cookie ...
 * Returns the exit status, or -1 when argv is a node's command line. */
static int app_subcommand(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "token") == 0) {
        return bn_token_cli_main("bennu token", argc - 1, argv + 1);
    }
    int token_rc = bn_token_cli_dispatch("bennu token", argc, argv); /* bennu --dev token */
    if (token_rc >= 0) {
        return token_rc;
    }
    if (argc >= 2 && strcmp(argv[1], "cookie") == 0) {
        return bn_app_cookie_cli(argc - 1, argv + 1);
    }
    return -1;
}

int main(int argc, char **argv)
{
    int rc = app_subcommand(argc, argv);
    if (rc >= 0) {
        return rc;
    }
    static app_t app;
    bn_app_ops_init(&app.ops);
    bn_app_opts_init(&app.o);
    app.o.static_dir = BN_DEFAULT_STATIC_DIR;
    app.o.ready_min_peers = app.ops.ready_min_peers;
    /* --config FILE: its flags go before the command line's. */
    rc = bn_app_file_argv(&argc, &argv, bn_app_long_options(), &app.file);
    if (rc != 0) {
        return rc;
    }
    rc = bn_app_opts_parse(&app.o, argc, argv);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    rc = bn_app_opts_check(&app.o);
    if (rc == 0) {
        rc = app_resolve(&app);
    }
    if (rc != 0) {
        return rc;
    }
    int worker_count = 0;
    app.worker = bn_app_worker_index(&worker_count);
    if (app.worker < 0 && app.o.workers > 1) {
        bn_app_opts_t *o = &app.o;
        if (o->no_mesh || o->mesh_port == 0 || o->cfg.port == 0) {
            fprintf(stderr, "bennu: --workers needs the mesh and fixed --port/--mesh-port\n");
            return 2;
        }
        if (o->mesh_port + o->workers - 1 > 65535) {
            fprintf(stderr, "bennu: --workers %ld needs mesh ports %ld to %ld\n", o->workers,
                    o->mesh_port, o->mesh_port + o->workers - 1);
            return 2;
        }
        bn_app_workers_cfg_t wc = {
            .count = (int)o->workers,
            .cookie = o->cookie,
            .secret_key_base = o->secret_flag,
            .bind = o->cfg.bind,
            .port = o->cfg.port,
        };
        return app.file != NULL ? bn_app_workers_run(app.file->orig_argc, app.file->orig_argv, &wc)
                                : bn_app_workers_run(argc, argv, &wc);
    }
    if (app.worker >= 0) {
        app_as_worker(&app);
    }
    rc = app_build_server(&app);
    if (rc == 0) {
        rc = app_build_mesh(&app);
    }
    return rc != 0 ? rc : app_run(&app);
}
