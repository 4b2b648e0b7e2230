/* Reports of a finished run: report.txt (summary with PASS/FAIL per
 * invariant), report.json (every figure) and timeline.svg (faults, link
 * states, convergence and delivery rate over time, drawn by hand). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define BNC_STR_(x) #x
#define BNC_STR(x) BNC_STR_(x)

static double sec(uint64_t ms)
{
    return (double)ms / 1000.0;
}

/* Schedule-relative seconds of a run-clock time (negative before it). */
static double rel(const bnc_run_t *r, uint64_t t)
{
    return ((double)t - (double)r->sched0_ms) / 1000.0;
}

/* ---- text ---- */

static void print_attacks(const bnc_run_t *r, FILE *out)
{
    const bnc_cluster_t *cl = &r->cl;
    if (r->inv_applies[BNC_INV_NAME_HELD]) {
        fprintf(out, "\nimpostor (named %s, mesh port %d): %d start(s), %zu refusals, %u links\n",
                cl->imp.name, cl->imp.mesh_port, cl->imp.starts, cl->n_refusals, cl->imp_nodeups);
        for (size_t i = 0; i < cl->n_refusals; i++) {
            fprintf(out, "  +%.2f s refused by %s: %s\n", rel(r, cl->refusals[i].t_ms),
                    cl->refusals[i].addr, cl->refusals[i].reason);
        }
        fprintf(out, "  mesh_name_clash lines:");
        for (int i = 0; i < r->opt.nodes; i++) {
            fprintf(out, " n%d %u", i, cl->nodes[i].name_clashes);
        }
        fprintf(out, "\n");
    }
    if (r->inv_applies[BNC_INV_TAMPER_DETECTED]) {
        fprintf(out, "\nattacks (frame = frames that direction carried before; the receiver must "
                     "drop the link):\n");
        for (size_t i = 0; i < r->fab.n_tampers; i++) {
            const bnc_tamper_event_t *e = &r->fab.tampers[i];
            const bnc_tamper_seen_t *sn = &r->tamper_seen[i];
            fprintf(out, "  +%.2f s n%d->n%d %-10s frame %llu (%s %u): ", rel(r, e->t_ms), e->from,
                    e->to, bnc_tamper_name(e->kind), (unsigned long long)e->frame,
                    e->kind == BNC_TAMPER_FLIP ? "byte" : "bytes", e->detail);
            if (sn->found) {
                fprintf(out, "n%d dropped n%d after %lld ms, %s%s\n", e->to, e->from,
                        (long long)sn->delay_ms, sn->reason,
                        strcmp(sn->reason, bnc_tamper_expect(e->kind)) == 0 ? "" : " (UNEXPECTED)");
            } else {
                fprintf(out, "NOT NOTICED\n");
            }
        }
    }
    if (r->inv_applies[BNC_INV_FLOOD_CONTAINED]) {
        const bnc_flood_t *f = &r->flood;
        fprintf(out,
                "\nflood on n%d: %u connections held, from %s; %llu attempts, %llu made, %llu "
                "failed, %llu Hellos, %llu closed by the node, at most %u open (%u after the "
                "burst)\n",
                r->flood_node, f->target,
                f->bind_failed ? "127.0.0.1" : "127.0.2.1-" BNC_STR(BNC_FLOOD_SOURCES),
                (unsigned long long)f->attempts, (unsigned long long)f->established,
                (unsigned long long)f->connect_failed, (unsigned long long)f->hellos,
                (unsigned long long)f->closed_by_node, f->max_open, f->max_open_settled);
        if (r->flood_node >= 0) {
            const bnc_node_t *nd = &cl->nodes[r->flood_node];
            fprintf(out,
                    "  node: RSS %llu KiB before, %llu KiB peak, %llu KiB at the end; %llu log "
                    "lines during the flood, %u pre-auth summaries (accepted %llu, evicted %llu, "
                    "at most %u open)\n",
                    (unsigned long long)r->flood_rss_before_kb,
                    (unsigned long long)r->flood_rss_peak_kb,
                    (unsigned long long)r->flood_rss_after_kb,
                    (unsigned long long)r->flood_lines_during, nd->preauth_summaries,
                    (unsigned long long)nd->pa_accepted, (unsigned long long)nd->pa_evicted,
                    nd->pa_open_max);
        }
        fprintf(out, "  GET /health: %llu of %llu answered 200, slowest %llu ms\n",
                (unsigned long long)f->http_ok, (unsigned long long)f->http_probes,
                (unsigned long long)f->http_max_ms);
        if (r->flood_restarted >= 0) {
            fprintf(out,
                    "  n%d restarted during the flood: listening after %lld ms, linked with "
                    "every node after %lld ms, probe converged after %lld ms\n",
                    r->flood_restarted, (long long)r->flood_listen_ms,
                    (long long)r->flood_rejoin_ms, (long long)r->flood_converged_ms);
        }
    }
}

