/* One chaos run; contracts in run.h. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bennu/log.h"

enum { PH_FORMING, PH_RUNNING, PH_DRAINING, PH_STOPPING, PH_DONE };

#define TICK_MS 20

static const char *const inv_names[] = {
#define BNC_INV_NAME(name, text, desc) text,
    BNC_INVARIANT_MAP(BNC_INV_NAME)
#undef BNC_INV_NAME
};

static const char *const inv_descs[] = {
#define BNC_INV_DESC(name, text, desc) desc,
    BNC_INVARIANT_MAP(BNC_INV_DESC)
#undef BNC_INV_DESC
};

static const char *const mode_names[] = {
#define BNC_MODE_NAME(name, text) text,
    BNC_MODE_MAP(BNC_MODE_NAME)
#undef BNC_MODE_NAME
};

const char *bnc_mode_name(bnc_mode_t m)
{
    return (unsigned)m < BNC_MODE_COUNT ? mode_names[m] : "?";
}

const char *bnc_invariant_name(bnc_invariant_t i)
{
    return (unsigned)i < BNC_INV_COUNT ? inv_names[i] : "?";
}

const char *bnc_invariant_desc(bnc_invariant_t i)
{
    return (unsigned)i < BNC_INV_COUNT ? inv_descs[i] : "?";
}

static bool has_kind(const bnc_schedule_t *s, bnc_fault_kind_t k)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->faults[i].kind == k) {
            return true;
        }
    }
    return false;
}

bool bnc_invariant_applies(bnc_invariant_t i, const bnc_schedule_t *s)
{
    switch (i) {
    case BNC_INV_NAME_HELD:
    case BNC_INV_IMPOSTOR_REFUSED:
        return has_kind(s, BNC_FAULT_IMPOSTOR);
    case BNC_INV_TAMPER_DETECTED:
    case BNC_INV_DELIVERY_RESUMED:
        return has_kind(s, BNC_FAULT_TAMPER);
    case BNC_INV_FLOOD_CONTAINED:
    case BNC_INV_FLOOD_REJOIN:
    case BNC_INV_FLOOD_HTTP:
    case BNC_INV_FLOOD_RSS:
        return has_kind(s, BNC_FAULT_FLOOD);
    default:
        return (unsigned)i < BNC_INV_COUNT;
    }
}

uint64_t bnc_run_now(void *ud)
{
    bnc_run_t *r = ud;
    return (uv_hrtime() - r->t0_ns) / 1000000u;
}

static void say(const bnc_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const bnc_run_t *r, const char *fmt, ...)
{
    if (r->opt.quiet) {
        return;
    }
    uint64_t t = bnc_run_now((void *)r);
    fprintf(stderr, "[%6.2f] ", (double)t / 1000.0);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void random_hex(char *out, size_t bytes, uint64_t *rng)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes; i++) {
        uint32_t v = bnc_rng_below(rng, 256);
        out[2 * i] = hex[v >> 4];
        out[2 * i + 1] = hex[v & 15];
    }
    out[2 * bytes] = '\0';
}

/* ---- probe rounds ---- */

static void on_round(void *ud, int converged, const char *why)
{
    bnc_run_t *r = ud;
    uint64_t now = bnc_run_now(r);
    if (r->n_rounds == r->cap_rounds) {
        r->cap_rounds = r->cap_rounds ? r->cap_rounds * 2 : 256;
        r->rounds = realloc(r->rounds, r->cap_rounds * sizeof(*r->rounds));
        if (r->rounds == NULL) {
            abort();
        }
    }
    r->rounds[r->n_rounds].t_ms = now;
    r->rounds[r->n_rounds].converged = converged;
    r->n_rounds++;
    if (converged != r->last_converged && r->phase != PH_FORMING) {
        say(r, converged ? "cluster converged" : "cluster not converged: %s", why);
    }
    r->last_converged = converged;
    if (!converged) {
        return;
    }
    for (size_t i = 0; i < r->sched.n; i++) {
        bnc_fault_run_t *f = &r->fr[i];
        if (f->ended && f->converged_ms == 0) {
            f->converged_ms = now;
        }
    }
    if (r->final_heal_ms != 0 && r->final_converged_ms == 0) {
        r->final_converged_ms = now;
    }
}

/* ---- the impostor, as the probe sees it ---- */

static int node_of_mask(uint32_t m);

/* While an impostor runs (and BNC_IMPOSTOR_MARGIN_MS after), every node
 * must see the node whose name it took up, with that node's own
 * incarnation. */
/* Presence against the ground truth: every node lists exactly the joined
 * clients ("c<idx>", their join param), one meta each, with one digest.
 * Returns 1, or 0 with why. */
static int presence_verdict(bnc_run_t *r, char *why, size_t cap)
{
    const char *digest = NULL;
    size_t joined = 0;
    for (size_t c = 0; c < r->wl.n_clients; c++) {
        joined += r->wl.clients[c].joined != 0;
    }
    for (int i = 0; i < r->opt.nodes; i++) {
        json_t *pr = r->probe.presence[i];
        if (pr == NULL) {
            snprintf(why, cap, "%s gave no presence answer", r->cl.nodes[i].name);
            return 0;
        }
        json_t *list = json_object_get(pr, "presences");
        const char *d = json_string_value(json_object_get(pr, "digest"));
        if (digest != NULL && (d == NULL || strcmp(d, digest) != 0)) {
            snprintf(why, cap, "%s lists other presences than %s", r->cl.nodes[i].name,
                     r->cl.nodes[0].name);
            return 0;
        }
        digest = d;
        if (json_object_size(list) != joined) {
            snprintf(why, cap, "%s lists %zu keys, %zu clients are joined", r->cl.nodes[i].name,
                     json_object_size(list), joined);
            return 0;
        }
        for (size_t c = 0; c < r->wl.n_clients; c++) {
            if (!r->wl.clients[c].joined) {
                continue;
            }
            char key[32];
            snprintf(key, sizeof(key), "c%zu", c);
            size_t metas = json_array_size(json_object_get(json_object_get(list, key), "metas"));
            if (metas != 1) {
                snprintf(why, cap, "%s lists %zu presences for joined client %s",
                         r->cl.nodes[i].name, metas, key);
                return 0;
            }
        }
    }
    snprintf(why, cap, "%zu joined clients listed by all %d nodes", joined, r->opt.nodes);
    return 1;
}

