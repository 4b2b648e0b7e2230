/* The WebSocket session of an upgraded connection: the 101 answer, feeding
 * the frame parser, control frames and the close handshake. */
#include <stdio.h>
#include <string.h>

#include "bennu/log.h"
#include "transport/internal.h"

void bn__ws_frame_buf(bn_buf_t *b, uint8_t opcode)
{
    /* Server frames are unmasked, so the header goes in the headroom once
     * and every sharer of the buffer sends the same bytes. */
    uint8_t hdr[10];
    size_t h = bn_ws_frame_header(hdr, opcode, b->len);
    memcpy(bn_buf_body(b) - h, hdr, h);
    b->head = (uint32_t)h;
    b->framed = 1;
}

int bn__ws_send_control(bn_conn_t *c, uint8_t opcode, const void *data, size_t len)
{
    bn_buf_t *b = bn_buf_new(len);
    if (b == NULL) {
        return -1;
    }
    if (len > 0) {
        bn_buf_append(&b, data, len);
    }
    bn__ws_frame_buf(b, opcode);
    int rc = bn__conn_enqueue(c, b);
    bn_buf_unref(b);
    return rc;
}

void bn__ws_upgrade(bn_conn_t *c, bn_http_req_t *req, char *rest, size_t rest_len)
{
    bn_transport_t *t = c->t;
    void *session = NULL;
    int status = t->ops.ws_open(t->ops.ud, c, req, &session);
    if (status != 0) {
        t->stats.refused_upgrades++;
        bn__http_error(c, status);
        return;
    }
    const char *key = bn_http_header(req, "sec-websocket-key");
    char accept[29];
    bn_ws_accept_key(key, strlen(key), accept);
    char head[256];
    /* The configured subprotocol is echoed only when offered: a browser
     * fails the handshake on a 101 naming one it did not offer, and on a 101
     * without one when it offered only that. */
    const char *proto = t->cfg.ws_subprotocol;
    bool echo_proto =
        proto != NULL &&
        bn_http_token_listed(bn_http_header(req, "sec-websocket-protocol"), proto, false);
    char proto_line[96] = "";
    if (echo_proto) {
        snprintf(proto_line, sizeof(proto_line), "sec-websocket-protocol: %s\r\n", proto);
    }
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "upgrade: websocket\r\n"
                     "connection: Upgrade\r\n"
                     "sec-websocket-accept: %s\r\n"
                     "%s"
                     "\r\n",
                     accept, proto_line);
    bn_buf_t *b = bn_buf_new((size_t)n);
    if (b == NULL) {
        t->ops.ws_closed(t->ops.ud, session);
        bn__conn_abort(c, BN_CLOSE_WRITE_ERROR);
        return;
    }
    bn_buf_append(&b, head, (size_t)n);
    b->framed = 1;
    c->mode = BN_CONN_WS;
    c->session = session;
    t->stats.ws_open++;
    bn_ws_parser_init(&c->ws, &t->cfg.ws);
    bn__conn_enqueue(c, b);
    bn_buf_unref(b);
    if (rest_len > 0) {
        bn__ws_feed(c, (uint8_t *)rest, rest_len);
    }
}

static int on_ws_event(void *ud, bn_ws_event_t ev, uint8_t *data, size_t len, uint16_t code)
{
    bn_conn_t *c = ud;
    bn_transport_t *t = c->t;
    switch (ev) {
    case BN_WS_EV_TEXT:
    case BN_WS_EV_BINARY:
        t->ops.ws_message(t->ops.ud, c->session, ev == BN_WS_EV_BINARY, data, len);
        break;
    case BN_WS_EV_PING:
        bn__ws_send_control(c, BN_WS_OP_PONG, data, len);
        break;
    case BN_WS_EV_PONG:
        break;
    case BN_WS_EV_CLOSE: {
        /* Echo the peer's code (RFC 6455 §5.5.1); 1005 is never sent. */
        BN_LOG(DEBUG, "ws_close_received", "id=%llu code=%u", (unsigned long long)c->id, code);
        if (code == BN_WS_CLOSE_NO_STATUS) {
            bn__ws_send_control(c, BN_WS_OP_CLOSE, NULL, 0);
        } else {
            uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
            bn__ws_send_control(c, BN_WS_OP_CLOSE, payload, 2);
        }
        bn__conn_shutdown(c, BN_CLOSE_WS_CLOSE);
        return 1;
    }
    }
    /* A handler may have closed the connection; stop feeding it. */
    return c->closing ? 1 : 0;
}

void bn__ws_feed(bn_conn_t *c, uint8_t *data, size_t len)
{
    int rc = bn_ws_parser_feed(&c->ws, data, len, on_ws_event, c);
    bn__conn_account_partial(c);
    if (rc > 1) {
        BN_LOG(INFO, "ws_protocol_error", "id=%llu close_code=%d", (unsigned long long)c->id, rc);
        bn_conn_close(c, (uint16_t)rc, BN_CLOSE_WS_PROTOCOL);
    }
}
