/* Log-linear histogram; see hist.h for the bucket layout. */
#include "hist.h"

#include <math.h>
#include <string.h>

void bnb_hist_init(bnb_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

size_t bnb_hist_index(uint64_t v)
{
    if (v < BNB_HIST_SUB) {
        return (size_t)v;
    }
    if (v >> BNB_HIST_MAX_BITS) {
        return BNB_HIST_BUCKETS - 1;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - BNB_HIST_SUB_BITS;
    return (size_t)(shift + 1) * BNB_HIST_SUB + (size_t)((v >> shift) - BNB_HIST_SUB);
}

uint64_t bnb_hist_bucket_low(size_t idx)
{
    if (idx < BNB_HIST_SUB) {
        return idx;
    }
    unsigned shift = (unsigned)(idx / BNB_HIST_SUB) - 1;
    uint64_t m = idx % BNB_HIST_SUB + BNB_HIST_SUB;
    return m << shift;
}

uint64_t bnb_hist_bucket_high(size_t idx)
{
    if (idx < BNB_HIST_SUB) {
        return idx;
    }
    unsigned shift = (unsigned)(idx / BNB_HIST_SUB) - 1;
    uint64_t m = idx % BNB_HIST_SUB + BNB_HIST_SUB;
    return ((m + 1) << shift) - 1;
}

void bnb_hist_record(bnb_hist_t *h, uint64_t v)
{
    h->buckets[bnb_hist_index(v)]++;
    h->count++;
    if (v < h->min) {
        h->min = v;
    }
    if (v > h->max) {
        h->max = v;
    }
    h->sum = (h->sum + v < h->sum) ? UINT64_MAX : h->sum + v;
}

void bnb_hist_merge(bnb_hist_t *dst, const bnb_hist_t *src)
{
    if (src->count == 0) {
        return;
    }
    for (size_t i = 0; i < BNB_HIST_BUCKETS; i++) {
        dst->buckets[i] += src->buckets[i];
    }
    dst->count += src->count;
    if (src->min < dst->min) {
        dst->min = src->min;
    }
    if (src->max > dst->max) {
        dst->max = src->max;
    }
    dst->sum = (dst->sum + src->sum < dst->sum) ? UINT64_MAX : dst->sum + src->sum;
}

uint64_t bnb_hist_quantile(const bnb_hist_t *h, double q)
{
    if (h->count == 0) {
        return 0;
    }
    if (!(q > 0.0)) {
        return h->min;
    }
    if (q >= 1.0) {
        return h->max;
    }
    /* The rank is computed in floating point, then clamped: ceil of an
     * inexact product can otherwise land one past count. */
    double r = ceil(q * (double)h->count);
    uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
    if (rank > h->count) {
        rank = h->count;
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < BNB_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = bnb_hist_bucket_high(i);
            if (v > h->max) {
                v = h->max;
            }
            if (v < h->min) {
                v = h->min;
            }
            return v;
        }
    }
    return h->max;
}

double bnb_hist_mean(const bnb_hist_t *h)
{
    if (h->count == 0) {
        return 0.0;
    }
    return (double)h->sum / (double)h->count;
}
