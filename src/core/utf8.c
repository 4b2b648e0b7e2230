/* Strict UTF-8 validation (RFC 3629) for WebSocket text messages and close
 * reasons (RFC 6455 §5.6, §8.1) and for strings that arrive from mesh peers.
 *
 * The validator is a small state machine whose state fits in a uint32_t, so a
 * text message that arrives in fragments can be checked piece by piece (a code
 * point may straddle two fragments) and rejected at the first bad byte rather
 * than after the whole message has been buffered. The states name what the
 * next byte must be; the narrowed ranges after E0, ED, F0 and F4 are what
 * exclude overlong forms, UTF-16 surrogates (U+D800..U+DFFF) and code points
 * above U+10FFFF. */
#include <string.h>

#include "core/utf8.h"

enum {
    /* BN_UTF8_ACCEPT (0) and BN_UTF8_REJECT (1) come from utf8.h. */
    ST_NEED1 = 2, /* one continuation byte 80..BF to go */
    ST_NEED2,     /* two continuation bytes to go */
    ST_NEED3,     /* three continuation bytes to go */
    ST_E0,        /* after E0: A0..BF, else the 3-byte form is overlong */
    ST_ED,        /* after ED: 80..9F, else it encodes a surrogate */
    ST_F0,        /* after F0: 90..BF, else the 4-byte form is overlong */
    ST_F4,        /* after F4: 80..8F, else it is above U+10FFFF */
};

static inline int in_range(uint8_t c, uint8_t lo, uint8_t hi)
{
    return c >= lo && c <= hi;
}

static uint32_t step(uint32_t st, uint8_t c)
{
    switch (st) {
    case BN_UTF8_ACCEPT:
        if (c < 0x80) {
            return BN_UTF8_ACCEPT;
        }
        /* 80..BF cannot start a sequence; C0 and C1 only start overlong
         * two-byte forms of ASCII. */
        if (c < 0xC2) {
            return BN_UTF8_REJECT;
        }
        if (c < 0xE0) {
            return ST_NEED1;
        }
        if (c == 0xE0) {
            return ST_E0;
        }
        if (c == 0xED) {
            return ST_ED;
        }
        if (c < 0xF0) {
            return ST_NEED2;
        }
        if (c == 0xF0) {
            return ST_F0;
        }
        if (c < 0xF4) {
            return ST_NEED3;
        }
        if (c == 0xF4) {
            return ST_F4;
        }
        /* F5..FF would encode beyond U+10FFFF. */
        return BN_UTF8_REJECT;
    case ST_NEED1:
        return in_range(c, 0x80, 0xBF) ? BN_UTF8_ACCEPT : BN_UTF8_REJECT;
    case ST_NEED2:
        return in_range(c, 0x80, 0xBF) ? ST_NEED1 : BN_UTF8_REJECT;
    case ST_NEED3:
        return in_range(c, 0x80, 0xBF) ? ST_NEED2 : BN_UTF8_REJECT;
    case ST_E0:
        return in_range(c, 0xA0, 0xBF) ? ST_NEED1 : BN_UTF8_REJECT;
    case ST_ED:
        return in_range(c, 0x80, 0x9F) ? ST_NEED1 : BN_UTF8_REJECT;
    case ST_F0:
        return in_range(c, 0x90, 0xBF) ? ST_NEED2 : BN_UTF8_REJECT;
    case ST_F4:
        return in_range(c, 0x80, 0x8F) ? ST_NEED2 : BN_UTF8_REJECT;
    default:
        return BN_UTF8_REJECT;
    }
}

uint32_t bn_utf8_feed(uint32_t state, const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (state == BN_UTF8_REJECT) {
            return BN_UTF8_REJECT;
        }
        /* Phoenix payloads are JSON and mostly ASCII: skip eight-byte runs
         * without a high bit in one test. memcpy keeps the load aligned-safe. */
        if (state == BN_UTF8_ACCEPT) {
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, s + i, sizeof w);
                if (w & UINT64_C(0x8080808080808080)) {
                    break;
                }
                i += 8;
            }
            if (i == n) {
                break;
            }
        }
        state = step(state, s[i]);
        i++;
    }
    return state;
}

bool bn_utf8_valid(const uint8_t *s, size_t n)
{
    return bn_utf8_feed(BN_UTF8_ACCEPT, s, n) == BN_UTF8_ACCEPT;
}
