#include "app/workers.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "core/log.h"

#define MAX_WORKERS 64

struct supervisor_s;

typedef struct worker_s {
    uv_process_t proc;
    uv_timer_t restart;
    struct supervisor_s *sv;
    int index;
    bool running;
    bool proc_open;    /* proc is an initialised handle that must be closed */
} worker_t;

typedef struct supervisor_s {
    uv_loop_t *loop;
    char exe[4096];
    char **child_argv;
    char **child_env[MAX_WORKERS];
    worker_t workers[MAX_WORKERS];
    int n;
    bool stopping;
    uv_signal_t sigint, sigterm;
} supervisor_t;

void bn_app_worker_bind_to_parent(void)
{
    const char *ppid = getenv("BENNU_WORKER_PARENT");
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (ppid != NULL && (pid_t)atol(ppid) != getppid()) {
        /* The supervisor died between our fork and the prctl. */
        _exit(1);
    }
}

int bn_app_worker_index(int *count)
{
    const char *idx = getenv("BENNU_WORKER_INDEX");
    const char *cnt = getenv("BENNU_WORKER_COUNT");
    if (idx == NULL || cnt == NULL) {
        return -1;
    }
    *count = atoi(cnt);
    return atoi(idx);
}

static void spawn(supervisor_t *sv, int i);

static bool any_running(const supervisor_t *sv)
{
    for (int i = 0; i < sv->n; i++) {
        if (sv->workers[i].running) {
            return true;
        }
    }
    return false;
}

static void close_all(supervisor_t *sv)
{
    for (int i = 0; i < sv->n; i++) {
        if (sv->workers[i].proc_open) {
            uv_close((uv_handle_t *)&sv->workers[i].proc, NULL);
            sv->workers[i].proc_open = false;
        }
        uv_close((uv_handle_t *)&sv->workers[i].restart, NULL);
    }
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
}

static void on_restart(uv_timer_t *t)
{
    worker_t *w = t->data;
    supervisor_t *sv = w->sv;
    if (!sv->stopping) {
        spawn(sv, w->index);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    worker_t *w = p->data;
    supervisor_t *sv = w->sv;
    w->running = false;
    if (sv->stopping) {
        BN_LOG(INFO, "worker_exit", "worker=%d status=%lld", w->index, (long long)status);
        if (!any_running(sv)) {
            close_all(sv);
        }
        return;
    }
    BN_LOG(ERROR, "worker_died", "worker=%d status=%lld signal=%d restart_ms=1000", w->index,
           (long long)status, term_signal);
    uv_close((uv_handle_t *)p, NULL);
    w->proc_open = false;
    uv_timer_start(&w->restart, on_restart, 1000, 0);
}

static void spawn(supervisor_t *sv, int i)
{
    worker_t *w = &sv->workers[i];
    uv_process_options_t o;
    memset(&o, 0, sizeof(o));
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    o.file = sv->exe;
    o.args = sv->child_argv;
    o.env = sv->child_env[i];
    o.stdio = stdio;
    o.stdio_count = 3;
    o.exit_cb = on_exit_cb;
    w->proc.data = w;
    int rc = uv_spawn(sv->loop, &w->proc, &o);
    w->proc_open = true;
    if (rc != 0) {
        BN_LOG(ERROR, "worker_spawn_failed", "worker=%d error=%s", i, uv_strerror(rc));
        uv_close((uv_handle_t *)&w->proc, NULL);
        w->proc_open = false;
        uv_timer_start(&w->restart, on_restart, 1000, 0);
        return;
    }
    w->running = true;
    BN_LOG(INFO, "worker_started", "worker=%d pid=%d", i, w->proc.pid);
}

static void on_signal(uv_signal_t *h, int signum)
{
    supervisor_t *sv = h->data;
    if (sv->stopping) {
        return;
    }
    sv->stopping = true;
    BN_LOG(INFO, "shutdown", "signal=%d workers=%d", signum, sv->n);
    for (int i = 0; i < sv->n; i++) {
        uv_timer_stop(&sv->workers[i].restart);
        if (sv->workers[i].running) {
            uv_process_kill(&sv->workers[i].proc, SIGTERM);
        }
    }
    if (!any_running(sv)) {
        close_all(sv);
    }
}

static char **env_with(char **base, int index, int count, const char *cookie)
{
    size_t n = 0;
    while (base[n] != NULL) {
        n++;
    }
    char **env = calloc(n + 5, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(base[i], "BENNU_WORKER_", 13) != 0 &&
            (cookie == NULL || strncmp(base[i], "BENNU_COOKIE=", 13) != 0)) {
            env[k++] = base[i];
        }
    }
    char buf[128];
    snprintf(buf, sizeof(buf), "BENNU_WORKER_INDEX=%d", index);
    env[k++] = strdup(buf);
    snprintf(buf, sizeof(buf), "BENNU_WORKER_COUNT=%d", count);
    env[k++] = strdup(buf);
    snprintf(buf, sizeof(buf), "BENNU_WORKER_PARENT=%ld", (long)getpid());
    env[k++] = strdup(buf);
    if (cookie != NULL) {
        size_t len = strlen(cookie) + 16;
        char *c = malloc(len);
        snprintf(c, len, "BENNU_COOKIE=%s", cookie);
        env[k++] = c;
    }
    return env;
}

extern char **environ;

int bn_app_workers_run(int argc, char **argv, int workers, const char *cookie)
{
    static supervisor_t sv;
    sv.loop = uv_default_loop();
    sv.n = workers > MAX_WORKERS ? MAX_WORKERS : workers;
    size_t len = sizeof(sv.exe);
    if (uv_exepath(sv.exe, &len) != 0) {
        fprintf(stderr, "bennu: cannot find my own executable\n");
        return 1;
    }
    /* The children get the same flags minus --workers. */
    sv.child_argv = calloc((size_t)argc + 1, sizeof(char *));
    int k = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--workers") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--workers=", 10) == 0) {
            continue;
        }
        sv.child_argv[k++] = argv[i];
    }
    sv.child_argv[0] = sv.exe;
    /* A generated cookie keeps the sibling links authenticated when the
     * operator gave none; such a node can still not be joined from outside. */
    char generated[48];
    if (cookie == NULL) {
        uint8_t raw[16];
        uv_random(NULL, NULL, raw, sizeof(raw), 0, NULL);
        for (size_t i = 0; i < sizeof(raw); i++) {
            snprintf(generated + i * 2, 3, "%02x", raw[i]);
        }
        cookie = generated;
    }
    for (int i = 0; i < sv.n; i++) {
        sv.child_env[i] = env_with(environ, i, sv.n, cookie);
        sv.workers[i].index = i;
        sv.workers[i].sv = &sv;
        uv_timer_init(sv.loop, &sv.workers[i].restart);
        sv.workers[i].restart.data = &sv.workers[i];
    }
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(sv.loop, &sv.sigint);
    uv_signal_init(sv.loop, &sv.sigterm);
    sv.sigint.data = sv.sigterm.data = &sv;
    uv_signal_start(&sv.sigint, on_signal, SIGINT);
    uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
    for (int i = 0; i < sv.n; i++) {
        spawn(&sv, i);
    }
    uv_run(sv.loop, UV_RUN_DEFAULT);
    uv_loop_close(sv.loop);
    return 0;
}
