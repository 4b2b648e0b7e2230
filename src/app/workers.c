#include "app/workers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "bennu/log.h"

#define MAX_WORKERS 64
/* The descriptor on which a worker reports that it listens. */
#define READY_FD 3
/* Restart delays: a worker that ran is restarted after 1 s; one that failed
 * to start after 200 ms, doubling with each failure in a row. */
#define RESTART_MS 1000
#define FAILED_START_MS 200
#define LINE_MAX_BYTES 4096
#define REASON_MAX 512

struct supervisor_s;

typedef struct worker_s {
    uv_process_t proc;
    uv_pipe_t err;   /* the worker's stderr, forwarded line by line */
    uv_pipe_t ready; /* the worker's READY_FD */
    uv_timer_t restart;
    struct supervisor_s *sv;
    int index;
    bool running;   /* spawned and not yet reaped */
    bool proc_open; /* proc is an initialised handle that must be closed */
    bool err_open, ready_open;
    bool exited;      /* exit_cb ran for the current process */
    bool listening;   /* the current process reported READY_FD */
    int open_handles; /* proc/err/ready handles not yet closed */
    int failures;     /* failed starts in a row */
    int64_t status;
    int term_signal;
    size_t line_len;
    char line[LINE_MAX_BYTES];
    char reason[REASON_MAX]; /* the last error line the current process wrote */
} worker_t;

typedef struct supervisor_s {
    uv_loop_t *loop;
    char exe[4096];
    char **child_argv;
    char **child_env[MAX_WORKERS];
    worker_t workers[MAX_WORKERS];
    int n;
    bool stopping;
    int exit_code;
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

void bn_app_worker_ready(void)
{
    const char *fd_text = getenv("BENNU_WORKER_READY_FD");
    if (fd_text == NULL) {
        return;
    }
    int fd = atoi(fd_text);
    if (fd > 2) {
        ssize_t n;
        do {
            n = write(fd, "r", 1);
        } while (n < 0 && errno == EINTR);
        close(fd);
    }
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
        uv_close((uv_handle_t *)&sv->workers[i].restart, NULL);
    }
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
}

static void stop_all(supervisor_t *sv)
{
    sv->stopping = true;
    for (int i = 0; i < sv->n; i++) {
        uv_timer_stop(&sv->workers[i].restart);
        if (sv->workers[i].running && !sv->workers[i].exited) {
            uv_process_kill(&sv->workers[i].proc, SIGTERM);
        }
    }
    if (!any_running(sv)) {
        close_all(sv);
    }
}

static void on_worker_handle_closed(uv_handle_t *h)
{
    worker_t *w = h->data;
    w->open_handles--;
}

static void close_worker_handle(uv_handle_t *h, bool *open)
{
    if (*open) {
        *open = false;
        uv_close(h, on_worker_handle_closed);
    }
}

/* An error line is kept as the reason a start failed: bennu's own fatal
 * messages ("bennu: ...") and error-level log lines; sanitizer reports too. */
static bool is_reason_line(const char *s, size_t n)
{
    static const char *const marks[] = {"bennu: ", " level=error ", "ERROR: "};
    for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
        size_t ml = strlen(marks[k]);
        for (size_t i = 0; i + ml <= n; i++) {
            if (memcmp(s + i, marks[k], ml) == 0) {
                return true;
            }
        }
    }
    return false;
}

static void flush_line(worker_t *w)
{
    if (w->line_len == 0) {
        return;
    }
    size_t n = w->line_len;
    bool newline = w->line[n - 1] == '\n';
    /* One write per line: lines of several workers never interleave. */
    fwrite(w->line, 1, n, stderr);
    if (!newline) {
        fputc('\n', stderr);
    }
    size_t text = newline ? n - 1 : n;
    if (is_reason_line(w->line, text)) {
        size_t keep = text < REASON_MAX - 1 ? text : REASON_MAX - 1;
        memcpy(w->reason, w->line, keep);
        w->reason[keep] = '\0';
    }
    w->line_len = 0;
}

static void finish(worker_t *w);

