/* Option parsing for bennu-bench; contracts in args.h. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {
#define BNB_MODE_STR(name, text) text,
    BNB_MODE_MAP(BNB_MODE_STR)
#undef BNB_MODE_STR
};

const char *bnb_mode_name(bnb_mode_t m)
{
    if ((size_t)m >= sizeof(mode_names) / sizeof(mode_names[0])) {
        return "?";
    }
    return mode_names[m];
}

const char *bnb_args_usage(void)
{
    return "usage: bennu-bench [options]\n"
           "Load generator for Phoenix V2 JSON WebSocket servers (Bennu, limitsrv).\n"
           "\n"
           "  --host ADDR            server IPv4 address (default 127.0.0.1)\n"
           "  --port N               server port (default 4000)\n"
           "  --path PATH            socket path (default /socket/websocket; ?vsn=2.0.0 is added)\n"
           "  --mode M               fanout | conns | pingpong | churn (default fanout)\n"
           "\n"
           "fanout: S subscribers + P publishers join; publishers push new_msg with\n"
           "sequence, publisher id and send time in the body; every joined socket\n"
           "(publishers too) counts deliveries, loss, duplicates, reordering, latency.\n"
           "  --subs N               subscriber sockets (default 1000)\n"
           "  --pubs N               publisher sockets (default 1)\n"
           "  --topics N             1: one topic (--topic); N>1: room:bench0..N-1 (default 1)\n"
           "  --topic NAME           the single topic (default room:lobby)\n"
           "  --body-size B          body length in bytes (default 100)\n"
           "  --window W             messages in flight per publisher (default 64)\n"
           "  --rate R               fixed total broadcasts/s instead of the window (default 0)\n"
           "  --drain S              max seconds to wait for stragglers at the end (default 2)\n"
           "  --listen-pubs N        with --pubs 0: only subscribe, and check the messages of\n"
           "                         N publishers run by another bennu-bench on this host\n"
           "                         (several processes reach past one process's descriptor\n"
           "                         limit); warmup starts at the first message, loss counts\n"
           "                         gaps up to the highest sequence seen\n"
           "\n"
           "conns: --conns N joined sockets kept alive with heartbeats for --duration;\n"
           "  connect rate, failures, and with --server-pid server memory per socket.\n"
           "pingpong: --conns C sockets each doing ping request/reply round trips.\n"
           "churn: --conns C workers looping connect, join, leave, close.\n"
           "\n"
           "common:\n"
           "  --conns N              sockets/workers (default: conns 1000, pingpong 1, churn 16)\n"
           "  --duration S           measured seconds (default 10)\n"
           "  --warmup S             seconds before measuring (default 2)\n"
           "  --heartbeat S          heartbeat interval per socket (default 30)\n"
           "  --connect-timeout S    limit for connecting and joining everything (default 60)\n"
           "  --connect-concurrency N  connects in progress at once (default 256)\n"
           "  --src-addrs N          bind sources to 127.0.0.1..N, cycling (default 254; 0 = off;\n"
           "                         only used when --host is in 127.0.0.0/8)\n"
           "  --server-pid PID       read the server's CPU (/proc/PID/stat) and memory (VmRSS)\n"
           "  --exec-start CMD       run CMD (sh -c) when measuring starts (e.g. callgrind_control "
           "-z)\n"
           "  --exec-end CMD         run CMD when measuring ends\n"
           "  --quiet                print only the JSON line\n"
           "  --help                 this text\n"
           "\n"
           "Output: a human table, then one JSON object as the last line of stdout.\n"
           "With --rate or --listen-pubs, fanout's JSON has \"broadcasts\": [seq, sockets\n"
           "reached, last arrival in us] per broadcast of publisher 0, and the publishing\n"
           "bench \"measure_seqs\": [first, end) of those sent while measuring.\n"
           "Exit status: 0 ok, 1 run failed (e.g. cannot connect), 2 bad usage.\n";
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ') {
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    if (s == NULL || *s == '\0' || *s == ' ') {
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

typedef enum { OPT_U32, OPT_DOUBLE, OPT_STR, OPT_FLAG, OPT_MODE, OPT_INT } opt_kind_t;

typedef struct {
    const char *name;
    opt_kind_t kind;
    size_t offset;
    double lo;
    double hi;
} opt_t;

#define OFF(f) offsetof(bnb_config_t, f)

static const opt_t opts[] = {
    {"host", OPT_STR, OFF(host), 0, 0},
    {"port", OPT_INT, OFF(port), 1, 65535},
    {"path", OPT_STR, OFF(path), 0, 0},
    {"mode", OPT_MODE, OFF(mode), 0, 0},
    {"subs", OPT_U32, OFF(subs), 0, 1000000},
    {"pubs", OPT_U32, OFF(pubs), 0, 1000},
    {"listen-pubs", OPT_U32, OFF(listen_pubs), 1, 1000},
    {"topics", OPT_U32, OFF(topics), 1, 100000},
    {"topic", OPT_STR, OFF(topic), 0, 0},
    {"body-size", OPT_U32, OFF(body_size), 1, 1 << 20},
    {"window", OPT_U32, OFF(window), 1, 1000000},
    {"rate", OPT_DOUBLE, OFF(rate), 0, 1e9},
    {"conns", OPT_U32, OFF(conns), 1, 1000000},
    {"duration", OPT_DOUBLE, OFF(duration), 0.001, 86400},
    {"warmup", OPT_DOUBLE, OFF(warmup), 0, 86400},
    {"drain", OPT_DOUBLE, OFF(drain), 0, 3600},
    {"heartbeat", OPT_DOUBLE, OFF(heartbeat), 1, 3600},
    {"connect-timeout", OPT_DOUBLE, OFF(connect_timeout), 0.1, 86400},
    {"connect-concurrency", OPT_U32, OFF(connect_concurrency), 1, 1000000},
    {"src-addrs", OPT_U32, OFF(src_addrs), 0, 16000000},
    {"server-pid", OPT_INT, OFF(server_pid), 1, 2147483647.0},
    {"exec-start", OPT_STR, OFF(exec_start), 0, 0},
    {"exec-end", OPT_STR, OFF(exec_end), 0, 0},
    {"quiet", OPT_FLAG, OFF(quiet), 0, 0},
};

static void defaults(bnb_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 4000;
    cfg->path = "/socket/websocket";
    cfg->mode = BNB_MODE_FANOUT;
    cfg->subs = 1000;
    cfg->pubs = 1;
    cfg->topics = 1;
    cfg->topic = "room:lobby";
    cfg->body_size = 100;
    cfg->window = 64;
    cfg->duration = 10;
    cfg->warmup = 2;
    cfg->drain = 2;
    cfg->heartbeat = 30;
    cfg->connect_timeout = 60;
    cfg->connect_concurrency = 256;
    cfg->src_addrs = 254;
}

uint64_t bnb_config_sockets(const bnb_config_t *cfg)
{
    if (cfg->mode == BNB_MODE_FANOUT) {
        return (uint64_t)cfg->subs + cfg->pubs;
    }
    return cfg->conns;
}

int bnb_args_parse(bnb_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    defaults(cfg);
    if (errlen > 0) {
        err[0] = '\0';
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return BNB_ARGS_HELP;
        }
        if (strncmp(a, "--", 2) != 0) {
            set_err(err, errlen, "unexpected argument '%s'", a);
            return BNB_ARGS_BAD;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = NULL;
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (strlen(opts[k].name) == nl && strncmp(opts[k].name, name, nl) == 0) {
                o = &opts[k];
                break;
            }
        }
        if (o == NULL) {
            set_err(err, errlen, "unknown option '--%.*s'", (int)nl, name);
            return BNB_ARGS_BAD;
        }
        char *field = (char *)cfg + o->offset;
        if (o->kind == OPT_FLAG) {
            if (eq != NULL) {
                set_err(err, errlen, "option '--%s' takes no value", o->name);
                return BNB_ARGS_BAD;
            }
            *(int *)field = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (v == NULL) {
            if (i + 1 >= argc) {
                set_err(err, errlen, "option '--%s' needs a value", o->name);
                return BNB_ARGS_BAD;
            }
            v = argv[++i];
        }
        int bad = 0;
        switch (o->kind) {
        case OPT_U32:
            bad = parse_u32(v, (uint32_t)o->lo, (uint32_t)o->hi, (uint32_t *)field) != 0;
            break;
        case OPT_INT: {
            uint32_t u;
            bad = parse_u32(v, (uint32_t)o->lo, (uint32_t)o->hi, &u) != 0;
            if (!bad) {
                *(int *)field = (int)u;
            }
            break;
        }
        case OPT_DOUBLE:
            bad = parse_double(v, o->lo, o->hi, (double *)field) != 0;
            break;
        case OPT_STR:
            bad = *v == '\0';
            if (!bad) {
                *(const char **)field = v;
            }
            break;
        case OPT_MODE: {
            bad = 1;
            for (size_t m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++) {
                if (strcmp(v, mode_names[m]) == 0) {
                    *(bnb_mode_t *)field = (bnb_mode_t)m;
                    bad = 0;
                }
            }
            break;
        }
        case OPT_FLAG:
            break;
        }
        if (bad) {
            if (o->kind == OPT_U32 || o->kind == OPT_INT || o->kind == OPT_DOUBLE) {
                set_err(err, errlen, "bad value '%s' for --%s (want %g..%g)", v, o->name, o->lo,
                        o->hi);
            } else {
                set_err(err, errlen, "bad value '%s' for --%s", v, o->name);
            }
            return BNB_ARGS_BAD;
        }
    }
    if (cfg->conns == 0) {
        cfg->conns = cfg->mode == BNB_MODE_CONNS ? 1000 : cfg->mode == BNB_MODE_CHURN ? 16 : 1;
    }
    if (cfg->path[0] != '/' || strchr(cfg->path, '?') != NULL || strchr(cfg->path, ' ') != NULL) {
        set_err(err, errlen, "--path must start with '/' and contain no '?' or spaces");
        return BNB_ARGS_BAD;
    }
    if (cfg->mode == BNB_MODE_FANOUT && cfg->subs == 0 && cfg->pubs == 0) {
        set_err(err, errlen, "fanout needs at least one socket");
        return BNB_ARGS_BAD;
    }
    if (cfg->mode == BNB_MODE_FANOUT && (cfg->listen_pubs > 0) != (cfg->pubs == 0)) {
        set_err(err, errlen,
                cfg->pubs == 0 ? "--pubs 0 needs --listen-pubs N (publishers of another bench)"
                               : "--listen-pubs needs --pubs 0");
        return BNB_ARGS_BAD;
    }
    if (cfg->listen_pubs > 0 && cfg->topics != 1) {
        set_err(err, errlen, "--listen-pubs needs --topics 1");
        return BNB_ARGS_BAD;
    }
    if (strlen(cfg->topic) > 200 || strpbrk(cfg->topic, "\"\\") != NULL) {
        set_err(err, errlen, "--topic must be at most 200 bytes without quotes or backslashes");
        return BNB_ARGS_BAD;
    }
    return BNB_ARGS_OK;
}
