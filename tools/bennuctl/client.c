/* See client.h. Failure classification reads our own hidden mesh's close
 * counters (bn_admin_members_json "closes"): a rise in bad_cookie means the
 * target refused our cookie, connect_failed that nothing listens there. */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bennu/admin.h"
#include "bennu/mesh.h"

#define POLL_MS 10u
/* Our ticks must arrive well within the target's down_ms, whatever the
 * cluster uses; 100 ms is cheap on a loopback or LAN. */
#define CTL_TICK_MS 100u
#define CTL_DOWN_MS 10000u

static const char *const ERR_NAMES[] = {
#define BNCTL_ERR_NAME(id, s) s,
    BNCTL_ERR_MAP(BNCTL_ERR_NAME)
#undef BNCTL_ERR_NAME
};

const char *bnctl_err_name(bnctl_err_t e)
{
    return ERR_NAMES[e];
}

typedef struct conn_s {
    struct conn_s *next;
    bnctl_client_t *c;
    char addr[128];
    char name[96];
    bn_mesh_t *m;
    bool ever_up;
} conn_t;

/* One request; freed by whichever of its callback and its waiter comes
 * last, because a request given up on (refused, wrong cookie) still gets
 * its callback later, at the latest UV_ECANCELED at mesh close. */
typedef struct call_s {
    conn_t *conn;
    bool done;      /* callback ran */
    bool abandoned; /* waiter left; the callback frees */
    int status;
    json_t *resp;
    /* close counters when the request started */
    json_int_t base_cookie, base_refused, base_other;
} call_t;

struct bnctl_client_s {
    uv_loop_t loop;
    uv_signal_t sigint;
    uv_timer_t timer;
    char *cookie;
    unsigned timeout_ms;
    conn_t *conns;
    unsigned next_id;
    char prefix[48];
    bool interrupted;
    bool fired;
    unsigned closing;
};

static void on_sigint(uv_signal_t *h, int signum)
{
    (void)signum;
    bnctl_client_t *c = h->data;
    c->interrupted = true;
}

bnctl_client_t *bnctl_client_new(const char *cookie, unsigned timeout_ms)
{
    bnctl_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        abort();
    }
    uv_loop_init(&c->loop);
    c->cookie = strdup(cookie);
    c->timeout_ms = timeout_ms;
    snprintf(c->prefix, sizeof(c->prefix), "bennuctl-%ld-", (long)getpid());
    uv_signal_init(&c->loop, &c->sigint);
    c->sigint.data = c;
    uv_signal_start(&c->sigint, on_sigint, SIGINT);
    uv_unref((uv_handle_t *)&c->sigint);
    uv_timer_init(&c->loop, &c->timer);
    c->timer.data = c;
    return c;
}

bool bnctl_client_interrupted(const bnctl_client_t *c)
{
    return c->interrupted;
}

const char *bnctl_client_name_prefix(const bnctl_client_t *c)
{
    return c->prefix;
}

bool bnctl_client_is_self(const bnctl_client_t *c, const char *name)
{
    return strncmp(name, c->prefix, strlen(c->prefix)) == 0;
}

static void conn_deliver(void *ud, const char *topic, size_t topic_len, const char *event,
                         size_t event_len, const bn_payload_t *payload)
{
    (void)ud, (void)topic, (void)topic_len, (void)event, (void)event_len, (void)payload;
}

static void on_mesh_closed(void *ud)
{
    bnctl_client_t *c = ud;
    c->closing--;
}

