/* The LongPoll transport, as the official client uses it (PROTOCOL.md
 * section 5; the interface and session lifetime are in longpoll.h).
 *
 * A session holds its user's session (the server's Phoenix socket) and a
 * bounded buffer of encoded messages.
 * GET polls drain the buffer or wait up to longpoll_window_ms for something
 * to arrive (204 otherwise); POST delivers ndjson batches to the user.
 * Every answer is HTTP 200 with the logical status in the JSON body. The
 * session token is a Phoenix.Token over the session id; a session not polled
 * for longpoll_session_timeout_ms is freed with its channels. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "transport/longpoll/longpoll.h"

#include "bennu/log.h"
#include "bennu/token.h"
#include "core/queue.h"
#include "protocol/message.h"

#define LP_ID_LEN 22
/* Session tokens are checked against the live session table; this only
 * bounds how long a leaked one is even looked up. */
#define LP_TOKEN_MAX_AGE_S 1209600

typedef struct bn_lp_session_s lp_session_t;

struct bn_lp_session_s {
    UT_hash_handle hh;
    struct bn_lp_s *lp;
    void *user;         /* the user's session; NULL once closed was called */
    bn_conn_t *waiting; /* the pending GET, if any */
    uint64_t wait_deadline_ms;
    uint64_t last_poll_ms;
    bn_buf_t **msgs; /* encoded text messages, oldest first */
    size_t n_msgs, cap_msgs;
    char *token;
    bn_queue_t ready_node; /* on the ready list: has a waiter and messages */
    unsigned busy;         /* POST dispatches on the stack: the session is not freed */
    bool free_pending;     /* ended while busy: freed when the POST returns */
    bool dead;             /* ended; freed on the next sweep */
    char id[LP_ID_LEN + 1];
};

