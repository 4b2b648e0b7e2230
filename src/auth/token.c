/* Phoenix.Token sign/verify (PROTOCOL.md section 7). The message layout and
 * checks follow Plug.Crypto so tokens cross between Bennu and Phoenix. */
#include "bennu/token.h"

#include <time.h>

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "auth/etf.h"
#include "core/time.h"

/* Phoenix rejects a secret_key_base shorter than this (7.2). */
#define TOKEN_MIN_SECRET_LEN 20
#define TOKEN_KDF_ITERATIONS 1000
/* Legacy payloads carried no max age; Phoenix used one day (7.3). */
#define TOKEN_LEGACY_MAX_AGE_S 86400
/* Tokens arrive as connect params; anything this long is not one of ours
 * and is refused before any hashing work. */
#define TOKEN_MAX_LEN 65536
#define TOKEN_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* The signing header: base64url("HS256"). */
static const char HS256_HEADER[] = "SFMyNTY";

const char *bn_token_result_name(bn_token_result_t r)
{
    switch (r) {
#define BN_TOKEN_NAME(name, str) \
    case BN_TOKEN_##name:        \
        return str;
        BN_TOKEN_RESULT_MAP(BN_TOKEN_NAME)
#undef BN_TOKEN_NAME
    }
    return "unknown";
}

int bn_token_key_derive(bn_token_key_t *k, const char *secret, size_t secret_len, const char *salt,
                        size_t salt_len)
{
    if (k == NULL || secret == NULL || secret_len < TOKEN_MIN_SECRET_LEN || secret_len > INT_MAX ||
        salt_len > INT_MAX || (salt == NULL && salt_len != 0)) {
        return -1;
    }
    if (PKCS5_PBKDF2_HMAC(secret, (int)secret_len, (const unsigned char *)(salt ? salt : ""),
                          (int)salt_len, TOKEN_KDF_ITERATIONS, EVP_sha256(), (int)sizeof k->key,
                          k->key) != 1) {
        return -1;
    }
    return 0;
}

/* ---- signing ----------------------------------------------------------- */

/* Appends term_to_binary(v) without its version byte. */
static int append_term(uint8_t *dst, size_t *len, size_t cap, const json_t *v)
{
    uint8_t *enc;
    size_t enc_len;
    if (bn_etf_encode(v, &enc, &enc_len) < 0) {
        return -1;
    }
    if (enc_len - 1 > cap - *len) {
        free(enc);
        return -1;
    }
    memcpy(dst + *len, enc + 1, enc_len - 1);
    *len += enc_len - 1;
    free(enc);
    return 0;
}

/* Builds term_to_binary({data, signed_at_ms, max_age_s}) into a malloc'd buffer. */
static uint8_t *build_payload(const json_t *data, int64_t signed_at_ms, int64_t max_age_s,
                              size_t *out_len)
{
    uint8_t *enc;
    size_t enc_len;
    if (bn_etf_encode(data, &enc, &enc_len) < 0) {
        return NULL;
    }
    /* Version + tuple header (3) + data + two integers (at most 11 each). */
    size_t cap = enc_len + 3 + 2 * 11;
    uint8_t *p = malloc(cap);
    if (p == NULL) {
        free(enc);
        return NULL;
    }
    p[0] = BN_ETF_VERSION;
    p[1] = BN_ETF_SMALL_TUPLE;
    p[2] = 3;
    memcpy(p + 3, enc + 1, enc_len - 1);
    size_t len = 3 + enc_len - 1;
    free(enc);

    json_t *s = json_integer((json_int_t)signed_at_ms);
    json_t *m = json_integer((json_int_t)max_age_s);
    int rc = (s && m) ? 0 : -1;
    if (rc == 0) {
        rc = append_term(p, &len, cap, s);
    }
    if (rc == 0) {
        rc = append_term(p, &len, cap, m);
    }
    json_decref(s);
    json_decref(m);
    if (rc < 0) {
        free(p);
        return NULL;
    }
    *out_len = len;
    return p;
}

