/* Fuzzes what a man in the middle controls in the mesh handshake and on a
 * sealed link (src/mesh/handshake.c, protocol version 2): the Hello bytes the
 * acceptor sees, the Challenge bytes the dialler sees, the ephemeral public
 * keys inside them, the dialler's sealed proof (its Identify) and every later
 * sealed frame.
 *
 * Key pairs and nonces come from a deterministic randombytes implementation
 * that is reset for every input: the honest transcript of a case is the same
 * for every input (libFuzzer can learn its bytes from the comparisons below)
 * and a finding replays exactly. Each case has its own key pairs, as each
 * real session does. Nothing in the oracles depends on the keys being secret
 * from the harness.
 *
 * Input: byte 0 selects the case, the rest is the attacker's.
 *   0 proof       the rest is offered to the acceptor as the dialler's sealed
 *                 Identify (the first sealed frame of the link).
 *   1 transcript  byte 1: bit 0 rewrite the Hello the acceptor sees, bit 1
 *                 rewrite the Challenge the dialler sees, bit 2 replace the
 *                 bytes instead of editing them; byte 2 splits the rest
 *                 between the two rewrites. An edit is a list of (position,
 *                 xor) pairs; an odd last byte b truncates by (b & 63) bytes,
 *                 or with bit 7 set appends (b & 63) bytes of b.
 *   2 stream      each byte is one action of the attacker on the dialler's
 *                 sealed frames: forward, replay, flip, inject (input bytes),
 *                 drop, reorder, reflect to the sender.
 *   3 round trip  the rest is sealed, opened and tampered with.
 * Oracles:
 *  - (0) the input opens iff it is byte for byte the genuine sealed proof,
 *    and a refused input leaves the receive counter alone (the genuine proof
 *    still opens after it);
 *  - (1) a peer key that is not 32 bytes never derives; any other rewrite
 *    either fails to derive or derives keys under which the honest dialler's
 *    proof, and the acceptor's sealed answer, open iff neither side saw a
 *    single byte other than the honest Hello and Challenge;
 *  - (2) bn__hs_open accepts exactly what a model of a counter-nonce receiver
 *    accepts: the frame sealed for the current counter, byte for byte, with
 *    its plaintext; every replay, flip, drop, reordering, injection or
 *    reflection fails and does not advance the counter;
 *  - (3) seal then open returns the plaintext, two seals of one plaintext
 *    differ, and a flipped byte, a truncation, an extension or a replay
 *    fails.
 * Fixed checks at start-up: a cookie under 16 bytes has no key; a dialler with
 * another cookie, and a replay of the honest Hello and proof to a fresh
 * acceptor, do not open; open before derive and derive before keygen refuse. */
#include <sodium.h>
#include <string.h>

#include "fuzz_common.h"
#include "mesh/internal.h"

/* ---- deterministic randomness ------------------------------------------- */

static uint64_t rng_counter;

