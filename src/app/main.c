/* main() of the bennu server: argument parsing and wiring only. */
#include <errno.h>
#include <getopt.h>
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
    bn_app_file_t *file;       /* --config FILE, or NULL */
    bn_app_ops_t ops;
} app_t;

#define APP_MAX_SEEDS 64
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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bennu [options]\n"
            "\n"
            "Runs one Bennu node: the Phoenix socket at /socket (WebSocket), the demo chat\n"
            "page at / and /health.\n"
            "\n"
            "  --config FILE         a JSON file of flags, channel routes and the webhook\n"
            "                        (docs/config.md); flags given here override it\n"
            "  --port N              HTTP port (default 4000; 0 = any free port)\n"
            "  --bind ADDR           listen address or host name (default 127.0.0.1)\n"
            "  --static-dir DIR      the demo page's directory (index.html, app.js, phoenix.js)\n"
            "  --secret-key-base K   secret for Phoenix.Token user tokens and LongPoll sessions\n"
            "                        (visible in ps: prefer the file or env SECRET_KEY_BASE)\n"
            "  --secret-key-base-file F  read it from a file (mode 0600, at most 4095 bytes)\n"
            "  --dev                 development mode: a built-in, clearly non-secret key, and\n"
            "                        the demo page gets a token for user \"demo\"\n"
            "  --check-origin MODE   off, conn (Origin must match Host; default), host\n"
            "                        (Origin host must equal --url-host), or a comma list of\n"
            "                        scheme://host[:port] or //host[:port]\n"
            "  --url-host HOST       the endpoint's public host for --check-origin host (only)\n"
            "  --log-level LEVEL     debug, info, warn, error, off (default info)\n"
            "  --max-frame-size N    largest WebSocket frame payload in bytes (default 1048576)\n"
            "  --max-message-size N  largest reassembled message in bytes (default 1048576)\n"
            "  --idle-timeout MS     close a WebSocket silent this long (default 60000)\n"
            "  --handshake-timeout MS  time to send a complete HTTP request (default 10000)\n"
            "  --max-queued-bytes N  outbound bytes per connection before it is closed as a\n"
            "                        slow consumer (default 4194304)\n"
            "  --max-connections N   connections per node (default 100000)\n"
            "  --max-channels N      channels per connection (default 100)\n"
            "  --max-topics N        distinct topics with subscribers on this node (default\n"
            "                        1000000; beyond: join error \"too many topics\")\n"
            "  --longpoll-window MS  a LongPoll GET waits this long for messages (default 10000)\n"
            "  --longpoll-session-timeout MS  a session not polled this long ends (default 15000)\n"
            "  --max-longpoll-sessions N  LongPoll sessions per node (default 10000)\n"
            "  --frame-timeout MS    a started WebSocket frame or fragmented message must be\n"
            "                        complete within this (default 20000; close 1008)\n"
            "  --memory-budget N     bytes held in incomplete frames by all connections\n"
            "                        (default 268435456; beyond, the largest get close 1009)\n"
            "  --max-pending-per-ip N  connections per address without a completed request\n"
            "                        (default 256; the oldest is closed beyond; 0 = no cap)\n"
            "  --rate-limit N        client messages per second per connection (default 0 = off;\n"
            "                        over it: close 1008, LongPoll POST status 429)\n"
            "  --rate-burst N        bursts allowed above the rate (default = --rate-limit;\n"
            "                        needs --rate-limit)\n"
            "  --trust-forwarded CIDR[,CIDR]  reverse proxies whose X-Forwarded-For and\n"
            "                        X-Forwarded-Proto are believed (default: none)\n"
            "  --drain-ms MS         on SIGTERM, close WebSockets in batches spread over this\n"
            "                        window (default 10000; 0 = all at once); a second\n"
            "                        SIGTERM/SIGINT exits at once\n"
            "  --drain-batch N       WebSockets closed per batch (default 1000)\n"
            "\n"
            "Operations (see docs/api.md):\n"
            "  --api-key-file F      bearer key of the /api/ server API (mode 0600, 16 to 1023\n"
            "                        bytes; else env BENNU_API_KEY; none: /api/ answers 404)\n"
            "  --metrics-public      serve /metrics without the API key\n"
            "  --ready-min-peers N   /ready needs N peer nodes up (default 1 with --join, else 0)\n"
            "  --enforce-token-expiry  close a socket when its user token expires (close 4001)\n"
            "  --presence-diff-ms MS presence_diff coalescing interval (default 50)\n"
            "  --presence-broadcast-ms MS  presence replication interval (default 100)\n"
            "  --presence-max-per-topic N  presences per topic; a track beyond fails (100000)\n"
            "  --presence-count-above N    keys above which a topic sends presence_count\n"
            "                        instead of diffs (default 10000; 0 = never)\n"
            "\n"
            "Cluster (see README \"Cluster\"):\n"
            "  --name NAME@HOST      node name (default bennu-<port>@<bind>)\n"
            "  --mesh-port N         mesh listener port (default --port + 370, i.e. 4370; with\n"
            "                        --port 0 any free port; 0 = any free port)\n"
            "  --mesh-bind ADDR      mesh listen address (default: --bind)\n"
            "  --join HOST:PORT      a seed node's mesh address (repeatable)\n"
            "  --cookie C            cluster cookie, at least 16 bytes (else --cookie-file, else\n"
            "  --cookie-file F       env BENNU_COOKIE; --dev uses a built-in one on loopback).\n"
            "                        No cookie: no mesh. `bennu cookie new FILE` makes one.\n"
            "                        The file: mode 0600, at most 1023 bytes; --cookie is\n"
            "                        visible in ps.\n"
            "  --tick-ms MS          tick interval on idle links (default 1000)\n"
            "  --down-ms MS          a peer silent this long is down (default 5000)\n"
            "  --mesh-allow CIDR     only these networks may connect to the mesh port\n"
            "                        (repeatable; default any)\n"
            "  --mesh-max-preauth N  unauthenticated mesh connections held at once (default 128)\n"
            "  --mesh-max-preauth-per-ip N  the same per source address (default 16)\n"
            "  --no-mesh             run without a mesh listener\n"
            "  --workers N           run N worker processes (one per core) sharing --port;\n"
            "                        worker i is mesh node NAME-wI on --mesh-port + i\n"
            "  --advertise HOST:PORT the mesh address other nodes dial to reach this one\n"
            "                        (NAT, containers; HOST an IP address or localhost)\n"
            "  --join-dns NAME[:PORT]  seeds from DNS: NAME's A/AAAA records, resolved every\n"
            "                        5 s; new addresses are dialled, none is ever dropped\n"
            "                        (PORT defaults to --mesh-port; repeatable)\n"
            "  --dial-override NAME@HOST=HOST:PORT  reach that node at this address instead\n"
            "                        of the one it advertises (fault proxies; repeatable)\n"
            "  --help                this text\n"
            "\n"
            "       bennu token mint|verify ...   Phoenix.Token tools (bennu token --help)\n"
            "       bennu cookie new [FILE]      a random cluster cookie (FILE: created 0600)\n"
            "  --version             print the version\n");
}

