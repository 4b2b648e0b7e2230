/* bennu processes; contracts in cluster.h. */
#include "cluster.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { EXPECT_NONE, EXPECT_KILL, EXPECT_TERM };

static uint64_t now_ms(const bnc_cluster_t *cl)
{
    return cl->now_ms(cl->now_ud);
}

/* A port the kernel just handed out and released; the node binds it a
 * moment later (SO_REUSEADDR) and keeps it across restarts. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

static int port_taken(const bnc_cluster_t *cl, int n, int port)
{
    for (int i = 0; i < n; i++) {
        if (cl->nodes[i].http_port == port || cl->nodes[i].mesh_port == port) {
            return 1;
        }
    }
    return 0;
}

/* A free port that none of nodes[0..n) has and that differs from `other`:
 * the kernel may hand out the port it just released again, and two nodes on
 * one port fail at start. */
static int fresh_port(const bnc_cluster_t *cl, int n, int other)
{
    for (int tries = 0; tries < 64; tries++) {
        int port = free_port();
        if (port > 0 && port != other && !port_taken(cl, n, port)) {
            return port;
        }
    }
    return -1;
}

int bnc_cluster_init(bnc_cluster_t *cl, uv_loop_t *loop, int n, const bnc_fabric_t *fab)
{
    cl->loop = loop;
    cl->n = n;
    cl->fab = fab;
    cl->imp_as = -1;
    cl->imp.idx = -1;
    cl->imp.cl = cl;
    for (int i = 0; i < n; i++) {
        bnc_node_t *nd = &cl->nodes[i];
        memset(nd, 0, sizeof(*nd));
        nd->cl = cl;
        nd->idx = i;
        snprintf(nd->name, sizeof(nd->name), "n%d@127.0.0.1", i);
        nd->http_port = fresh_port(cl, i, -1);
        nd->mesh_port = fresh_port(cl, i, nd->http_port);
        if (nd->http_port <= 0 || nd->mesh_port <= 0) {
            return UV_EADDRINUSE;
        }
    }
    return 0;
}

void bnc_cluster_use_netns(bnc_cluster_t *cl, const char *const *netns, const char *const *addr)
{
    for (int i = 0; i < cl->n; i++) {
        cl->netns[i] = netns[i];
        cl->addr[i] = addr[i];
        snprintf(cl->nodes[i].name, sizeof(cl->nodes[i].name), "n%d@%s", i, addr[i]);
    }
}

/* "n12@..." -> 12, or -1. */
static int node_index(const char *s, size_t len)
{
    if (len < 3 || s[0] != 'n') {
        return -1;
    }
    int v = 0;
    size_t i = 1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        if (v >= BNC_MAX_NODES) {
            return -1;
        }
    }
    return i > 1 && i < len && s[i] == '@' ? v : -1;
}

/* The value of " key=" in line, up to the next space; NULL if absent. */
static const char *field(const char *line, const char *key, size_t *len)
{
    size_t kl = strlen(key);
    for (const char *p = strstr(line, key); p != NULL; p = strstr(p + 1, key)) {
        if ((p == line || p[-1] == ' ') && p[kl] == '=') {
            const char *v = p + kl + 1;
            *len = strcspn(v, " ");
            return v;
        }
    }
    return NULL;
}

static void add_event(bnc_cluster_t *cl, bnc_node_t *nd, const char *line, int up)
{
    size_t len;
    const char *peer = field(line, "node", &len);
    int p = peer != NULL ? node_index(peer, len) : -1;
    if (p < 0) {
        return; /* the hidden probe, or a name we did not give */
    }
    if (cl->n_events == cl->cap_events) {
        cl->cap_events = cl->cap_events ? cl->cap_events * 2 : 256;
        cl->events = realloc(cl->events, cl->cap_events * sizeof(*cl->events));
        if (cl->events == NULL) {
            abort();
        }
    }
    bnc_mesh_event_t *e = &cl->events[cl->n_events++];
    memset(e, 0, sizeof(*e));
    e->t_ms = now_ms(cl);
    e->observer = nd->idx;
    e->peer = p;
    e->up = up;
    const char *r = field(line, "reason", &len);
    if (r != NULL) {
        snprintf(e->reason, sizeof(e->reason), "%.*s", (int)len, r);
    }
}

static uint64_t field_u64(const char *line, const char *key)
{
    size_t len;
    const char *v = field(line, key, &len);
    return v != NULL ? strtoull(v, NULL, 10) : 0;
}