static void rng_buf(void *const buf, const size_t size)
{
    uint8_t seed[randombytes_SEEDBYTES];
    memset(seed, 0x5a, sizeof(seed));
    uint64_t c = rng_counter++;
    memcpy(seed, &c, sizeof(c));
    randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t rng_random(void)
{
    uint32_t v;
    rng_buf(&v, sizeof(v));
    return v;
}

static const char *rng_name(void)
{
    return "fuzz-deterministic";
}

static randombytes_implementation rng_impl = {
    .implementation_name = rng_name,
    .random = rng_random,
    .buf = rng_buf,
};

/* ---- the honest parties ------------------------------------------------- */

static const char cookie[] = "fuzz-cookie-0123456789";
static const char other_cookie[] = "another-cookie-0123456789";
static uint8_t cookie_key[BN__HS_KEY_BYTES];
static uint8_t other_key[BN__HS_KEY_BYTES];

typedef struct {
    bn__hs_t ini, acc;  /* keyed, not derived: the base of every clone */
    uint8_t hello[128]; /* exact Hello and Challenge bodies sent */
    size_t hello_len;
    uint8_t chal[128];
    size_t chal_len;
    uint8_t ident_d[128]; /* plaintext Identify bodies */
    size_t ident_d_len;
    uint8_t ident_a[128];
    size_t ident_a_len;
} world_t;

static size_t encode_body(const bn__msg_t *msg, uint8_t *out, size_t cap)
{
    bn_buf_t *b = NULL;
    FUZZ_CHECK(bn__codec_encode(msg, BN__MESH_PREAUTH_MAX_FRAME, &b) == 0, "encode");
    size_t len = b->len - 4;
    FUZZ_CHECK(len <= cap, "encoded body fits");
    memcpy(out, (const uint8_t *)bn_buf_body(b) + 4, len);
    bn_buf_unref(b);
    return len;
}

static size_t encode_keys(bn__msg_type_t type, const bn__hs_t *hs, uint8_t *out, size_t cap)
{
    bn__msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.u.hello.nonce = bn__bytes(hs->nonce, sizeof(hs->nonce));
    m.u.hello.kx_pk = bn__bytes(hs->pk, sizeof(hs->pk));
    return encode_body(&m, out, cap);
}

static size_t encode_identify(const char *name, uint64_t inc, uint8_t *out, size_t cap)
{
    bn__msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = BN__MSG_IDENTIFY;
    m.u.ident.name = bn__bytes(name, strlen(name));
    m.u.ident.host = bn__bytes("127.0.0.1", 9);
    m.u.ident.port = 4370;
    m.u.ident.incarnation = inc;
    return encode_body(&m, out, cap);
}

/* Fresh key pairs (deterministic) and the honest transcript. Each case has
 * keys of its own, as each real session has: the round-trip case seals
 * fuzzer-chosen plaintexts, and under shared keys those would be genuine
 * frames for the proof case to open. */
static void world_init(world_t *w, unsigned key_set)
{
    rng_counter = (uint64_t)key_set << 32;
    bn__hs_init(&w->ini, true);
    bn__hs_init(&w->acc, false);
    bn__hs_keygen(&w->ini);
    bn__hs_keygen(&w->acc);
    w->hello_len = encode_keys(BN__MSG_HELLO, &w->ini, w->hello, sizeof(w->hello));
    w->chal_len = encode_keys(BN__MSG_CHALLENGE, &w->acc, w->chal, sizeof(w->chal));
    w->ident_d_len = encode_identify("d@127.0.0.1", 7, w->ident_d, sizeof(w->ident_d));
    w->ident_a_len = encode_identify("a@127.0.0.1", 9, w->ident_a, sizeof(w->ident_a));
}

/* A copy of a keyed party, derived from the given view of the transcript. */
static int derive_clone(const bn__hs_t *base, bn__hs_t *out, const uint8_t *key,
                        const uint8_t *hello, size_t hello_len, const uint8_t *chal,
                        size_t chal_len, const uint8_t *pk, size_t pk_len)
{
    memcpy(out, base, sizeof(*out));
    return bn__hs_derive(out, key, hello, hello_len, chal, chal_len, pk, pk_len);
}

static void honest(const world_t *w, bn__hs_t *ini, bn__hs_t *acc)
{
    FUZZ_CHECK(derive_clone(&w->ini, ini, cookie_key, w->hello, w->hello_len, w->chal, w->chal_len,
                            w->acc.pk, sizeof(w->acc.pk)) == 0,
               "honest derive (dialler)");
    FUZZ_CHECK(derive_clone(&w->acc, acc, cookie_key, w->hello, w->hello_len, w->chal, w->chal_len,
                            w->ini.pk, sizeof(w->ini.pk)) == 0,
               "honest derive (acceptor)");
}

/* Seals and checks that it opens at the other side: true if it did. */
static bool try_pair(bn__hs_t *tx, bn__hs_t *rx, const uint8_t *plain, size_t len)
{
    uint8_t sealed[256];
    uint8_t out[256];
    FUZZ_CHECK(len + BN__HS_ABYTES <= sizeof(sealed), "plaintext fits");
    bn__hs_seal(tx, plain, len, sealed);
    long n = bn__hs_open(rx, sealed, len + BN__HS_ABYTES, out);
    if (n < 0) {
        return false;
    }
    FUZZ_CHECK(n == (long)len && memcmp(out, plain, len) == 0, "opened to other bytes");
    return true;
}

/* ---- fixed checks ------------------------------------------------------- */

static void fixed_checks(void)
{
    uint8_t k[BN__HS_KEY_BYTES];
    FUZZ_CHECK(bn__hs_cookie_key("", k) == -1, "empty cookie has a key");
    FUZZ_CHECK(bn__hs_cookie_key("fifteen-bytes!!", k) == -1, "15-byte cookie has a key");
    FUZZ_CHECK(bn__hs_cookie_key(other_cookie, other_key) == 0, "cookie key (other)");
    FUZZ_CHECK(bn__hs_cookie_key(cookie, cookie_key) == 0, "cookie key");
    FUZZ_CHECK(bn__hs_cookie_key(cookie, k) == 0 && memcmp(k, cookie_key, sizeof(k)) == 0,
               "cookie key not stable");
    FUZZ_CHECK(memcmp(cookie_key, other_key, sizeof(k)) != 0, "two cookies, one key");

    world_t w;
    world_init(&w, 99);
    bn__hs_t ini, acc, x;
    honest(&w, &ini, &acc);
    FUZZ_CHECK(try_pair(&ini, &acc, w.ident_d, w.ident_d_len), "honest proof does not open");
    FUZZ_CHECK(try_pair(&acc, &ini, w.ident_a, w.ident_a_len), "honest answer does not open");

    /* A dialler with another cookie. */
    honest(&w, &ini, &acc);
    FUZZ_CHECK(derive_clone(&w.ini, &x, other_key, w.hello, w.hello_len, w.chal, w.chal_len,
                            w.acc.pk, sizeof(w.acc.pk)) == 0,
               "derive (other cookie)");
    FUZZ_CHECK(!try_pair(&x, &acc, w.ident_d, w.ident_d_len),
               "a proof under another cookie opened");

    /* The honest Hello and proof replayed to a fresh acceptor: its new
     * Challenge changes the keys. */
    honest(&w, &ini, &acc);
    uint8_t proof[256];
    bn__hs_seal(&ini, w.ident_d, w.ident_d_len, proof);
    bn__hs_t acc2;
    bn__hs_init(&acc2, false);
    bn__hs_keygen(&acc2);
    uint8_t chal2[128];
    size_t chal2_len = encode_keys(BN__MSG_CHALLENGE, &acc2, chal2, sizeof(chal2));
    FUZZ_CHECK(bn__hs_derive(&acc2, cookie_key, w.hello, w.hello_len, chal2, chal2_len, w.ini.pk,
                             sizeof(w.ini.pk)) == 0,
               "derive (fresh acceptor)");
    uint8_t out[256];
    FUZZ_CHECK(bn__hs_open(&acc2, proof, w.ident_d_len + BN__HS_ABYTES, out) == -1,
               "a replayed handshake opened at a fresh acceptor");
    FUZZ_CHECK(bn__hs_open(&acc, proof, w.ident_d_len + BN__HS_ABYTES, out) == (long)w.ident_d_len,
               "the proof does not open at its own acceptor");

    /* Open before derive; derive before keygen. */
    bn__hs_t raw;
    bn__hs_init(&raw, false);
    FUZZ_CHECK(bn__hs_open(&raw, proof, w.ident_d_len + BN__HS_ABYTES, out) == -1,
               "open before derive");
    /* Its keys are all zero: a frame sealed under them must not open
     * either. */
    bn__hs_t zero;
    bn__hs_init(&zero, true);
    zero.derived = true;
    bn__hs_seal(&zero, w.ident_d, w.ident_d_len, proof);
    FUZZ_CHECK(bn__hs_open(&raw, proof, w.ident_d_len + BN__HS_ABYTES, out) == -1,
               "open before derive accepted a frame sealed under the zero key");
    FUZZ_CHECK(bn__hs_derive(&raw, cookie_key, w.hello, w.hello_len, w.chal, w.chal_len, w.ini.pk,
                             sizeof(w.ini.pk)) == -1,
               "derive before keygen");
    bn__hs_wipe(&ini);
    bn__hs_wipe(&acc);
    bn__hs_wipe(&acc2);
    bn__hs_wipe(&x);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (randombytes_set_implementation(&rng_impl) != 0 || sodium_init() < 0) {
        abort();
    }
    fixed_checks();
    return 0;
}

/* ---- case 0: the proof -------------------------------------------------- */

static void case_proof(const world_t *w, const uint8_t *in, size_t len)
{
    bn__hs_t ini, acc;
    honest(w, &ini, &acc);
    uint8_t proof[256];
    size_t plen = w->ident_d_len + BN__HS_ABYTES;
    bn__hs_seal(&ini, w->ident_d, w->ident_d_len, proof);
    uint8_t *out = malloc(len + 1);
    long n = bn__hs_open(&acc, in, len, out);
    bool genuine = len == plen && memcmp(in, proof, plen) == 0;
    FUZZ_CHECK((n >= 0) == genuine, "an input opened iff it is the genuine proof");
    if (genuine) {
        FUZZ_CHECK(n == (long)w->ident_d_len && memcmp(out, w->ident_d, (size_t)n) == 0,
                   "the proof opened to other bytes");
    } else {
        /* The refusal did not move the counter. */
        uint8_t back[256];
        FUZZ_CHECK(bn__hs_open(&acc, proof, plen, back) == (long)w->ident_d_len,
                   "a refused frame moved the receive counter");
    }
    free(out);
    bn__hs_wipe(&ini);
    bn__hs_wipe(&acc);
}

/* ---- case 1: the transcript --------------------------------------------- */

/* Applies an edit list (see the file header) to buf[0..*len), cap bytes. */
static void apply_edits(uint8_t *buf, size_t *len, size_t cap, const uint8_t *e, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        if (*len > 0) {
            buf[e[i] % *len] ^= e[i + 1];
        }
    }
    if (i < n) {
        uint8_t b = e[i];
        size_t k = b & 63u;
        if (b & 0x80u) {
            while (k-- > 0 && *len < cap) {
                buf[(*len)++] = b;
            }
        } else {
            *len = k < *len ? *len - k : 0;
        }
    }
}