static void on_err_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    worker_t *w = h->data;
    if (w->line_len == sizeof(w->line)) {
        flush_line(w); /* a line longer than the buffer goes out in pieces */
    }
    buf->base = w->line + w->line_len;
    buf->len = sizeof(w->line) - w->line_len;
}

static void on_err_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    worker_t *w = s->data;
    if (nread < 0) {
        flush_line(w);
        close_worker_handle((uv_handle_t *)&w->err, &w->err_open);
        finish(w);
        return;
    }
    size_t start = w->line_len;
    w->line_len += (size_t)nread;
    /* Forward every complete line; keep a partial one for the next read. */
    for (;;) {
        char *nl = memchr(w->line + start, '\n', w->line_len - start);
        if (nl == NULL) {
            break;
        }
        size_t whole = (size_t)(nl - w->line) + 1;
        size_t rest = w->line_len - whole;
        w->line_len = whole;
        flush_line(w);
        memmove(w->line, w->line + whole, rest);
        w->line_len = rest;
        start = 0;
    }
}

static void on_ready_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char scratch[16];
    buf->base = scratch;
    buf->len = sizeof(scratch);
}

static void on_ready_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    worker_t *w = s->data;
    if (nread > 0) {
        w->listening = true;
        w->failures = 0;
        w->reason[0] = '\0';
    } else if (nread < 0) {
        close_worker_handle((uv_handle_t *)&w->ready, &w->ready_open);
    }
}

static void on_restart(uv_timer_t *t)
{
    worker_t *w = t->data;
    supervisor_t *sv = w->sv;
    if (sv->stopping) {
        return;
    }
    if (w->open_handles > 0) {
        uv_timer_start(&w->restart, on_restart, 50, 0); /* last run's handles still closing */
        return;
    }
    spawn(sv, w->index);
}

/* A worker's run ended (or never began): restart it, or give up. */
static void after_run(worker_t *w, const char *how)
{
    supervisor_t *sv = w->sv;
    if (sv->stopping) {
        BN_LOG(INFO, "worker_exit", "worker=%d status=%lld", w->index, (long long)w->status);
        if (!any_running(sv)) {
            close_all(sv);
        }
        return;
    }
    if (w->listening) {
        BN_LOG(ERROR, "worker_died", "worker=%d status=%lld signal=%d restart_ms=%d", w->index,
               (long long)w->status, w->term_signal, RESTART_MS);
        uv_timer_start(&w->restart, on_restart, RESTART_MS, 0);
        return;
    }
    w->failures++;
    if (w->failures >= BN_APP_WORKER_MAX_START_FAILURES) {
        BN_LOG(ERROR, "worker_gave_up", "worker=%d failures=%d last=%s", w->index, w->failures,
               BN_LOG_VAL(w->reason[0] != '\0' ? w->reason : how));
        fprintf(stderr,
                "bennu: worker %d failed to start %d times in a row (%s); giving up. "
                "Last error: %s\n",
                w->index, w->failures, how, w->reason[0] != '\0' ? w->reason : "none reported");
        sv->exit_code = 1;
        stop_all(sv);
        return;
    }
    unsigned delay = FAILED_START_MS << (w->failures - 1);
    BN_LOG(ERROR, "worker_start_failed",
           "worker=%d failures=%d status=%lld signal=%d "
           "restart_ms=%u last=%s",
           w->index, w->failures, (long long)w->status, w->term_signal, delay,
           BN_LOG_VAL(w->reason[0] != '\0' ? w->reason : how));
    uv_timer_start(&w->restart, on_restart, delay, 0);
}

/* Called when the process has exited and its stderr is drained (whichever
 * comes last), so the reason is the worker's very last words. */
static void finish(worker_t *w)
{
    if (!w->exited || w->err_open || !w->running) {
        return;
    }
    w->running = false;
    close_worker_handle((uv_handle_t *)&w->ready, &w->ready_open);
    close_worker_handle((uv_handle_t *)&w->proc, &w->proc_open);
    char how[64];
    if (w->term_signal != 0) {
        snprintf(how, sizeof(how), "killed by signal %d", w->term_signal);
    } else {
        snprintf(how, sizeof(how), "exit status %lld", (long long)w->status);
    }
    after_run(w, how);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    worker_t *w = p->data;
    w->exited = true;
    w->status = status;
    w->term_signal = term_signal;
    finish(w);
}

