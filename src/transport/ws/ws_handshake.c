/* WebSocket opening-handshake helper (RFC 6455 §4.2.2): the
 * Sec-WebSocket-Accept value proving that the server read the client's key.
 * SHA-1 and base64 come from libcrypto, which the server links for
 * Phoenix.Token anyway. */
#include <string.h>

#include <openssl/evp.h>

#include "transport/ws/ws.h"

/* RFC 6455 §1.3: the fixed GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#define WS_KEY_LEN 24 /* base64 of 16 bytes: 22 symbols and "==" */

static bool is_b64_symbol(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* The key must decode to exactly 16 bytes (§4.2.1 item 5). With standard
 * padding that is exactly 22 symbols followed by "=="; checking the shape is
 * equivalent to decoding and counting, and rejects what lenient decoders such
 * as EVP_DecodeBlock would accept (embedded whitespace, missing padding). */
static bool ws_key_valid(const char *key, size_t key_len)
{
    if (key == NULL || key_len != WS_KEY_LEN) {
        return false;
    }
    for (size_t i = 0; i < WS_KEY_LEN - 2; i++) {
        if (!is_b64_symbol(key[i])) {
            return false;
        }
    }
    return key[WS_KEY_LEN - 2] == '=' && key[WS_KEY_LEN - 1] == '=';
}

int bn_ws_accept_key(const char *key, size_t key_len, char out[29])
{
    uint8_t input[WS_KEY_LEN + sizeof ws_guid - 1];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if (!ws_key_valid(key, key_len)) {
        return -1;
    }
    memcpy(input, key, WS_KEY_LEN);
    memcpy(input + WS_KEY_LEN, ws_guid, sizeof ws_guid - 1);
    if (EVP_Digest(input, sizeof input, md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20) {
        return -1;
    }
    /* 20 bytes encode to 28 characters; EVP_EncodeBlock adds the NUL. */
    EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
    return 0;
}
