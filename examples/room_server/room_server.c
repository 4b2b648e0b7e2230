/* room_server: a small application embedding Bennu, built against the
 * installed package only (pkg-config, or find_package in CMake) and the
 * public headers <bennu/...>.
 *
 *   connect  ws://HOST:PORT/socket/websocket?vsn=2.0.0&user=NAME
 *            NAME is 1-32 of [A-Za-z0-9_-]; anything else is refused (403).
 *   room:R   any user may join, up to --capacity members per room
 *            (join error {"reason":"room full"} beyond); rooms named
 *            "vip-..." also need the join param {"key": K} where K is the
 *            ROOM_SERVER_KEY environment variable (unset: vip rooms closed).
 *            Errors: {"reason":"unauthorized"}.
 *   say      {"body": text} -> broadcast "said" {"user","body","seq"} to the
 *            room, reply {"seq": n}. "said" is intercepted: each member's
 *            handle_out adds "mine" (true for the sender) and drops messages
 *            from users that member muted.
 *   mute     {"user": NAME} -> that member no longer sees NAME's messages.
 *   who      -> reply {"members": [NAME, ...]} in join order.
 *   tick     pushed by a server-side timer every --tick-ms to every member:
 *            {"members": n, "seq": last seq, "tick": k}.
 *
 * Per-topic state (the room: members, message sequence) lives in the route's
 * user data and is freed when the room's last member's terminate runs.
 * SIGINT/SIGTERM stop the server gracefully; the program prints
 * "stopped rooms_left=N" (0 when every terminate ran) and exits 0.
 *
 * Clustering: with --mesh-port (and the cluster cookie, at least 16 bytes,
 * in ROOM_SERVER_COOKIE) the server joins a mesh as node --name (default
 * room-PORT@127.0.0.1), dialling --join HOST:PORT if given; one call,
 * bn_server_attach_mesh (<bennu/cluster.h>), clusters it, so a "say" on one
 * node reaches the room's members on every node (each node keeps its own
 * member list and capacity; a remote "said" reaches handle_out as raw JSON).
 *
 *   room_server [--port N] [--bind ADDR] [--tick-ms MS] [--capacity N]
 *               [--mesh-port N --name NAME@HOST --join HOST:PORT]
 * prints "listening port=N ... mesh_port=M" on stdout once it accepts
 * connections (M is -1 without a mesh). */
#include <bennu/bennu.h>
#include <bennu/cluster.h>
#include <bennu/mesh.h>

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define USER_MAX 32

typedef struct room_s room_t;

/* One joined channel: bn_channel_data of the channel. */
typedef struct member_s {
    bn_channel_t *ch;
    room_t *room;
    char user[USER_MAX + 1];
    json_t *muted; /* object: user name -> true */
    struct member_s *next;
} member_t;

/* Per-topic state, shared by every member of the topic. */
struct room_s {
    char *topic;
    unsigned n_members;
    unsigned long seq;
    member_t *members; /* join order */
    room_t *next;
};

typedef struct app_s {
    uv_loop_t *loop;
    bn_server_t *srv;
    room_t *rooms;
    unsigned capacity;
    const char *vip_key;
    uv_timer_t tick;
    unsigned long ticks;
    bool in_tick; /* rooms emptied meanwhile are freed after the walk */
    uv_signal_t sigint, sigterm;
    bool stopping;
    bn_mesh_t *mesh; /* with --mesh-port; NULL otherwise */
} app_t;

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

static bool valid_user(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > USER_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Constant-time comparison for the vip key. */
static bool key_matches(const char *given, const char *expected)
{
    size_t n = strlen(expected);
    if (strlen(given) != n) {
        return false;
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(given[i] ^ expected[i]);
    }
    return diff == 0;
}

static room_t *room_find(app_t *app, const char *topic)
{
    for (room_t *r = app->rooms; r != NULL; r = r->next) {
        if (strcmp(r->topic, topic) == 0) {
            return r;
        }
    }
    return NULL;
}

static void room_free(app_t *app, room_t *room)
{
    for (room_t **pp = &app->rooms; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == room) {
            *pp = room->next;
            break;
        }
    }
    free(room->topic);
    free(room);
}

/* ---------------------------------------------------------------- connect */

