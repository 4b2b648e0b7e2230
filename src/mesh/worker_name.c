/* The naming convention of --workers: worker I of node "NAME@HOST" is the
 * mesh node "NAME-wI@HOST" (see src/app/workers.h). Pure string code. */
#include <stdio.h>
#include <string.h>

#include "bennu/mesh.h"

int bn_mesh_worker_name(const char *name, char *base, size_t cap)
{
    if (name == NULL) {
        return -1;
    }
    const char *at = strchr(name, '@');
    size_t local = at != NULL ? (size_t)(at - name) : strlen(name);
    /* Digits at the end of the local part, after "-w"; no leading zeros
     * (except "w0" itself) so the name maps to exactly one index. */
    size_t d = local;
    while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9') {
        d--;
    }
    size_t digits = local - d;
    if (digits == 0 || digits > 2 || d < 3 || name[d - 1] != 'w' || name[d - 2] != '-' ||
        (digits > 1 && name[d] == '0')) {
        return -1;
    }
    int index = 0;
    for (size_t i = d; i < local; i++) {
        index = index * 10 + (name[i] - '0');
    }
    if (base != NULL && cap > 0) {
        const char *host = at != NULL ? at : "";
        int n = snprintf(base, cap, "%.*s%s", (int)(d - 2), name, host);
        if (n < 0 || (size_t)n >= cap) {
            return -1;
        }
    }
    return index;
}
