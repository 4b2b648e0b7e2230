/* Pure helpers of the operator surface (http_api.c), unit-tested:
 * the Prometheus text exposition format 0.0.4 and bearer-token parsing. */
#ifndef BN_CHANNEL_PROM_H
#define BN_CHANNEL_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing text buffer; after an allocation failure it stays failed
 * (oom set) and further writes are ignored. */
typedef struct bn_metrics_s { /* bn_metrics_t of bennu/ops.h */
    char *buf;
    size_t len, cap;
    bool oom;
} bn_prom_t;

void bn_prom_init(bn_prom_t *p);
void bn_prom_free(bn_prom_t *p);
/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). The
 * help text is escaped (backslash, newline). */
void bn_prom_family(bn_prom_t *p, const char *name, const char *type, const char *help);
/* One sample: name{label="value"} v, or name v when label is NULL. The
 * label value is escaped (backslash, double quote, newline). */
void bn_prom_u64(bn_prom_t *p, const char *name, const char *label, const char *value, uint64_t v);
/* The same with a floating value (%.9g; never NaN or infinite here). */
void bn_prom_double(bn_prom_t *p, const char *name, const char *label, const char *value, double v);

/* Parses an Authorization header value "Bearer <token>" (scheme case-
 * insensitive, blanks around the token ignored). Returns true and the
 * token span, or false when the header is NULL, another scheme, or holds
 * no token or a token with inner blanks. */
bool bn_bearer_parse(const char *header, const char **token, size_t *len);

#endif