static void impostor_line(bnc_cluster_t *cl, const char *line, uint64_t t)
{
    if (strstr(line, "event=mesh_nodeup ") != NULL) {
        cl->imp_nodeups++;
    } else if (strstr(line, "event=mesh_refused ") != NULL &&
               cl->n_refusals < sizeof(cl->refusals) / sizeof(cl->refusals[0])) {
        bnc_refusal_t *r = &cl->refusals[cl->n_refusals++];
        memset(r, 0, sizeof(*r));
        r->t_ms = t;
        size_t len;
        const char *v = field(line, "addr", &len);
        if (v != NULL) {
            snprintf(r->addr, sizeof(r->addr), "%.*s", (int)len, v);
        }
        v = field(line, "reason", &len);
        if (v != NULL) {
            snprintf(r->reason, sizeof(r->reason), "%.*s", (int)len, v);
        }
    }
}

static void on_line(bnc_node_t *nd, const char *line)
{
    bnc_cluster_t *cl = nd->cl;
    uint64_t t = now_ms(cl);
    nd->lines++;
    if (nd->log != NULL) {
        fprintf(nd->log, "+%llu.%03llu %s\n", (unsigned long long)(t / 1000),
                (unsigned long long)(t % 1000), line);
    }
    if (strstr(line, "AddressSanitizer") != NULL || strstr(line, "LeakSanitizer") != NULL ||
        strstr(line, "UndefinedBehaviorSanitizer") != NULL ||
        strstr(line, "runtime error:") != NULL) {
        nd->sanitizer_lines++;
    }
    if (nd->idx < 0) {
        impostor_line(cl, line, t);
        return;
    }
    if (strstr(line, "event=mesh_name_clash ") != NULL) {
        if (nd->name_clashes++ == 0) {
            nd->first_name_clash_ms = t;
        }
    } else if (strstr(line, "event=mesh_preauth_summary ") != NULL) {
        nd->preauth_summaries++;
        nd->pa_accepted += field_u64(line, "accepted");
        nd->pa_evicted += field_u64(line, "evicted");
        nd->pa_closed += field_u64(line, "closed");
        unsigned open = (unsigned)field_u64(line, "open");
        if (open > nd->pa_open_max) {
            nd->pa_open_max = open;
        }
    }
    if (strstr(line, "event=mesh_nodeup ") != NULL) {
        add_event(cl, nd, line, 1);
    } else if (strstr(line, "event=mesh_nodedown ") != NULL) {
        add_event(cl, nd, line, 0);
    } else if (strstr(line, "event=listening ") != NULL) {
        nd->listening = 1;
        nd->listen_ms = t;
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    bnc_node_t *nd = h->data;
    size_t room = sizeof(nd->line) - 1 - nd->line_len;
    *buf = uv_buf_init(nd->line + nd->line_len, (unsigned)room);
}

static void maybe_restart(bnc_node_t *nd);

static void handle_closed(uv_handle_t *h)
{
    bnc_node_t *nd = h->data;
    if (--nd->handles == 0) {
        maybe_restart(nd);
        bnc_cluster_t *cl = nd->cl;
        if (cl->idle_cb != NULL) {
            for (int i = 0; i < cl->n; i++) {
                if (cl->nodes[i].handles > 0) {
                    return;
                }
            }
            if (cl->imp.handles > 0) {
                return;
            }
            void (*cb)(void *) = cl->idle_cb;
            cl->idle_cb = NULL;
            cb(cl->idle_ud);
        }
    }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    bnc_node_t *nd = s->data;
    if (nread < 0) {
        if (nd->line_len > 0) {
            nd->line[nd->line_len] = '\0';
            on_line(nd, nd->line);
            nd->line_len = 0;
        }
        uv_close((uv_handle_t *)s, handle_closed);
        return;
    }
    nd->line_len += (size_t)nread;
    size_t start = 0;
    for (size_t i = 0; i < nd->line_len; i++) {
        if (nd->line[i] == '\n') {
            nd->line[i] = '\0';
            on_line(nd, nd->line + start);
            start = i + 1;
        }
    }
    memmove(nd->line, nd->line + start, nd->line_len - start);
    nd->line_len -= start;
    if (nd->line_len == sizeof(nd->line) - 1) {
        /* An absurdly long line: cut it rather than stall the pipe. */
        nd->line[nd->line_len] = '\0';
        on_line(nd, nd->line);
        nd->line_len = 0;
    }
}

static void exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    bnc_node_t *nd = p->data;
    bnc_cluster_t *cl = nd->cl;
    if (cl->n_exits < sizeof(cl->exits) / sizeof(cl->exits[0])) {
        bnc_exit_t *e = &cl->exits[cl->n_exits++];
        e->t_ms = now_ms(cl);
        e->node = nd->idx;
        e->status = status;
        e->signal = term_signal;
        e->expected = (nd->expect_exit == EXPECT_KILL && term_signal == SIGKILL) ||
                      (nd->expect_exit == EXPECT_TERM && term_signal == 0 && status == 0);
    }
    nd->pid = 0;
    nd->paused = 0;
    nd->listening = 0;
    uv_close((uv_handle_t *)p, handle_closed);
}