struct bn_lp_s {
    uv_loop_t *loop;
    bn_lp_config_t cfg;
    bn_lp_ops_t ops;
    bn_token_key_t key;
    lp_session_t *sessions;
    bn_queue_t ready; /* sessions to answer at the next check */
    size_t n_sessions;
    uv_timer_t sweep;
    uv_check_t flush;
    bool started;
    unsigned open_handles;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static void lp_answer(bn_conn_t *c, const char *json, size_t len)
{
    bn_http_respond(c, 200, "application/json; charset=utf-8",
                    "cache-control: no-store\r\naccess-control-allow-origin: *\r\n", json, len);
}

static void lp_status(bn_conn_t *c, int status)
{
    char body[32];
    int n = snprintf(body, sizeof(body), "{\"status\":%d}", status);
    lp_answer(c, body, (size_t)n);
}

/* {"status":S,"token":T,"messages":[...]} with every buffered message as a
 * JSON string; the buffer is emptied. */
static void lp_answer_messages(lp_session_t *s, bn_conn_t *c, int status)
{
    size_t est = 64 + strlen(s->token);
    for (size_t i = 0; i < s->n_msgs; i++) {
        est += s->msgs[i]->len + 8;
    }
    bn_buf_t *b = bn_buf_new(est);
    if (b == NULL) {
        lp_status(c, 500);
        return;
    }
    char head[64];
    int n = snprintf(head, sizeof(head), "{\"status\":%d,\"token\":", status);
    int rc = bn_buf_append(&b, head, (size_t)n);
    rc |= bn_json_append_string(&b, s->token, strlen(s->token));
    rc |= bn_buf_append(&b, ",\"messages\":[", 13);
    for (size_t i = 0; i < s->n_msgs; i++) {
        if (i > 0) {
            rc |= bn_buf_append(&b, ",", 1);
        }
        rc |= bn_json_append_string(&b, bn_buf_body(s->msgs[i]), s->msgs[i]->len);
        bn_buf_unref(s->msgs[i]);
    }
    s->n_msgs = 0;
    rc |= bn_buf_append(&b, "]}", 2);
    if (rc != 0) {
        lp_status(c, 500);
    } else {
        lp_answer(c, bn_buf_body(b), b->len);
    }
    bn_buf_unref(b);
}

/* ---------------------------------------------------------------- sessions */

/* Hands the session back to its user, once. */
static void session_release_user(lp_session_t *s)
{
    void *user = s->user;
    if (user != NULL) {
        s->user = NULL;
        s->lp->ops.closed(s->lp->ops.ud, user);
    }
}

/* Ends a session. Inside a POST of this session (a user callback on the
 * stack) the user is told now, but the free waits for the POST to return. */
static void session_free(lp_session_t *s)
{
    struct bn_lp_s *lp = s->lp;
    s->dead = true;
    session_release_user(s);
    if (s->busy > 0) {
        s->free_pending = true;
        return;
    }
    if (s->waiting != NULL) {
        /* Unhook first: a closing connection keeps its data until its close
         * callback, which must not find this session. */
        bn_conn_set_request_data(s->waiting, NULL);
        lp_status(s->waiting, 410);
        s->waiting = NULL;
    }
    for (size_t i = 0; i < s->n_msgs; i++) {
        bn_buf_unref(s->msgs[i]);
    }
    bn_queue_remove(&s->ready_node);
    HASH_DEL(lp->sessions, s);
    lp->n_sessions--;
    free(s->msgs);
    free(s->token);
    free(s);
}

static void mark_ready(lp_session_t *s)
{
    if (!bn_queue_linked(&s->ready_node) && s->waiting != NULL && s->n_msgs > 0) {
        bn_queue_insert_head(&s->lp->ready, &s->ready_node);
    }
}

int bn_lp_session_send(bn_lp_session_t *s, bn_buf_t *msg)
{
    if (s->dead) {
        return -1;
    }
    if (msg->binary) {
        /* Phoenix cannot carry server binary frames over LongPoll either. */
        BN_LOG(DEBUG, "longpoll_binary_dropped", "session=%s", s->id);
        return -1;
    }
    struct bn_lp_s *lp = s->lp;
    if (s->n_msgs >= lp->cfg.max_buffered) {
        BN_LOG(WARN, "slow_consumer", "transport=longpoll session=%s buffered=%zu", s->id,
               s->n_msgs);
        s->dead = true; /* freed by the sweep, outside any fanout */
        return -1;
    }
    if (s->n_msgs == s->cap_msgs) {
        size_t cap = s->cap_msgs ? s->cap_msgs * 2 : 8;
        bn_buf_t **m = realloc(s->msgs, cap * sizeof(*m));
        if (m == NULL) {
            return -1;
        }
        s->msgs = m;
        s->cap_msgs = cap;
    }
    s->msgs[s->n_msgs++] = bn_buf_ref(msg);
    mark_ready(s);
    return 0;
}

void bn_lp_session_close(bn_lp_session_t *s)
{
    /* Only marked: the sweep ends it (and calls closed) outside whatever
     * called this, which may be a fanout or the user's own dispatch. */
    s->dead = true;
}

/* Answers waiting polls that have messages, once per loop turn so messages
 * produced together leave together. */
static void on_flush(uv_check_t *h)
{
    struct bn_lp_s *lp = h->data;
    bn_queue_t *q;
    while ((q = bn_queue_head(&lp->ready)) != NULL) {
        bn_queue_remove(q);
        lp_session_t *s = bn_container_of(q, lp_session_t, ready_node);
        if (s->waiting != NULL && s->n_msgs > 0 && !s->dead) {
            bn_conn_t *c = s->waiting;
            s->waiting = NULL;
            lp_answer_messages(s, c, 200);
        }
    }
}

static void on_sweep(uv_timer_t *h)
{
    struct bn_lp_s *lp = h->data;
    uint64_t now = uv_now(lp->loop);
    lp_session_t *s, *tmp;
    HASH_ITER(hh, lp->sessions, s, tmp)
    {
        if (s->dead) {
            session_free(s);
        } else if (s->waiting != NULL) {
            if (now >= s->wait_deadline_ms) {
                bn_conn_t *c = s->waiting;
                s->waiting = NULL;
                lp_answer_messages(s, c, 204);
                s->last_poll_ms = now;
            }
        } else if (now - s->last_poll_ms > lp->cfg.session_timeout_ms) {
            BN_LOG(DEBUG, "longpoll_session_expired", "session=%s", s->id);
            session_free(s);
        }
    }
}

static int lp_start(struct bn_lp_s *lp)
{
    if (lp->started) {
        return 0;
    }
    uv_timer_init(lp->loop, &lp->sweep);
    lp->sweep.data = lp;
    uv_check_init(lp->loop, &lp->flush);
    lp->flush.data = lp;
    uv_check_start(&lp->flush, on_flush);
    unsigned period = lp->cfg.window_ms < 2000 ? 100 : 500;
    uv_timer_start(&lp->sweep, on_sweep, period, period);
    lp->started = true;
    return 0;
}

bn_lp_t *bn_lp_new(uv_loop_t *loop, const bn_lp_config_t *cfg, const bn_lp_ops_t *ops)
{
    struct bn_lp_s *lp = calloc(1, sizeof(*lp));
    if (lp == NULL) {
        return NULL;
    }
    lp->loop = loop;
    lp->cfg = *cfg;
    bn_queue_init(&lp->ready);
    lp->ops = *ops;
    const char *secret = cfg->secret_key_base;
    lp->cfg.secret_key_base = NULL; /* read now, not kept */
    if (sodium_init() < 0) {
        free(lp);
        return NULL;
    }
    if (secret == NULL ||
        bn_token_key_derive(&lp->key, secret, strlen(secret), "bennu longpoll", 14) != 0) {
        randombytes_buf(lp->key.key, sizeof(lp->key.key));
    }
    return lp;
}

static void on_lp_handle_closed(uv_handle_t *h)
{
    struct bn_lp_s *lp = h->data;
    if (--lp->open_handles > 0) {
        return;
    }
    void (*cb)(void *) = lp->close_cb;
    void *ud = lp->close_ud;
    free(lp);
    if (cb != NULL) {
        cb(ud);
    }
}

void bn_lp_close(bn_lp_t *lp, void (*cb)(void *ud), void *ud)
{
    lp_session_t *s, *tmp;
    HASH_ITER(hh, lp->sessions, s, tmp)
    {
        session_free(s);
    }
    if (!lp->started) {
        free(lp);
        if (cb != NULL) {
            cb(ud);
        }
        return;
    }
    lp->close_cb = cb;
    lp->close_ud = ud;
    lp->open_handles = 2;
    uv_close((uv_handle_t *)&lp->sweep, on_lp_handle_closed);
    uv_close((uv_handle_t *)&lp->flush, on_lp_handle_closed);
}

/* ---------------------------------------------------------------- requests */

static lp_session_t *session_find(struct bn_lp_s *lp, const bn_http_req_t *req, json_t *params)
{
    const char *token = bn_http_header(req, "x-phoenix-longpoll-token");
    if (token == NULL) {
        token = json_string_value(json_object_get(params, "token"));
    }
    if (token == NULL) {
        return NULL;
    }
    json_t *data = NULL;
    if (bn_token_verify(&lp->key, token, LP_TOKEN_MAX_AGE_S, bn_token_now_ms(), &data) !=
        BN_TOKEN_OK) {
        return NULL;
    }
    lp_session_t *s = NULL;
    const char *id = json_string_value(data);
    if (id != NULL && strlen(id) == LP_ID_LEN) {
        HASH_FIND_STR(lp->sessions, id, s);
    }
    json_decref(data);
    return s != NULL && !s->dead ? s : NULL;
}

static void session_open(struct bn_lp_s *lp, bn_conn_t *c, bn_http_req_t *req)
{
    if (lp->n_sessions >= lp->cfg.max_sessions) {
        BN_LOG(WARN, "connect_refused", "reason=too_many_longpoll_sessions limit=%u",
               lp->cfg.max_sessions);
        if (lp->ops.refused != NULL) {
            lp->ops.refused(lp->ops.ud);
        }
        lp_status(c, 403);
        return;
    }
    lp_session_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        lp_status(c, 500);
        return;
    }
    uint8_t raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(s->id, sizeof(s->id), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    s->lp = lp;
    json_t *id = json_string(s->id);
    s->token = bn_token_sign(&lp->key, id, bn_token_now_ms(), LP_TOKEN_MAX_AGE_S);
    json_decref(id);
    if (s->token == NULL) {
        free(s);
        lp_status(c, 500);
        return;
    }
    int status = lp->ops.open(lp->ops.ud, s, c, req, &s->user);
    if (status != 0) {
        free(s->token);
        free(s);
        lp_status(c, status);
        return;
    }
    s->last_poll_ms = uv_now(lp->loop);
    HASH_ADD_STR(lp->sessions, id, s);
    lp->n_sessions++;
    lp_start(lp);
    lp_answer_messages(s, c, 410);
}

static void handle_get(struct bn_lp_s *lp, bn_conn_t *c, bn_http_req_t *req, json_t *params)
{
    lp_session_t *s = session_find(lp, req, params);
    if (s == NULL) {
        session_open(lp, c, req);
        return;
    }
    s->last_poll_ms = uv_now(lp->loop);
    if (s->n_msgs > 0) {
        lp_answer_messages(s, c, 200);
        return;
    }
    if (s->waiting != NULL) {
        /* A newer poll replaces the old one, which ends empty-handed. */
        bn_conn_t *old = s->waiting;
        s->waiting = NULL;
        lp_answer_messages(s, old, 204);
    }
    s->waiting = c;
    bn_conn_set_request_data(c, s);
    s->wait_deadline_ms = s->last_poll_ms + lp->cfg.window_ms;
}

static int deliver(lp_session_t *s, bool binary, uint8_t *data, size_t len)
{
    if (s->user == NULL) {
        return -1;
    }
    return s->lp->ops.message(s->lp->ops.ud, s->user, binary, data, len);
}

/* Dispatches one ndjson line; returns -1 when it is malformed. */
static int post_line(lp_session_t *s, char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len == 0) {
        return 0;
    }
    if (line[0] == '[' || line[0] == '{') {
        return deliver(s, false, (uint8_t *)line, len);
    }
    size_t cap = len / 4 * 3 + 3;
    uint8_t *bin = malloc(cap);
    size_t bin_len = 0;
    int rc = -1;
    if (bin != NULL && sodium_base642bin(bin, cap, line, len, NULL, &bin_len, NULL,
                                         sodium_base64_VARIANT_ORIGINAL) == 0) {
        rc = deliver(s, true, bin, bin_len);
    }
    free(bin);
    return rc;
}

