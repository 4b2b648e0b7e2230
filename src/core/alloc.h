/* One out-of-memory policy for the library.
 *
 * Where an allocation failure leaves no sensible way to continue (the mesh's
 * node and link tables, its frame buffers, presence state: a half-applied
 * update would make the cluster's view inconsistent), the code calls the
 * bn_x* helpers below: they never return NULL; on failure they log one
 * ERROR line ("oom", with the size asked for) and abort.
 *
 * Where a failure can be confined to one client or one request, the code
 * keeps using malloc/calloc and returns -1 (or a UV_ENOMEM/an error reply):
 * per-connection buffers and write queues (the connection is closed), the
 * channel layer's per-message work (the message is dropped with an error
 * reply), config parsing (the call fails). docs/NOTES.md lists the split.
 *
 * Tests: bn__alloc_set_fail_hook replaces the abort, so a unit test can
 * longjmp out of it; with UNIT_TESTING defined when this header is included,
 * the helpers route to cmocka's checked allocator (_test_malloc and friends),
 * whose blocks the same translation unit must free with test_free. */
#ifndef BN_CORE_ALLOC_H
#define BN_CORE_ALLOC_H

#include <stddef.h>

/* Called with the size that could not be allocated; must not return. */
typedef void (*bn__alloc_fail_fn)(size_t size);

/* Replaces the log-and-abort failure path (NULL restores it). For tests. */
void bn__alloc_set_fail_hook(bn__alloc_fail_fn fn);
/* Logs and aborts (or calls the hook). */
#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void bn_oom(size_t size);

void *bn__xmalloc(size_t n);
void *bn__xcalloc(size_t n, size_t size);
void *bn__xrealloc(void *p, size_t n);
char *bn__xstrdup(const char *s);
/* n bytes of s and a NUL. */
char *bn__xstrndup(const char *s, size_t n);

#ifdef UNIT_TESTING
void *_test_malloc(size_t size, const char *file, int line);
void *_test_calloc(size_t n, size_t size, const char *file, int line);
void *_test_realloc(void *p, size_t size, const char *file, int line);
static inline void *bn__xcheck(void *p, size_t size)
{
    if (p == NULL) {
        bn_oom(size);
    }
    return p;
}
#define bn_xmalloc(n) bn__xcheck(_test_malloc((n), __FILE__, __LINE__), (n))
#define bn_xcalloc(n, s) bn__xcheck(_test_calloc((n) ? (n) : 1, (s), __FILE__, __LINE__), (s))
#define bn_xrealloc(p, n) bn__xcheck(_test_realloc((p), (n), __FILE__, __LINE__), (n))
#else
#define bn_xmalloc(n) bn__xmalloc(n)
#define bn_xcalloc(n, s) bn__xcalloc((n), (s))
#define bn_xrealloc(p, n) bn__xrealloc((p), (n))
#endif
#define bn_xstrdup(s) bn__xstrdup(s)
#define bn_xstrndup(s, n) bn__xstrndup((s), (n))

#endif
