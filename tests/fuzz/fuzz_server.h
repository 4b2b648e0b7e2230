/* A real bn_server on a libuv loop, driven from a libFuzzer harness
 * (fuzz_http, fuzz_longpoll_body).
 *
 * The server runs on a loop owned by the harness, in the fuzzer's thread, so
 * the harness cannot block on its client socket: every wait is a poll() on
 * the client socket plus the loop's backend fd (bounded by the loop's next
 * timer), followed by uv_run(UV_RUN_NOWAIT). The client socket is a plain
 * non-blocking TCP socket to 127.0.0.1:<ephemeral port>.
 *
 * Routes: "room:*" goes to a small echo channel whose handle_in reaches the
 * reply, push, broadcast, stop and crash paths by event name (see
 * fuzz.dict); a join to "room:error" is refused and "room:crash" crashes. */
#ifndef BN_FUZZ_SERVER_H
#define BN_FUZZ_SERVER_H

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bennu/bennu.h"
#include "channel/internal.h"
#include "bennu/log.h"
#include "fuzz_common.h"
#include "transport/internal.h"

static uv_loop_t fz_loop;
static bn_server_t *fz_srv;
static int fz_port;

static bn_chan_result_t fz_join(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *reply)
{
    (void)params;
    const char *topic = bn_channel_topic(ch);
    if (strcmp(topic, "room:error") == 0) {
        bn_reply_set(reply, "error", json_pack("{s:s}", "reason", "unauthorized"));
        return BN_CHAN_ERROR;
    }
    if (strcmp(topic, "room:crash") == 0) {
        return BN_CHAN_CRASH;
    }
    return BN_CHAN_OK;
}

static bn_chan_result_t fz_in(bn_channel_t *ch, const char *event, const bn_payload_t *payload,
                              bn_reply_t *reply)
{
    if (strcmp(event, "shout") == 0) {
        bn_channel_broadcast(ch, "shout", payload);
        return BN_CHAN_OK;
    }
    if (strcmp(event, "shout_from") == 0) {
        bn_channel_broadcast_from(ch, "shout", payload);
        return BN_CHAN_OK;
    }
    if (strcmp(event, "push") == 0) {
        bn_channel_push(ch, "pushed", payload);
        return BN_CHAN_OK;
    }
    if (strcmp(event, "stop") == 0) {
        return BN_CHAN_STOP;
    }
    if (strcmp(event, "crash") == 0) {
        return BN_CHAN_CRASH;
    }
    if (strcmp(event, "noreply") == 0) {
        return BN_CHAN_OK;
    }
    if (payload->kind == BN_PAYLOAD_BINARY) {
        bn_reply_set_binary(reply, "ok", payload->raw, payload->len);
    } else if (payload->kind == BN_PAYLOAD_JSON && json_is_object(payload->json)) {
        bn_reply_set(reply, "ok", json_deep_copy(payload->json));
    }
    return BN_CHAN_REPLY;
}

static const char *const fz_intercept[] = {"intercepted", NULL};

static bn_chan_result_t fz_out(bn_channel_t *ch, const char *event, const bn_payload_t *payload)
{
    bn_channel_push(ch, event, payload);
    return BN_CHAN_OK;
}

static const bn_channel_type_t fz_room = {
    .name = "fuzz_room",
    .intercept = fz_intercept,
    .join = fz_join,
    .handle_in = fz_in,
    .handle_out = fz_out,
};

/* Waits at most timeout_ms for the loop or fd (if >= 0), then runs one
 * non-blocking loop iteration. */
static void fz_pump(int fd, int timeout_ms)
{
    int t = uv_backend_timeout(&fz_loop);
    if (t >= 0 && t < timeout_ms) {
        timeout_ms = t;
    }
    struct pollfd p[2] = {{uv_backend_fd(&fz_loop), POLLIN, 0}, {fd, POLLIN, 0}};
    poll(p, fd >= 0 ? 2 : 1, timeout_ms);
    uv_run(&fz_loop, UV_RUN_NOWAIT);
}

static void fz_server_start(const bn_config_t *overrides)
{
    signal(SIGPIPE, SIG_IGN);
    bn_log_level = BN_LOG_OFF;
    FUZZ_CHECK(uv_loop_init(&fz_loop) == 0, "uv_loop_init");
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    if (overrides != NULL) {
        cfg = *overrides;
    }
    cfg.bind = "127.0.0.1";
    cfg.port = 0;
    cfg.static_dir = NULL;
    fz_srv = bn_server_new(&fz_loop, &cfg);
    FUZZ_CHECK(fz_srv != NULL, "bn_server_new");
    FUZZ_CHECK(bn_server_route(fz_srv, "room:*", &fz_room, NULL) == 0, "bn_server_route");
    static const char index_html[] = "<!doctype html><title>fuzz</title>";
    FUZZ_CHECK(bn_server_add_static(fz_srv, "/index.html", index_html, sizeof index_html - 1) == 0,
               "bn_server_add_static");
    FUZZ_CHECK(bn_server_start(fz_srv) == 0, "bn_server_start");
    fz_port = bn_server_port(fz_srv);
    FUZZ_CHECK(fz_port > 0, "bn_server_port");
}

