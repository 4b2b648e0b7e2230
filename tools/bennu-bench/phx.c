/* Phoenix V2 frame helpers; contracts in phx.h. */
#include "phx.h"

#include <stdio.h>
#include <string.h>

static const char *const event_names[] = {
#define BNB_PHX_EV_STR(name, text) text,
    BNB_PHX_EVENT_MAP(BNB_PHX_EV_STR)
#undef BNB_PHX_EV_STR
};

const char *bnb_phx_event_name(bnb_phx_event_t ev)
{
    if ((size_t)ev >= sizeof(event_names) / sizeof(event_names[0])) {
        return "?";
    }
    return ev == BNB_PHX_EV_OTHER ? "other" : event_names[ev];
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

/* Scans a JSON string starting at its opening quote; on success s and n get
 * the raw contents and the return value points after the closing quote. */
static const char *scan_string(const char *p, const char *end, const char **s, size_t *n)
{
    if (p >= end || *p != '"') {
        return NULL;
    }
    const char *start = ++p;
    while (p < end && *p != '"') {
        if (*p == '\\') {
            p++;
        }
        p++;
    }
    if (p >= end) {
        return NULL;
    }
    *s = start;
    *n = (size_t)(p - start);
    return p + 1;
}

/* Scans a ref (null or a string) and the comma after it. */
static const char *scan_ref(const char *p, const char *end, uint64_t *ref)
{
    p = skip_ws(p, end);
    *ref = 0;
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        p += 4;
    } else {
        const char *s;
        size_t n;
        p = scan_string(p, end, &s, &n);
        if (p == NULL) {
            return NULL;
        }
        uint64_t v = 0;
        int numeric = n > 0 && n <= 19;
        for (size_t i = 0; numeric && i < n; i++) {
            if (s[i] < '0' || s[i] > '9') {
                numeric = 0;
            } else {
                v = v * 10 + (uint64_t)(s[i] - '0');
            }
        }
        *ref = numeric ? v : 0;
    }
    p = skip_ws(p, end);
    if (p >= end || *p != ',') {
        return NULL;
    }
    return p + 1;
}

static const char *find(const char *hay, const char *end, const char *needle, size_t nl)
{
    if (hay >= end) {
        return NULL;
    }
    return memmem(hay, (size_t)(end - hay), needle, nl);
}

int bnb_phx_classify(const char *f, size_t len, bnb_phx_in_t *out)
{
    const char *end = f + len;
    memset(out, 0, sizeof(*out));
    const char *p = skip_ws(f, end);
    if (p >= end || *p != '[') {
        return -1;
    }
    p = scan_ref(p + 1, end, &out->join_ref);
    if (p == NULL) {
        return -1;
    }
    p = scan_ref(p, end, &out->ref);
    if (p == NULL) {
        return -1;
    }
    p = scan_string(skip_ws(p, end), end, &out->topic, &out->topic_len);
    if (p == NULL) {
        return -1;
    }
    p = skip_ws(p, end);
    if (p >= end || *p != ',') {
        return -1;
    }
    const char *ev;
    size_t evl;
    p = scan_string(skip_ws(p + 1, end), end, &ev, &evl);
    if (p == NULL) {
        return -1;
    }
    out->event = BNB_PHX_EV_OTHER;
    for (size_t i = 1; i < sizeof(event_names) / sizeof(event_names[0]); i++) {
        if (strlen(event_names[i]) == evl && memcmp(event_names[i], ev, evl) == 0) {
            out->event = (bnb_phx_event_t)i;
            break;
        }
    }
    if (out->event == BNB_PHX_EV_REPLY) {
        static const char key[] = "\"status\"";
        const char *k = find(p, end, key, sizeof(key) - 1);
        if (k != NULL) {
            const char *v = skip_ws(k + sizeof(key) - 1, end);
            if (v < end && *v == ':') {
                v = skip_ws(v + 1, end);
                out->status_ok = end - v >= 4 && memcmp(v, "\"ok\"", 4) == 0;
            }
        }
    } else if (out->event == BNB_PHX_EV_NEW_MSG) {
        static const char key[] = "\"body\"";
        const char *k = find(p, end, key, sizeof(key) - 1);
        if (k != NULL) {
            const char *v = skip_ws(k + sizeof(key) - 1, end);
            if (v < end && *v == ':') {
                const char *s;
                size_t n;
                if (scan_string(skip_ws(v + 1, end), end, &s, &n) != NULL) {
                    out->body = s;
                    out->body_len = n;
                }
            }
        }
    }
    return 0;
}

