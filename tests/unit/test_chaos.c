/* Pure parts of bennu-chaos: schedule generation (reproducible from the
 * seed, well-formed for every scenario), the proxy fault state machine
 * (flow state from active faults, admission, pacing), the checker (loss
 * classification, duplicates, reordering, tallies) and the wire side of the
 * attacks (frame tracking, tampering, the flood's Hello). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/bennu-chaos/attack.c"
#include "../../tools/bennu-chaos/check.c"
#include "../../tools/bennu-chaos/converge.c"
#include "../../tools/bennu-chaos/fault.c"
#include "../../tools/bennu-chaos/netns_plan.c"
#include "../../tools/bennu-chaos/schedule.c"
#include "mesh/internal.h"

static const bnc_timing_t timing = {200, 1000};

/* ---- schedules ---- */

static void test_schedule_reproducible(void **state)
{
    (void)state;
    for (int sc = 0; sc < BNC_SC_COUNT; sc++) {
        for (uint64_t seed = 0; seed < 20; seed++) {
            bnc_schedule_t a;
            bnc_schedule_t b;
            assert_int_equal(bnc_schedule_build(&a, (bnc_scenario_t)sc, 3, 12000, seed, &timing),
                             0);
            assert_int_equal(bnc_schedule_build(&b, (bnc_scenario_t)sc, 3, 12000, seed, &timing),
                             0);
            assert_int_equal(a.n, b.n);
            assert_memory_equal(a.faults, b.faults, a.n * sizeof(bnc_fault_t));
        }
    }
    /* Different seeds give different random schedules. */
    bnc_schedule_t a;
    bnc_schedule_t b;
    int differ = 0;
    for (uint64_t seed = 1; seed < 10; seed++) {
        bnc_schedule_build(&a, BNC_SC_RANDOM, 4, 20000, seed, &timing);
        bnc_schedule_build(&b, BNC_SC_RANDOM, 4, 20000, seed + 100, &timing);
        differ += a.n != b.n || memcmp(a.faults, b.faults, a.n * sizeof(bnc_fault_t)) != 0;
    }
    assert_true(differ >= 8);
}

static void test_schedule_well_formed(void **state)
{
    (void)state;
    for (int sc = 0; sc < BNC_SC_COUNT; sc++) {
        for (int nodes = 2; nodes <= 6; nodes++) {
            for (uint64_t seed = 0; seed < 50; seed++) {
                uint64_t dur = 8000 + seed * 300;
                if (dur < bnc_scenario_min_duration_ms((bnc_scenario_t)sc)) {
                    dur = bnc_scenario_min_duration_ms((bnc_scenario_t)sc) + seed * 100;
                }
                bnc_schedule_t s;
                assert_int_equal(
                    bnc_schedule_build(&s, (bnc_scenario_t)sc, nodes, dur, seed, &timing), 0);
                assert_true(s.n >= 1);
                uint32_t all = (1u << nodes) - 1;
                for (size_t i = 0; i < s.n; i++) {
                    const bnc_fault_t *f = &s.faults[i];
                    if (f->id != i + 1 || f->start_ms < BNC_LEAD_MS ||
                        f->end_ms > dur - BNC_TAIL_MS || f->end_ms < f->start_ms ||
                        (i > 0 && f->start_ms < s.faults[i - 1].start_ms) || f->a_mask == 0 ||
                        (f->a_mask & ~all) != 0 || (f->b_mask & ~all) != 0) {
                        fail_msg("%s nodes=%d seed=%llu fault %zu malformed",
                                 bnc_scenario_name((bnc_scenario_t)sc), nodes,
                                 (unsigned long long)seed, i);
                    }
                    if (bnc_fault_kind_is_node(f->kind)) {
                        assert_int_equal(__builtin_popcount(f->a_mask), 1);
                    } else {
                        assert_true(f->b_mask != 0);
                        assert_int_equal(f->a_mask & f->b_mask, 0);
                    }
                    if (f->kind == BNC_FAULT_RESET) {
                        assert_int_equal(f->start_ms, f->end_ms);
                    }
                }
                if (sc == BNC_SC_RANDOM) {
                    /* Node faults never overlap one another. */
                    for (size_t i = 0; i < s.n; i++) {
                        for (size_t j = i + 1; j < s.n; j++) {
                            const bnc_fault_t *x = &s.faults[i];
                            const bnc_fault_t *y = &s.faults[j];
                            if (bnc_fault_kind_is_node(x->kind) &&
                                bnc_fault_kind_is_node(y->kind)) {
                                assert_true(y->start_ms >= x->end_ms || x->start_ms >= y->end_ms);
                            }
                        }
                    }
                }
            }
        }
    }
}

