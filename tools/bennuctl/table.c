#include "table.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    char *d = strdup(s != NULL ? s : "-");
    if (d == NULL) {
        abort();
    }
    return d;
}

static void grow(bnctl_table_t *t)
{
    if (t->nrows < t->cap) {
        return;
    }
    t->cap = t->cap ? t->cap * 2 : 8;
    t->cells = realloc(t->cells, t->cap * t->ncols * sizeof(*t->cells));
    if (t->cells == NULL) {
        abort();
    }
}

void bnctl_table_init(bnctl_table_t *t, size_t ncols, const char *const *heads, const char *align)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->align = xstrdup(align);
    bnctl_table_add(t, heads);
}

void bnctl_table_add(bnctl_table_t *t, const char *const *cells)
{
    grow(t);
    for (size_t c = 0; c < t->ncols; c++) {
        t->cells[t->nrows * t->ncols + c] = xstrdup(cells[c]);
    }
    t->nrows++;
}

size_t bnctl_table_rows(const bnctl_table_t *t)
{
    return t->nrows > 0 ? t->nrows - 1 : 0;
}

static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            w++;
        }
    }
    return w;
}

char *bnctl_table_render(const bnctl_table_t *t)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));
    if (w == NULL) {
        abort();
    }
    size_t total = 1;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t cw = width(cell);
            w[c] = cw > w[c] ? cw : w[c];
            total += strlen(cell);
        }
    }
    for (size_t c = 0; c < t->ncols; c++) {
        total += t->nrows * (w[c] + 2);
    }
    total += t->nrows;
    char *out = malloc(total);
    if (out == NULL) {
        abort();
    }
    size_t len = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        size_t line_start = len;
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t pad = w[c] - width(cell);
            if (c > 0) {
                out[len++] = ' ';
                out[len++] = ' ';
            }
            if (t->align[c] == 'r') {
                memset(out + len, ' ', pad);
                len += pad;
            }
            memcpy(out + len, cell, strlen(cell));
            len += strlen(cell);
            if (t->align[c] != 'r') {
                memset(out + len, ' ', pad);
                len += pad;
            }
        }
        while (len > line_start && out[len - 1] == ' ') {
            len--;
        }
        out[len++] = '\n';
    }
    out[len] = '\0';
    free(w);
    return out;
}

void bnctl_table_free(bnctl_table_t *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    free(t->align);
    memset(t, 0, sizeof(*t));
}

void bnctl_fmt_bytes(uint64_t n, char *out, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(out, cap, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n / 1024.0;
    size_t u = 0;
    while (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, cap, "%.1f %s", v, units[u]);
}

void bnctl_fmt_duration_ms(int64_t ms, char *out, size_t cap)
{
    if (ms < 0) {
        snprintf(out, cap, "-");
    } else if (ms < 1000) {
        snprintf(out, cap, "%" PRId64 "ms", ms);
    } else if (ms < 60000) {
        /* Tenths, truncated: 59.99s must not print as 60.0s. */
        snprintf(out, cap, "%" PRId64 ".%" PRId64 "s", ms / 1000, ms % 1000 / 100);
    } else if (ms < 3600000) {
        snprintf(out, cap, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms % 60000 / 1000);
    } else if (ms < 86400000) {
        snprintf(out, cap, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms % 3600000 / 60000);
    } else {
        snprintf(out, cap, "%" PRId64 "d%02" PRId64 "h", ms / 86400000, ms % 86400000 / 3600000);
    }
}

void bnctl_fmt_rtt_us(uint64_t us, char *out, size_t cap)
{
    if (us < 1000) {
        snprintf(out, cap, "%" PRIu64 "us", us);
    } else if (us < 10000) {
        snprintf(out, cap, "%" PRIu64 ".%" PRIu64 "ms", us / 1000, us % 1000 / 100);
    } else {
        snprintf(out, cap, "%" PRIu64 "ms", us / 1000);
    }
}