/* The public key a side takes from a rewritten Hello or Challenge: the
 * kx_public field if the bytes decode as that message, else the first
 * bytes of the input (any length: derive must cope). */
static size_t peer_key(const uint8_t *body, size_t len, bn__msg_type_t want, uint8_t *pk)
{
    bn__msg_t m;
    size_t n;
    if (bn__codec_decode(body, len, &m) == BN__DEC_OK && m.type == want) {
        n = m.u.hello.kx_pk.len < 64 ? m.u.hello.kx_pk.len : 64;
        if (n > 0) {
            memcpy(pk, m.u.hello.kx_pk.data, n);
        }
        bn__msg_free(&m);
        return n;
    }
    if (m.pb != NULL || m.scratch != NULL) {
        bn__msg_free(&m);
    }
    n = len < 40 ? len : 40;
    if (n > 0) {
        memcpy(pk, body, n);
    }
    return n;
}

static void case_transcript(const world_t *w, const uint8_t *in, size_t len)
{
    if (len < 2) {
        return;
    }
    uint8_t flags = in[0];
    size_t split = (size_t)in[1] * (len - 2) / 255;
    const uint8_t *p1 = in + 2;
    size_t n1 = split;
    const uint8_t *p2 = in + 2 + split;
    size_t n2 = len - 2 - split;

    uint8_t hello[512];
    size_t hello_len = w->hello_len;
    memcpy(hello, w->hello, hello_len);
    uint8_t chal[512];
    size_t chal_len = w->chal_len;
    memcpy(chal, w->chal, chal_len);
    if (flags & 1u) {
        if (flags & 4u) {
            hello_len = n1 < sizeof(hello) ? n1 : sizeof(hello);
            memcpy(hello, p1, hello_len);
        } else {
            apply_edits(hello, &hello_len, sizeof(hello), p1, n1);
        }
    }
    if (flags & 2u) {
        if (flags & 4u) {
            chal_len = n2 < sizeof(chal) ? n2 : sizeof(chal);
            memcpy(chal, p2, chal_len);
        } else {
            apply_edits(chal, &chal_len, sizeof(chal), p2, n2);
        }
    }
    /* What each side takes as its peer's key. */
    uint8_t pk_a[64]; /* the acceptor's view of the dialler's key */
    size_t pk_a_len = sizeof(w->ini.pk);
    memcpy(pk_a, w->ini.pk, pk_a_len);
    if (flags & 1u) {
        pk_a_len = peer_key(hello, hello_len, BN__MSG_HELLO, pk_a);
    }
    uint8_t pk_d[64]; /* the dialler's view of the acceptor's key */
    size_t pk_d_len = sizeof(w->acc.pk);
    memcpy(pk_d, w->acc.pk, pk_d_len);
    if (flags & 2u) {
        pk_d_len = peer_key(chal, chal_len, BN__MSG_CHALLENGE, pk_d);
    }

    /* The acceptor derives from the Hello it received and the Challenge it
     * sent; the dialler from the Hello it sent and the Challenge it got. */
    bn__hs_t acc, ini;
    int ra = derive_clone(&w->acc, &acc, cookie_key, hello, hello_len, w->chal, w->chal_len, pk_a,
                          pk_a_len);
    int rd = derive_clone(&w->ini, &ini, cookie_key, w->hello, w->hello_len, chal, chal_len, pk_d,
                          pk_d_len);
    if (pk_a_len != crypto_kx_PUBLICKEYBYTES) {
        FUZZ_CHECK(ra == -1, "a peer key of the wrong length derived (acceptor)");
    }
    if (pk_d_len != crypto_kx_PUBLICKEYBYTES) {
        FUZZ_CHECK(rd == -1, "a peer key of the wrong length derived (dialler)");
    }
    if (ra == 0 && rd == 0) {
        bool same = hello_len == w->hello_len && memcmp(hello, w->hello, hello_len) == 0 &&
                    chal_len == w->chal_len && memcmp(chal, w->chal, chal_len) == 0 &&
                    pk_a_len == sizeof(w->ini.pk) && memcmp(pk_a, w->ini.pk, pk_a_len) == 0 &&
                    pk_d_len == sizeof(w->acc.pk) && memcmp(pk_d, w->acc.pk, pk_d_len) == 0;
        bool proof = try_pair(&ini, &acc, w->ident_d, w->ident_d_len);
        FUZZ_CHECK(proof == same, "the dialler's proof opened iff the transcript is honest");
        bool answer = try_pair(&acc, &ini, w->ident_a, w->ident_a_len);
        FUZZ_CHECK(answer == same, "the acceptor's answer opened iff the transcript is honest");
    }
    if (ra == 0) {
        /* A rewritten view never opens the honest dialler's proof. */
        bn__hs_t hini, hacc;
        honest(w, &hini, &hacc);
        bool same_a = hello_len == w->hello_len && memcmp(hello, w->hello, hello_len) == 0 &&
                      pk_a_len == sizeof(w->ini.pk) && memcmp(pk_a, w->ini.pk, pk_a_len) == 0;
        bn__hs_t acc2;
        FUZZ_CHECK(derive_clone(&w->acc, &acc2, cookie_key, hello, hello_len, w->chal, w->chal_len,
                                pk_a, pk_a_len) == 0,
                   "derive is not deterministic");
        FUZZ_CHECK(try_pair(&hini, &acc2, w->ident_d, w->ident_d_len) == same_a,
                   "the honest proof opened under a rewritten Hello");
        bn__hs_wipe(&hini);
        bn__hs_wipe(&hacc);
        bn__hs_wipe(&acc2);
    }
    bn__hs_wipe(&acc);
    bn__hs_wipe(&ini);
}

