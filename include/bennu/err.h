/* Error codes. Functions report failure with a negative int: either one of
 * libuv's UV_E* codes, passed through unchanged (UV_EADDRINUSE from
 * bn_server_start, UV_EINVAL from bn_mesh_new, ...), or one of the Bennu
 * codes below, for failures libuv has no code for. The two never collide:
 * libuv's codes lie in [-4095, -1] on every platform, Bennu's in
 * [BN_ERR_MIN, BN_ERR_MAX] = [-30999, -30001]. bn_strerror and bn_err_name
 * describe both kinds.
 *
 * Functions documented as returning -1 keep doing so; the codes are what
 * newer API returns and what an embedder may use for its own errors. */
#ifndef BENNU_ERR_H
#define BENNU_ERR_H

#include "bennu/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, message): the code is BN_E<NAME>. Values are part of the
 * ABI: never renumber, only append. */
#define BN_ERRNO_MAP(X)                                                  \
    X(COOKIE, -30001, "cluster cookie missing or shorter than 16 bytes") \
    X(NODENAME, -30002, "invalid node name (expected name@host)")        \
    X(PATTERN, -30003, "invalid route pattern")                          \
    X(TOPIC, -30004, "invalid topic or event name")                      \
    X(PAYLOAD, -30005, "payload cannot be encoded for this socket")      \
    X(GONE, -30006, "connection or channel gone")                        \
    X(TABLEFULL, -30007, "table full")                                   \
    X(LIMIT, -30008, "configured limit reached")                         \
    X(STOPPING, -30009, "server or mesh is stopping")                    \
    X(NOPEER, -30010, "no such peer is up")

#define BN_ERR_MAX (-30001)
#define BN_ERR_MIN (-30999)
/* True for a code in Bennu's range (known to this version or not). */
#define BN_IS_BN_ERR(err) ((err) >= BN_ERR_MIN && (err) <= BN_ERR_MAX)

typedef enum {
#define BN_ERR_ENUM_(name, value, msg) BN_E##name = (value),
    BN_ERRNO_MAP(BN_ERR_ENUM_)
#undef BN_ERR_ENUM_
} bn_errno_t;

/* A message for err: Bennu's own for its codes, uv_strerror's for libuv's,
 * "success" for 0, "unknown error" otherwise. Never NULL, never allocates;
 * the string is static. */
BN_EXTERN const char *bn_strerror(int err);
/* The code's name: "BN_ECOOKIE" for Bennu codes, libuv's name ("EADDRINUSE")
 * for libuv codes, "OK" for 0, "UNKNOWN" otherwise. Static, never NULL. */
BN_EXTERN const char *bn_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif
