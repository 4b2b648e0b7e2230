/* WebSocket client codec; contracts in wsproto.h. */
#include "wsproto.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *bnb_ws_err_name(int err)
{
    switch (err) {
#define BNB_WS_ERR_NAME(name, val, text) \
    case val:                            \
        return #name;
        BNB_WS_ERR_MAP(BNB_WS_ERR_NAME)
#undef BNB_WS_ERR_NAME
    default:
        return "?";
    }
}

const char *bnb_ws_strerror(int err)
{
    switch (err) {
#define BNB_WS_ERR_TEXT(name, val, text) \
    case val:                            \
        return text;
        BNB_WS_ERR_MAP(BNB_WS_ERR_TEXT)
#undef BNB_WS_ERR_TEXT
    default:
        return "?";
    }
}

/* ---- Handshake ---- */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

void bnb_ws_key_make(char key[25], uint64_t *rng)
{
    uint8_t nonce[16];
    uint64_t a = xorshift(rng);
    uint64_t b = xorshift(rng);
    memcpy(nonce, &a, 8);
    memcpy(nonce + 8, &b, 8);
    EVP_EncodeBlock((unsigned char *)key, nonce, 16);
}

void bnb_ws_accept_for(const char *key, char accept[29])
{
    /* RFC 6455 §4.2.2: base64(SHA-1(key + fixed GUID)). */
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char cat[128];
    size_t kl = strlen(key);
    if (kl > sizeof(cat) - sizeof(guid)) {
        kl = sizeof(cat) - sizeof(guid);
    }
    memcpy(cat, key, kl);
    memcpy(cat + kl, guid, sizeof(guid) - 1);
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)cat, kl + sizeof(guid) - 1, digest);
    EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
}

size_t bnb_ws_handshake_request(char *out, size_t cap, const char *host, int port, const char *path,
                                const char *key)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     path, host, port, key);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    return (size_t)n;
}

static const char *find_crlf(const char *s, const char *end)
{
    for (const char *p = s; p + 1 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            return p;
        }
    }
    return NULL;
}

/* True if the comma-separated header value v (length n) holds token tok,
 * compared case-insensitively. */
static int value_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
            i++;
        }
        size_t start = i;
        while (i < n && v[i] != ',') {
            i++;
        }
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
            end--;
        }
        if (end - start == tl && strncasecmp(v + start, tok, tl) == 0) {
            return 1;
        }
    }
    return 0;
}

int bnb_ws_handshake_parse(const char *buf, size_t len, const char *accept, size_t *hdr_len,
                           int *status)
{
    const char *end = buf + len;
    *status = 0;
    const char *eol = find_crlf(buf, end);
    if (eol == NULL) {
        return len > BNB_WS_HS_MAX ? BNB_WS_E_HS_TOO_LONG : 0;
    }
    /* Status line: "HTTP/1.x NNN reason". */
    if (eol - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') {
        return BNB_WS_E_HS_SYNTAX;
    }
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') {
            return BNB_WS_E_HS_SYNTAX;
        }
    }
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

    /* Find the end of the header block before judging the headers, so a
     * response is only judged once it is complete. */
    const char *blank = NULL;
    for (const char *p = eol; p + 3 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r' && p[3] == '\n') {
            blank = p;
            break;
        }
    }
    if (blank == NULL) {
        return len > BNB_WS_HS_MAX ? BNB_WS_E_HS_TOO_LONG : 0;
    }
    if ((size_t)(blank + 4 - buf) > BNB_WS_HS_MAX) {
        return BNB_WS_E_HS_TOO_LONG;
    }
    if (*status != 101) {
        return BNB_WS_E_HS_STATUS;
    }
    int upgrade = 0;
    int connection = 0;
    int accepted = 0;
    const char *line = eol + 2;
    while (line < blank + 2) {
        const char *le = find_crlf(line, blank + 2);
        if (le == NULL) {
            return BNB_WS_E_HS_SYNTAX;
        }
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL) {
            return BNB_WS_E_HS_SYNTAX;
        }
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t')) {
            v++;
        }
        const char *ve = le;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
            ve--;
        }
        size_t vl = (size_t)(ve - v);
        if (nl == 7 && strncasecmp(line, "upgrade", 7) == 0) {
            upgrade = value_has_token(v, vl, "websocket");
        } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
            connection = value_has_token(v, vl, "upgrade");
        } else if (nl == 20 && strncasecmp(line, "sec-websocket-accept", 20) == 0) {
            accepted = vl == strlen(accept) && memcmp(v, accept, vl) == 0;
        }
        line = le + 2;
    }
    if (!upgrade || !connection) {
        return BNB_WS_E_HS_UPGRADE;
    }
    if (!accepted) {
        return BNB_WS_E_HS_ACCEPT;
    }
    *hdr_len = (size_t)(blank + 4 - buf);
    return 1;
}

/* ---- Client frames ---- */

size_t bnb_ws_frame_build(uint8_t *out, int opcode, const void *payload, size_t len,
                          const uint8_t mask[4])
{
    size_t h = 0;
    out[h++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) {
            out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
        }
    }
    memcpy(out + h, mask, 4);
    h += 4;
    const uint8_t *src = payload;
    uint8_t *dst = out + h;
    for (size_t i = 0; i < len; i++) {
        dst[i] = src[i] ^ mask[i & 3];
    }
    return h + len;
}

/* ---- Server frame parser ---- */

void bnb_ws_parser_init(bnb_ws_parser_t *p, size_t max_msg)
{
    memset(p, 0, sizeof(*p));
    p->max_msg = max_msg;
}

void bnb_ws_parser_reset(bnb_ws_parser_t *p)
{
    p->hdr_len = 0;
    p->hdr_need = 0;
    p->in_payload = 0;
    p->msg_opcode = 0;
    p->err = 0;
    p->remaining = 0;
    p->msg_len = 0;
    p->ctl_len = 0;
}

