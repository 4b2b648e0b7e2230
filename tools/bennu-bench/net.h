/* libuv client connections for bennu-bench: connect (optionally from a
 * spread of 127.0.0.0/8 source addresses), WebSocket handshake, frame
 * parsing, and batched masked writes from a request pool.
 *
 * Ownership: the caller owns bnb_net_t and every bnb_conn_t (usually one
 * array). A conn may be reopened with bnb_conn_open once its close callback
 * has run. Everything runs on the loop thread. */
#ifndef BNB_NET_H
#define BNB_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "args.h"
#include "wsproto.h"

typedef struct bnb_net_s bnb_net_t;
typedef struct bnb_conn_s bnb_conn_t;

/* Handshake done; the socket may send. */
typedef void (*bnb_conn_open_cb)(bnb_conn_t *c);
/* One text message; data valid only during the call. now is uv_hrtime()
 * taken once per read. The conn may be closed from inside. */
typedef void (*bnb_conn_text_cb)(bnb_conn_t *c, const char *data, size_t len, uint64_t now);
/* All messages of one read were delivered (the conn is still open). */
typedef void (*bnb_conn_read_done_cb)(bnb_conn_t *c);
/* The handle is closed; err is 0 when bnb_conn_close was called with 0,
 * else a libuv or BNB_WS_E_* code, and why a short static description. */
typedef void (*bnb_conn_close_cb)(bnb_conn_t *c, int err, const char *why);

typedef struct bnb_wreq_s {
    uv_write_t req;
    struct bnb_wreq_s *next; /* freelist link */
    bnb_net_t *net;
    bnb_conn_t *conn;
    size_t len;
    size_t cap;
    uint8_t *buf;
} bnb_wreq_t;

enum { BNB_CONN_IDLE, BNB_CONN_CONNECTING, BNB_CONN_HANDSHAKE, BNB_CONN_OPEN, BNB_CONN_CLOSING };

struct bnb_conn_s {
    /* public */
    void *ud;
    uint32_t id;
    /* read-only */
    uint8_t state;
    uint64_t t_open; /* uv_hrtime() when bnb_conn_open was called */
    /* private */
    uv_tcp_t tcp;
    uv_connect_t creq;
    bnb_net_t *net;
    bnb_ws_parser_t wsp;
    char accept[29];
    char *hs; /* handshake response bytes, freed once open */
    size_t hs_len;
    int close_err;
    const char *close_why;
    bnb_wreq_t *batch; /* frames queued but not yet written */
};

struct bnb_net_s {
    /* public: set before the first bnb_conn_open */
    bnb_conn_open_cb on_open;
    bnb_conn_text_cb on_text;
    bnb_conn_read_done_cb on_read_done; /* may be NULL */
    bnb_conn_close_cb on_close;
    void *ud;
    /* read-only counters */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t pings_in;
    /* private */
    uv_loop_t *loop;
    const bnb_config_t *cfg;
    struct sockaddr_in dst;
    int bind_src;
    uint32_t src_next;
    char path_q[1024];
    uint64_t rng;
    bnb_wreq_t *free_wreqs;
    uint8_t rbuf[256 * 1024]; /* shared: each read is consumed before the next alloc */
};

/* Prepares net for cfg's server. Returns 0 or a negative libuv code (e.g.
 * an unparsable --host). */
int bnb_net_init(bnb_net_t *net, uv_loop_t *loop, const bnb_config_t *cfg);

/* Allocates and prepares a net for cfg's server, as every mode does first.
 * Returns NULL after printing why (an unparsable --host); free with
 * bnb_net_free and free(). */
bnb_net_t *bnb_net_new(uv_loop_t *loop, const bnb_config_t *cfg);

/* Frees the write-request pool; every conn must be closed first. */
void bnb_net_free(bnb_net_t *net);

/* Starts connecting c (state must be IDLE). Returns 0, or a negative libuv
 * code if no handle could be created, in which case no callback fires and c
 * stays IDLE. Any later failure (bind, connect, handshake) ends in on_close
 * with the error, without on_open. */
int bnb_conn_open(bnb_net_t *net, bnb_conn_t *c);

/* Appends one masked frame of the given opcode to c's pending batch. */
void bnb_conn_queue(bnb_conn_t *c, int opcode, const void *data, size_t len);

/* Writes the pending batch with one uv_write (no-op when empty). */
void bnb_conn_flush(bnb_conn_t *c);

/* bnb_conn_queue of a text frame, then bnb_conn_flush. */
void bnb_conn_send_text(bnb_conn_t *c, const void *data, size_t len);

/* Closes c (idempotent); on_close fires later from the loop. When polite,
 * a WebSocket close frame is attempted first. */
void bnb_conn_close(bnb_conn_t *c, int err, const char *why, int polite);

/* Bytes libuv has queued but not yet written on c. */
size_t bnb_conn_write_queue(const bnb_conn_t *c);

#endif
