/* Fault model; contracts in fault.h. */
#include "fault.h"

static const char *const kind_names[] = {
#define BNC_FAULT_NAME(name, text, sep) text,
    BNC_FAULT_KIND_MAP(BNC_FAULT_NAME)
#undef BNC_FAULT_NAME
};

static const bool kind_sep[] = {
#define BNC_FAULT_SEP(name, text, sep) sep,
    BNC_FAULT_KIND_MAP(BNC_FAULT_SEP)
#undef BNC_FAULT_SEP
};

const char *bnc_fault_kind_name(bnc_fault_kind_t k)
{
    return (unsigned)k < BNC_FAULT_KIND_COUNT ? kind_names[k] : "?";
}

bool bnc_fault_kind_separating(bnc_fault_kind_t k)
{
    return (unsigned)k < BNC_FAULT_KIND_COUNT && kind_sep[k];
}

bool bnc_fault_kind_is_node(bnc_fault_kind_t k)
{
    return k == BNC_FAULT_KILL || k == BNC_FAULT_PAUSE || k == BNC_FAULT_IMPOSTOR ||
           k == BNC_FAULT_FLOOD;
}

static bool in_mask(uint32_t mask, int i)
{
    return i >= 0 && i < 32 && (mask & (1u << i)) != 0;
}

bool bnc_fault_covers_flow(const bnc_fault_t *f, int from, int to)
{
    if (bnc_fault_kind_is_node(f->kind)) {
        return in_mask(f->a_mask, from) || in_mask(f->a_mask, to);
    }
    if (in_mask(f->a_mask, from) && in_mask(f->b_mask, to)) {
        return true;
    }
    return !f->oneway && in_mask(f->b_mask, from) && in_mask(f->a_mask, to);
}

bool bnc_fault_separates(const bnc_fault_t *f, int x, int y)
{
    if (!bnc_fault_kind_separating(f->kind)) {
        return false;
    }
    if (bnc_fault_kind_is_node(f->kind)) {
        return in_mask(f->a_mask, x) || in_mask(f->a_mask, y);
    }
    return (in_mask(f->a_mask, x) && in_mask(f->b_mask, y)) ||
           (in_mask(f->b_mask, x) && in_mask(f->a_mask, y));
}

bnc_flow_t bnc_flow_state(const bnc_fault_t *const *active, size_t n, int from, int to)
{
    bnc_flow_t s = {0};
    for (size_t i = 0; i < n; i++) {
        const bnc_fault_t *f = active[i];
        if (bnc_fault_kind_is_node(f->kind) || !bnc_fault_covers_flow(f, from, to)) {
            continue;
        }
        switch (f->kind) {
        case BNC_FAULT_PARTITION:
            /* A symmetric cut behaves like a REJECT firewall (fast, RST);
             * a one-way cut can only withhold bytes, so only ticks see it. */
            s.held = true;
            if (!f->oneway) {
                s.reject = true;
            }
            break;
        case BNC_FAULT_BLACKHOLE:
            s.held = true;
            break;
        case BNC_FAULT_LATENCY:
            if (f->latency_ms > s.latency_ms) {
                s.latency_ms = f->latency_ms;
            }
            if (f->jitter_ms > s.jitter_ms) {
                s.jitter_ms = f->jitter_ms;
            }
            break;
        case BNC_FAULT_TAMPER:
            s.tamper = true;
            break;
        case BNC_FAULT_BANDWIDTH:
            if (f->bw_bytes_per_s > 0 &&
                (s.bw_bytes_per_s == 0 || f->bw_bytes_per_s < s.bw_bytes_per_s)) {
                s.bw_bytes_per_s = f->bw_bytes_per_s;
            }
            break;
        default:
            break;
        }
    }
    return s;
}

bnc_admit_t bnc_flow_admit(const bnc_flow_t *fwd, const bnc_flow_t *back)
{
    if (fwd->reject || back->reject) {
        return BNC_ADMIT_RESET;
    }
    /* The SYN travels dialer->target: while that direction is withheld the
     * target must not even see the connection. */
    if (fwd->held) {
        return BNC_ADMIT_DEFER;
    }
    return BNC_ADMIT_CONNECT;
}

uint64_t bnc_pace_due(bnc_pace_t *p, const bnc_flow_t *f, uint64_t arrival_ms, size_t len, double r)
{
    double due = (double)arrival_ms + (double)f->latency_ms + r * (double)f->jitter_ms;
    if (due < (double)p->last_due_ms) {
        due = (double)p->last_due_ms;
    }
    if (f->bw_bytes_per_s > 0) {
        /* The link is busy until bw_free_ms; this chunk is fully across
         * once its own bytes have been serialised after that. */
        double start = due > p->bw_free_ms ? due : p->bw_free_ms;
        p->bw_free_ms = start + (double)len * 1000.0 / (double)f->bw_bytes_per_s;
        due = p->bw_free_ms;
    }
    uint64_t d = (uint64_t)(due + 0.5);
    if (d < p->last_due_ms) {
        d = p->last_due_ms;
    }
    p->last_due_ms = d;
    return d;
}