void bnb_ws_parser_free(bnb_ws_parser_t *p)
{
    free(p->msg);
    p->msg = NULL;
    p->msg_cap = 0;
    p->msg_len = 0;
}

static int is_control(uint8_t op)
{
    return (op & 0x8) != 0;
}

/* Validates the complete header in p->hdr and enters the payload state. */
static int header_done(bnb_ws_parser_t *p)
{
    uint8_t b0 = p->hdr[0];
    uint8_t b1 = p->hdr[1];
    if (b0 & 0x70) {
        return BNB_WS_E_RSV;
    }
    if (b1 & 0x80) {
        return BNB_WS_E_MASKED;
    }
    p->fin = (b0 & 0x80) != 0;
    p->opcode = b0 & 0x0f;
    uint64_t n = b1 & 0x7f;
    if (n == 126) {
        n = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
        if (n < 126) {
            return BNB_WS_E_LENGTH;
        }
    } else if (n == 127) {
        n = 0;
        for (int i = 2; i < 10; i++) {
            n = (n << 8) | p->hdr[i];
        }
        if (n <= 0xffff || (n >> 63)) {
            return BNB_WS_E_LENGTH;
        }
    }
    switch (p->opcode) {
    case BNB_WS_OP_CONT:
        if (p->msg_opcode == 0) {
            return BNB_WS_E_CONT;
        }
        break;
    case BNB_WS_OP_TEXT:
    case BNB_WS_OP_BINARY:
        if (p->msg_opcode != 0) {
            return BNB_WS_E_FRAG;
        }
        break;
    case BNB_WS_OP_CLOSE:
    case BNB_WS_OP_PING:
    case BNB_WS_OP_PONG:
        if (!p->fin || n > 125) {
            return BNB_WS_E_CONTROL;
        }
        break;
    default:
        return BNB_WS_E_OPCODE;
    }
    if (!is_control(p->opcode)) {
        uint64_t total = (p->msg_opcode != 0 ? p->msg_len : 0) + n;
        if (n > p->max_msg || total > p->max_msg) {
            return BNB_WS_E_TOO_BIG;
        }
        if (p->opcode != BNB_WS_OP_CONT) {
            p->msg_opcode = p->opcode;
            p->msg_len = 0;
        }
    }
    p->remaining = n;
    p->in_payload = 1;
    p->ctl_len = 0;
    return 0;
}

static void msg_append(bnb_ws_parser_t *p, const uint8_t *d, size_t n)
{
    if (n == 0) {
        return;
    }
    if (p->msg_len + n > p->msg_cap) {
        size_t cap = p->msg_cap ? p->msg_cap : 256;
        while (cap < p->msg_len + n) {
            cap *= 2;
        }
        uint8_t *m = realloc(p->msg, cap);
        if (m == NULL) {
            abort();
        }
        p->msg = m;
        p->msg_cap = cap;
    }
    memcpy(p->msg + p->msg_len, d, n);
    p->msg_len += n;
}

/* The current frame's payload is complete: deliver what is due. */
static int frame_done(bnb_ws_parser_t *p, bnb_ws_msg_cb cb, void *ud)
{
    p->in_payload = 0;
    p->hdr_len = 0;
    p->hdr_need = 0;
    if (is_control(p->opcode)) {
        return cb(ud, p->opcode, p->ctl, p->ctl_len);
    }
    if (!p->fin) {
        return 0;
    }
    int op = p->msg_opcode;
    size_t n = p->msg_len;
    p->msg_opcode = 0;
    p->msg_len = 0;
    return cb(ud, op, p->msg, n);
}

int bnb_ws_parser_feed(bnb_ws_parser_t *p, const uint8_t *data, size_t len, bnb_ws_msg_cb cb,
                       void *ud)
{
    if (p->err) {
        return p->err;
    }
    size_t i = 0;
    while (i < len || (p->in_payload && p->remaining == 0)) {
        if (!p->in_payload) {
            if (p->hdr_len < 2) {
                p->hdr[p->hdr_len++] = data[i++];
                if (p->hdr_len == 2) {
                    uint8_t l7 = p->hdr[1] & 0x7f;
                    p->hdr_need = (uint8_t)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0));
                }
            } else {
                size_t take = p->hdr_need - p->hdr_len;
                if (take > len - i) {
                    take = len - i;
                }
                memcpy(p->hdr + p->hdr_len, data + i, take);
                p->hdr_len = (uint8_t)(p->hdr_len + take);
                i += take;
            }
            if (p->hdr_len >= 2 && p->hdr_len == p->hdr_need) {
                int rc = header_done(p);
                if (rc != 0) {
                    p->err = rc;
                    return rc;
                }
            }
            continue;
        }
        size_t avail = len - i;
        size_t take = p->remaining < avail ? (size_t)p->remaining : avail;
        if (is_control(p->opcode)) {
            memcpy(p->ctl + p->ctl_len, data + i, take);
            p->ctl_len += take;
        } else if (p->fin && p->msg_len == 0 && take == p->remaining &&
                   p->opcode != BNB_WS_OP_CONT) {
            /* A whole unfragmented frame is in this chunk: deliver in place. */
            i += take;
            p->remaining = 0;
            p->in_payload = 0;
            p->hdr_len = 0;
            p->hdr_need = 0;
            p->msg_opcode = 0;
            int rc = cb(ud, p->opcode, data + i - take, take);
            if (rc != 0) {
                return rc;
            }
            continue;
        } else {
            msg_append(p, data + i, take);
        }
        i += take;
        p->remaining -= take;
        if (p->remaining == 0) {
            int rc = frame_done(p, cb, ud);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}
