/* Message payloads as channels see them. */
#ifndef BENNU_PAYLOAD_H
#define BENNU_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* jansson's value type, declared rather than included: a header that only
 * passes payloads through (bennu/mesh.h) does not pull in jansson. */
struct json_t;

typedef enum {
    BN_PAYLOAD_JSON,     /* json: any JSON value (clients may send any) */
    BN_PAYLOAD_RAW_JSON, /* raw/len: already-serialized JSON text (remote broadcasts) */
    BN_PAYLOAD_BINARY,   /* raw/len: bytes of an ArrayBuffer payload */
} bn_payload_kind_t;

/* A borrowed view; whoever builds one keeps the referenced memory alive for
 * the duration of the call it is passed to. */
typedef struct bn_payload_s {
    bn_payload_kind_t kind;
    struct json_t *json;
    const char *raw;
    size_t len;
} bn_payload_t;

static inline bn_payload_t bn_payload_json(struct json_t *j)
{
    bn_payload_t p = {BN_PAYLOAD_JSON, j, NULL, 0};
    return p;
}
static inline bn_payload_t bn_payload_binary(const void *bytes, size_t len)
{
    bn_payload_t p = {BN_PAYLOAD_BINARY, NULL, (const char *)bytes, len};
    return p;
}
static inline bn_payload_t bn_payload_raw_json(const char *text, size_t len)
{
    bn_payload_t p = {BN_PAYLOAD_RAW_JSON, NULL, text, len};
    return p;
}

#ifdef __cplusplus
}
#endif

#endif
