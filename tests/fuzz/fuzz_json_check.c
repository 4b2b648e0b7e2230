/* Fuzzes bn_json_valid (src/core/json_check.c), the allocation-free check of
 * JSON payloads that arrive from mesh peers. Oracle: it agrees with jansson
 * (the parser of the client path) on every input, so nothing a peer sends
 * passes the check that a client-side parse would refuse, and nothing valid
 * is dropped. Inputs with NUL bytes are compared with JSON_ALLOW_NUL, since
 * the check works on lengths; where jansson treats a NUL byte as the end
 * of the text, only "we accept => jansson accepts" is checked. */
#include <string.h>

#include "core/json_check.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool ours = bn_json_valid((const char *)data, size);
    json_error_t err;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    bool theirs = j != NULL;
    json_decref(j);
    if (memchr(data, 0, size) != NULL) {
        /* jansson stops at a NUL byte outside a string and ignores what
         * follows ("5\0x" parses); JSON has no such rule, so only one way
         * is checked: what we accept, jansson accepts. */
        FUZZ_CHECK(!ours || theirs, "bn_json_valid accepts nothing jansson refuses");
        return 0;
    }
    /* Where jansson refuses valid JSON for its own reasons: its depth
     * limit counts differently, it refuses lone \uD800-style escapes (which
     * JSON.parse accepts) and numbers a double or an int64 cannot hold. */
    static const char *const jansson_only[] = {"depth", "invalid Unicode", "overflow", "too big"};
    if (!theirs && ours) {
        for (size_t i = 0; i < sizeof(jansson_only) / sizeof(jansson_only[0]); i++) {
            if (strstr(err.text, jansson_only[i]) != NULL) {
                return 0;
            }
        }
    }
    FUZZ_CHECK(ours == theirs, "bn_json_valid agrees with jansson");
    return 0;
}
