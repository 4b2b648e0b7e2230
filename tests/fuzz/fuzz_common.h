/* Shared helpers for the libFuzzer harnesses in tests/fuzz/.
 *
 * FUZZ_CHECK is the oracle's assertion: unlike assert() it is never compiled
 * out, and it names the broken property so a crash report says what failed
 * rather than only where. abort() makes libFuzzer save the input. */
#ifndef BN_FUZZ_COMMON_H
#define BN_FUZZ_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, what)                                                                  \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz oracle failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, what, \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* The libFuzzer entry points (declared here because -Wmissing-prototypes
 * style warnings and -Werror would otherwise complain in some builds). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* FNV-1a, to fingerprint event sequences cheaply. */
static inline uint64_t fuzz_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (h == 0) {
        h = 1469598103934665603ull;
    }
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Deep equality that also handles object keys with an embedded NUL (which
 * the ETF decoder and %00 in queries can produce): jansson's json_equal looks
 * keys up as C strings and so calls such objects different. */
static inline bool fuzz_json_equal(json_t *a, json_t *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (json_typeof(a) != json_typeof(b)) {
        return false;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) {
            return false;
        }
        const char *key;
        size_t key_len;
        json_t *val;
        json_object_keylen_foreach(a, key, key_len, val)
        {
            if (!fuzz_json_equal(val, json_object_getn(b, key, key_len))) {
                return false;
            }
        }
        return true;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (!fuzz_json_equal(json_array_get(a, i), json_array_get(b, i))) {
                return false;
            }
        }
        return true;
    }
    return json_equal(a, b);
}

#endif
