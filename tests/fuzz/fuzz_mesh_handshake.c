/* Fuzzes what a peer controls in the mesh handshake and on an encrypted link
 * (src/mesh/handshake.c): its ephemeral public key, its Hello bytes, its
 * transcript MAC, and sealed frames.
 *
 * Input: byte 0 selects the case, the rest is the peer's bytes.
 * Oracles:
 *  - a derived handshake verifies only the genuine peer MAC: any other bytes
 *    are refused (a forged MAC would be a broken handshake);
 *  - a peer key or Hello taken from the input either fails to derive or
 *    derives keys under which the genuine MAC of the honest transcript fails;
 *  - bn__hs_open refuses every input that is not exactly a sealed frame, and
 *    seal-then-open returns the plaintext. */
#include <sodium.h>
#include <string.h>

#include "fuzz_common.h"
#include "mesh/internal.h"

static uint8_t cookie_key[BN__HS_KEY_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) {
        abort();
    }
    bn__hs_cookie_key("fuzz-cookie", cookie_key);
    return 0;
}

/* An honest pair: both sides derived from the same two Hellos. */
static void honest_pair(bn__hs_t *ini, bn__hs_t *acc)
{
    static const uint8_t hello_i[] = "hello from the initiator";
    static const uint8_t hello_a[] = "hello from the acceptor";
    bn__hs_init(ini, true);
    bn__hs_init(acc, false);
    uint8_t pk_i[crypto_kx_PUBLICKEYBYTES], pk_a[crypto_kx_PUBLICKEYBYTES];
    memcpy(pk_i, ini->pk, sizeof(pk_i));
    memcpy(pk_a, acc->pk, sizeof(pk_a));
    FUZZ_CHECK(bn__hs_derive(ini, cookie_key, hello_i, sizeof(hello_i), hello_a, sizeof(hello_a),
                             pk_a, sizeof(pk_a)) == 0, "honest derive (initiator)");
    FUZZ_CHECK(bn__hs_derive(acc, cookie_key, hello_a, sizeof(hello_a), hello_i, sizeof(hello_i),
                             pk_i, sizeof(pk_i)) == 0, "honest derive (acceptor)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t sel = data[0] % 4;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    bn__hs_t ini, acc;
    honest_pair(&ini, &acc);
    uint8_t genuine[BN__HS_MAC_BYTES];
    bn__hs_own_mac(&ini, genuine);
    FUZZ_CHECK(bn__hs_verify_peer(&acc, genuine, sizeof(genuine)), "the genuine MAC verifies");

    if (sel == 0) {
        /* A MAC from the wire. */
        bool ok = bn__hs_verify_peer(&acc, in, len);
        bool same = len == sizeof(genuine) && memcmp(in, genuine, len) == 0;
        FUZZ_CHECK(ok == same, "only the genuine MAC verifies");
        /* A MAC reflected back to its sender never verifies. */
        FUZZ_CHECK(!bn__hs_verify_peer(&ini, genuine, sizeof(genuine)), "reflected MAC refused");
    } else if (sel == 1) {
        /* A peer public key and Hello from the wire. */
        bn__hs_t a2;
        bn__hs_init(&a2, false);
        static const uint8_t own[] = "hello from the acceptor";
        size_t pk_len = len < crypto_kx_PUBLICKEYBYTES ? len : crypto_kx_PUBLICKEYBYTES;
        int rc = bn__hs_derive(&a2, cookie_key, own, sizeof(own), in, len, in, pk_len);
        if (rc == 0) {
            FUZZ_CHECK(!bn__hs_verify_peer(&a2, genuine, sizeof(genuine)),
                       "a foreign transcript accepts the honest MAC");
        }
        bn__hs_wipe(&a2);
    } else if (sel == 2) {
        /* A frame from the wire on an encrypted link. */
        uint8_t *out = malloc(len + 1);
        long n = bn__hs_open(&acc, in, len, out);
        FUZZ_CHECK(n == -1, "an unsealed frame opened");
        free(out);
    } else {
        /* Seal then open: the plaintext comes back; any flipped byte fails. */
        uint8_t *sealed = malloc(len + BN__HS_ABYTES);
        uint8_t *plain = malloc(len + 1);
        bn__hs_seal(&ini, in, len, sealed);
        if (len > 0) {
            sealed[len / 2] ^= 0x01;
            FUZZ_CHECK(bn__hs_open(&acc, sealed, len + BN__HS_ABYTES, plain) == -1,
                       "a tampered frame opened");
            sealed[len / 2] ^= 0x01;
        }
        long n = bn__hs_open(&acc, sealed, len + BN__HS_ABYTES, plain);
        FUZZ_CHECK(n == (long)len && memcmp(plain, in, len) == 0, "seal/open round trip");
        FUZZ_CHECK(bn__hs_open(&acc, sealed, len + BN__HS_ABYTES, plain) == -1,
                   "a replayed frame opened");
        free(sealed);
        free(plain);
    }
    bn__hs_wipe(&ini);
    bn__hs_wipe(&acc);
    return 0;
}