static void judge_presence(bnc_run_t *r)
{
    uint64_t now = bnc_run_now(r);
    bool healed = r->sched.n == 0 || (r->final_heal_ms != 0 && now >= r->final_heal_ms);
    if ((r->phase != PH_RUNNING && r->phase != PH_DRAINING) || !healed || !r->last_converged ||
        bnc_workload_joined(&r->wl) != r->wl.n_clients) {
        return;
    }
    r->presence_judged = 1;
    r->presence_ok = presence_verdict(r, r->presence_why, sizeof(r->presence_why));
    r->presence_rounds_ok += r->presence_ok != 0;
}

static void on_answers(void *ud, json_t *const *members, json_t *const *groups)
{
    (void)groups;
    bnc_run_t *r = ud;
    judge_presence(r);
    uint64_t now = bnc_run_now(r);
    int a = -1;
    for (size_t i = 0; i < r->sched.n && a < 0; i++) {
        const bnc_fault_run_t *fr = &r->fr[i];
        if (r->sched.faults[i].kind == BNC_FAULT_IMPOSTOR && fr->started &&
            (!fr->ended || now <= fr->ended_ms + BNC_IMPOSTOR_MARGIN_MS)) {
            a = node_of_mask(r->sched.faults[i].a_mask);
        }
    }
    if (a < 0 || members[a] == NULL) {
        return;
    }
    json_int_t inc = json_integer_value(json_object_get(members[a], "incarnation"));
    r->imp_rounds++;
    for (int i = 0; i < r->opt.nodes; i++) {
        if (i == a || members[i] == NULL) {
            continue;
        }
        json_t *nodes = json_object_get(members[i], "nodes");
        json_t *o;
        size_t k;
        const char *state = "absent";
        json_int_t seen = 0;
        json_array_foreach(nodes, k, o)
        {
            const char *nm = json_string_value(json_object_get(o, "name"));
            if (nm != NULL && strcmp(nm, r->names[a]) == 0) {
                const char *st = json_string_value(json_object_get(o, "state"));
                state = st != NULL ? st : "?";
                seen = json_integer_value(json_object_get(o, "incarnation"));
            }
        }
        if (strcmp(state, "up") != 0 || seen != inc) {
            if (r->imp_bad++ == 0) {
                snprintf(r->imp_bad_why, sizeof(r->imp_bad_why),
                         "at +%.2f s n%d saw n%d %s with incarnation %lld (its own: %lld)",
                         ((double)now - (double)r->sched0_ms) / 1000.0, i, a, state,
                         (long long)seen, (long long)inc);
            }
            break;
        }
    }
}

/* ---- fault schedule ---- */

static void apply_active(bnc_run_t *r)
{
    const bnc_fault_t *act[BNC_MAX_FAULTS];
    size_t n = 0;
    for (size_t i = 0; i < r->sched.n; i++) {
        if (r->fr[i].started && !r->fr[i].ended) {
            act[n++] = &r->sched.faults[i];
        }
    }
    if (r->opt.mode == BNC_MODE_NETNS) {
        bnc_netns_set_active(&r->ns, act, n);
    } else {
        bnc_fabric_set_active(&r->fab, act, n);
    }
}

static int node_of_mask(uint32_t m)
{
    for (int i = 0; i < 32; i++) {
        if (m & (1u << i)) {
            return i;
        }
    }
    return -1;
}

static void fault_start(bnc_run_t *r, size_t i, uint64_t now)
{
    const bnc_fault_t *f = &r->sched.faults[i];
    bnc_fault_run_t *fr = &r->fr[i];
    char d[256];
    bnc_fault_describe(f, d, sizeof(d));
    fr->started = 1;
    fr->started_ms = now;
    switch (f->kind) {
    case BNC_FAULT_RESET:
        fr->resets = r->opt.mode == BNC_MODE_NETNS
                         ? bnc_netns_reset(&r->ns, f->a_mask, f->b_mask)
                         : bnc_fabric_reset(&r->fab, f->a_mask, f->b_mask);
        fr->ended = 1;
        fr->ended_ms = now;
        break;
    case BNC_FAULT_KILL:
        bnc_node_kill(&r->cl, node_of_mask(f->a_mask));
        break;
    case BNC_FAULT_PAUSE:
        bnc_node_pause(&r->cl, node_of_mask(f->a_mask));
        break;
    case BNC_FAULT_IMPOSTOR: {
        int rc = bnc_impostor_start(&r->cl, node_of_mask(f->a_mask));
        if (rc != 0) {
            say(r, "cannot start the impostor: %s", uv_strerror(rc));
        }
        break;
    }
    case BNC_FAULT_FLOOD: {
        int k = node_of_mask(f->a_mask);
        bnc_node_t *nd = &r->cl.nodes[k];
        r->flood_node = k;
        r->flood_rss_before_kb = bnc_node_rss_kb(nd);
        r->flood_rss_peak_kb = r->flood_rss_before_kb;
        r->flood_lines_before = nd->lines;
        int rc = bnc_flood_start(&r->flood, &r->loop, nd->mesh_port, nd->http_port, f->conns,
                                 r->opt.seed, bnc_run_now, r);
        if (rc != 0) {
            say(r, "cannot start the flood: %s", uv_strerror(rc));
        }
        break;
    }
    default:
        apply_active(r);
        break;
    }
    say(r, "fault #%u begins: %s", f->id, d);
}

static void fault_end(bnc_run_t *r, size_t i, uint64_t now)
{
    const bnc_fault_t *f = &r->sched.faults[i];
    bnc_fault_run_t *fr = &r->fr[i];
    fr->ended = 1;
    fr->ended_ms = now;
    switch (f->kind) {
    case BNC_FAULT_KILL: {
        int k = node_of_mask(f->a_mask);
        if (bnc_node_start(&r->cl, k) != 0) {
            say(r, "restart of n%d failed", k);
        }
        break;
    }
    case BNC_FAULT_PAUSE:
        bnc_node_resume(&r->cl, node_of_mask(f->a_mask));
        break;
    case BNC_FAULT_IMPOSTOR:
        bnc_impostor_stop(&r->cl);
        break;
    case BNC_FAULT_FLOOD: {
        const bnc_node_t *nd = &r->cl.nodes[node_of_mask(f->a_mask)];
        r->flood_rss_after_kb = bnc_node_rss_kb(nd);
        if (r->flood_rss_after_kb > r->flood_rss_peak_kb) {
            r->flood_rss_peak_kb = r->flood_rss_after_kb;
        }
        r->flood_lines_during = nd->lines - r->flood_lines_before;
        bnc_flood_stop(&r->flood, NULL, NULL);
        say(r,
            "flood: %llu connections made, %llu closed by n%d, at most %u open after the "
            "burst; /health %llu/%llu; RSS peak %llu KiB",
            (unsigned long long)r->flood.established, (unsigned long long)r->flood.closed_by_node,
            r->flood_node, r->flood.max_open_settled, (unsigned long long)r->flood.http_ok,
            (unsigned long long)r->flood.http_probes, (unsigned long long)r->flood_rss_peak_kb);
        break;
    }
    default:
        apply_active(r);
        break;
    }
    say(r, "fault #%u ends", f->id);
}