/* Config used by both server harnesses: short LongPoll waits so a poll
 * never holds an input for long, small limits so they are reachable. */
static bn_config_t fz_config(void)
{
    bn_config_t cfg;
    bn_config_defaults(&cfg);
    cfg.max_frame_size = 4096;
    cfg.max_message_size = 8192;
    cfg.max_body = 16384;
    cfg.max_request_line = 2048;
    cfg.max_header_bytes = 4096;
    cfg.max_headers = 32;
    cfg.max_channels = 8;
    cfg.longpoll_window_ms = 5;
    cfg.max_longpoll_buffered = 64;
    return cfg;
}

static int fz_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket");
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)fz_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        FUZZ_CHECK(errno == EINPROGRESS, "connect");
        struct pollfd p = {fd, POLLOUT, 0};
        for (int i = 0; i < 100 && poll(&p, 1, 0) == 0; i++) {
            fz_pump(-1, 10);
        }
    }
    return fd;
}

/* Writes everything, running the loop whenever the socket buffer is full
 * (the server must read for the write to progress). */
static void fz_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    int stuck = 0;
    while (len > 0 && stuck < 200) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            stuck = 0;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return; /* the server closed on us: a legitimate outcome */
        }
        fz_pump(-1, 10);
        stuck++;
    }
}

/* True when out holds a complete HTTP response (head + content-length body). */
static bool fz_response_complete(const char *out, size_t got)
{
    const char *end = strstr(out, "\r\n\r\n");
    if (end == NULL) {
        return false;
    }
    const char *cl = strstr(out, "content-length: ");
    if (cl == NULL || cl > end) {
        return true;
    }
    size_t body = strtoul(cl + 16, NULL, 10);
    return got >= (size_t)(end + 4 - out) + body;
}

/* Reads until EOF/reset or until neither side has had anything to do for
 * idle_ms; collects up to cap-1 bytes of the response (NUL-terminated) when
 * out is non-NULL. With one_response, waits (up to max_rounds) until out
 * holds a complete HTTP response instead, since a LongPoll GET is answered
 * by a timer. Returns the bytes received. */
static size_t fz_read_response(int fd, char *out, size_t cap, int idle_ms, int max_rounds,
                               bool one_response)
{
    size_t got = 0;
    char sink[4096];
    for (int round = 0; round < max_rounds; round++) {
        int t = uv_backend_timeout(&fz_loop);
        int timeout = (t >= 0 && t < idle_ms) ? t : idle_ms;
        struct pollfd p[2] = {{uv_backend_fd(&fz_loop), POLLIN, 0}, {fd, POLLIN, 0}};
        int ready = poll(p, 2, timeout);
        uv_run(&fz_loop, UV_RUN_NOWAIT);
        bool eof = false;
        for (;;) {
            ssize_t n = recv(fd, sink, sizeof sink, 0);
            if (n > 0) {
                if (out != NULL && got < cap - 1) {
                    size_t k = (size_t)n < cap - 1 - got ? (size_t)n : cap - 1 - got;
                    memcpy(out + got, sink, k);
                }
                got += (size_t)n;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                eof = true;
            }
            break;
        }
        if (eof) {
            break;
        }
        if (one_response && out != NULL && got < cap) {
            out[got] = '\0';
            if (fz_response_complete(out, got)) {
                break;
            }
        }
        if (!one_response && ready == 0 && timeout == idle_ms) {
            break; /* nothing pending anywhere: the server is waiting for us */
        }
    }
    if (out != NULL) {
        out[got < cap - 1 ? got : cap - 1] = '\0';
    }
    return got;
}

static inline size_t fz_read_until_eof(int fd, char *out, size_t cap, int idle_ms, int max_rounds)
{
    return fz_read_response(fd, out, cap, idle_ms, max_rounds, false);
}

/* Live connections that are not in a bounded graceful close. */
static unsigned fz_open_conns(void)
{
    unsigned n = 0;
    for (bn_conn_t *c = fz_srv->transport->conns; c != NULL; c = c->next) {
        if (!c->closing) {
            n++;
        }
    }
    return n;
}

/* Closes the client and runs the loop until the server has freed every
 * connection, so inputs do not pile up state on each other. Connections in
 * a graceful close are left to the server's own close deadline: after a
 * non-keep-alive response the server stops reading (http.c leaves the
 * connection in HTTP_WAIT with reads stopped), so it does not see our FIN
 * and holds the socket until the 2 s deadline; see tests/fuzz/README.md. */
static void fz_close_and_drain(int fd)
{
    close(fd);
    for (int i = 0; i < 200 && fz_open_conns() > 0; i++) {
        fz_pump(-1, 5);
    }
}

#endif
