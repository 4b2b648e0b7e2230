/* Leveled logging: one line per event, logfmt key=value fields, to stderr.
 * The level is checked before formatting so disabled levels cost a compare.
 *
 * Any value that a client or a peer controls (headers such as Origin or
 * Host, paths, topics, events, node names learned from the mesh, error
 * texts) goes through BN_LOG_VAL / BN_LOG_VAL_N, never raw into a %s: a raw
 * value with a space, a quote or a newline could forge fields or lines. */
#ifndef BENNU_LOG_H
#define BENNU_LOG_H

#include <stddef.h>

#include "bennu/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BN_LOG_LEVEL_MAP(X) \
    X(DEBUG, "debug")       \
    X(INFO, "info")         \
    X(WARN, "warn")         \
    X(ERROR, "error")       \
    X(OFF, "off")

typedef enum {
#define BN_LOG_ENUM(name, str) BN_LOG_##name,
    BN_LOG_LEVEL_MAP(BN_LOG_ENUM)
#undef BN_LOG_ENUM
} bn_log_level_t;

/* The lowest level written (default INFO). Set it directly or with
 * bn_log_set_level; read on the loop thread only. */
BN_EXTERN extern bn_log_level_t bn_log_level;
BN_EXTERN void bn_log_set_level(bn_log_level_t level);

/* Returns the level for a name such as "info", or -1. */
BN_EXTERN int bn_log_level_parse(const char *name);
BN_EXTERN const char *bn_log_level_name(bn_log_level_t level);

/* Where finished lines go: by default one fwrite to stderr per line. A sink
 * gets each line (len bytes, ending in '\n', not NUL-terminated) on the
 * thread that logged it; NULL restores stderr. Set it before starting
 * servers or meshes. */
typedef void (*bn_log_sink_fn)(void *ud, bn_log_level_t level, const char *line, size_t len);
BN_EXTERN void bn_log_set_sink(bn_log_sink_fn sink, void *ud);

/* Writes one line. Control bytes that reach the line unescaped (a caller
 * that forgot BN_LOG_VAL) are replaced by '?', so a line is always one line. */
BN_EXTERN void bn_log_write(bn_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats the len bytes at s as one logfmt value into buf (cap bytes,
 * always NUL-terminated) and returns buf:
 *   - bare when every byte is printable ASCII other than space, '"', '\\'
 *     and '=' (so `a@127.0.0.1` stays as it is);
 *   - else double-quoted, with \" \\ \n \r \t, and \xNN for every other
 *     control or non-ASCII byte; the empty string (and NULL) give "".
 * A value that does not fit is cut at a whole character and ends in "..."
 * (inside the quotes when quoted); the output never ends inside an escape. */
BN_EXTERN const char *bn_log_value_n(char *buf, size_t cap, const char *s, size_t len);
/* The same for a NUL-terminated string (NULL gives ""). */
BN_EXTERN const char *bn_log_value(char *buf, size_t cap, const char *s);

/* Stack space for one value: longer values are cut (see above). */
#define BN_LOG_VALUE_MAX 256

/* One escaped value in a BN_LOG argument list, formatted into a stack
 * buffer that lives until the end of the BN_LOG statement:
 *     BN_LOG(INFO, "connect_refused", "origin=%s", BN_LOG_VAL(origin));
 * Evaluated only when the level is enabled. */
#define BN_LOG_VAL(s) bn_log_value((char[BN_LOG_VALUE_MAX]){0}, BN_LOG_VALUE_MAX, (s))
#define BN_LOG_VAL_N(s, n) bn_log_value_n((char[BN_LOG_VALUE_MAX]){0}, BN_LOG_VALUE_MAX, (s), (n))

/* Usage: BN_LOG(INFO, "conn_open", "id=%llu peer=%s", ...). The event name is
 * the first field; the format adds the rest. */
#define BN_LOG(level, event, ...)                             \
    do {                                                      \
        if (BN_LOG_##level >= bn_log_level) {                 \
            bn_log_write(BN_LOG_##level, event, __VA_ARGS__); \
        }                                                     \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