static void play_schedule(bnc_run_t *r, uint64_t now)
{
    uint64_t st = now - r->sched0_ms;
    for (size_t i = 0; i < r->sched.n; i++) {
        const bnc_fault_t *f = &r->sched.faults[i];
        if (!r->fr[i].started && st >= f->start_ms) {
            fault_start(r, i, now);
        }
        if (r->fr[i].started && !r->fr[i].ended && st >= f->end_ms) {
            fault_end(r, i, now);
        }
    }
}

/* ---- shutdown ---- */

static void part_closed(void *ud)
{
    bnc_run_t *r = ud;
    if (--r->closing_parts == 0) {
        r->phase = PH_DONE;
        uv_close((uv_handle_t *)&r->timer, NULL);
    }
}

static void begin_stop(bnc_run_t *r)
{
    if (r->phase >= PH_STOPPING) {
        return;
    }
    r->phase = PH_STOPPING;
    for (int k = 0; k < 2; k++) {
        if (!uv_is_closing((uv_handle_t *)&r->sig[k])) {
            uv_close((uv_handle_t *)&r->sig[k], NULL);
        }
    }
    r->stop_deadline_ms = bnc_run_now(r) + 8000;
    r->closing_parts = 5;
    bnc_flood_stop(&r->flood, part_closed, r);
    if (r->wl.clients != NULL) {
        bnc_workload_close(&r->wl, part_closed, r);
    } else {
        r->closing_parts--;
    }
    bnc_probe_close(&r->probe, part_closed, r);
    bnc_cluster_stop(&r->cl, part_closed, r);
    if (r->opt.mode == BNC_MODE_NETNS) {
        bnc_netns_close(&r->ns, part_closed, r);
    } else {
        bnc_fabric_close(&r->fab, part_closed, r);
    }
}

/* SIGINT/SIGTERM: stop the way a finished run stops, so the nodes exit
 * and netns mode's objects are deleted. */
static void on_signal(uv_signal_t *h, int signum)
{
    bnc_run_t *r = h->data;
    r->interrupted = 1;
    say(r, "signal %d: stopping", signum);
    if (r->phase < PH_STOPPING) {
        r->wl.publishing = 0;
        if (r->end_ms == 0) {
            r->end_ms = bnc_run_now(r);
        }
        begin_stop(r);
    }
}

static void fail_setup(bnc_run_t *r, const char *why)
{
    r->setup_error = 1;
    snprintf(r->setup_why, sizeof(r->setup_why), "%.*s", (int)sizeof(r->setup_why) - 1, why);
    say(r, "setup failed: %s", why);
    begin_stop(r);
}

static void tick_cb(uv_timer_t *t)
{
    bnc_run_t *r = t->data;
    uint64_t now = bnc_run_now(r);
    switch (r->phase) {
    case PH_FORMING:
        for (int i = 0; i < r->opt.nodes; i++) {
            if (r->cl.nodes[i].pid == 0) {
                fail_setup(r, "a node exited during startup (see its log)");
                return;
            }
        }
        if (r->last_converged && bnc_workload_joined(&r->wl) == r->wl.n_clients) {
            r->phase = PH_RUNNING;
            r->sched0_ms = now;
            for (int i = 0; i < r->opt.nodes; i++) {
                r->cl.nodes[i].rss_start_kb = bnc_node_rss_kb(&r->cl.nodes[i]);
            }
            r->wl.publishing = 1;
            say(r, "cluster formed, %zu clients joined: workload and schedule start",
                r->wl.n_clients);
        } else if (now > BNC_FORM_TIMEOUT_MS) {
            char why[256];
            snprintf(why, sizeof(why),
                     "cluster did not form within %u ms (%zu/%zu clients joined; probe: %s)",
                     BNC_FORM_TIMEOUT_MS, bnc_workload_joined(&r->wl), r->wl.n_clients,
                     r->probe.last_why[0] ? r->probe.last_why : "no round yet");
            fail_setup(r, why);
        }
        break;
    case PH_RUNNING:
        play_schedule(r, now);
        if (r->flood.running && now >= r->flood_rss_next_ms) {
            uint64_t kb = bnc_node_rss_kb(&r->cl.nodes[r->flood_node]);
            if (kb > r->flood_rss_peak_kb) {
                r->flood_rss_peak_kb = kb;
            }
            r->flood_rss_next_ms = now + 100;
        }
        if (now - r->sched0_ms >= r->sched.duration_ms) {
            /* Any fault still open (none in the built-in scenarios) ends
             * now, so the drain checks a healed cluster. */
            for (size_t i = 0; i < r->sched.n; i++) {
                if (r->fr[i].started && !r->fr[i].ended) {
                    fault_end(r, i, now);
                }
            }
            r->wl.publishing = 0;
            r->end_ms = now;
            r->phase = PH_DRAINING;
            say(r, "workload stops; draining for %u ms", BNC_DRAIN_MS);
        }
        break;
    case PH_DRAINING:
        if (now - r->end_ms >= BNC_DRAIN_MS) {
            for (int i = 0; i < r->opt.nodes; i++) {
                r->cl.nodes[i].rss_end_kb = bnc_node_rss_kb(&r->cl.nodes[i]);
            }
            begin_stop(r);
        }
        break;
    case PH_STOPPING:
        if (now > r->stop_deadline_ms) {
            say(r, "nodes did not stop on SIGTERM: SIGKILL");
            r->stop_deadline_ms = UINT64_MAX;
            bnc_cluster_kill_all(&r->cl);
        }
        break;
    default:
        break;
    }
    /* Track when the last fault healed for the convergence figure. */
    if (r->phase >= PH_RUNNING && r->final_heal_ms == 0 && r->sched.n > 0) {
        int all = 1;
        uint64_t last = 0;
        for (size_t i = 0; i < r->sched.n; i++) {
            all &= r->fr[i].ended;
            if (r->fr[i].ended_ms > last) {
                last = r->fr[i].ended_ms;
            }
        }
        if (all) {
            r->final_heal_ms = last;
        }
    }
}

