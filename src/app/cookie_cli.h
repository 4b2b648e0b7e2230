/* The cluster cookie as the bennu binary handles it: the minimum length,
 * `bennu cookie new [FILE]`, and the checks on where the mesh may listen
 * with the public development cookie. */
#ifndef BN_APP_COOKIE_CLI_H
#define BN_APP_COOKIE_CLI_H

#include <stdbool.h>

/* The mesh refuses shorter cookies (src/mesh/handshake.c). */
#define BN_APP_COOKIE_MIN 16

/* `bennu cookie new [FILE]`: 32 random bytes as 43 base64url characters,
 * printed once, or written to FILE (created, never overwritten, mode 0600).
 * argv[0] is "cookie". Returns the exit code: 0, 1 (I/O), 2 (usage). */
int bn_app_cookie_cli(int argc, char **argv);

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool bn_app_is_loopback(const char *addr);

/* True for "ADDR" or "ADDR/BITS", IPv4 or IPv6 (what --mesh-allow takes). */
bool bn_app_cidr_valid(const char *s);

#endif
