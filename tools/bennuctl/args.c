/* bennuctl's argument parser and help texts (see args.h). Hand-rolled rather
 * than getopt so that global options may follow the subcommand, everything
 * after `token` passes through untouched, and tests can call it repeatedly. */
#include "args.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* bennuctl_core is built without bennu_lib's include path; the reader itself
 * comes from bennu_lib, which every binary using this file links. */
#include "bennu/secret.h"

static const struct {
    const char *name, *alias, *summary;
} CMDS[BNCTL_CMD__COUNT] = {[BNCTL_CMD_NONE] = {"", NULL, ""},
#define BNCTL_CMD_ROW(id, n, al, s) [BNCTL_CMD_##id] = {n, al, s},
                            BNCTL_CMD_MAP(BNCTL_CMD_ROW)
#undef BNCTL_CMD_ROW
};

bnctl_cmd_t bnctl_cmd_from_name(const char *name)
{
    for (int c = 1; c < BNCTL_CMD__COUNT; c++) {
        if (strcmp(name, CMDS[c].name) == 0 ||
            (CMDS[c].alias != NULL && strcmp(name, CMDS[c].alias) == 0)) {
            return (bnctl_cmd_t)c;
        }
    }
    return BNCTL_CMD_NONE;
}

const char *bnctl_cmd_name(bnctl_cmd_t cmd)
{
    return cmd > BNCTL_CMD_NONE && cmd < BNCTL_CMD__COUNT ? CMDS[cmd].name : "";
}

static const char GLOBAL_OPTS[] =
    "Global options (before or after the subcommand):\n"
    "  --node HOST:PORT     mesh address of the node to ask (required)\n"
    "  --cookie C           cluster cookie (else --cookie-file, else env BENNU_COOKIE)\n"
    "  --cookie-file F      read the cookie from a file\n"
    "  --dev                use bennu --dev's built-in cookie\n"
    "  --timeout MS         give up on a node after MS milliseconds (default 5000)\n"
    "  --json               print JSON instead of a table\n"
    "  --log-level L        show the mesh library's log on stderr (debug, info,\n"
    "                       warn, error; default off)\n"
    "  -h, --help           this help; `bennuctl CMD --help` for one subcommand\n";

static const char EXIT_CODES[] =
    "Exit codes: 0 ok; 1 disagreement, unknown topic or a failure found; 2 usage;\n"
    "3 target unreachable, connection refused, wrong cookie or timeout.\n";

static const char *const CMD_HELP[BNCTL_CMD__COUNT] = {
    [BNCTL_CMD_MEMBERS] =
        "usage: bennuctl --node HOST:PORT members [--watch SECONDS [--count N]] [--json]\n"
        "       (alias: nodes)\n\n"
        "Every node the target knows, exactly as the target sees it: name,\n"
        "incarnation, mesh address, link state (up / connecting / down and why),\n"
        "link age, time since the last tick, round-trip time, and messages and\n"
        "bytes in and out on the link. The first row is the target itself.\n\n"
        "  --watch SECONDS      redraw every SECONDS until interrupted\n"
        "  --count N            with --watch: stop after N refreshes\n",
    [BNCTL_CMD_GROUPS] =
        "usage: bennuctl --node HOST:PORT groups [PATTERN] [--summary] [--json]\n\n"
        "Topics with subscribers anywhere, sorted: the nodes the target believes\n"
        "hold each topic and each node's local subscriber count (asked of that\n"
        "node; '?' when it did not answer). PATTERN is a shell glob such as\n"
        "'room:*'.\n\n"
        "  --summary            counts only: topics, memberships and subscribers per node\n",
    [BNCTL_CMD_TOPIC] = "usage: bennuctl --node HOST:PORT topic TOPIC [--json]\n\n"
                        "One topic asked of every node: whether it has local subscribers (and\n"
                        "how many) and which nodes it believes hold the topic. Says plainly\n"
                        "whether the nodes agree. Exits 1 on divergence or when no node knows\n"
                        "the topic.\n",
    [BNCTL_CMD_STATS] =
        "usage: bennuctl --node HOST:PORT stats [--watch SECONDS [--count N]] [--json]\n\n"
        "Per node: connections (WebSocket / LongPoll), channels, broadcasts in\n"
        "and out, deliveries, slow-consumer closes, refused connections and mesh\n"
        "links, resident memory and uptime.\n\n"
        "  --watch SECONDS      redraw every SECONDS until interrupted\n"
        "  --count N            with --watch: stop after N refreshes\n",
    [BNCTL_CMD_CHECK] = "usage: bennuctl --node HOST:PORT check [--json]\n\n"
                        "Asks every node the target knows for its members and groups and\n"
                        "compares them: the set of up nodes, incarnations, and for every node\n"
                        "the topics it holds against what each peer believes it holds. Prints\n"
                        "each disagreement and exits 1, or exits 0 when all views agree. Nodes\n"
                        "every answering node agrees are down are listed but are not an error.\n"
                        "Presence is compared too: every answering node must list the same\n"
                        "presences (keys, owner nodes, phx_refs) in every topic.\n",
    [BNCTL_CMD_PRESENCE] = "usage: bennuctl --node HOST:PORT presence TOPIC [--json]\n\n"
                           "The topic's presences (Phoenix.Presence) as every up node sees them:\n"
                           "each key with its metas and the node that owns it, and whether all\n"
                           "nodes list the same members. Exits 1 when they differ.\n",
    [BNCTL_CMD_BROADCAST] =
        "usage: bennuctl --node HOST:PORT broadcast TOPIC EVENT JSON [--json]\n\n"
        "Publishes EVENT with payload JSON to TOPIC through the target node, as\n"
        "a backend's Endpoint.broadcast would: subscribers on the target and on\n"
        "every node holding the topic receive it.\n",
    [BNCTL_CMD_FORGET] = "usage: bennuctl --node HOST:PORT forget NODE [--json]\n\n"
                         "Removes NODE (name@host), which must be down, from the members of the\n"
                         "target and of every node the target sees up: for a node retired for\n"
                         "good. A node that is up anywhere is refused (exit 1, nothing removed\n"
                         "there); stop it first. A forgotten node that starts again rejoins as\n"
                         "usual. Exit 1 also when no node knew NODE.\n",
    [BNCTL_CMD_TOKEN] =
        "usage: bennuctl token mint --user ID [--max-age SECONDS] [secret options]\n"
        "       bennuctl token verify TOKEN [--max-age SECONDS] [secret options]\n\n"
        "Phoenix.Token user tokens (salt \"user socket\"), the same code as\n"
        "`bennu token`; see `bennuctl token --help`. Needs no node.\n",
};

