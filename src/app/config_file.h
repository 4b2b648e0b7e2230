/* bennu --config FILE: a JSON document (docs/config.md) holding any flag
 * (as its long name without the dashes), the channel routes and the
 * webhook. The flags become command-line flags placed before the real ones,
 * so they go through the same option handlers and a flag given on the
 * command line overrides the file. */
#ifndef BN_APP_CONFIG_FILE_H
#define BN_APP_CONFIG_FILE_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/webhook.h"
#include "bennu/bennu.h"
#include "bennu/ops.h"

#define BN_APP_JOIN_MAP(X) \
    X(ANYONE, "anyone")    \
    X(TOKEN, "token")      \
    X(OWNER, "owner")      \
    X(WEBHOOK, "webhook")  \
    X(DENY, "deny")

#define BN_APP_EVENTS_MAP(X)  \
    X(NONE, "none")           \
    X(BROADCAST, "broadcast") \
    X(WEBHOOK, "webhook")

typedef enum {
#define BN_APP_JOIN_ENUM(name, str) BN_APP_JOIN_##name,
    BN_APP_JOIN_MAP(BN_APP_JOIN_ENUM)
#undef BN_APP_JOIN_ENUM
} bn_app_join_t;

typedef enum {
#define BN_APP_EVENTS_ENUM(name, str) BN_APP_EVENTS_##name,
    BN_APP_EVENTS_MAP(BN_APP_EVENTS_ENUM)
#undef BN_APP_EVENTS_ENUM
} bn_app_events_t;

struct bn_app_file_s;

/* One "channels" entry. */
typedef struct bn_app_route_s {
    char pattern[256];        /* as written: literals, {user_id} segments, a final '*' */
    char router_pattern[260]; /* what bn_server_route gets: the literal prefix + '*', or exact */
    bn_app_join_t join;
    bn_app_events_t events;
    bool presence;
    bool leave_webhook; /* "leave": "webhook": leave/close notifications */
    struct bn_app_file_s *file;
} bn_app_route_t;

#define BN_APP_ROUTES_MAX 64

/* The loaded file. Owner: main (process lifetime); bn_app_file_close ends
 * its webhook client at shutdown. */
typedef struct bn_app_file_s {
    char **argv; /* argv[0], the file's flags, then the real flags */
    int argc;
    char **orig_argv; /* the command line as given (for --workers' children, which
                               * read the file themselves) */
    int orig_argc;
    bn_app_route_t routes[BN_APP_ROUTES_MAX];
    size_t n_routes;
    bool have_channels;
    bool have_webhook;
    bn_wh_config_t wh_cfg;
    bn_wh_t *wh;    /* made by bn_app_file_install */
    char node[256]; /* this node's name, for the join call */
    uint64_t next_socket_id;
} bn_app_file_t;

/* Loads the JSON text (file_name for messages only) into f. Returns 0, or
 * -1 with "$.json.path: reason" in why. Flags are checked against opts
 * (unknown keys and wrong types are errors); their values are checked
 * later by the option handlers. */
int bn_app_file_parse(const char *text, size_t len, const struct option *opts, bn_app_file_t *f,
                      char *why, size_t why_len);

/* When argv holds --config FILE (or --config=FILE): loads FILE and replaces
 * argc and argv with argv[0], the file's flags, then the original flags, and
 * sets *out. Without --config, *out is NULL. Returns 0, or 2 after printing
 * the reason (the process exits with it). */
int bn_app_file_argv(int *argc, char ***argv, const struct option *opts, bn_app_file_t **out);

/* Routes the file's channels on srv (and starts the webhook client).
 * Returns 0 when the file has no "channels" (the demo chat is routed
 * instead), 1 when they are routed, -1 out of memory. */
int bn_app_file_install(bn_app_file_t *f, bn_server_t *srv, uv_loop_t *loop);
/* This node's name for the webhook calls ("-" without a mesh). */
void bn_app_file_set_node(bn_app_file_t *f, const char *name);
/* Adds "webhook" counters to a stats object (bennuctl stats). */
void bn_app_file_stats(const bn_app_file_t *f, json_t *stats);
/* The webhook's series for /metrics (bn_ops_config_t.metrics; ud is the
 * bn_app_file_t, NULL or without a webhook: nothing). */
void bn_app_file_metrics(void *ud, bn_metrics_t *m);
void bn_app_file_close(bn_app_file_t *f);

/* Route matching (routes.c): does topic match pattern? {user_id} matches
 * one non-empty segment without ':'; *owner_ok tells whether every such
 * segment equals user_id (false when user_id is NULL or the pattern has
 * none). */
bool bn_app_topic_match(const char *pattern, const char *topic, const char *user_id,
                        bool *owner_ok);
bool bn_app_pattern_valid(const char *pattern, bool *has_user_id);

#endif
