/* Aligned text tables and the number formats bennuctl prints. Pure. */
#ifndef BNCTL_TABLE_H
#define BNCTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Cells are copied. Columns are separated by two spaces; 'r' columns are
 * right-aligned (numbers), 'l' left-aligned; no trailing spaces. Width is
 * counted in UTF-8 code points so topics with accents still line up. */
typedef struct bnctl_table_s {
    size_t ncols;
    char *align;  /* one 'l' or 'r' per column */
    char **cells; /* row-major, header row first */
    size_t nrows, cap;
} bnctl_table_t;

/* heads has ncols entries; align is a string of ncols 'l'/'r'. */
void bnctl_table_init(bnctl_table_t *t, size_t ncols, const char *const *heads, const char *align);
/* Appends a row of ncols cells (NULL cells print as "-"). */
void bnctl_table_add(bnctl_table_t *t, const char *const *cells);
/* Rows after the header. */
size_t bnctl_table_rows(const bnctl_table_t *t);
/* The rendered table, one line per row with '\n'; malloc'd. */
char *bnctl_table_render(const bnctl_table_t *t);
void bnctl_table_free(bnctl_table_t *t);

/* 0 B, 999 B, 1.0 KiB, 12.5 MiB, 3.2 GiB. */
void bnctl_fmt_bytes(uint64_t n, char *out, size_t cap);
/* 850ms, 12.3s, 5m07s, 3h12m, 2d04h; negative means unknown: "-". */
void bnctl_fmt_duration_ms(int64_t ms, char *out, size_t cap);
/* 312us, 1.4ms, 25ms (round-trip times). */
void bnctl_fmt_rtt_us(uint64_t us, char *out, size_t cap);

#endif
