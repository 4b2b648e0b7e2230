/* Erlang External Term Format, the subset Phoenix.Token payloads need
 * (PROTOCOL.md 7.3). The decoder runs only on MAC-verified bytes, but it is
 * still written as if the input were hostile: every declared count is checked
 * against the bytes that remain before anything is read or allocated, nesting
 * is bounded, and nothing outside the subset is accepted. */
#include "auth/etf.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Deeper payloads are rejected so that recursion depth stays bounded. The
 * encoder applies the same limit, so anything bn_etf_encode accepts
 * bn_etf_decode reads back. */
#define ETF_MAX_DEPTH 32

/* ---- decoding ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
} rd_t;

static size_t rd_left(const rd_t *r)
{
    return r->len - r->pos;
}

static int rd_u8(rd_t *r, uint32_t *v)
{
    if (rd_left(r) < 1) {
        return -1;
    }
    *v = r->p[r->pos];
    r->pos += 1;
    return 0;
}

static int rd_u16(rd_t *r, uint32_t *v)
{
    if (rd_left(r) < 2) {
        return -1;
    }
    *v = ((uint32_t)r->p[r->pos] << 8) | r->p[r->pos + 1];
    r->pos += 2;
    return 0;
}

static int rd_u32(rd_t *r, uint32_t *v)
{
    if (rd_left(r) < 4) {
        return -1;
    }
    const uint8_t *b = r->p + r->pos;
    *v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    r->pos += 4;
    return 0;
}

/* Bignum digits are little-endian bytes of the magnitude; the value must fit
 * int64 (magnitude up to 2^63 - 1, or exactly 2^63 when negative). Leading
 * zero digits are tolerated because binary_to_term tolerates them. */
static int decode_big(rd_t *r, uint32_t n, json_t **out)
{
    uint32_t sign;
    if (rd_u8(r, &sign) < 0 || sign > 1 || rd_left(r) < n) {
        return -1;
    }
    const uint8_t *d = r->p + r->pos;
    uint64_t mag = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (d[i] == 0) {
            continue;
        }
        if (i >= 8) {
            return -1;
        }
        mag |= (uint64_t)d[i] << (8 * i);
    }
    r->pos += n;
    int64_t v;
    if (sign == 0) {
        if (mag > (uint64_t)INT64_MAX) {
            return -1;
        }
        v = (int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX + 1) {
            return -1;
        }
        /* Negating through uint64 keeps INT64_MIN well defined. */
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    }
    *out = json_integer((json_int_t)v);
    return 0;
}

/* Latin-1 atoms (ATOM_EXT, SMALL_ATOM_EXT) are widened to UTF-8; every byte
 * maps to one code point, so the output is at most twice as long. */
