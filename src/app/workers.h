/* --workers N: the node as N worker processes, one per core. Each worker is
 * a full Bennu process listening on the same HTTP port (SO_REUSEPORT, the
 * kernel spreads connections) and a mesh node of its own on mesh port
 * base+i, joined to worker 0; so a broadcast reaches each sibling as one
 * mesh frame and is fanned out there. The parent only supervises: it
 * restarts a worker that dies and forwards SIGINT/SIGTERM. */
#ifndef BN_APP_WORKERS_H
#define BN_APP_WORKERS_H

/* Runs the supervisor; returns the process exit code. argv is the parent's
 * command line, from which --workers is removed for the children. */
int bn_app_workers_run(int argc, char **argv, int workers, const char *cookie);

/* In a worker: its index (0-based) and the count, from the environment set
 * by the supervisor; returns -1 when this process is not a worker. */
int bn_app_worker_index(int *count);

/* In a worker: ask the kernel for SIGTERM when the supervisor dies, and exit
 * at once if it already has. */
void bn_app_worker_bind_to_parent(void);

#endif
