/* --workers N: the node as N worker processes, one per core. Each worker is
 * a full Bennu process listening on the same HTTP port (SO_REUSEPORT, the
 * kernel spreads connections) and a mesh node of its own on mesh port
 * base+i, joined to worker 0; so a broadcast reaches each sibling as one
 * mesh frame and is fanned out there. The parent only supervises: it
 * restarts a worker that dies, gives up when one cannot start, and forwards
 * SIGINT/SIGTERM.
 *
 * The supervisor refuses to start (exit 1) when another supervisor holds
 * the port's lock file (/tmp/bennu-workers-PORT.lock, flock, released by
 * the kernel when its holder dies) or when the HTTP port is already in use
 * (a bind without SO_REUSEPORT fails): with SO_REUSEPORT two supervisors of
 * the same user would otherwise silently share the port. */
#ifndef BN_APP_WORKERS_H
#define BN_APP_WORKERS_H

/* A worker that exits before it reports listening this many times in a
 * row makes the supervisor give up (exit 1). */
#define BN_APP_WORKER_MAX_START_FAILURES 5

typedef struct bn_app_workers_cfg_s {
    int count;
    /* Given to the workers in the environment, never on their command
     * line: the cluster cookie as BENNU_COOKIE (NULL: a random one, so the
     * siblings' links stay authenticated), and a secret_key_base from
     * --secret-key-base as SECRET_KEY_BASE (NULL: none from the flag). */
    const char *cookie;
    const char *secret_key_base;
    const char *bind; /* numeric HTTP listen address */
    int port;
} bn_app_workers_cfg_t;

/* Runs the supervisor; returns the process exit code (0 after SIGINT or
 * SIGTERM, 1 when it refused to start or gave up). argv is the parent's
 * command line, from which --workers, --cookie and --secret-key-base (with
 * their values) are removed for the children. */
int bn_app_workers_run(int argc, char **argv, const bn_app_workers_cfg_t *cfg);

/* In a worker: its index (0-based) and the count, from the environment set
 * by the supervisor; returns -1 when this process is not a worker. */
int bn_app_worker_index(int *count);

/* In a worker: ask the kernel for SIGTERM when the supervisor dies, and exit
 * at once if it already has. */
void bn_app_worker_bind_to_parent(void);

/* In a worker, once it listens: tells the supervisor that this start
 * succeeded (a byte on the descriptor named by BENNU_WORKER_READY_FD). */
void bn_app_worker_ready(void);

#endif
