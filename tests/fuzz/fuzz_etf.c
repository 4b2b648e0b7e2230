/* Fuzzes the Erlang External Term Format codec (src/channel/etf.c).
 *
 * Input: a complete term_to_binary() output (version byte 131 first).
 * Oracle when bn_etf_decode accepts it (j = decode(input)):
 *  - e = bn_etf_encode(j) succeeds (everything the decoder produces is in
 *    the encoder's subset, including the nesting limit);
 *  - j2 = bn_etf_decode(e) succeeds and fuzz_json_equal(j, j2);
 *  - bn_etf_encode(j2) is byte-identical to e (the encoding is canonical).
 * What does NOT hold and is not checked: decode(encode(x)) == x at the byte
 * level for the input itself, because the decoder maps several input forms
 * to one JSON value: tuples and lists (and STRING_EXT) all become arrays,
 * atoms and binaries both become strings (true/false/nil become JSON
 * literals), and integers may arrive as SMALL_INTEGER, INTEGER or a bignum
 * with leading zero digits. The second decode therefore compares arrays
 * with arrays, and so on. */
#include <string.h>

#include "auth/etf.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = NULL;
    if (bn_etf_decode(data, size, &j) != 0) {
        return 0;
    }
    FUZZ_CHECK(j != NULL, "decode succeeded without a value");

    uint8_t *e = NULL;
    size_t elen = 0;
    FUZZ_CHECK(bn_etf_encode(j, &e, &elen) == 0, "a decoded value does not encode");
    FUZZ_CHECK(elen >= 2 && e[0] == 131, "encoding lacks the version byte");

    json_t *j2 = NULL;
    FUZZ_CHECK(bn_etf_decode(e, elen, &j2) == 0, "the encoder's output does not decode");
    FUZZ_CHECK(fuzz_json_equal(j, j2), "decode(encode(decode(x))) != decode(x)");

    uint8_t *e2 = NULL;
    size_t e2len = 0;
    FUZZ_CHECK(bn_etf_encode(j2, &e2, &e2len) == 0, "re-encoding failed");
    FUZZ_CHECK(e2len == elen && memcmp(e, e2, elen) == 0, "encoding is not canonical");

    /* The term decoder without the version byte reads the same term. */
    size_t pos = 1;
    json_t *j3 = NULL;
    FUZZ_CHECK(bn__etf_decode_term(e, elen, &pos, &j3) == 0 && pos == elen,
               "bn__etf_decode_term disagrees with bn_etf_decode");
    FUZZ_CHECK(fuzz_json_equal(j, j3), "bn__etf_decode_term value differs");

    json_decref(j3);
    free(e2);
    json_decref(j2);
    free(e);
    json_decref(j);
    return 0;
}
