#include "bennu/version.h"

unsigned int bn_version(void)
{
    return BN_VERSION_HEX;
}

const char *bn_version_string(void)
{
    return BN_VERSION_STRING;
}
