/* Erlang External Term Format, the subset Phoenix.Token payloads carry
 * (PROTOCOL.md 7.3): internal to src/auth, exposed to the unit tests and
 * fuzzers through the private include directory. */
#ifndef BN_AUTH_ETF_H
#define BN_AUTH_ETF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Encode appends to a malloc'd buffer; decode rejects anything else
 * (funs, pids, refs, floats, improper lists, nesting deeper than 32, trailing
 * bytes) with -1. */
int bn_etf_encode(const json_t *v, uint8_t **out, size_t *out_len);
int bn_etf_decode(const uint8_t *data, size_t len, json_t **out);

/* The ETF tags of the subset above (erts external format). */
#define BN_ETF_TAG_MAP(X) \
    X(VERSION, 131)       \
    X(SMALL_INTEGER, 97)  \
    X(INTEGER, 98)        \
    X(ATOM, 100)          \
    X(SMALL_TUPLE, 104)   \
    X(LARGE_TUPLE, 105)   \
    X(NIL, 106)           \
    X(STRING, 107)        \
    X(LIST, 108)          \
    X(BINARY, 109)        \
    X(SMALL_BIG, 110)     \
    X(LARGE_BIG, 111)     \
    X(SMALL_ATOM, 115)    \
    X(MAP, 116)           \
    X(ATOM_UTF8, 118)     \
    X(SMALL_ATOM_UTF8, 119)

enum {
#define BN_ETF_TAG_ENUM(name, val) BN_ETF_##name = val,
    BN_ETF_TAG_MAP(BN_ETF_TAG_ENUM)
#undef BN_ETF_TAG_ENUM
};

/* Decodes one term (no version byte) starting at data[*pos], with the same
 * subset and limits as bn_etf_decode (the term itself may nest 32 deep), and
 * advances *pos past it. Bytes after the term are the caller's business.
 * Returns 0 and a new reference in *out, or -1 (*pos unspecified). Callers
 * that must tell atoms from binaries peek data[*pos] first. */
int bn__etf_decode_term(const uint8_t *data, size_t len, size_t *pos, json_t **out);

#endif
