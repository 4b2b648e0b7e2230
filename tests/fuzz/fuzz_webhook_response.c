/* Fuzzes the webhook client's response parser bn_wh_resp_feed
 * (src/app/webhook_http.c).
 *
 * Input: byte 0 chooses a cut point, byte 1 whether the peer then closes
 * (EOF); the rest is what the backend sent.
 * Oracle: the result never depends on how the bytes were split (whole vs
 * cut in two); a finished response's body never exceeds the limit and is
 * NUL-terminated; the bytes accepted never exceed body limit + header
 * allowance; nothing is accepted after a result. */
#include <string.h>

#include "app/webhook_http.h"
#include "fuzz_common.h"

#define LIMIT 256

static int run(const uint8_t *d, size_t n, size_t cut, bool eof, bn_wh_resp_t *r)
{
    bn_wh_resp_init(r, LIMIT);
    int rc = BN_WH_RESP_MORE;
    if (cut > 0 && cut < n) {
        rc = bn_wh_resp_feed(r, (const char *)d, cut);
        if (rc == BN_WH_RESP_MORE || rc == BN_WH_RESP_DONE) {
            rc = bn_wh_resp_feed(r, (const char *)d + cut, n - cut);
        }
    } else if (n > 0) {
        rc = bn_wh_resp_feed(r, (const char *)d, n);
    }
    if (eof && rc == BN_WH_RESP_MORE) {
        rc = bn_wh_resp_feed(r, NULL, 0);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t n = size - 2;
    const uint8_t *d = data + 2;
    size_t cut = n > 0 ? data[0] % (n + 1) : 0;
    bool eof = data[1] & 1;
    bn_wh_resp_t whole, split;
    int a = run(d, n, 0, eof, &whole);
    int b = run(d, n, cut, eof, &split);
    FUZZ_CHECK(a == b, "the result depends on the split");
    if (a == BN_WH_RESP_DONE) {
        FUZZ_CHECK(whole.status == split.status, "status depends on the split");
        FUZZ_CHECK(whole.body_len == split.body_len, "body length depends on the split");
        FUZZ_CHECK(whole.body_len <= LIMIT, "body over the limit");
        FUZZ_CHECK(whole.body_len == 0 || whole.body[whole.body_len] == '\0',
                   "body not terminated");
        FUZZ_CHECK(whole.body_len == 0 || memcmp(whole.body, split.body, whole.body_len) == 0,
                   "body depends on the split");
    }
    FUZZ_CHECK(whole.fed <= LIMIT + BN_WH_RESP_HEADER_MAX, "accepted more than the bound");
    bn_wh_resp_free(&whole);
    bn_wh_resp_free(&split);
    return 0;
}