void bnc_report_print_summary(const bnc_run_t *r, FILE *out)
{
    const bnc_opts_t *o = &r->opt;
    fprintf(out, "bennu-chaos %s: %s\n", bnc_scenario_name(o->scenario),
            r->all_pass ? "PASS" : "FAIL");
    fprintf(
        out,
        "  nodes %d, duration %.1f s, seed %llu, rate %.1f/s per publisher, %d clients per node\n",
        o->nodes, sec(o->duration_ms), (unsigned long long)o->seed, o->rate, o->per_node);
    fprintf(out, "  node timing: --tick-ms %u --down-ms %u; mode: %s\n", o->tick_ms, o->down_ms,
            bnc_mode_name(o->mode));
    if (o->mode == BNC_MODE_NETNS) {
        const bnc_netns_t *ns = &r->ns;
        fprintf(out,
                "  netns: bridge %s %s/24; iptables in every node namespace, latency via "
                "NFQUEUE (tc netem %s), bandwidth via tc htb; %llu rule updates, %llu tc "
                "updates\n",
                ns->bridge, ns->bridge_addr,
                ns->netem_available ? "available, not used" : "not in this kernel",
                (unsigned long long)ns->rule_updates, (unsigned long long)ns->tc_updates);
        if (ns->cmd_failures > 0) {
            fprintf(out,
                    "  WARNING: %llu kernel commands failed, so some faults may not have "
                    "been enacted; last: %s\n",
                    (unsigned long long)ns->cmd_failures, ns->last_error);
        }
    }
    fprintf(out, "  replay: bennu-chaos run %s --nodes %d --duration %.1f --seed %llu\n\n",
            bnc_scenario_name(o->scenario), o->nodes, sec(o->duration_ms),
            (unsigned long long)o->seed);
    fprintf(out, "faults (schedule time, s):\n");
    for (size_t i = 0; i < r->sched.n; i++) {
        char d[256];
        bnc_fault_describe(&r->sched.faults[i], d, sizeof(d));
        const bnc_fault_run_t *f = &r->fr[i];
        fprintf(out, "  #%-2u %s", r->sched.faults[i].id, d);
        if (f->started) {
            fprintf(out, "  [ran %.2f-%.2f", rel(r, f->started_ms), rel(r, f->ended_ms));
            if (f->converged_ms != 0) {
                fprintf(out, ", converged +%.2f s after", sec(f->converged_ms - f->ended_ms));
            }
            if (r->sched.faults[i].kind == BNC_FAULT_RESET) {
                fprintf(out, ", %u connections reset", f->resets);
            }
            fprintf(out, "]");
        }
        fprintf(out, "\n");
    }
    const bnc_tally_t *t = &r->tally;
    fprintf(out,
            "\nmessages: %llu sent, %llu copies expected, %llu delivered, %llu lost "
            "(%llu in fault windows, %llu rejoining, %llu unexplained), %llu duplicated, "
            "%llu reordered, %llu received while not joined\n",
            (unsigned long long)t->sent, (unsigned long long)t->expected,
            (unsigned long long)t->delivered,
            (unsigned long long)(t->lost_allowed + t->lost_unexplained),
            (unsigned long long)t->lost[BNC_LOSS_FAULT],
            (unsigned long long)t->lost[BNC_LOSS_REJOIN], (unsigned long long)t->lost_unexplained,
            (unsigned long long)t->dups, (unsigned long long)t->reordered,
            (unsigned long long)t->extra);
    for (size_t i = 0; i < t->n_examples; i++) {
        fprintf(out, "  unexplained: p%u (n%d) seq %llu -> client %u (n%d), sent at %.3f s\n",
                t->examples[i].pub, r->ledger.node_of[t->examples[i].pub],
                (unsigned long long)t->examples[i].seq, t->examples[i].sub,
                r->ledger.node_of[t->examples[i].sub], rel(r, t->examples[i].sent_ms));
    }
    if (r->n_detects > 0) {
        fprintf(out, "\ndown detection (fault start -> observer logs mesh_nodedown):\n");
        for (size_t i = 0; i < r->n_detects; i++) {
            const bnc_detect_t *d = &r->detects[i];
            if (d->delay_ms < 0) {
                fprintf(out, "  fault #%u: n%d never declared n%d down\n", d->fault_id, d->observer,
                        d->peer);
            } else {
                fprintf(out, "  fault #%u: n%d declared n%d down after %lld ms (%s)\n", d->fault_id,
                        d->observer, d->peer, (long long)d->delay_ms, d->reason);
            }
        }
    }
    if (r->final_heal_ms != 0) {
        if (r->final_converged_ms != 0) {
            fprintf(out, "\nconvergence after the last heal: %llu ms\n",
                    (unsigned long long)(r->final_converged_ms - r->final_heal_ms));
        } else {
            fprintf(out, "\nconvergence after the last heal: never (%s)\n", r->probe.last_why);
        }
    }
    print_attacks(r, out);
    fprintf(out, "\nnodes:\n");
    for (int i = 0; i < o->nodes; i++) {
        const bnc_node_t *n = &r->cl.nodes[i];
        fprintf(out,
                "  %s http %d mesh %d: %d start(s), RSS %llu -> %llu KiB, %d sanitizer lines\n",
                n->name, n->http_port, n->mesh_port, n->starts, (unsigned long long)n->rss_start_kb,
                (unsigned long long)n->rss_end_kb, n->sanitizer_lines);
    }
    for (size_t i = 0; i < r->cl.n_exits; i++) {
        const bnc_exit_t *e = &r->cl.exits[i];
        char who[16];
        if (e->node < 0) {
            snprintf(who, sizeof(who), "impostor");
        } else {
            snprintf(who, sizeof(who), "n%d", e->node);
        }
        fprintf(out, "  exit: %s at %.2f s status %lld signal %d (%s)\n", who, rel(r, e->t_ms),
                (long long)e->status, e->signal, e->expected ? "expected" : "UNEXPECTED");
    }
    fprintf(out, "\ninvariants:\n");
    for (int i = 0; i < BNC_INV_COUNT; i++) {
        if (!r->inv_applies[i]) {
            continue;
        }
        fprintf(out, "  %s %-22s %s\n",
                r->inv_unchecked[i] ? "not checked:"
                : r->inv_pass[i]    ? "PASS"
                                    : "FAIL",
                bnc_invariant_name((bnc_invariant_t)i), r->inv_detail[i]);
    }
    fprintf(out, "\nresult: %s\n", r->all_pass ? "PASS" : "FAIL");
}

