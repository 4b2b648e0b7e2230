/* conns: N joined sockets kept alive with heartbeats; connect rate,
 * failures and (with --server-pid) server memory per socket. */
#include <stdio.h>
#include <stdlib.h>

#include "run.h"

typedef struct {
    bnb_run_t run;
    int setup_done;
    uint64_t channel_closes;
} conns_t;

static void cn_text(bnb_run_t *r, bnb_sock_t *s, const bnb_phx_in_t *in, uint64_t now)
{
    (void)s;
    (void)now;
    conns_t *c = r->mode;
    if (in->event == BNB_PHX_EV_CLOSE || in->event == BNB_PHX_EV_ERROR) {
        c->channel_closes++;
    }
}

static void cn_joined(bnb_run_t *r, bnb_sock_t *s, int ok)
{
    (void)s;
    (void)ok;
    conns_t *c = r->mode;
    if (r->dial_ok + r->dial_failed == r->nsocks) {
        c->setup_done = 1;
    }
}

static void cn_closed(bnb_run_t *r, bnb_sock_t *s, int err, const char *why)
{
    (void)r;
    (void)s;
    (void)err;
    (void)why;
}

static const bnb_mode_ops_t conns_ops = {cn_text, NULL, cn_joined, cn_closed};

int bnb_mode_conns(const bnb_config_t *cfg, json_t *res)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bnb_net_t *net = bnb_net_new(&loop, cfg);
    if (net == NULL) {
        (void)uv_loop_close(&loop);
        return 1;
    }
    conns_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        abort();
    }
    bnb_run_init(&c->run, &loop, net, cfg, cfg->conns, &conns_ops, c);
    for (uint32_t i = 0; i < cfg->conns; i++) {
        c->run.socks[i].topic = bnb_run_topic_for(&c->run, i);
    }
    long rss0 = cfg->server_pid ? bnb_proc_rss_kb(cfg->server_pid) : -1;
    bnb_run_dial(&c->run);
    bnb_run_heartbeat_start(&c->run);
    (void)bnb_run_until(&c->run, &c->setup_done, cfg->connect_timeout);
    double connect_s = (double)(c->run.dial_t1 - c->run.dial_t0) / 1e9;
    /* Give the server a moment to finish its own bookkeeping for the last
     * joins before sampling its memory. */
    bnb_run_for(&c->run, 0.5);
    long rss1 = cfg->server_pid ? bnb_proc_rss_kb(cfg->server_pid) : -1;
    double u0, s0, u1, s1;
    bnb_self_cpu(&u0, &s0);
    uint64_t hb_sent0 = c->run.hb_sent;
    uint64_t hb_ok0 = c->run.hb_ok;
    if (c->run.dial_ok > 0) {
        bnb_run_for(&c->run, cfg->duration);
    }
    bnb_self_cpu(&u1, &s1);
    uint64_t open_at_end = 0;
    for (uint32_t i = 0; i < cfg->conns; i++) {
        open_at_end += c->run.socks[i].joined && c->run.socks[i].conn.state == BNB_CONN_OPEN;
    }
    uint64_t hb_sent = c->run.hb_sent - hb_sent0;
    uint64_t hb_ok = c->run.hb_ok - hb_ok0;
    bnb_run_close_all(&c->run);

    json_object_set_new(res, "conns", json_integer(cfg->conns));
    json_object_set_new(res, "joined", json_integer(c->run.dial_ok));
    json_object_set_new(res, "failed", json_integer(c->run.dial_failed));
    json_object_set_new(res, "connect_s", json_real(connect_s));
    json_object_set_new(res, "connects_per_s",
                        json_real(connect_s > 0 ? c->run.dial_ok / connect_s : 0));
    json_object_set_new(res, "held_s", json_real(cfg->duration));
    json_object_set_new(res, "open_at_end", json_integer((json_int_t)open_at_end));
    json_object_set_new(res, "disconnects", json_integer((json_int_t)c->run.disconnects));
    json_object_set_new(res, "channel_closes", json_integer((json_int_t)c->channel_closes));
    json_object_set_new(res, "heartbeats_sent", json_integer((json_int_t)hb_sent));
    json_object_set_new(res, "heartbeats_ok", json_integer((json_int_t)hb_ok));
    if (rss0 >= 0 && rss1 >= 0) {
        json_object_set_new(res, "server_rss_before_kb", json_integer(rss0));
        json_object_set_new(res, "server_rss_after_kb", json_integer(rss1));
        json_object_set_new(
            res, "server_bytes_per_socket",
            json_real(c->run.dial_ok ? (double)(rss1 - rss0) * 1024.0 / c->run.dial_ok : 0));
    }
    json_object_set_new(res, "bench_cpu_pct",
                        json_real(100.0 * (u1 - u0 + s1 - s0) / cfg->duration));
    if (c->run.first_err) {
        json_object_set_new(res, "first_error", json_string(c->run.first_err_text));
    }
    int failed = c->run.dial_ok == 0;
    if (failed) {
        fprintf(stderr, "bennu-bench: no socket joined%s%s\n",
                c->run.first_err ? "; first error: " : "",
                c->run.first_err ? c->run.first_err_text : "");
    }
    bnb_run_free(&c->run);
    bnb_net_free(net);
    (void)uv_loop_close(&loop);
    free(c);
    free(net);
    return failed;
}