char *bn_token_sign(const bn_token_key_t *k, const json_t *data, int64_t signed_at_ms,
                    int64_t max_age_s)
{
    if (k == NULL || data == NULL) {
        return NULL;
    }
    size_t plen;
    uint8_t *payload = build_payload(data, signed_at_ms, max_age_s, &plen);
    if (payload == NULL) {
        return NULL;
    }
    size_t hlen = sizeof HS256_HEADER - 1;
    size_t b64p_size = sodium_base64_ENCODED_LEN(plen, TOKEN_B64);
    size_t b64m_size = sodium_base64_ENCODED_LEN(32, TOKEN_B64);
    char *tok = malloc(hlen + 1 + b64p_size + 1 + b64m_size);
    if (tok == NULL) {
        free(payload);
        return NULL;
    }
    memcpy(tok, HS256_HEADER, hlen);
    tok[hlen] = '.';
    sodium_bin2base64(tok + hlen + 1, b64p_size, payload, plen, TOKEN_B64);
    free(payload);

    /* The MAC covers the ASCII text "SFMyNTY.<b64 payload>" (7.1). */
    size_t signed_len = strlen(tok);
    uint8_t mac[32];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), k->key, (int)sizeof k->key, (const unsigned char *)tok, signed_len, mac,
             &mac_len) == NULL ||
        mac_len != sizeof mac) {
        free(tok);
        return NULL;
    }
    tok[signed_len] = '.';
    sodium_bin2base64(tok + signed_len + 1, b64m_size, mac, sizeof mac, TOKEN_B64);
    return tok;
}

/* ---- verification ------------------------------------------------------ */

/* base64url with optional padding, like Elixir's url_decode64(padding:
 * false): trailing '=' are accepted only where they would be correct. */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    if (n % 4 == 0 && n > 0 && s[n - 1] == '=') {
        n--;
        if (s[n - 1] == '=') {
            n--;
        }
    }
    const char *end = NULL;
    if (sodium_base642bin(out, cap, s, n, NULL, out_len, &end, TOKEN_B64) != 0 || end != s + n) {
        return -1;
    }
    return 0;
}

static const EVP_MD *header_digest(const char *h, size_t n)
{
    if (n != 7) {
        return NULL;
    }
    if (memcmp(h, "SFMyNTY", 7) == 0) {
        return EVP_sha256();
    }
    if (memcmp(h, "SFMzODQ", 7) == 0) {
        return EVP_sha384();
    }
    if (memcmp(h, "SFM1MTI", 7) == 0) {
        return EVP_sha512();
    }
    return NULL;
}

static bool is_atom_tag(uint8_t tag)
{
    return tag == BN_ETF_ATOM || tag == BN_ETF_SMALL_ATOM || tag == BN_ETF_ATOM_UTF8 ||
           tag == BN_ETF_SMALL_ATOM_UTF8;
}

static bool string_is(const json_t *j, const char *s)
{
    size_t n = strlen(s);
    return json_is_string(j) && json_string_length(j) == n &&
           memcmp(json_string_value(j), s, n) == 0;
}

typedef struct {
    json_t *data;
    int64_t signed_ms;
    bool max_infinite;
    int64_t max_s;
} claims_t;

static int decode_int(const uint8_t *p, size_t n, size_t *pos, int64_t *v)
{
    json_t *j;
    if (bn__etf_decode_term(p, n, pos, &j) < 0) {
        return -1;
    }
    int rc = json_is_integer(j) ? 0 : -1;
    *v = (int64_t)json_integer_value(j);
    json_decref(j);
    return rc;
}

/* The embedded max age is an integer or the atom :infinity; a binary
 * "infinity" is not the atom, hence the peek at the tag. */
static int decode_max_age(const uint8_t *p, size_t n, size_t *pos, claims_t *c)
{
    if (*pos >= n) {
        return -1;
    }
    if (!is_atom_tag(p[*pos])) {
        return decode_int(p, n, pos, &c->max_s);
    }
    json_t *j;
    if (bn__etf_decode_term(p, n, pos, &j) < 0) {
        return -1;
    }
    c->max_infinite = string_is(j, "infinity");
    json_decref(j);
    return c->max_infinite ? 0 : -1;
}

