/* Strict UTF-8 validation, shared by the WebSocket parser (text frames,
 * close reasons) and the mesh (topics, events and payloads from peers). */
#ifndef BN_CORE_UTF8_H
#define BN_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool bn_utf8_valid(const uint8_t *s, size_t n);

/* Incremental form of bn_utf8_valid, for text that arrives in pieces (a code
 * point may be split between pieces). Start from BN_UTF8_ACCEPT and pass the
 * returned state to the next call; BN_UTF8_REJECT is sticky and is returned as
 * soon as a bad byte is seen. The whole text is valid iff the final state is
 * BN_UTF8_ACCEPT; any other state means a truncated sequence. */
#define BN_UTF8_ACCEPT 0u
#define BN_UTF8_REJECT 1u
uint32_t bn_utf8_feed(uint32_t state, const uint8_t *s, size_t n);

#endif
