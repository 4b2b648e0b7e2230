/* Fuzzes the connect-params query parser bn_http_query_parse
 * (src/transport/http/query.c).
 *
 * Input: the query string (without '?'), cut at its first NUL as a C string.
 * Oracle: a small independent model of the documented behaviour —
 * pairs split on '&', key and value on the first '=', '+' is a space, %XX
 * decodes (either case), a malformed escape, an empty key or a key/value
 * that is not valid UTF-8 skips the pair, the last occurrence of a key wins
 * — must produce an equal JSON object. */
#include <string.h>

#include "transport/transport.h"
#include "fuzz_common.h"

static int hexv(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Returns the decoded length or -1 for a malformed escape. */
static long model_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] == '%') {
            if (n - i < 3 || hexv(s[i + 1]) < 0 || hexv(s[i + 2]) < 0) {
                return -1;
            }
            out[o++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 3;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
            i++;
        }
    }
    return (long)o;
}

static json_t *model_parse(const char *q)
{
    json_t *obj = json_object();
    size_t qlen = strlen(q);
    char *k = malloc(qlen + 1);
    char *v = malloc(qlen + 1);
    FUZZ_CHECK(obj != NULL && k != NULL && v != NULL, "malloc");
    size_t start = 0;
    while (start < qlen) {
        const char *amp = memchr(q + start, '&', qlen - start);
        size_t end = amp ? (size_t)(amp - q) : qlen;
        const char *pair = q + start;
        size_t plen = end - start;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        long kn = model_decode(pair, klen, k);
        long vn = eq ? model_decode(eq + 1, plen - klen - 1, v) : 0;
        if (kn > 0 && vn >= 0) {
            json_t *val = json_stringn(v, (size_t)vn);
            if (val != NULL) {
                /* A key that is not UTF-8 is refused by jansson: skipped. */
                json_object_setn_new(obj, k, (size_t)kn, val);
            }
        }
        start = end + 1;
    }
    free(k);
    free(v);
    return obj;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    FUZZ_CHECK(q != NULL, "malloc");
    memcpy(q, data, size);
    q[size] = '\0';

    json_t *got = bn_http_query_parse(q);
    FUZZ_CHECK(got != NULL && json_is_object(got), "query parse did not return an object");
    const char *key;
    size_t key_len;
    json_t *val;
    json_object_keylen_foreach(got, key, key_len, val)
    {
        FUZZ_CHECK(key_len > 0, "empty key kept");
        FUZZ_CHECK(json_is_string(val), "param value is not a string");
    }
    json_t *want = model_parse(q);
    if (!fuzz_json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "query: %s\ngot:  %s\nwant: %s\n", q, g ? g : "?", w ? w : "?");
        free(g);
        free(w);
    }
    FUZZ_CHECK(fuzz_json_equal(got, want), "bn_http_query_parse differs from the model");
    json_decref(want);
    json_decref(got);
    free(q);
    return 0;
}