static void test_schedule_bad_args(void **state)
{
    (void)state;
    bnc_schedule_t s;
    struct {
        const char *name;
        int sc;
        int nodes;
        uint64_t dur;
    } rows[] = {
        {"one node", BNC_SC_BLACKHOLE, 1, 12000},
        {"too many nodes", BNC_SC_BLACKHOLE, BNC_MAX_NODES + 1, 12000},
        {"too short", BNC_SC_BLACKHOLE, 3, BNC_MIN_DURATION_MS - 1},
        {"flood too short", BNC_SC_FLOOD, 3, 11999},
        {"bad scenario", BNC_SC_COUNT, 3, 12000},
        {"negative scenario", -1, 3, 12000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (bnc_schedule_build(&s, (bnc_scenario_t)rows[i].sc, rows[i].nodes, rows[i].dur, 1,
                               &timing) != -1) {
            fail_msg("%s accepted", rows[i].name);
        }
    }
    bnc_scenario_t out;
    for (int i = 0; i < BNC_SC_COUNT; i++) {
        assert_int_equal(bnc_scenario_parse(bnc_scenario_name((bnc_scenario_t)i), &out), 0);
        assert_int_equal(out, i);
    }
    assert_int_equal(bnc_scenario_parse("partition", &out), -1);
    assert_int_equal(bnc_scenario_parse("", &out), -1);
    assert_int_equal(bnc_scenario_min_duration_ms(BNC_SC_BLACKHOLE), BNC_MIN_DURATION_MS);
    assert_int_equal(bnc_scenario_min_duration_ms(BNC_SC_FLOOD), 12000);
    assert_int_equal(bnc_schedule_build(&s, BNC_SC_FLOOD, 3, 12000, 1, &timing), 0);
}

/* The attack scenarios: one impostor, one attacked link, one flood with a
 * restart inside it; `random` keeps to the failures. */
static void test_schedule_attacks(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 40; seed++) {
        for (int nodes = 2; nodes <= 12; nodes++) {
            bnc_schedule_t s;
            uint64_t end = 15000 - BNC_TAIL_MS;
            assert_int_equal(
                bnc_schedule_build(&s, BNC_SC_DUPLICATE_NAME, nodes, 15000, seed, &timing), 0);
            assert_int_equal(s.n, 1);
            assert_int_equal(s.faults[0].kind, BNC_FAULT_IMPOSTOR);
            assert_int_equal(__builtin_popcount(s.faults[0].a_mask), 1);
            assert_int_equal(s.faults[0].start_ms, BNC_LEAD_MS);
            assert_int_equal(s.faults[0].end_ms, end);

            assert_int_equal(bnc_schedule_build(&s, BNC_SC_MITM, nodes, 15000, seed, &timing), 0);
            assert_int_equal(s.n, 1);
            assert_int_equal(s.faults[0].kind, BNC_FAULT_TAMPER);
            assert_int_equal(__builtin_popcount(s.faults[0].a_mask), 1);
            assert_int_equal(__builtin_popcount(s.faults[0].b_mask), 1);
            assert_int_equal(s.faults[0].a_mask & s.faults[0].b_mask, 0);
            assert_false(s.faults[0].oneway);

            assert_int_equal(bnc_schedule_build(&s, BNC_SC_FLOOD, nodes, 12000, seed, &timing), 0);
            assert_int_equal(s.n, 2);
            const bnc_fault_t *fl = &s.faults[0];
            const bnc_fault_t *k = &s.faults[1];
            assert_int_equal(fl->kind, BNC_FAULT_FLOOD);
            assert_int_equal(fl->conns, BNC_FLOOD_CONNS);
            assert_int_equal(k->kind, BNC_FAULT_KILL);
            assert_true(fl->a_mask != k->a_mask);
            /* The restart lies inside the flood, with room to rejoin. */
            assert_true(k->start_ms > fl->start_ms);
            assert_true(k->end_ms + BNC_FLOOD_REJOIN_MS <= fl->end_ms);
            /* The flooded node's name sorts higher. */
            char x[16];
            char y[16];
            snprintf(x, sizeof(x), "n%d", __builtin_ctz(fl->a_mask));
            snprintf(y, sizeof(y), "n%d", __builtin_ctz(k->a_mask));
            assert_true(strcmp(x, y) > 0);

            assert_int_equal(bnc_schedule_build(&s, BNC_SC_RANDOM, nodes, 20000, seed, &timing), 0);
            for (size_t i = 0; i < s.n; i++) {
                assert_true(s.faults[i].kind < BNC_FAULT_RANDOM_KINDS);
            }
        }
    }
    /* Attacks on one node are node faults; only tampering separates. */
    assert_true(bnc_fault_kind_is_node(BNC_FAULT_IMPOSTOR));
    assert_true(bnc_fault_kind_is_node(BNC_FAULT_FLOOD));
    assert_false(bnc_fault_kind_is_node(BNC_FAULT_TAMPER));
    assert_true(bnc_fault_kind_separating(BNC_FAULT_TAMPER));
    assert_false(bnc_fault_kind_separating(BNC_FAULT_IMPOSTOR));
    assert_false(bnc_fault_kind_separating(BNC_FAULT_FLOOD));
    bnc_fault_t imp = {.kind = BNC_FAULT_IMPOSTOR, .a_mask = 2};
    assert_false(bnc_fault_separates(&imp, 1, 0));
    assert_false(bnc_fault_separates(&imp, 1, 1));
    bnc_fault_t tam = {.kind = BNC_FAULT_TAMPER, .a_mask = 1, .b_mask = 4};
    assert_true(bnc_fault_separates(&tam, 0, 2));
    assert_true(bnc_fault_separates(&tam, 2, 0));
    assert_false(bnc_fault_separates(&tam, 0, 1));
}

static void test_schedule_scenarios_shape(void **state)
{
    (void)state;
    bnc_schedule_t s;
    bnc_schedule_build(&s, BNC_SC_ISOLATE_ONE, 3, 12000, 5, &timing);
    assert_int_equal(s.n, 2);
    assert_true(s.faults[0].oneway);
    assert_false(s.faults[1].oneway);
    assert_int_equal(__builtin_popcount(s.faults[0].a_mask), 1);
    assert_int_equal(s.faults[0].a_mask | s.faults[0].b_mask, 7);
    bnc_schedule_build(&s, BNC_SC_PARTITION_HALVES, 5, 12000, 3, &timing);
    assert_int_equal(s.n, 1);
    assert_int_equal(__builtin_popcount(s.faults[0].a_mask), 2);
    assert_int_equal(s.faults[0].a_mask | s.faults[0].b_mask, 31);
    bnc_schedule_build(&s, BNC_SC_KILL_RESTART, 3, 12000, 3, &timing);
    assert_int_equal(s.n, 1);
    assert_true(s.faults[0].end_ms - s.faults[0].start_ms > timing.down_ms);
    bnc_schedule_build(&s, BNC_SC_FLAPPING_LINK, 3, 12000, 3, &timing);
    assert_true(s.n >= 3);
    int resets = 0;
    for (size_t i = 0; i < s.n; i++) {
        resets += s.faults[i].kind == BNC_FAULT_RESET;
        assert_int_equal(s.faults[i].a_mask, s.faults[0].a_mask);
        assert_int_equal(s.faults[i].b_mask, s.faults[0].b_mask);
    }
    assert_true(resets >= 1);
}

static void test_rng_and_describe(void **state)
{
    (void)state;
    uint64_t r1 = bnc_rng_seed(0);
    uint64_t r2 = bnc_rng_seed(0);
    assert_true(r1 != 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(bnc_rng_next(&r1), bnc_rng_next(&r2));
        uint32_t b = bnc_rng_below(&r1, 7);
        assert_true(b < 7);
        double u = bnc_rng_unit(&r1);
        assert_true(u >= 0.0 && u < 1.0);
        bnc_rng_below(&r2, 7);
        bnc_rng_unit(&r2);
    }
    bnc_fault_t f = {.kind = BNC_FAULT_PARTITION,
                     .a_mask = 1,
                     .b_mask = 6,
                     .oneway = true,
                     .start_ms = 1500,
                     .end_ms = 4000};
    char buf[128];
    bnc_fault_describe(&f, buf, sizeof(buf));
    assert_string_equal(buf, "partition {n0}->{n1,n2} 1500-4000ms");
    f.kind = BNC_FAULT_KILL;
    f.a_mask = 4;
    bnc_fault_describe(&f, buf, sizeof(buf));
    assert_string_equal(buf, "kill {n2} 1500-4000ms");
    f.kind = BNC_FAULT_IMPOSTOR;
    bnc_fault_describe(&f, buf, sizeof(buf));
    assert_string_equal(buf, "impostor named as {n2} 1500-4000ms");
    f.kind = BNC_FAULT_FLOOD;
    f.conns = 2000;
    bnc_fault_describe(&f, buf, sizeof(buf));
    assert_string_equal(buf, "flood {n2} 2000 connections 1500-4000ms");
    f.kind = BNC_FAULT_TAMPER;
    f.b_mask = 1;
    bnc_fault_describe(&f, buf, sizeof(buf));
    assert_string_equal(buf, "tamper {n2}<->{n0} 1500-4000ms");
    /* A tiny buffer is never overrun. */
    char small[8];
    bnc_fault_describe(&f, small, sizeof(small));
    assert_int_equal(strlen(small), 7);
}

/* ---- proxy fault state machine ---- */