/* {data, signed_at_ms, max_age_s} or legacy {data, signed_at_ms}. */
static int decode_tuple(const uint8_t *p, size_t n, size_t pos, uint32_t arity, claims_t *c)
{
    if (arity != 2 && arity != 3) {
        return -1;
    }
    if (bn__etf_decode_term(p, n, &pos, &c->data) < 0) {
        return -1;
    }
    if (decode_int(p, n, &pos, &c->signed_ms) < 0) {
        return -1;
    }
    if (arity == 3) {
        if (decode_max_age(p, n, &pos, c) < 0) {
            return -1;
        }
    } else {
        c->max_s = TOKEN_LEGACY_MAX_AGE_S;
    }
    return pos == n ? 0 : -1;
}

/* Legacy %{data: data, signed: signed_at_ms}. Like an Elixir map pattern,
 * other keys are allowed and ignored; the two keys must be atoms. */
static int decode_legacy_map(const uint8_t *p, size_t n, size_t pos, claims_t *c)
{
    if (n - pos < 4) {
        return -1;
    }
    uint32_t count = ((uint32_t)p[pos] << 24) | ((uint32_t)p[pos + 1] << 16) |
                     ((uint32_t)p[pos + 2] << 8) | p[pos + 3];
    pos += 4;
    if (count > (n - pos) / 2) {
        return -1;
    }
    bool have_signed = false;
    for (uint32_t i = 0; i < count; i++) {
        if (pos >= n) {
            return -1;
        }
        bool atom = is_atom_tag(p[pos]);
        json_t *k;
        json_t *v;
        if (bn__etf_decode_term(p, n, &pos, &k) < 0) {
            return -1;
        }
        if (bn__etf_decode_term(p, n, &pos, &v) < 0) {
            json_decref(k);
            return -1;
        }
        int rc = 0;
        if (atom && string_is(k, "data")) {
            if (c->data != NULL) {
                rc = -1;
            } else {
                c->data = json_incref(v);
            }
        } else if (atom && string_is(k, "signed")) {
            rc = (have_signed || !json_is_integer(v)) ? -1 : 0;
            have_signed = true;
            c->signed_ms = (int64_t)json_integer_value(v);
        }
        json_decref(k);
        json_decref(v);
        if (rc < 0) {
            return -1;
        }
    }
    c->max_s = TOKEN_LEGACY_MAX_AGE_S;
    return (pos == n && c->data != NULL && have_signed) ? 0 : -1;
}

static int decode_claims(const uint8_t *p, size_t n, claims_t *c)
{
    if (n < 3 || p[0] != BN_ETF_VERSION) {
        return -1;
    }
    switch (p[1]) {
    case BN_ETF_SMALL_TUPLE:
        return decode_tuple(p, n, 3, p[2], c);
    case BN_ETF_LARGE_TUPLE:
        if (n < 6) {
            return -1;
        }
        return decode_tuple(
            p, n, 6, ((uint32_t)p[2] << 24) | ((uint32_t)p[3] << 16) | ((uint32_t)p[4] << 8) | p[5],
            c);
    case BN_ETF_MAP:
        return decode_legacy_map(p, n, 2, c);
    default:
        return -1;
    }
}

/* 7.4 in order: infinity wins, then non-positive max, then the future
 * check, then expiry. The sum is computed without overflow: a max age too
 * large to add simply never expires. */
static bn_token_result_t check_age(const claims_t *c, int64_t max_age_s, int64_t now_ms)
{
    bool infinite = c->max_infinite;
    int64_t max = c->max_s;
    if (max_age_s >= 0) {
        infinite = max_age_s == INT64_MAX;
        max = max_age_s;
    }
    if (infinite) {
        return BN_TOKEN_OK;
    }
    if (max <= 0) {
        return BN_TOKEN_EXPIRED;
    }
    if (c->signed_ms > now_ms) {
        return BN_TOKEN_INVALID;
    }
    if (max > INT64_MAX / 1000) {
        return BN_TOKEN_OK;
    }
    int64_t max_ms = max * 1000;
    if (c->signed_ms > INT64_MAX - max_ms) {
        return BN_TOKEN_OK;
    }
    return c->signed_ms + max_ms < now_ms ? BN_TOKEN_EXPIRED : BN_TOKEN_OK;
}

