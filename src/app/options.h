/* The bennu binary's flags: one X-macro table (BN_APP_OPTIONS) generates
 * the option enum, getopt_long's struct option[], --help, the parsing and
 * the range checks. The --config file's keys are the same flags
 * (config_file.c). Flags that set a numeric bn_config_t field (kind CFG)
 * take their default and range from the library's table
 * (bennu/config_table.h), so the binary and an embedder check the same
 * bounds. */
#ifndef BN_APP_OPTIONS_H
#define BN_APP_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bennu/bennu.h"

#define BN_APP_LIST_MAX 64

typedef struct bn_app_list_s {
    const char *v[BN_APP_LIST_MAX];
    size_t n;
} bn_app_list_t;

/* Everything the command line sets. */
typedef struct bn_app_opts_s {
    bn_config_t cfg;
    const char *config; /* --config (read by bn_app_file_argv) */
    const char *static_dir, *secret_flag, *secret_file, *log_level, *api_key_file;
    const char *node_name, *mesh_bind, *advertise, *cookie, *cookie_file;
    bool dev, no_mesh, metrics_public, enforce_expiry, help, version;
    long mesh_port; /* -1: --port + 370 */
    long tick_ms, down_ms, max_preauth, max_preauth_per_ip, workers, ready_min_peers;
    bn_app_list_t seeds, join_dns, allow, overrides;
    /* Set by the parser, for the checks between flags. */
    const char *mesh_flag; /* the first flag given that needs the mesh */
    bool burst_given, url_host_given;
} bn_app_opts_t;

/* Kinds: CFG a numeric bn_config_t field (TARGET its name; default and
 * range from the library), CSTR a bn_config_t string field, STR, NUM
 * (range MIN..MAX, default DEF), BOOL (no value) and LIST (repeatable) set
 * a bn_app_opts_t field. GROUP is the --help section (GEN, OPS, MESH,
 * END); MESH 1 marks flags refused with --no-mesh; CHECK validates a value
 * (NULL: none); DEFTEXT NULL shows the default, "" shows none, else itself.
 *
 * X(ID, name, KIND, TARGET, MIN, MAX, DEF, GROUP, MESH, CHECK, META, DEFTEXT, HELP) */
