/* Leveled logging: one line per event, key=value fields, to stderr.
 * The level is checked before formatting so disabled levels cost a compare. */
#ifndef BN_CORE_LOG_H
#define BN_CORE_LOG_H

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

extern bn_log_level_t bn_log_level;

/* Returns the level for a name such as "info", or -1. */
int bn_log_level_parse(const char *name);
const char *bn_log_level_name(bn_log_level_t level);

void bn_log_write(bn_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Usage: BN_LOG(INFO, "conn_open", "id=%llu peer=%s", ...). The event name is
 * the first field; the format adds the rest. */
#define BN_LOG(level, event, ...)                               \
    do {                                                        \
        if (BN_LOG_##level >= bn_log_level) {                   \
            bn_log_write(BN_LOG_##level, event, __VA_ARGS__);   \
        }                                                       \
    } while (0)

#endif