static int parse_num(const char *flag, const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bennu: invalid value for %s: '%s' (expected %ld..%ld)\n", flag, s, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

/* getopt_long accepts any unambiguous prefix ("--po" for --port) and takes
 * whatever follows a flag as its value; bennu wants each flag spelled out
 * and a real value. typed is the argv element that held the flag; separate
 * is true when the value was the next element. Returns 0, or -1 after a
 * message. */
static int check_flag(const char *typed, const struct option *o, bool separate, const char *value)
{
    size_t len = strcspn(typed, "=");
    if (len < 2 || strncmp(typed, "--", 2) != 0 || strlen(o->name) != len - 2 ||
        strncmp(typed + 2, o->name, len - 2) != 0) {
        fprintf(stderr, "bennu: unknown option %.*s (did you mean --%s? flags are not "
                        "abbreviated)\n",
                (int)len, typed, o->name);
        return -1;
    }
    if (o->has_arg != required_argument) {
        return 0;
    }
    if (value[0] == '\0') {
        fprintf(stderr, "bennu: option --%s needs a value, got an empty one (see --help)\n",
                o->name);
        return -1;
    }
    if (separate && strncmp(value, "--", 2) == 0 && value[2] != '\0') {
        fprintf(stderr,
                "bennu: option --%s needs a value, got the option %s (write --%s=VALUE for a "
                "value that starts with --)\n",
                o->name, value, o->name);
        return -1;
    }
    return 0;
}

/* The long option whose val is v, for messages. */
static const char *flag_name(const struct option *opts, int v)
{
    for (const struct option *o = opts; o->name != NULL; o++) {
        if (o->val == v) {
            return o->name;
        }
    }
    return NULL;
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

int main(int argc, char **argv)
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
    static app_t app;
    bn_app_ops_init(&app.ops);
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    const char *static_dir = BN_DEFAULT_STATIC_DIR;
    const char *secret_flag = NULL, *secret_file = NULL;
    bool dev = false;
    const char *node_name = NULL, *mesh_bind = NULL, *cookie = NULL, *cookie_file = NULL;
    const char *seeds[APP_MAX_SEEDS];
    size_t n_seeds = 0;
    const char *overrides[APP_MAX_SEEDS];
    size_t n_overrides = 0;
    long mesh_port = -1, tick_ms = 1000, down_ms = 5000;
    long max_preauth = 0, max_preauth_per_ip = 0;
    const char *allow[APP_MAX_SEEDS];
    size_t n_allow = 0;
    bool no_mesh = false, cookie_explicit = false;
    const char *advertise = NULL;
    const char *join_dns[APP_MAX_SEEDS];
    size_t n_join_dns = 0;
    long workers = 1;
    enum {
        OPT_PORT = 256, OPT_BIND, OPT_STATIC, OPT_LOG, OPT_FRAME, OPT_MESSAGE, OPT_IDLE,
        OPT_HANDSHAKE, OPT_QUEUE, OPT_CONNS, OPT_CHANNELS, OPT_HELP, OPT_VERSION, OPT_SECRET,
        OPT_SECRET_FILE, OPT_DEV, OPT_ORIGIN, OPT_URL_HOST, OPT_NAME, OPT_MESH_PORT,
        OPT_MESH_BIND, OPT_JOIN, OPT_COOKIE, OPT_COOKIE_FILE, OPT_TICK, OPT_DOWN, OPT_ALLOW,
        OPT_PREAUTH, OPT_PREAUTH_IP,
        OPT_NO_MESH, OPT_DIAL, OPT_RATE, OPT_BURST, OPT_WORKERS, OPT_TOPICS, OPT_LP_WINDOW,
        OPT_LP_TIMEOUT, OPT_LP_SESSIONS, OPT_FRAME_TIMEOUT, OPT_MEM_BUDGET, OPT_PENDING_IP,
        OPT_CONFIG,
        OPT_API_KEY_FILE, OPT_METRICS_PUBLIC, OPT_READY_MIN_PEERS, OPT_ENFORCE_EXPIRY,
        OPT_TRUST_FWD, OPT_DRAIN_MS, OPT_DRAIN_BATCH, OPT_ADVERTISE, OPT_JOIN_DNS,
        OPT_PR_DIFF, OPT_PR_BCAST, OPT_PR_MAX, OPT_PR_COUNT,
    };
    static const struct option opts[] = {
        {"port", required_argument, NULL, OPT_PORT},
        {"bind", required_argument, NULL, OPT_BIND},
        {"static-dir", required_argument, NULL, OPT_STATIC},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"max-frame-size", required_argument, NULL, OPT_FRAME},
        {"max-message-size", required_argument, NULL, OPT_MESSAGE},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE},
        {"max-queued-bytes", required_argument, NULL, OPT_QUEUE},
        {"max-connections", required_argument, NULL, OPT_CONNS},
        {"max-channels", required_argument, NULL, OPT_CHANNELS},
        {"secret-key-base", required_argument, NULL, OPT_SECRET},
        {"secret-key-base-file", required_argument, NULL, OPT_SECRET_FILE},
        {"dev", no_argument, NULL, OPT_DEV},
        {"check-origin", required_argument, NULL, OPT_ORIGIN},
        {"url-host", required_argument, NULL, OPT_URL_HOST},
        {"name", required_argument, NULL, OPT_NAME},
        {"mesh-port", required_argument, NULL, OPT_MESH_PORT},
        {"mesh-bind", required_argument, NULL, OPT_MESH_BIND},
        {"join", required_argument, NULL, OPT_JOIN},
        {"cookie", required_argument, NULL, OPT_COOKIE},
        {"cookie-file", required_argument, NULL, OPT_COOKIE_FILE},
        {"tick-ms", required_argument, NULL, OPT_TICK},
        {"down-ms", required_argument, NULL, OPT_DOWN},
        {"mesh-allow", required_argument, NULL, OPT_ALLOW},
        {"mesh-max-preauth", required_argument, NULL, OPT_PREAUTH},
        {"mesh-max-preauth-per-ip", required_argument, NULL, OPT_PREAUTH_IP},
        {"no-mesh", no_argument, NULL, OPT_NO_MESH},
        {"dial-override", required_argument, NULL, OPT_DIAL},
        {"rate-limit", required_argument, NULL, OPT_RATE},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"max-topics", required_argument, NULL, OPT_TOPICS},
        {"longpoll-window", required_argument, NULL, OPT_LP_WINDOW},
        {"longpoll-session-timeout", required_argument, NULL, OPT_LP_TIMEOUT},
        {"max-longpoll-sessions", required_argument, NULL, OPT_LP_SESSIONS},
        {"frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT},
        {"memory-budget", required_argument, NULL, OPT_MEM_BUDGET},
        {"max-pending-per-ip", required_argument, NULL, OPT_PENDING_IP},
        {"rate-burst", required_argument, NULL, OPT_BURST},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"api-key-file", required_argument, NULL, OPT_API_KEY_FILE},
        {"metrics-public", no_argument, NULL, OPT_METRICS_PUBLIC},
        {"ready-min-peers", required_argument, NULL, OPT_READY_MIN_PEERS},
        {"enforce-token-expiry", no_argument, NULL, OPT_ENFORCE_EXPIRY},
        {"trust-forwarded", required_argument, NULL, OPT_TRUST_FWD},
        {"drain-ms", required_argument, NULL, OPT_DRAIN_MS},
        {"drain-batch", required_argument, NULL, OPT_DRAIN_BATCH},
        {"advertise", required_argument, NULL, OPT_ADVERTISE},
        {"join-dns", required_argument, NULL, OPT_JOIN_DNS},
        {"presence-diff-ms", required_argument, NULL, OPT_PR_DIFF},
        {"presence-broadcast-ms", required_argument, NULL, OPT_PR_BCAST},
        {"presence-max-per-topic", required_argument, NULL, OPT_PR_MAX},
        {"presence-count-above", required_argument, NULL, OPT_PR_COUNT},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    bn_app_file_t *file = NULL;
    int file_rc = bn_app_file_argv(&argc, &argv, opts, &file);
    if (file_rc != 0) {
        return file_rc;
    }
    int opt;
    int longindex = -1;
    long v;
    /* Flags checked against each other once all are read. */
    bool burst_given = false, url_host_given = false;
    const char *mesh_flag = NULL; /* the first flag that only means something with a mesh */
    opterr = 0;
    /* "+": stop at the first non-option instead of reordering argv; ":": a
     * missing value is reported as ':' rather than as an unknown option. */
    while ((opt = getopt_long(argc, argv, "+:", opts, &longindex)) != -1) {
        const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        if (opt != ':' && opt != '?' && longindex >= 0) {
            const struct option *o = &opts[longindex];
            bool separate = o->has_arg == required_argument && optind >= 2 &&
                            optarg == argv[optind - 1];
            flag = argv[optind - (separate ? 2 : 1)];
            if (check_flag(flag, o, separate, optarg) != 0) {
                return 2;
            }
        }
        longindex = -1;
        switch (opt) {
        case OPT_NAME:
        case OPT_MESH_PORT:
        case OPT_MESH_BIND:
        case OPT_JOIN:
        case OPT_TICK:
        case OPT_DOWN:
        case OPT_ALLOW:
        case OPT_PREAUTH:
        case OPT_PREAUTH_IP:
        case OPT_DIAL:
        case OPT_ADVERTISE:
        case OPT_JOIN_DNS:
            mesh_flag = mesh_flag != NULL ? mesh_flag : flag_name(opts, opt);
            break;
        case OPT_BURST:
            burst_given = true;
            break;
        case OPT_URL_HOST:
            url_host_given = true;
            break;
        default:
            break;
        }
        switch (opt) {
        case OPT_PORT:
            if (parse_num("--port", optarg, 0, 65535, &v) != 0) {
                return 2;
            }
            cfg.port = (int)v;
            break;
        case OPT_BIND:
            cfg.bind = optarg;
            break;
        case OPT_STATIC:
            static_dir = optarg;
            break;
        case OPT_LOG: {
            int level = bn_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr,
                        "bennu: invalid value for --log-level: '%s' (accepted: debug, info, "
                        "warn, error, off)\n",
                        optarg);
                return 2;
            }
            bn_log_level = (bn_log_level_t)level;
            break;
        }
        case OPT_FRAME:
            if (parse_num("--max-frame-size", optarg, 125, 256L * 1024 * 1024, &v) != 0) {
                return 2;
            }
            cfg.max_frame_size = (size_t)v;
            break;
        case OPT_MESSAGE:
            if (parse_num("--max-message-size", optarg, 125, 256L * 1024 * 1024, &v) != 0) {
                return 2;
            }
            cfg.max_message_size = (size_t)v;
            break;
        case OPT_IDLE:
            if (parse_num("--idle-timeout", optarg, 100, 24L * 3600 * 1000, &v) != 0) {
                return 2;
            }
            cfg.idle_timeout_ms = (unsigned)v;
            break;
        case OPT_HANDSHAKE:
            if (parse_num("--handshake-timeout", optarg, 100, 3600L * 1000, &v) != 0) {
                return 2;
            }
            cfg.handshake_timeout_ms = (unsigned)v;
            break;
        case OPT_QUEUE:
            if (parse_num("--max-queued-bytes", optarg, 4096, 1L << 34, &v) != 0) {
                return 2;
            }
            cfg.max_queued_bytes = (size_t)v;
            break;
        case OPT_CONNS:
            if (parse_num("--max-connections", optarg, 1, 10000000, &v) != 0) {
                return 2;
            }
            cfg.max_connections = (unsigned)v;
            break;
        case OPT_CHANNELS:
            if (parse_num("--max-channels", optarg, 1, 100000, &v) != 0) {
                return 2;
            }
            cfg.max_channels = (unsigned)v;
            break;
        case OPT_SECRET:
            secret_flag = optarg;
            break;
        case OPT_SECRET_FILE:
            secret_file = optarg;
            break;
        case OPT_API_KEY_FILE:
            app.ops.api_key_file = optarg;
            break;
        case OPT_METRICS_PUBLIC:
            app.ops.metrics_public = true;
            break;
        case OPT_READY_MIN_PEERS:
            if (parse_num("--ready-min-peers", optarg, 0, 100000, &app.ops.ready_min_peers) != 0) {
                return 2;
            }
            break;
        case OPT_ENFORCE_EXPIRY:
            app.ops.enforce_expiry = true;
            break;
        case OPT_DEV:
            dev = true;
            break;
        case OPT_ORIGIN:
            if (!bn_app_check_origin_valid(optarg)) {
                fprintf(stderr,
                        "bennu: invalid value for --check-origin: '%s' (accepted: off, conn, "
                        "host, or a comma list of origins scheme://host[:port] or "
                        "//host[:port], e.g. https://example.com,//*.example.org)\n",
                        optarg);
                return 2;
            }
            cfg.check_origin = optarg;
            break;
        case OPT_URL_HOST:
            cfg.url_host = optarg;
            break;
        case OPT_NAME:
            node_name = optarg;
            break;
        case OPT_MESH_PORT:
            if (parse_num("--mesh-port", optarg, 0, 65535, &mesh_port) != 0) {
                return 2;
            }
            break;
        case OPT_MESH_BIND:
            mesh_bind = optarg;
            break;
        case OPT_JOIN: {
            if (n_seeds == APP_MAX_SEEDS) {
                fprintf(stderr, "bennu: at most %d --join seeds\n", APP_MAX_SEEDS);
                return 2;
            }
            const char *colon = strrchr(optarg, ':');
            char *end = NULL;
            long join_port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
            if (colon == NULL || colon == optarg || end == colon + 1 || *end != '\0' ||
                join_port < 1 || join_port > 65535) {
                fprintf(stderr, "bennu: --join expects HOST:PORT (port 1..65535), got '%s'\n",
                        optarg);
                return 2;
            }
            seeds[n_seeds++] = optarg;
            break;
        }
        case OPT_COOKIE:
            cookie = optarg;
            break;
        case OPT_COOKIE_FILE:
            cookie_file = optarg;
            break;
        case OPT_TICK:
            if (parse_num("--tick-ms", optarg, 10, 600000, &tick_ms) != 0) {
                return 2;
            }
            break;
        case OPT_DOWN:
            if (parse_num("--down-ms", optarg, 30, 3600000, &down_ms) != 0) {
                return 2;
            }
            break;
        case OPT_ALLOW: {
            if (n_allow == APP_MAX_SEEDS) {
                fprintf(stderr, "bennu: at most %d --mesh-allow networks\n", APP_MAX_SEEDS);
                return 2;
            }
            if (!bn_app_cidr_valid(optarg)) {
                fprintf(stderr,
                        "bennu: --mesh-allow expects ADDR or ADDR/BITS (IPv4 or IPv6), got '%s'\n",
                        optarg);
                return 2;
            }
            allow[n_allow++] = optarg;
            break;
        }
        case OPT_PREAUTH:
            if (parse_num("--mesh-max-preauth", optarg, 1, 100000, &max_preauth) != 0) {
                return 2;
            }
            break;
        case OPT_PREAUTH_IP:
            if (parse_num("--mesh-max-preauth-per-ip", optarg, 1, 100000, &max_preauth_per_ip) !=
                0) {
                return 2;
            }
            break;
        case OPT_NO_MESH:
            no_mesh = true;
            break;
        case OPT_LP_WINDOW:
            if (parse_num("--longpoll-window", optarg, 100, 600000, &v) != 0) {
                return 2;
            }
            cfg.longpoll_window_ms = (unsigned)v;
            break;
        case OPT_LP_TIMEOUT:
            if (parse_num("--longpoll-session-timeout", optarg, 100, 3600000, &v) != 0) {
                return 2;
            }
            cfg.longpoll_session_timeout_ms = (unsigned)v;
            break;
        case OPT_FRAME_TIMEOUT:
            if (parse_num("--frame-timeout", optarg, 100, 3600000, &v) != 0) {
                return 2;
            }
            cfg.frame_timeout_ms = (unsigned)v;
            break;
        case OPT_MEM_BUDGET:
            if (parse_num("--memory-budget", optarg, 65536, 1L << 40, &v) != 0) {
                return 2;
            }
            cfg.memory_budget = (size_t)v;
            break;
        case OPT_PENDING_IP:
            if (parse_num("--max-pending-per-ip", optarg, 0, 10000000, &v) != 0) {
                return 2;
            }
            cfg.max_pending_per_ip = (unsigned)v;
            break;
        case OPT_LP_SESSIONS:
            if (parse_num("--max-longpoll-sessions", optarg, 1, 10000000, &v) != 0) {
                return 2;
            }
            cfg.max_longpoll_sessions = (unsigned)v;
            break;
        case OPT_TOPICS:
            if (parse_num("--max-topics", optarg, 1, 100000000, &v) != 0) {
                return 2;
            }
            cfg.max_topics = (unsigned)v;
            break;
        case OPT_WORKERS:
            if (parse_num("--workers", optarg, 1, 64, &workers) != 0) {
                return 2;
            }
            break;
        case OPT_RATE:
            if (parse_num("--rate-limit", optarg, 0, 10000000, &v) != 0) {
                return 2;
            }
            cfg.rate_limit = (unsigned)v;
            break;
        case OPT_PR_DIFF:
        case OPT_PR_BCAST:
        case OPT_PR_MAX:
        case OPT_PR_COUNT:
            if (parse_num(opt == OPT_PR_DIFF    ? "--presence-diff-ms"
                          : opt == OPT_PR_BCAST ? "--presence-broadcast-ms"
                          : opt == OPT_PR_MAX   ? "--presence-max-per-topic"
                                                : "--presence-count-above",
                           optarg, opt == OPT_PR_DIFF || opt == OPT_PR_BCAST,
                          100000000, &v) != 0) {
                return 2;
            }
            *(opt == OPT_PR_DIFF    ? &cfg.presence_diff_ms
              : opt == OPT_PR_BCAST ? &cfg.presence_broadcast_ms
              : opt == OPT_PR_MAX   ? &cfg.presence_max_per_topic
                                    : &cfg.presence_count_above) = (unsigned)v;
            break;
        case OPT_BURST:
            if (parse_num("--rate-burst", optarg, 0, 10000000, &v) != 0) {
                return 2;
            }
            cfg.rate_burst = (unsigned)v;
            break;
        case OPT_DIAL:
            if (n_overrides == APP_MAX_SEEDS || strchr(optarg, '=') == NULL) {
                fprintf(stderr, "bennu: --dial-override expects NAME@HOST=HOST:PORT (at most %d)\n",
                        APP_MAX_SEEDS);
                return 2;
            }
            overrides[n_overrides++] = optarg;
            break;
        case OPT_CONFIG:
            break; /* read by bn_app_file_argv */
        case OPT_TRUST_FWD:
            if (!bn_app_cidr_list_valid(optarg)) {
                fprintf(stderr, "bennu: --trust-forwarded expects a comma list of networks "
                                "ADDR[/BITS] (IPv4 or IPv6), got '%s'\n",
                        optarg);
                return 2;
            }
            cfg.trust_forwarded = optarg;
            break;
        case OPT_DRAIN_MS:
            if (parse_num("--drain-ms", optarg, 0, 3600000, &v) != 0) {
                return 2;
            }
            cfg.drain_ms = (unsigned)v;
            break;
        case OPT_DRAIN_BATCH:
            if (parse_num("--drain-batch", optarg, 1, 10000000, &v) != 0) {
                return 2;
            }
            cfg.drain_batch = (unsigned)v;
            break;
        case OPT_ADVERTISE: {
            const char *colon = strrchr(optarg, ':');
            char *end = NULL;
            long adv_port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
            if (colon == NULL || colon == optarg || end == colon + 1 || *end != '\0' ||
                adv_port < 1 || adv_port > 65535) {
                fprintf(stderr,
                        "bennu: --advertise expects HOST:PORT (port 1..65535), got '%s'\n",
                        optarg);
                return 2;
            }
            advertise = optarg;
            break;
        }
        case OPT_JOIN_DNS:
            if (n_join_dns == APP_MAX_SEEDS) {
                fprintf(stderr, "bennu: at most %d --join-dns names\n", APP_MAX_SEEDS);
                return 2;
            }
            join_dns[n_join_dns++] = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("bennu %s\n", BN_VERSION);
            return 0;
        case ':': {
            const char *name = flag_name(opts, optopt);
            if (name != NULL) {
                fprintf(stderr, "bennu: option --%s needs a value (see --help)\n", name);
            } else {
                fprintf(stderr, "bennu: option %s needs a value (see --help)\n", flag);
            }
            return 2;
        }
        default: {
            /* optopt names a known flag given a value it does not take. */
            const char *name = optopt != 0 ? flag_name(opts, optopt) : NULL;
            if (name != NULL) {
                fprintf(stderr, "bennu: option --%s takes no value (see --help)\n", name);
            } else {
                fprintf(stderr, "bennu: unknown option %s (see --help)\n", flag);
            }
            return 2;
        }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bennu: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    /* Flags that only mean something together. */
    if (burst_given && cfg.rate_limit == 0) {
        fprintf(stderr, "bennu: --rate-burst needs --rate-limit N (N > 0): without a rate "
                        "there is nothing to burst above\n");
        return 2;
    }
    if (url_host_given && strcmp(cfg.check_origin, "host") != 0) {
        fprintf(stderr, "bennu: --url-host is used only by --check-origin host\n");
        return 2;
    }
    if (no_mesh && mesh_flag != NULL) {
        fprintf(stderr, "bennu: --%s has no effect with --no-mesh\n", mesh_flag);
        return 2;
    }
    if (secret_flag != NULL && secret_file != NULL) {
        fprintf(stderr, "bennu: give --secret-key-base or --secret-key-base-file, not both\n");
        return 2;
    }
    if (cookie != NULL && cookie_file != NULL) {
        fprintf(stderr, "bennu: give --cookie or --cookie-file, not both\n");
        return 2;
    }
    /* Host names are resolved once, here: the listeners take addresses. */
    char bind_addr[64], mesh_bind_addr[64], why[512];
    if (bn_app_resolve_bind(cfg.bind, bind_addr, sizeof(bind_addr), why, sizeof(why)) != 0) {
        fprintf(stderr, "bennu: --bind: %s\n", why);
        return 2;
    }
    cfg.bind = bind_addr;
    if (mesh_bind != NULL) {
        if (bn_app_resolve_bind(mesh_bind, mesh_bind_addr, sizeof(mesh_bind_addr), why,
                                sizeof(why)) != 0) {
            fprintf(stderr, "bennu: --mesh-bind: %s\n", why);
            return 2;
        }
        mesh_bind = mesh_bind_addr;
    }
    /* Never the secret itself: only which flag carried one. */
    if (secret_flag != NULL) {
        secret_flag = secret_from_argv((char *)secret_flag);
        BN_LOG(WARN, "secret_in_argv", "flag=--secret-key-base detail=%s",
               BN_LOG_VAL("visible to every local user in ps; use --secret-key-base-file or "
                          "SECRET_KEY_BASE"));
    }
    if (cookie != NULL) {
        cookie = secret_from_argv((char *)cookie);
        BN_LOG(WARN, "secret_in_argv", "flag=--cookie detail=%s",
               BN_LOG_VAL("visible to every local user in ps; use --cookie-file or BENNU_COOKIE"));
    }
    if (bn_app_ops_load(&app.ops) != 0) {
        return 2;
    }
    if (cfg.max_message_size < cfg.max_frame_size) {
        cfg.max_message_size = cfg.max_frame_size;
    }
    const char *secret = NULL;
    if (bn_token_secret_resolve("bennu", secret_flag, secret_file, dev, &secret) != 0) {
        return 2;
    }
    cfg.secret_key_base = secret;
    if (cookie == NULL && cookie_file != NULL) {
        static char cookie_buf[BN_APP_COOKIE_FILE_MAX + 1]; /* lives as long as the process */
        cookie = bn_secret_file_read(cookie_file, cookie_buf, sizeof(cookie_buf), why,
                                     sizeof(why));
        if (cookie == NULL) {
            fprintf(stderr, "bennu: --cookie-file: %s\n", why);
            return 2;
        }
        if (cookie[0] == '\0') {
            fprintf(stderr, "bennu: --cookie-file: %s is empty\n", cookie_file);
            return 2;
        }
    }
    if (cookie == NULL) {
        cookie = getenv("BENNU_COOKIE");
    }
    cookie_explicit = cookie != NULL;
    if (cookie == NULL && dev) {
        cookie = BN_DEV_COOKIE;
    }
    if (cookie != NULL && !no_mesh && strlen(cookie) < BN_APP_COOKIE_MIN) {
        fprintf(stderr,
                "bennu: the cluster cookie must be at least %d bytes (got %zu); "
                "`bennu cookie new FILE` writes a random one\n",
                BN_APP_COOKIE_MIN, strlen(cookie));
        return 2;
    }
    if (dev && !cookie_explicit && !no_mesh &&
        !bn_app_is_loopback(mesh_bind != NULL ? mesh_bind : cfg.bind)) {
        fprintf(stderr, "bennu: --dev would open the mesh on %s with the public development "
                        "cookie; pass --cookie-file (or --cookie, BENNU_COOKIE), or --no-mesh\n",
                mesh_bind != NULL ? mesh_bind : cfg.bind);
        return 2;
    }
    if (down_ms <= tick_ms) {
        fprintf(stderr, "bennu: --down-ms must be greater than --tick-ms\n");
        return 2;
    }
    if (!no_mesh && cookie == NULL && (n_seeds > 0 || n_join_dns > 0)) {
        fprintf(stderr, "bennu: --join needs a cluster cookie (--cookie, --cookie-file or "
                        "BENNU_COOKIE)\n");
        return 2;
    }
    if (mesh_port < 0) {
        mesh_port = cfg.port == 0 || cfg.port + BN_MESH_PORT_OFFSET > 65535
                        ? 0
                        : cfg.port + BN_MESH_PORT_OFFSET;
    }
    int worker_count = 0;
    int worker = bn_app_worker_index(&worker_count);
    if (worker < 0 && workers > 1) {
        if (no_mesh || mesh_port == 0 || cfg.port == 0) {
            fprintf(stderr, "bennu: --workers needs the mesh and fixed --port/--mesh-port\n");
            return 2;
        }
        if (mesh_port + workers - 1 > 65535) {
            fprintf(stderr, "bennu: --workers %ld needs mesh ports %ld to %ld\n", workers,
                    mesh_port, mesh_port + workers - 1);
            return 2;
        }
        bn_app_workers_cfg_t wc = {
            .count = (int)workers,
            .cookie = cookie,
            .secret_key_base = secret_flag,
            .bind = cfg.bind,
            .port = cfg.port,
        };
        return file != NULL ? bn_app_workers_run(file->orig_argc, file->orig_argv, &wc)
                            : bn_app_workers_run(argc, argv, &wc);
    }
    char worker_name[160];
    char worker_seed[96];
    if (worker >= 0) {
        /* Worker i of a --workers node: shared HTTP port, mesh port base+i,
         * a "-wI" name suffix, and worker 0 as the siblings' seed. A worker
         * never outlives its supervisor, even one killed with SIGKILL. */
        bn_app_worker_bind_to_parent();
        cfg.reuse_port = true;
        if (node_name == NULL) {
            snprintf(worker_name, sizeof(worker_name), "bennu-%d-w%d@%s", cfg.port, worker,
                     cfg.bind);
        } else {
            const char *at = strchr(node_name, '@');
            snprintf(worker_name, sizeof(worker_name), "%.*s-w%d%s",
                     (int)(at ? at - node_name : (long)strlen(node_name)), node_name, worker,
                     at ? at : "");
        }
        node_name = worker_name;
        if (worker > 0 && n_seeds < APP_MAX_SEEDS) {
            snprintf(worker_seed, sizeof(worker_seed), "%s:%ld",
                     mesh_bind != NULL ? mesh_bind : cfg.bind, mesh_port);
            seeds[n_seeds++] = worker_seed;
        }
        mesh_port += worker;
        if (advertise != NULL) {
            /* Worker i listens on the mesh port + i: so is it reached. */
            static char worker_adv[96];
            const char *colon = strrchr(advertise, ':');
            snprintf(worker_adv, sizeof(worker_adv), "%.*s:%ld", (int)(colon - advertise),
                     advertise, strtol(colon + 1, NULL, 10) + worker);
            advertise = worker_adv;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    app.loop = uv_default_loop();
    if (secret != NULL) {
        bn_token_key_derive(&app.user_key, secret, strlen(secret), BN_USER_TOKEN_SALT,
                            strlen(BN_USER_TOKEN_SALT));
        app.have_user_key = true;
    } else {
        BN_LOG(WARN, "no_secret", "%s",
               "detail=\"no secret_key_base: token connects are refused; see --help\"");
    }
    app.srv = bn_server_new(app.loop, &cfg);
    if (app.srv == NULL) {
        fprintf(stderr, "bennu: out of memory\n");
        return 1;
    }
    static char node_name_buf[256]; /* the chat's presence meta; set once the mesh is named */
    app.file = file;
    if (!bn_app_file_install(file, app.srv, app.loop)) {
        bn_server_route(app.srv, "room:*", &bn_chat_channel, node_name_buf);
    }
    bn_server_on_connect(app.srv, app_connect, &app);
    if (static_dir != NULL) {
        bn_app_static_load(app.srv, static_dir, dev && app.have_user_key ? &app.user_key : NULL);
    }
    /* Signal handlers first: a supervisor may signal as soon as it reads
     * the "listening" line. */
    uv_signal_init(app.loop, &app.sigint);
    uv_signal_init(app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    int rc = bn_server_start(app.srv);
    if (rc != 0) {
        fprintf(stderr, "bennu: cannot listen on %s:%d: %s\n", cfg.bind, cfg.port, uv_strerror(rc));
        return 1;
    }
    int http_port = bn_server_port(app.srv);
    if (!no_mesh && cookie != NULL) {
        char default_name[128];
        if (node_name == NULL) {
            snprintf(default_name, sizeof(default_name), "bennu-%d@%s", http_port, cfg.bind);
            node_name = default_name;
        }
        bn_mesh_config_t mc = {
            .name = node_name,
            .bind = mesh_bind != NULL ? mesh_bind : cfg.bind,
            .port = (int)mesh_port,
            .cookie = cookie,
            .seeds = seeds,
            .n_seeds = n_seeds,
            .tick_ms = (unsigned)tick_ms,
            .down_ms = (unsigned)down_ms,
            .max_preauth = (size_t)max_preauth,
            .max_preauth_per_ip = (size_t)max_preauth_per_ip,
            .allow = allow,
            .n_allow = n_allow,
            .dial_overrides = overrides,
            .n_dial_overrides = n_overrides,
            .advertise = advertise,
            .join_dns = join_dns,
            .n_join_dns = n_join_dns,
        };
        if (bn_mesh_new(app.loop, &mc, NULL, NULL, &app.mesh) != 0) {
            fprintf(stderr, "bennu: invalid mesh configuration (see the log)\n");
            return 2;
        }
        rc = bn_mesh_start(app.mesh);
        if (rc != 0) {
            fprintf(stderr, "bennu: cannot listen for the mesh on %s:%ld: %s\n", mc.bind,
                    mesh_port, uv_strerror(rc));
            return 1;
        }
        snprintf(node_name_buf, sizeof(node_name_buf), "%s", bn_mesh_name(app.mesh));
        bn_server_attach_mesh(app.srv, app.mesh);
        bn_server_admin_stats_hook(app.srv, admin_stats, &app);
    } else if (!no_mesh) {
        BN_LOG(WARN, "mesh_disabled", "%s",
               "detail=\"no cluster cookie: set --cookie, --cookie-file or BENNU_COOKIE\"");
    }
    bn_app_file_set_node(file, app.mesh ? bn_mesh_name(app.mesh) : NULL);
    /* With a mesh the name is the mesh's (node_name may point into the block above). */
    if (bn_app_ops_start(&app.ops, app.loop, app.srv, app.mesh, n_seeds,
                         app.mesh != NULL ? NULL : node_name, cfg.bind) != 0) {
        fprintf(stderr, "bennu: out of memory\n");
        return 1;
    }
    BN_LOG(INFO, "listening", "bind=%s port=%d mesh_port=%d node=%s version=%s", cfg.bind,
           http_port, app.mesh ? bn_mesh_port(app.mesh) : -1,
           app.mesh ? bn_mesh_name(app.mesh) : "-", BN_VERSION);
    if (worker >= 0) {
        bn_app_worker_ready();
    }
    uv_run(app.loop, UV_RUN_DEFAULT);
    BN_LOG(INFO, "stopped", "%s", "exit=0");
    uv_loop_close(app.loop);
    return 0;
}
