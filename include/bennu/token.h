/* Phoenix.Token-compatible signed tokens (PROTOCOL.md section 7).
 *
 * A token minted by a Phoenix application with the same secret_key_base and
 * salt verifies here and the other way round: HS256 over
 * "SFMyNTY.<b64url(ETF payload)>", key = PBKDF2-HMAC-SHA256(secret, salt,
 * 1000 iterations, 32 bytes), payload = term_to_binary({data, signed_at_ms,
 * max_age_s}). Data is mapped to JSON: integers, binaries (-> strings),
 * atoms (true/false/nil -> JSON true/false/null, others -> strings), maps
 * with binary/atom keys (-> objects), lists and tuples (-> arrays). */
#ifndef BENNU_TOKEN_H
#define BENNU_TOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BN_TOKEN_RESULT_MAP(X) \
    X(OK, "ok")                \
    X(MISSING, "missing")      \
    X(INVALID, "invalid")      \
    X(EXPIRED, "expired")

typedef enum {
#define BN_TOKEN_ENUM(name, str) BN_TOKEN_##name,
    BN_TOKEN_RESULT_MAP(BN_TOKEN_ENUM)
#undef BN_TOKEN_ENUM
} bn_token_result_t;

BN_EXTERN const char *bn_token_result_name(bn_token_result_t r);

/* A derived key; derive once per (secret, salt) and reuse (PBKDF2 is slow
 * by design). Caller-owned. */
typedef struct bn_token_key_s {
    uint8_t key[32];
} bn_token_key_t;

/* Returns 0, or -1 when secret is shorter than 20 bytes (Phoenix's minimum). */
BN_EXTERN int bn_token_key_derive(bn_token_key_t *k, const char *secret, size_t secret_len,
                                  const char *salt, size_t salt_len);

/* Mints a token for data (JSON integer, string, true/false/null, object,
 * array) signed at signed_at_ms with embedded max age max_age_s. Returns a
 * malloc'd NUL-terminated token or NULL (unsupported data, OOM). */
BN_EXTERN char *bn_token_sign(const bn_token_key_t *k, const json_t *data, int64_t signed_at_ms,
                              int64_t max_age_s);

/* Verifies token (NULL -> MISSING). max_age_s < 0 means "use the max age
 * embedded in the token"; INT64_MAX means infinity. now_ms is the current
 * Unix time in ms. On OK *data_out (if non-NULL) receives a new reference to
 * the decoded data. The MAC is compared in constant time before anything
 * else is decoded; a token signed in the future is INVALID. */
BN_EXTERN bn_token_result_t bn_token_verify(const bn_token_key_t *k, const char *token,
                                            int64_t max_age_s, int64_t now_ms, json_t **data_out);

/* The salt and max age (seconds) of the Phoenix guide's user socket tokens:
 * Phoenix.Token.sign(socket, "user socket", user_id) and verify with
 * max_age: 1_209_600. The bennu node and its token tools use these. */
#define BN_USER_TOKEN_SALT "user socket"
#define BN_USER_TOKEN_MAX_AGE 1209600

/* When a token that bn_token_verify accepted stops being valid: its signing
 * time plus the smaller of its embedded max age and max_age_s, in Unix ms
 * (0 when the token cannot be read). Reads the payload without checking the
 * MAC again: call it only on a verified token. */
BN_EXTERN int64_t bn_token_expires_at_ms(const char *token, int64_t max_age_s);

/* Wall-clock (Unix) milliseconds, the time base of Phoenix.Token. */
BN_EXTERN int64_t bn_token_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif
