/* HTTP/1.1 requests on http-parser: bounded accumulation of the request
 * line, headers and body, keep-alive, and the upgrade hand-off.
 *
 * Limits are checked while bytes arrive, before anything is stored, so a
 * hostile client can make us hold at most max_request_line + max_header_bytes
 * + max_body bytes. Outcomes: 414 (request line), 431 (headers), 413 (body),
 * 400 (malformed), 503 (too many connections). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/log.h"
#include "transport/internal.h"

static const http_parser_settings settings;

static bn_http_req_t *req_new(void)
{
    bn_http_req_t *r = calloc(1, sizeof(*r));
    return r;
}

void bn__http_req_free(bn_http_req_t *req)
{
    if (req == NULL) {
        return;
    }
    free(req->store);
    free(req->hdr_off);
    free(req->headers);
    free(req);
}

static int store_append(bn_http_req_t *r, const char *at, size_t len)
{
    if (r->store_len + len + 1 > r->store_cap) {
        size_t cap = r->store_cap ? r->store_cap * 2 : 512;
        while (cap < r->store_len + len + 1) {
            cap *= 2;
        }
        char *s = realloc(r->store, cap);
        if (s == NULL) {
            return -1;
        }
        r->store = s;
        r->store_cap = cap;
    }
    memcpy(r->store + r->store_len, at, len);
    r->store_len += len;
    return 0;
}

static int store_nul(bn_http_req_t *r)
{
    return store_append(r, "", 1);
}

/* The parser callbacks record the HTTP status to answer in the connection
 * when a limit is crossed and return nonzero to stop parsing. */
static bn_conn_t *ctx_conn(http_parser *p)
{
    return p->data;
}

static int fail(http_parser *p, int status)
{
    ctx_conn(p)->http_status = status;
    return -1;
}