static int spawn(bnc_node_t *nd)
{
    bnc_cluster_t *cl = nd->cl;
    char port[16];
    char mesh_port[16];
    char tick[16];
    char down[16];
    snprintf(port, sizeof(port), "%d", nd->http_port);
    snprintf(mesh_port, sizeof(mesh_port), "%d", nd->mesh_port);
    snprintf(tick, sizeof(tick), "%u", cl->tick_ms);
    snprintf(down, sizeof(down), "%u", cl->down_ms);
    char joins[BNC_MAX_NODES][48];
    char overrides[BNC_MAX_NODES][96];
    char *args[64 + 4 * BNC_MAX_NODES];
    int a = 0;
    const char *ns = nd->idx >= 0 ? cl->netns[nd->idx] : NULL;
    if (ns != NULL) {
        /* ip execs bennu in place after entering the namespace, so the
         * pid we signal is the node's own. */
        args[a++] = "ip";
        args[a++] = "netns";
        args[a++] = "exec";
        args[a++] = (char *)ns;
    }
    args[a++] = (char *)cl->bennu;
    if (ns != NULL) {
        args[a++] = "--bind";
        args[a++] = (char *)cl->addr[nd->idx];
        args[a++] = "--mesh-bind";
        args[a++] = (char *)cl->addr[nd->idx];
    }
    args[a++] = "--port";
    args[a++] = port;
    args[a++] = "--mesh-port";
    args[a++] = mesh_port;
    args[a++] = "--name";
    args[a++] = nd->name;
    args[a++] = "--cookie";
    args[a++] = (char *)cl->cookie;
    args[a++] = "--secret-key-base";
    args[a++] = (char *)cl->secret;
    args[a++] = "--tick-ms";
    args[a++] = tick;
    args[a++] = "--down-ms";
    args[a++] = down;
    args[a++] = "--log-level";
    args[a++] = "info";
    for (int j = 0; j < cl->n; j++) {
        if (j == nd->idx) {
            continue;
        }
        if (nd->idx < 0) {
            /* The impostor seeds from every node's own mesh port: it is
             * not part of the fabric, and the node whose name it took
             * must refuse it too. */
            snprintf(joins[j], sizeof(joins[j]), "127.0.0.1:%d", cl->nodes[j].mesh_port);
            args[a++] = "--join";
            args[a++] = joins[j];
            continue;
        }
        if (ns != NULL) {
            snprintf(joins[j], sizeof(joins[j]), "%s:%d", cl->addr[j], cl->nodes[j].mesh_port);
            args[a++] = "--join";
            args[a++] = joins[j];
            continue;
        }
        int pp = cl->fab->listen_port[nd->idx][j];
        snprintf(joins[j], sizeof(joins[j]), "127.0.0.1:%d", pp);
        snprintf(overrides[j], sizeof(overrides[j]), "%s=127.0.0.1:%d", cl->nodes[j].name, pp);
        args[a++] = "--join";
        args[a++] = joins[j];
        args[a++] = "--dial-override";
        args[a++] = overrides[j];
    }
    args[a] = NULL;

    uv_pipe_init(cl->loop, &nd->err, 0);
    nd->err.data = nd;
    nd->handles++;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&nd->err;
    uv_process_options_t opt;
    memset(&opt, 0, sizeof(opt));
    opt.file = args[0];
    opt.args = args;
    opt.exit_cb = exit_cb;
    opt.stdio = stdio;
    opt.stdio_count = 3;
    nd->proc.data = nd;
    nd->expect_exit = EXPECT_NONE;
    int rc = uv_spawn(cl->loop, &nd->proc, &opt);
    if (rc != 0) {
        /* uv_spawn leaves the process handle needing a close too. */
        nd->handles++;
        uv_close((uv_handle_t *)&nd->proc, handle_closed);
        uv_close((uv_handle_t *)&nd->err, handle_closed);
        return rc;
    }
    nd->handles++;
    nd->pid = nd->proc.pid;
    nd->starts++;
    nd->line_len = 0;
    if (nd->log != NULL) {
        fprintf(nd->log, "+%llu.%03llu [bennu-chaos] start #%d pid=%d\n",
                (unsigned long long)(now_ms(cl) / 1000), (unsigned long long)(now_ms(cl) % 1000),
                nd->starts, nd->pid);
    }
    uv_read_start((uv_stream_t *)&nd->err, alloc_cb, read_cb);
    return 0;
}

static void maybe_restart(bnc_node_t *nd)
{
    if (nd->restart_pending && nd->handles == 0) {
        nd->restart_pending = 0;
        spawn(nd);
    }
}