void bnctl_usage(FILE *out, bnctl_cmd_t cmd)
{
    if (cmd > BNCTL_CMD_NONE && cmd < BNCTL_CMD__COUNT) {
        fprintf(out, "%s\n%s\n%s", CMD_HELP[cmd], GLOBAL_OPTS, EXIT_CODES);
        return;
    }
    fprintf(out, "usage: bennuctl --node HOST:PORT --cookie COOKIE <command> [options]\n\n"
                 "Inspects a running bennu cluster by joining it as a hidden, authenticated\n"
                 "mesh node: no extra port or credential, and it sees what that node sees.\n\n"
                 "Commands:\n");
    for (int c = 1; c < BNCTL_CMD__COUNT; c++) {
        char name[32];
        snprintf(name, sizeof(name), "%s%s%s", CMDS[c].name, CMDS[c].alias ? ", " : "",
                 CMDS[c].alias ? CMDS[c].alias : "");
        fprintf(out, "  %-15s %s\n", name, CMDS[c].summary);
    }
    fprintf(out, "\n%s\n%s", GLOBAL_OPTS, EXIT_CODES);
}

static int usage_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Unsigned decimal in [min, max]. */
static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* Seconds, possibly fractional, to milliseconds: 0.1 .. 86400. */
static bool parse_seconds(const char *s, unsigned *ms)
{
    if ((s[0] < '0' || s[0] > '9') && s[0] != '.') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0.1 || v > 86400.0) {
        return false;
    }
    *ms = (unsigned)(v * 1000.0 + 0.5);
    return true;
}

static bool valid_hostport(const char *s)
{
    const char *colon = strrchr(s, ':');
    unsigned long port;
    return colon != NULL && colon != s && parse_uint(colon + 1, 1, 65535, &port);
}

typedef enum {
    OPT_NODE,
    OPT_COOKIE,
    OPT_COOKIE_FILE,
    OPT_DEV,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_HELP,
    OPT_SUMMARY,
    OPT_WATCH,
    OPT_COUNT,
    OPT_LOG_LEVEL,
} opt_id_t;

static const struct {
    const char *name;
    opt_id_t id;
    bool value;
} OPTS[] = {
    {"--node", OPT_NODE, true},
    {"--cookie", OPT_COOKIE, true},
    {"--cookie-file", OPT_COOKIE_FILE, true},
    {"--dev", OPT_DEV, false},
    {"--timeout", OPT_TIMEOUT, true},
    {"--json", OPT_JSON, false},
    {"--help", OPT_HELP, false},
    {"-h", OPT_HELP, false},
    {"--summary", OPT_SUMMARY, false},
    {"--watch", OPT_WATCH, true},
    {"--count", OPT_COUNT, true},
    {"--log-level", OPT_LOG_LEVEL, true},
};