static void test_flow_state(void **state)
{
    (void)state;
    bnc_fault_t part = {.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 6};
    bnc_fault_t oneway = {.kind = BNC_FAULT_PARTITION, .a_mask = 2, .b_mask = 5, .oneway = true};
    bnc_fault_t hole = {.kind = BNC_FAULT_BLACKHOLE, .a_mask = 2, .b_mask = 4};
    bnc_fault_t lat1 = {
        .kind = BNC_FAULT_LATENCY, .a_mask = 1, .b_mask = 2, .latency_ms = 50, .jitter_ms = 30};
    bnc_fault_t lat2 = {
        .kind = BNC_FAULT_LATENCY, .a_mask = 1, .b_mask = 2, .latency_ms = 20, .jitter_ms = 90};
    bnc_fault_t bw1 = {
        .kind = BNC_FAULT_BANDWIDTH, .a_mask = 1, .b_mask = 2, .bw_bytes_per_s = 9000};
    bnc_fault_t bw2 = {
        .kind = BNC_FAULT_BANDWIDTH, .a_mask = 2, .b_mask = 1, .bw_bytes_per_s = 4000};
    bnc_fault_t kill = {.kind = BNC_FAULT_KILL, .a_mask = 1};
    bnc_fault_t tam = {.kind = BNC_FAULT_TAMPER, .a_mask = 1, .b_mask = 2};
    bnc_fault_t flood = {.kind = BNC_FAULT_FLOOD, .a_mask = 1, .conns = 10};
    struct {
        const char *name;
        const bnc_fault_t *act[4];
        size_t n;
        int from, to;
        bnc_flow_t want;
        bnc_admit_t admit; /* for a dial from -> to */
    } rows[] = {
        {"nothing", {0}, 0, 0, 1, {0}, BNC_ADMIT_CONNECT},
        {"partition across", {&part}, 1, 0, 1, {.reject = true, .held = true}, BNC_ADMIT_RESET},
        {"partition reverse", {&part}, 1, 2, 0, {.reject = true, .held = true}, BNC_ADMIT_RESET},
        {"partition same side", {&part}, 1, 1, 2, {0}, BNC_ADMIT_CONNECT},
        {"oneway forward", {&oneway}, 1, 1, 0, {.held = true}, BNC_ADMIT_DEFER},
        {"oneway backward", {&oneway}, 1, 0, 1, {0}, BNC_ADMIT_CONNECT},
        {"oneway other", {&oneway}, 1, 0, 2, {0}, BNC_ADMIT_CONNECT},
        {"blackhole", {&hole}, 1, 2, 1, {.held = true}, BNC_ADMIT_DEFER},
        {"latency max",
         {&lat1, &lat2},
         2,
         1,
         0,
         {.latency_ms = 50, .jitter_ms = 90},
         BNC_ADMIT_CONNECT},
        {"bandwidth min", {&bw1, &bw2}, 2, 0, 1, {.bw_bytes_per_s = 4000}, BNC_ADMIT_CONNECT},
        {"kill leaves flows", {&kill}, 1, 0, 1, {0}, BNC_ADMIT_CONNECT},
        {"tamper", {&tam}, 1, 0, 1, {.tamper = true}, BNC_ADMIT_CONNECT},
        {"tamper reverse", {&tam}, 1, 1, 0, {.tamper = true}, BNC_ADMIT_CONNECT},
        {"tamper other link", {&tam}, 1, 0, 2, {0}, BNC_ADMIT_CONNECT},
        {"flood leaves flows", {&flood}, 1, 0, 1, {0}, BNC_ADMIT_CONNECT},
        {"mixed",
         {&part, &lat1, &hole},
         3,
         1,
         0,
         {.reject = true, .held = true, .latency_ms = 50, .jitter_ms = 30},
         BNC_ADMIT_RESET},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bnc_flow_t got = bnc_flow_state(rows[i].act, rows[i].n, rows[i].from, rows[i].to);
        bnc_flow_t back = bnc_flow_state(rows[i].act, rows[i].n, rows[i].to, rows[i].from);
        if (got.reject != rows[i].want.reject || got.held != rows[i].want.held ||
            got.latency_ms != rows[i].want.latency_ms || got.jitter_ms != rows[i].want.jitter_ms ||
            got.bw_bytes_per_s != rows[i].want.bw_bytes_per_s ||
            got.tamper != rows[i].want.tamper) {
            fail_msg("%s: flow state differs", rows[i].name);
        }
        if (bnc_flow_admit(&got, &back) != rows[i].admit) {
            fail_msg("%s: admission %d", rows[i].name, (int)bnc_flow_admit(&got, &back));
        }
    }
    /* A one-way cut in the back direction does not stop the dial. */
    bnc_flow_t open = {0};
    bnc_flow_t held = {.held = true};
    assert_int_equal(bnc_flow_admit(&open, &held), BNC_ADMIT_CONNECT);
}

static void test_fault_separates(void **state)
{
    (void)state;
    bnc_fault_t oneway = {.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 6, .oneway = true};
    assert_true(bnc_fault_separates(&oneway, 0, 1));
    assert_true(bnc_fault_separates(&oneway, 2, 0)); /* the link dies both ways */
    assert_false(bnc_fault_separates(&oneway, 1, 2));
    assert_false(bnc_fault_separates(&oneway, 0, 0));
    bnc_fault_t lat = {.kind = BNC_FAULT_LATENCY, .a_mask = 1, .b_mask = 6, .latency_ms = 9};
    assert_false(bnc_fault_separates(&lat, 0, 1));
    bnc_fault_t pause = {.kind = BNC_FAULT_PAUSE, .a_mask = 2};
    assert_true(bnc_fault_separates(&pause, 1, 1));
    assert_true(bnc_fault_separates(&pause, 0, 1));
    assert_true(bnc_fault_separates(&pause, 1, 2));
    assert_false(bnc_fault_separates(&pause, 0, 2));
    assert_true(bnc_fault_covers_flow(&pause, 1, 0));
    assert_false(bnc_fault_covers_flow(&pause, 2, 0));
}

static void test_pace(void **state)
{
    (void)state;
    bnc_pace_t p = {0};
    bnc_flow_t none = {0};
    assert_int_equal(bnc_pace_due(&p, &none, 100, 10, 0.5), 100);
    bnc_flow_t lat = {.latency_ms = 50, .jitter_ms = 100};
    /* Jitter never lets a later chunk overtake an earlier one. */
    assert_int_equal(bnc_pace_due(&p, &lat, 200, 10, 0.9), 340);
    assert_int_equal(bnc_pace_due(&p, &lat, 201, 10, 0.0), 340);
    assert_int_equal(bnc_pace_due(&p, &lat, 400, 10, 0.5), 500);
    bnc_pace_t q = {0};
    bnc_flow_t bw = {.bw_bytes_per_s = 1000};
    /* 1000 B/s: 500 bytes take 500 ms, back to back. */
    assert_int_equal(bnc_pace_due(&q, &bw, 0, 500, 0.0), 500);
    assert_int_equal(bnc_pace_due(&q, &bw, 0, 500, 0.0), 1000);
    assert_int_equal(bnc_pace_due(&q, &bw, 5000, 100, 0.0), 5100);
    /* Dues are monotonic over any input. */
    bnc_pace_t m = {0};
    uint64_t rng = bnc_rng_seed(9);
    uint64_t last = 0;
    for (int i = 0; i < 2000; i++) {
        bnc_flow_t f = {.latency_ms = bnc_rng_below(&rng, 200),
                        .jitter_ms = bnc_rng_below(&rng, 200),
                        .bw_bytes_per_s = bnc_rng_below(&rng, 3) * 5000};
        uint64_t d =
            bnc_pace_due(&m, &f, (uint64_t)i * 3, bnc_rng_below(&rng, 2000), bnc_rng_unit(&rng));
        assert_true(d >= last);
        assert_true(d >= (uint64_t)i * 3 + f.latency_ms);
        last = d;
    }
}

