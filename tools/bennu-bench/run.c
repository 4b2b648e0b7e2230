/* Shared run machinery; contracts in run.h. */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

static bnb_run_t *run_of(bnb_conn_t *c)
{
    return c->net->ud;
}

static void record_err(bnb_run_t *r, int err, const char *why)
{
    if (r->first_err != 0 || err == 0) {
        return;
    }
    r->first_err = err;
    /* Codes -1..-24 are ours (wsproto.h) and their text is already in why;
     * the rest are libuv codes worth spelling out. */
    if (err < -24) {
        snprintf(r->first_err_text, sizeof(r->first_err_text), "%s: %s", why ? why : "error",
                 uv_strerror(err));
    } else {
        snprintf(r->first_err_text, sizeof(r->first_err_text), "%s", why ? why : "error");
    }
}

static void dial_done(bnb_run_t *r, bnb_sock_t *s, int ok)
{
    if (r->dial_inflight > 0) {
        r->dial_inflight--;
    }
    if (ok) {
        r->dial_ok++;
    } else {
        r->dial_failed++;
    }
    r->dial_t1 = uv_hrtime();
    r->ops->joined(r, s, ok);
    if (r->dial_next < r->nsocks) {
        bnb_run_dial(r);
    }
}

static void on_open(bnb_conn_t *c)
{
    bnb_sock_t *s = c->ud;
    bnb_run_send_join(run_of(c), s);
}

static void on_text(bnb_conn_t *c, const char *data, size_t len, uint64_t now)
{
    bnb_run_t *r = run_of(c);
    bnb_sock_t *s = c->ud;
    bnb_phx_in_t in;
    if (bnb_phx_classify(data, len, &in) != 0) {
        return;
    }
    if (!s->joined) {
        if (in.event == BNB_PHX_EV_REPLY && in.ref == 1) {
            if (in.status_ok) {
                s->joined = 1;
                dial_done(r, s, 1);
            } else {
                s->failed = 1;
                record_err(r, -1, "join refused");
                if (r->first_err == -1) {
                    snprintf(r->first_err_text, sizeof(r->first_err_text), "join refused: %.*s",
                             (int)(len > 150 ? 150 : len), data);
                }
                bnb_conn_close(c, 0, "join refused", 1);
                dial_done(r, s, 0);
            }
        }
        return;
    }
    if (in.event == BNB_PHX_EV_REPLY && in.topic_len == 7 && memcmp(in.topic, "phoenix", 7) == 0) {
        if (in.status_ok) {
            r->hb_ok++;
        }
        return;
    }
    r->ops->text(r, s, &in, now);
}

static void on_read_done(bnb_conn_t *c)
{
    bnb_run_t *r = run_of(c);
    if (r->ops->read_done != NULL) {
        r->ops->read_done(r, c->ud);
    }
}

static void on_close(bnb_conn_t *c, int err, const char *why)
{
    bnb_run_t *r = run_of(c);
    bnb_sock_t *s = c->ud;
    if (s->expect_close) {
        s->expect_close = 0;
    } else if (!s->joined && !s->failed) {
        s->failed = 1;
        record_err(r, err, why);
        dial_done(r, s, 0);
    } else if (s->joined && !r->stopping) {
        r->disconnects++;
        record_err(r, err, why);
    }
    r->ops->closed(r, s, err, why);
}

int bnb_run_init(bnb_run_t *r, uv_loop_t *loop, bnb_net_t *net, const bnb_config_t *cfg, uint32_t n,
                 const bnb_mode_ops_t *ops, void *mode)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->loop = loop;
    r->net = net;
    r->ops = ops;
    r->mode = mode;
    r->nsocks = n;
    r->socks = calloc(n ? n : 1, sizeof(*r->socks));
    r->ntopics = cfg->topics;
    r->topics = calloc(r->ntopics, sizeof(*r->topics));
    if (r->socks == NULL || r->topics == NULL) {
        abort();
    }
    for (uint32_t t = 0; t < r->ntopics; t++) {
        if (r->ntopics == 1) {
            snprintf(r->topics[t], sizeof(r->topics[t]), "%s", cfg->topic);
        } else {
            snprintf(r->topics[t], sizeof(r->topics[t]), "room:bench%u", t);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        r->socks[i].conn.id = i;
        r->socks[i].conn.ud = &r->socks[i];
        r->socks[i].conn.state = BNB_CONN_IDLE;
    }
    net->on_open = on_open;
    net->on_text = on_text;
    net->on_read_done = on_read_done;
    net->on_close = on_close;
    net->ud = r;
    uv_timer_init(loop, &r->hb_timer);
    r->hb_timer.data = r;
    return 0;
}

void bnb_run_free(bnb_run_t *r)
{
    free(r->socks);
    free(r->topics);
    r->socks = NULL;
    r->topics = NULL;
}

uint32_t bnb_run_topic_for(const bnb_run_t *r, uint32_t i)
{
    return i % r->ntopics;
}

void bnb_run_send_join(bnb_run_t *r, bnb_sock_t *s)
{
    char buf[512];
    s->next_ref = 1;
    size_t n = bnb_phx_frame(buf, sizeof(buf), 1, 1, r->topics[s->topic], "phx_join", "{}");
    s->next_ref = 2;
    bnb_conn_send_text(&s->conn, buf, n);
}

