/* mesh_probe: a one-shot admin client for the integration tests. It joins
 * the cluster as a hidden node (no listener, no groups, never gossiped),
 * sends admin requests to one node over the mesh and prints each JSON answer
 * on its own line of stdout, in the order given.
 *
 *   mesh_probe --target HOST:PORT --cookie C [--node NAME] [--name N@H]
 *              [--timeout-ms MS] REQUEST...
 *
 * REQUEST is an op name ("members", "groups", "stats") or a whole JSON
 * request object ('{"op":"broadcast",...}'). Exit status: 0 when every
 * request was answered with "ok":true, 1 when one timed out, failed or
 * answered "ok":false (its line is still printed), 2 on bad usage. The
 * mesh's own log lines (its hidden node's nodeup, a refused handshake) go to
 * stderr like any node's.
 *
 * It exists because the mesh speaks protobuf over a libsodium handshake,
 * which a test in JavaScript cannot speak without re-implementing it; and
 * it deliberately uses only the public API (include/bennu/), as bennuctl
 * does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bennu/admin.h"
#include "bennu/mesh.h"

#define PROBE_MAX_REQUESTS 16

typedef struct probe_s {
    bn_mesh_t *mesh;
    json_t *requests[PROBE_MAX_REQUESTS];
    size_t n_requests;
    size_t next; /* index of the request in flight */
    /* Name the target must have, or NULL for whichever node answers at
     * --target: a hidden node learns of no other node than its seed. */
    const char *node;
    unsigned timeout_ms;
    int failed;
} probe_t;

static void probe_usage(FILE *out)
{
    fprintf(out, "usage: mesh_probe --target HOST:PORT --cookie C [--node NAME] [--name N@H]\n"
                 "                  [--timeout-ms MS] REQUEST...\n"
                 "REQUEST: members | groups | stats | a JSON request object\n");
}

static void probe_send_next(probe_t *p);

static void on_closed(void *ud)
{
    probe_t *p = ud;
    p->mesh = NULL;
}

static void on_answer(void *ud, int status, json_t *response)
{
    probe_t *p = ud;
    if (status != 0) {
        /* Still one line per request, so the caller can tell which failed. */
        printf("{\"ok\":false,\"error\":\"%s\"}\n", uv_err_name(status));
        p->failed = 1;
    } else {
        char *text = json_dumps(response, JSON_COMPACT);
        printf("%s\n", text != NULL ? text : "null");
        free(text);
        if (!json_is_true(json_object_get(response, "ok"))) {
            p->failed = 1;
        }
    }
    fflush(stdout);
    p->next++;
    if (status == UV_ECANCELED) {
        return;
    }
    probe_send_next(p);
}

/* Requests go one at a time so their answers print in the order given even
 * if a later one were answered first. */
static void probe_send_next(probe_t *p)
{
    if (p->next >= p->n_requests || p->failed) {
        if (p->mesh != NULL) {
            bn_mesh_close(p->mesh, on_closed, p);
        }
        return;
    }
    int rc = bn_admin_request(p->mesh, p->node, p->requests[p->next], p->timeout_ms, on_answer, p);
    if (rc != 0) {
        fprintf(stderr, "mesh_probe: request failed: %s\n", uv_err_name(rc));
        p->failed = 1;
        bn_mesh_close(p->mesh, on_closed, p);
    }
}

static json_t *parse_request(const char *arg)
{
    if (arg[0] == '{') {
        json_error_t err;
        json_t *r = json_loads(arg, 0, &err);
        if (r == NULL || !json_is_object(r)) {
            fprintf(stderr, "mesh_probe: bad JSON request '%s': %s\n", arg, err.text);
            json_decref(r);
            return NULL;
        }
        return r;
    }
    return json_pack("{s:s}", "op", arg);
}

int main(int argc, char **argv)
{
    const char *target = NULL;
    const char *cookie = NULL;
    const char *name = NULL;
    probe_t p;
    memset(&p, 0, sizeof(p));
    p.timeout_ms = 5000;

    static const struct option opts[] = {
        {"target", required_argument, NULL, 't'},
        {"cookie", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},
        {"name", required_argument, NULL, 'N'},
        {"timeout-ms", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            target = optarg;
            break;
        case 'c':
            cookie = optarg;
            break;
        case 'n':
            p.node = optarg;
            break;
        case 'N':
            name = optarg;
            break;
        case 'T': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v <= 0 || v > 600000) {
                fprintf(stderr, "mesh_probe: bad --timeout-ms '%s'\n", optarg);
                return 2;
            }
            p.timeout_ms = (unsigned)v;
            break;
        }
        case 'h':
            probe_usage(stdout);
            return 0;
        default:
            probe_usage(stderr);
            return 2;
        }
    }
    if (target == NULL || cookie == NULL || optind >= argc) {
        probe_usage(stderr);
        return 2;
    }
    if (argc - optind > PROBE_MAX_REQUESTS) {
        fprintf(stderr, "mesh_probe: at most %d requests\n", PROBE_MAX_REQUESTS);
        return 2;
    }
    for (int i = optind; i < argc; i++) {
        json_t *r = parse_request(argv[i]);
        if (r == NULL) {
            for (size_t k = 0; k < p.n_requests; k++) {
                json_decref(p.requests[k]);
            }
            return 2;
        }
        p.requests[p.n_requests++] = r;
    }

    /* A per-process name: concurrent probes must not look like restarts of
     * one another to the node they query. */
    char default_name[64];
    if (name == NULL) {
        snprintf(default_name, sizeof(default_name), "probe-%ld@127.0.0.1", (long)getpid());
        name = default_name;
    }
    const char *seeds[1] = {target};
    bn_mesh_config_t cfg = {
        .name = name,
        .port = -1,
        .cookie = cookie,
        .seeds = seeds,
        .n_seeds = 1,
        .hidden = true,
    };
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = bn_mesh_new(&loop, &cfg, NULL, NULL, &p.mesh);
    if (rc == 0) {
        rc = bn_mesh_start(p.mesh);
        if (rc != 0) {
            bn_mesh_close(p.mesh, on_closed, &p);
        }
    } else {
        p.mesh = NULL;
    }
    if (rc != 0) {
        fprintf(stderr, "mesh_probe: cannot start the mesh: %s\n", uv_err_name(rc));
        p.failed = 1;
    } else {
        probe_send_next(&p);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    for (size_t k = 0; k < p.n_requests; k++) {
        json_decref(p.requests[k]);
    }
    return p.failed ? 1 : 0;
}
