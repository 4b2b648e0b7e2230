/* Serializer negotiation from the `vsn` connect param (PROTOCOL.md 1.3). */
#include "protocol/message.h"

#include <string.h>

/* Phoenix matches vsn against "~> 1.0.0" and "~> 2.0.0", i.e. exactly
 * "<major>.0.<patch>". We accept only a plain decimal patch: pre-release and
 * build suffixes are refused, which keeps the check strict and simple. */
static int match_major(const char *vsn, char major)
{
    if (vsn[0] != major || vsn[1] != '.' || vsn[2] != '0' || vsn[3] != '.') {
        return 0;
    }
    const char *p = vsn + 4;
    if (*p == '\0') {
        return 0;
    }
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }
    return 1;
}

int bn_vsn_parse(const char *vsn)
{
    if (vsn == NULL) {
        return BN_VSN_1;
    }
    if (strlen(vsn) < 5) {
        return -1;
    }
    if (match_major(vsn, '1')) {
        return BN_VSN_1;
    }
    if (match_major(vsn, '2')) {
        return BN_VSN_2;
    }
    return -1;
}