/* ---- JSON ---- */

static json_t *mask_json(uint32_t m)
{
    json_t *a = json_array();
    for (int i = 0; i < 32; i++) {
        if (m & (1u << i)) {
            json_array_append_new(a, json_integer(i));
        }
    }
    return a;
}

/* netns mode's objects and counters (the proxies' counterpart). */
static json_t *netns_json(const bnc_run_t *r)
{
    const bnc_netns_t *ns = &r->ns;
    json_t *names = json_array();
    json_t *addrs = json_array();
    json_t *flows = json_array();
    for (int i = 0; i < ns->n; i++) {
        json_array_append_new(names, json_string(ns->ns[i]));
        json_array_append_new(addrs, json_string(ns->addr[i]));
        for (int j = 0; j < ns->n; j++) {
            if (i == j) {
                continue;
            }
            const bnc_nfq_flow_t *q = &ns->q[i][j];
            json_array_append_new(flows,
                                  json_pack("{s:i, s:i, s:I, s:I, s:I}", "from", i, "to", j,
                                            "delayed_packets", (json_int_t)q->delayed,
                                            "max_queued_packets", (json_int_t)q->max_held,
                                            "sockets_destroyed", (json_int_t)ns->killed[i][j]));
        }
    }
    char subnet[48];
    snprintf(subnet, sizeof(subnet), "%d.%d.%d.0/24", BNC_NS_NET_A, BNC_NS_NET_B, ns->subnet);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:s, s:o}",
                     "bridge", ns->bridge, "subnet", subnet, "bridge_addr", ns->bridge_addr,
                     "namespaces", names, "addrs", addrs, "latency_via", "nfqueue", "bandwidth_via",
                     "tc htb", "netem_available", ns->netem_available, "rule_updates",
                     (json_int_t)ns->rule_updates, "tc_updates", (json_int_t)ns->tc_updates,
                     "nfq_overruns", (json_int_t)ns->nfq_overruns, "command_failures",
                     (json_int_t)ns->cmd_failures, "last_error", ns->last_error, "flows", flows);
}