#define BN_APP_OPTIONS(X)                                                                          \
    X(CONFIG, "config", STR, config, 0, 0, 0, GEN, 0, NULL, "FILE", "",                            \
      "a JSON file of flags, channel routes and the webhook (docs/config.md); flags given here "   \
      "override it")                                                                               \
    X(PORT, "port", CFG, port, 0, 0, 0, GEN, 0, NULL, "N", NULL, "HTTP port (0 = any free port)")  \
    X(BIND, "bind", CSTR, bind, 0, 0, 0, GEN, 0, NULL, "ADDR", NULL,                               \
      "listen address or host name")                                                               \
    X(STATIC, "static-dir", STR, static_dir, 0, 0, 0, GEN, 0, NULL, "DIR", "",                     \
      "the demo page's directory (index.html, app.js, phoenix.js)")                                \
    X(SECRET, "secret-key-base", STR, secret_flag, 0, 0, 0, GEN, 0, NULL, "K", "",                 \
      "secret for Phoenix.Token user tokens and LongPoll sessions (visible in ps: prefer the "     \
      "file or env SECRET_KEY_BASE)")                                                              \
    X(SECRET_FILE, "secret-key-base-file", STR, secret_file, 0, 0, 0, GEN, 0, NULL, "F", "",       \
      "read it from a file (mode 0600, at most 4095 bytes)")                                       \
    X(DEV, "dev", BOOL, dev, 0, 0, 0, GEN, 0, NULL, "", "",                                        \
      "development mode: a built-in, clearly non-secret key, and the demo page gets a token for "  \
      "user \"demo\"")                                                                             \
    X(ORIGIN, "check-origin", CSTR, check_origin, 0, 0, 0, GEN, 0, bn_app_opt_check_origin,        \
      "MODE", NULL,                                                                                \
      "off, conn (Origin must match Host), host (Origin host must equal --url-host), or a comma "  \
      "list of scheme://host[:port] or //host[:port]")                                             \
    X(URL_HOST, "url-host", CSTR, url_host, 0, 0, 0, GEN, 0, NULL, "HOST", NULL,                   \
      "the endpoint's public host for --check-origin host (only)")                                 \
    X(LOG, "log-level", STR, log_level, 0, 0, 0, GEN, 0, bn_app_opt_check_log_level, "LEVEL",      \
      "info", "debug, info, warn, error, off")                                                     \
    X(FRAME, "max-frame-size", CFG, max_frame_size, 0, 0, 0, GEN, 0, NULL, "N", NULL,              \
      "largest WebSocket frame payload in bytes")                                                  \
    X(MESSAGE, "max-message-size", CFG, max_message_size, 0, 0, 0, GEN, 0, NULL, "N", NULL,        \
      "largest reassembled message in bytes (at least --max-frame-size)")                          \
    X(IDLE, "idle-timeout", CFG, idle_timeout_ms, 0, 0, 0, GEN, 0, NULL, "MS", NULL,               \
      "close a WebSocket silent this long")                                                        \
    X(HANDSHAKE, "handshake-timeout", CFG, handshake_timeout_ms, 0, 0, 0, GEN, 0, NULL, "MS",      \
      NULL, "time to send a complete HTTP request")                                                \
    X(QUEUE, "max-queued-bytes", CFG, max_queued_bytes, 0, 0, 0, GEN, 0, NULL, "N", NULL,          \
      "outbound bytes per connection before it is closed as a slow consumer")                      \
    X(CONNS, "max-connections", CFG, max_connections, 0, 0, 0, GEN, 0, NULL, "N", NULL,            \
      "connections per node")                                                                      \
    X(CHANNELS, "max-channels", CFG, max_channels, 0, 0, 0, GEN, 0, NULL, "N", NULL,               \
      "channels per connection")                                                                   \
    X(TOPICS, "max-topics", CFG, max_topics, 0, 0, 0, GEN, 0, NULL, "N", NULL,                     \
      "distinct topics with subscribers on this node (beyond: join error \"too many topics\")")    \
    X(LP_WINDOW, "longpoll-window", CFG, longpoll_window_ms, 0, 0, 0, GEN, 0, NULL, "MS", NULL,    \
      "a LongPoll GET waits this long for messages")                                               \
    X(LP_TIMEOUT, "longpoll-session-timeout", CFG, longpoll_session_timeout_ms, 0, 0, 0, GEN, 0,   \
      NULL, "MS", NULL, "a session not polled this long ends")                                     \
    X(LP_SESSIONS, "max-longpoll-sessions", CFG, max_longpoll_sessions, 0, 0, 0, GEN, 0, NULL,     \
      "N", NULL, "LongPoll sessions per node")                                                     \
    X(FRAME_TIMEOUT, "frame-timeout", CFG, frame_timeout_ms, 0, 0, 0, GEN, 0, NULL, "MS", NULL,    \
      "a started WebSocket frame or fragmented message must be complete within this (close "       \
      "1008; 0 = no deadline)")                                                                    \
    X(MEM_BUDGET, "memory-budget", CFG, memory_budget, 0, 0, 0, GEN, 0, NULL, "N", NULL,           \
      "bytes held in incomplete frames by all connections (beyond, the largest get close 1009)")   \
    X(PENDING_IP, "max-pending-per-ip", CFG, max_pending_per_ip, 0, 0, 0, GEN, 0, NULL, "N", NULL, \
      "connections per address without a completed request (the oldest is closed beyond; 0 = "     \
      "no cap)")                                                                                   \
    X(RATE, "rate-limit", CFG, rate_limit, 0, 0, 0, GEN, 0, NULL, "N", "0 = off",                  \
      "client messages per second per connection (over it: close 1008, LongPoll POST status "      \
      "429)")                                                                                      \
    X(BURST, "rate-burst", CFG, rate_burst, 0, 0, 0, GEN, 0, NULL, "N", "= --rate-limit",          \
      "bursts allowed above the rate (needs --rate-limit)")                                        \
    X(TRUST_FWD, "trust-forwarded", CSTR, trust_forwarded, 0, 0, 0, GEN, 0,                        \
      bn_app_opt_check_cidr_list, "CIDR[,CIDR]", "none",                                           \
      "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")                  \
    X(DRAIN_MS, "drain-ms", CFG, drain_ms, 0, 0, 0, GEN, 0, NULL, "MS", NULL,                      \
      "on SIGTERM, close WebSockets in batches spread over this window (0 = all at once); a "      \
      "second SIGTERM/SIGINT exits at once")                                                       \
    X(DRAIN_BATCH, "drain-batch", CFG, drain_batch, 0, 0, 0, GEN, 0, NULL, "N", NULL,              \
      "WebSockets closed per batch")                                                               \
    X(API_KEY_FILE, "api-key-file", STR, api_key_file, 0, 0, 0, OPS, 0, NULL, "F", "",             \
      "bearer key of the /api/ server API (mode 0600, 16 to 1023 bytes; else env BENNU_API_KEY; "  \
      "none: /api/ answers 404)")                                                                  \
    X(METRICS_PUBLIC, "metrics-public", BOOL, metrics_public, 0, 0, 0, OPS, 0, NULL, "", "",       \
      "serve /metrics without the API key")                                                        \
    X(READY_MIN_PEERS, "ready-min-peers", NUM, ready_min_peers, 0, 100000, -1, OPS, 0, NULL, "N",  \
      "1 with --join, else 0", "/ready needs N peer nodes up")                                     \
    X(ENFORCE_EXPIRY, "enforce-token-expiry", BOOL, enforce_expiry, 0, 0, 0, OPS, 0, NULL, "", "", \
      "close a socket when its user token expires (close 4001)")                                   \
    X(PR_DIFF, "presence-diff-ms", CFG, presence_diff_ms, 0, 0, 0, OPS, 0, NULL, "MS", NULL,       \
      "presence_diff coalescing interval")                                                         \
    X(PR_BCAST, "presence-broadcast-ms", CFG, presence_broadcast_ms, 0, 0, 0, OPS, 0, NULL, "MS",  \
      NULL, "presence replication interval")                                                       \
    X(PR_MAX, "presence-max-per-topic", CFG, presence_max_per_topic, 0, 0, 0, OPS, 0, NULL, "N",   \
      NULL, "presences per topic; a track beyond fails")                                           \
    X(PR_COUNT, "presence-count-above", CFG, presence_count_above, 0, 0, 0, OPS, 0, NULL, "N",     \
      NULL, "keys above which a topic sends presence_count instead of diffs (0 = never)")          \
    X(NAME, "name", STR, node_name, 0, 0, 0, MESH, 1, NULL, "NAME@HOST", "bennu-<port>@<bind>",    \
      "node name")                                                                                 \
    X(MESH_PORT, "mesh-port", NUM, mesh_port, 0, 65535, -1, MESH, 1, NULL, "N",                    \
      "--port + 370, i.e. 4370; with --port 0 any free port",                                      \
      "mesh listener port (0 = any free port)")                                                    \
    X(MESH_BIND, "mesh-bind", STR, mesh_bind, 0, 0, 0, MESH, 1, NULL, "ADDR", "--bind",            \
      "mesh listen address")                                                                       \
    X(JOIN, "join", LIST, seeds, 0, 0, 0, MESH, 1, bn_app_opt_check_join, "HOST:PORT", "",         \
      "a seed node's mesh address (repeatable)")                                                   \
    X(JOIN_DNS, "join-dns", LIST, join_dns, 0, 0, 0, MESH, 1, NULL, "NAME[:PORT]", "",             \
      "seeds from DNS: NAME's A/AAAA records, resolved every 5 s; new addresses are dialled, "     \
      "none is ever dropped (PORT defaults to --mesh-port; repeatable)")                           \
    X(ADVERTISE, "advertise", STR, advertise, 0, 0, 0, MESH, 1, bn_app_opt_check_advertise,        \
      "HOST:PORT", "",                                                                             \
      "the mesh address other nodes dial to reach this one (NAT, containers; HOST an IP address "  \
      "or localhost)")                                                                             \
    X(COOKIE, "cookie", STR, cookie, 0, 0, 0, MESH, 0, NULL, "C", "",                              \
      "cluster cookie, at least 16 bytes, visible in ps (else --cookie-file, else env "            \
      "BENNU_COOKIE; --dev uses a built-in one on loopback). No cookie: no mesh")                  \
    X(COOKIE_FILE, "cookie-file", STR, cookie_file, 0, 0, 0, MESH, 0, NULL, "F", "",               \
      "read the cookie from a file (mode 0600, at most 1023 bytes); `bennu cookie new FILE` "      \
      "makes one")                                                                                 \
    X(TICK, "tick-ms", NUM, tick_ms, 10, 600000, 1000, MESH, 1, NULL, "MS", NULL,                  \
      "tick interval on idle links")                                                               \
    X(DOWN, "down-ms", NUM, down_ms, 30, 3600000, 5000, MESH, 1, NULL, "MS", NULL,                 \
      "a peer silent this long is down (more than --tick-ms)")                                     \
    X(ALLOW, "mesh-allow", LIST, allow, 0, 0, 0, MESH, 1, bn_app_opt_check_cidr, "CIDR", "any",    \
      "only these networks may connect to the mesh port (repeatable)")                             \
    X(PREAUTH, "mesh-max-preauth", NUM, max_preauth, 1, 100000, 0, MESH, 1, NULL, "N", "128",      \
      "unauthenticated mesh connections held at once")                                             \
    X(PREAUTH_IP, "mesh-max-preauth-per-ip", NUM, max_preauth_per_ip, 1, 100000, 0, MESH, 1, NULL, \
      "N", "16", "the same per source address")                                                    \
    X(DIAL, "dial-override", LIST, overrides, 0, 0, 0, MESH, 1, bn_app_opt_check_dial,             \
      "NAME@HOST=HOST:PORT", "",                                                                   \
      "reach that node at this address instead of the one it advertises (fault proxies; "          \
      "repeatable)")                                                                               \
    X(NO_MESH, "no-mesh", BOOL, no_mesh, 0, 0, 0, MESH, 0, NULL, "", "",                           \
      "run without a mesh listener")                                                               \
    X(WORKERS, "workers", NUM, workers, 1, 64, 1, MESH, 0, NULL, "N", NULL,                        \
      "run N worker processes (one per core) sharing --port; worker i is mesh node NAME-wI on "    \
      "--mesh-port + i")                                                                           \
    X(HELP, "help", BOOL, help, 0, 0, 0, END, 0, NULL, "", "", "this text")                        \
    X(VERSION, "version", BOOL, version, 0, 0, 0, END, 0, NULL, "", "", "print the version")