/* ---- checker ---- */

static void test_loss_classify(void **state)
{
    (void)state;
    bnc_grace_t g = {.before_ms = 300, .after_ms = 500, .rejoin_ms = 1000};
    bnc_window_t w[2];
    memset(w, 0, sizeof(w));
    w[0].fault = (bnc_fault_t){.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 6};
    w[0].start_ms = 10000;
    w[0].end_ms = 15000;
    w[1].fault = (bnc_fault_t){.kind = BNC_FAULT_KILL, .a_mask = 4};
    w[1].start_ms = 30000;
    w[1].end_ms = 34000;
    struct {
        const char *name;
        int pub, sub;
        uint64_t sent, join;
        bnc_loss_t want;
    } rows[] = {
        {"inside", 0, 1, 12000, 0, BNC_LOSS_FAULT},
        {"reverse direction", 2, 0, 12000, 0, BNC_LOSS_FAULT},
        {"before grace", 0, 1, 9700, 0, BNC_LOSS_FAULT},
        {"too early", 0, 1, 9699, 0, BNC_LOSS_UNEXPLAINED},
        {"after grace", 0, 1, 15500, 0, BNC_LOSS_FAULT},
        {"too late", 0, 1, 15501, 0, BNC_LOSS_UNEXPLAINED},
        {"same side", 1, 2, 12000, 0, BNC_LOSS_UNEXPLAINED},
        {"same node", 1, 1, 12000, 0, BNC_LOSS_UNEXPLAINED},
        {"killed node local", 2, 2, 31000, 0, BNC_LOSS_FAULT},
        {"killed node to other", 2, 0, 31000, 0, BNC_LOSS_FAULT},
        {"killed node bystanders", 0, 1, 31000, 0, BNC_LOSS_UNEXPLAINED},
        {"rejoining", 0, 1, 20500, 20000, BNC_LOSS_REJOIN},
        {"rejoined long ago", 0, 1, 21001, 20000, BNC_LOSS_UNEXPLAINED},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bnc_loss_t got =
            bnc_loss_classify(w, 2, &g, rows[i].pub, rows[i].sub, rows[i].sent, rows[i].join);
        if (got != rows[i].want) {
            fail_msg("%s: got %s want %s", rows[i].name, bnc_loss_name(got),
                     bnc_loss_name(rows[i].want));
        }
    }
    assert_true(bnc_loss_allowed(BNC_LOSS_FAULT));
    assert_true(bnc_loss_allowed(BNC_LOSS_REJOIN));
    assert_false(bnc_loss_allowed(BNC_LOSS_UNEXPLAINED));
}

static void test_ledger_tally(void **state)
{
    (void)state;
    /* Clients 0,1 on node 0; client 2 on node 1. */
    int node_of[3] = {0, 0, 1};
    bnc_ledger_t l;
    bnc_ledger_init(&l, 3, node_of);
    for (size_t c = 0; c < 3; c++) {
        bnc_ledger_joined(&l, c, 0);
    }
    bnc_ledger_joined(&l, 0, 5); /* already joined: ignored */
    for (uint64_t seq = 1; seq <= 600; seq++) {
        bnc_ledger_sent(&l, 0, seq, seq * 10);
    }
    bnc_ledger_sent(&l, 0, 3, 99); /* not increasing: ignored */
    /* Subscriber 1 gets everything, 2 misses 100..199 (partition from 1000
     * to 2000 ms) and 400..409 (no fault), 0 gets a duplicate and one
     * reordered pair. */
    for (uint64_t seq = 1; seq <= 600; seq++) {
        bnc_ledger_delivered(&l, 1, 0, seq);
        if (!(seq >= 100 && seq < 200) && !(seq >= 400 && seq < 410)) {
            bnc_ledger_delivered(&l, 2, 0, seq);
        }
    }
    for (uint64_t seq = 1; seq <= 600; seq++) {
        if (seq == 50) {
            bnc_ledger_delivered(&l, 0, 0, 51);
            bnc_ledger_delivered(&l, 0, 0, 50);
            seq = 51;
            continue;
        }
        bnc_ledger_delivered(&l, 0, 0, seq);
    }
    bnc_ledger_delivered(&l, 0, 0, 7);
    bnc_ledger_delivered(&l, 0, 0, 601); /* never sent */
    bnc_ledger_delivered(&l, 0, 2, 1);   /* publisher 2 sent nothing */
    /* Client 1 leaves at 5000: messages sent after are not expected. */
    bnc_ledger_left(&l, 1, 5000);

    bnc_window_t w;
    memset(&w, 0, sizeof(w));
    w.fault = (bnc_fault_t){.kind = BNC_FAULT_BLACKHOLE, .a_mask = 1, .b_mask = 2};
    w.start_ms = 1000;
    w.end_ms = 1990;
    bnc_grace_t g = {.before_ms = 0, .after_ms = 0, .rejoin_ms = 0};
    bnc_tally_t t;
    uint64_t lost_at[10] = {0};
    bnc_ledger_tally(&l, &w, 1, &g, &t, lost_at, 10, 1000);
    assert_int_equal(t.sent, 600);
    /* Subscribers 0 and 2: 600 each; subscriber 1: sends before 5000 ms. */
    assert_int_equal(t.expected, 600 + 499 + 600);
    assert_int_equal(t.extra, 101);
    assert_int_equal(t.lost[BNC_LOSS_FAULT], 100);
    assert_int_equal(t.lost_unexplained, 10);
    assert_int_equal(t.lost_allowed, 100);
    assert_int_equal(t.delivered, t.expected - 110);
    assert_int_equal(t.dups, 1);
    assert_int_equal(t.reordered, 1);
    assert_int_equal(t.unknown, 2);
    assert_int_equal(t.n_examples, 8);
    assert_int_equal(t.examples[0].seq, 400);
    assert_int_equal(t.examples[0].sub, 2);
    assert_int_equal(lost_at[1], 100);
    assert_int_equal(lost_at[4], 10);
    bnc_ledger_free(&l);
}

static void test_ledger_flow(void **state)
{
    (void)state;
    /* Clients 0 and 1 on node 0, client 2 on node 1. */
    int node_of[3] = {0, 0, 1};
    bnc_ledger_t l;
    bnc_ledger_init(&l, 3, node_of);
    for (size_t c = 0; c < 3; c++) {
        bnc_ledger_joined(&l, c, 0);
    }
    for (uint64_t seq = 1; seq <= 100; seq++) {
        bnc_ledger_sent(&l, 0, seq, seq * 10);
        bnc_ledger_sent(&l, 2, seq, seq * 10);
        bnc_ledger_delivered(&l, 1, 0, seq);
        if (seq != 90) {
            bnc_ledger_delivered(&l, 2, 0, seq); /* node 0 -> node 1 loses seq 90 */
        }
        bnc_ledger_delivered(&l, 0, 2, seq);
    }
    bnc_ledger_left(&l, 1, 955); /* client 1 is gone from 955 ms */
    uint64_t e;
    uint64_t d;
    bnc_ledger_flow(&l, 0, 1, 500, &e, &d);
    assert_int_equal(e, 51); /* seq 50..100 to client 2 */
    assert_int_equal(d, 50);
    bnc_ledger_flow(&l, 1, 0, 500, &e, &d);
    assert_int_equal(e, 51 + 46); /* to client 0, and to client 1 until it left */
    assert_int_equal(d, 51);
    bnc_ledger_flow(&l, 0, 0, 0, &e, &d);
    assert_int_equal(e, 100 + 95); /* clients 0 (nothing delivered) and 1 (until 955) */
    assert_int_equal(d, 95);
    bnc_ledger_flow(&l, 1, 1, 0, &e, &d);
    assert_int_equal(e, 100);
    assert_int_equal(d, 0);
    /* A body that is not the workload's counts as a phantom. */
    bnc_ledger_malformed(&l);
    bnc_tally_t t;
    bnc_grace_t g = {0};
    bnc_ledger_tally(&l, NULL, 0, &g, &t, NULL, 0, 0);
    assert_int_equal(t.unknown, 1);
    bnc_ledger_free(&l);
}

