/* bennu-bench: argument handling, resource limits, mode dispatch, output. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "run.h"

/* Prints the result object as an aligned two-column table on stdout. */
static void print_table(const char *mode, json_t *res)
{
    printf("bennu-bench %s\n", mode);
    const char *key;
    json_t *v;
    json_object_foreach(res, key, v)
    {
        if (json_is_object(v)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                if (json_is_array(v2)) {
                    continue;
                }
                char name[96];
                snprintf(name, sizeof(name), "%s.%s", key, k2);
                if (json_is_integer(v2)) {
                    printf("  %-32s %lld\n", name, (long long)json_integer_value(v2));
                } else if (json_is_real(v2)) {
                    printf("  %-32s %.2f\n", name, json_real_value(v2));
                }
            }
        } else if (json_is_integer(v)) {
            printf("  %-32s %lld\n", key, (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            printf("  %-32s %.2f\n", key, json_real_value(v));
        } else if (json_is_string(v)) {
            printf("  %-32s %s\n", key, json_string_value(v));
        } else if (json_is_null(v)) {
            printf("  %-32s -\n", key);
        }
    }
}

int main(int argc, char **argv)
{
    bnb_config_t cfg;
    char err[256];
    int rc = bnb_args_parse(&cfg, argc, argv, err, sizeof(err));
    if (rc == BNB_ARGS_HELP) {
        fputs(bnb_args_usage(), stdout);
        return 0;
    }
    if (rc != BNB_ARGS_OK) {
        fprintf(stderr, "bennu-bench: %s\n(try --help)\n", err);
        return 2;
    }
    /* A peer resetting a socket must not kill the run through SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    uint64_t nofile = bnb_raise_nofile();
    uint64_t need = bnb_config_sockets(&cfg) + 32;
    if (need > nofile) {
        fprintf(stderr,
                "bennu-bench: %llu sockets need about %llu file descriptors but RLIMIT_NOFILE "
                "is %llu (hard limit)\n",
                (unsigned long long)bnb_config_sockets(&cfg), (unsigned long long)need,
                (unsigned long long)nofile);
        return 2;
    }
    json_t *res = json_object();
    json_object_set_new(res, "mode", json_string(bnb_mode_name(cfg.mode)));
    switch (cfg.mode) {
    case BNB_MODE_FANOUT:
        rc = bnb_mode_fanout(&cfg, res);
        break;
    case BNB_MODE_CONNS:
        rc = bnb_mode_conns(&cfg, res);
        break;
    case BNB_MODE_PINGPONG:
        rc = bnb_mode_pingpong(&cfg, res);
        break;
    case BNB_MODE_CHURN:
        rc = bnb_mode_churn(&cfg, res);
        break;
    }
    double u;
    double s;
    bnb_self_cpu(&u, &s);
    json_object_set_new(res, "bench_total_cpu_s", json_real(u + s));
    json_object_set_new(res, "ok", json_boolean(rc == 0));
    if (!cfg.quiet) {
        print_table(bnb_mode_name(cfg.mode), res);
    }
    char *line = json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", line);
    free(line);
    json_decref(res);
    return rc == 0 ? 0 : 1;
}