/* ---- verdict ---- */

static void set_inv(bnc_run_t *r, bnc_invariant_t i, int pass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_inv(bnc_run_t *r, bnc_invariant_t i, int pass, const char *fmt, ...)
{
    r->inv_pass[i] = pass;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->inv_detail[i], sizeof(r->inv_detail[i]), fmt, ap);
    va_end(ap);
}

static double rel_s(const bnc_run_t *r, uint64_t t)
{
    return ((double)t - (double)r->sched0_ms) / 1000.0;
}

static uint64_t fault_window_end(const bnc_run_t *r, size_t i)
{
    const bnc_fault_run_t *f = &r->fr[i];
    if (!f->ended) {
        return r->end_ms + BNC_DRAIN_MS;
    }
    return f->converged_ms != 0 ? f->converged_ms : r->end_ms + BNC_DRAIN_MS;
}

static void judge_detection(bnc_run_t *r)
{
    uint64_t limit = 2ull * r->opt.down_ms + 500;
    int missed = 0;
    int checked = 0;
    int64_t worst = 0;
    for (size_t i = 0; i < r->sched.n; i++) {
        const bnc_fault_t *f = &r->sched.faults[i];
        const bnc_fault_run_t *fr = &r->fr[i];
        /* Only faults long enough for silence to be noticed are judged,
         * and a peer must be declared down before its fault ends. */
        uint64_t len = fr->ended_ms - fr->started_ms;
        if (!bnc_fault_kind_separating(f->kind) || f->kind == BNC_FAULT_RESET || !fr->started ||
            len < r->opt.down_ms + 3ull * r->opt.tick_ms) {
            continue;
        }
        uint64_t lim = len + 200 < limit ? len + 200 : limit;
        for (int x = 0; x < r->opt.nodes; x++) {
            if (bnc_fault_kind_is_node(f->kind) && (f->a_mask & (1u << x))) {
                continue; /* a killed or stopped node observes nothing */
            }
            for (int y = 0; y < r->opt.nodes; y++) {
                if (x == y || !bnc_fault_separates(f, x, y)) {
                    continue;
                }
                if (r->n_detects >= sizeof(r->detects) / sizeof(r->detects[0])) {
                    continue;
                }
                bnc_detect_t *d = &r->detects[r->n_detects++];
                memset(d, 0, sizeof(*d));
                d->fault_id = f->id;
                d->observer = x;
                d->peer = y;
                d->delay_ms = -1;
                for (size_t e = 0; e < r->cl.n_events; e++) {
                    const bnc_mesh_event_t *ev = &r->cl.events[e];
                    if (!ev->up && ev->observer == x && ev->peer == y &&
                        ev->t_ms + 50 >= fr->started_ms && ev->t_ms <= fr->started_ms + lim) {
                        d->delay_ms =
                            ev->t_ms >= fr->started_ms ? (int64_t)(ev->t_ms - fr->started_ms) : 0;
                        snprintf(d->reason, sizeof(d->reason), "%s", ev->reason);
                        break;
                    }
                }
                checked++;
                if (d->delay_ms < 0) {
                    missed++;
                } else if (d->delay_ms > worst) {
                    worst = d->delay_ms;
                }
            }
        }
    }
    set_inv(r, BNC_INV_DOWN_DETECTED, missed == 0,
            "%d observer/peer pairs checked, %d missed the %llu ms limit, slowest %lld ms", checked,
            missed, (unsigned long long)limit, (long long)worst);
}

/* The link a tamper fault attacked, and the invariants about it. */
static void judge_tamper(bnc_run_t *r)
{
    const bnc_fabric_t *fab = &r->fab;
    unsigned by_kind[BNC_TAMPER_COUNT] = {0};
    unsigned missed = 0;
    unsigned wrong = 0;
    int64_t slowest = 0;
    char bad[160] = "";
    for (size_t i = 0; i < fab->n_tampers; i++) {
        const bnc_tamper_event_t *e = &fab->tampers[i];
        bnc_tamper_seen_t *seen = &r->tamper_seen[i];
        memset(seen, 0, sizeof(*seen));
        seen->delay_ms = -1;
        by_kind[e->kind]++;
        for (size_t k = 0; k < r->cl.n_events; k++) {
            const bnc_mesh_event_t *ev = &r->cl.events[k];
            if (!ev->up && ev->observer == e->to && ev->peer == e->from &&
                ev->t_ms + 20 >= e->t_ms && ev->t_ms <= e->t_ms + BNC_TAMPER_DETECT_MS) {
                seen->found = 1;
                seen->delay_ms = ev->t_ms >= e->t_ms ? (int64_t)(ev->t_ms - e->t_ms) : 0;
                snprintf(seen->reason, sizeof(seen->reason), "%s", ev->reason);
                break;
            }
        }
        const char *want = bnc_tamper_expect(e->kind);
        if (!seen->found) {
            if (missed++ == 0 && bad[0] == '\0') {
                snprintf(bad, sizeof(bad), "n%d did not drop n%d within %u ms of a %s frame", e->to,
                         e->from, BNC_TAMPER_DETECT_MS, bnc_tamper_name(e->kind));
            }
        } else if (strcmp(seen->reason, want) != 0) {
            if (wrong++ == 0 && bad[0] == '\0') {
                snprintf(bad, sizeof(bad), "n%d dropped n%d with %s after a %s frame (want %s)",
                         e->to, e->from, seen->reason, bnc_tamper_name(e->kind), want);
            }
        } else if (seen->delay_ms > slowest) {
            slowest = seen->delay_ms;
        }
    }
    char kinds[160] = "";
    size_t w = 0;
    for (int k = 0; k < BNC_TAMPER_COUNT && w < sizeof(kinds); k++) {
        if (by_kind[k] > 0) {
            int n = snprintf(kinds + w, sizeof(kinds) - w, "%s%s %u", w ? ", " : "",
                             bnc_tamper_name((bnc_tamper_kind_t)k), by_kind[k]);
            w += n > 0 ? (size_t)n : 0;
        }
    }
    if (fab->n_tampers == 0) {
        set_inv(r, BNC_INV_TAMPER_DETECTED, 0, "no frame was attacked");
    } else if (missed || wrong) {
        set_inv(r, BNC_INV_TAMPER_DETECTED, 0,
                "%zu attacks (%s): %u not noticed, %u wrong reason; %s", fab->n_tampers, kinds,
                missed, wrong, bad);
    } else {
        set_inv(r, BNC_INV_TAMPER_DETECTED, 1,
                "%zu attacks (%s): each receiver dropped the link with the expected reason, "
                "slowest %lld ms",
                fab->n_tampers, kinds, (long long)slowest);
    }
    /* After the attack: everything between the two nodes arrives again. */
    for (size_t i = 0; i < r->sched.n; i++) {
        const bnc_fault_t *f = &r->sched.faults[i];
        if (f->kind != BNC_FAULT_TAMPER) {
            continue;
        }
        int a = node_of_mask(f->a_mask);
        int b = node_of_mask(f->b_mask);
        r->resumed_from_ms = fault_window_end(r, i) + r->grace.after_ms;
        bnc_ledger_flow(&r->ledger, a, b, r->resumed_from_ms, &r->resumed_expected[0],
                        &r->resumed_delivered[0]);
        bnc_ledger_flow(&r->ledger, b, a, r->resumed_from_ms, &r->resumed_expected[1],
                        &r->resumed_delivered[1]);
        int pass = r->fr[i].ended && r->resumed_expected[0] > 0 && r->resumed_expected[1] > 0 &&
                   r->resumed_delivered[0] == r->resumed_expected[0] &&
                   r->resumed_delivered[1] == r->resumed_expected[1];
        set_inv(r, BNC_INV_DELIVERY_RESUMED, pass,
                "from +%.2f s (the attack ended at +%.2f s): n%d->n%d %llu of %llu copies, "
                "n%d->n%d %llu of %llu",
                rel_s(r, r->resumed_from_ms), rel_s(r, r->fr[i].ended_ms), a, b,
                (unsigned long long)r->resumed_delivered[0],
                (unsigned long long)r->resumed_expected[0], b, a,
                (unsigned long long)r->resumed_delivered[1],
                (unsigned long long)r->resumed_expected[1]);
        break;
    }
}