/* The attack scenarios' figures: "impostor", "tampers", "flood". */
static void attacks_json(const bnc_run_t *r, json_t *root)
{
    const bnc_cluster_t *cl = &r->cl;
    if (r->inv_applies[BNC_INV_NAME_HELD]) {
        json_t *refs = json_array();
        for (size_t i = 0; i < cl->n_refusals; i++) {
            json_array_append_new(
                refs, json_pack("{s:I, s:s, s:s}", "t_ms", (json_int_t)cl->refusals[i].t_ms, "by",
                                cl->refusals[i].addr, "reason", cl->refusals[i].reason));
        }
        json_t *clashes = json_array();
        for (int i = 0; i < r->opt.nodes; i++) {
            json_array_append_new(clashes, json_integer(cl->nodes[i].name_clashes));
        }
        json_object_set_new(root, "impostor",
                            json_pack("{s:s, s:i, s:i, s:i, s:o, s:I, s:o, s:I, s:I, s:i}", "name",
                                      cl->imp.name, "as_node", cl->imp_as, "mesh_port",
                                      cl->imp.mesh_port, "starts", cl->imp.starts, "refusals", refs,
                                      "links", (json_int_t)cl->imp_nodeups, "name_clash_lines",
                                      clashes, "probe_rounds", (json_int_t)r->imp_rounds,
                                      "probe_rounds_wrong", (json_int_t)r->imp_bad,
                                      "sanitizer_lines", cl->imp.sanitizer_lines));
    }
    if (r->inv_applies[BNC_INV_TAMPER_DETECTED]) {
        json_t *t = json_array();
        for (size_t i = 0; i < r->fab.n_tampers; i++) {
            const bnc_tamper_event_t *e = &r->fab.tampers[i];
            const bnc_tamper_seen_t *sn = &r->tamper_seen[i];
            json_array_append_new(
                t,
                json_pack("{s:I, s:i, s:i, s:s, s:I, s:I, s:s, s:b, s:I, s:s}", "t_ms",
                          (json_int_t)e->t_ms, "from", e->from, "to", e->to, "kind",
                          bnc_tamper_name(e->kind), "frame", (json_int_t)e->frame, "detail",
                          (json_int_t)e->detail, "expect", bnc_tamper_expect(e->kind), "noticed",
                          sn->found, "delay_ms", (json_int_t)sn->delay_ms, "reason", sn->reason));
        }
        json_object_set_new(root, "tampers", t);
        json_object_set_new(
            root, "resumed",
            json_pack("{s:I, s:[I, I], s:[I, I]}", "from_ms", (json_int_t)r->resumed_from_ms,
                      "expected", (json_int_t)r->resumed_expected[0],
                      (json_int_t)r->resumed_expected[1], "delivered",
                      (json_int_t)r->resumed_delivered[0], (json_int_t)r->resumed_delivered[1]));
    }
    if (r->inv_applies[BNC_INV_FLOOD_CONTAINED]) {
        const bnc_flood_t *f = &r->flood;
        const bnc_node_t *nd = r->flood_node >= 0 ? &cl->nodes[r->flood_node] : NULL;
        json_t *j = json_pack(
            "{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:b, s:I, s:I, s:I, s:s}", "node",
            r->flood_node, "target", (json_int_t)f->target, "attempts", (json_int_t)f->attempts,
            "established", (json_int_t)f->established, "connect_failed",
            (json_int_t)f->connect_failed, "hellos", (json_int_t)f->hellos, "closed_by_node",
            (json_int_t)f->closed_by_node, "bytes_from_node", (json_int_t)f->bytes_in, "max_open",
            (int)f->max_open, "max_open_after_burst", (int)f->max_open_settled,
            "from_127_0_0_1_only", f->bind_failed, "http_probes", (json_int_t)f->http_probes,
            "http_ok", (json_int_t)f->http_ok, "http_max_ms", (json_int_t)f->http_max_ms,
            "http_last_error", f->http_last_error);
        json_object_set_new(j, "rss_before_kb", json_integer((json_int_t)r->flood_rss_before_kb));
        json_object_set_new(j, "rss_peak_kb", json_integer((json_int_t)r->flood_rss_peak_kb));
        json_object_set_new(j, "rss_after_kb", json_integer((json_int_t)r->flood_rss_after_kb));
        json_object_set_new(j, "log_lines", json_integer((json_int_t)r->flood_lines_during));
        json_object_set_new(j, "restarted", json_integer(r->flood_restarted));
        json_object_set_new(j, "listening_ms", json_integer((json_int_t)r->flood_listen_ms));
        json_object_set_new(j, "rejoin_ms", json_integer((json_int_t)r->flood_rejoin_ms));
        json_object_set_new(j, "converged_ms", json_integer((json_int_t)r->flood_converged_ms));
        if (nd != NULL) {
            json_object_set_new(
                j, "preauth_summaries",
                json_pack("{s:i, s:I, s:I, s:I, s:i}", "lines", (int)nd->preauth_summaries,
                          "accepted", (json_int_t)nd->pa_accepted, "evicted",
                          (json_int_t)nd->pa_evicted, "closed", (json_int_t)nd->pa_closed,
                          "open_max", (int)nd->pa_open_max));
        }
        json_object_set_new(root, "flood", j);
    }
}

