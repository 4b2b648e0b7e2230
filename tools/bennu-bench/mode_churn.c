/* churn: C workers each looping connect, handshake, join, leave, close as
 * fast as the server allows; reports completed cycles per second. */
#include <stdio.h>
#include <stdlib.h>

#include "run.h"

typedef struct {
    bnb_run_t run;
    int running;
    int measuring;
    uint32_t open_workers;
    int all_closed;
    bnb_hist_t *lat;
    uint64_t cycles;
    uint64_t failures;
    uint64_t leave_errors;
} churn_t;

static void ch_text(bnb_run_t *r, bnb_sock_t *s, const bnb_phx_in_t *in, uint64_t now)
{
    (void)now;
    churn_t *c = r->mode;
    if (in->event != BNB_PHX_EV_REPLY || in->ref != 2) {
        return;
    }
    if (!in->status_ok) {
        c->leave_errors++;
    }
    /* The cycle is complete once the leave is acknowledged; the close that
     * follows is ours and must not count as a disconnect. */
    s->joined = 0;
    s->expect_close = 1;
    if (c->measuring) {
        c->cycles++;
        bnb_hist_record(c->lat, uv_hrtime() - s->conn.t_open);
    }
    bnb_conn_close(&s->conn, 0, "cycle done", 1);
}

static void ch_joined(bnb_run_t *r, bnb_sock_t *s, int ok)
{
    churn_t *c = r->mode;
    if (!ok) {
        if (c->measuring) {
            c->failures++;
        }
        return;
    }
    char buf[512];
    size_t n =
        bnb_phx_frame(buf, sizeof(buf), 1, s->next_ref++, r->topics[s->topic], "phx_leave", "{}");
    bnb_conn_send_text(&s->conn, buf, n);
}

static void ch_closed(bnb_run_t *r, bnb_sock_t *s, int err, const char *why)
{
    (void)err;
    (void)why;
    churn_t *c = r->mode;
    if (c->running && !r->stopping) {
        bnb_run_open_one(r, s);
        return;
    }
    if (--c->open_workers == 0) {
        c->all_closed = 1;
    }
}

static const bnb_mode_ops_t churn_ops = {ch_text, NULL, ch_joined, ch_closed};

int bnb_mode_churn(const bnb_config_t *cfg, json_t *res)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bnb_net_t *net = bnb_net_new(&loop, cfg);
    if (net == NULL) {
        (void)uv_loop_close(&loop);
        return 1;
    }
    churn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        abort();
    }
    bnb_run_init(&c->run, &loop, net, cfg, cfg->conns, &churn_ops, c);
    /* Workers reopen themselves; the dial queue is not used. */
    c->run.dial_next = cfg->conns;
    c->lat = malloc(sizeof(*c->lat));
    if (c->lat == NULL) {
        abort();
    }
    bnb_hist_init(c->lat);
    c->running = 1;
    c->open_workers = cfg->conns;
    for (uint32_t i = 0; i < cfg->conns; i++) {
        c->run.socks[i].topic = bnb_run_topic_for(&c->run, i);
        bnb_run_open_one(&c->run, &c->run.socks[i]);
    }
    bnb_run_for(&c->run, cfg->warmup);
    c->measuring = 1;
    double u0, s0, u1, s1;
    bnb_self_cpu(&u0, &s0);
    uint64_t t0 = uv_hrtime();
    bnb_run_for(&c->run, cfg->duration);
    uint64_t t1 = uv_hrtime();
    bnb_self_cpu(&u1, &s1);
    c->measuring = 0;
    c->running = 0;
    (void)bnb_run_until(&c->run, &c->all_closed, 5.0);
    bnb_run_close_all(&c->run);
    double secs = (double)(t1 - t0) / 1e9;
    json_object_set_new(res, "workers", json_integer(cfg->conns));
    json_object_set_new(res, "measured_s", json_real(secs));
    json_object_set_new(res, "cycles", json_integer((json_int_t)c->cycles));
    json_object_set_new(res, "cycles_per_s", json_real(secs > 0 ? (double)c->cycles / secs : 0));
    json_object_set_new(res, "failures", json_integer((json_int_t)c->failures));
    json_object_set_new(res, "leave_errors", json_integer((json_int_t)c->leave_errors));
    json_object_set_new(res, "disconnects", json_integer((json_int_t)c->run.disconnects));
    bnb_json_latency(res, "cycle_us", c->lat);
    json_object_set_new(res, "bench_cpu_pct",
                        json_real(secs > 0 ? 100.0 * (u1 - u0 + s1 - s0) / secs : 0));
    if (c->run.first_err) {
        json_object_set_new(res, "first_error", json_string(c->run.first_err_text));
    }
    int failed = c->cycles == 0;
    if (failed) {
        fprintf(stderr, "bennu-bench: no cycle completed%s%s\n",
                c->run.first_err ? "; first error: " : "",
                c->run.first_err ? c->run.first_err_text : "");
    }
    bnb_run_free(&c->run);
    bnb_net_free(net);
    (void)uv_loop_close(&loop);
    free(c->lat);
    free(c);
    free(net);
    return failed;
}