static conn_t *conn_open(bnctl_client_t *c, const char *addr)
{
    conn_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        abort();
    }
    k->c = c;
    snprintf(k->addr, sizeof(k->addr), "%s", addr);
    /* A name per connection: the node sees one hidden peer per bennuctl
     * connection, and this process can filter itself out of members. */
    snprintf(k->name, sizeof(k->name), "%s%u@127.0.0.1", c->prefix, c->next_id++);
    const char *seeds[1] = {k->addr};
    bn_mesh_config_t cfg = {
        .name = k->name,
        .port = -1,
        .cookie = c->cookie,
        .seeds = seeds,
        .n_seeds = 1,
        .tick_ms = CTL_TICK_MS,
        .down_ms = CTL_DOWN_MS,
        .hidden = true,
    };
    bn_mesh_callbacks_t cb = {.deliver = conn_deliver};
    if (bn_mesh_new(&c->loop, &cfg, &cb, k, &k->m) != 0 || bn_mesh_start(k->m) != 0) {
        /* The config is ours and fixed; only a bad address gets here, and
         * --node was validated, so treat it as unreachable later. */
        if (k->m != NULL) {
            c->closing++;
            bn_mesh_close(k->m, on_mesh_closed, c);
        }
        k->m = NULL;
    }
    k->next = c->conns;
    c->conns = k;
    return k;
}

static conn_t *conn_get(bnctl_client_t *c, const char *addr)
{
    for (conn_t *k = c->conns; k != NULL; k = k->next) {
        if (strcmp(k->addr, addr) == 0) {
            return k;
        }
    }
    return conn_open(c, addr);
}

static void conn_drop(bnctl_client_t *c, conn_t *k)
{
    for (conn_t **pp = &c->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    }
    if (k->m != NULL) {
        c->closing++;
        bn_mesh_close(k->m, on_mesh_closed, c);
    }
    free(k);
}

static json_int_t close_count(json_t *closes, const char *reason)
{
    return json_integer_value(json_object_get(closes, reason));
}

typedef struct {
    json_int_t cookie, refused, other;
} counts_t;

static counts_t conn_counts(conn_t *k)
{
    counts_t r = {0, 0, 0};
    if (k->m == NULL) {
        return r;
    }
    json_t *mj = bn_admin_members_json(k->m);
    json_t *closes = json_object_get(mj, "closes");
    r.cookie = close_count(closes, "bad_cookie");
    r.refused = close_count(closes, "connect_failed");
    r.other = close_count(closes, "version_mismatch") + close_count(closes, "bad_hello") +
              close_count(closes, "name_clash") + close_count(closes, "protocol");
    json_decref(mj);
    return r;
}

static void on_answer(void *ud, int status, json_t *response)
{
    call_t *k = ud;
    if (k->abandoned) {
        free(k);
        return;
    }
    k->done = true;
    k->status = status;
    k->resp = response != NULL ? json_incref(response) : NULL;
}

static void on_timer(uv_timer_t *t)
{
    bnctl_client_t *c = t->data;
    c->fired = true;
}

static void result_fail(bnctl_result_t *r, bnctl_err_t e, const char *fmt, const char *addr,
                        const char *detail)
{
    r->err = e;
    snprintf(r->msg, sizeof(r->msg), fmt, addr, detail);
}

/* Starts call i; returns NULL when it failed at once (result filled). */
static call_t *call_start(bnctl_client_t *c, const char *addr, json_t *req, bnctl_result_t *r)
{
    conn_t *k = conn_get(c, addr);
    if (k->m == NULL) {
        result_fail(r, BNCTL_E_REFUSED, "%s: cannot dial this address%s", addr, "");
        conn_drop(c, k);
        return NULL;
    }
    call_t *call = calloc(1, sizeof(*call));
    if (call == NULL) {
        abort();
    }
    call->conn = k;
    counts_t b = conn_counts(k);
    call->base_cookie = b.cookie;
    call->base_refused = b.refused;
    call->base_other = b.other;
    if (bn_admin_request(k->m, NULL, req, c->timeout_ms, on_answer, call) != 0) {
        free(call);
        result_fail(r, BNCTL_E_CLOSED, "%s: cannot send the request%s", addr, "");
        return NULL;
    }
    return call;
}

