/* Prometheus text format 0.0.4 writer and bearer parsing (prom.h). */
#include "channel/prom.h"

#include "bennu/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void bn_prom_init(bn_prom_t *p)
{
    memset(p, 0, sizeof(*p));
}

void bn_prom_free(bn_prom_t *p)
{
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

static bool reserve(bn_prom_t *p, size_t more)
{
    if (p->oom) {
        return false;
    }
    if (p->len + more + 1 <= p->cap) {
        return true;
    }
    size_t cap = p->cap != 0 ? p->cap : 4096;
    while (cap < p->len + more + 1) {
        cap *= 2;
    }
    char *b = realloc(p->buf, cap);
    if (b == NULL) {
        p->oom = true;
        return false;
    }
    p->buf = b;
    p->cap = cap;
    return true;
}

static void put(bn_prom_t *p, const char *s, size_t n)
{
    if (!reserve(p, n)) {
        return;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void puts_(bn_prom_t *p, const char *s)
{
    put(p, s, strlen(s));
}

/* Escapes backslash and newline, and the double quote when quote is set. */
static void put_escaped(bn_prom_t *p, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            put(p, "\\\\", 2);
        } else if (*s == '\n') {
            put(p, "\\n", 2);
        } else if (quote && *s == '"') {
            put(p, "\\\"", 2);
        } else {
            put(p, s, 1);
        }
    }
}

void bn_prom_family(bn_prom_t *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help, false);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

static void sample_head(bn_prom_t *p, const char *name, const char *label, const char *value)
{
    puts_(p, name);
    if (label != NULL) {
        puts_(p, "{");
        puts_(p, label);
        puts_(p, "=\"");
        put_escaped(p, value != NULL ? value : "", true);
        puts_(p, "\"}");
    }
}

void bn_prom_u64(bn_prom_t *p, const char *name, const char *label, const char *value, uint64_t v)
{
    char num[32];
    sample_head(p, name, label, value);
    int n = snprintf(num, sizeof(num), " %llu\n", (unsigned long long)v);
    put(p, num, (size_t)n);
}

void bn_prom_double(bn_prom_t *p, const char *name, const char *label, const char *value, double v)
{
    char num[48];
    sample_head(p, name, label, value);
    int n = snprintf(num, sizeof(num), " %.9g\n", v);
    put(p, num, (size_t)n);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

bool bn_bearer_parse(const char *header, const char **token, size_t *len)
{
    if (header == NULL || strncasecmp(header, "bearer", 6) != 0 || !blank(header[6])) {
        return false;
    }
    const char *t = header + 6;
    while (blank(*t)) {
        t++;
    }
    size_t n = strlen(t);
    while (n > 0 && blank(t[n - 1])) {
        n--;
    }
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (blank(t[i])) {
            return false;
        }
    }
    *token = t;
    *len = n;
    return true;
}

/* The public writer of bennu/ops.h: the same text, for an application's series. */
void bn_metrics_family(bn_metrics_t *m, const char *name, const char *type, const char *help)
{
    bn_prom_family(m, name, type, help);
}

void bn_metrics_u64(bn_metrics_t *m, const char *name, const char *label, const char *value,
                    uint64_t v)
{
    bn_prom_u64(m, name, label, value, v);
}

void bn_metrics_double(bn_metrics_t *m, const char *name, const char *label, const char *value,
                       double v)
{
    bn_prom_double(m, name, label, value, v);
}
