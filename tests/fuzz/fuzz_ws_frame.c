/* Fuzzes the WebSocket frame parser, the UTF-8 validator and the handshake
 * key helper (src/transport/ws/).
 *
 * Input: byte 0 chooses a split position; the rest is client wire bytes.
 * Oracles:
 *  - feeding the bytes in one call and in two calls (split at the chosen
 *    position) must give the same result code and the same event sequence
 *    (kinds, lengths, close codes and payload bytes);
 *  - every TEXT event and every close reason is valid UTF-8;
 *  - bn_utf8_valid agrees with bn_utf8_feed run over the same bytes in two
 *    pieces, and REJECT is sticky;
 *  - bn_ws_accept_key either refuses (output untouched) or returns exactly
 *    base64(SHA-1(key + GUID)), recomputed here with libcrypto. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "fuzz_common.h"
#include "transport/ws/ws.h"

typedef struct {
    uint64_t hash;
    size_t events;
} ev_log_t;

static int on_event(void *ud, bn_ws_event_t ev, uint8_t *data, size_t len, uint16_t code)
{
    ev_log_t *log = ud;
    if (ev == BN_WS_EV_TEXT || ev == BN_WS_EV_CLOSE) {
        FUZZ_CHECK(bn_utf8_valid(data, len), "text message / close reason not UTF-8");
    }
    if (ev == BN_WS_EV_PING || ev == BN_WS_EV_PONG || ev == BN_WS_EV_CLOSE) {
        FUZZ_CHECK(len <= 125, "control payload over 125 bytes");
    }
    uint32_t kind = (uint32_t)ev;
    uint64_t n = len;
    log->hash = fuzz_fnv(log->hash, &kind, sizeof kind);
    log->hash = fuzz_fnv(log->hash, &n, sizeof n);
    log->hash = fuzz_fnv(log->hash, &code, sizeof code);
    if (len > 0) {
        log->hash = fuzz_fnv(log->hash, data, len);
    }
    log->events++;
    return 0;
}

static int run_parser(const uint8_t *in, size_t n, size_t split, ev_log_t *log)
{
    /* Small limits so the 1009 paths and reassembly are reachable. */
    static const bn_ws_limits_t limits = {.max_frame = 300, .max_message = 700};
    uint8_t *buf = malloc(n > 0 ? n : 1);
    FUZZ_CHECK(buf != NULL, "malloc");
    if (n > 0) {
        memcpy(buf, in, n);
    }
    bn_ws_parser_t p;
    bn_ws_parser_init(&p, &limits);
    int rc = bn_ws_parser_feed(&p, buf, split, on_event, log);
    if (rc == 0) {
        rc = bn_ws_parser_feed(&p, buf + split, n - split, on_event, log);
    }
    if (rc == 0) {
        /* Held bytes: at most one incomplete frame header+payload plus the
         * fragmented message so far. */
        FUZZ_CHECK(bn_ws_parser_held(&p) <= 14 + limits.max_frame + limits.max_message,
                   "parser holds more than its limits allow");
    }
    bn_ws_parser_free(&p);
    free(buf);
    return rc;
}

static void check_utf8(const uint8_t *s, size_t n, size_t split)
{
    bool whole = bn_utf8_valid(s, n);
    uint32_t st = bn_utf8_feed(BN_UTF8_ACCEPT, s, split);
    uint32_t st2 = bn_utf8_feed(st, s + split, n - split);
    FUZZ_CHECK(whole == (st2 == BN_UTF8_ACCEPT), "bn_utf8_valid disagrees with bn_utf8_feed");
    if (st == BN_UTF8_REJECT) {
        FUZZ_CHECK(st2 == BN_UTF8_REJECT, "BN_UTF8_REJECT is not sticky");
    }
    uint32_t st1 = bn_utf8_feed(BN_UTF8_ACCEPT, s, n);
    FUZZ_CHECK(st1 == st2, "one-piece and two-piece bn_utf8_feed differ");
}

static void check_accept_key(const uint8_t *key, size_t n)
{
    char out[29];
    memset(out, 'Z', sizeof out);
    int rc = bn_ws_accept_key((const char *)key, n, out);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1, "accept_key returned neither 0 nor -1");
        for (size_t i = 0; i < sizeof out; i++) {
            FUZZ_CHECK(out[i] == 'Z', "accept_key wrote output on refusal");
        }
        return;
    }
    FUZZ_CHECK(n == 24 && key[22] == '=' && key[23] == '=',
               "accepted a key that is not 24 chars ending ==");
    /* Recompute independently. */
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t cat[24 + sizeof guid];
    memcpy(cat, key, 24);
    memcpy(cat + 24, guid, sizeof guid - 1);
    uint8_t md[SHA_DIGEST_LENGTH];
    SHA1(cat, 24 + sizeof guid - 1, md);
    unsigned char expect[33];
    int elen = EVP_EncodeBlock(expect, md, sizeof md);
    FUZZ_CHECK(elen == 28, "EVP_EncodeBlock length");
    FUZZ_CHECK(memcmp(out, expect, 28) == 0 && out[28] == '\0',
               "accept key differs from SHA-1/base64");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    size_t split = n == 0 ? 0 : (size_t)data[0] * n / 255;
    if (split > n) {
        split = n;
    }

    ev_log_t whole = {0, 0}, parts = {0, 0};
    int rc_whole = run_parser(in, n, n, &whole);
    int rc_parts = run_parser(in, n, split, &parts);
    FUZZ_CHECK(rc_whole == rc_parts, "split feed changes the parser's result");
    FUZZ_CHECK(whole.events == parts.events && whole.hash == parts.hash,
               "split feed changes the event sequence");
    FUZZ_CHECK(rc_whole == 0 || rc_whole == 1002 || rc_whole == 1007 || rc_whole == 1009 ||
                   rc_whole == 1011,
               "feed returned an undocumented close code");

    check_utf8(in, n, split);
    check_accept_key(in, n);
    return 0;
}