/* ---- case 2: the sealed stream ------------------------------------------ */

#define STREAM_MAX 48
#define PLAIN_MAX 64

typedef struct {
    uint8_t plain[STREAM_MAX][PLAIN_MAX];
    size_t plain_len[STREAM_MAX];
    uint8_t sealed[STREAM_MAX][PLAIN_MAX + BN__HS_ABYTES];
    size_t n;    /* frames sealed by the dialler (counters 0..n-1) */
    size_t next; /* the next sealed frame the attacker has not yet used */
    size_t r;    /* model: the receiver's counter */
} stream_t;

/* The dialler seals one more frame, if there is room. */
static bool produce(bn__hs_t *ini, stream_t *s)
{
    if (s->n == STREAM_MAX) {
        return false;
    }
    size_t k = s->n;
    size_t len = 1 + (k * 13) % PLAIN_MAX;
    for (size_t i = 0; i < len; i++) {
        s->plain[k][i] = (uint8_t)(k * 31 + i);
    }
    s->plain_len[k] = len;
    bn__hs_seal(ini, s->plain[k], len, s->sealed[k]);
    s->n++;
    return true;
}

/* The receiver gets blob: the model says whether it must open. */
static void deliver(bn__hs_t *acc, stream_t *s, const uint8_t *blob, size_t len)
{
    uint8_t out[512];
    bool expect = s->r < s->n && len == s->plain_len[s->r] + BN__HS_ABYTES &&
                  memcmp(blob, s->sealed[s->r], len) == 0;
    long n = len <= sizeof(out) ? bn__hs_open(acc, blob, len, out) : -1;
    FUZZ_CHECK((n >= 0) == expect, "the receiver disagrees with the counter-nonce model");
    if (n >= 0) {
        FUZZ_CHECK(n == (long)s->plain_len[s->r] && memcmp(out, s->plain[s->r], (size_t)n) == 0,
                   "a frame opened to other bytes");
        s->r++;
    }
}