static void spawn(supervisor_t *sv, int i)
{
    worker_t *w = &sv->workers[i];
    uv_pipe_init(sv->loop, &w->err, 0);
    uv_pipe_init(sv->loop, &w->ready, 0);
    w->err.data = w->ready.data = w->proc.data = w;
    w->err_open = w->ready_open = true;
    w->open_handles = 2;
    w->exited = w->listening = false;
    w->status = 0;
    w->term_signal = 0;
    w->line_len = 0;
    w->reason[0] = '\0';
    uv_process_options_t o;
    memset(&o, 0, sizeof(o));
    uv_stdio_container_t stdio[READY_FD + 1] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&w->err},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&w->ready},
    };
    o.file = sv->exe;
    o.args = sv->child_argv;
    o.env = sv->child_env[i];
    o.stdio = stdio;
    o.stdio_count = READY_FD + 1;
    o.exit_cb = on_exit_cb;
    int rc = uv_spawn(sv->loop, &w->proc, &o);
    w->proc_open = true;
    w->open_handles++;
    if (rc != 0) {
        BN_LOG(ERROR, "worker_spawn_failed", "worker=%d error=%s", i, BN_LOG_VAL(uv_strerror(rc)));
        snprintf(w->reason, sizeof(w->reason), "cannot run %.200s: %s", sv->exe, uv_strerror(rc));
        close_worker_handle((uv_handle_t *)&w->proc, &w->proc_open);
        close_worker_handle((uv_handle_t *)&w->err, &w->err_open);
        close_worker_handle((uv_handle_t *)&w->ready, &w->ready_open);
        after_run(w, "could not be spawned");
        return;
    }
    w->running = true;
    uv_read_start((uv_stream_t *)&w->err, on_err_alloc, on_err_read);
    uv_read_start((uv_stream_t *)&w->ready, on_ready_alloc, on_ready_read);
    BN_LOG(INFO, "worker_started", "worker=%d pid=%d", i, w->proc.pid);
}

static void on_signal(uv_signal_t *h, int signum)
{
    supervisor_t *sv = h->data;
    if (sv->stopping) {
        return;
    }
    BN_LOG(INFO, "shutdown", "signal=%d workers=%d", signum, sv->n);
    stop_all(sv);
}

/* The environment of worker index: the parent's minus what the supervisor
 * sets, plus the worker variables and the secrets. */
static char **env_with(char **base, int index, int count, const char *cookie,
                       const char *secret_key_base)
{
    size_t n = 0;
    while (base[n] != NULL) {
        n++;
    }
    char **env = calloc(n + 7, sizeof(char *));
    if (env == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(base[i], "BENNU_WORKER_", 13) != 0 &&
            (cookie == NULL || strncmp(base[i], "BENNU_COOKIE=", 13) != 0) &&
            (secret_key_base == NULL || strncmp(base[i], "SECRET_KEY_BASE=", 16) != 0)) {
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
    snprintf(buf, sizeof(buf), "BENNU_WORKER_READY_FD=%d", READY_FD);
    env[k++] = strdup(buf);
    const char *names[2] = {"BENNU_COOKIE=", "SECRET_KEY_BASE="};
    const char *values[2] = {cookie, secret_key_base};
    for (int v = 0; v < 2; v++) {
        if (values[v] != NULL) {
            size_t len = strlen(names[v]) + strlen(values[v]) + 1;
            char *c = malloc(len);
            if (c != NULL) {
                snprintf(c, len, "%s%s", names[v], values[v]);
                env[k++] = c;
            }
        }
    }
    return env;
}

/* True for the flags whose values are secrets, as "--flag" or "--flag=V";
 * *takes_next says whether the value is the next element. */
static bool is_secret_flag(const char *arg, bool *takes_next)
{
    static const char *const flags[] = {"--cookie", "--secret-key-base"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        size_t len = strlen(flags[i]);
        if (strncmp(arg, flags[i], len) == 0 && (arg[len] == '\0' || arg[len] == '=')) {
            *takes_next = arg[len] == '\0';
            return true;
        }
    }
    return false;
}

/* Another supervisor of this port: an advisory lock held for our lifetime
 * (the kernel drops it when we die, so it is never stale). Returns 0 (held,
 * or the lock file cannot be used at all: the bind check below still
 * applies) or -1 when another process holds it. */
static int lock_port(int port)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/bennu-workers-%d.lock", port);
    /* 0644 and a read-only fallback: a supervisor of another user must be
     * able to see the lock too (flock needs no write access). */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        BN_LOG(WARN, "workers_lock_unavailable", "file=%s error=%s", path,
               BN_LOG_VAL(strerror(errno)));
        return 0;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK) {
            fprintf(stderr,
                    "bennu: another bennu --workers supervisor is running on port %d (it holds "
                    "%s); refusing to start a second one on the same port\n",
                    port, path);
            return -1;
        }
        return 0;
    }
    return 0; /* fd stays open (and locked) until exit */
}