/* ---- attacks on the wire ---- */

typedef struct sink_s {
    uint8_t buf[65536];
    size_t len;
    unsigned calls;
} sink_t;

static void sink_emit(void *ud, const uint8_t *p, size_t n)
{
    sink_t *k = ud;
    assert_true(k->len + n <= sizeof(k->buf));
    memcpy(k->buf + k->len, p, n);
    k->len += n;
    k->calls++;
}

/* A stream of n frames with bodies of 1..(max) bytes; the offsets of each
 * frame's start in off[0..n] (off[n] = total). */
static size_t make_stream(uint8_t *out, size_t n, size_t *off, uint64_t *rng, size_t max)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = len;
        size_t body = 1 + bnc_rng_below(rng, (uint32_t)max);
        out[len++] = (uint8_t)(body >> 24);
        out[len++] = (uint8_t)(body >> 16);
        out[len++] = (uint8_t)(body >> 8);
        out[len++] = (uint8_t)body;
        for (size_t k = 0; k < body; k++) {
            out[len++] = (uint8_t)bnc_rng_next(rng);
        }
    }
    off[n] = len;
    return len;
}

/* Feeds in[0..len) in random chunks, arming t (if any) before the first
 * chunk that starts at or after arm_at. Returns where it armed. */
static size_t feed(bnc_ftrack_t *tr, const uint8_t *in, size_t len, bnc_tamper_t *t,
                   bnc_tamper_kind_t kind, size_t arm_at, sink_t *out, uint64_t *rng)
{
    size_t armed_at = len;
    uint8_t chunk[4096];
    size_t pos = 0;
    bool armed = false;
    while (pos < len) {
        if (t != NULL && !armed && pos >= arm_at) {
            assert_int_equal(bnc_tamper_arm(t, kind, tr, NULL, 0, rng), 0);
            armed = true;
            armed_at = pos;
        }
        size_t k = 1 + bnc_rng_below(rng, 700);
        if (k > len - pos) {
            k = len - pos;
        }
        memcpy(chunk, in + pos, k);
        bnc_ftrack_walk(tr, chunk, k, armed ? t : NULL, sink_emit, out);
        pos += k;
    }
    return armed_at;
}

static void test_ftrack_passthrough(void **state)
{
    (void)state;
    static uint8_t in[60000];
    static sink_t out;
    size_t off[101];
    uint64_t rng = bnc_rng_seed(3);
    size_t len = make_stream(in, 100, off, &rng, 300);
    bnc_ftrack_t tr;
    bnc_ftrack_init(&tr);
    out.len = 0;
    feed(&tr, in, len, NULL, BNC_TAMPER_FLIP, 0, &out, &rng);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.buf, in, len);
    assert_int_equal(tr.frames, 100);
    /* The last frame is remembered, prefix included. */
    assert_int_equal(tr.last_len, off[100] - off[99]);
    assert_memory_equal(tr.last, in + off[99], tr.last_len);
    /* A frame over the recording limit is passed on but not remembered;
     * an empty one is a frame (and the last one). */
    static uint8_t big[4 + BNC_FRAME_REC_MAX + 1 + 4];
    uint32_t blen = BNC_FRAME_REC_MAX + 1;
    big[0] = (uint8_t)(blen >> 24);
    big[1] = (uint8_t)(blen >> 16);
    big[2] = (uint8_t)(blen >> 8);
    big[3] = (uint8_t)blen;
    out.len = 0;
    bnc_ftrack_walk(&tr, big, sizeof(big), NULL, sink_emit, &out);
    assert_int_equal(out.len, sizeof(big));
    assert_int_equal(tr.frames, 102);
    assert_int_equal(tr.last_len, 4);
    out.len = 0;
    bnc_ftrack_walk(&tr, big, sizeof(big) - 4, NULL, sink_emit, &out);
    assert_int_equal(tr.frames, 103);
    assert_int_equal(tr.last_len, 4);
}

static void test_tamper_inject(void **state)
{
    (void)state;
    static uint8_t in[60000];
    static sink_t out;
    size_t off[61];
    for (int kind = BNC_TAMPER_REPLAY; kind < BNC_TAMPER_COUNT; kind++) {
        if (kind == BNC_TAMPER_REPLAY_OLD) {
            continue;
        }
        for (uint64_t seed = 0; seed < 30; seed++) {
            uint64_t rng = bnc_rng_seed(seed * 7 + (uint64_t)kind);
            size_t len = make_stream(in, 60, off, &rng, 500);
            size_t arm_at = off[5] + bnc_rng_below(&rng, (uint32_t)(off[50] - off[5]));
            bnc_ftrack_t tr;
            bnc_ftrack_init(&tr);
            bnc_tamper_t t;
            memset(&t, 0, sizeof(t));
            out.len = 0;
            size_t armed = feed(&tr, in, len, &t, (bnc_tamper_kind_t)kind, arm_at, &out, &rng);
            assert_true(armed < off[59]);
            assert_true(t.done);
            assert_false(t.armed);
            /* The made-up frame sits at the first frame boundary at or
             * after the point of arming; the rest is the stream unchanged. */
            size_t at = off[t.frame];
            assert_true(at >= armed);
            assert_true(off[t.frame - 1] < armed);
            assert_int_equal(out.len, len + t.inject_len);
            assert_memory_equal(out.buf, in, at);
            assert_memory_equal(out.buf + at + t.inject_len, in + at, len - at);
            const uint8_t *f = out.buf + at;
            uint32_t flen =
                ((uint32_t)f[0] << 24) | ((uint32_t)f[1] << 16) | ((uint32_t)f[2] << 8) | f[3];
            switch (kind) {
            case BNC_TAMPER_REPLAY: {
                /* The last frame complete when it was armed, again. */
                size_t last = 0;
                while (off[last + 2] <= armed) {
                    last++;
                }
                assert_int_equal(t.inject_len, off[last + 1] - off[last]);
                assert_memory_equal(f, in + off[last], t.inject_len);
                break;
            }
            case BNC_TAMPER_GARBAGE:
                assert_true(flen >= 17 && flen <= 300);
                assert_int_equal(t.inject_len, 4 + flen);
                break;
            case BNC_TAMPER_SHORT:
                assert_true(flen >= 1 && flen < BN__HS_ABYTES);
                assert_int_equal(t.inject_len, 4 + flen);
                break;
            case BNC_TAMPER_EMPTY:
                assert_int_equal(flen, 0);
                assert_int_equal(t.inject_len, 4);
                break;
            case BNC_TAMPER_HUGE:
                assert_int_equal(flen, 0x7fffffffu);
                assert_int_equal(t.inject_len, 4);
                break;
            }
            assert_int_equal(t.detail, t.inject_len);
        }
    }
    /* Nothing to replay yet; an old connection's frame instead. */
    bnc_ftrack_t tr;
    bnc_ftrack_init(&tr);
    bnc_tamper_t t;
    uint64_t rng = bnc_rng_seed(1);
    assert_int_equal(bnc_tamper_arm(&t, BNC_TAMPER_REPLAY, &tr, NULL, 0, &rng), -1);
    assert_int_equal(bnc_tamper_arm(&t, BNC_TAMPER_REPLAY_OLD, &tr, NULL, 0, &rng), -1);
    const uint8_t old[] = {0, 0, 0, 2, 'h', 'i'};
    assert_int_equal(bnc_tamper_arm(&t, BNC_TAMPER_REPLAY_OLD, &tr, old, sizeof(old), &rng), 0);
    uint8_t two[] = {0, 0, 0, 1, 'x', 0, 0, 0, 1, 'y'};
    out.len = 0;
    /* Armed between frames: the old frame goes in first. */
    bnc_ftrack_walk(&tr, two, sizeof(two), &t, sink_emit, &out);
    assert_int_equal(out.len, sizeof(old) + sizeof(two));
    assert_memory_equal(out.buf, old, sizeof(old));
    assert_memory_equal(out.buf + sizeof(old), two, sizeof(two));
    assert_int_equal(t.frame, 0);
}