void bnb_run_open_one(bnb_run_t *r, bnb_sock_t *s)
{
    s->joined = 0;
    s->failed = 0;
    s->expect_close = 0;
    int rc = bnb_conn_open(r->net, &s->conn);
    if (rc != 0) {
        s->failed = 1;
        record_err(r, rc, "socket");
        r->dial_failed++;
        r->ops->joined(r, s, 0);
    }
}

void bnb_run_dial(bnb_run_t *r)
{
    if (r->dial_t0 == 0) {
        r->dial_t0 = uv_hrtime();
    }
    while (r->dial_next < r->nsocks && r->dial_inflight < r->cfg->connect_concurrency &&
           !r->stopping) {
        bnb_sock_t *s = &r->socks[r->dial_next++];
        r->dial_inflight++;
        s->joined = 0;
        s->failed = 0;
        s->expect_close = 0;
        int rc = bnb_conn_open(r->net, &s->conn);
        if (rc != 0) {
            s->failed = 1;
            record_err(r, rc, "socket");
            dial_done(r, s, 0);
        }
    }
}

static void on_hb(uv_timer_t *t)
{
    bnb_run_t *r = t->data;
    uint64_t period = (uint64_t)ceil(r->cfg->heartbeat);
    uint64_t slot = r->hb_tick++ % period;
    char buf[128];
    for (uint32_t i = 0; i < r->nsocks; i++) {
        bnb_sock_t *s = &r->socks[i];
        if (i % period != slot || !s->joined || s->conn.state != BNB_CONN_OPEN) {
            continue;
        }
        size_t n = bnb_phx_frame(buf, sizeof(buf), 0, s->next_ref++, "phoenix", "heartbeat", "{}");
        bnb_conn_send_text(&s->conn, buf, n);
        r->hb_sent++;
    }
}

void bnb_run_heartbeat_start(bnb_run_t *r)
{
    uv_timer_start(&r->hb_timer, on_hb, 1000, 1000);
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
}

void bnb_run_close_all(bnb_run_t *r)
{
    r->stopping = 1;
    uv_timer_stop(&r->hb_timer);
    if (!uv_is_closing((uv_handle_t *)&r->hb_timer)) {
        uv_close((uv_handle_t *)&r->hb_timer, on_timer_closed);
    }
    for (uint32_t i = 0; i < r->nsocks; i++) {
        bnb_conn_close(&r->socks[i].conn, 0, "benchmark finished", 1);
    }
    uv_run(r->loop, UV_RUN_DEFAULT);
}

typedef struct {
    int expired;
} wait_t;

static void on_wait_timer(uv_timer_t *t)
{
    ((wait_t *)t->data)->expired = 1;
}

int bnb_run_until(bnb_run_t *r, const int *flag, double timeout_s)
{
    wait_t w = {0};
    uv_timer_t t;
    uv_timer_init(r->loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_wait_timer, (uint64_t)(timeout_s * 1000.0 + 0.5), 0);
    while ((flag == NULL || !*flag) && !w.expired) {
        uv_run(r->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&t);
    uv_close((uv_handle_t *)&t, on_timer_closed);
    /* Let the close callback run so the stack timer is never referenced
     * after this frame returns. */
    uv_run(r->loop, UV_RUN_NOWAIT);
    return flag != NULL && *flag;
}

void bnb_run_for(bnb_run_t *r, double s)
{
    (void)bnb_run_until(r, NULL, s);
}

/* ---- probes ---- */

void bnb_self_cpu(double *user_s, double *sys_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* These /proc reads are synchronous on purpose: they happen only at phase
 * boundaries, where a few microseconds of blocking do not matter. */
double bnb_proc_cpu(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may contain spaces; fields resume after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    /* After ')': state(3) ... utime is field 14, stime 15. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2) {
        return -1;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

long bnb_proc_rss_kb(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

uint64_t bnb_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 1024;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (uint64_t)rl.rlim_cur;
}

void bnb_exec(const char *cmd)
{
    if (cmd == NULL) {
        return;
    }
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "bennu-bench: warning: '%s' exited with status %d\n", cmd, rc);
    }
}

void bnb_json_latency(json_t *obj, const char *key, const bnb_hist_t *h)
{
    json_t *l = json_object();
    json_object_set_new(l, "count", json_integer((json_int_t)h->count));
    json_object_set_new(l, "mean", json_real(bnb_hist_mean(h) / 1e3));
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        json_object_set_new(l, qs[i].name, json_real((double)bnb_hist_quantile(h, qs[i].q) / 1e3));
    }
    json_object_set_new(l, "max", json_real((double)h->max / 1e3 * (h->count > 0)));
    /* A percentile spectrum for plotting the distribution. */
    static const double spectrum[] = {0,    0.1,   0.25,  0.5,    0.75,   0.9, 0.95,
                                      0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0};
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof(spectrum) / sizeof(spectrum[0]); i++) {
        json_t *pair = json_array();
        json_array_append_new(pair, json_real(spectrum[i]));
        json_array_append_new(pair, json_real((double)bnb_hist_quantile(h, spectrum[i]) / 1e3));
        json_array_append_new(arr, pair);
    }
    json_object_set_new(l, "spectrum", arr);
    json_object_set_new(obj, key, l);
}
