#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bn_log_level_t bn_log_level = BN_LOG_INFO;

static const char *const level_names[] = {
#define BN_LOG_NAME(name, str) str,
    BN_LOG_LEVEL_MAP(BN_LOG_NAME)
#undef BN_LOG_NAME
};

int bn_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *bn_log_level_name(bn_log_level_t level)
{
    return level_names[level];
}

void bn_log_write(bn_log_level_t level, const char *event, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], event);
    if (n < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t total = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (total > sizeof(line) - 2) {
        total = sizeof(line) - 2;
    }
    line[total++] = '\n';
    /* One write per line keeps lines whole when several processes share stderr. */
    fwrite(line, 1, total, stderr);
}