static void handle_post(struct bn_lp_s *lp, bn_conn_t *c, bn_http_req_t *req, json_t *params)
{
    lp_session_t *s = session_find(lp, req, params);
    if (s == NULL) {
        lp_status(c, 410);
        return;
    }
    const char *ctype = bn_http_header(req, "content-type");
    bool ndjson = ctype != NULL && strncmp(ctype, "application/x-ndjson", 20) == 0;
    int rc = 0;
    s->busy++;
    if (!ndjson) {
        rc = deliver(s, false, (uint8_t *)req->body, req->body_len);
    } else {
        char *p = (char *)req->body, *end = p + req->body_len;
        for (int lines = 0; p < end && lines < 100 && rc == 0 && !s->dead; lines++) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            rc = post_line(s, p, len);
            p += len + (nl ? 1 : 0);
        }
    }
    s->busy--;
    if (s->free_pending && s->busy == 0) {
        /* Ended inside the POST: the free that was put off happens now. */
        session_free(s);
        lp_status(c, 410);
        return;
    }
    if (rc == BN_LP_RATE_LIMITED) {
        /* The rest of the batch is refused; phoenix.js treats a non-200 POST
         * as an error, closes and reconnects after its backoff. */
        lp_status(c, 429);
        return;
    }
    if (rc != 0) {
        /* Phoenix's session process dies on undecodable input; so does ours. */
        BN_LOG(INFO, "longpoll_bad_message", "session=%s", s->id);
        session_free(s);
        lp_status(c, 410);
        return;
    }
    lp_status(c, 200);
}