static bool on_connect(bn_socket_t *s, json_t *params, const bn_connect_info_t *info, void *ud)
{
    (void)ud;
    const char *user = json_string_value(json_object_get(params, "user"));
    if (user == NULL || !valid_user(user)) {
        fprintf(stderr, "room_server: connect refused peer=%s\n", info->peer);
        return false;
    }
    bn_socket_assign(s, "user", json_string(user));
    return true;
}

/* ---------------------------------------------------------------- the channel */

static bn_chan_result_t join_error(bn_reply_t *reply, const char *reason)
{
    bn_reply_set(reply, "error", json_pack("{s:s}", "reason", reason));
    return BN_CHAN_ERROR;
}

static bn_chan_result_t room_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *reply)
{
    app_t *app = bn_channel_route_data(ch);
    const char *topic = bn_channel_topic(ch);
    const char *name = topic + strlen("room:");
    const char *user = json_string_value(bn_socket_assigns_get(bn_channel_socket(ch), "user"));
    if (user == NULL || *name == '\0') {
        return join_error(reply, "unauthorized");
    }
    if (strncmp(name, "vip-", 4) == 0) {
        json_t *key = params->kind == BN_PAYLOAD_JSON ? json_object_get(params->json, "key") : NULL;
        if (app->vip_key == NULL || !json_is_string(key) ||
            !key_matches(json_string_value(key), app->vip_key)) {
            return join_error(reply, "unauthorized");
        }
    }
    room_t *room = room_find(app, topic);
    if (room != NULL && room->n_members >= app->capacity) {
        return join_error(reply, "room full");
    }
    member_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return BN_CHAN_CRASH;
    }
    if (room == NULL) {
        room = calloc(1, sizeof(*room));
        if (room == NULL || (room->topic = copy_string(topic)) == NULL) {
            free(room);
            free(m);
            return BN_CHAN_CRASH;
        }
        room->next = app->rooms;
        app->rooms = room;
    }
    m->ch = ch;
    m->room = room;
    snprintf(m->user, sizeof(m->user), "%s", user);
    m->muted = json_object();
    member_t **tail = &room->members;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = m;
    room->n_members++;
    bn_channel_set_data(ch, m);
    bn_reply_set(reply, "ok", json_pack("{s:I}", "members", (json_int_t)room->n_members));
    return BN_CHAN_OK;
}

static bn_chan_result_t room_handle_in(bn_channel_t *ch, const char *event,
                                       const bn_payload_t *payload, bn_reply_t *reply)
{
    member_t *m = bn_channel_data(ch);
    json_t *in = payload->kind == BN_PAYLOAD_JSON ? payload->json : NULL;
    if (strcmp(event, "say") == 0) {
        const char *body = json_string_value(json_object_get(in, "body"));
        if (body == NULL) {
            bn_reply_set(reply, "error", json_pack("{s:s}", "reason", "body required"));
            return BN_CHAN_REPLY;
        }
        unsigned long seq = ++m->room->seq;
        json_t *msg =
            json_pack("{s:s, s:s, s:I}", "user", m->user, "body", body, "seq", (json_int_t)seq);
        if (msg == NULL) {
            return BN_CHAN_CRASH;
        }
        bn_payload_t p = bn_payload_json(msg);
        bn_channel_broadcast(ch, "said", &p);
        json_decref(msg);
        bn_reply_set(reply, "ok", json_pack("{s:I}", "seq", (json_int_t)seq));
        return BN_CHAN_REPLY;
    }
    if (strcmp(event, "mute") == 0) {
        const char *user = json_string_value(json_object_get(in, "user"));
        if (user == NULL || !valid_user(user)) {
            bn_reply_set(reply, "error", json_pack("{s:s}", "reason", "bad user"));
            return BN_CHAN_REPLY;
        }
        json_object_set_new(m->muted, user, json_true());
        return BN_CHAN_REPLY;
    }
    if (strcmp(event, "who") == 0) {
        json_t *list = json_array();
        for (member_t *o = m->room->members; o != NULL; o = o->next) {
            json_array_append_new(list, json_string(o->user));
        }
        bn_reply_set(reply, "ok", json_pack("{s:o}", "members", list));
        return BN_CHAN_REPLY;
    }
    return BN_CHAN_CRASH; /* no handle_in clause for this event */
}

/* Intercepted "said": per-recipient filtering and decoration. A local
 * broadcast arrives as JSON; one from another node (with a mesh) as raw
 * JSON text. */