static void judge_impostor(bnc_run_t *r)
{
    size_t fi = 0;
    while (fi < r->sched.n && r->sched.faults[fi].kind != BNC_FAULT_IMPOSTOR) {
        fi++;
    }
    const bnc_fault_t *f = &r->sched.faults[fi];
    const bnc_fault_run_t *fr = &r->fr[fi];
    const bnc_cluster_t *cl = &r->cl;
    int a = node_of_mask(f->a_mask);
    uint64_t until = (fr->ended ? fr->ended_ms : r->end_ms) + BNC_IMPOSTOR_MARGIN_MS;
    int downs = 0;
    char first[96] = "";
    for (size_t k = 0; k < cl->n_events; k++) {
        const bnc_mesh_event_t *ev = &cl->events[k];
        if (!ev->up && ev->peer == a && ev->observer != a && ev->t_ms >= fr->started_ms &&
            ev->t_ms <= until) {
            if (downs++ == 0) {
                snprintf(first, sizeof(first), "n%d at +%.2f s, %s", ev->observer,
                         rel_s(r, ev->t_ms), ev->reason);
            }
        }
    }
    if (!fr->started) {
        set_inv(r, BNC_INV_NAME_HELD, 0, "the impostor never ran");
    } else if (downs > 0) {
        set_inv(r, BNC_INV_NAME_HELD, 0,
                "n%d was declared down %d times while the impostor ran (%s)", a, downs, first);
    } else if (r->imp_bad > 0) {
        set_inv(r, BNC_INV_NAME_HELD, 0, "%u of %u probe rounds saw it wrong: %s", r->imp_bad,
                r->imp_rounds, r->imp_bad_why);
    } else if (r->imp_rounds == 0) {
        set_inv(r, BNC_INV_NAME_HELD, 0, "no probe round while the impostor ran");
    } else {
        set_inv(r, BNC_INV_NAME_HELD, 1,
                "no node declared n%d down; in %u probe rounds every node saw it up with its "
                "own incarnation",
                a, r->imp_rounds);
    }

    /* Refusals by the node the impostor dialled (one seed per node). */
    char addrs[BNC_MAX_NODES][48];
    unsigned counts[BNC_MAX_NODES] = {0};
    size_t n_addrs = 0;
    unsigned clash = 0;
    unsigned other = 0;
    for (size_t i = 0; i < cl->n_refusals; i++) {
        const bnc_refusal_t *x = &cl->refusals[i];
        if (strcmp(x->reason, "name_clash") != 0) {
            other++;
            continue;
        }
        clash++;
        size_t k = 0;
        while (k < n_addrs && strcmp(addrs[k], x->addr) != 0) {
            k++;
        }
        if (k == n_addrs && n_addrs < BNC_MAX_NODES) {
            snprintf(addrs[n_addrs++], sizeof(addrs[0]), "%s", x->addr);
        }
        if (k < n_addrs) {
            counts[k]++;
        }
    }
    unsigned most = 0;
    for (size_t k = 0; k < n_addrs; k++) {
        most = counts[k] > most ? counts[k] : most;
    }
    /* Exponential backoff from 100 ms (-25 % jitter) fits at most
     * log2(T / 75 ms + 1) retries in T after the first attempt. */
    double span = (double)((fr->ended ? fr->ended_ms : r->end_ms) - fr->started_ms);
    unsigned allowed = (unsigned)floor(log2(span / 75.0 + 1.0)) + 2;
    int logged = 0;
    for (int i = 0; i < r->opt.nodes; i++) {
        logged +=
            cl->nodes[i].name_clashes > 0 && cl->nodes[i].first_name_clash_ms >= fr->started_ms;
    }
    int pass = fr->started && cl->imp.starts > 0 && clash > 0 && n_addrs == (size_t)r->opt.nodes &&
               cl->imp_nodeups == 0 && logged == r->opt.nodes && most <= allowed;
    set_inv(r, BNC_INV_IMPOSTOR_REFUSED, pass,
            "%u name_clash refusals from %zu of %d nodes (%u other), at most %u from one node in "
            "%.1f s (backoff limit %u); %d of %d nodes logged mesh_name_clash; links it got: %u",
            clash, n_addrs, r->opt.nodes, other, most, span / 1000.0, allowed, logged, r->opt.nodes,
            cl->imp_nodeups);
}