static json_t *report_json(const bnc_run_t *r)
{
    const bnc_opts_t *o = &r->opt;
    json_t *root = json_object();
    json_object_set_new(root, "scenario", json_string(bnc_scenario_name(o->scenario)));
    json_object_set_new(root, "pass", json_boolean(r->all_pass));
    json_object_set_new(root, "mode", json_string(bnc_mode_name(o->mode)));
    json_object_set_new(root, "nodes", json_integer(o->nodes));
    json_object_set_new(root, "duration_ms", json_integer((json_int_t)o->duration_ms));
    json_object_set_new(root, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(root, "rate", json_real(o->rate));
    json_object_set_new(root, "clients_per_node", json_integer(o->per_node));
    json_object_set_new(root, "tick_ms", json_integer(o->tick_ms));
    json_object_set_new(root, "down_ms", json_integer(o->down_ms));
    json_object_set_new(root, "schedule_start_ms", json_integer((json_int_t)r->sched0_ms));

    json_t *inv = json_object();
    for (int i = 0; i < BNC_INV_COUNT; i++) {
        if (!r->inv_applies[i]) {
            continue;
        }
        json_object_set_new(
            inv, bnc_invariant_name((bnc_invariant_t)i),
            json_pack("{s:o, s:b, s:s, s:s}", "pass",
                      r->inv_unchecked[i] ? json_null() : json_boolean(r->inv_pass[i]), "checked",
                      !r->inv_unchecked[i], "detail", r->inv_detail[i], "meaning",
                      bnc_invariant_desc((bnc_invariant_t)i)));
    }
    json_object_set_new(root, "invariants", inv);

    json_t *faults = json_array();
    for (size_t i = 0; i < r->sched.n; i++) {
        const bnc_fault_t *f = &r->sched.faults[i];
        const bnc_fault_run_t *fr = &r->fr[i];
        char d[256];
        bnc_fault_describe(f, d, sizeof(d));
        json_t *j = json_pack(
            "{s:I, s:s, s:s, s:o, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I}",
            "id", (json_int_t)f->id, "kind", bnc_fault_kind_name(f->kind), "text", d, "a",
            mask_json(f->a_mask), "b", mask_json(f->b_mask), "oneway", f->oneway, "latency_ms",
            (json_int_t)f->latency_ms, "jitter_ms", (json_int_t)f->jitter_ms, "bw_bytes_per_s",
            (json_int_t)f->bw_bytes_per_s, "planned_start_ms", (json_int_t)f->start_ms,
            "planned_end_ms", (json_int_t)f->end_ms, "ran", fr->started, "started_ms",
            (json_int_t)fr->started_ms, "ended_ms", (json_int_t)fr->ended_ms, "converged_ms",
            (json_int_t)fr->converged_ms, "connections_reset", (json_int_t)fr->resets);
        json_array_append_new(faults, j);
    }
    json_object_set_new(root, "faults", faults);

    json_t *wins = json_array();
    for (size_t i = 0; i < r->n_windows; i++) {
        json_array_append_new(wins, json_pack("{s:I, s:I, s:I}", "fault",
                                              (json_int_t)r->windows[i].fault.id, "start_ms",
                                              (json_int_t)r->windows[i].start_ms, "end_ms",
                                              (json_int_t)r->windows[i].end_ms));
    }
    json_object_set_new(root, "fault_windows", wins);
    json_object_set_new(root, "grace_ms",
                        json_pack("{s:i, s:i, s:i}", "before", r->grace.before_ms, "after",
                                  r->grace.after_ms, "rejoin", r->grace.rejoin_ms));

    const bnc_tally_t *t = &r->tally;
    json_t *lost = json_object();
    for (int i = 0; i < BNC_LOSS_COUNT; i++) {
        json_object_set_new(lost, bnc_loss_name((bnc_loss_t)i),
                            json_integer((json_int_t)t->lost[i]));
    }
    json_t *ex = json_array();
    for (size_t i = 0; i < t->n_examples; i++) {
        json_array_append_new(ex, json_pack("{s:i, s:i, s:I, s:I}", "publisher",
                                            (int)t->examples[i].pub, "subscriber",
                                            (int)t->examples[i].sub, "seq",
                                            (json_int_t)t->examples[i].seq, "sent_ms",
                                            (json_int_t)t->examples[i].sent_ms));
    }
    json_object_set_new(
        root, "messages",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "sent",
                  (json_int_t)t->sent, "expected", (json_int_t)t->expected, "delivered",
                  (json_int_t)t->delivered, "lost_allowed", (json_int_t)t->lost_allowed,
                  "lost_unexplained", (json_int_t)t->lost_unexplained, "duplicated",
                  (json_int_t)t->dups, "reordered", (json_int_t)t->reordered, "unknown",
                  (json_int_t)t->unknown, "received_not_joined", (json_int_t)t->extra,
                  "lost_by_class", lost, "unexplained_examples", ex));

    json_t *det = json_array();
    for (size_t i = 0; i < r->n_detects; i++) {
        const bnc_detect_t *d = &r->detects[i];
        json_array_append_new(det, json_pack("{s:I, s:i, s:i, s:I, s:s}", "fault",
                                             (json_int_t)d->fault_id, "observer", d->observer,
                                             "peer", d->peer, "delay_ms", (json_int_t)d->delay_ms,
                                             "reason", d->reason));
    }
    json_object_set_new(root, "down_detection", det);
    json_object_set_new(
        root, "convergence",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:s}", "final_heal_ms", (json_int_t)r->final_heal_ms,
                  "converged_ms", (json_int_t)r->final_converged_ms, "after_heal_ms",
                  (json_int_t)(r->final_converged_ms != 0 && r->final_heal_ms != 0
                                   ? r->final_converged_ms - r->final_heal_ms
                                   : 0),
                  "probe_rounds", (json_int_t)r->probe.rounds, "probe_timeouts",
                  (json_int_t)r->probe.timeouts, "last_disagreement", r->probe.last_why));

    json_t *nodes = json_array();
    for (int i = 0; i < o->nodes; i++) {
        const bnc_node_t *n = &r->cl.nodes[i];
        json_array_append_new(
            nodes, json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:i}", "name", n->name, "http_port",
                             n->http_port, "mesh_port", n->mesh_port, "starts", n->starts,
                             "rss_start_kb", (json_int_t)n->rss_start_kb, "rss_end_kb",
                             (json_int_t)n->rss_end_kb, "sanitizer_lines", n->sanitizer_lines));
    }
    json_object_set_new(root, "node_stats", nodes);
    json_t *exits = json_array();
    for (size_t i = 0; i < r->cl.n_exits; i++) {
        const bnc_exit_t *e = &r->cl.exits[i];
        json_array_append_new(exits, json_pack("{s:i, s:I, s:I, s:i, s:b}", "node", e->node, "t_ms",
                                               (json_int_t)e->t_ms, "status", (json_int_t)e->status,
                                               "signal", e->signal, "expected", e->expected));
    }
    json_object_set_new(root, "exits", exits);
    json_object_set_new(root, "crashes", json_integer(bnc_cluster_crashes(&r->cl)));

    json_t *ev = json_array();
    for (size_t i = 0; i < r->cl.n_events; i++) {
        const bnc_mesh_event_t *e = &r->cl.events[i];
        json_array_append_new(ev,
                              json_pack("{s:I, s:i, s:i, s:s, s:s}", "t_ms", (json_int_t)e->t_ms,
                                        "observer", e->observer, "peer", e->peer, "event",
                                        e->up ? "nodeup" : "nodedown", "reason", e->reason));
    }
    json_object_set_new(root, "mesh_events", ev);

    json_t *px = json_array();
    for (int i = 0; i < o->nodes && o->mode == BNC_MODE_PROXY; i++) {
        for (int j = 0; j < o->nodes; j++) {
            if (i == j) {
                continue;
            }
            bnc_proxy_stats_t s = bnc_fabric_stats(&r->fab, i, j);
            json_array_append_new(
                px, json_pack("{s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "dialer", i,
                              "target", j, "port", r->fab.listen_port[i][j], "accepted",
                              (json_int_t)s.accepted, "refused", (json_int_t)s.refused,
                              "reset_by_fault", (json_int_t)s.reset_by_fault, "overflow_resets",
                              (json_int_t)s.overflow_resets, "bytes_forward",
                              (json_int_t)s.bytes[0], "bytes_back", (json_int_t)s.bytes[1],
                              "max_held_bytes", (json_int_t)s.max_held));
        }
    }
    json_object_set_new(root, "proxies", px);
    attacks_json(r, root);
    if (o->mode == BNC_MODE_NETNS) {
        json_object_set_new(root, "netns", netns_json(r));
    }

    json_t *cl = json_array();
    for (size_t i = 0; i < r->wl.n_clients; i++) {
        const bnc_client_t *c = &r->wl.clients[i];
        json_array_append_new(cl,
                              json_pack("{s:i, s:i, s:I, s:I, s:I}", "client", (int)i, "node",
                                        c->node, "sent", (json_int_t)c->seq, "connects",
                                        (json_int_t)c->connects, "drops", (json_int_t)c->drops));
    }
    json_object_set_new(root, "clients", cl);

    json_t *tl = json_object();
    json_t *sent = json_array();
    json_t *recv = json_array();
    json_t *lostb = json_array();
    size_t last = r->end_ms / BNC_BUCKET_MS + BNC_DRAIN_MS / BNC_BUCKET_MS + 1;
    for (size_t b = r->sched0_ms / BNC_BUCKET_MS; b < last && b < r->n_buckets; b++) {
        json_array_append_new(sent, json_integer((json_int_t)r->wl.sent_per_bucket[b]));
        json_array_append_new(recv, json_integer((json_int_t)r->wl.recv_per_bucket[b]));
        json_array_append_new(lostb, json_integer((json_int_t)r->lost_per_bucket[b]));
    }
    json_object_set_new(tl, "bucket_ms", json_integer(BNC_BUCKET_MS));
    json_object_set_new(tl, "first_bucket_ms",
                        json_integer((json_int_t)(r->sched0_ms / BNC_BUCKET_MS * BNC_BUCKET_MS)));
    json_object_set_new(tl, "sent", sent);
    json_object_set_new(tl, "delivered", recv);
    json_object_set_new(tl, "lost_by_send_time", lostb);
    json_t *rounds = json_array();
    for (size_t i = 0; i < r->n_rounds; i++) {
        json_array_append_new(
            rounds, json_pack("[I, b]", (json_int_t)r->rounds[i].t_ms, r->rounds[i].converged));
    }
    json_object_set_new(tl, "probe_rounds", rounds);
    json_object_set_new(root, "timeline", tl);
    return root;
}