/* Whether addr:port can be bound without SO_REUSEPORT, as any listener
 * that is not one of our own workers would. */
static int port_free(const char *addr, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof(*a6);
    } else {
        return 0; /* the workers will report it */
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return 0;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* as libuv's listeners */
    int rc = bind(fd, (struct sockaddr *)&ss, len);
    int err = errno;
    close(fd);
    if (rc != 0 && err == EADDRINUSE) {
        fprintf(stderr,
                "bennu: port %d on %s is already in use (another bennu, its workers, or another "
                "server); refusing to start the workers\n",
                port, addr);
        return -1;
    }
    return 0;
}

extern char **environ;

int bn_app_workers_run(int argc, char **argv, const bn_app_workers_cfg_t *cfg)
{
    static supervisor_t sv;
    sv.loop = uv_default_loop();
    sv.n = cfg->count > MAX_WORKERS ? MAX_WORKERS : cfg->count;
    sv.exit_code = 0;
    if (lock_port(cfg->port) != 0 || port_free(cfg->bind, cfg->port) != 0) {
        return 1;
    }
    size_t len = sizeof(sv.exe);
    if (uv_exepath(sv.exe, &len) != 0) {
        fprintf(stderr, "bennu: cannot find my own executable\n");
        return 1;
    }
    /* The children get the same flags minus --workers and minus the
     * secrets, which go in the environment (argv is public in ps). */
    sv.child_argv = calloc((size_t)argc + 1, sizeof(char *));
    if (sv.child_argv == NULL) {
        fprintf(stderr, "bennu: out of memory\n");
        return 1;
    }
    int k = 0;
    for (int i = 0; i < argc; i++) {
        bool takes_next = false;
        if (i > 0 && strcmp(argv[i], "--workers") == 0) {
            i++;
            continue;
        }
        if (i > 0 && (strncmp(argv[i], "--workers=", 10) == 0)) {
            continue;
        }
        if (i > 0 && is_secret_flag(argv[i], &takes_next)) {
            i += takes_next ? 1 : 0;
            continue;
        }
        sv.child_argv[k++] = argv[i];
    }
    sv.child_argv[0] = sv.exe;
    /* A generated cookie keeps the sibling links authenticated when the
     * operator gave none; such a node can still not be joined from outside. */
    char generated[48];
    const char *cookie = cfg->cookie;
    if (cookie == NULL) {
        uint8_t raw[16];
        uv_random(NULL, NULL, raw, sizeof(raw), 0, NULL);
        for (size_t i = 0; i < sizeof(raw); i++) {
            snprintf(generated + i * 2, 3, "%02x", raw[i]);
        }
        cookie = generated;
    }
    for (int i = 0; i < sv.n; i++) {
        sv.child_env[i] = env_with(environ, i, sv.n, cookie, cfg->secret_key_base);
        if (sv.child_env[i] == NULL) {
            fprintf(stderr, "bennu: out of memory\n");
            return 1;
        }
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
    for (int i = 0; i < sv.n && !sv.stopping; i++) {
        spawn(&sv, i);
    }
    uv_run(sv.loop, UV_RUN_DEFAULT);
    uv_loop_close(sv.loop);
    return sv.exit_code;
}
