/* bennuctl's command line: global options (accepted before or after the
 * subcommand), one subcommand and its positionals. Pure: no I/O except the
 * cookie file read by bnctl_cookie_resolve, so it is unit tested directly. */
#ifndef BNCTL_ARGS_H
#define BNCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes, documented in `bennuctl --help` and docs/bennuctl.md. */
#define BNCTL_EXIT_OK 0
#define BNCTL_EXIT_FOUND 1 /* disagreement, unknown topic, failure found */
#define BNCTL_EXIT_USAGE 2
#define BNCTL_EXIT_UNREACHABLE 3 /* target unreachable, refused, wrong cookie, timeout */

#define BNCTL_DEFAULT_TIMEOUT_MS 5000u
#define BNCTL_DEV_COOKIE "bennu-dev-cookie-not-secret" /* same as `bennu --dev` */

/* name, alias (or NULL), one-line summary */
#define BNCTL_CMD_MAP(X)                                                                       \
    X(MEMBERS, "members", "nodes", "every node the target knows, with its link")               \
    X(GROUPS, "groups", NULL, "topics with subscribers anywhere, per node")                    \
    X(TOPIC, "topic", NULL, "one topic as every node sees it, and whether they agree")         \
    X(STATS, "stats", NULL, "per-node connections, channels, broadcasts, memory")              \
    X(CHECK, "check", NULL, "compare every node's members and groups; 1 if they differ")       \
    X(BROADCAST, "broadcast", NULL, "publish an event to a topic, as a backend would")         \
    X(FORGET, "forget", NULL, "remove a down node from every node's members")                  \
    X(PRESENCE, "presence", NULL, "a topic's presences per node, and whether the nodes agree") \
    X(TOKEN, "token", NULL, "mint or verify a Phoenix.Token (same code as bennu token)")

typedef enum {
    BNCTL_CMD_NONE,
#define BNCTL_CMD_ENUM(id, name, alias, summary) BNCTL_CMD_##id,
    BNCTL_CMD_MAP(BNCTL_CMD_ENUM)
#undef BNCTL_CMD_ENUM
        BNCTL_CMD__COUNT
} bnctl_cmd_t;

typedef struct bnctl_args_s {
    bnctl_cmd_t cmd;
    bool help;               /* --help/-h or `help [CMD]`: print usage of cmd, exit 0 */
    const char *node;        /* --node HOST:PORT (the target's mesh address) */
    const char *cookie;      /* --cookie */
    const char *cookie_file; /* --cookie-file */
    bool dev;                /* --dev: bennu's built-in development cookie */
    bool json;               /* --json */
    const char *log_level;   /* --log-level: the mesh library's log (default off) */
    bool summary;            /* --summary (groups) */
    unsigned timeout_ms;     /* --timeout MS */
    unsigned watch_ms;       /* --watch SECONDS, 0 = once (members, stats) */
    unsigned count;          /* --count N with --watch: stop after N refreshes, 0 = forever */
    const char *pattern;     /* groups [PATTERN] */
    const char *topic;       /* topic TOPIC, broadcast TOPIC ... */
    const char *event;       /* broadcast ... EVENT ... */
    const char *payload;     /* broadcast ... JSON */
    const char *forget;      /* forget NODE */
    /* token: everything from the word "token" on, passed to the shared code */
    int token_argc;
    char **token_argv;
} bnctl_args_t;

/* Parses argv (argv[0] is the program). Returns 0, or -1 with a one-line
 * reason in err (usage error: exit 2). Strings in *a point into argv. */
int bnctl_args_parse(int argc, char **argv, bnctl_args_t *a, char *err, size_t err_len);

/* "members" / "nodes" -> BNCTL_CMD_MEMBERS; BNCTL_CMD_NONE if unknown. */
bnctl_cmd_t bnctl_cmd_from_name(const char *name);
const char *bnctl_cmd_name(bnctl_cmd_t cmd);

/* Usage of one subcommand, or the overview for BNCTL_CMD_NONE. */
void bnctl_usage(FILE *out, bnctl_cmd_t cmd);

/* The cookie, as bennu resolves it: --cookie, else --cookie-file (trailing
 * newlines trimmed), else $BENNU_COOKIE (env_cookie), else the dev cookie
 * with --dev. Returns a malloc'd string, or NULL with a reason in err. */
char *bnctl_cookie_resolve(const bnctl_args_t *a, const char *env_cookie, char *err,
                           size_t err_len);

#endif
