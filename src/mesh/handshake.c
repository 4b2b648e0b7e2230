/* Cookie proof and link keys.
 *
 * Each side sends a Hello carrying a fresh 32-byte nonce and an ephemeral
 * X25519 public key. Once both Hellos are known, each side derives:
 *   transcript = BLAKE2b(initiator Hello bytes || acceptor Hello bytes)
 *   (c2s, s2c) = crypto_kx session keys of the ephemeral pair
 *   mac_key    = BLAKE2b_key=cookie_key("auth" || c2s || s2c || transcript)
 * and sends Auth{ HMAC-SHA512-256(mac_key, role || transcript) } where role
 * is 'I' or 'A', so a MAC cannot be reflected back to its author. The cookie
 * never travels; the fresh nonces and keys make every transcript unique, so a
 * recorded Auth does not verify on a new connection. The encryption keys are
 * the session keys rekeyed with the cookie key, so encryption also depends
 * on the cookie. */
#include <string.h>

#include "mesh/internal.h"

static const uint8_t cookie_ctx[] = "bennu-mesh-cookie-v1";

void bn__hs_cookie_key(const char *cookie, uint8_t key[BN__HS_KEY_BYTES])
{
    crypto_generichash(key, BN__HS_KEY_BYTES, (const uint8_t *)cookie, strlen(cookie), cookie_ctx,
                       sizeof(cookie_ctx));
}

void bn__hs_init(bn__hs_t *hs, bool initiator)
{
    memset(hs, 0, sizeof(*hs));
    hs->initiator = initiator;
    randombytes_buf(hs->nonce, sizeof(hs->nonce));
    crypto_kx_keypair(hs->pk, hs->sk);
}

static void rekey(uint8_t out[BN__HS_KEY_BYTES], const uint8_t cookie_key[BN__HS_KEY_BYTES],
                  const char *label, const uint8_t key[BN__HS_KEY_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, cookie_key, BN__HS_KEY_BYTES, BN__HS_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    crypto_generichash_update(&st, key, BN__HS_KEY_BYTES);
    crypto_generichash_final(&st, out, BN__HS_KEY_BYTES);
}

int bn__hs_derive(bn__hs_t *hs, const uint8_t cookie_key[BN__HS_KEY_BYTES],
                  const uint8_t *own_hello, size_t own_len, const uint8_t *peer_hello,
                  size_t peer_len, const uint8_t *peer_pk, size_t peer_pk_len)
{
    if (peer_pk_len != crypto_kx_PUBLICKEYBYTES) {
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
    /* The initiator's tx is the acceptor's rx; order them canonically. */
    const uint8_t *c2s = hs->initiator ? tx : rx;
    const uint8_t *s2c = hs->initiator ? rx : tx;

    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(hs->transcript));
    if (hs->initiator) {
        crypto_generichash_update(&st, own_hello, own_len);
        crypto_generichash_update(&st, peer_hello, peer_len);
    } else {
        crypto_generichash_update(&st, peer_hello, peer_len);
        crypto_generichash_update(&st, own_hello, own_len);
    }
    crypto_generichash_final(&st, hs->transcript, sizeof(hs->transcript));

    crypto_generichash_init(&st, cookie_key, BN__HS_KEY_BYTES, sizeof(hs->mac_key));
    crypto_generichash_update(&st, (const uint8_t *)"auth", 4);
    crypto_generichash_update(&st, c2s, crypto_kx_SESSIONKEYBYTES);
    crypto_generichash_update(&st, s2c, crypto_kx_SESSIONKEYBYTES);
    crypto_generichash_update(&st, hs->transcript, sizeof(hs->transcript));
    crypto_generichash_final(&st, hs->mac_key, sizeof(hs->mac_key));

    uint8_t k_c2s[BN__HS_KEY_BYTES];
    uint8_t k_s2c[BN__HS_KEY_BYTES];
    rekey(k_c2s, cookie_key, "c2s", c2s);
    rekey(k_s2c, cookie_key, "s2c", s2c);
    memcpy(hs->tx_key, hs->initiator ? k_c2s : k_s2c, BN__HS_KEY_BYTES);
    memcpy(hs->rx_key, hs->initiator ? k_s2c : k_c2s, BN__HS_KEY_BYTES);
    sodium_memzero(k_c2s, sizeof(k_c2s));
    sodium_memzero(k_s2c, sizeof(k_s2c));
    sodium_memzero(rx, sizeof(rx));
    sodium_memzero(tx, sizeof(tx));
    hs->derived = true;
    return 0;
}

static void role_mac(const bn__hs_t *hs, bool initiator, uint8_t mac[BN__HS_MAC_BYTES])
{
    uint8_t in[1 + sizeof(hs->transcript)];
    in[0] = initiator ? 'I' : 'A';
    memcpy(in + 1, hs->transcript, sizeof(hs->transcript));
    crypto_auth(mac, in, sizeof(in), hs->mac_key);
}

void bn__hs_own_mac(const bn__hs_t *hs, uint8_t mac[BN__HS_MAC_BYTES])
{
    role_mac(hs, hs->initiator, mac);
}

bool bn__hs_verify_peer(const bn__hs_t *hs, const uint8_t *mac, size_t len)
{
    if (!hs->derived || len != BN__HS_MAC_BYTES) {
        return false;
    }
    uint8_t in[1 + sizeof(hs->transcript)];
    in[0] = hs->initiator ? 'A' : 'I';
    memcpy(in + 1, hs->transcript, sizeof(hs->transcript));
    return crypto_auth_verify(mac, in, sizeof(in), hs->mac_key) == 0;
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
    if (len < BN__HS_ABYTES) {
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