static void judge_flood(bnc_run_t *r)
{
    size_t fi = 0;
    while (fi < r->sched.n && r->sched.faults[fi].kind != BNC_FAULT_FLOOD) {
        fi++;
    }
    const bnc_fault_t *f = &r->sched.faults[fi];
    const bnc_fault_run_t *fr = &r->fr[fi];
    const bnc_flood_t *fl = &r->flood;
    int x = node_of_mask(f->a_mask);
    int applied = fr->started && fl->burst_done_ms != 0 && fl->established >= f->conns;
    unsigned cap = BNC_PREAUTH_CAP + BNC_FLOOD_OPEN_SLACK;
    int pass =
        applied && fl->max_open_settled <= cap && r->flood_lines_during <= BNC_FLOOD_LOG_LINES_MAX;
    set_inv(r, BNC_INV_FLOOD_CONTAINED, pass,
            "%llu connections made for %u held (%llu with a Hello%s), n%d closed %llu; after the "
            "burst at most %u open at once (limit %u); n%d logged %llu lines during the flood "
            "(limit %u)",
            (unsigned long long)fl->established, f->conns, (unsigned long long)fl->hellos,
            fl->bind_failed ? ", all from 127.0.0.1" : "", x,
            (unsigned long long)fl->closed_by_node, fl->max_open_settled, cap, x,
            (unsigned long long)r->flood_lines_during, BNC_FLOOD_LOG_LINES_MAX);

    r->flood_restarted = -1;
    for (size_t i = 0; i < r->sched.n; i++) {
        const bnc_fault_t *k = &r->sched.faults[i];
        const bnc_fault_run_t *kr = &r->fr[i];
        if (k->kind != BNC_FAULT_KILL || !kr->ended || kr->ended_ms < fr->started_ms ||
            kr->ended_ms > fr->ended_ms) {
            continue;
        }
        int y = node_of_mask(k->a_mask);
        uint64_t restart = kr->ended_ms;
        r->flood_restarted = y;
        const bnc_node_t *nd = &r->cl.nodes[y];
        r->flood_listen_ms = nd->listen_ms >= restart ? (int64_t)(nd->listen_ms - restart) : -1;
        /* Linked again: y logs nodeup for every node, and every node for y. */
        uint64_t last = restart;
        int missing = 0;
        for (int j = 0; j < r->opt.nodes; j++) {
            if (j == y) {
                continue;
            }
            for (int way = 0; way < 2; way++) {
                int obs = way ? j : y;
                int peer = way ? y : j;
                uint64_t at = 0;
                for (size_t e = 0; e < r->cl.n_events && at == 0; e++) {
                    const bnc_mesh_event_t *ev = &r->cl.events[e];
                    if (ev->up && ev->observer == obs && ev->peer == peer && ev->t_ms >= restart) {
                        at = ev->t_ms;
                    }
                }
                if (at == 0) {
                    missing++;
                } else if (at > last) {
                    last = at;
                }
            }
        }
        r->flood_rejoin_ms = missing ? -1 : (int64_t)(last - restart);
        for (size_t j = 0; j < r->n_rounds; j++) {
            if (r->rounds[j].t_ms >= restart && r->rounds[j].converged) {
                r->flood_converged_ms = (int64_t)(r->rounds[j].t_ms - restart);
                break;
            }
        }
        if (missing) {
            set_inv(r, BNC_INV_FLOOD_REJOIN, 0,
                    "n%d restarted at +%.2f s; %d of %d nodeups between it and the others never "
                    "came",
                    y, rel_s(r, restart), missing, 2 * (r->opt.nodes - 1));
        } else {
            int on = last <= fr->ended_ms;
            set_inv(r, BNC_INV_FLOOD_REJOIN, on && r->flood_rejoin_ms <= BNC_FLOOD_REJOIN_MS,
                    "n%d restarted at +%.2f s: listening after %lld ms, linked with every node "
                    "after %lld ms (limit %u ms, %s), the probe saw a full mesh after %lld ms",
                    y, rel_s(r, restart), (long long)r->flood_listen_ms,
                    (long long)r->flood_rejoin_ms, BNC_FLOOD_REJOIN_MS,
                    on ? "the flood still on" : "after the flood ended",
                    (long long)r->flood_converged_ms);
        }
        break;
    }
    if (r->flood_restarted < 0) {
        set_inv(r, BNC_INV_FLOOD_REJOIN, 1, "no node restarted during the flood");
    }
    set_inv(r, BNC_INV_FLOOD_HTTP, fl->http_probes > 0 && fl->http_ok == fl->http_probes,
            "%llu of %llu GET /health to n%d answered 200 during the flood, slowest %llu ms%s%s",
            (unsigned long long)fl->http_ok, (unsigned long long)fl->http_probes, x,
            (unsigned long long)fl->http_max_ms, fl->http_last_error[0] ? "; last error: " : "",
            fl->http_last_error);
    set_inv(r, BNC_INV_FLOOD_RSS,
            r->flood_rss_peak_kb > 0 && r->flood_rss_peak_kb <= BNC_FLOOD_RSS_LIMIT_KB,
            "n%d: %llu KiB before the flood, %llu KiB at the peak, %llu KiB at its end (limit "
            "%u KiB)",
            x, (unsigned long long)r->flood_rss_before_kb, (unsigned long long)r->flood_rss_peak_kb,
            (unsigned long long)r->flood_rss_after_kb, BNC_FLOOD_RSS_LIMIT_KB);
}

