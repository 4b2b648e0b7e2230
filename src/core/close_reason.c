/* Names and layers of the close reasons (core/close_reason.h). */
#include "core/close_reason.h"

static const struct {
    const char *name;
    unsigned layers;
} reasons[] = {
#define BN_CLOSE_ROW(name, str, layers) {str, layers},
    BN_CLOSE_REASON_MAP(BN_CLOSE_ROW)
#undef BN_CLOSE_ROW
};

const char *bn_close_reason_name(bn_close_reason_t r)
{
    return (unsigned)r < BN_CLOSE__COUNT ? reasons[r].name : "unknown";
}

bool bn_close_reason_in(bn_close_reason_t r, unsigned layer)
{
    return (unsigned)r < BN_CLOSE__COUNT && (reasons[r].layers & layer) != 0;
}