static int apply_opt(bnctl_args_t *a, opt_id_t id, const char *name, const char *v, char *err,
                     size_t err_len)
{
    unsigned long n;
    switch (id) {
    case OPT_NODE:
        if (!valid_hostport(v)) {
            return usage_err(err, err_len,
                             "--node expects HOST:PORT (the node's mesh port), got '%s'", v);
        }
        a->node = v;
        break;
    case OPT_COOKIE:
        if (v[0] == '\0') {
            return usage_err(err, err_len, "--cookie must not be empty");
        }
        a->cookie = v;
        break;
    case OPT_COOKIE_FILE:
        a->cookie_file = v;
        break;
    case OPT_DEV:
        a->dev = true;
        break;
    case OPT_TIMEOUT:
        if (!parse_uint(v, 1, 3600000, &n)) {
            return usage_err(err, err_len, "--timeout expects milliseconds (1..3600000), got '%s'",
                             v);
        }
        a->timeout_ms = (unsigned)n;
        break;
    case OPT_JSON:
        a->json = true;
        break;
    case OPT_HELP:
        a->help = true;
        break;
    case OPT_SUMMARY:
        a->summary = true;
        break;
    case OPT_WATCH:
        if (!parse_seconds(v, &a->watch_ms)) {
            return usage_err(err, err_len, "--watch expects seconds (0.1..86400), got '%s'", v);
        }
        break;
    case OPT_LOG_LEVEL:
        if (strcmp(v, "debug") != 0 && strcmp(v, "info") != 0 && strcmp(v, "warn") != 0 &&
            strcmp(v, "error") != 0 && strcmp(v, "off") != 0) {
            return usage_err(err, err_len,
                             "--log-level expects debug, info, warn, error or off, got '%s'", v);
        }
        a->log_level = v;
        break;
    case OPT_COUNT:
        if (!parse_uint(v, 1, 1000000, &n)) {
            return usage_err(err, err_len, "--count expects a positive number, got '%s'", v);
        }
        a->count = (unsigned)n;
        break;
    }
    (void)name;
    return 0;
}

/* Positionals of the subcommand, checked once every option is known. */
static int take_positionals(bnctl_args_t *a, char **pos, int n, char *err, size_t err_len)
{
    const char *cmd = bnctl_cmd_name(a->cmd);
    switch (a->cmd) {
    case BNCTL_CMD_GROUPS:
        if (n > 1) {
            return usage_err(err, err_len, "groups takes at most one PATTERN, got %d arguments", n);
        }
        a->pattern = n == 1 ? pos[0] : NULL;
        return 0;
    case BNCTL_CMD_PRESENCE:
    case BNCTL_CMD_TOPIC:
        if (n != 1) {
            return usage_err(err, err_len, "topic takes exactly one TOPIC");
        }
        if (pos[0][0] == '\0') {
            return usage_err(err, err_len, "topic: TOPIC must not be empty");
        }
        a->topic = pos[0];
        return 0;
    case BNCTL_CMD_FORGET:
        if (n != 1 || strchr(pos[0], '@') == NULL) {
            return usage_err(err, err_len, "forget takes exactly one NODE (name@host)");
        }
        a->forget = pos[0];
        return 0;
    case BNCTL_CMD_BROADCAST: {
        if (n != 3) {
            return usage_err(err, err_len, "broadcast takes TOPIC EVENT JSON");
        }
        if (pos[0][0] == '\0' || pos[1][0] == '\0') {
            return usage_err(err, err_len, "broadcast: TOPIC and EVENT must not be empty");
        }
        json_error_t jerr;
        json_t *j = json_loads(pos[2], JSON_DECODE_ANY, &jerr);
        if (j == NULL) {
            return usage_err(err, err_len, "broadcast: payload is not JSON: %s", jerr.text);
        }
        json_decref(j);
        a->topic = pos[0];
        a->event = pos[1];
        a->payload = pos[2];
        return 0;
    }
    default:
        if (n > 0) {
            return usage_err(err, err_len, "%s takes no arguments, got '%s'", cmd, pos[0]);
        }
        return 0;
    }
}

