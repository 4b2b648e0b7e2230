/* main() of the bennu server: argument parsing and wiring only. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app/chat_channel.h"
#include "bennu/bennu.h"
#include "core/log.h"

int bn_server_add_file(bn_server_t *srv, const char *url_path, const char *file_path);

typedef struct app_s {
    uv_loop_t *loop;
    bn_server_t *srv;
    uv_signal_t sigint, sigterm;
    int stopping;
} app_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bennu [options]\n"
            "\n"
            "Runs one Bennu node: the Phoenix socket at /socket (WebSocket), the demo chat\n"
            "page at / and /health.\n"
            "\n"
            "  --port N              HTTP port (default 4000; 0 = any free port)\n"
            "  --bind ADDR           listen address (default 127.0.0.1)\n"
            "  --static-dir DIR      serve DIR/index.html at / and DIR/* files\n"
            "  --log-level LEVEL     debug, info, warn, error, off (default info)\n"
            "  --max-frame-size N    largest WebSocket frame payload in bytes (default 1048576)\n"
            "  --max-message-size N  largest reassembled message in bytes (default 1048576)\n"
            "  --idle-timeout MS     close a WebSocket silent this long (default 60000)\n"
            "  --handshake-timeout MS  time to send a complete HTTP request (default 10000)\n"
            "  --max-queued-bytes N  outbound bytes per connection before it is closed as a\n"
            "                        slow consumer (default 4194304)\n"
            "  --max-connections N   connections per node (default 100000)\n"
            "  --max-channels N      channels per connection (default 100)\n"
            "  --help                this text\n"
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

static void on_stopped(void *ud)
{
    app_t *app = ud;
    app->srv = NULL;
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    if (app->stopping++) {
        return;
    }
    BN_LOG(INFO, "shutdown", "signal=%d", signum);
    bn_server_stop(app->srv, on_stopped, app);
}

static void add_static_dir(bn_server_t *srv, const char *dir)
{
    static const char *const files[] = {"index.html", "phoenix.js", "app.js", "app.css"};
    char path[PATH_MAX];
    char url[64];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        snprintf(url, sizeof(url), "/%s", files[i]);
        if (bn_server_add_file(srv, url, path) != 0) {
            BN_LOG(DEBUG, "static_missing", "file=%s", path);
        }
    }
}

int main(int argc, char **argv)
{
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    const char *static_dir = NULL;
    enum {
        OPT_PORT = 256, OPT_BIND, OPT_STATIC, OPT_LOG, OPT_FRAME, OPT_MESSAGE, OPT_IDLE,
        OPT_HANDSHAKE, OPT_QUEUE, OPT_CONNS, OPT_CHANNELS, OPT_HELP, OPT_VERSION,
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
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long v;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
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
                fprintf(stderr, "bennu: invalid value for --log-level: '%s'\n", optarg);
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
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("bennu %s\n", BN_VERSION);
            return 0;
        case ':':
            fprintf(stderr, "bennu: option %s needs a value (see --help)\n", flag);
            return 2;
        default:
            fprintf(stderr, "bennu: unknown option %s (see --help)\n", flag);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bennu: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (cfg.max_message_size < cfg.max_frame_size) {
        cfg.max_message_size = cfg.max_frame_size;
    }

    signal(SIGPIPE, SIG_IGN);
    app_t app = {0};
    app.loop = uv_default_loop();
    app.srv = bn_server_new(app.loop, &cfg);
    if (app.srv == NULL) {
        fprintf(stderr, "bennu: out of memory\n");
        return 1;
    }
    bn_server_route(app.srv, "room:*", &bn_chat_channel, NULL);
    if (static_dir != NULL) {
        add_static_dir(app.srv, static_dir);
    }
    int rc = bn_server_start(app.srv);
    if (rc != 0) {
        fprintf(stderr, "bennu: cannot listen on %s:%d: %s\n", cfg.bind, cfg.port, uv_strerror(rc));
        return 1;
    }
    BN_LOG(INFO, "listening", "bind=%s port=%d version=%s", cfg.bind, bn_server_port(app.srv),
           BN_VERSION);
    uv_signal_init(app.loop, &app.sigint);
    uv_signal_init(app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_run(app.loop, UV_RUN_DEFAULT);
    BN_LOG(INFO, "stopped", "%s", "exit=0");
    uv_loop_close(app.loop);
    return 0;
}
