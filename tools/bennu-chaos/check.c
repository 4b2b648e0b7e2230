/* Delivery checker; contracts in check.h. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const loss_names[] = {
#define BNC_LOSS_NAME(name, text, ok) text,
    BNC_LOSS_MAP(BNC_LOSS_NAME)
#undef BNC_LOSS_NAME
};

static const bool loss_ok[] = {
#define BNC_LOSS_OK(name, text, ok) ok,
    BNC_LOSS_MAP(BNC_LOSS_OK)
#undef BNC_LOSS_OK
};

const char *bnc_loss_name(bnc_loss_t l)
{
    return (unsigned)l < BNC_LOSS_COUNT ? loss_names[l] : "?";
}

bool bnc_loss_allowed(bnc_loss_t l)
{
    return (unsigned)l < BNC_LOSS_COUNT && loss_ok[l];
}

bnc_loss_t bnc_loss_classify(const bnc_window_t *w, size_t n, const bnc_grace_t *g, int pub_node,
                             int sub_node, uint64_t sent_ms, uint64_t sub_join_ms)
{
    for (size_t i = 0; i < n; i++) {
        if (!bnc_fault_separates(&w[i].fault, pub_node, sub_node)) {
            continue;
        }
        uint64_t from = w[i].start_ms > g->before_ms ? w[i].start_ms - g->before_ms : 0;
        uint64_t to = w[i].end_ms + g->after_ms;
        if (sent_ms >= from && sent_ms <= to) {
            return BNC_LOSS_FAULT;
        }
    }
    if (sent_ms >= sub_join_ms && sent_ms - sub_join_ms <= g->rejoin_ms) {
        return BNC_LOSS_REJOIN;
    }
    return BNC_LOSS_UNEXPLAINED;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL && n != 0) {
        abort();
    }
    return q;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size);
    if (p == NULL) {
        abort();
    }
    return p;
}

void bnc_ledger_init(bnc_ledger_t *l, size_t n_clients, const int *node_of)
{
    memset(l, 0, sizeof(*l));
    l->n_clients = n_clients;
    l->node_of = xcalloc(n_clients, sizeof(int));
    memcpy(l->node_of, node_of, n_clients * sizeof(int));
    l->sent_ms = xcalloc(n_clients, sizeof(uint64_t *));
    l->sent_cap = xcalloc(n_clients, sizeof(size_t));
    l->last_seq = xcalloc(n_clients, sizeof(uint64_t));
    l->pairs = xcalloc(n_clients * n_clients, sizeof(bnc_pair_t));
    l->joined = xcalloc(n_clients, sizeof(bnc_span_t *));
    l->n_joined = xcalloc(n_clients, sizeof(size_t));
}

void bnc_ledger_free(bnc_ledger_t *l)
{
    for (size_t i = 0; i < l->n_clients; i++) {
        free(l->sent_ms[i]);
        free(l->joined[i]);
    }
    for (size_t i = 0; i < l->n_clients * l->n_clients; i++) {
        free(l->pairs[i].seen);
    }
    free(l->node_of);
    free(l->sent_ms);
    free(l->sent_cap);
    free(l->last_seq);
    free(l->pairs);
    free(l->joined);
    free(l->n_joined);
    memset(l, 0, sizeof(*l));
}

static size_t grow_to(size_t cap, size_t need)
{
    size_t c = cap != 0 ? cap : 256;
    while (c <= need) {
        c *= 2;
    }
    return c;
}

void bnc_ledger_sent(bnc_ledger_t *l, size_t pub, uint64_t seq, uint64_t now_ms)
{
    if (pub >= l->n_clients || seq == 0 || seq <= l->last_seq[pub]) {
        return;
    }
    if (seq >= l->sent_cap[pub]) {
        size_t cap = grow_to(l->sent_cap[pub], seq);
        l->sent_ms[pub] = xrealloc(l->sent_ms[pub], cap * sizeof(uint64_t));
        memset(l->sent_ms[pub] + l->sent_cap[pub], 0, (cap - l->sent_cap[pub]) * sizeof(uint64_t));
        l->sent_cap[pub] = cap;
    }
    l->sent_ms[pub][seq] = now_ms;
    l->last_seq[pub] = seq;
}

void bnc_ledger_delivered(bnc_ledger_t *l, size_t sub, uint32_t pub, uint64_t seq)
{
    if (sub >= l->n_clients || pub >= l->n_clients || seq == 0 || seq > l->last_seq[pub]) {
        l->unknown++;
        return;
    }
    bnc_pair_t *p = &l->pairs[sub * l->n_clients + pub];
    if (seq >= p->cap) {
        size_t cap = grow_to(p->cap, seq);
        p->seen = xrealloc(p->seen, cap);
        memset(p->seen + p->cap, 0, cap - p->cap);
        p->cap = cap;
    }
    if (p->seen[seq] != 0) {
        p->dups++;
    } else {
        p->delivered++;
        if (seq < p->max_seq) {
            p->reordered++;
        }
    }
    if (p->seen[seq] < 255) {
        p->seen[seq]++;
    }
    if (seq > p->max_seq) {
        p->max_seq = seq;
    }
}

void bnc_ledger_malformed(bnc_ledger_t *l)
{
    l->unknown++;
}

void bnc_ledger_joined(bnc_ledger_t *l, size_t sub, uint64_t now_ms)
{
    if (sub >= l->n_clients) {
        return;
    }
    size_t n = l->n_joined[sub];
    if (n > 0 && l->joined[sub][n - 1].to_ms == UINT64_MAX) {
        return;
    }
    l->joined[sub] = xrealloc(l->joined[sub], (n + 1) * sizeof(bnc_span_t));
    l->joined[sub][n].from_ms = now_ms;
    l->joined[sub][n].to_ms = UINT64_MAX;
    l->n_joined[sub] = n + 1;
}

void bnc_ledger_left(bnc_ledger_t *l, size_t sub, uint64_t now_ms)
{
    if (sub >= l->n_clients) {
        return;
    }
    size_t n = l->n_joined[sub];
    if (n > 0 && l->joined[sub][n - 1].to_ms == UINT64_MAX) {
        l->joined[sub][n - 1].to_ms = now_ms;
    }
}

/* The span of sub containing t, or NULL. */
static const bnc_span_t *span_at(const bnc_ledger_t *l, size_t sub, uint64_t t)
{
    for (size_t i = 0; i < l->n_joined[sub]; i++) {
        const bnc_span_t *s = &l->joined[sub][i];
        if (t >= s->from_ms && t < s->to_ms) {
            return s;
        }
    }
    return NULL;
}