bn_token_result_t bn_token_verify(const bn_token_key_t *k, const char *token, int64_t max_age_s,
                                  int64_t now_ms, json_t **data_out)
{
    if (token == NULL) {
        return BN_TOKEN_MISSING;
    }
    if (k == NULL) {
        return BN_TOKEN_INVALID;
    }
    size_t len = strnlen(token, TOKEN_MAX_LEN + 1);
    if (len > TOKEN_MAX_LEN) {
        return BN_TOKEN_INVALID;
    }
    const char *dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return BN_TOKEN_INVALID;
    }
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(token + len - (dot1 + 1)));
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(token + len - (dot2 + 1))) != NULL) {
        return BN_TOKEN_INVALID;
    }
    const EVP_MD *md = header_digest(token, (size_t)(dot1 - token));
    if (md == NULL) {
        return BN_TOKEN_INVALID;
    }

    /* MAC first: nothing of the payload is decoded until it is authentic. */
    uint8_t got[EVP_MAX_MD_SIZE];
    size_t got_len = 0;
    const char *mac_b64 = dot2 + 1;
    if (b64_decode(mac_b64, (size_t)(token + len - mac_b64), got, sizeof got, &got_len) < 0) {
        return BN_TOKEN_INVALID;
    }
    uint8_t want[EVP_MAX_MD_SIZE];
    unsigned int want_len = 0;
    if (HMAC(md, k->key, (int)sizeof k->key, (const unsigned char *)token, (size_t)(dot2 - token),
             want, &want_len) == NULL) {
        return BN_TOKEN_INVALID;
    }
    if (got_len != want_len || CRYPTO_memcmp(got, want, want_len) != 0) {
        return BN_TOKEN_INVALID;
    }

    const char *pay_b64 = dot1 + 1;
    size_t pay_b64_len = (size_t)(dot2 - pay_b64);
    size_t cap = pay_b64_len / 4 * 3 + 3;
    uint8_t *payload = malloc(cap);
    if (payload == NULL) {
        return BN_TOKEN_INVALID;
    }
    size_t plen = 0;
    claims_t c = {0};
    if (b64_decode(pay_b64, pay_b64_len, payload, cap, &plen) < 0 ||
        decode_claims(payload, plen, &c) < 0) {
        free(payload);
        json_decref(c.data);
        return BN_TOKEN_INVALID;
    }
    free(payload);

    bn_token_result_t r = check_age(&c, max_age_s, now_ms);
    if (r == BN_TOKEN_OK && data_out != NULL) {
        *data_out = c.data;
    } else {
        json_decref(c.data);
    }
    return r;
}

int64_t bn_token_now_ms(void)
{
    return (int64_t)bn_wall_ms();
}

int64_t bn_token_expires_at_ms(const char *token, int64_t max_age_s)
{
    /* "<header>.<base64url payload>.<mac>"; the MAC was checked already. */
    const char *a = token != NULL ? strchr(token, '.') : NULL;
    const char *b = a != NULL ? strchr(a + 1, '.') : NULL;
    if (b == NULL) {
        return 0;
    }
    size_t n = (size_t)(b - (a + 1));
    while (n > 0 && a[n] == '=') { /* optional padding */
        n--;
    }
    uint8_t *bin = malloc(n + 1);
    size_t len = 0;
    json_t *term = NULL;
    int64_t out = 0;
    if (bin != NULL &&
        sodium_base642bin(bin, n + 1, a + 1, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        bn_etf_decode((const uint8_t *)bin, len, &term) == 0 && json_is_array(term) &&
        json_array_size(term) >= 2 && json_is_integer(json_array_get(term, 1))) {
        int64_t signed_ms = (int64_t)json_integer_value(json_array_get(term, 1));
        int64_t max_s = max_age_s;
        json_t *embedded = json_array_get(term, 2); /* absent in legacy tokens; or :infinity */
        if (json_is_integer(embedded) && json_integer_value(embedded) < max_s) {
            max_s = (int64_t)json_integer_value(embedded);
        }
        if (max_s < 0) {
            max_s = 0;
        }
        out = signed_ms + max_s * 1000;
    }
    json_decref(term);
    free(bin);
    return out;
}