static json_t *latin1_string(const uint8_t *s, size_t n)
{
    char *buf = malloc(n * 2 + 1);
    size_t o = 0;
    if (buf == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            buf[o++] = (char)s[i];
        } else {
            buf[o++] = (char)(0xc0 | (s[i] >> 6));
            buf[o++] = (char)(0x80 | (s[i] & 0x3f));
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

static int decode_atom(rd_t *r, uint32_t n, bool utf8, json_t **out)
{
    if (rd_left(r) < n) {
        return -1;
    }
    const char *s = (const char *)r->p + r->pos;
    r->pos += n;
    if (n == 4 && memcmp(s, "true", 4) == 0) {
        *out = json_true();
    } else if (n == 5 && memcmp(s, "false", 5) == 0) {
        *out = json_false();
    } else if (n == 3 && memcmp(s, "nil", 3) == 0) {
        *out = json_null();
    } else if (utf8) {
        /* json_stringn validates UTF-8 and returns NULL on bad input. */
        *out = json_stringn(s, n);
    } else {
        *out = latin1_string((const uint8_t *)s, n);
    }
    return *out == NULL ? -1 : 0;
}

static int decode_term(rd_t *r, int depth, json_t **out);

/* Shared by tuples and lists: n elements into a fresh array. Each element
 * takes at least one byte, so a count larger than what is left is a lie. */
static int decode_elems(rd_t *r, uint32_t n, int depth, json_t **out)
{
    if (n > rd_left(r)) {
        return -1;
    }
    json_t *arr = json_array();
    if (arr == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        json_t *e;
        if (decode_term(r, depth, &e) < 0 || json_array_append_new(arr, e) < 0) {
            json_decref(arr);
            return -1;
        }
    }
    *out = arr;
    return 0;
}

static bool is_atom_tag(uint32_t tag)
{
    return tag == BN_ETF_ATOM || tag == BN_ETF_SMALL_ATOM || tag == BN_ETF_ATOM_UTF8 ||
           tag == BN_ETF_SMALL_ATOM_UTF8;
}

/* Map keys become object keys, so only binaries and atoms qualify. Two keys
 * that collapse to the same JSON key (atom id and binary "id", or a
 * duplicate) make the object ambiguous and are rejected. */
static int decode_map(rd_t *r, uint32_t n, int depth, json_t **out)
{
    if (n > rd_left(r) / 2) {
        return -1;
    }
    json_t *obj = json_object();
    if (obj == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        json_t *k = NULL;
        json_t *v = NULL;
        uint32_t tag = rd_left(r) > 0 ? r->p[r->pos] : 0;
        if (tag != BN_ETF_BINARY && !is_atom_tag(tag)) {
            goto fail;
        }
        if (decode_term(r, depth, &k) < 0) {
            goto fail;
        }
        /* true/false/nil atoms decode to non-strings; they are not usable keys. */
        if (!json_is_string(k) || decode_term(r, depth, &v) < 0) {
            json_decref(k);
            goto fail;
        }
        const char *ks = json_string_value(k);
        size_t kl = json_string_length(k);
        if (json_object_getn(obj, ks, kl) != NULL) {
            json_decref(k);
            json_decref(v);
            goto fail;
        }
        /* setn_new takes v even when it fails. */
        int rc = json_object_setn_new(obj, ks, kl, v);
        json_decref(k);
        if (rc < 0) {
            goto fail;
        }
    }
    *out = obj;
    return 0;
fail:
    json_decref(obj);
    return -1;
}

static int decode_list(rd_t *r, uint32_t n, int depth, json_t **out)
{
    json_t *arr;
    if (decode_elems(r, n, depth, &arr) < 0) {
        return -1;
    }
    /* Only proper lists: the tail must be []. */
    uint32_t tail;
    if (rd_u8(r, &tail) < 0 || tail != BN_ETF_NIL) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

/* STRING_EXT is how Erlang ships a list of small integers; it stays a list
 * of integers here, as Elixir would see it. */
static int decode_string_ext(rd_t *r, uint32_t n, json_t **out)
{
    if (rd_left(r) < n) {
        return -1;
    }
    json_t *arr = json_array();
    if (arr == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (json_array_append_new(arr, json_integer(r->p[r->pos + i])) < 0) {
            json_decref(arr);
            return -1;
        }
    }
    r->pos += n;
    *out = arr;
    return 0;
}

static int decode_term(rd_t *r, int depth, json_t **out)
{
    uint32_t tag;
    uint32_t n;
    if (rd_u8(r, &tag) < 0) {
        return -1;
    }
    switch (tag) {
    case BN_ETF_SMALL_INTEGER:
        if (rd_u8(r, &n) < 0) {
            return -1;
        }
        *out = json_integer(n);
        return 0;
    case BN_ETF_INTEGER:
        if (rd_u32(r, &n) < 0) {
            return -1;
        }
        /* Two's complement reinterpretation without implementation-defined casts. */
        *out = json_integer(n >= 0x80000000u ? (json_int_t)n - 0x100000000LL : (json_int_t)n);
        return 0;
    case BN_ETF_SMALL_BIG:
        return rd_u8(r, &n) < 0 ? -1 : decode_big(r, n, out);
    case BN_ETF_LARGE_BIG:
        return rd_u32(r, &n) < 0 ? -1 : decode_big(r, n, out);
    case BN_ETF_BINARY:
        if (rd_u32(r, &n) < 0 || rd_left(r) < n) {
            return -1;
        }
        *out = json_stringn((const char *)r->p + r->pos, n);
        r->pos += n;
        return *out == NULL ? -1 : 0;
    case BN_ETF_ATOM:
        return rd_u16(r, &n) < 0 ? -1 : decode_atom(r, n, false, out);
    case BN_ETF_SMALL_ATOM:
        return rd_u8(r, &n) < 0 ? -1 : decode_atom(r, n, false, out);
    case BN_ETF_ATOM_UTF8:
        return rd_u16(r, &n) < 0 ? -1 : decode_atom(r, n, true, out);
    case BN_ETF_SMALL_ATOM_UTF8:
        return rd_u8(r, &n) < 0 ? -1 : decode_atom(r, n, true, out);
    case BN_ETF_NIL:
        *out = json_array();
        return *out == NULL ? -1 : 0;
    default:
        break;
    }

    /* Everything below is a container. */
    if (depth >= ETF_MAX_DEPTH) {
        return -1;
    }
    switch (tag) {
    case BN_ETF_SMALL_TUPLE:
        return rd_u8(r, &n) < 0 ? -1 : decode_elems(r, n, depth + 1, out);
    case BN_ETF_LARGE_TUPLE:
        return rd_u32(r, &n) < 0 ? -1 : decode_elems(r, n, depth + 1, out);
    case BN_ETF_LIST:
        return rd_u32(r, &n) < 0 ? -1 : decode_list(r, n, depth + 1, out);
    case BN_ETF_STRING:
        return rd_u16(r, &n) < 0 ? -1 : decode_string_ext(r, n, out);
    case BN_ETF_MAP:
        return rd_u32(r, &n) < 0 ? -1 : decode_map(r, n, depth + 1, out);
    default:
        /* Floats, pids, refs, funs, ports, compressed terms, improper tails... */
        return -1;
    }
}

int bn__etf_decode_term(const uint8_t *data, size_t len, size_t *pos, json_t **out)
{
    if (data == NULL || pos == NULL || out == NULL || *pos > len) {
        return -1;
    }
    rd_t r = {data, len, *pos};
    json_t *v;
    if (decode_term(&r, 0, &v) < 0) {
        return -1;
    }
    *pos = r.pos;
    *out = v;
    return 0;
}

int bn_etf_decode(const uint8_t *data, size_t len, json_t **out)
{
    if (data == NULL || out == NULL || len < 1 || data[0] != BN_ETF_VERSION) {
        return -1;
    }
    size_t pos = 1;
    json_t *v;
    if (bn__etf_decode_term(data, len, &pos, &v) < 0) {
        return -1;
    }
    if (pos != len) {
        json_decref(v);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool failed;
} wr_t;

static void wr_bytes(wr_t *w, const void *src, size_t n)
{
    if (w->failed) {
        return;
    }
    if (n > SIZE_MAX / 2 - w->len) {
        w->failed = true;
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap < w->len + n) {
            cap *= 2;
        }
        uint8_t *np = realloc(w->p, cap);
        if (np == NULL) {
            w->failed = true;
            return;
        }
        w->p = np;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void wr_u8(wr_t *w, uint32_t v)
{
    uint8_t b = (uint8_t)v;
    wr_bytes(w, &b, 1);
}

static void wr_u32(wr_t *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    wr_bytes(w, b, 4);
}

/* Same choice as term_to_binary: 0..255 small, int32 range INTEGER_EXT,
 * otherwise SMALL_BIG_EXT with the minimal number of magnitude bytes. */
static void encode_int(wr_t *w, int64_t v)
{
    if (v >= 0 && v <= 255) {
        wr_u8(w, BN_ETF_SMALL_INTEGER);
        wr_u8(w, (uint32_t)v);
        return;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        wr_u8(w, BN_ETF_INTEGER);
        wr_u32(w, (uint32_t)v);
        return;
    }
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint8_t digits[8];
    uint32_t n = 0;
    while (mag != 0) {
        digits[n++] = (uint8_t)mag;
        mag >>= 8;
    }
    wr_u8(w, BN_ETF_SMALL_BIG);
    wr_u8(w, n);
    wr_u8(w, v < 0 ? 1 : 0);
    wr_bytes(w, digits, n);
}

static void encode_binary(wr_t *w, const char *s, size_t n)
{
    if (n > UINT32_MAX) {
        w->failed = true;
        return;
    }
    wr_u8(w, BN_ETF_BINARY);
    wr_u32(w, (uint32_t)n);
    wr_bytes(w, s, n);
}

static void encode_atom(wr_t *w, const char *s)
{
    size_t n = strlen(s);
    wr_u8(w, BN_ETF_SMALL_ATOM_UTF8);
    wr_u8(w, (uint32_t)n);
    wr_bytes(w, s, n);
}

typedef struct {
    const char *key;
    size_t len;
    const json_t *val;
} kv_t;

/* Erlang orders binaries bytewise with a proper prefix first; flatmaps (up
 * to 32 keys) are serialised in that order, so sorting reproduces
 * term_to_binary byte for byte for the maps tokens realistically carry. */
static int kv_cmp(const void *a, const void *b)
{
    const kv_t *x = a;
    const kv_t *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0) {
        return c;
    }
    return (x->len > y->len) - (x->len < y->len);
}

static void encode_value(wr_t *w, const json_t *v, int depth);

static void encode_object(wr_t *w, const json_t *v, int depth)
{
    size_t n = json_object_size(v);
    if (n > UINT32_MAX) {
        w->failed = true;
        return;
    }
    kv_t *kvs = n ? calloc(n, sizeof *kvs) : NULL;
    if (n && kvs == NULL) {
        w->failed = true;
        return;
    }
    size_t i = 0;
    const char *key;
    size_t key_len;
    json_t *val;
    json_object_keylen_foreach((json_t *)v, key, key_len, val)
    {
        kvs[i].key = key;
        kvs[i].len = key_len;
        kvs[i].val = val;
        i++;
    }
    if (n > 1) {
        qsort(kvs, n, sizeof *kvs, kv_cmp);
    }
    wr_u8(w, BN_ETF_MAP);
    wr_u32(w, (uint32_t)n);
    for (i = 0; i < n && !w->failed; i++) {
        encode_binary(w, kvs[i].key, kvs[i].len);
        encode_value(w, kvs[i].val, depth);
    }
    free(kvs);
}

static void encode_array(wr_t *w, const json_t *v, int depth)
{
    size_t n = json_array_size(v);
    if (n == 0) {
        wr_u8(w, BN_ETF_NIL);
        return;
    }
    if (n > UINT32_MAX) {
        w->failed = true;
        return;
    }
    wr_u8(w, BN_ETF_LIST);
    wr_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n && !w->failed; i++) {
        encode_value(w, json_array_get(v, i), depth);
    }
    wr_u8(w, BN_ETF_NIL);
}

static void encode_value(wr_t *w, const json_t *v, int depth)
{
    if (w->failed) {
        return;
    }
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        encode_int(w, (int64_t)json_integer_value(v));
        return;
    case JSON_STRING:
        encode_binary(w, json_string_value(v), json_string_length(v));
        return;
    case JSON_TRUE:
        encode_atom(w, "true");
        return;
    case JSON_FALSE:
        encode_atom(w, "false");
        return;
    case JSON_NULL:
        encode_atom(w, "nil");
        return;
    case JSON_OBJECT:
    case JSON_ARRAY:
        /* Mirror the decoder's nesting limit so every minted token verifies. */
        if (depth >= ETF_MAX_DEPTH) {
            w->failed = true;
            return;
        }
        if (json_is_object(v)) {
            encode_object(w, v, depth + 1);
        } else {
            encode_array(w, v, depth + 1);
        }
        return;
    default:
        /* Reals have no exact token meaning (Elixir floats would round-trip
         * as NEW_FLOAT_EXT, which the decoder refuses). */
        w->failed = true;
        return;
    }
}

int bn_etf_encode(const json_t *v, uint8_t **out, size_t *out_len)
{
    if (v == NULL || out == NULL || out_len == NULL) {
        return -1;
    }
    wr_t w = {0};
    wr_u8(&w, BN_ETF_VERSION);
    encode_value(&w, v, 0);
    if (w.failed) {
        free(w.p);
        return -1;
    }
    *out = w.p;
    *out_len = w.len;
    return 0;
}