static size_t put_ref(char *out, uint64_t ref)
{
    if (ref == 0) {
        memcpy(out, "null", 4);
        return 4;
    }
    char tmp[24];
    size_t n = 0;
    while (ref > 0) {
        tmp[n++] = (char)('0' + ref % 10);
        ref /= 10;
    }
    out[0] = '"';
    for (size_t i = 0; i < n; i++) {
        out[1 + i] = tmp[n - 1 - i];
    }
    out[n + 1] = '"';
    return n + 2;
}

size_t bnb_phx_frame(char *out, size_t cap, uint64_t join_ref, uint64_t ref, const char *topic,
                     const char *event, const char *payload)
{
    size_t tl = strlen(topic);
    size_t el = strlen(event);
    size_t pl = strlen(payload);
    /* Two refs of at most 22 chars, quotes, commas and brackets. */
    if (cap < 44 + tl + el + pl + 12) {
        return 0;
    }
    size_t n = 0;
    out[n++] = '[';
    n += put_ref(out + n, join_ref);
    out[n++] = ',';
    n += put_ref(out + n, ref);
    out[n++] = ',';
    out[n++] = '"';
    memcpy(out + n, topic, tl);
    n += tl;
    out[n++] = '"';
    out[n++] = ',';
    out[n++] = '"';
    memcpy(out + n, event, el);
    n += el;
    out[n++] = '"';
    out[n++] = ',';
    memcpy(out + n, payload, pl);
    n += pl;
    out[n++] = ']';
    out[n] = '\0';
    return n;
}

size_t bnb_phx_body_write(char *out, size_t cap, size_t body_size, uint32_t pub, uint64_t seq,
                          uint64_t t_ns)
{
    char head[80];
    int hn = snprintf(head, sizeof(head), "p%u s%llu t%llu", pub, (unsigned long long)seq,
                      (unsigned long long)t_ns);
    size_t total = body_size > (size_t)hn ? body_size : (size_t)hn;
    if (total + 1 > cap) {
        return 0;
    }
    memcpy(out, head, (size_t)hn);
    if (total > (size_t)hn) {
        out[hn] = ' ';
        memset(out + hn + 1, 'x', total - (size_t)hn - 1);
    }
    out[total] = '\0';
    return total;
}

/* Parses "<tag><digits>" at *p; advances *p past the digits. */
static int field(const char **p, const char *end, char tag, uint64_t *v)
{
    const char *s = *p;
    if (s >= end || *s != tag) {
        return -1;
    }
    s++;
    const char *d = s;
    uint64_t x = 0;
    while (s < end && *s >= '0' && *s <= '9' && s - d < 20) {
        uint64_t nx = x * 10 + (uint64_t)(*s - '0');
        if (nx < x) {
            return -1;
        }
        x = nx;
        s++;
    }
    if (s == d || (s < end && *s >= '0' && *s <= '9')) {
        return -1;
    }
    *v = x;
    *p = s;
    return 0;
}

int bnb_phx_body_parse(const char *s, size_t len, uint32_t *pub, uint64_t *seq, uint64_t *t_ns)
{
    const char *p = s;
    const char *end = s + len;
    uint64_t pv;
    if (field(&p, end, 'p', &pv) != 0 || pv > UINT32_MAX) {
        return -1;
    }
    if (p >= end || *p++ != ' ' || field(&p, end, 's', seq) != 0) {
        return -1;
    }
    if (p >= end || *p++ != ' ' || field(&p, end, 't', t_ns) != 0) {
        return -1;
    }
    if (p < end && *p != ' ') {
        return -1;
    }
    *pub = (uint32_t)pv;
    return 0;
}

size_t bnb_phx_new_msg(char *out, size_t cap, uint64_t join_ref, uint64_t ref, const char *topic,
                       size_t body_size, uint32_t pub, uint64_t seq, uint64_t t_ns)
{
    /* Written in place rather than via bnb_phx_frame to avoid a second copy
     * of a possibly large body. */
    size_t tl = strlen(topic);
    if (cap < 80 + tl) {
        return 0;
    }
    size_t n = 0;
    out[n++] = '[';
    n += put_ref(out + n, join_ref);
    out[n++] = ',';
    n += put_ref(out + n, ref);
    out[n++] = ',';
    out[n++] = '"';
    memcpy(out + n, topic, tl);
    n += tl;
    static const char mid[] = "\",\"new_msg\",{\"body\":\"";
    memcpy(out + n, mid, sizeof(mid) - 1);
    n += sizeof(mid) - 1;
    size_t bl = bnb_phx_body_write(out + n, cap - n, body_size, pub, seq, t_ns);
    if (bl == 0 || n + bl + 4 > cap) {
        return 0;
    }
    n += bl;
    memcpy(out + n, "\"}]", 4);
    return n + 3;
}
