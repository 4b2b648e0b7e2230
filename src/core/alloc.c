/* The abort-on-OOM helpers declared in core/alloc.h. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "bennu/log.h"

static bn__alloc_fail_fn fail_hook;

void bn__alloc_set_fail_hook(bn__alloc_fail_fn fn)
{
    fail_hook = fn;
}

void bn_oom(size_t size)
{
    if (fail_hook != NULL) {
        fail_hook(size);
    }
    BN_LOG(ERROR, "oom", "size=%zu", size);
    abort();
}

void *bn__xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        bn_oom(n);
    }
    return p;
}

void *bn__xcalloc(size_t n, size_t size)
{
    /* calloc(0, x) may return NULL on success: ask for one element. */
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        bn_oom(size);
    }
    return p;
}

void *bn__xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        bn_oom(n);
    }
    return q;
}

char *bn__xstrndup(const char *s, size_t n)
{
    char *d = bn__xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *bn__xstrdup(const char *s)
{
    return bn__xstrndup(s, strlen(s));
}