int bnctl_args_parse(int argc, char **argv, bnctl_args_t *a, char *err, size_t err_len)
{
    memset(a, 0, sizeof(*a));
    a->timeout_ms = BNCTL_DEFAULT_TIMEOUT_MS;
    a->log_level = "off";
    err[0] = '\0';
    char **pos = calloc((size_t)argc + 1, sizeof(*pos));
    if (pos == NULL) {
        abort();
    }
    int n_pos = 0;
    bool help_word = false;
    bool options_done = false;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            /* `token` hands everything after it to the shared token code,
             * which has options of its own (--user, --dev, ...). */
            if (a->cmd == BNCTL_CMD_TOKEN) {
                continue;
            }
            const char *eq = strchr(arg, '=');
            size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
            size_t k = 0;
            for (; k < sizeof(OPTS) / sizeof(OPTS[0]); k++) {
                if (strlen(OPTS[k].name) == name_len && strncmp(OPTS[k].name, arg, name_len) == 0) {
                    break;
                }
            }
            if (k == sizeof(OPTS) / sizeof(OPTS[0])) {
                rc = usage_err(err, err_len, "unknown option '%.*s'", (int)name_len, arg);
                break;
            }
            const char *v = NULL;
            if (OPTS[k].value) {
                if (eq != NULL) {
                    v = eq + 1;
                } else if (i + 1 < argc) {
                    v = argv[++i];
                } else {
                    rc = usage_err(err, err_len, "%s needs a value", OPTS[k].name);
                    break;
                }
            } else if (eq != NULL) {
                rc = usage_err(err, err_len, "%s takes no value", OPTS[k].name);
                break;
            }
            rc = apply_opt(a, OPTS[k].id, OPTS[k].name, v, err, err_len);
            continue;
        }
        if (a->cmd == BNCTL_CMD_NONE && !help_word) {
            if (strcmp(arg, "help") == 0) {
                help_word = true;
                a->help = true;
                continue;
            }
            a->cmd = bnctl_cmd_from_name(arg);
            if (a->cmd == BNCTL_CMD_NONE) {
                rc = usage_err(err, err_len, "unknown command '%s' (try bennuctl --help)", arg);
                break;
            }
            if (a->cmd == BNCTL_CMD_TOKEN) {
                a->token_argc = argc - i;
                a->token_argv = argv + i;
            }
            continue;
        }
        if (help_word && a->cmd == BNCTL_CMD_NONE) {
            a->cmd = bnctl_cmd_from_name(arg);
            if (a->cmd == BNCTL_CMD_NONE) {
                rc = usage_err(err, err_len, "unknown command '%s' (try bennuctl --help)", arg);
            }
            continue;
        }
        if (a->cmd != BNCTL_CMD_TOKEN) {
            pos[n_pos++] = arg;
        }
    }
    if (rc == 0 && !a->help && a->cmd != BNCTL_CMD_TOKEN) {
        if (a->cmd == BNCTL_CMD_NONE) {
            rc = usage_err(err, err_len, "no command given (try bennuctl --help)");
        } else if (help_word) {
            rc = usage_err(err, err_len, "help takes one command name");
        } else if ((rc = take_positionals(a, pos, n_pos, err, err_len)) != 0) {
            /* reason already in err */
        } else if (a->node == NULL) {
            rc = usage_err(err, err_len, "--node HOST:PORT is required (a node's mesh port)");
        } else if (a->summary && a->cmd != BNCTL_CMD_GROUPS) {
            rc = usage_err(err, err_len, "--summary applies to groups only");
        } else if (a->watch_ms != 0 && a->cmd != BNCTL_CMD_MEMBERS && a->cmd != BNCTL_CMD_STATS) {
            rc = usage_err(err, err_len, "--watch applies to members and stats only");
        } else if (a->count != 0 && a->watch_ms == 0) {
            rc = usage_err(err, err_len, "--count needs --watch");
        }
    }
    free(pos);
    return rc;
}

char *bnctl_cookie_resolve(const bnctl_args_t *a, const char *env_cookie, char *err, size_t err_len)
{
    if (a->cookie != NULL) {
        return strdup(a->cookie);
    }
    if (a->cookie_file != NULL) {
        /* bennu's own reader: the same mode and size rules as the nodes. */
        char buf[1024], why[512];
        if (bn_secret_file_read(a->cookie_file, buf, sizeof(buf), why, sizeof(why)) == NULL) {
            usage_err(err, err_len, "cannot read a cookie from --cookie-file: %s", why);
            return NULL;
        }
        if (buf[0] == '\0') {
            usage_err(err, err_len, "cannot read a cookie from --cookie-file %s (empty)",
                      a->cookie_file);
            return NULL;
        }
        char *c = strdup(buf);
        sodium_memzero(buf, sizeof(buf));
        return c;
    }
    if (env_cookie != NULL && env_cookie[0] != '\0') {
        return strdup(env_cookie);
    }
    if (a->dev) {
        return strdup(BNCTL_DEV_COOKIE);
    }
    usage_err(err, err_len, "no cookie: pass --cookie, --cookie-file or set BENNU_COOKIE");
    return NULL;
}