static bn_chan_result_t room_handle_out(bn_channel_t *ch, const char *event,
                                        const bn_payload_t *payload)
{
    member_t *m = bn_channel_data(ch);
    json_t *msg = NULL;
    if (payload->kind == BN_PAYLOAD_JSON) {
        msg = json_deep_copy(payload->json);
    } else if (payload->kind == BN_PAYLOAD_RAW_JSON) {
        msg = json_loadb(payload->raw, payload->len, 0, NULL);
    }
    const char *from = json_string_value(json_object_get(msg, "user"));
    if (from == NULL) {
        json_decref(msg);
        return BN_CHAN_OK; /* not ours to deliver */
    }
    if (json_object_get(m->muted, from) == NULL) {
        json_object_set_new(msg, "mine", json_boolean(strcmp(from, m->user) == 0));
        bn_payload_t p = bn_payload_json(msg);
        bn_channel_push(ch, event, &p);
    }
    json_decref(msg);
    return BN_CHAN_OK;
}

static void room_terminate(bn_channel_t *ch, bn_stop_reason_t reason)
{
    app_t *app = bn_channel_route_data(ch);
    member_t *m = bn_channel_data(ch);
    if (m == NULL) {
        return;
    }
    room_t *room = m->room;
    for (member_t **pp = &room->members; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    room->n_members--;
    fprintf(stderr, "room_server: terminate topic=%s user=%s reason=%s members=%u\n", room->topic,
            m->user, bn_stop_reason_name(reason), room->n_members);
    if (room->n_members == 0 && !app->in_tick) {
        room_free(app, room);
    }
    json_decref(m->muted);
    free(m);
    bn_channel_set_data(ch, NULL);
}

static const char *const room_intercepts[] = {"said", NULL};

static const bn_channel_type_t room_channel = {
    .name = "RoomChannel",
    .intercept = room_intercepts,
    .join = room_join,
    .handle_in = room_handle_in,
    .handle_out = room_handle_out,
    .terminate = room_terminate,
};

/* ---------------------------------------------------------------- timer, signals */

/* A push may close a connection (a slow consumer), and with it every channel
 * of that socket: members are unlinked at once, so the walk keeps the next
 * pointer, and rooms that empty are only freed after it. */
static void on_tick(uv_timer_t *t)
{
    app_t *app = t->data;
    app->ticks++;
    app->in_tick = true;
    for (room_t *room = app->rooms; room != NULL; room = room->next) {
        json_t *msg = json_pack("{s:I, s:I, s:I}", "members", (json_int_t)room->n_members, "seq",
                                (json_int_t)room->seq, "tick", (json_int_t)app->ticks);
        if (msg == NULL) {
            continue;
        }
        bn_payload_t p = bn_payload_json(msg);
        for (member_t *m = room->members, *next; m != NULL; m = next) {
            next = m->next;
            bn_channel_push(m->ch, "tick", &p);
        }
        json_decref(msg);
    }
    app->in_tick = false;
    for (room_t *room = app->rooms, *next; room != NULL; room = next) {
        next = room->next;
        if (room->n_members == 0) {
            room_free(app, room);
        }
    }
}

static void on_stopped(void *ud)
{
    app_t *app = ud;
    app->srv = NULL;
    /* The server detached itself from the mesh when it was freed: the mesh
     * closes last. */
    if (app->mesh != NULL) {
        bn_mesh_close(app->mesh, NULL, NULL);
        app->mesh = NULL;
    }
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    (void)signum;
    if (app->stopping) {
        return;
    }
    app->stopping = true;
    uv_timer_stop(&app->tick);
    uv_close((uv_handle_t *)&app->tick, NULL);
    bn_server_stop(app->srv, on_stopped, app);
}

/* ---------------------------------------------------------------- main */

static int parse_uint(const char *flag, const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v = s != NULL ? strtol(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "room_server: %s needs a number in [%ld, %ld]\n", flag, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long port = 4000, tick_ms = 1000, capacity = 16, mesh_port = -1;
    const char *bind_addr = "127.0.0.1";
    const char *node_name = NULL, *join = NULL;
    for (int i = 1; i < argc; i += 2) { /* every flag but --version takes a value */
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(argv[i], "--port") == 0) {
            rc = parse_uint("--port", next, 0, 65535, &port);
        } else if (strcmp(argv[i], "--tick-ms") == 0) {
            rc = parse_uint("--tick-ms", next, 1, 3600000, &tick_ms);
        } else if (strcmp(argv[i], "--capacity") == 0) {
            rc = parse_uint("--capacity", next, 1, 100000, &capacity);
        } else if (strcmp(argv[i], "--bind") == 0 && next != NULL) {
            bind_addr = next;
        } else if (strcmp(argv[i], "--mesh-port") == 0) {
            rc = parse_uint("--mesh-port", next, 0, 65535, &mesh_port);
        } else if (strcmp(argv[i], "--name") == 0 && next != NULL) {
            node_name = next;
        } else if (strcmp(argv[i], "--join") == 0 && next != NULL) {
            join = next;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("room_server on bennu %s (headers %s)\n", bn_version_string(),
                   BN_VERSION_STRING);
            return 0;
        } else {
            fprintf(stderr, "usage: room_server [--port N] [--bind ADDR] [--tick-ms MS] "
                            "[--capacity N] [--mesh-port N [--name NAME@HOST] "
                            "[--join HOST:PORT]] [--version]\n");
            return 2;
        }
        if (rc != 0) {
            return 2;
        }
    }

    app_t app;
    memset(&app, 0, sizeof(app));
    app.loop = uv_default_loop();
    app.capacity = (unsigned)capacity;
    const char *key = getenv("ROOM_SERVER_KEY");
    app.vip_key = key != NULL && *key != '\0' ? key : NULL;

    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.bind = bind_addr;
    cfg.port = (int)port;
    cfg.check_origin = "off"; /* a demo: accept any page's origin */
    app.srv = bn_server_new(app.loop, &cfg);
    if (app.srv == NULL) {
        fprintf(stderr, "room_server: out of memory\n");
        return 1;
    }
    bn_server_on_connect(app.srv, on_connect, &app);
    if (bn_server_route(app.srv, "room:*", &room_channel, &app) != 0) {
        fprintf(stderr, "room_server: bn_server_route failed\n");
        return 1;
    }
    int err = bn_server_start(app.srv);
    if (err != 0) {
        fprintf(stderr, "room_server: cannot listen on %s:%ld: %s (%s)\n", bind_addr, port,
                bn_strerror(err), bn_err_name(err));
        return 1;
    }

    if (mesh_port >= 0) {
        const char *cookie = getenv("ROOM_SERVER_COOKIE");
        char default_name[64];
        snprintf(default_name, sizeof(default_name), "room-%d@127.0.0.1", bn_server_port(app.srv));
        const char *seeds[1] = {join};
        bn_mesh_config_t mc;
        memset(&mc, 0, sizeof(mc));
        mc.name = node_name != NULL ? node_name : default_name;
        mc.bind = bind_addr;
        mc.port = (int)mesh_port;
        mc.cookie = cookie;
        mc.seeds = seeds;
        mc.n_seeds = join != NULL ? 1 : 0;
        mc.tick_ms = 100;
        if (bn_mesh_new(app.loop, &mc, NULL, NULL, &app.mesh) != 0) {
            fprintf(stderr, "room_server: bad mesh settings (ROOM_SERVER_COOKIE: 16 bytes or "
                            "more; --name NAME@HOST)\n");
            return 2;
        }
        err = bn_mesh_start(app.mesh);
        if (err != 0) {
            fprintf(stderr, "room_server: cannot listen for the mesh: %s\n", bn_strerror(err));
            return 1;
        }
        bn_server_attach_mesh(app.srv, app.mesh);
    }

    uv_timer_init(app.loop, &app.tick);
    app.tick.data = &app;
    uv_timer_start(&app.tick, on_tick, (uint64_t)tick_ms, (uint64_t)tick_ms);
    uv_signal_init(app.loop, &app.sigint);
    uv_signal_init(app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);

    printf("listening port=%d version=%s mesh_port=%d\n", bn_server_port(app.srv),
           bn_version_string(), app.mesh != NULL ? bn_mesh_port(app.mesh) : -1);
    fflush(stdout);
    uv_run(app.loop, UV_RUN_DEFAULT);

    unsigned rooms_left = 0;
    while (app.rooms != NULL) { /* only if some terminate never ran */
        rooms_left++;
        room_free(&app, app.rooms);
    }
    printf("stopped rooms_left=%u\n", rooms_left);
    uv_loop_close(app.loop);
    return 0;
}