int bnc_node_start(bnc_cluster_t *cl, int i)
{
    bnc_node_t *nd = &cl->nodes[i];
    if (nd->log == NULL && cl->out_dir != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/n%d.log", cl->out_dir, i);
        nd->log = fopen(path, "w");
        if (nd->log != NULL) {
            setvbuf(nd->log, NULL, _IOLBF, 0);
        }
    }
    if (nd->pid != 0) {
        return 0;
    }
    if (nd->handles > 0) {
        nd->restart_pending = 1;
        return 0;
    }
    return spawn(nd);
}

int bnc_impostor_start(bnc_cluster_t *cl, int as_node)
{
    bnc_node_t *nd = &cl->imp;
    if (cl->imp_as >= 0 || as_node < 0 || as_node >= cl->n) {
        return UV_EALREADY;
    }
    cl->imp_as = as_node;
    nd->idx = -1;
    nd->cl = cl;
    snprintf(nd->name, sizeof(nd->name), "%s", cl->nodes[as_node].name);
    nd->http_port = fresh_port(cl, cl->n, -1);
    nd->mesh_port = fresh_port(cl, cl->n, nd->http_port);
    if (nd->http_port <= 0 || nd->mesh_port <= 0) {
        return UV_EADDRINUSE;
    }
    if (cl->out_dir != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/impostor.log", cl->out_dir);
        nd->log = fopen(path, "w");
        if (nd->log != NULL) {
            setvbuf(nd->log, NULL, _IOLBF, 0);
        }
    }
    return spawn(nd);
}

void bnc_impostor_stop(bnc_cluster_t *cl)
{
    bnc_node_t *nd = &cl->imp;
    if (nd->pid != 0) {
        nd->expect_exit = EXPECT_TERM;
        uv_process_kill(&nd->proc, SIGTERM);
    }
}

void bnc_node_kill(bnc_cluster_t *cl, int i)
{
    bnc_node_t *nd = &cl->nodes[i];
    if (nd->pid != 0) {
        nd->expect_exit = EXPECT_KILL;
        uv_process_kill(&nd->proc, SIGKILL);
    }
}

void bnc_node_pause(bnc_cluster_t *cl, int i)
{
    bnc_node_t *nd = &cl->nodes[i];
    if (nd->pid != 0 && !nd->paused) {
        nd->paused = 1;
        uv_process_kill(&nd->proc, SIGSTOP);
    }
}

void bnc_node_resume(bnc_cluster_t *cl, int i)
{
    bnc_node_t *nd = &cl->nodes[i];
    if (nd->pid != 0 && nd->paused) {
        nd->paused = 0;
        uv_process_kill(&nd->proc, SIGCONT);
    }
}

uint64_t bnc_node_rss_kb(const bnc_node_t *nd)
{
    if (nd->pid == 0) {
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", nd->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

void bnc_cluster_stop(bnc_cluster_t *cl, void (*cb)(void *ud), void *ud)
{
    cl->idle_cb = cb;
    cl->idle_ud = ud;
    int busy = 0;
    for (int i = 0; i < cl->n; i++) {
        bnc_node_t *nd = &cl->nodes[i];
        nd->restart_pending = 0;
        if (nd->pid != 0) {
            bnc_node_resume(cl, i);
            nd->expect_exit = EXPECT_TERM;
            uv_process_kill(&nd->proc, SIGTERM);
        }
        busy |= nd->handles > 0;
    }
    bnc_impostor_stop(cl);
    busy |= cl->imp.handles > 0;
    if (!busy) {
        cl->idle_cb = NULL;
        cb(ud);
    }
}

void bnc_cluster_kill_all(bnc_cluster_t *cl)
{
    for (int i = 0; i < cl->n; i++) {
        bnc_node_t *nd = &cl->nodes[i];
        if (nd->pid != 0) {
            uv_process_kill(&nd->proc, SIGCONT);
            uv_process_kill(&nd->proc, SIGKILL);
        }
    }
    if (cl->imp.pid != 0) {
        uv_process_kill(&cl->imp.proc, SIGKILL);
    }
}

int bnc_cluster_crashes(const bnc_cluster_t *cl)
{
    int c = 0;
    for (size_t i = 0; i < cl->n_exits; i++) {
        c += !cl->exits[i].expected;
    }
    return c;
}

void bnc_cluster_free(bnc_cluster_t *cl)
{
    for (int i = 0; i < cl->n; i++) {
        if (cl->nodes[i].log != NULL) {
            fclose(cl->nodes[i].log);
            cl->nodes[i].log = NULL;
        }
    }
    if (cl->imp.log != NULL) {
        fclose(cl->imp.log);
        cl->imp.log = NULL;
    }
    free(cl->events);
    cl->events = NULL;
}