static void case_stream(const world_t *w, const uint8_t *in, size_t len)
{
    bn__hs_t ini, acc;
    honest(w, &ini, &acc);
    stream_t *s = calloc(1, sizeof(*s));
    FUZZ_CHECK(s != NULL, "alloc");
    size_t i = 0;
    while (i < len) {
        uint8_t b = in[i++];
        unsigned op = b % 8u;
        unsigned arg = b / 8u;
        /* The attacker can only use frames the dialler has sent. */
        while (s->next + 2 > s->n && produce(&ini, s)) {
        }
        switch (op) {
        case 0:
        case 1: /* forward */
            if (s->next < s->n) {
                deliver(&acc, s, s->sealed[s->next], s->plain_len[s->next] + BN__HS_ABYTES);
                s->next++;
            }
            break;
        case 2: /* replay a frame already used */
            if (s->next > 0) {
                size_t k = arg % s->next;
                deliver(&acc, s, s->sealed[k], s->plain_len[k] + BN__HS_ABYTES);
            }
            break;
        case 3: /* flip one bit of the next frame and forward it */
            if (s->next < s->n) {
                uint8_t f[PLAIN_MAX + BN__HS_ABYTES];
                size_t fl = s->plain_len[s->next] + BN__HS_ABYTES;
                memcpy(f, s->sealed[s->next], fl);
                f[(arg * 7u) % fl] ^= (uint8_t)(1u << (arg % 8u));
                deliver(&acc, s, f, fl);
            }
            break;
        case 4: { /* inject arg attacker bytes */
            size_t k = arg < len - i ? arg : len - i;
            deliver(&acc, s, in + i, k);
            i += k;
            break;
        }
        case 5: /* drop the next frame */
            if (s->next < s->n) {
                s->next++;
            }
            break;
        case 6: /* reorder: the frame after the next one */
            if (s->next + 1 < s->n) {
                deliver(&acc, s, s->sealed[s->next + 1], s->plain_len[s->next + 1] + BN__HS_ABYTES);
            }
            break;
        default: /* reflect a used frame back to its sender */
            if (s->next > 0) {
                size_t k = arg % s->next;
                uint8_t out[512];
                FUZZ_CHECK(bn__hs_open(&ini, s->sealed[k], s->plain_len[k] + BN__HS_ABYTES, out) ==
                               -1,
                           "a frame reflected to its sender opened");
            }
            break;
        }
    }
    free(s);
    bn__hs_wipe(&ini);
    bn__hs_wipe(&acc);
}

