/* Log-linear latency histogram (HDR-like) for bennu-bench.
 *
 * Values are unsigned integers (nanoseconds in practice). Values below
 * BNB_HIST_SUB are stored exactly; above that every power of two is split
 * into BNB_HIST_SUB equal sub-buckets, so a reported value is within
 * 1/BNB_HIST_SUB (about 3%) of the true one. Values at or above
 * 2^BNB_HIST_MAX_BITS are clamped into the last bucket (max stays exact).
 *
 * The histogram is a fixed-size value type: recording never allocates, and
 * the caller owns the memory (embed it or allocate it once). */
#ifndef BNB_HIST_H
#define BNB_HIST_H

#include <stddef.h>
#include <stdint.h>

#define BNB_HIST_SUB_BITS 5
#define BNB_HIST_SUB (1u << BNB_HIST_SUB_BITS)
#define BNB_HIST_MAX_BITS 42
#define BNB_HIST_BUCKETS ((BNB_HIST_MAX_BITS - BNB_HIST_SUB_BITS + 1) * BNB_HIST_SUB)

typedef struct bnb_hist_s {
    /* read-only */
    uint64_t count;
    uint64_t min; /* UINT64_MAX while empty */
    uint64_t max;
    uint64_t sum; /* saturates instead of wrapping */
    /* private */
    uint64_t buckets[BNB_HIST_BUCKETS];
} bnb_hist_t;

/* Resets h to empty. */
void bnb_hist_init(bnb_hist_t *h);

/* Records one value; O(1), no allocation. */
void bnb_hist_record(bnb_hist_t *h, uint64_t v);

/* Adds every sample of src into dst. */
void bnb_hist_merge(bnb_hist_t *dst, const bnb_hist_t *src);

/* Bucket index of v (exposed for tests). */
size_t bnb_hist_index(uint64_t v);

/* Smallest and largest value that map to bucket idx. */
uint64_t bnb_hist_bucket_low(size_t idx);
uint64_t bnb_hist_bucket_high(size_t idx);

/* Value at quantile q in [0,1]: the highest value equivalent to the sample
 * of rank ceil(q * count), clamped to [min, max]. q <= 0 gives min, q >= 1
 * gives max; an empty histogram gives 0. */
uint64_t bnb_hist_quantile(const bnb_hist_t *h, double q);

/* Mean of the recorded values, 0 when empty. */
double bnb_hist_mean(const bnb_hist_t *h);

#endif
