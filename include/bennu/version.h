/* The library's version. CMakeLists.txt reads the project version from the
 * three numbers below, so this file is the only place to change it. */
#ifndef BENNU_VERSION_H
#define BENNU_VERSION_H

#include "bennu/export.h"

#define BN_VERSION_MAJOR 0
#define BN_VERSION_MINOR 1
#define BN_VERSION_PATCH 0

#define BN_VERSION_STR_(x) #x
#define BN_VERSION_STR(x) BN_VERSION_STR_(x)
/* "MAJOR.MINOR.PATCH" */
#define BN_VERSION_STRING            \
    BN_VERSION_STR(BN_VERSION_MAJOR) \
    "." BN_VERSION_STR(BN_VERSION_MINOR) "." BN_VERSION_STR(BN_VERSION_PATCH)
/* 0xMMmmpp, for comparisons in the preprocessor. */
#define BN_VERSION_HEX ((BN_VERSION_MAJOR << 16) | (BN_VERSION_MINOR << 8) | BN_VERSION_PATCH)
/* The name the bennu binary has always used. */
#define BN_VERSION BN_VERSION_STRING

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually linked, which may differ from the
 * headers compiled against (shared library): BN_VERSION_HEX and
 * BN_VERSION_STRING at the time libbennu was built. */
BN_EXTERN unsigned int bn_version(void);
BN_EXTERN const char *bn_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
