/* Command-line options of bennu-bench. Parsing is pure (no I/O, no globals)
 * so it can be unit-tested; main() prints the usage text and errors. */
#ifndef BNB_ARGS_H
#define BNB_ARGS_H

#include <stddef.h>
#include <stdint.h>

#define BNB_MODE_MAP(X)              \
    X(BNB_MODE_FANOUT, "fanout")     \
    X(BNB_MODE_CONNS, "conns")       \
    X(BNB_MODE_PINGPONG, "pingpong") \
    X(BNB_MODE_CHURN, "churn")

typedef enum {
#define BNB_MODE_ENUM(name, text) name,
    BNB_MODE_MAP(BNB_MODE_ENUM)
#undef BNB_MODE_ENUM
} bnb_mode_t;

const char *bnb_mode_name(bnb_mode_t m);

/* Every option; strings point into argv (or static defaults). */
typedef struct bnb_config_s {
    const char *host;
    int port;
    const char *path; /* without the query; "?vsn=2.0.0" is appended */
    bnb_mode_t mode;
    uint32_t subs;          /* fanout: subscriber sockets */
    uint32_t pubs;          /* fanout: publisher sockets (also subscribed) */
    uint32_t listen_pubs;   /* fanout: publishers run by another bench (then pubs = 0) */
    uint32_t topics;        /* 1: --topic; N > 1: room:bench0..N-1 */
    const char *topic;      /* single-topic name */
    uint32_t body_size;     /* bytes of the "body" string */
    uint32_t window;        /* fanout: in-flight messages per publisher (window mode) */
    double rate;            /* fanout: total broadcasts/s over all publishers; 0 = window mode */
    uint32_t conns;         /* conns/pingpong/churn: sockets or concurrent workers */
    double duration;        /* measured seconds */
    double warmup;          /* seconds before measuring */
    double drain;           /* fanout: max seconds to wait for in-flight messages at the end */
    double heartbeat;       /* seconds between heartbeats per socket */
    double connect_timeout; /* seconds for the whole connect+join phase */
    uint32_t src_addrs;     /* source addresses 127.0.0.1..N cycled; 0 = do not bind */
    uint32_t connect_concurrency; /* connects+joins in progress at once */
    int server_pid;               /* 0 = none */
    const char *exec_start;       /* shell command run when measuring starts, or NULL */
    const char *exec_end;         /* shell command run when measuring ends, or NULL */
    int quiet;                    /* only the JSON line */
} bnb_config_t;

/* Results of bnb_args_parse. */
#define BNB_ARGS_OK 0
#define BNB_ARGS_HELP 1
#define BNB_ARGS_BAD (-1)

/* Fills cfg with defaults, then applies argv[1..argc-1]. Options take
 * "--name value" or "--name=value". On BNB_ARGS_BAD a one-line reason is
 * written to err (always NUL-terminated when errlen > 0). Mode-dependent
 * defaults (e.g. --conns) are applied after all options are read, and the
 * combination is validated. */
int bnb_args_parse(bnb_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Total sockets the configuration opens at once. */
uint64_t bnb_config_sockets(const bnb_config_t *cfg);

/* The usage text. */
const char *bnb_args_usage(void);

#endif