static void test_tamper_flip(void **state)
{
    (void)state;
    static uint8_t in[60000];
    static sink_t out;
    size_t off[61];
    for (uint64_t seed = 0; seed < 200; seed++) {
        uint64_t rng = bnc_rng_seed(seed);
        size_t len = make_stream(in, 60, off, &rng, 600);
        size_t arm_at = bnc_rng_below(&rng, (uint32_t)off[40]);
        bnc_ftrack_t tr;
        bnc_ftrack_init(&tr);
        bnc_tamper_t t;
        memset(&t, 0, sizeof(t));
        out.len = 0;
        size_t armed = feed(&tr, in, len, &t, BNC_TAMPER_FLIP, arm_at, &out, &rng);
        assert_true(armed < off[59]); /* a frame was left to flip */
        assert_true(t.done);
        assert_int_equal(out.len, len);
        /* Exactly one bit differs, in the body of the first frame whose
         * length arrived after arming. */
        size_t diff = 0;
        size_t where = 0;
        int bits = 0;
        for (size_t i = 0; i < len; i++) {
            if (out.buf[i] != in[i]) {
                diff++;
                where = i;
                bits = __builtin_popcount(out.buf[i] ^ in[i]);
            }
        }
        assert_int_equal(diff, 1);
        assert_int_equal(bits, 1);
        size_t fr = t.frame;
        assert_true(where >= off[fr] + 4 && where < off[fr + 1]);
        assert_int_equal(where, off[fr] + 4 + t.detail);
        assert_true(off[fr] + 4 > armed);
        assert_true(fr == 0 || off[fr - 1] + 4 <= armed);
    }
}

static void test_hello_frame(void **state)
{
    (void)state;
    uint64_t rng = bnc_rng_seed(5);
    uint8_t a[BNC_HELLO_FRAME_LEN];
    uint8_t b[BNC_HELLO_FRAME_LEN];
    bnc_hello_frame(a, &rng);
    bnc_hello_frame(b, &rng);
    assert_true(memcmp(a, b, sizeof(a)) != 0);
    /* The node's own decoder takes it for a protocol-2 Hello with a 32-byte
     * nonce and key. */
    uint32_t flen = ((uint32_t)a[0] << 24) | ((uint32_t)a[1] << 16) | ((uint32_t)a[2] << 8) | a[3];
    assert_int_equal(flen, BNC_HELLO_FRAME_LEN - 4);
    bn__msg_t m;
    assert_int_equal(bn__codec_decode(a + 4, flen, &m), BN__DEC_OK);
    assert_int_equal(m.type, BN__MSG_HELLO);
    assert_int_equal(m.version, BN__MESH_PROTO_VERSION);
    assert_int_equal(m.u.hello.nonce.len, BN__HS_NONCE_BYTES);
    assert_int_equal(m.u.hello.kx_pk.len, crypto_kx_PUBLICKEYBYTES);
    assert_memory_equal(m.u.hello.nonce.data, a + 10, 32);
    assert_memory_equal(m.u.hello.kx_pk.data, a + 44, 32);
    bn__msg_free(&m);
    for (int k = 0; k < BNC_TAMPER_COUNT; k++) {
        assert_string_not_equal(bnc_tamper_name((bnc_tamper_kind_t)k), "?");
    }
    assert_string_equal(bnc_tamper_expect(BNC_TAMPER_FLIP), "decrypt_failed");
    assert_string_equal(bnc_tamper_expect(BNC_TAMPER_EMPTY), "bad_frame");
    assert_string_equal(bnc_tamper_expect(BNC_TAMPER_HUGE), "frame_too_large");
}

/* ---- convergence oracle ---- */

static json_t *members_of(const char *const *up, size_t n)
{
    json_t *nodes = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            nodes, json_pack("{s:s, s:s, s:b}", "name", up[i], "state", "up", "hidden", 0));
    }
    json_array_append_new(
        nodes, json_pack("{s:s, s:s, s:b}", "name", "chaos-probe@x", "state", "up", "hidden", 1));
    return json_pack("{s:o}", "nodes", nodes);
}

static void test_converged(void **state)
{
    (void)state;
    const char *names[3] = {"a@h", "b@h", "c@h"};
    const char *others[3][2] = {{"b@h", "c@h"}, {"a@h", "c@h"}, {"a@h", "b@h"}};
    json_t *m[3];
    json_t *g[3];
    for (int i = 0; i < 3; i++) {
        m[i] = members_of(others[i], 2);
        json_t *peers = json_object();
        for (int j = 0; j < 2; j++) {
            json_object_set_new(peers, others[i][j], json_pack("[s, s]", "x", "room:lobby"));
        }
        g[i] = json_pack("{s:[s, s], s:o}", "local", "room:lobby", "x", "peers", peers);
    }
    char why[160];
    assert_true(bnc_converged(3, names, m, g, "room:lobby", why, sizeof(why)));
    /* Order inside a topic list does not matter. */
    json_object_set_new(json_object_get(g[0], "peers"), "b@h",
                        json_pack("[s, s]", "room:lobby", "x"));
    assert_true(bnc_converged(3, names, m, g, "room:lobby", why, sizeof(why)));
    /* b's view of c's groups is stale. */
    json_object_set_new(json_object_get(g[1], "peers"), "c@h", json_pack("[s]", "room:lobby"));
    assert_false(bnc_converged(3, names, m, g, "room:lobby", why, sizeof(why)));
    assert_string_equal(why, "b@h disagrees with c@h on its groups");
    json_object_set_new(json_object_get(g[1], "peers"), "c@h",
                        json_pack("[s, s]", "x", "room:lobby"));
    /* c sees b down. */
    json_t *saved = m[2];
    m[2] = members_of(others[2], 1);
    assert_false(bnc_converged(3, names, m, g, "room:lobby", why, sizeof(why)));
    assert_string_equal(why, "c@h does not see b@h up");
    json_decref(m[2]);
    m[2] = saved;
    /* A node that did not answer. */
    json_t *g1 = g[1];
    g[1] = NULL;
    assert_false(bnc_converged(3, names, m, g, "room:lobby", why, sizeof(why)));
    assert_string_equal(why, "b@h did not answer");
    g[1] = g1;
    assert_false(bnc_converged(3, names, m, g, "room:other", why, sizeof(why)));
    for (int i = 0; i < 3; i++) {
        json_decref(m[i]);
        json_decref(g[i]);
    }
}