void bn_lp_request(bn_lp_t *lp, bn_conn_t *c, bn_http_req_t *req)
{
    if (req->method == HTTP_OPTIONS) {
        const char *want = bn_http_header(req, "access-control-request-headers");
        char extra[1024];
        snprintf(extra, sizeof(extra),
                 "access-control-allow-origin: *\r\n"
                 "access-control-allow-headers: %.512s\r\n"
                 "access-control-allow-methods: get, post, options\r\n"
                 "access-control-max-age: 3600\r\n",
                 want != NULL && strpbrk(want, "\r\n") == NULL ? want : "");
        int status = lp->ops.admit(lp->ops.ud, req, true);
        if (status != 0) {
            lp_status(c, status);
            return;
        }
        bn_http_respond(c, 200, NULL, extra, NULL, 0);
        return;
    }
    if (req->method != HTTP_GET && req->method != HTTP_POST) {
        bn_http_respond(c, 400, NULL, NULL, NULL, 0);
        return;
    }
    int status = lp->ops.admit(lp->ops.ud, req, false);
    if (status != 0) {
        lp_status(c, status);
        return;
    }
    json_t *params = bn_http_query_parse(req->query);
    if (params == NULL) {
        lp_status(c, 500);
        return;
    }
    if (req->method == HTTP_GET) {
        handle_get(lp, c, req, params);
    } else {
        handle_post(lp, c, req, params);
    }
    json_decref(params);
}

void bn_lp_request_aborted(bn_lp_t *lp, bn_conn_t *c)
{
    /* The poll's connection went away before its answer: the session stays,
     * waiting for the client's next poll. */
    lp_session_t *s = bn_conn_request_data(c);
    if (s != NULL && s->waiting == c) {
        s->waiting = NULL;
        s->last_poll_ms = uv_now(lp->loop);
    }
}
