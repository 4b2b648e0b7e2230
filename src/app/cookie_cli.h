/* The cluster cookie as the bennu binary handles it: the minimum length,
 * `bennu cookie new [FILE]`, and the checks on where the mesh may listen
 * with the public development cookie; with them the other command-line
 * value checks of addresses and origins. */
#ifndef BN_APP_COOKIE_CLI_H
#define BN_APP_COOKIE_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* The mesh refuses shorter cookies (src/mesh/handshake.c). */
#define BN_APP_COOKIE_MIN 16
/* The largest --cookie-file (trailing newline and blanks apart). */
#define BN_APP_COOKIE_FILE_MAX 1023

/* `bennu cookie new [FILE]`: 32 random bytes as 43 base64url characters,
 * printed once, or written to FILE (created, never overwritten, mode 0600).
 * argv[0] is "cookie". Returns the exit code: 0, 1 (I/O), 2 (usage). */
int bn_app_cookie_cli(int argc, char **argv);

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool bn_app_is_loopback(const char *addr);

/* True for "ADDR" or "ADDR/BITS", IPv4 or IPv6 (what --mesh-allow takes). */
bool bn_app_cidr_valid(const char *s);
/* A comma list of bn_app_cidr_valid networks (--trust-forwarded). */
bool bn_app_cidr_list_valid(const char *s);

/* True for a --check-origin value: "off", "conn", "host", or a comma list
 * of origins, each "scheme://host[:port]" or "//host[:port]" (a trailing
 * "/" allowed), host a name, "*.name", an IPv4 address or "[IPv6]", port
 * 1..65535. */
bool bn_app_check_origin_valid(const char *mode);

/* A listen address for --bind/--mesh-bind: an IPv4 or IPv6 literal is kept
 * as it is; a host name is resolved (getaddrinfo, blocking: start-up only)
 * to its first IPv4 address, else its first IPv6 one. Writes the numeric
 * address to out and returns 0, or returns -1 with why in err. */
int bn_app_resolve_bind(const char *host, char *out, size_t out_len, char *err, size_t err_len);

#endif