/* ---- SVG ---- */

#define SVG_W 1100
#define SVG_LEFT 170
#define SVG_RIGHT 20
#define LANE_H 22

typedef struct svg_s {
    FILE *f;
    const bnc_run_t *r;
    uint64_t t_from; /* run clock */
    uint64_t t_to;
} svg_t;

static double sx(const svg_t *s, uint64_t t)
{
    if (t < s->t_from) {
        t = s->t_from;
    }
    if (t > s->t_to) {
        t = s->t_to;
    }
    return SVG_LEFT +
           (double)(t - s->t_from) * (SVG_W - SVG_LEFT - SVG_RIGHT) / (double)(s->t_to - s->t_from);
}

static const char *kind_color(bnc_fault_kind_t k)
{
    switch (k) {
    case BNC_FAULT_PARTITION:
        return "#d62728";
    case BNC_FAULT_BLACKHOLE:
        return "#444444";
    case BNC_FAULT_RESET:
        return "#ff7f0e";
    case BNC_FAULT_LATENCY:
        return "#9467bd";
    case BNC_FAULT_BANDWIDTH:
        return "#8c564b";
    case BNC_FAULT_KILL:
        return "#e377c2";
    case BNC_FAULT_PAUSE:
        return "#17becf";
    case BNC_FAULT_TAMPER:
        return "#bcbd22";
    case BNC_FAULT_IMPOSTOR:
        return "#7f7f7f";
    case BNC_FAULT_FLOOD:
        return "#1f77b4";
    default:
        return "#999999";
    }
}

