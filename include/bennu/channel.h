/* Channels: the C equivalent of a Phoenix.Channel module.
 *
 * A channel type is a table of callbacks; the server runs one channel
 * instance per (connection, topic) after a successful join. All callbacks run
 * on the server's loop thread. Payload and string arguments are borrowed for
 * the duration of the call.
 *
 * Lifetimes: inside any callback, the channel it was given and that
 * channel's socket stay valid until the callback returns, whatever happens
 * meanwhile: a broadcast of an event the channel intercepts may crash or stop
 * it through its own handle_out, its connection may close. Such a channel is
 * only marked: terminate runs at once, bn_channel_push returns -1, and what
 * the interrupted callback returns is ignored (its client already has the
 * phx_error or phx_close); the memory goes when the outermost callback
 * returns. Outside callbacks, a channel pointer is valid from join until its
 * terminate returns (until join returns when join does not return
 * BN_CHAN_OK); do not keep it longer. */
#ifndef BENNU_CHANNEL_H
#define BENNU_CHANNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bennu/export.h"
#include "bennu/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_socket_s bn_socket_t;
typedef struct bn_channel_s bn_channel_t;

/* What a callback asks the server to do next (Phoenix's return tuples). */
typedef enum {
    BN_CHAN_OK = 0, /* join: {:ok, socket} or {:ok, reply, socket}; handle_in: {:noreply, socket} */
    BN_CHAN_REPLY = 1, /* handle_in: {:reply, {status, response}, socket} */
    BN_CHAN_ERROR = 2, /* join: {:error, reply} */
    BN_CHAN_STOP = 3,  /* handle_in: {:stop, :normal, socket}, with a reply first if one was set */
    BN_CHAN_CRASH =
        -1, /* the callback failed: like a raised exception (phx_error / "join crashed") */
    BN_CHAN_ASYNC = 4, /* join/handle_in: the answer comes later, through bn_channel_finish */
} bn_chan_result_t;

/* Why a channel ends; given to terminate (Phoenix's terminate reasons). */
#define BN_STOP_REASON_MAP(X)           \
    X(LEFT, "left")                     \
    X(CLOSED, "closed")                 \
    X(NORMAL, "normal")                 \
    X(DUPLICATE_JOIN, "duplicate_join") \
    X(CRASH, "crash")

typedef enum {
#define BN_STOP_ENUM(name, str) BN_STOP_##name,
    BN_STOP_REASON_MAP(BN_STOP_ENUM)
#undef BN_STOP_ENUM
} bn_stop_reason_t;

BN_EXTERN const char *bn_stop_reason_name(bn_stop_reason_t r);

/* A reply under construction. Callbacks fill it with bn_reply_set*; when
 * nothing is set the response is {} and the status "ok". */
typedef struct bn_reply_s bn_reply_t;

/* Sets status (copied, <= 255 bytes) and a JSON object response, whose
 * reference is stolen (NULL means {}). */
BN_EXTERN void bn_reply_set(bn_reply_t *r, const char *status, json_t *response);
/* Sets status and a binary response (bytes copied). */
BN_EXTERN void bn_reply_set_binary(bn_reply_t *r, const char *status, const void *bytes,
                                   size_t len);

typedef struct bn_channel_type_s {
    const char *name;
    /* Events this channel intercepts (NULL-terminated, may be NULL): a
     * broadcast of one of them is handed to handle_out for each subscriber
     * instead of being sent as shared bytes. */
    const char *const *intercept;
    /* Required. Returns BN_CHAN_OK (reply optional), BN_CHAN_ERROR (reply is
     * the error response) or BN_CHAN_CRASH ("join crashed"). */
    bn_chan_result_t (*join)(bn_channel_t *ch, const bn_payload_t *params, bn_reply_t *reply);
    /* Optional (absent: every event crashes the channel, as an unmatched
     * function clause would). Returns OK (no reply), REPLY, STOP or CRASH. */
    bn_chan_result_t (*handle_in)(bn_channel_t *ch, const char *event, const bn_payload_t *payload,
                                  bn_reply_t *reply);
    /* Optional: called for intercepted broadcasts; it may bn_channel_push.
     * Returns OK, or STOP (the channel closes: phx_close, terminate
     * "normal"); anything else (CRASH, ERROR, REPLY) crashes it. */
    bn_chan_result_t (*handle_out)(bn_channel_t *ch, const char *event,
                                   const bn_payload_t *payload);
    /* Optional: the channel is going away; no push is possible any more. */
    void (*terminate)(bn_channel_t *ch, bn_stop_reason_t reason);
} bn_channel_type_t;