typedef enum {
    BN_APP_OPT_NONE = 255, /* above every character getopt returns */
#define BN_APP_OPT_ENUM(id, ...) BN_APP_OPT_##id,
    BN_APP_OPTIONS(BN_APP_OPT_ENUM)
#undef BN_APP_OPT_ENUM
} bn_app_opt_id_t;

typedef enum {
    BN_APP_KIND_CFG,
    BN_APP_KIND_CSTR,
    BN_APP_KIND_STR,
    BN_APP_KIND_NUM,
    BN_APP_KIND_BOOL,
    BN_APP_KIND_LIST
} bn_app_kind_t;
typedef enum {
    BN_APP_GROUP_GEN,
    BN_APP_GROUP_OPS,
    BN_APP_GROUP_MESH,
    BN_APP_GROUP_END
} bn_app_group_t;

/* A value check: 0, or -1 after printing "bennu: ..." to stderr. */
typedef int (*bn_app_opt_check_fn)(const char *value);

/* One row of the table. */
typedef struct bn_app_opt_s {
    int id;           /* BN_APP_OPT_* (getopt's val) */
    const char *name; /* without the dashes */
    bn_app_kind_t kind;
    const char *target;             /* the field's name, as written in the table */
    size_t offset;                  /* into bn_app_opts_t */
    const bn_config_field_t *field; /* kind CFG: the library's row (set at first use) */
    long min, max, def;             /* kind NUM */
    bn_app_group_t group;
    bool mesh_only;
    bn_app_opt_check_fn check;
    const char *meta, *deftext, *help;
} bn_app_opt_t;