void bnctl_client_run(bnctl_client_t *c, size_t n, const char *const *addrs, json_t *const *reqs,
                      bnctl_result_t *out)
{
    call_t **calls = calloc(n ? n : 1, sizeof(*calls));
    if (calls == NULL) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        calls[i] = call_start(c, addrs[i], reqs[i], &out[i]);
    }
    uint64_t deadline = uv_now(&c->loop) + c->timeout_ms + 200;
    uv_timer_start(&c->timer, on_timer, POLL_MS, POLL_MS);
    for (;;) {
        size_t pending = 0;
        uv_update_time(&c->loop);
        bool late = uv_now(&c->loop) >= deadline;
        for (size_t i = 0; i < n; i++) {
            call_t *k = calls[i];
            if (k == NULL) {
                continue;
            }
            bnctl_result_t *r = &out[i];
            if (k->done) {
                if (k->status == 0 && json_is_true(json_object_get(k->resp, "ok"))) {
                    r->err = BNCTL_E_OK;
                    r->resp = k->resp;
                    k->conn->ever_up = true;
                } else if (k->status == 0) {
                    const char *why = json_string_value(json_object_get(k->resp, "error"));
                    result_fail(r, BNCTL_E_REMOTE, "%s: the node refused the request: %s", addrs[i],
                                why != NULL ? why : "no reason given");
                    json_decref(k->resp);
                } else if (k->status == UV_ETIMEDOUT) {
                    result_fail(r, BNCTL_E_TIMEOUT, "%s: no answer in time (%s)", addrs[i],
                                k->conn->ever_up ? "node busy or stopped"
                                                 : "handshake did not complete: node stopped, "
                                                   "or not a bennu mesh port?");
                } else {
                    result_fail(r, BNCTL_E_CLOSED, "%s: request failed: %s", addrs[i],
                                uv_strerror(k->status));
                }
                free(k);
                calls[i] = NULL;
                continue;
            }
            conn_t *conn = k->conn;
            counts_t now = conn_counts(conn);
            bool up = bn_mesh_up_count(conn->m) > 0;
            bnctl_err_t e = BNCTL_E_OK;
            const char *detail = NULL;
            if (!up && now.cookie > k->base_cookie) {
                e = BNCTL_E_COOKIE;
                detail = "wrong cookie: the node refused our authentication (bad_cookie)";
            } else if (!up && now.refused > k->base_refused) {
                e = BNCTL_E_REFUSED;
                detail = "node unreachable: connection refused";
            } else if (!up && now.other > k->base_other) {
                e = BNCTL_E_CLOSED;
                detail = "the handshake failed (version or protocol mismatch, or name clash)";
            } else if (late) {
                e = BNCTL_E_TIMEOUT;
                detail = conn->ever_up || up ? "no answer in time (node busy or stopped)"
                                             : "no answer in time: handshake did not complete "
                                               "(node stopped, or not a bennu mesh port?)";
            }
            if (e != BNCTL_E_OK) {
                /* Every call on this connection fails with it; they are
                 * abandoned before the close, whose cancellation runs
                 * their callbacks (which then free them). */
                for (size_t j = 0; j < n; j++) {
                    if (calls[j] != NULL && calls[j]->conn == conn) {
                        result_fail(&out[j], e, "%s: %s", addrs[j], detail);
                        calls[j]->abandoned = true;
                        calls[j] = NULL;
                    }
                }
                conn_drop(c, conn);
                continue;
            }
            pending++;
        }
        if (pending == 0) {
            break;
        }
        c->fired = false;
        while (!c->fired) {
            uv_run(&c->loop, UV_RUN_ONCE);
        }
    }
    uv_timer_stop(&c->timer);
    free(calls);
}

void bnctl_client_sleep(bnctl_client_t *c, unsigned ms)
{
    uint64_t until = uv_now(&c->loop) + ms;
    uv_timer_start(&c->timer, on_timer, POLL_MS, POLL_MS);
    while (!c->interrupted) {
        uv_update_time(&c->loop);
        if (uv_now(&c->loop) >= until) {
            break;
        }
        c->fired = false;
        while (!c->fired) {
            uv_run(&c->loop, UV_RUN_ONCE);
        }
    }
    uv_timer_stop(&c->timer);
}

void bnctl_result_clear(bnctl_result_t *r)
{
    json_decref(r->resp);
    r->resp = NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

void bnctl_client_free(bnctl_client_t *c)
{
    while (c->conns != NULL) {
        conn_drop(c, c->conns);
    }
    while (c->closing > 0) {
        uv_run(&c->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->sigint, on_handle_closed);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    free(c->cookie);
    free(c);
}
