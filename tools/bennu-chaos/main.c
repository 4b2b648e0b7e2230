/* bennu-chaos: fault-injection harness for a Bennu cluster. Argument
 * parsing and dispatch only; see run.h for the run itself. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "run.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bennu-chaos run SCENARIO [options]\n"
            "       bennu-chaos list\n"
            "options:\n"
            "  --nodes N            cluster size, 2..%d (default 3)\n"
            "  --duration SECONDS   schedule length, >= %u (flood: 12; default 15)\n"
            "  --seed S             schedule and jitter seed (default: from the clock; printed)\n"
            "  --out DIR            report directory (default chaos-out)\n"
            "  --bennu PATH         the bennu binary (default $BENNU_BIN, else ./bennu)\n"
            "  --rate R             messages/s per publisher (default 20)\n"
            "  --clients N          WebSocket clients per node (default 2)\n"
            "  --tick-ms MS         node --tick-ms (default 200)\n"
            "  --down-ms MS         node --down-ms (default 1000)\n"
            "  --mode proxy|netns   fault mechanism: userspace proxies (default), or kernel\n"
            "                       faults between network namespaces (root; else proxy)\n"
            "  --quiet              no progress lines, no summary\n"
            "exit status: 0 every invariant held, 1 one failed, 2 usage error (or netns\n"
            "mode cannot be set up), 130 interrupted\n",
            BNC_MAX_NODES, BNC_MIN_DURATION_MS / 1000);
}

static void list(void)
{
    for (int i = 0; i < BNC_SC_COUNT; i++) {
        printf("%-17s %s\n", bnc_scenario_name((bnc_scenario_t)i),
               bnc_scenario_desc((bnc_scenario_t)i));
    }
}

static int num(const char *name, const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || d < lo || d > hi) {
        fprintf(stderr, "bennu-chaos: %s must be a number in [%g, %g], got '%s'\n", name, lo, hi,
                v);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse(int argc, char **argv, bnc_opts_t *o)
{
    if (bnc_scenario_parse(argv[2], &o->scenario) != 0) {
        fprintf(stderr, "bennu-chaos: unknown scenario '%s' (bennu-chaos list)\n", argv[2]);
        return -1;
    }
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bennu-chaos: unknown option or missing value: %s\n", a);
            return -1;
        }
        const char *v = argv[++i];
        double d = 0;
        if (strcmp(a, "--nodes") == 0) {
            if (num(a, v, 2, BNC_MAX_NODES, &d) != 0) {
                return -1;
            }
            o->nodes = (int)d;
        } else if (strcmp(a, "--duration") == 0) {
            if (num(a, v, BNC_MIN_DURATION_MS / 1000.0, 3600, &d) != 0) {
                return -1;
            }
            o->duration_ms = (uint64_t)(d * 1000.0);
        } else if (strcmp(a, "--seed") == 0) {
            char *end = NULL;
            o->seed = strtoull(v, &end, 10);
            if (end == v || *end != '\0') {
                fprintf(stderr, "bennu-chaos: --seed must be an unsigned integer\n");
                return -1;
            }
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--bennu") == 0) {
            o->bennu = v;
        } else if (strcmp(a, "--rate") == 0) {
            if (num(a, v, 0.1, 1000, &o->rate) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--clients") == 0) {
            if (num(a, v, 1, 64, &d) != 0) {
                return -1;
            }
            o->per_node = (int)d;
        } else if (strcmp(a, "--tick-ms") == 0) {
            if (num(a, v, 10, 60000, &d) != 0) {
                return -1;
            }
            o->tick_ms = (unsigned)d;
        } else if (strcmp(a, "--down-ms") == 0) {
            if (num(a, v, 30, 600000, &d) != 0) {
                return -1;
            }
            o->down_ms = (unsigned)d;
        } else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "netns") == 0) {
                o->mode = BNC_MODE_NETNS;
            } else if (strcmp(v, "proxy") == 0) {
                o->mode = BNC_MODE_PROXY;
            } else {
                fprintf(stderr, "bennu-chaos: --mode is proxy or netns\n");
                return -1;
            }
        } else {
            fprintf(stderr, "bennu-chaos: unknown option %s\n", a);
            return -1;
        }
    }
    if (o->mode == BNC_MODE_NETNS && !bnc_netns_privileged()) {
        /* Not an error: the same faults exist in proxy mode, so the run
         * goes ahead there, and says so where the caller will look. */
        fprintf(stderr,
                "bennu-chaos: --mode netns needs root (network namespaces, veth pairs, "
                "iptables, tc); this process is not root (euid %u), so proxy mode is used "
                "instead.\n",
                (unsigned)geteuid());
        o->mode = BNC_MODE_PROXY;
    }
    if (o->duration_ms < bnc_scenario_min_duration_ms(o->scenario)) {
        fprintf(stderr, "bennu-chaos: --duration must be at least %llu s for %s\n",
                (unsigned long long)(bnc_scenario_min_duration_ms(o->scenario) / 1000),
                bnc_scenario_name(o->scenario));
        return -1;
    }
    if (o->mode == BNC_MODE_NETNS && (o->scenario == BNC_SC_DUPLICATE_NAME ||
                                      o->scenario == BNC_SC_MITM || o->scenario == BNC_SC_FLOOD)) {
        /* The attacker sits in the proxies, the impostor and the flood
         * reach the nodes on loopback. */
        fprintf(stderr, "bennu-chaos: %s runs in proxy mode only\n",
                bnc_scenario_name(o->scenario));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        list();
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "run") != 0) {
        usage(stderr);
        return 2;
    }
    bnc_opts_t o;
    memset(&o, 0, sizeof(o));
    o.nodes = 3;
    o.duration_ms = 15000;
    o.seed = uv_hrtime() % 1000000;
    o.out = "chaos-out";
    o.bennu = getenv("BENNU_BIN") != NULL ? getenv("BENNU_BIN") : "./bennu";
    o.rate = 20;
    o.per_node = 2;
    o.tick_ms = 200;
    o.down_ms = 1000;
    if (parse(argc, argv, &o) != 0) {
        return 2;
    }
    if (access(o.bennu, X_OK) != 0) {
        fprintf(stderr, "bennu-chaos: %s is not an executable (use --bennu or BENNU_BIN)\n",
                o.bennu);
        return 2;
    }
    /* A proxy or client writing to a socket its peer just reset must get
     * EPIPE, not die (libuv restores the default in spawned nodes). */
    signal(SIGPIPE, SIG_IGN);
    static bnc_run_t run;
    int rc = bnc_run(&run, &o);
    bnc_run_free(&run);
    return rc;
}