/* ---- case 3: round trip ------------------------------------------------- */

static void case_roundtrip(const world_t *w, const uint8_t *in, size_t len)
{
    bn__hs_t ini, acc;
    honest(w, &ini, &acc);
    size_t slen = len + BN__HS_ABYTES;
    uint8_t *s1 = malloc(slen + 1);
    uint8_t *s2 = malloc(slen + 1);
    uint8_t *plain = malloc(slen + 1);
    FUZZ_CHECK(s1 != NULL && s2 != NULL && plain != NULL, "alloc");
    bn__hs_seal(&ini, in, len, s1);
    bn__hs_seal(&ini, in, len, s2);
    FUZZ_CHECK(memcmp(s1, s2, slen) != 0, "two seals of one plaintext are equal (nonce reuse)");
    long n = bn__hs_open(&acc, s1, slen, plain);
    FUZZ_CHECK(n == (long)len && memcmp(plain, in, len) == 0, "seal/open round trip");
    /* Now at counter 1: every variant of s2 but s2 itself fails. */
    size_t pos = (size_t)(fuzz_fnv(0, in, len) % slen);
    s2[pos] ^= 0x80;
    FUZZ_CHECK(bn__hs_open(&acc, s2, slen, plain) == -1, "a flipped frame opened");
    s2[pos] ^= 0x80;
    FUZZ_CHECK(bn__hs_open(&acc, s2, slen - 1, plain) == -1, "a truncated frame opened");
    s2[slen] = 0;
    FUZZ_CHECK(bn__hs_open(&acc, s2, slen + 1, plain) == -1, "an extended frame opened");
    FUZZ_CHECK(bn__hs_open(&acc, s1, slen, plain) == -1, "a replayed frame opened");
    n = bn__hs_open(&acc, s2, slen, plain);
    FUZZ_CHECK(n == (long)len && memcmp(plain, in, len) == 0, "second frame round trip");
    free(s1);
    free(s2);
    free(plain);
    bn__hs_wipe(&ini);
    bn__hs_wipe(&acc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    world_t w;
    unsigned sel = data[0] % 4u;
    world_init(&w, sel);
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    switch (sel) {
    case 0:
        case_proof(&w, in, len);
        break;
    case 1:
        case_transcript(&w, in, len);
        break;
    case 2:
        case_stream(&w, in, len);
        break;
    default:
        case_roundtrip(&w, in, len);
        break;
    }
    bn__hs_wipe(&w.ini);
    bn__hs_wipe(&w.acc);
    return 0;
}
