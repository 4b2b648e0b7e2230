/* pingpong: C sockets, each with one "ping" push outstanding at a time;
 * the server answers with an ok reply carrying the same payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

typedef struct {
    uint64_t ref;     /* ref of the outstanding ping, 0 if none */
    uint64_t sent_at; /* uv_hrtime() of that ping */
} pp_sock_t;

typedef struct {
    bnb_run_t run;
    const bnb_config_t *cfg;
    pp_sock_t *pp;
    int setup_done;
    int running;
    int measuring;
    char *payload;
    char *scratch;
    size_t scratch_cap;
    bnb_hist_t *lat;
    uint64_t round_trips;
    uint64_t errors;
} pingpong_t;

static void send_ping(pingpong_t *p, bnb_sock_t *s)
{
    pp_sock_t *ps = &p->pp[s->conn.id];
    ps->ref = s->next_ref++;
    ps->sent_at = uv_hrtime();
    size_t n = bnb_phx_frame(p->scratch, p->scratch_cap, 1, ps->ref, p->run.topics[s->topic],
                             "ping", p->payload);
    bnb_conn_send_text(&s->conn, p->scratch, n);
}

static void pp_text(bnb_run_t *r, bnb_sock_t *s, const bnb_phx_in_t *in, uint64_t now)
{
    pingpong_t *p = r->mode;
    pp_sock_t *ps = &p->pp[s->conn.id];
    if (in->event != BNB_PHX_EV_REPLY || in->ref != ps->ref || ps->ref == 0) {
        return;
    }
    ps->ref = 0;
    if (!in->status_ok) {
        p->errors++;
    } else if (p->measuring) {
        p->round_trips++;
        bnb_hist_record(p->lat, now - ps->sent_at);
    }
    if (p->running) {
        send_ping(p, s);
    }
}

static void pp_joined(bnb_run_t *r, bnb_sock_t *s, int ok)
{
    (void)s;
    pingpong_t *p = r->mode;
    if (!ok || r->dial_ok + r->dial_failed == r->nsocks) {
        p->setup_done = 1;
    }
}

static void pp_closed(bnb_run_t *r, bnb_sock_t *s, int err, const char *why)
{
    (void)r;
    (void)s;
    (void)err;
    (void)why;
}

static const bnb_mode_ops_t pingpong_ops = {pp_text, NULL, pp_joined, pp_closed};

int bnb_mode_pingpong(const bnb_config_t *cfg, json_t *res)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bnb_net_t *net = bnb_net_new(&loop, cfg);
    if (net == NULL) {
        (void)uv_loop_close(&loop);
        return 1;
    }
    pingpong_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        abort();
    }
    p->cfg = cfg;
    bnb_run_init(&p->run, &loop, net, cfg, cfg->conns, &pingpong_ops, p);
    p->pp = calloc(cfg->conns, sizeof(*p->pp));
    p->lat = malloc(sizeof(*p->lat));
    p->payload = malloc((size_t)cfg->body_size + 16);
    p->scratch_cap = (size_t)cfg->body_size + 512;
    p->scratch = malloc(p->scratch_cap);
    if (p->pp == NULL || p->lat == NULL || p->payload == NULL || p->scratch == NULL) {
        abort();
    }
    bnb_hist_init(p->lat);
    memcpy(p->payload, "{\"body\":\"", 9);
    memset(p->payload + 9, 'x', cfg->body_size);
    memcpy(p->payload + 9 + cfg->body_size, "\"}", 3);
    for (uint32_t i = 0; i < cfg->conns; i++) {
        p->run.socks[i].topic = bnb_run_topic_for(&p->run, i);
    }
    int failed = 0;
    bnb_run_dial(&p->run);
    bnb_run_heartbeat_start(&p->run);
    if (!bnb_run_until(&p->run, &p->setup_done, cfg->connect_timeout) ||
        p->run.dial_ok != cfg->conns) {
        fprintf(stderr, "bennu-bench: setup failed: %u of %u sockets joined%s%s\n", p->run.dial_ok,
                cfg->conns, p->run.first_err ? "; first error: " : "",
                p->run.first_err ? p->run.first_err_text : "");
        failed = 1;
    }
    double u0 = 0, s0 = 0, u1 = 0, s1 = 0, srv0 = -1, srv1 = -1;
    uint64_t t0 = 0, t1 = 0;
    if (!failed) {
        p->running = 1;
        for (uint32_t i = 0; i < cfg->conns; i++) {
            send_ping(p, &p->run.socks[i]);
        }
        bnb_run_for(&p->run, cfg->warmup);
        bnb_exec(cfg->exec_start);
        p->measuring = 1;
        bnb_self_cpu(&u0, &s0);
        srv0 = cfg->server_pid ? bnb_proc_cpu(cfg->server_pid) : -1;
        t0 = uv_hrtime();
        bnb_run_for(&p->run, cfg->duration);
        t1 = uv_hrtime();
        p->measuring = 0;
        p->running = 0;
        bnb_self_cpu(&u1, &s1);
        srv1 = cfg->server_pid ? bnb_proc_cpu(cfg->server_pid) : -1;
        bnb_exec(cfg->exec_end);
    }
    bnb_run_close_all(&p->run);
    double secs = (double)(t1 - t0) / 1e9;
    json_object_set_new(res, "conns", json_integer(cfg->conns));
    json_object_set_new(res, "body_size", json_integer(cfg->body_size));
    json_object_set_new(res, "measured_s", json_real(secs));
    json_object_set_new(res, "round_trips", json_integer((json_int_t)p->round_trips));
    json_object_set_new(res, "round_trips_per_s",
                        json_real(secs > 0 ? (double)p->round_trips / secs : 0));
    json_object_set_new(res, "error_replies", json_integer((json_int_t)p->errors));
    json_object_set_new(res, "disconnects", json_integer((json_int_t)p->run.disconnects));
    bnb_json_latency(res, "latency_us", p->lat);
    json_object_set_new(res, "bench_cpu_pct",
                        json_real(secs > 0 ? 100.0 * (u1 - u0 + s1 - s0) / secs : 0));
    if (srv0 >= 0 && srv1 >= 0) {
        json_object_set_new(res, "server_cpu_s", json_real(srv1 - srv0));
        json_object_set_new(res, "server_cpu_pct",
                            json_real(secs > 0 ? 100.0 * (srv1 - srv0) / secs : 0));
    }
    if (p->run.first_err) {
        json_object_set_new(res, "first_error", json_string(p->run.first_err_text));
    }
    bnb_run_free(&p->run);
    bnb_net_free(net);
    (void)uv_loop_close(&loop);
    free(p->pp);
    free(p->lat);
    free(p->payload);
    free(p->scratch);
    free(p);
    free(net);
    return failed;
}