/* ---- netns mode: names and kernel scripts ---- */

static void test_netns_names(void **state)
{
    (void)state;
    static const struct {
        long pid;
        int node;
        const char *ns, *veth, *peer, *bridge;
    } rows[] = {
        {4180, 0, "bnc4180n0", "bnc4180v0", "bnc4180p0", "bnc-br4180"},
        {7, 2, "bnc7n2", "bnc7v2", "bnc7p2", "bnc-br7"},
        {9999999, 15, "bnc9999999n15", "bnc9999999v15", "bnc9999999p15", "bnc-br9999999"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char b[64];
        bnc_ns_netns_name(b, sizeof(b), rows[i].pid, rows[i].node);
        assert_string_equal(b, rows[i].ns);
        /* Interface names must fit IFNAMSIZ (15 characters). */
        assert_true(bnc_ns_veth_name(b, sizeof(b), rows[i].pid, rows[i].node) <= 15);
        assert_string_equal(b, rows[i].veth);
        assert_true(bnc_ns_peer_name(b, sizeof(b), rows[i].pid, rows[i].node) <= 15);
        assert_string_equal(b, rows[i].peer);
        assert_true(bnc_ns_bridge_name(b, sizeof(b), rows[i].pid) <= 15);
        assert_string_equal(b, rows[i].bridge);
    }
    char a[32];
    bnc_ns_addr(a, sizeof(a), 117, -1);
    assert_string_equal(a, "10.213.117.1");
    bnc_ns_addr(a, sizeof(a), 117, 0);
    assert_string_equal(a, "10.213.117.10");
    bnc_ns_addr(a, sizeof(a), 3, 15);
    assert_string_equal(a, "10.213.3.25");
}

static void test_netns_owner(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int ok;
        long pid;
    } rows[] = {
        {"bnc4180n0", 1, 4180},
        {"bnc4180n15", 1, 4180},
        {"bnc12v3", 1, 12},
        {"bnc12p3", 1, 12},
        {"bnc-br4180", 1, 4180},
        {"bnc9999999n1", 1, 9999999},
        /* not ours */
        {"bnc", 0, 0},
        {"bnc-br", 0, 0},
        {"bnc-br12x", 0, 0},
        {"bnc-br012", 0, 0},
        {"bnc12", 0, 0},
        {"bnc12n", 0, 0},
        {"bnc12x0", 0, 0},
        {"bnc12n0a", 0, 0},
        {"bnc012n0", 0, 0},
        {"bnc12345678n0", 0, 0},
        {"bncXn0", 0, 0},
        {"eth0", 0, 0},
        {"lo", 0, 0},
        {"", 0, 0},
        {"xbnc12n0", 0, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        long pid = -1;
        int rc = bnc_ns_owner(rows[i].name, &pid);
        if (rows[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(pid, rows[i].pid);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(pid, -1); /* untouched */
        }
    }
}

static void test_netns_queue_nums(void **state)
{
    (void)state;
    assert_int_equal(bnc_ns_queue_num(0, 1), 4201);
    assert_int_equal(bnc_ns_queue_num(2, 0), 4232);
    /* Distinct for every ordered pair, and within a 16-bit queue id. */
    for (int a = 0; a < BNC_MAX_NODES; a++) {
        for (int b = 0; b < BNC_MAX_NODES; b++) {
            unsigned q = bnc_ns_queue_num(a, b);
            assert_true(q < 65536);
            assert_int_equal((q - BNC_NS_QUEUE_BASE) / BNC_MAX_NODES, a);
            assert_int_equal((q - BNC_NS_QUEUE_BASE) % BNC_MAX_NODES, b);
        }
    }
}

/* The flows (self, j) of node self under the given faults. */
static void flows_of(const bnc_fault_t *faults, size_t n, int self, int nodes, bnc_flow_t *out)
{
    const bnc_fault_t *act[8];
    for (size_t i = 0; i < n; i++) {
        act[i] = &faults[i];
    }
    for (int j = 0; j < nodes; j++) {
        memset(&out[j], 0, sizeof(out[j]));
        if (j != self) {
            out[j] = bnc_flow_state(act, n, self, j);
        }
    }
}

static void test_netns_rules(void **state)
{
    (void)state;
    static const char none[] = "*filter\n-F BNC\nCOMMIT\n";
    static const struct {
        const char *what;
        bnc_fault_t faults[3];
        size_t n;
        int self;
        const char *want;
    } rows[] = {
        {"no fault", {{0}}, 0, 0, none},
        {"partition, minority side",
         {{.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 6}},
         1,
         0,
         "*filter\n-F BNC\n"
         "-A BNC -d 10.213.7.11/32 -p tcp -j REJECT --reject-with tcp-reset\n"
         "-A BNC -d 10.213.7.12/32 -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n"},
        {"partition, majority side",
         {{.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 6}},
         1,
         2,
         "*filter\n-F BNC\n"
         "-A BNC -d 10.213.7.10/32 -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n"},
        {"one-way cut, sender",
         {{.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 2, .oneway = true}},
         1,
         0,
         "*filter\n-F BNC\n-A BNC -d 10.213.7.11/32 -j DROP\nCOMMIT\n"},
        {"one-way cut, receiver sends freely",
         {{.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 2, .oneway = true}},
         1,
         1,
         none},
        {"blackhole, both ends drop",
         {{.kind = BNC_FAULT_BLACKHOLE, .a_mask = 4, .b_mask = 2}},
         1,
         1,
         "*filter\n-F BNC\n-A BNC -d 10.213.7.12/32 -j DROP\nCOMMIT\n"},
        {"latency goes through the flow's queue",
         {{.kind = BNC_FAULT_LATENCY, .a_mask = 2, .b_mask = 5, .latency_ms = 80, .jitter_ms = 60}},
         1,
         1,
         "*filter\n-F BNC\n"
         "-A BNC -d 10.213.7.10/32 -j NFQUEUE --queue-num 4216 --queue-bypass\n"
         "-A BNC -d 10.213.7.12/32 -j NFQUEUE --queue-num 4218 --queue-bypass\nCOMMIT\n"},
        {"jitter alone also queues",
         {{.kind = BNC_FAULT_LATENCY, .a_mask = 1, .b_mask = 2, .jitter_ms = 5}},
         1,
         0,
         "*filter\n-F BNC\n"
         "-A BNC -d 10.213.7.11/32 -j NFQUEUE --queue-num 4201 --queue-bypass\nCOMMIT\n"},
        {"bandwidth is not a firewall rule",
         {{.kind = BNC_FAULT_BANDWIDTH, .a_mask = 1, .b_mask = 2, .bw_bytes_per_s = 1000}},
         1,
         0,
         none},
        {"node faults and resets are not rules",
         {{.kind = BNC_FAULT_KILL, .a_mask = 1},
          {.kind = BNC_FAULT_PAUSE, .a_mask = 2},
          {.kind = BNC_FAULT_RESET, .a_mask = 1, .b_mask = 2}},
         3,
         0,
         none},
        {"a cut beats a delay, REJECT beats DROP",
         {{.kind = BNC_FAULT_LATENCY, .a_mask = 1, .b_mask = 6, .latency_ms = 50},
          {.kind = BNC_FAULT_BLACKHOLE, .a_mask = 1, .b_mask = 2},
          {.kind = BNC_FAULT_PARTITION, .a_mask = 1, .b_mask = 4}},
         3,
         0,
         "*filter\n-F BNC\n-A BNC -d 10.213.7.11/32 -j DROP\n"
         "-A BNC -d 10.213.7.12/32 -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bnc_flow_t flows[BNC_MAX_NODES];
        flows_of(rows[i].faults, rows[i].n, rows[i].self, 3, flows);
        char out[1024];
        size_t len = bnc_ns_rules_script(out, sizeof(out), rows[i].self, 3, flows, 7);
        if (strcmp(out, rows[i].want) != 0) {
            fail_msg("%s: got\n%s", rows[i].what, out);
        }
        assert_int_equal(len, strlen(rows[i].want));
    }
    /* Too small a buffer: the needed length comes back, the text is cut
     * but terminated. */
    bnc_flow_t flows[BNC_MAX_NODES];
    flows_of(rows[1].faults, rows[1].n, 0, 3, flows);
    char small[16];
    size_t need = bnc_ns_rules_script(small, sizeof(small), 0, 3, flows, 7);
    assert_int_equal(need, strlen(rows[1].want));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    char init[128];
    size_t init_len = bnc_ns_rules_init_script(init, sizeof(init));
    assert_int_equal(init_len, strlen(init));
    assert_string_equal(init, "*filter\n:BNC - [0:0]\n-A OUTPUT -j BNC\nCOMMIT\n");
}

static void test_netns_tc(void **state)
{
    (void)state;
    /* n1 <-> n0 capped at 48 KiB/s, and a tighter cap n1 -> n2 (one
     * direction is enough for the test: the smallest limit wins). */
    bnc_fault_t f[3] = {
        {.kind = BNC_FAULT_BANDWIDTH, .a_mask = 2, .b_mask = 1, .bw_bytes_per_s = 49152},
        {.kind = BNC_FAULT_BANDWIDTH,
         .a_mask = 2,
         .b_mask = 4,
         .bw_bytes_per_s = 200000,
         .oneway = true},
        {.kind = BNC_FAULT_BANDWIDTH,
         .a_mask = 2,
         .b_mask = 4,
         .bw_bytes_per_s = 100000,
         .oneway = true},
    };
    bnc_flow_t flows[BNC_MAX_NODES];
    char out[2048];
    flows_of(f, 3, 1, 3, flows);
    assert_true(bnc_ns_has_bandwidth(1, 3, flows));
    size_t len = bnc_ns_tc_script(out, sizeof(out), 1, 3, flows, 9);
    const char *want =
        "qdisc add dev eth0 root handle 1: htb default 1\n"
        "class add dev eth0 parent 1: classid 1:1 htb rate 10gbit burst 262144 cburst 262144\n"
        "class add dev eth0 parent 1: classid 1:10 htb rate 49152bps ceil 49152bps burst 6056 "
        "cburst 6056\n"
        "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.213.9.10/32 "
        "flowid 1:10\n"
        "class add dev eth0 parent 1: classid 1:12 htb rate 100000bps ceil 100000bps burst 6056 "
        "cburst 6056\n"
        "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.213.9.12/32 "
        "flowid 1:12\n";
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    /* n0's flow to n1 is capped; n2 sends freely (the caps were one-way). */
    flows_of(f, 3, 0, 3, flows);
    bnc_ns_tc_script(out, sizeof(out), 0, 3, flows, 9);
    assert_non_null(strstr(out, "match ip dst 10.213.9.11/32 flowid 1:11\n"));
    assert_null(strstr(out, "10.213.9.12"));
    flows_of(f, 3, 2, 3, flows);
    assert_false(bnc_ns_has_bandwidth(2, 3, flows));
    assert_int_equal(bnc_ns_tc_script(out, sizeof(out), 2, 3, flows, 9), 0);
    assert_string_equal(out, "");
    /* Burst: at least four full frames, else 50 ms of the rate. */
    static const unsigned burst[][2] = {
        {1, 6056}, {49152, 6056}, {121120, 6056}, {200000, 10000}, {10000000, 500000},
    };
    for (size_t i = 0; i < sizeof(burst) / sizeof(burst[0]); i++) {
        assert_int_equal(bnc_ns_htb_burst(burst[i][0]), burst[i][1]);
    }
}

/* The no_sanitizer_reports invariant is only checked for binaries built
 * with a sanitizer: they are recognised by a runtime entry point's name. */
static void test_sanitizer_detect(void **state)
{
    (void)state;
    char with[] = "/tmp/bnc-san-XXXXXX", without[] = "/tmp/bnc-nosan-XXXXXX";
    int fd1 = mkstemp(with), fd2 = mkstemp(without);
    assert_true(fd1 >= 0 && fd2 >= 0);
    /* The mark straddles the 64 KiB read boundary. */
    static char big[70000];
    memset(big, 'x', sizeof(big));
    memcpy(big + 65536 - 5, "__asan_init", 11);
    assert_int_equal(write(fd1, big, sizeof(big)), (ssize_t)sizeof(big));
    memset(big, 'x', sizeof(big));
    assert_int_equal(write(fd2, big, sizeof(big)), (ssize_t)sizeof(big));
    close(fd1);
    close(fd2);
    assert_int_equal(bnc_binary_has_sanitizer(with), 1);
    assert_int_equal(bnc_binary_has_sanitizer(without), 0);
    assert_int_equal(bnc_binary_has_sanitizer("/nonexistent/bennu"), 0);
    unlink(with);
    unlink(without);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_reproducible),
        cmocka_unit_test(test_schedule_well_formed),
        cmocka_unit_test(test_schedule_bad_args),
        cmocka_unit_test(test_schedule_scenarios_shape),
        cmocka_unit_test(test_schedule_attacks),
        cmocka_unit_test(test_rng_and_describe),
        cmocka_unit_test(test_flow_state),
        cmocka_unit_test(test_fault_separates),
        cmocka_unit_test(test_pace),
        cmocka_unit_test(test_loss_classify),
        cmocka_unit_test(test_ledger_tally),
        cmocka_unit_test(test_ledger_flow),
        cmocka_unit_test(test_ftrack_passthrough),
        cmocka_unit_test(test_tamper_inject),
        cmocka_unit_test(test_tamper_flip),
        cmocka_unit_test(test_hello_frame),
        cmocka_unit_test(test_converged),
        cmocka_unit_test(test_netns_names),
        cmocka_unit_test(test_netns_owner),
        cmocka_unit_test(test_netns_queue_nums),
        cmocka_unit_test(test_netns_rules),
        cmocka_unit_test(test_netns_tc),
        cmocka_unit_test(test_sanitizer_detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
