/* What the four modes share: the run context, the dialer that connects and
 * joins a set of sockets with bounded concurrency, the heartbeat schedule,
 * process probes (/proc, getrusage), and the result object. */
#ifndef BNB_RUN_H
#define BNB_RUN_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "args.h"
#include "hist.h"
#include "net.h"
#include "phx.h"

/* Per-socket state common to all modes; modes keep their own arrays
 * indexed by bnb_conn_t.id for anything else. */
typedef struct bnb_sock_s {
    bnb_conn_t conn;
    uint32_t topic; /* index into the topic list */
    uint8_t joined;
    uint8_t failed;
    uint8_t expect_close; /* the mode closes it on purpose: not a failure */
    uint64_t next_ref;    /* refs 1 is the join; later pushes count up from 2 */
} bnb_sock_t;

typedef struct bnb_run_s bnb_run_t;

/* Mode hooks used by the shared connection logic. */
typedef struct bnb_mode_ops_s {
    /* A classified text frame arrived on a socket that has joined
     * (heartbeat replies are counted by the run and not passed on). */
    void (*text)(bnb_run_t *r, bnb_sock_t *s, const bnb_phx_in_t *in, uint64_t now);
    /* All messages of one read were handled (may be NULL). */
    void (*read_done)(bnb_run_t *r, bnb_sock_t *s);
    /* Socket joined (ok) or failed to connect/join (!ok). */
    void (*joined)(bnb_run_t *r, bnb_sock_t *s, int ok);
    /* Socket closed (after a join or not). */
    void (*closed)(bnb_run_t *r, bnb_sock_t *s, int err, const char *why);
} bnb_mode_ops_t;

struct bnb_run_s {
    const bnb_config_t *cfg;
    uv_loop_t *loop;
    bnb_net_t *net;
    const bnb_mode_ops_t *ops;
    void *mode; /* the mode's own state */
    bnb_sock_t *socks;
    uint32_t nsocks;
    char (*topics)[256];
    uint32_t ntopics;
    /* dialer */
    uint32_t dial_next;
    uint32_t dial_inflight;
    uint32_t dial_ok;
    uint32_t dial_failed;
    uint64_t dial_t0;
    uint64_t dial_t1;
    int first_err;
    char first_err_text[200];
    /* heartbeat */
    uv_timer_t hb_timer;
    uint64_t hb_tick;
    uint64_t hb_sent;
    uint64_t hb_ok;
    /* counters */
    uint64_t disconnects; /* joined sockets that closed unexpectedly */
    int stopping;         /* closes from now on are expected */
    json_t *result;
};

/* Sets up r for n sockets; the socket array is allocated here. */
int bnb_run_init(bnb_run_t *r, uv_loop_t *loop, bnb_net_t *net, const bnb_config_t *cfg, uint32_t n,
                 const bnb_mode_ops_t *ops, void *mode);
void bnb_run_free(bnb_run_t *r);

/* Topic index for the i-th subscriber-like socket. */
uint32_t bnb_run_topic_for(const bnb_run_t *r, uint32_t i);

/* Starts (or continues) connecting sockets [0, nsocks) with at most
 * connect_concurrency in progress; each ends in ops->joined. */
void bnb_run_dial(bnb_run_t *r);

/* Opens and joins a single socket regardless of the dial queue (churn). */
void bnb_run_open_one(bnb_run_t *r, bnb_sock_t *s);

/* Sends the join for s (ref 1). */
void bnb_run_send_join(bnb_run_t *r, bnb_sock_t *s);

/* Starts the heartbeat timer: each socket heartbeats every --heartbeat
 * seconds, staggered by id. */
void bnb_run_heartbeat_start(bnb_run_t *r);

/* Closes every socket and the heartbeat timer, then runs the loop until
 * everything is closed. */
void bnb_run_close_all(bnb_run_t *r);

/* Runs the loop until *flag becomes non-zero or timeout_s passes. Returns
 * 1 if the flag was set. */
int bnb_run_until(bnb_run_t *r, const int *flag, double timeout_s);

/* Runs the loop for s seconds. */
void bnb_run_for(bnb_run_t *r, double s);

/* ---- probes ---- */

/* Process CPU (user+sys) of this process in seconds, split. */
void bnb_self_cpu(double *user_s, double *sys_s);

/* utime+stime of pid in seconds from /proc/PID/stat; -1 on failure. */
double bnb_proc_cpu(int pid);

/* VmRSS of pid in kB from /proc/PID/status; -1 on failure. */
long bnb_proc_rss_kb(int pid);

/* Raises RLIMIT_NOFILE's soft limit to the hard one; returns the new soft
 * limit. */
uint64_t bnb_raise_nofile(void);

/* Runs cmd with sh -c and waits; logs a warning on failure. */
void bnb_exec(const char *cmd);

/* Adds latency percentiles (in microseconds) of h to obj under key. */
void bnb_json_latency(json_t *obj, const char *key, const bnb_hist_t *h);

/* ---- modes (each fills r->result; returns 0 ok, 1 failed) ---- */
int bnb_mode_fanout(const bnb_config_t *cfg, json_t *result);
int bnb_mode_conns(const bnb_config_t *cfg, json_t *result);
int bnb_mode_pingpong(const bnb_config_t *cfg, json_t *result);
int bnb_mode_churn(const bnb_config_t *cfg, json_t *result);

#endif
