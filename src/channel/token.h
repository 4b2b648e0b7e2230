/* Phoenix.Token-compatible signed tokens (PROTOCOL.md section 7).
 *
 * A token minted by a Phoenix application with the same secret_key_base and
 * salt verifies here and the other way round: HS256 over
 * "SFMyNTY.<b64url(ETF payload)>", key = PBKDF2-HMAC-SHA256(secret, salt,
 * 1000 iterations, 32 bytes), payload = term_to_binary({data, signed_at_ms,
 * max_age_s}). Data is mapped to JSON: integers, binaries (-> strings),
 * atoms (true/false/nil -> JSON true/false/null, others -> strings), maps
 * with binary/atom keys (-> objects), lists and tuples (-> arrays). */
#ifndef BN_CHANNEL_TOKEN_H
#define BN_CHANNEL_TOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define BN_TOKEN_RESULT_MAP(X)     \
    X(OK, "ok")                    \
    X(MISSING, "missing")          \
    X(INVALID, "invalid")          \
    X(EXPIRED, "expired")

typedef enum {
#define BN_TOKEN_ENUM(name, str) BN_TOKEN_##name,
    BN_TOKEN_RESULT_MAP(BN_TOKEN_ENUM)
#undef BN_TOKEN_ENUM
} bn_token_result_t;

const char *bn_token_result_name(bn_token_result_t r);

/* A derived key; derive once per (secret, salt) and reuse (PBKDF2 is slow
 * by design). Caller-owned. */
typedef struct bn_token_key_s {
    uint8_t key[32];
} bn_token_key_t;

/* Returns 0, or -1 when secret is shorter than 20 bytes (Phoenix's minimum). */
int bn_token_key_derive(bn_token_key_t *k, const char *secret, size_t secret_len,
                        const char *salt, size_t salt_len);

/* Mints a token for data (JSON integer, string, true/false/null, object,
 * array) signed at signed_at_ms with embedded max age max_age_s. Returns a
 * malloc'd NUL-terminated token or NULL (unsupported data, OOM). */
char *bn_token_sign(const bn_token_key_t *k, const json_t *data, int64_t signed_at_ms,
                    int64_t max_age_s);

/* Verifies token (NULL -> MISSING). max_age_s < 0 means "use the max age
 * embedded in the token"; INT64_MAX means infinity. now_ms is the current
 * Unix time in ms. On OK *data_out (if non-NULL) receives a new reference to
 * the decoded data. The MAC is compared in constant time before anything
 * else is decoded; a token signed in the future is INVALID. */
bn_token_result_t bn_token_verify(const bn_token_key_t *k, const char *token, int64_t max_age_s,
                                  int64_t now_ms, json_t **data_out);

/* Erlang External Term Format (the subset above), exposed for tests and
 * fuzzing. Encode appends to a malloc'd buffer; decode rejects anything else
 * (funs, pids, refs, floats, improper lists, nesting deeper than 32, trailing
 * bytes) with -1. */
int bn_etf_encode(const json_t *v, uint8_t **out, size_t *out_len);
int bn_etf_decode(const uint8_t *data, size_t len, json_t **out);

/* ---- Internal to src/channel (token.c reads through etf.c); not public API. ----
 * Kept here because the layer has no internal.h yet; move it there when one
 * exists. */

/* The ETF tags of the subset above (erts external format). */
#define BN_ETF_TAG_MAP(X)                 \
    X(VERSION, 131)                       \
    X(SMALL_INTEGER, 97)                  \
    X(INTEGER, 98)                        \
    X(ATOM, 100)                          \
    X(SMALL_TUPLE, 104)                   \
    X(LARGE_TUPLE, 105)                   \
    X(NIL, 106)                           \
    X(STRING, 107)                        \
    X(LIST, 108)                          \
    X(BINARY, 109)                        \
    X(SMALL_BIG, 110)                     \
    X(LARGE_BIG, 111)                     \
    X(SMALL_ATOM, 115)                    \
    X(MAP, 116)                           \
    X(ATOM_UTF8, 118)                     \
    X(SMALL_ATOM_UTF8, 119)

enum {
#define BN_ETF_TAG_ENUM(name, val) BN_ETF_##name = val,
    BN_ETF_TAG_MAP(BN_ETF_TAG_ENUM)
#undef BN_ETF_TAG_ENUM
};

/* Decodes one term (no version byte) starting at data[*pos], with the same
 * subset and limits as bn_etf_decode (the term itself may nest 32 deep), and
 * advances *pos past it. Bytes after the term are the caller's business.
 * Returns 0 and a new reference in *out, or -1 (*pos unspecified). Callers
 * that must tell atoms from binaries peek data[*pos] first. */
int bn__etf_decode_term(const uint8_t *data, size_t len, size_t *pos, json_t **out);

#endif