static void judge(bnc_run_t *r)
{
    if (r->setup_error) {
        set_inv(r, BNC_INV_FORMED, 0, "%s", r->setup_why);
    } else {
        set_inv(r, BNC_INV_FORMED, 1, "%d nodes, %zu clients", r->opt.nodes, r->wl.n_clients);
    }
    r->grace.before_ms = 300;
    r->grace.after_ms = 500;
    r->grace.rejoin_ms = 1500;
    r->n_windows = 0;
    for (size_t i = 0; i < r->sched.n; i++) {
        const bnc_fault_t *f = &r->sched.faults[i];
        if (!bnc_fault_kind_separating(f->kind) || !r->fr[i].started) {
            continue;
        }
        bnc_window_t *w = &r->windows[r->n_windows++];
        w->fault = *f;
        w->start_ms = r->fr[i].started_ms;
        w->end_ms = fault_window_end(r, i);
    }
    r->n_buckets = r->wl.n_buckets;
    r->lost_per_bucket = calloc(r->n_buckets + 1, sizeof(uint64_t));
    if (r->lost_per_bucket == NULL) {
        abort();
    }
    bnc_ledger_tally(&r->ledger, r->windows, r->n_windows, &r->grace, &r->tally, r->lost_per_bucket,
                     r->n_buckets, BNC_BUCKET_MS);
    const bnc_tally_t *t = &r->tally;
    set_inv(r, BNC_INV_DELIVERED, t->sent > 0 && t->delivered > 0,
            "%llu sent, %llu of %llu expected copies delivered", (unsigned long long)t->sent,
            (unsigned long long)t->delivered, (unsigned long long)t->expected);
    set_inv(r, BNC_INV_NO_UNEXPLAINED_LOSS, t->lost_unexplained == 0,
            "%llu lost in fault windows, %llu while rejoining, %llu unexplained",
            (unsigned long long)t->lost[BNC_LOSS_FAULT],
            (unsigned long long)t->lost[BNC_LOSS_REJOIN], (unsigned long long)t->lost_unexplained);
    set_inv(r, BNC_INV_NO_DUPLICATES, t->dups == 0, "%llu duplicate copies",
            (unsigned long long)t->dups);
    set_inv(r, BNC_INV_NO_REORDER, t->reordered == 0, "%llu copies out of order",
            (unsigned long long)t->reordered);
    set_inv(r, BNC_INV_NO_PHANTOMS, t->unknown == 0, "%llu copies of unknown messages",
            (unsigned long long)t->unknown);
    judge_detection(r);
    if (r->setup_error) {
        set_inv(r, BNC_INV_RECONVERGED, 0, "no run");
    } else if (r->sched.n == 0 || r->final_heal_ms == 0) {
        set_inv(r, BNC_INV_RECONVERGED, r->last_converged, "no heal; converged at the end: %s",
                r->last_converged ? "yes" : "no");
    } else if (r->final_converged_ms == 0) {
        set_inv(r, BNC_INV_RECONVERGED, 0, "never reconverged after the last heal (%s)",
                r->probe.last_why);
    } else {
        uint64_t d = r->final_converged_ms - r->final_heal_ms;
        set_inv(r, BNC_INV_RECONVERGED, d <= BNC_CONVERGE_LIMIT_MS,
                "converged %llu ms after the last heal (limit %u ms)", (unsigned long long)d,
                BNC_CONVERGE_LIMIT_MS);
    }
    int crashes = bnc_cluster_crashes(&r->cl);
    set_inv(r, BNC_INV_NO_CRASHES, crashes == 0, "%d unexpected exits", crashes);
    int san = r->cl.imp.sanitizer_lines;
    for (int i = 0; i < r->opt.nodes; i++) {
        san += r->cl.nodes[i].sanitizer_lines;
    }
    if (bnc_binary_has_sanitizer(r->opt.bennu)) {
        set_inv(r, BNC_INV_NO_SANITIZER, san == 0, "%d sanitizer lines", san);
    } else {
        /* A release binary never writes a report: no lines proves nothing. */
        r->inv_unchecked[BNC_INV_NO_SANITIZER] = 1;
        set_inv(r, BNC_INV_NO_SANITIZER, san == 0,
                "%s has no sanitizer (build with -DBN_SANITIZE=ON to check this)", r->opt.bennu);
    }
    if (r->setup_error) {
        set_inv(r, BNC_INV_PRESENCE, 0, "no run");
    } else if (!r->presence_judged) {
        set_inv(r, BNC_INV_PRESENCE, 0,
                "never judged: no probe round after the last heal with every client joined");
    } else {
        set_inv(r, BNC_INV_PRESENCE, r->presence_ok, "last round: %s (%llu rounds agreed)",
                r->presence_why, (unsigned long long)r->presence_rounds_ok);
    }
    for (int i = 0; i < BNC_INV_COUNT; i++) {
        r->inv_applies[i] = bnc_invariant_applies((bnc_invariant_t)i, &r->sched);
    }
    if (r->inv_applies[BNC_INV_TAMPER_DETECTED]) {
        judge_tamper(r);
    }
    if (r->inv_applies[BNC_INV_NAME_HELD]) {
        judge_impostor(r);
    }
    if (r->inv_applies[BNC_INV_FLOOD_CONTAINED]) {
        judge_flood(r);
    }
    r->all_pass = 1;
    for (int i = 0; i < BNC_INV_COUNT; i++) {
        if (r->inv_applies[i]) {
            r->all_pass &= r->inv_pass[i];
        }
    }
}

