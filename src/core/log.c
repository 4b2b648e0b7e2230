#include "bennu/log.h"
#include "core/time.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bn_log_level_t bn_log_level = BN_LOG_INFO;

static bn_log_sink_fn log_sink;
static void *log_sink_ud;

void bn_log_set_level(bn_log_level_t level)
{
    bn_log_level = level;
}

void bn_log_set_sink(bn_log_sink_fn sink, void *ud)
{
    log_sink = sink;
    log_sink_ud = ud;
}

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

static bool bare_byte(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

/* The escaped form of one byte inside quotes; returns its length. */
static size_t escape_byte(unsigned char c, char out[4])
{
    static const char hex[] = "0123456789abcdef";
    char simple = 0;
    switch (c) {
    case '"':
        simple = '"';
        break;
    case '\\':
        simple = '\\';
        break;
    case '\n':
        simple = 'n';
        break;
    case '\r':
        simple = 'r';
        break;
    case '\t':
        simple = 't';
        break;
    default:
        if (c >= 0x20 && c < 0x7f) {
            out[0] = (char)c;
            return 1;
        }
        out[0] = '\\';
        out[1] = 'x';
        out[2] = hex[c >> 4];
        out[3] = hex[c & 15];
        return 4;
    }
    out[0] = '\\';
    out[1] = simple;
    return 2;
}

/* The shortest buffer that can hold a cut value: `"..."` and the NUL. */
#define MIN_CAP 6

const char *bn_log_value_n(char *buf, size_t cap, const char *s, size_t len)
{
    if (cap == 0) {
        return "";
    }
    if (cap < MIN_CAP) {
        buf[0] = '\0';
        return buf;
    }
    if (s == NULL) {
        len = 0;
    }
    const unsigned char *p = (const unsigned char *)s;
    bool bare = len > 0;
    size_t quoted_len = 2; /* the quotes */
    for (size_t i = 0; i < len; i++) {
        char tmp[4];
        bare = bare && bare_byte(p[i]);
        quoted_len += escape_byte(p[i], tmp);
    }
    if (bare) {
        if (len < cap) {
            memcpy(buf, s, len);
            buf[len] = '\0';
        } else {
            memcpy(buf, s, cap - 4);
            memcpy(buf + cap - 4, "...", 4);
        }
        return buf;
    }
    size_t o = 0;
    buf[o++] = '"';
    /* Room after the text: `..."` and the NUL when cut, `"` and the NUL when not. */
    size_t reserve = quoted_len + 1 <= cap ? 2 : 5;
    for (size_t i = 0; i < len; i++) {
        char esc[4];
        size_t el = escape_byte(p[i], esc);
        if (o + el + reserve > cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, esc, el);
        o += el;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

const char *bn_log_value(char *buf, size_t cap, const char *s)
{
    return bn_log_value_n(buf, cap, s, s != NULL ? strlen(s) : 0);
}

void bn_log_write(bn_log_level_t level, const char *event, const char *fmt, ...)
{
    char line[2048];
    uint64_t now = bn_wall_ms();
    time_t sec = (time_t)(now / 1000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    int n =
        snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(now % 1000u), level_names[level], event);
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
    for (size_t i = (size_t)n; i < total; i++) {
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
            line[i] = '?';
        }
    }
    line[total++] = '\n';
    if (log_sink != NULL) {
        log_sink(log_sink_ud, level, line, total);
        return;
    }
    /* One write per line keeps lines whole when several processes share stderr. */
    fwrite(line, 1, total, stderr);
}