static int on_message_begin(http_parser *p)
{
    bn_conn_t *c = ctx_conn(p);
    if (c->req == NULL) {
        c->req = req_new();
        if (c->req == NULL) {
            return fail(p, 503);
        }
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    bn_conn_t *c = ctx_conn(p);
    bn_http_req_t *r = c->req;
    if (r->url_len + len > c->t->cfg.max_request_line) {
        return fail(p, 414);
    }
    if (r->url_len == 0) {
        r->url_off = r->store_len;
    }
    r->url_len += len;
    return store_append(r, at, len) == 0 ? 0 : fail(p, 503);
}

static int header_budget(http_parser *p, size_t len)
{
    bn_conn_t *c = ctx_conn(p);
    c->req->header_bytes += len;
    if (c->req->header_bytes > c->t->cfg.max_header_bytes) {
        return fail(p, 431);
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    bn_conn_t *c = ctx_conn(p);
    bn_http_req_t *r = c->req;
    if (header_budget(p, len) != 0) {
        return -1;
    }
    if (r->n_headers == 0 || r->in_value) {
        /* A new header: terminate the URL (first header) or the last value. */
        if (store_nul(r) != 0) {
            return fail(p, 503);
        }
        if (r->n_headers >= c->t->cfg.max_headers) {
            return fail(p, 431);
        }
        if (r->n_headers == r->hdr_cap) {
            size_t cap = r->hdr_cap ? r->hdr_cap * 2 : 16;
            size_t *o = realloc(r->hdr_off, cap * 2 * sizeof(*o));
            if (o == NULL) {
                return fail(p, 503);
            }
            r->hdr_off = o;
            r->hdr_cap = cap;
        }
        r->hdr_off[r->n_headers * 2] = r->store_len;
        r->hdr_off[r->n_headers * 2 + 1] = 0;
        r->n_headers++;
        r->in_value = false;
    }
    size_t start = r->store_len;
    if (store_append(r, at, len) != 0) {
        return fail(p, 503);
    }
    for (size_t i = start; i < r->store_len; i++) {
        r->store[i] = (char)tolower((unsigned char)r->store[i]);
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    bn_conn_t *c = ctx_conn(p);
    bn_http_req_t *r = c->req;
    if (header_budget(p, len) != 0) {
        return -1;
    }
    if (!r->in_value) {
        if (store_nul(r) != 0) {
            return fail(p, 503);
        }
        r->hdr_off[(r->n_headers - 1) * 2 + 1] = r->store_len;
        r->in_value = true;
    }
    return store_append(r, at, len) == 0 ? 0 : fail(p, 503);
}

static int on_headers_complete(http_parser *p)
{
    bn_conn_t *c = ctx_conn(p);
    bn_http_req_t *r = c->req;
    /* Terminates the URL, the last value or a value-less last name. */
    if (store_nul(r) != 0) {
        return fail(p, 503);
    }
    if (p->http_major != 1 || p->http_minor > 1) {
        return fail(p, 505); /* HTTP/1.0 and 1.1 only */
    }
    if (p->content_length != ULLONG_MAX && p->content_length > c->t->cfg.max_body) {
        return fail(p, 413);
    }
    r->body_off = r->store_len;
    bn__fwd_headers(c);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    bn_conn_t *c = ctx_conn(p);
    bn_http_req_t *r = c->req;
    if (r->body_len + len > c->t->cfg.max_body) {
        return fail(p, 413);
    }
    r->body_len += len;
    return store_append(r, at, len) == 0 ? 0 : fail(p, 503);
}

/* Finalizes the request views once the store no longer moves. */
static int finalize(bn_http_req_t *r)
{
    if (store_nul(r) != 0) {
        return -1;
    }
    r->headers = calloc(r->n_headers ? r->n_headers : 1, sizeof(*r->headers));
    if (r->headers == NULL) {
        return -1;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        r->headers[i].name = r->store + r->hdr_off[i * 2];
        r->headers[i].value = r->hdr_off[i * 2 + 1] ? r->store + r->hdr_off[i * 2 + 1] : "";
    }
    r->body = r->store + r->body_off;
    /* Split the URL into path and query in place. */
    char *url = r->store + r->url_off;
    char *q = strchr(url, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    } else {
        r->query = "";
    }
    char *hash = strchr(r->query, '#');
    if (hash != NULL) {
        *hash = '\0';
    }
    r->path = url;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    bn_conn_t *c = ctx_conn(p);
    bn_http_req_t *r = c->req;
    r->method = (enum http_method)p->method;
    r->keep_alive = http_should_keep_alive(p) != 0;
    r->upgrade = p->upgrade != 0;
    if (finalize(r) != 0) {
        return fail(p, 503);
    }
    /* Stop after each request so it is answered before the next one is read. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

const char *bn_http_header(const bn_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

void bn__http_init(bn_conn_t *c)
{
    http_parser_init(&c->hp, HTTP_REQUEST);
    c->mode = BN_CONN_HTTP;
}

static const char *status_text(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static void send_response(bn_conn_t *c, int status, const char *content_type,
                          const char *extra_headers, const void *body, size_t body_len,
                          bool keep_alive)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "content-length: %zu\r\n"
                     "%s%s%s"
                     "%s"
                     "%s"
                     "\r\n",
                     status, status_text(status), body_len, content_type ? "content-type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "",
                     keep_alive ? "" : "connection: close\r\n", extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        bn__conn_abort(c, BN_CLOSE_WRITE_ERROR);
        return;
    }
    bn_buf_t *b = bn_buf_new((size_t)n + body_len);
    if (b == NULL) {
        bn__conn_abort(c, BN_CLOSE_WRITE_ERROR);
        return;
    }
    bn_buf_append(&b, head, (size_t)n);
    if (body_len > 0) {
        bn_buf_append(&b, body, body_len);
    }
    b->framed = 1; /* raw bytes: no WebSocket header */
    bn__conn_enqueue(c, b);
    bn_buf_unref(b);
}

void bn__http_error(bn_conn_t *c, int status)
{
    BN_LOG(DEBUG, "http_error", "id=%llu status=%d", (unsigned long long)c->id, status);
    send_response(c, status, NULL, NULL, NULL, 0, false);
    bn__conn_shutdown(c, BN_CLOSE_BAD_REQUEST);
}

static void http_process(bn_conn_t *c, char *data, size_t len);

void bn_http_respond(bn_conn_t *c, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len)
{
    if (c->closing || c->mode == BN_CONN_WS || c->req == NULL) {
        return;
    }
    bool keep_alive = c->req->keep_alive && !c->t->stopping;
    c->request_data = NULL;
    send_response(c, status, content_type, extra_headers, body, body_len, keep_alive);
    bn__http_req_free(c->req);
    c->req = NULL;
    /* Answered: the connection is no longer waiting, even when it closes. */
    c->mode = BN_CONN_HTTP;
    if (!keep_alive) {
        bn__conn_shutdown(c, BN_CLOSE_HTTP_DONE);
        bn__conn_account_partial(c);
        return;
    }
    http_parser_pause(&c->hp, 0);
    if (c->read_paused) {
        c->read_paused = false;
        /* Resume with whatever arrived while we were answering. */
        char *pending = c->pending;
        size_t pending_len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        if (bn__conn_read_start(c) != 0) {
            free(pending);
            bn__conn_abort(c, BN_CLOSE_READ_ERROR);
            return;
        }
        if (pending != NULL) {
            http_process(c, pending, pending_len);
            free(pending);
        }
    }
    bn__conn_account_partial(c);
}

/* Request data belongs to the HTTP phase (it shares storage with the
 * WebSocket state): a WebSocket connection has none. */
void bn_conn_set_request_data(bn_conn_t *c, void *data)
{
    if (c->mode != BN_CONN_WS) {
        c->request_data = data;
    }
}

void *bn_conn_request_data(const bn_conn_t *c)
{
    return c->mode != BN_CONN_WS ? c->request_data : NULL;
}

bool bn_http_token_listed(const char *value, const char *token, bool ignore_case)
{
    size_t tl = strlen(token);
    const char *p = value; /* NULL: nothing listed */
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        const char *end = p;
        while (*end != '\0' && *end != ',') {
            end++;
        }
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if ((size_t)(e - p) == tl &&
            (ignore_case ? strncasecmp(p, token, tl) : strncmp(p, token, tl)) == 0) {
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

/* RFC 6455 §4.2.1 checks; returns 0 or the HTTP status to answer. */
static int upgrade_check(const bn_http_req_t *r)
{
    if (r->method != HTTP_GET) {
        return 400;
    }
    const char *upgrade = bn_http_header(r, "upgrade");
    const char *connection = bn_http_header(r, "connection");
    const char *version = bn_http_header(r, "sec-websocket-version");
    const char *key = bn_http_header(r, "sec-websocket-key");
    if (upgrade == NULL || !bn_http_token_listed(upgrade, "websocket", true) ||
        connection == NULL || !bn_http_token_listed(connection, "upgrade", true) || key == NULL) {
        return 400;
    }
    if (version == NULL || strcmp(version, "13") != 0) {
        return 426;
    }
    char accept[29];
    if (bn_ws_accept_key(key, strlen(key), accept) != 0) {
        return 400;
    }
    return 0;
}

static bool is_ws_path(const bn_transport_t *t, const char *path)
{
    return t->cfg.ws_path != NULL && strcmp(path, t->cfg.ws_path) == 0;
}

static void http_process(bn_conn_t *c, char *data, size_t len)
{
    c->hp.data = c;
    c->http_status = 0;
    while (len > 0 && c->mode == BN_CONN_HTTP && !c->closing) {
        if (c->req_start_ms == 0) {
            /* The request's deadline runs from its first byte. */
            c->req_start_ms = bn__now_ms(c->t);
        }
        size_t n = http_parser_execute(&c->hp, &settings, data, len);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->hp);
        if (c->http_status != 0) {
            bn__http_error(c, c->http_status);
            return;
        }
        if (err != HPE_OK && err != HPE_PAUSED) {
            BN_LOG(DEBUG, "http_bad_request", "id=%llu error=%s", (unsigned long long)c->id,
                   http_errno_name(err));
            bn__http_error(c, 400);
            return;
        }
        data += n;
        len -= n;
        if (err != HPE_PAUSED && !(c->req != NULL && c->hp.upgrade)) {
            continue; /* need more bytes */
        }
        bn_http_req_t *req = c->req;
        if (req == NULL || req->path == NULL) {
            return; /* upgrade flagged before the request completed: wait */
        }
        c->req_start_ms = 0;
        bn__conn_not_pending(c);
        c->served = true;
        req->scheme = c->fwd_https ? "https" : "http";
        bool ws_path = is_ws_path(c->t, req->path);
        if (req->upgrade || ws_path) {
            if (!ws_path) {
                bn__http_error(c, 404);
                return;
            }
            int status = upgrade_check(req);
            if (status != 0) {
                c->t->stats.refused_upgrades++;
                bn__http_error(c, status);
                return;
            }
            c->req = NULL;
            bn__ws_upgrade(c, req, data, len);
            bn__http_req_free(req);
            return;
        }
        /* An ordinary request: the layer above answers it now or later. */
        c->mode = BN_CONN_HTTP_WAIT;
        c->t->ops.request(c->t->ops.ud, c, req);
        if (c->closing) {
            return; /* answered with close: keep reading to see the peer's EOF */
        }
        if (c->mode == BN_CONN_HTTP_WAIT && len > 0) {
            /* Answered later: keep the next request's bytes and stop reading. */
            c->pending = malloc(len);
            if (c->pending == NULL) {
                bn__conn_abort(c, BN_CLOSE_READ_ERROR);
                return;
            }
            memcpy(c->pending, data, len);
            c->pending_len = len;
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->read_paused = true;
            return;
        }
        if (c->mode == BN_CONN_HTTP_WAIT) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->read_paused = true;
            return;
        }
    }
}

static void http_feed(bn_conn_t *c, char *data, size_t len);

void bn__http_feed(bn_conn_t *c, char *data, size_t len)
{
    http_feed(c, data, len);
    bn__conn_account_partial(c);
}

static void http_feed(bn_conn_t *c, char *data, size_t len)
{
    if (c->mode == BN_CONN_HTTP_WAIT) {
        /* A client pipelining behind an unanswered request: bounded. */
        if (c->pending_len + len > c->t->cfg.max_body + c->t->cfg.max_header_bytes) {
            bn__http_error(c, 431);
            return;
        }
        char *p = realloc(c->pending, c->pending_len + len);
        if (p == NULL) {
            bn__conn_abort(c, BN_CLOSE_READ_ERROR);
            return;
        }
        memcpy(p + c->pending_len, data, len);
        c->pending = p;
        c->pending_len += len;
        return;
    }
    http_process(c, data, len);
}
