/* Cookie key, session keys and per-frame AEAD for mesh links.
 *
 * The handshake (link.c drives it; docs/NOTES.md has the threat model):
 *   dialler  -> acceptor  Hello      {nonce_d, pk_d}          plaintext
 *   acceptor -> dialler   Challenge  {nonce_a, pk_a}          plaintext
 *   dialler  -> acceptor  Identify   sealed under k_d2a
 *   acceptor -> dialler   Identify   sealed under k_a2d (or a sealed Refuse)
 *   dialler  -> acceptor  Ready      sealed (or a sealed Refuse)
 * with
 *   T             = BLAKE2b(Hello bytes || Challenge bytes)
 *   (c2s, s2c)    = crypto_kx session keys of the two ephemeral key pairs
 *   k_d2a, k_a2d  = BLAKE2b_key=cookie_key(label || c2s or s2c || T)
 *   cookie_key    = Argon2id(cookie, fixed salt)
 * Opening the dialler's Identify proves it knows the cookie key; until then
 * the acceptor has sent only random nonces and a public key, so a peer that
 * has not proved the cookie learns nothing it could test cookie guesses
 * against. The dialler's sealed Identify does depend on the cookie: a node
 * that dials an impostor gives it one value to guess against offline, which
 * the memory-hard KDF and the 16-byte minimum make expensive (NOTES.md).
 * Every later frame is sealed with a counter nonce per direction, so an
 * altered, inserted, dropped or replayed frame fails to open. */
#include <string.h>

#include "mesh/internal.h"

/* Argon2id at 3 passes over 32 MiB: about a tenth of a second once per
 * process, and the same per guess for anyone guessing the cookie. */
#define COOKIE_OPSLIMIT 3u
#define COOKIE_MEMLIMIT (32u * 1024u * 1024u)

static const char cookie_salt_label[] = "bennu-mesh-cookie-v2";

/* The last cookie's key: bennuctl and the tests create several meshes with
 * one cookie in one process. Processes are single-threaded (--workers forks). */
static struct {
    bool valid;
    uint8_t fingerprint[crypto_generichash_BYTES];
    uint8_t key[BN__HS_KEY_BYTES];
} cookie_cache;