BN_EXTERN const char *bn_channel_topic(const bn_channel_t *ch);
BN_EXTERN bn_socket_t *bn_channel_socket(bn_channel_t *ch);
/* The user data given to bn_server_route for this channel's route. */
BN_EXTERN void *bn_channel_route_data(const bn_channel_t *ch);
/* Per-channel state for the application (freed by it in terminate). */
BN_EXTERN void bn_channel_set_data(bn_channel_t *ch, void *data);
BN_EXTERN void *bn_channel_data(const bn_channel_t *ch);

/* Pushes an event to this channel's client only. 0 or -1 (connection gone,
 * channel left/crashed/closed, payload not encodable: binary on a V1 socket,
 * non-object JSON). */
BN_EXTERN int bn_channel_push(bn_channel_t *ch, const char *event, const bn_payload_t *payload);
/* Broadcasts to every subscriber of the channel's topic on every node
 * (sender included). Returns the number of local deliveries or -1. */
BN_EXTERN int bn_channel_broadcast(bn_channel_t *ch, const char *event,
                                   const bn_payload_t *payload);
/* Same, excluding this channel's own connection. */
BN_EXTERN int bn_channel_broadcast_from(bn_channel_t *ch, const char *event,
                                        const bn_payload_t *payload);

/* Asynchronous join and handle_in (for callbacks that must ask something
 * over the network, such as a webhook). A join or handle_in that returns
 * BN_CHAN_ASYNC leaves its reply (if any) untouched and later calls
 * bn_channel_finish exactly once, from another loop callback (never from
 * inside the callback that returned BN_CHAN_ASYNC). Meanwhile the channel
 * keeps its Phoenix order: during an asynchronous join every later message
 * of that socket waits (the Phoenix transport is blocked in join), during an
 * asynchronous handle_in the later messages of that topic wait; they are
 * processed in arrival order once it finishes. At most
 * BN_CHAN_ASYNC_QUEUE_MAX messages (and max_queued_bytes bytes) wait per
 * socket; beyond, the connection is treated as over its rate limit
 * (WebSocket close 1008, LongPoll POST status 429).
 *
 * The channel pointer stays allocated until bn_channel_finish, whatever
 * happens meanwhile: when the channel or its socket went away (socket
 * closed, channel crashed by a broadcast), bn_channel_finish only releases
 * it. res is what the callback would have returned (join: OK, ERROR or
 * CRASH; handle_in: OK, REPLY, STOP or CRASH); status (NULL = "ok" for OK
 * and REPLY, "error" for a join ERROR) and response (reference stolen, NULL
 * = {}) are the reply. */
#define BN_CHAN_ASYNC_QUEUE_MAX 256
BN_EXTERN void bn_channel_finish(bn_channel_t *ch, bn_chan_result_t res, const char *status,
                                 json_t *response);
/* False once the channel was removed (left, crashed, closed, its socket
 * gone) or, during an asynchronous join, once its socket closed. */
BN_EXTERN bool bn_channel_alive(const bn_channel_t *ch);

/* Socket assigns: a JSON object per connection. set steals the value. */
BN_EXTERN void bn_socket_assign(bn_socket_t *s, const char *key, json_t *value);
BN_EXTERN json_t *bn_socket_assigns_get(const bn_socket_t *s, const char *key);
/* Connect params (query string) as a JSON object of strings; borrowed. */
BN_EXTERN json_t *bn_socket_params(const bn_socket_t *s);
/* "websocket" or "longpoll". */
BN_EXTERN const char *bn_socket_transport(const bn_socket_t *s);

/* Information about the connecting client, given to the connect callback. */
typedef struct bn_connect_info_s {
    const char *peer;      /* "ip:port" */
    const char *transport; /* "websocket" / "longpoll" */
    json_t *headers;       /* object: lower-case name -> value; borrowed */
    /* The token of phoenix.js's `authToken` option, or NULL: carried in
     * Sec-WebSocket-Protocol ("base64url.bearer.phx.<base64>") on WebSocket
     * and in the x-phoenix-authtoken header on LongPoll (Phoenix 1.8). */
    const char *auth_token;
} bn_connect_info_t;

/* Returns true to accept the connection (it may assign), false to refuse:
 * the WebSocket upgrade then gets HTTP 403 and LongPoll {"status":403}. */
typedef bool (*bn_connect_cb)(bn_socket_t *s, json_t *params, const bn_connect_info_t *info,
                              void *ud);

#ifdef __cplusplus
}
#endif

#endif