int bn_app_opt_check_origin(const char *value);
int bn_app_opt_check_log_level(const char *value);
int bn_app_opt_check_cidr_list(const char *value);
int bn_app_opt_check_cidr(const char *value);
int bn_app_opt_check_join(const char *value);
int bn_app_opt_check_advertise(const char *value);
int bn_app_opt_check_dial(const char *value);

/* The rows (*n of them), in --help order. */
const bn_app_opt_t *bn_app_opt_rows(size_t *n);
/* The row of a flag name (no dashes), or NULL. */
const bn_app_opt_t *bn_app_opt_find(const char *name);
/* getopt_long's table, ending with a zero row. */
const struct option *bn_app_long_options(void);

/* Defaults: bn_config_defaults plus the NUM rows' defaults. */
void bn_app_opts_init(bn_app_opts_t *o);
/* Reads argv into o. Returns 0 to go on, 1 after printing --help or
 * --version (exit 0), 2 after printing a usage error (exit 2). */
int bn_app_opts_parse(bn_app_opts_t *o, int argc, char **argv);
/* The checks between flags (--rate-burst needs --rate-limit, ...).
 * Returns 0, or 2 after printing the reason. */
int bn_app_opts_check(bn_app_opts_t *o);
void bn_app_usage(FILE *out);

#endif