int bn__hs_cookie_key(const char *cookie, uint8_t key[BN__HS_KEY_BYTES])
{
    size_t len = strlen(cookie);
    if (len < BN__HS_COOKIE_MIN) {
        return -1;
    }
    uint8_t fp[crypto_generichash_BYTES];
    crypto_generichash(fp, sizeof(fp), (const uint8_t *)cookie, len, NULL, 0);
    if (cookie_cache.valid && sodium_memcmp(fp, cookie_cache.fingerprint, sizeof(fp)) == 0) {
        memcpy(key, cookie_cache.key, BN__HS_KEY_BYTES);
        sodium_memzero(fp, sizeof(fp));
        return 0;
    }
    /* One salt for the whole cluster: every node must derive the same key. */
    uint8_t salt[crypto_pwhash_SALTBYTES];
    crypto_generichash(salt, sizeof(salt), (const uint8_t *)cookie_salt_label,
                       sizeof(cookie_salt_label) - 1, NULL, 0);
    if (crypto_pwhash(key, BN__HS_KEY_BYTES, cookie, len, salt, COOKIE_OPSLIMIT, COOKIE_MEMLIMIT,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_memzero(fp, sizeof(fp));
        return -1;
    }
    memcpy(cookie_cache.fingerprint, fp, sizeof(fp));
    memcpy(cookie_cache.key, key, BN__HS_KEY_BYTES);
    cookie_cache.valid = true;
    sodium_memzero(fp, sizeof(fp));
    return 0;
}

void bn__hs_init(bn__hs_t *hs, bool initiator)
{
    memset(hs, 0, sizeof(*hs));
    hs->initiator = initiator;
}

void bn__hs_keygen(bn__hs_t *hs)
{
    randombytes_buf(hs->nonce, sizeof(hs->nonce));
    crypto_kx_keypair(hs->pk, hs->sk);
    hs->keyed = true;
}

static void direction_key(uint8_t out[BN__HS_KEY_BYTES], const uint8_t cookie_key[BN__HS_KEY_BYTES],
                          const char *label, const uint8_t key[crypto_kx_SESSIONKEYBYTES],
                          const uint8_t transcript[crypto_generichash_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, cookie_key, BN__HS_KEY_BYTES, BN__HS_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    crypto_generichash_update(&st, key, crypto_kx_SESSIONKEYBYTES);
    crypto_generichash_update(&st, transcript, crypto_generichash_BYTES);
    crypto_generichash_final(&st, out, BN__HS_KEY_BYTES);
}

int bn__hs_derive(bn__hs_t *hs, const uint8_t cookie_key[BN__HS_KEY_BYTES], const uint8_t *hello,
                  size_t hello_len, const uint8_t *challenge, size_t challenge_len,
                  const uint8_t *peer_pk, size_t peer_pk_len)
{
    if (!hs->keyed || peer_pk_len != crypto_kx_PUBLICKEYBYTES) {
        return -1;
    }
    uint8_t rx[crypto_kx_SESSIONKEYBYTES];
    uint8_t tx[crypto_kx_SESSIONKEYBYTES];
    int rc;
    if (hs->initiator) {
        rc = crypto_kx_client_session_keys(rx, tx, hs->pk, hs->sk, peer_pk);
    } else {
        rc = crypto_kx_server_session_keys(rx, tx, hs->pk, hs->sk, peer_pk);
    }
    sodium_memzero(hs->sk, sizeof(hs->sk));
    if (rc != 0) {
        return -1;
    }
    /* The initiator's tx is the acceptor's rx; name them by direction. */
    const uint8_t *c2s = hs->initiator ? tx : rx;
    const uint8_t *s2c = hs->initiator ? rx : tx;

    uint8_t transcript[crypto_generichash_BYTES];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(transcript));
    crypto_generichash_update(&st, hello, hello_len);
    crypto_generichash_update(&st, challenge, challenge_len);
    crypto_generichash_final(&st, transcript, sizeof(transcript));

    uint8_t k_d2a[BN__HS_KEY_BYTES];
    uint8_t k_a2d[BN__HS_KEY_BYTES];
    direction_key(k_d2a, cookie_key, "bennu d2a", c2s, transcript);
    direction_key(k_a2d, cookie_key, "bennu a2d", s2c, transcript);
    memcpy(hs->tx_key, hs->initiator ? k_d2a : k_a2d, BN__HS_KEY_BYTES);
    memcpy(hs->rx_key, hs->initiator ? k_a2d : k_d2a, BN__HS_KEY_BYTES);
    sodium_memzero(k_d2a, sizeof(k_d2a));
    sodium_memzero(k_a2d, sizeof(k_a2d));
    sodium_memzero(rx, sizeof(rx));
    sodium_memzero(tx, sizeof(tx));
    hs->derived = true;
    return 0;
}

static void seq_nonce(uint64_t seq, uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES])
{
    memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    for (int i = 0; i < 8; i++) {
        nonce[i] = (uint8_t)(seq >> (8 * i));
    }
}

void bn__hs_seal(bn__hs_t *hs, const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    seq_nonce(hs->tx_seq++, nonce);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, in, len, NULL, 0, NULL, nonce,
                                               hs->tx_key);
}

long bn__hs_open(bn__hs_t *hs, const uint8_t *in, size_t len, uint8_t *out)
{
    if (!hs->derived || len < BN__HS_ABYTES) {
        return -1;
    }
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    seq_nonce(hs->rx_seq, nonce);
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, in, len, NULL, 0, nonce,
                                                   hs->rx_key) != 0) {
        return -1;
    }
    hs->rx_seq++;
    return (long)plen;
}

void bn__hs_wipe(bn__hs_t *hs)
{
    sodium_memzero(hs, sizeof(*hs));
}
