/* Query strings to connect params: application/x-www-form-urlencoded with
 * %XX and '+' decoding. Keys are kept flat ("user[id]" stays one key); the
 * last occurrence of a key wins, as in Plug. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Decodes s[0..n) into out (n + 1 bytes). Returns the length or -1. */
static long url_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= n) {
                return -1;
            }
            int hi = hexval((unsigned char)s[i + 1]);
            int lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return (long)o;
}

json_t *bn_http_query_parse(const char *query)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        return NULL;
    }
    size_t qlen = strlen(query);
    char *buf = malloc(qlen + 1);
    char *vbuf = malloc(qlen + 1);
    if (buf == NULL || vbuf == NULL) {
        free(buf);
        free(vbuf);
        json_decref(obj);
        return NULL;
    }
    const char *p = query;
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        long k = url_decode(p, klen, buf);
        long v = eq ? url_decode(eq + 1, len - klen - 1, vbuf) : 0;
        if (!eq) {
            vbuf[0] = '\0';
        }
        /* Malformed escapes or non-UTF-8 values are skipped, not fatal. */
        if (k > 0 && v >= 0) {
            json_t *val = json_stringn(vbuf, (size_t)v);
            if (val != NULL) {
                json_object_setn_new(obj, buf, (size_t)k, val);
            }
        }
        p += len;
        if (*p == '&') {
            p++;
        }
    }
    free(buf);
    free(vbuf);
    return obj;
}
