/* A JSON text validator that builds nothing: RFC 8259 syntax plus strict
 * UTF-8, for payloads that are relayed as raw bytes (mesh Broadcasts) and
 * only need to be known good. Parsing them with jansson to throw the tree
 * away cost about 4 us per frame, half of what a receiving node spends on a
 * broadcast; this check is one pass with no allocation. */
#ifndef BN_CORE_JSON_CHECK_H
#define BN_CORE_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Nesting deeper than this is refused (jansson's default parser limit). */
#define BN_JSON_CHECK_MAX_DEPTH 2048

/* True when s[0..n) is exactly one JSON value, optionally surrounded by
 * whitespace, and valid UTF-8. */
bool bn_json_valid(const char *s, size_t n);

#endif