static void svg_rect(const svg_t *s, uint64_t a, uint64_t b, double y, double h, const char *color,
                     const char *title)
{
    double x0 = sx(s, a);
    double w = sx(s, b) - x0;
    if (w < 2) {
        w = 2;
    }
    fprintf(s->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">", x0, y,
            w, h, color);
    if (title != NULL) {
        fprintf(s->f, "<title>");
        for (const char *c = title; *c != '\0'; c++) {
            if (*c == '<') {
                fputs("&lt;", s->f);
            } else if (*c == '>') {
                fputs("&gt;", s->f);
            } else if (*c == '&') {
                fputs("&amp;", s->f);
            } else {
                fputc(*c, s->f);
            }
        }
        fprintf(s->f, "</title>");
    }
    fprintf(s->f, "</rect>\n");
}

static void svg_label(const svg_t *s, double y, const char *text)
{
    fprintf(s->f, "<text x=\"6\" y=\"%.1f\" font-size=\"11\">%s</text>\n", y + 15, text);
}

/* Whether observer sees peer up at time t, from the log events. */
static int sees_up(const bnc_run_t *r, int obs, int peer, uint64_t t)
{
    int up = 0;
    for (size_t i = 0; i < r->cl.n_events && r->cl.events[i].t_ms <= t; i++) {
        const bnc_mesh_event_t *e = &r->cl.events[i];
        if (e->observer == obs && e->peer == peer) {
            up = e->up;
        }
    }
    return up;
}

static void svg_links(svg_t *s, double *y)
{
    const bnc_run_t *r = s->r;
    for (int a = 0; a < r->opt.nodes; a++) {
        for (int b = a + 1; b < r->opt.nodes; b++) {
            char label[64];
            snprintf(label, sizeof(label), "link n%d-n%d", a, b);
            svg_label(s, *y, label);
            /* Sample the pair's state every 50 ms and draw runs. */
            uint64_t run_from = s->t_from;
            int prev = -1;
            for (uint64_t t = s->t_from;; t += 50) {
                int done = t >= s->t_to;
                int st = done ? -2 : sees_up(r, a, b, t) + sees_up(r, b, a, t);
                if (st != prev) {
                    if (prev >= 0) {
                        const char *c = prev == 2 ? "#2ca02c" : prev == 1 ? "#ffbb33" : "#d62728";
                        const char *tt = prev == 2   ? "up both ways"
                                         : prev == 1 ? "up on one side only"
                                                     : "down";
                        svg_rect(s, run_from, t, *y + 4, LANE_H - 8, c, tt);
                    }
                    prev = st;
                    run_from = t;
                }
                if (done) {
                    break;
                }
            }
            *y += LANE_H;
        }
    }
}

