/* Convergence probe; contracts in probe.h. */
#include "probe.h"

#include <stdlib.h>
#include <string.h>

#include "converge.h"
#include "workload.h"

typedef struct ask_s {
    bnc_probe_t *p;
    int node;
    int groups; /* 0 members, 1 groups, 2 presence */
} ask_t;

static void round_done(bnc_probe_t *p)
{
    p->rounds++;
    if (p->answers != NULL && !p->closing) {
        p->answers(p->ud, p->members, p->groups);
    }
    int ok = bnc_converged((size_t)p->n, p->names, p->members, p->groups, BNC_TOPIC, p->last_why,
                           sizeof(p->last_why));
    for (int i = 0; i < p->n; i++) {
        json_decref(p->members[i]);
        json_decref(p->groups[i]);
        json_decref(p->presence[i]);
        p->members[i] = NULL;
        p->groups[i] = NULL;
        p->presence[i] = NULL;
    }
    if (!p->closing && p->cb != NULL) {
        p->cb(p->ud, ok, p->last_why);
    }
}

static void answer_cb(void *ud, int status, json_t *resp)
{
    ask_t *a = ud;
    bnc_probe_t *p = a->p;
    if (status == 0 && resp != NULL && json_is_true(json_object_get(resp, "ok")) &&
        a->groups == 2) {
        json_decref(p->presence[a->node]);
        p->presence[a->node] = json_incref(resp);
    } else if (status == 0 && resp != NULL && json_is_true(json_object_get(resp, "ok"))) {
        json_t *v = json_object_get(resp, a->groups ? "groups" : "members");
        json_t **slot = a->groups ? &p->groups[a->node] : &p->members[a->node];
        json_decref(*slot);
        *slot = json_incref(v);
    } else if (status == UV_ETIMEDOUT) {
        p->timeouts++;
    }
    free(a);
    if (--p->outstanding == 0) {
        round_done(p);
    }
}

static void tick_cb(uv_timer_t *t)
{
    bnc_probe_t *p = t->data;
    if (p->outstanding > 0 || p->closing) {
        return;
    }
    static const char *const ops[3] = {"members", "groups", "presence"};
    /* Count every request first, so an answer arriving synchronously
     * cannot end the round early. */
    p->outstanding = 3 * p->n + 1;
    for (int i = 0; i < p->n; i++) {
        for (int g = 0; g < 3; g++) {
            ask_t *a = calloc(1, sizeof(*a));
            if (a == NULL) {
                abort();
            }
            a->p = p;
            a->node = i;
            a->groups = g;
            json_t *req = g == 2 ? json_pack("{s:s, s:s}", "op", ops[g], "topic", BNC_TOPIC)
                                 : json_pack("{s:s}", "op", ops[g]);
            int rc = bn_admin_request(p->mesh, p->names[i], req, p->timeout_ms, answer_cb, a);
            json_decref(req);
            if (rc != 0) {
                free(a);
                p->outstanding--;
            }
        }
    }
    if (--p->outstanding == 0) {
        round_done(p);
    }
}

int bnc_probe_start(bnc_probe_t *p, uv_loop_t *loop, int n, const char *const *names,
                    const char *const *seeds, const char *cookie, unsigned tick_ms,
                    unsigned down_ms, unsigned period_ms, bnc_probe_round_cb cb, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->names[i] = names[i];
    }
    p->cb = cb;
    p->ud = ud;
    p->timeout_ms = 1000;
    bn_mesh_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = "chaos-probe@127.0.0.1";
    cfg.port = -1;
    cfg.cookie = cookie;
    cfg.seeds = seeds;
    cfg.n_seeds = (size_t)n;
    cfg.tick_ms = tick_ms;
    cfg.down_ms = down_ms;
    cfg.hidden = true;
    bn_mesh_callbacks_t mcb;
    memset(&mcb, 0, sizeof(mcb));
    int rc = bn_mesh_new(loop, &cfg, &mcb, p, &p->mesh);
    if (rc != 0) {
        return rc;
    }
    rc = bn_mesh_start(p->mesh);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->pending_closes = 1;
    if (rc != 0) {
        return rc;
    }
    uv_timer_start(&p->timer, tick_cb, period_ms, period_ms);
    return 0;
}

static void one_closed(void *ud)
{
    bnc_probe_t *p = ud;
    if (--p->pending_closes == 0 && p->close_cb != NULL) {
        void (*cb)(void *) = p->close_cb;
        p->close_cb = NULL;
        cb(p->close_ud);
    }
}

static void timer_closed(uv_handle_t *h)
{
    one_closed(h->data);
}

void bnc_probe_close(bnc_probe_t *p, void (*cb)(void *ud), void *ud)
{
    p->closing = 1;
    p->close_cb = cb;
    p->close_ud = ud;
    int mesh = p->mesh != NULL;
    p->pending_closes += mesh;
    if (p->pending_closes == 0) {
        p->close_cb = NULL;
        cb(ud);
        return;
    }
    if (p->pending_closes > mesh) {
        uv_close((uv_handle_t *)&p->timer, timer_closed);
    }
    if (mesh) {
        bn_mesh_t *m = p->mesh;
        p->mesh = NULL;
        /* Cancels outstanding requests: their callbacks run and end the
         * round, which reports nothing while closing. */
        bn_mesh_close(m, one_closed, p);
    }
}
