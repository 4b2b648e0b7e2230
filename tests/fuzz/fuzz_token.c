/* Fuzzes Phoenix.Token verification (src/auth/token.c) and, through it,
 * the claims decoder and the ETF decoder.
 *
 * A random string almost never carries a valid MAC, so most of verify would
 * be unreachable; the harness therefore signs fuzzer-chosen payloads itself.
 * Byte 0 selects the mode (the rest is the body):
 *   mode 0: the body, NUL-terminated, is the token;
 *   mode 1: body = now_ms (8 bytes BE), max_age_s (8 bytes BE), then the raw
 *           claims bytes (term_to_binary of {data, signed_at, max_age}),
 *           which the harness base64url-encodes and MACs with the digest
 *           picked by bits 2-3 of byte 0 (SHA-256/384/512);
 *   mode 2: the body is the base64 text of the payload itself (exercises the
 *           padding rules), MAC'd by the harness.
 * Oracles: the result is one of the four codes; OK only with data; and any
 * data that verifies signs again and verifies back to an equal value. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <string.h>

#include "bennu/token.h"
#include "fuzz_common.h"

static bn_token_key_t key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char secret[] = "fuzz-secret-key-base-0123456789abcdef";
    static const char salt[] = "user socket";
    FUZZ_CHECK(sodium_init() >= 0, "sodium_init");
    FUZZ_CHECK(bn_token_key_derive(&key, secret, sizeof secret - 1, salt, sizeof salt - 1) == 0,
               "key derivation");
    return 0;
}

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return (int64_t)v;
}

/* header "." text "." mac; text is copied verbatim. */
static char *sign_text(int digest, const char *text, size_t text_len)
{
    static const char *const headers[3] = {"SFMyNTY", "SFMzODQ", "SFM1MTI"};
    const EVP_MD *mds[3] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
    size_t mac_b64 =
        sodium_base64_ENCODED_LEN(EVP_MAX_MD_SIZE, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *tok = malloc(7 + 1 + text_len + 1 + mac_b64 + 1);
    FUZZ_CHECK(tok != NULL, "malloc");
    memcpy(tok, headers[digest], 7);
    tok[7] = '.';
    memcpy(tok + 8, text, text_len);
    size_t signed_len = 8 + text_len;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    FUZZ_CHECK(HMAC(mds[digest], key.key, (int)sizeof key.key, (const unsigned char *)tok,
                    signed_len, mac, &mac_len) != NULL,
               "HMAC");
    tok[signed_len] = '.';
    sodium_bin2base64(tok + signed_len + 1, mac_b64, mac, mac_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return tok;
}

static void verify_and_check(const char *tok, int64_t max_age_s, int64_t now_ms)
{
    json_t *out = NULL;
    bn_token_result_t r = bn_token_verify(&key, tok, max_age_s, now_ms, &out);
    FUZZ_CHECK(r == BN_TOKEN_OK || r == BN_TOKEN_INVALID || r == BN_TOKEN_EXPIRED,
               "unexpected verify result for a non-NULL token");
    FUZZ_CHECK((r == BN_TOKEN_OK) == (out != NULL), "data_out set iff OK");
    FUZZ_CHECK(strcmp(bn_token_result_name(r), "unknown") != 0, "result name");
    if (out == NULL) {
        return;
    }
    /* Round trip: whatever verified must sign and verify back unchanged. */
    char *again = bn_token_sign(&key, out, 1000, 60);
    FUZZ_CHECK(again != NULL, "verified data does not sign");
    json_t *back = NULL;
    FUZZ_CHECK(bn_token_verify(&key, again, -1, 2000, &back) == BN_TOKEN_OK,
               "a freshly signed token does not verify");
    FUZZ_CHECK(fuzz_json_equal(out, back), "sign/verify changed the data");
    /* The same token one second past its max age is expired. */
    FUZZ_CHECK(bn_token_verify(&key, again, -1, 1000 + 60 * 1000 + 1, NULL) == BN_TOKEN_EXPIRED,
               "token past its embedded max age not expired");
    json_decref(back);
    free(again);
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int mode = data[0] % 3;
    int digest = (data[0] >> 2) % 3;
    const uint8_t *body = data + 1;
    size_t n = size - 1;

    if (mode == 0) {
        char *s = malloc(n + 1);
        FUZZ_CHECK(s != NULL, "malloc");
        memcpy(s, body, n);
        s[n] = '\0';
        verify_and_check(s, -1, 1700000000000);
        verify_and_check(s, INT64_MAX, 0);
        free(s);
    } else if (mode == 1) {
        if (n < 16) {
            return 0;
        }
        int64_t now_ms = be64(body);
        int64_t max_age_s = be64(body + 8);
        const uint8_t *claims = body + 16;
        size_t clen = n - 16;
        size_t b64_size = sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        char *text = malloc(b64_size);
        FUZZ_CHECK(text != NULL, "malloc");
        sodium_bin2base64(text, b64_size, claims, clen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        char *tok = sign_text(digest, text, strlen(text));
        verify_and_check(tok, max_age_s, now_ms);
        verify_and_check(tok, -1, now_ms);
        free(tok);
        free(text);
    } else {
        /* A NUL would end the token early; keep the text as given up to it. */
        size_t tlen = strnlen((const char *)body, n);
        char *tok = sign_text(digest, (const char *)body, tlen);
        verify_and_check(tok, -1, 1700000000000);
        free(tok);
    }
    return 0;
}