static int write_svg(const bnc_run_t *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    svg_t s = {f, r, r->sched0_ms, r->end_ms + BNC_DRAIN_MS};
    if (r->setup_error || s.t_to <= s.t_from) {
        s.t_from = 0;
        s.t_to = bnc_run_now((void *)r) + 1;
    }
    int pairs = r->opt.nodes * (r->opt.nodes - 1) / 2;
    double chart_h = 160;
    double height = 40 + LANE_H * ((double)r->sched.n + pairs + 1) + 30 + chart_h + 60;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
            "font-family=\"monospace\">\n",
            SVG_W, height);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(
        f,
        "<text x=\"6\" y=\"18\" font-size=\"14\">bennu-chaos %s  nodes=%d seed=%llu  %s</text>\n",
        bnc_scenario_name(r->opt.scenario), r->opt.nodes, (unsigned long long)r->opt.seed,
        r->all_pass ? "PASS" : "FAIL");
    double y = 30;
    /* Time grid, one line per second. */
    for (uint64_t t = s.t_from; t <= s.t_to; t += 1000) {
        double x = sx(&s, t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eeeeee\"/>\n",
                x, y, x, height - 40);
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" text-anchor=\"middle\">%llus</text>\n",
                x, height - 28, (unsigned long long)((t - s.t_from) / 1000));
    }
    for (size_t i = 0; i < r->sched.n; i++) {
        const bnc_fault_t *fl = &r->sched.faults[i];
        const bnc_fault_run_t *fr = &r->fr[i];
        char d[256];
        bnc_fault_describe(fl, d, sizeof(d));
        char label[64];
        snprintf(label, sizeof(label), "#%u %s", fl->id, bnc_fault_kind_name(fl->kind));
        svg_label(&s, y, label);
        if (fr->started) {
            svg_rect(&s, fr->started_ms, fr->ended_ms, y + 3, LANE_H - 6, kind_color(fl->kind), d);
            if (fr->converged_ms != 0 && bnc_fault_kind_separating(fl->kind)) {
                svg_rect(&s, fr->ended_ms, fr->converged_ms, y + 9, LANE_H - 18, "#bbbbbb",
                         "healing: until the probe saw convergence");
            }
        }
        y += LANE_H;
    }
    svg_links(&s, &y);
    svg_label(&s, y, "converged");
    for (size_t i = 0; i + 1 < r->n_rounds; i++) {
        if (r->rounds[i].t_ms >= s.t_to) {
            break;
        }
        svg_rect(&s, r->rounds[i].t_ms, r->rounds[i + 1].t_ms, y + 4, LANE_H - 8,
                 r->rounds[i].converged ? "#2ca02c" : "#cccccc", NULL);
    }
    y += LANE_H + 20;
    /* Delivery chart: expected fan-out (sent x clients), delivered, lost. */
    uint64_t peak = 1;
    size_t b0 = (size_t)(s.t_from / BNC_BUCKET_MS);
    size_t b1 = (size_t)(s.t_to / BNC_BUCKET_MS);
    for (size_t b = b0; b <= b1 && b < r->n_buckets; b++) {
        uint64_t e = r->wl.sent_per_bucket[b] * r->wl.n_clients;
        uint64_t d = r->wl.recv_per_bucket[b];
        peak = e > peak ? e : peak;
        peak = d > peak ? d : peak;
    }
    svg_label(&s, y, "deliveries/s");
    fprintf(f, "<text x=\"6\" y=\"%.1f\" font-size=\"9\">peak %.0f/s</text>\n", y + 30,
            (double)peak * 1000.0 / BNC_BUCKET_MS);
    const char *series[3] = {"#1f77b4", "#aaaaaa", "#d62728"};
    for (int k = 0; k < 3; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"",
                series[k], k == 0 ? "1.5" : "1", k == 1 ? " stroke-dasharray=\"4,3\"" : "");
        for (size_t b = b0; b <= b1 && b < r->n_buckets; b++) {
            uint64_t v = k == 0   ? r->wl.recv_per_bucket[b]
                         : k == 1 ? r->wl.sent_per_bucket[b] * r->wl.n_clients
                                  : r->lost_per_bucket[b];
            double x = sx(&s, (uint64_t)b * BNC_BUCKET_MS + BNC_BUCKET_MS / 2);
            double yy = y + chart_h - (double)v * chart_h / (double)peak;
            fprintf(f, "%.1f,%.1f ", x, yy);
        }
        fprintf(f, "\"/>\n");
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n", SVG_LEFT,
            y + chart_h, SVG_W - SVG_RIGHT, y + chart_h);
    y += chart_h + 14;
    fprintf(f,
            "<text x=\"%d\" y=\"%.1f\" font-size=\"10\"><tspan fill=\"#1f77b4\">delivered</tspan>"
            "  <tspan fill=\"#888888\">expected (sent x subscribers)</tspan>"
            "  <tspan fill=\"#d62728\">lost (by send time)</tspan>  link: "
            "<tspan fill=\"#2ca02c\">up</tspan>/<tspan fill=\"#e69500\">half</tspan>/"
            "<tspan fill=\"#d62728\">down</tspan> (from node logs)</text>\n",
            SVG_LEFT, y);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

int bnc_report_write(const bnc_run_t *r)
{
    char path[4096];
    int rc = 0;
    snprintf(path, sizeof(path), "%s/report.txt", r->opt.out);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    bnc_report_print_summary(r, f);
    rc |= fclose(f);
    json_t *j = report_json(r);
    snprintf(path, sizeof(path), "%s/report.json", r->opt.out);
    rc |= json_dump_file(j, path, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(j);
    snprintf(path, sizeof(path), "%s/timeline.svg", r->opt.out);
    rc |= write_svg(r, path);
    return rc != 0 ? -1 : 0;
}
