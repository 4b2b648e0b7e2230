/* Fuzzes the V1 JSON serializer (PROTOCOL.md 2.2); see fuzz_text_common.h. */
#include "fuzz_text_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_text_one(BN_VSN_1, data, size);
}
