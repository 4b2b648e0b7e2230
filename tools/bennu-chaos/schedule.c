/* Scenarios and fault schedules; contracts in schedule.h. */
#include "schedule.h"

#include <stdio.h>
#include <string.h>

static const char *const sc_names[] = {
#define BNC_SC_NAME(name, text, desc) text,
    BNC_SCENARIO_MAP(BNC_SC_NAME)
#undef BNC_SC_NAME
};

static const char *const sc_descs[] = {
#define BNC_SC_DESC(name, text, desc) desc,
    BNC_SCENARIO_MAP(BNC_SC_DESC)
#undef BNC_SC_DESC
};

const char *bnc_scenario_name(bnc_scenario_t s)
{
    return (unsigned)s < BNC_SC_COUNT ? sc_names[s] : "?";
}

const char *bnc_scenario_desc(bnc_scenario_t s)
{
    return (unsigned)s < BNC_SC_COUNT ? sc_descs[s] : "?";
}

int bnc_scenario_parse(const char *name, bnc_scenario_t *out)
{
    for (int i = 0; i < BNC_SC_COUNT; i++) {
        if (strcmp(name, sc_names[i]) == 0) {
            *out = (bnc_scenario_t)i;
            return 0;
        }
    }
    return -1;
}

uint64_t bnc_scenario_min_duration_ms(bnc_scenario_t s)
{
    if (s == BNC_SC_FLOOD) {
        uint64_t need = BNC_LEAD_MS + BNC_FLOOD_KILL_AT_MS + BNC_FLOOD_KILL_MS +
                        BNC_FLOOD_REJOIN_MS + BNC_TAIL_MS;
        return (need + 999) / 1000 * 1000;
    }
    return BNC_MIN_DURATION_MS;
}

uint64_t bnc_rng_seed(uint64_t seed)
{
    /* splitmix64 spreads small seeds (1, 2, 3...) over the whole state. */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z != 0 ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t bnc_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint32_t bnc_rng_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)((bnc_rng_next(state) >> 32) % n);
}

double bnc_rng_unit(uint64_t *state)
{
    return (double)(bnc_rng_next(state) >> 11) / 9007199254740992.0;
}

static uint32_t all_mask(int nodes)
{
    return nodes >= 32 ? 0xFFFFFFFFu : (1u << nodes) - 1u;
}

