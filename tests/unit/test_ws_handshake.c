/* Tests for bn_ws_accept_key (src/transport/ws/ws_handshake.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "transport/ws/ws.h"

typedef struct {
    const char *name;
    const char *key;
    const char *accept;
} good_case_t;

static const good_case_t good_cases[] = {
    /* RFC 6455 §1.3 worked example (the RFC's value, also checked with
     * Python's hashlib/base64). */
    {"rfc6455", "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
    /* Second vector, computed independently with Python's hashlib/base64. */
    {"wiki", "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
    {"all_A", "AAAAAAAAAAAAAAAAAAAAAA==", NULL},
    {"symbols", "++++////0123456789azAZ==", NULL},
};

static void test_accept_key_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good_cases / sizeof good_cases[0]; i++) {
        const good_case_t *c = &good_cases[i];
        char out[29];
        memset(out, 'x', sizeof out);
        if (bn_ws_accept_key(c->key, strlen(c->key), out) != 0) {
            fail_msg("case %s: key rejected", c->name);
        }
        if (out[28] != '\0' || strlen(out) != 28) {
            fail_msg("case %s: accept not 28 chars + NUL", c->name);
        }
        if (c->accept != NULL && strcmp(out, c->accept) != 0) {
            fail_msg("case %s: got %s want %s", c->name, out, c->accept);
        }
    }
}

typedef struct {
    const char *name;
    const char *key;
    size_t len; /* bytes of key passed */
} bad_case_t;

#define BAD(name, k)           \
    {                          \
        name, k, sizeof(k) - 1 \
    }

static const bad_case_t bad_cases[] = {
    BAD("empty", ""),
    BAD("short_23", "dGhlIHNhbXBsZSBub25jZQ="),
    BAD("long_25", "dGhlIHNhbXBsZSBub25jZQ==="),
    BAD("no_padding_22", "dGhlIHNhbXBsZSBub25jZQ"),
    BAD("17_bytes", "dGhlIHNhbXBsZSBub25jZQA="),
    BAD("18_bytes", "dGhlIHNhbXBsZSBub25jZQAA"),
    BAD("bad_char", "dGhlIHNhbXBsZSB*b25jZQ=="),
    BAD("space_inside", "dGhlIHNhbXBs ZSBub25jZQ=="),
    BAD("leading_space", " dGhlIHNhbXBsZSBub25jZQ="),
    BAD("url_alphabet", "dGhlIHNhbXBsZSBub25jZ-_=="),
    BAD("all_padding", "========================"),
    BAD("padding_early", "dGhlIHNhbXBsZSBub25j=Q=="),
    BAD("nul_inside", "dGhlIHNhbXBsZSBub\0jZQ=="),
    BAD("32_bytes", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
};

static void test_accept_key_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case_t *c = &bad_cases[i];
        char out[29] = "untouched";
        if (bn_ws_accept_key(c->key, c->len, out) != -1) {
            fail_msg("case %s: invalid key accepted", c->name);
        }
        if (strcmp(out, "untouched") != 0) {
            fail_msg("case %s: out written on failure", c->name);
        }
    }
    char out[29];
    assert_int_equal(bn_ws_accept_key(NULL, 24, out), -1);
    /* A valid key passed with a wrong length is rejected, not truncated. */
    assert_int_equal(bn_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 23, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_valid),
        cmocka_unit_test(test_accept_key_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
