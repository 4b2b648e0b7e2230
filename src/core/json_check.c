/* See json_check.h. A recursive-descent scanner over the grammar of RFC 8259
 * section 2; recursion is bounded by BN_JSON_CHECK_MAX_DEPTH. UTF-8 is
 * checked once over the whole text, so the scanner treats bytes >= 0x80 as
 * ordinary string characters (the only place they may appear). */
#include "core/json_check.h"

#include "core/utf8.h"

typedef struct {
    const unsigned char *p, *end;
} scan_t;

static void skip_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        s->p++;
    }
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool literal(scan_t *s, const char *word)
{
    for (; *word != '\0'; word++, s->p++) {
        if (s->p >= s->end || *s->p != (unsigned char)*word) {
            return false;
        }
    }
    return true;
}

static bool string(scan_t *s)
{
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        unsigned char c = *s->p++;
        if (c == '"') {
            return true;
        }
        if (c < 0x20) {
            return false;
        }
        if (c != '\\') {
            continue;
        }
        if (s->p >= s->end) {
            return false;
        }
        c = *s->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;
        case 'u':
            for (int i = 0; i < 4; i++) {
                if (s->p >= s->end || !is_hex(*s->p)) {
                    return false;
                }
                s->p++;
            }
            break;
        default:
            return false;
        }
    }
    return false;
}

static bool digits(scan_t *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && is_digit(*s->p)) {
        s->p++;
    }
    return s->p > start;
}

static bool number(scan_t *s)
{
    if (*s->p == '-') {
        s->p++;
    }
    if (s->p < s->end && *s->p == '0') {
        s->p++;
    } else if (!digits(s)) {
        return false;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s)) {
            return false;
        }
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }
        if (!digits(s)) {
            return false;
        }
    }
    return true;
}

static bool value(scan_t *s, unsigned depth);

/* Object or array: open and close are the brackets, members have keys. */
static bool container(scan_t *s, unsigned depth, unsigned char close, bool members)
{
    if (depth >= BN_JSON_CHECK_MAX_DEPTH) {
        return false;
    }
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    for (;;) {
        if (members) {
            if (s->p >= s->end || *s->p != '"' || !string(s)) {
                return false;
            }
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':') {
                return false;
            }
            s->p++;
            skip_ws(s);
        }
        if (!value(s, depth + 1)) {
            return false;
        }
        skip_ws(s);
        if (s->p >= s->end) {
            return false;
        }
        if (*s->p == close) {
            s->p++;
            return true;
        }
        if (*s->p != ',') {
            return false;
        }
        s->p++;
        skip_ws(s);
    }
}

static bool value(scan_t *s, unsigned depth)
{
    if (s->p >= s->end) {
        return false;
    }
    switch (*s->p) {
    case '{':
        return container(s, depth, '}', true);
    case '[':
        return container(s, depth, ']', false);
    case '"':
        return string(s);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    default:
        return (*s->p == '-' || is_digit(*s->p)) && number(s);
    }
}

bool bn_json_valid(const char *text, size_t n)
{
    if (!bn_utf8_valid((const unsigned char *)text, n)) {
        return false;
    }
    scan_t s = {(const unsigned char *)text, (const unsigned char *)text + n};
    skip_ws(&s);
    if (!value(&s, 0)) {
        return false;
    }
    skip_ws(&s);
    return s.p == s.end;
}