void bnc_ledger_flow(const bnc_ledger_t *l, int pub_node, int sub_node, uint64_t from_ms,
                     uint64_t *expected, uint64_t *delivered)
{
    *expected = 0;
    *delivered = 0;
    size_t n = l->n_clients;
    for (size_t pub = 0; pub < n; pub++) {
        if (l->node_of[pub] != pub_node) {
            continue;
        }
        for (size_t sub = 0; sub < n; sub++) {
            if (l->node_of[sub] != sub_node) {
                continue;
            }
            const bnc_pair_t *p = &l->pairs[sub * n + pub];
            for (uint64_t seq = 1; seq <= l->last_seq[pub]; seq++) {
                uint64_t t = l->sent_ms[pub][seq];
                if (t < from_ms || span_at(l, sub, t) == NULL) {
                    continue;
                }
                (*expected)++;
                *delivered += seq < p->cap && p->seen[seq] != 0;
            }
        }
    }
}

void bnc_ledger_tally(const bnc_ledger_t *l, const bnc_window_t *w, size_t n_windows,
                      const bnc_grace_t *g, bnc_tally_t *out, uint64_t *lost_at, size_t n_buckets,
                      uint64_t bucket_ms)
{
    memset(out, 0, sizeof(*out));
    out->unknown = l->unknown;
    size_t n = l->n_clients;
    for (size_t pub = 0; pub < n; pub++) {
        out->sent += l->last_seq[pub];
    }
    for (size_t sub = 0; sub < n; sub++) {
        for (size_t pub = 0; pub < n; pub++) {
            const bnc_pair_t *p = &l->pairs[sub * n + pub];
            out->dups += p->dups;
            out->reordered += p->reordered;
            for (uint64_t seq = 1; seq <= l->last_seq[pub]; seq++) {
                uint64_t t = l->sent_ms[pub][seq];
                bool got = seq < p->cap && p->seen[seq] != 0;
                const bnc_span_t *span = span_at(l, sub, t);
                if (span == NULL) {
                    out->extra += got;
                    continue;
                }
                out->expected++;
                if (got) {
                    out->delivered++;
                    continue;
                }
                bnc_loss_t why = bnc_loss_classify(w, n_windows, g, l->node_of[pub],
                                                   l->node_of[sub], t, span->from_ms);
                out->lost[why]++;
                if (bnc_loss_allowed(why)) {
                    out->lost_allowed++;
                } else {
                    out->lost_unexplained++;
                    if (out->n_examples < sizeof(out->examples) / sizeof(out->examples[0])) {
                        out->examples[out->n_examples].pub = (uint32_t)pub;
                        out->examples[out->n_examples].sub = (uint32_t)sub;
                        out->examples[out->n_examples].seq = seq;
                        out->examples[out->n_examples].sent_ms = t;
                        out->n_examples++;
                    }
                }
                if (lost_at != NULL && bucket_ms > 0) {
                    size_t b = (size_t)(t / bucket_ms);
                    if (b < n_buckets) {
                        lost_at[b]++;
                    }
                }
            }
        }
    }
}

int bnc_binary_has_sanitizer(const char *path)
{
    /* The sanitizer runtimes' entry points are named in the binary (the
     * dynamic symbol table with GCC's shared runtime, the code itself with
     * a static one): finding one is enough. */
    static const char *const marks[] = {"__asan_init", "__ubsan_handle_", "__tsan_init",
                                        "__msan_init"};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }
    enum { CHUNK = 1 << 16, OVERLAP = 32 };
    char *buf = malloc(CHUNK + OVERLAP);
    if (buf == NULL) {
        fclose(f);
        return 0;
    }
    size_t keep = 0, n;
    int found = 0;
    while (!found && (n = fread(buf + keep, 1, CHUNK, f)) > 0) {
        size_t len = keep + n;
        for (size_t i = 0; !found && i < sizeof(marks) / sizeof(marks[0]); i++) {
            found = memmem(buf, len, marks[i], strlen(marks[i])) != NULL;
        }
        keep = len < OVERLAP ? len : OVERLAP;
        memmove(buf, buf + len - keep, keep);
    }
    free(buf);
    fclose(f);
    return found;
}
