/* fanout: S subscribers and P publishers join; publishers push new_msg
 * frames whose body carries publisher id, sequence number and send time,
 * and every joined socket (publishers included, since the server echoes to
 * the sender too) checks order, loss and duplicates per publisher and
 * records latency. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

/* Receive state of one (receiver, publisher) pair. bits has bit i set when
 * sequence next-1-i arrived, which detects duplicates among the last 64
 * without storing messages. */
typedef struct {
    uint64_t next;
    uint64_t bits;
    uint64_t uniq;
} track_t;

typedef struct {
    uint64_t seq; /* messages sent so far; also the next sequence number */
    uint64_t inflight;
    uint64_t stalls; /* rate mode: ticks skipped because the socket was backed up */
} pub_t;

/* Arrivals of one broadcast of publisher 0: how many sockets got it and
 * when the last one did (relative to its send time). */
typedef struct {
    uint32_t count;
    uint64_t last_ns;
} bcast_t;

/* Per-broadcast records stop past this sequence (bounded memory). */
#define BCAST_MAX (1u << 22)

enum { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

typedef struct {
    bnb_run_t run;
    const bnb_config_t *cfg;
    uint32_t S;
    uint32_t P;
    uint32_t PT;        /* publishers tracked: P, or --listen-pubs */
    uint64_t *ext_next; /* --listen-pubs: highest sequence seen + 1, per publisher */
    int first_seen;     /* --listen-pubs: a message arrived */
    bcast_t *bc;
    size_t bc_cap;
    uint64_t measure_seq0, measure_seq1; /* publisher 0's sequences sent while measuring */
    int phase;
    int setup_done;
    int drained;
    track_t *track; /* [receiver * PT + publisher] */
    pub_t *pubs;
    uint64_t *recv_per_topic;
    bnb_hist_t *lat;
    char *scratch;
    size_t scratch_cap;
    uv_timer_t rate_timer;
    uint64_t rate_t0;
    double rate_per_pub;
    uint64_t expected;
    uint64_t uniq_total;
    uint64_t deliveries_measured;
    uint64_t deliveries_total;
    uint64_t dups;
    uint64_t reorders;
    uint64_t bad_bodies;
    uint64_t channel_closes;
    uint64_t replies_other;
} fanout_t;

static int is_pub(const fanout_t *f, uint32_t id)
{
    return id >= f->S;
}

static void fill_window(fanout_t *f, uint32_t j)
{
    bnb_sock_t *s = &f->run.socks[f->S + j];
    pub_t *p = &f->pubs[j];
    if (s->conn.state != BNB_CONN_OPEN) {
        return;
    }
    if (p->inflight >= f->cfg->window) {
        return;
    }
    uint64_t now = uv_hrtime();
    while (p->inflight < f->cfg->window) {
        size_t n = bnb_phx_new_msg(f->scratch, f->scratch_cap, 1, s->next_ref++,
                                   f->run.topics[s->topic], f->cfg->body_size, j, p->seq, now);
        bnb_conn_queue(&s->conn, BNB_WS_OP_TEXT, f->scratch, n);
        p->seq++;
        p->inflight++;
    }
    bnb_conn_flush(&s->conn);
}

static void on_rate(uv_timer_t *t)
{
    fanout_t *f = t->data;
    if (f->phase != PH_WARMUP && f->phase != PH_MEASURE) {
        return;
    }
    uint64_t now = uv_hrtime();
    double elapsed = (double)(now - f->rate_t0) / 1e9;
    uint64_t due_total = (uint64_t)floor(elapsed * f->rate_per_pub) + 1;
    for (uint32_t j = 0; j < f->P; j++) {
        bnb_sock_t *s = &f->run.socks[f->S + j];
        pub_t *p = &f->pubs[j];
        if (s->conn.state != BNB_CONN_OPEN || p->seq >= due_total) {
            continue;
        }
        /* A socket the server does not drain would otherwise buffer
         * without bound here. */
        if (bnb_conn_write_queue(&s->conn) > (8u << 20)) {
            p->stalls++;
            continue;
        }
        uint64_t due = due_total - p->seq;
        if (due > 10000) {
            due = 10000;
        }
        for (uint64_t k = 0; k < due; k++) {
            size_t n = bnb_phx_new_msg(f->scratch, f->scratch_cap, 1, s->next_ref++,
                                       f->run.topics[s->topic], f->cfg->body_size, j, p->seq, now);
            bnb_conn_queue(&s->conn, BNB_WS_OP_TEXT, f->scratch, n);
            p->seq++;
            p->inflight++;
        }
        bnb_conn_flush(&s->conn);
    }
}

/* Returns 1 if seq is new for this pair. */
static int track_seq(fanout_t *f, track_t *t, uint64_t seq)
{
    if (seq >= t->next) {
        uint64_t shift = seq - t->next + 1;
        t->bits = shift >= 64 ? 0 : t->bits << shift;
        t->bits |= 1;
        t->next = seq + 1;
        t->uniq++;
        return 1;
    }
    uint64_t d = t->next - 1 - seq;
    if (d < 64) {
        if ((t->bits >> d) & 1) {
            f->dups++;
            return 0;
        }
        t->bits |= (uint64_t)1 << d;
    }
    /* Older than the 64-message window: cannot tell a duplicate from a very
     * late message; it is counted as reordered. */
    f->reorders++;
    t->uniq++;
    return 1;
}

static void fo_text(bnb_run_t *r, bnb_sock_t *s, const bnb_phx_in_t *in, uint64_t now)
{
    fanout_t *f = r->mode;
    if (in->event == BNB_PHX_EV_CLOSE || in->event == BNB_PHX_EV_ERROR) {
        f->channel_closes++;
        return;
    }
    if (in->event != BNB_PHX_EV_NEW_MSG) {
        if (in->event == BNB_PHX_EV_REPLY) {
            f->replies_other++;
        }
        return;
    }
    uint32_t pub;
    uint64_t seq;
    uint64_t t_ns;
    if (in->body == NULL || bnb_phx_body_parse(in->body, in->body_len, &pub, &seq, &t_ns) != 0 ||
        pub >= f->PT || (f->P > 0 && seq >= f->pubs[pub].seq)) {
        f->bad_bodies++;
        return;
    }
    if (f->P == 0) {
        f->first_seen = 1;
        if (seq >= f->ext_next[pub]) {
            f->ext_next[pub] = seq + 1;
        }
    }
    f->deliveries_total++;
    if (!track_seq(f, &f->track[(uint64_t)s->conn.id * f->PT + pub], seq)) {
        return;
    }
    f->uniq_total++;
    if (pub == 0 && seq < BCAST_MAX && (f->P == 0 || f->cfg->rate > 0)) {
        if (seq >= f->bc_cap) {
            size_t cap = f->bc_cap ? f->bc_cap : 1024;
            while (cap <= seq) {
                cap *= 2;
            }
            bcast_t *bc = realloc(f->bc, cap * sizeof(*bc));
            if (bc == NULL) {
                abort();
            }
            memset(bc + f->bc_cap, 0, (cap - f->bc_cap) * sizeof(*bc));
            f->bc = bc;
            f->bc_cap = cap;
        }
        uint64_t lat = now > t_ns ? now - t_ns : 0;
        f->bc[seq].count++;
        if (lat > f->bc[seq].last_ns) {
            f->bc[seq].last_ns = lat;
        }
    }
    if (f->phase == PH_MEASURE) {
        f->deliveries_measured++;
        bnb_hist_record(f->lat, now > t_ns ? now - t_ns : 0);
    }
    if (is_pub(f, s->conn.id) && s->conn.id - f->S == pub && f->pubs[pub].inflight > 0) {
        f->pubs[pub].inflight--;
    }
    if (f->phase == PH_DRAIN && f->uniq_total >= f->expected) {
        f->drained = 1;
    }
}

static void fo_read_done(bnb_run_t *r, bnb_sock_t *s)
{
    fanout_t *f = r->mode;
    if (f->cfg->rate == 0 && is_pub(f, s->conn.id) &&
        (f->phase == PH_WARMUP || f->phase == PH_MEASURE)) {
        fill_window(f, s->conn.id - f->S);
    }
}

static void fo_joined(bnb_run_t *r, bnb_sock_t *s, int ok)
{
    (void)s;
    fanout_t *f = r->mode;
    if (!ok || r->dial_ok + r->dial_failed == r->nsocks) {
        f->setup_done = 1;
    }
}

static void fo_closed(bnb_run_t *r, bnb_sock_t *s, int err, const char *why)
{
    (void)r;
    (void)s;
    (void)err;
    (void)why;
}

static const bnb_mode_ops_t fanout_ops = {fo_text, fo_read_done, fo_joined, fo_closed};

static void rate_timer_closed(uv_handle_t *h)
{
    (void)h;
}

int bnb_mode_fanout(const bnb_config_t *cfg, json_t *res)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bnb_net_t *net = bnb_net_new(&loop, cfg);
    if (net == NULL) {
        (void)uv_loop_close(&loop);
        return 1;
    }
    fanout_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        abort();
    }
    f->cfg = cfg;
    f->S = cfg->subs;
    f->P = cfg->pubs;
    f->PT = f->P > 0 ? f->P : cfg->listen_pubs;
    uint32_t n = f->S + f->P;
    bnb_run_init(&f->run, &loop, net, cfg, n, &fanout_ops, f);
    f->track = calloc((size_t)n * f->PT, sizeof(*f->track));
    f->pubs = calloc(f->PT, sizeof(*f->pubs));
    f->ext_next = calloc(f->PT, sizeof(*f->ext_next));
    f->recv_per_topic = calloc(f->run.ntopics, sizeof(*f->recv_per_topic));
    f->lat = malloc(sizeof(*f->lat));
    f->scratch_cap = (size_t)cfg->body_size + 512;
    f->scratch = malloc(f->scratch_cap);
    if (f->track == NULL || f->pubs == NULL || f->ext_next == NULL || f->recv_per_topic == NULL ||
        f->lat == NULL || f->scratch == NULL) {
        abort();
    }
    bnb_hist_init(f->lat);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = bnb_run_topic_for(&f->run, i < f->S ? i : i - f->S);
        f->run.socks[i].topic = t;
        f->recv_per_topic[t]++;
    }
    uv_timer_init(&loop, &f->rate_timer);
    f->rate_timer.data = f;

    int failed = 0;
    bnb_run_dial(&f->run);
    bnb_run_heartbeat_start(&f->run);
    if (!bnb_run_until(&f->run, &f->setup_done, cfg->connect_timeout) || f->run.dial_ok != n) {
        fprintf(stderr, "bennu-bench: setup failed: %u of %u sockets joined%s%s\n", f->run.dial_ok,
                n, f->run.first_err ? "; first error: " : " before the timeout",
                f->run.first_err ? f->run.first_err_text : "");
        failed = 1;
    }
    double connect_s = (double)(f->run.dial_t1 - f->run.dial_t0) / 1e9;
    if (!failed && f->P == 0) {
        /* Listening for another bench's publishers: tell the operator (or
         * the script that starts the publishing bench) and wait. */
        fprintf(stderr, "bennu-bench: %u sockets joined in %.2f s; waiting for the publishers\n",
                f->run.dial_ok, connect_s);
        if (!bnb_run_until(&f->run, &f->first_seen, cfg->connect_timeout)) {
            fprintf(stderr, "bennu-bench: no message from the publishers within %.0f s\n",
                    cfg->connect_timeout);
            failed = 1;
        }
    }

    double u0 = 0, s0 = 0, u1 = 0, s1 = 0, srv0 = -1, srv1 = -1;
    uint64_t t0 = 0, t1 = 0;
    if (!failed) {
        f->phase = PH_WARMUP;
        if (f->P == 0) {
            /* nothing to send */
        } else if (cfg->rate > 0) {
            f->rate_per_pub = cfg->rate / f->P;
            f->rate_t0 = uv_hrtime();
            uv_timer_start(&f->rate_timer, on_rate, 0, 1);
        } else {
            for (uint32_t j = 0; j < f->P; j++) {
                fill_window(f, j);
            }
        }
        bnb_run_for(&f->run, cfg->warmup);
        bnb_exec(cfg->exec_start);
        f->phase = PH_MEASURE;
        bnb_self_cpu(&u0, &s0);
        srv0 = cfg->server_pid ? bnb_proc_cpu(cfg->server_pid) : -1;
        t0 = uv_hrtime();
        f->measure_seq0 = f->P > 0 ? f->pubs[0].seq : 0;
        bnb_run_for(&f->run, cfg->duration);
        t1 = uv_hrtime();
        f->measure_seq1 = f->P > 0 ? f->pubs[0].seq : 0;
        bnb_self_cpu(&u1, &s1);
        srv1 = cfg->server_pid ? bnb_proc_cpu(cfg->server_pid) : -1;
        f->phase = PH_DRAIN;
        bnb_exec(cfg->exec_end);
        uv_timer_stop(&f->rate_timer);
        for (uint32_t j = 0; j < f->P; j++) {
            f->expected += f->pubs[j].seq * f->recv_per_topic[f->run.socks[f->S + j].topic];
        }
        if (f->P == 0) {
            /* The publishers' totals are not known here: wait the whole
             * drain, then expect every sequence up to the highest seen. */
            bnb_run_for(&f->run, cfg->drain);
            for (uint32_t j = 0; j < f->PT; j++) {
                f->expected += f->ext_next[j] * f->S;
            }
        } else {
            f->drained = f->uniq_total >= f->expected;
            if (!f->drained) {
                (void)bnb_run_until(&f->run, &f->drained, cfg->drain);
            }
        }
        f->phase = PH_DONE;
    }
    uv_close((uv_handle_t *)&f->rate_timer, rate_timer_closed);
    bnb_run_close_all(&f->run);

    uint64_t published = 0;
    uint64_t stalls = 0;
    for (uint32_t j = 0; j < f->P; j++) {
        published += f->pubs[j].seq;
        stalls += f->pubs[j].stalls;
    }
    double secs = (double)(t1 - t0) / 1e9;
    json_object_set_new(res, "subs", json_integer(f->S));
    json_object_set_new(res, "pubs", json_integer(f->P));
    json_object_set_new(res, "topics", json_integer(f->run.ntopics));
    json_object_set_new(res, "body_size", json_integer(cfg->body_size));
    json_object_set_new(res, "window", cfg->rate > 0 ? json_null() : json_integer(cfg->window));
    json_object_set_new(res, "rate", json_real(cfg->rate));
    json_object_set_new(res, "joined", json_integer(f->run.dial_ok));
    json_object_set_new(res, "connect_s", json_real(connect_s));
    json_object_set_new(res, "measured_s", json_real(secs));
    json_object_set_new(res, "published", json_integer((json_int_t)published));
    json_object_set_new(res, "expected", json_integer((json_int_t)f->expected));
    json_object_set_new(res, "received", json_integer((json_int_t)f->uniq_total));
    json_object_set_new(res, "deliveries", json_integer((json_int_t)f->deliveries_measured));
    json_object_set_new(res, "deliveries_per_s",
                        json_real(secs > 0 ? (double)f->deliveries_measured / secs : 0));
    json_object_set_new(res, "broadcasts_per_s",
                        json_real(secs > 0 && n > 0 ? (double)f->deliveries_measured / secs /
                                                          ((double)n / f->run.ntopics)
                                                    : 0));
    uint64_t lost = f->expected > f->uniq_total ? f->expected - f->uniq_total : 0;
    json_object_set_new(res, "lost", json_integer((json_int_t)lost));
    json_object_set_new(res, "duplicates", json_integer((json_int_t)f->dups));
    json_object_set_new(res, "reordered", json_integer((json_int_t)f->reorders));
    json_object_set_new(res, "bad_bodies", json_integer((json_int_t)f->bad_bodies));
    json_object_set_new(res, "channel_closes", json_integer((json_int_t)f->channel_closes));
    json_object_set_new(res, "disconnects", json_integer((json_int_t)f->run.disconnects));
    json_object_set_new(res, "send_stalls", json_integer((json_int_t)stalls));
    bnb_json_latency(res, "latency_us", f->lat);
    json_object_set_new(res, "bench_cpu_pct",
                        json_real(secs > 0 ? 100.0 * (u1 - u0 + s1 - s0) / secs : 0));
    json_object_set_new(res, "bench_user_s", json_real(u1 - u0));
    json_object_set_new(res, "bench_sys_s", json_real(s1 - s0));
    if (srv0 >= 0 && srv1 >= 0) {
        json_object_set_new(res, "server_cpu_s", json_real(srv1 - srv0));
        json_object_set_new(res, "server_cpu_pct",
                            json_real(secs > 0 ? 100.0 * (srv1 - srv0) / secs : 0));
        json_object_set_new(res, "server_ns_per_delivery",
                            json_real(f->deliveries_measured
                                          ? (srv1 - srv0) * 1e9 / (double)f->deliveries_measured
                                          : 0));
    }
    if (f->run.first_err) {
        json_object_set_new(res, "first_error", json_string(f->run.first_err_text));
    }
    if (f->P == 0) {
        json_object_set_new(res, "listen_pubs", json_integer(f->PT));
    } else {
        json_object_set_new(
            res, "measure_seqs",
            json_pack("[I, I]", (json_int_t)f->measure_seq0, (json_int_t)f->measure_seq1));
    }
    /* Publisher 0's broadcasts: [sequence, sockets reached, last arrival
     * in us after the send]; merged over processes by tools/bench. */
    json_t *bcs = json_array();
    for (size_t i = 0; i < f->bc_cap; i++) {
        if (f->bc[i].count > 0) {
            json_array_append_new(bcs,
                                  json_pack("[I, I, I]", (json_int_t)i, (json_int_t)f->bc[i].count,
                                            (json_int_t)(f->bc[i].last_ns / 1000)));
        }
    }
    json_object_set_new(res, "broadcasts", bcs);

    bnb_run_free(&f->run);
    bnb_net_free(net);
    (void)uv_loop_close(&loop);
    free(f->track);
    free(f->pubs);
    free(f->ext_next);
    free(f->bc);
    free(f->recv_per_topic);
    free(f->lat);
    free(f->scratch);
    free(f);
    free(net);
    return failed;
}