/* ---- setup ---- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void setup(bnc_run_t *r)
{
    const bnc_opts_t *o = &r->opt;
    uint64_t rng = bnc_rng_seed(o->seed ^ uv_hrtime());
    random_hex(r->cookie, 16, &rng);
    random_hex(r->secret, 32, &rng);
    int netns = o->mode == BNC_MODE_NETNS;
    int rc = netns ? 0 : bnc_fabric_init(&r->fab, &r->loop, o->nodes, o->seed);
    r->fab.now_ms = bnc_run_now;
    r->fab.now_ud = r;
    if (rc != 0) {
        fail_setup(r, "cannot create the proxies");
        return;
    }
    rc = bnc_cluster_init(&r->cl, &r->loop, o->nodes, netns ? NULL : &r->fab);
    if (netns) {
        bnc_cluster_use_netns(&r->cl, r->ns_names, r->ns_addrs);
    }
    r->cl.bennu = o->bennu;
    r->cl.out_dir = o->out;
    r->cl.cookie = r->cookie;
    r->cl.secret = r->secret;
    r->cl.tick_ms = o->tick_ms;
    r->cl.down_ms = o->down_ms;
    r->cl.now_ms = bnc_run_now;
    r->cl.now_ud = r;
    if (rc != 0) {
        fail_setup(r, "no free ports");
        return;
    }
    int http[BNC_MAX_NODES];
    for (int i = 0; i < o->nodes; i++) {
        r->fab.mesh_port[i] = r->cl.nodes[i].mesh_port;
        http[i] = r->cl.nodes[i].http_port;
        r->names[i] = r->cl.nodes[i].name;
        snprintf(r->seeds[i], sizeof(r->seeds[i]), "%s:%d", netns ? r->ns_addrs[i] : "127.0.0.1",
                 r->cl.nodes[i].mesh_port);
        r->seed_ptrs[i] = r->seeds[i];
    }
    for (int i = 0; i < o->nodes; i++) {
        rc = bnc_node_start(&r->cl, i);
        if (rc != 0) {
            char why[512];
            snprintf(why, sizeof(why), "cannot start %s: %s", o->bennu, uv_strerror(rc));
            fail_setup(r, why);
            return;
        }
    }
    int clients[BNC_MAX_NODES * 64];
    size_t nc = (size_t)o->nodes * (size_t)o->per_node;
    for (size_t k = 0; k < nc; k++) {
        clients[k] = (int)(k / (size_t)o->per_node);
    }
    bnc_ledger_init(&r->ledger, nc, clients);
    size_t buckets =
        (size_t)((BNC_FORM_TIMEOUT_MS + o->duration_ms + BNC_DRAIN_MS + 20000) / BNC_BUCKET_MS);
    rc = bnc_workload_start(&r->wl, &r->loop, o->nodes, o->per_node, netns ? r->ns_addrs : NULL,
                            http, o->rate, &r->ledger, bnc_run_now, r, buckets, BNC_BUCKET_MS);
    if (rc != 0) {
        fail_setup(r, "cannot start the workload");
        return;
    }
    rc = bnc_probe_start(&r->probe, &r->loop, o->nodes, r->names, r->seed_ptrs, r->cookie,
                         o->tick_ms, o->down_ms, 200, on_round, r);
    if (rc != 0) {
        fail_setup(r, "cannot start the probe mesh");
        return;
    }
    r->probe.answers = on_answers;
    say(r, "%d nodes started (%s, %s mode), %zu clients connecting", o->nodes, o->bennu,
        bnc_mode_name(o->mode), nc);
}

/* The namespaces of a run that exits some other way than through the end
 * of bnc_run (exit() from a library, say) are still deleted. */
static bnc_netns_t *netns_live;

static void netns_atexit(void)
{
    if (netns_live != NULL) {
        bnc_netns_teardown(netns_live);
        netns_live = NULL;
    }
}

int bnc_run(bnc_run_t *r, const bnc_opts_t *opt)
{
    memset(r, 0, sizeof(*r));
    r->opt = *opt;
    r->flood_node = -1;
    r->flood_restarted = -1;
    r->flood_listen_ms = -1;
    r->flood_rejoin_ms = -1;
    r->flood_converged_ms = -1;
    r->t0_ns = uv_hrtime();
    /* The probe's mesh logs to our stderr; only its errors matter (link closes are the point of the exercise). */
    bn_log_level = BN_LOG_ERROR;
    bnc_timing_t timing = {opt->tick_ms, opt->down_ms};
    if (bnc_schedule_build(&r->sched, opt->scenario, opt->nodes, opt->duration_ms, opt->seed,
                           &timing) != 0) {
        return 2;
    }
    if (mkdir_p(opt->out) != 0) {
        fprintf(stderr, "bennu-chaos: cannot create %s: %s\n", opt->out, strerror(errno));
        return 2;
    }
    uv_loop_init(&r->loop);
    uv_timer_init(&r->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, tick_cb, TICK_MS, TICK_MS);
    say(r, "scenario %s, %d nodes, %.1f s, seed %llu", bnc_scenario_name(opt->scenario), opt->nodes,
        (double)opt->duration_ms / 1000.0, (unsigned long long)opt->seed);
    for (int k = 0; k < 2; k++) {
        uv_signal_init(&r->loop, &r->sig[k]);
        r->sig[k].data = r;
        uv_signal_start(&r->sig[k], on_signal, k == 0 ? SIGINT : SIGTERM);
    }
    if (opt->mode == BNC_MODE_NETNS) {
        char why[512];
        if (bnc_netns_setup(&r->ns, &r->loop, opt->nodes, opt->seed, bnc_run_now, r, why,
                            sizeof(why)) != 0) {
            fprintf(stderr, "bennu-chaos: netns mode cannot be set up: %s\n", why);
            uv_close((uv_handle_t *)&r->timer, NULL);
            uv_close((uv_handle_t *)&r->sig[0], NULL);
            uv_close((uv_handle_t *)&r->sig[1], NULL);
            uv_run(&r->loop, UV_RUN_DEFAULT);
            uv_loop_close(&r->loop);
            return 2;
        }
        netns_live = &r->ns;
        atexit(netns_atexit);
        for (int i = 0; i < opt->nodes; i++) {
            r->ns_names[i] = r->ns.ns[i];
            r->ns_addrs[i] = r->ns.addr[i];
        }
        say(r, "netns: bridge %s %s/24, namespaces %s..%s; latency via NFQUEUE (tc netem %s)",
            r->ns.bridge, r->ns.bridge_addr, r->ns.ns[0], r->ns.ns[opt->nodes - 1],
            r->ns.netem_available ? "available but not used" : "not in this kernel");
    }
    setup(r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    if (opt->mode == BNC_MODE_NETNS) {
        bnc_netns_teardown(&r->ns);
        netns_live = NULL;
        if (r->ns.cmd_failures > 0) {
            fprintf(stderr, "bennu-chaos: warning: %llu netns commands failed; last: %s\n",
                    (unsigned long long)r->ns.cmd_failures, r->ns.last_error);
        }
    }
    if (uv_loop_close(&r->loop) != 0) {
        say(r, "warning: handles left open at exit");
    }
    judge(r);
    if (bnc_report_write(r) != 0) {
        fprintf(stderr, "bennu-chaos: cannot write the report into %s\n", opt->out);
    }
    if (!opt->quiet) {
        bnc_report_print_summary(r, stdout);
    }
    if (r->interrupted) {
        return 130;
    }
    return r->all_pass ? 0 : 1;
}

void bnc_run_free(bnc_run_t *r)
{
    bnc_ledger_free(&r->ledger);
    bnc_workload_free(&r->wl);
    bnc_cluster_free(&r->cl);
    bnc_netns_free(&r->ns);
    free(r->rounds);
    free(r->lost_per_bucket);
    r->rounds = NULL;
    r->lost_per_bucket = NULL;
}