static bnc_fault_t *add(bnc_schedule_t *s, bnc_fault_kind_t kind, uint32_t a, uint32_t b,
                        uint64_t start, uint64_t end)
{
    if (s->n >= BNC_MAX_FAULTS) {
        return NULL;
    }
    bnc_fault_t *f = &s->faults[s->n++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->a_mask = a;
    f->b_mask = b;
    f->start_ms = start;
    f->end_ms = end;
    return f;
}

static void pick_pair(uint64_t *rng, int nodes, int *a, int *b)
{
    *a = (int)bnc_rng_below(rng, (uint32_t)nodes);
    *b = (int)bnc_rng_below(rng, (uint32_t)nodes - 1);
    if (*b >= *a) {
        (*b)++;
    }
}

/* A non-empty proper subset of the nodes. */
static uint32_t pick_side(uint64_t *rng, int nodes)
{
    uint32_t all = all_mask(nodes);
    for (;;) {
        uint32_t m = (uint32_t)bnc_rng_next(rng) & all;
        if (m != 0 && m != all) {
            return m;
        }
    }
}

/* Half the nodes (rounded down, at least one), chosen by the seed. */
static uint32_t pick_half(uint64_t *rng, int nodes)
{
    int order[BNC_MAX_NODES];
    for (int i = 0; i < nodes; i++) {
        order[i] = i;
    }
    for (int i = nodes - 1; i > 0; i--) {
        int j = (int)bnc_rng_below(rng, (uint32_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    uint32_t m = 0;
    for (int i = 0; i < nodes / 2; i++) {
        m |= 1u << order[i];
    }
    return m;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static bool node_fault_overlaps(const bnc_schedule_t *s, uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < s->n; i++) {
        const bnc_fault_t *f = &s->faults[i];
        /* A margin after each node fault lets the restarted node rejoin
         * before the next one, so two node faults never stack. */
        if (bnc_fault_kind_is_node(f->kind) && start < f->end_ms + 1000 &&
            f->start_ms < end + 1000) {
            return true;
        }
    }
    return false;
}

static void build_random(bnc_schedule_t *s, uint64_t *rng, int nodes, uint64_t lead, uint64_t end,
                         const bnc_timing_t *t)
{
    uint32_t count = 3 + bnc_rng_below(rng, 4);
    uint32_t all = all_mask(nodes);
    for (uint32_t i = 0; i < count; i++) {
        bnc_fault_kind_t kind = (bnc_fault_kind_t)bnc_rng_below(rng, BNC_FAULT_RANDOM_KINDS);
        uint64_t start = lead + bnc_rng_below(rng, (uint32_t)(end - lead - 800));
        uint64_t len = 500 + bnc_rng_below(rng, 3000);
        uint64_t stop = min_u64(start + len, end);
        int a;
        int b;
        pick_pair(rng, nodes, &a, &b);
        if (bnc_fault_kind_is_node(kind)) {
            /* Long enough for the peers to notice, else it is not a fault. */
            stop = min_u64(start + 2ull * t->down_ms + 500, end);
            if (stop <= start + t->down_ms || node_fault_overlaps(s, start, stop)) {
                kind = BNC_FAULT_LATENCY;
                stop = min_u64(start + len, end);
            }
        }
        bnc_fault_t *f = NULL;
        switch (kind) {
        case BNC_FAULT_PARTITION: {
            uint32_t side = pick_side(rng, nodes);
            f = add(s, kind, side, all & ~side, start, stop);
            if (f != NULL) {
                f->oneway = bnc_rng_below(rng, 10) < 3;
            }
            break;
        }
        case BNC_FAULT_BLACKHOLE:
            f = add(s, kind, 1u << a, 1u << b, start, stop);
            break;
        case BNC_FAULT_RESET:
            f = add(s, kind, 1u << a, 1u << b, start, start);
            break;
        case BNC_FAULT_LATENCY:
            f = add(s, kind, 1u << a, all & ~(1u << a), start, stop);
            if (f != NULL) {
                f->latency_ms = 20 + bnc_rng_below(rng, 130);
                f->jitter_ms = bnc_rng_below(rng, 80);
            }
            break;
        case BNC_FAULT_BANDWIDTH:
            f = add(s, kind, 1u << a, 1u << b, start, stop);
            if (f != NULL) {
                f->bw_bytes_per_s = 32768 + 1024 * bnc_rng_below(rng, 64);
            }
            break;
        case BNC_FAULT_KILL:
        case BNC_FAULT_PAUSE:
            f = add(s, kind, 1u << a, 0, start, stop);
            break;
        default:
            break;
        }
    }
}

static int cmp_start(const bnc_fault_t *x, const bnc_fault_t *y)
{
    if (x->start_ms != y->start_ms) {
        return x->start_ms < y->start_ms ? -1 : 1;
    }
    return 0;
}

int bnc_schedule_build(bnc_schedule_t *s, bnc_scenario_t sc, int nodes, uint64_t duration_ms,
                       uint64_t seed, const bnc_timing_t *t)
{
    memset(s, 0, sizeof(*s));
    if (nodes < 2 || nodes > BNC_MAX_NODES || (unsigned)sc >= BNC_SC_COUNT ||
        duration_ms < bnc_scenario_min_duration_ms(sc) || t == NULL || t->down_ms == 0) {
        return -1;
    }
    s->duration_ms = duration_ms;
    uint64_t rng = bnc_rng_seed(seed);
    uint64_t lead = BNC_LEAD_MS;
    uint64_t end = duration_ms - BNC_TAIL_MS;
    uint32_t all = all_mask(nodes);
    int a;
    int b;
    pick_pair(&rng, nodes, &a, &b);
    /* Node faults last long enough for every peer to declare the node down. */
    uint64_t node_len = min_u64(2ull * t->down_ms + 500, end - lead);
    switch (sc) {
    case BNC_SC_PARTITION_HALVES: {
        uint32_t half = pick_half(&rng, nodes);
        add(s, BNC_FAULT_PARTITION, half, all & ~half, lead, end);
        break;
    }
    case BNC_SC_ISOLATE_ONE: {
        uint64_t mid = (lead + end) / 2;
        bnc_fault_t *f = add(s, BNC_FAULT_PARTITION, 1u << a, all & ~(1u << a), lead, mid - 250);
        f->oneway = true;
        add(s, BNC_FAULT_PARTITION, 1u << a, all & ~(1u << a), mid + 250, end);
        break;
    }
    case BNC_SC_FLAPPING_LINK: {
        uint64_t at = lead;
        for (int cycle = 0; at + 600 <= end; cycle++) {
            if (cycle % 3 == 2) {
                add(s, BNC_FAULT_RESET, 1u << a, 1u << b, at, at);
                at += 900;
            } else {
                add(s, BNC_FAULT_PARTITION, 1u << a, 1u << b, at, at + 600);
                at += 600 + 900;
            }
        }
        break;
    }
    case BNC_SC_BLACKHOLE:
        add(s, BNC_FAULT_BLACKHOLE, 1u << a, 1u << b, lead, end);
        break;
    case BNC_SC_SLOW_LINK: {
        bnc_fault_t *f = add(s, BNC_FAULT_LATENCY, 1u << a, all & ~(1u << a), lead, end);
        f->latency_ms = 80;
        f->jitter_ms = 60;
        f = add(s, BNC_FAULT_BANDWIDTH, 1u << a, 1u << b, lead, end);
        f->bw_bytes_per_s = 48 * 1024;
        break;
    }
    case BNC_SC_KILL_RESTART:
        add(s, BNC_FAULT_KILL, 1u << a, 0, lead, lead + node_len);
        break;
    case BNC_SC_PAUSE_RESUME:
        add(s, BNC_FAULT_PAUSE, 1u << a, 0, lead, lead + node_len);
        break;
    case BNC_SC_RANDOM:
        build_random(s, &rng, nodes, lead, end, t);
        break;
    case BNC_SC_DUPLICATE_NAME:
        add(s, BNC_FAULT_IMPOSTOR, 1u << a, 0, lead, end);
        break;
    case BNC_SC_MITM:
        add(s, BNC_FAULT_TAMPER, 1u << a, 1u << b, lead, end);
        break;
    case BNC_SC_FLOOD: {
        /* The restarted node's name sorts lower, so its own dial to the
         * flooded node is the one the handshake keeps: it has to get
         * through the flooded node's admission. */
        char na[16];
        char nb[16];
        snprintf(na, sizeof(na), "n%d", a);
        snprintf(nb, sizeof(nb), "n%d", b);
        int flooded = strcmp(na, nb) > 0 ? a : b;
        int restarted = flooded == a ? b : a;
        bnc_fault_t *f = add(s, BNC_FAULT_FLOOD, 1u << flooded, 0, lead, end);
        f->conns = BNC_FLOOD_CONNS;
        uint64_t kill = lead + BNC_FLOOD_KILL_AT_MS;
        add(s, BNC_FAULT_KILL, 1u << restarted, 0, kill, kill + BNC_FLOOD_KILL_MS);
        break;
    }
    default:
        return -1;
    }
    /* Insertion sort: stable, and schedules are tiny. */
    for (size_t i = 1; i < s->n; i++) {
        bnc_fault_t key = s->faults[i];
        size_t j = i;
        while (j > 0 && cmp_start(&s->faults[j - 1], &key) > 0) {
            s->faults[j] = s->faults[j - 1];
            j--;
        }
        s->faults[j] = key;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->faults[i].id = (uint32_t)i + 1;
    }
    return 0;
}

static size_t mask_str(uint32_t m, char *out, size_t cap)
{
    size_t n = 0;
    int w = snprintf(out, cap, "{");
    n += w > 0 ? (size_t)w : 0;
    int first = 1;
    for (int i = 0; i < 32; i++) {
        if ((m & (1u << i)) == 0) {
            continue;
        }
        w = snprintf(out + (n < cap ? n : cap), n < cap ? cap - n : 0, "%sn%d", first ? "" : ",",
                     i);
        n += w > 0 ? (size_t)w : 0;
        first = 0;
    }
    w = snprintf(out + (n < cap ? n : cap), n < cap ? cap - n : 0, "}");
    n += w > 0 ? (size_t)w : 0;
    return n;
}

size_t bnc_fault_describe(const bnc_fault_t *f, char *out, size_t cap)
{
    char a[128];
    char b[128];
    mask_str(f->a_mask, a, sizeof(a));
    mask_str(f->b_mask, b, sizeof(b));
    int w;
    switch (f->kind) {
    case BNC_FAULT_KILL:
    case BNC_FAULT_PAUSE:
        w = snprintf(out, cap, "%s %s %llu-%llums", bnc_fault_kind_name(f->kind), a,
                     (unsigned long long)f->start_ms, (unsigned long long)f->end_ms);
        break;
    case BNC_FAULT_RESET:
        w = snprintf(out, cap, "reset %s-%s at %llums", a, b, (unsigned long long)f->start_ms);
        break;
    case BNC_FAULT_TAMPER:
        w = snprintf(out, cap, "tamper %s<->%s %llu-%llums", a, b, (unsigned long long)f->start_ms,
                     (unsigned long long)f->end_ms);
        break;
    case BNC_FAULT_IMPOSTOR:
        w = snprintf(out, cap, "impostor named as %s %llu-%llums", a,
                     (unsigned long long)f->start_ms, (unsigned long long)f->end_ms);
        break;
    case BNC_FAULT_FLOOD:
        w = snprintf(out, cap, "flood %s %u connections %llu-%llums", a, f->conns,
                     (unsigned long long)f->start_ms, (unsigned long long)f->end_ms);
        break;
    case BNC_FAULT_LATENCY:
        w = snprintf(out, cap, "latency %s<->%s +%ums jitter %ums %llu-%llums", a, b, f->latency_ms,
                     f->jitter_ms, (unsigned long long)f->start_ms, (unsigned long long)f->end_ms);
        break;
    case BNC_FAULT_BANDWIDTH:
        w = snprintf(out, cap, "bandwidth %s<->%s %u B/s %llu-%llums", a, b, f->bw_bytes_per_s,
                     (unsigned long long)f->start_ms, (unsigned long long)f->end_ms);
        break;
    default:
        w = snprintf(out, cap, "%s %s%s%s %llu-%llums", bnc_fault_kind_name(f->kind), a,
                     f->oneway ? "->" : "|", b, (unsigned long long)f->start_ms,
                     (unsigned long long)f->end_ms);
        break;
    }
    return w > 0 ? (size_t)w : 0;
}
