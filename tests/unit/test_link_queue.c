/* A mesh link's write queue (src/mesh/link.c on core/wq): frames stay
 * plaintext while queued, bn__link_take_queue moves the unsent ones to a
 * replacement link in order (re-costed as sealed there), and a flush writes
 * plain frames as they are and seals the rest into one buffer. The links are
 * never connected through the mesh: a dialling link queues without writing,
 * and the replacement gets a real loopback TCP socket to write into. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bennu/log.h"
#include "mesh/internal.h"

#define COOKIE "unit-test-cookie-0123456789"

/* A frame as the codec makes one: a 4-byte big-endian length, then n bytes
 * of c. */
static bn_buf_t *frame(size_t n, char c)
{
    bn_buf_t *b = bn_buf_new(4 + n);
    assert_non_null(b);
    uint8_t *p = (uint8_t *)bn_buf_body(b);
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    memset(p + 4, c, n);
    b->len = 4 + n;
    return b;
}

static void send_frame(bn__link_t *l, size_t n, char c, bool sealed)
{
    l->tx_crypt = sealed;
    bn_buf_t *b = frame(n, c);
    assert_int_equal(bn__link_send(l, b), 0);
    bn_buf_unref(b);
}

static char body_char(const bn_wq_t *q, uint32_t i)
{
    return bn_buf_body(bn_wq_at(q, i))[4];
}

/* A connected loopback TCP pair: *a for the link, *b to read from. */
static void tcp_pair(int *a, int *b)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 1), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    *a = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
    *b = accept(ls, NULL, NULL);
    assert_true(*b >= 0);
    close(ls);
}

static void read_exact(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

static void on_closed(void *ud)
{
    *(bool *)ud = true;
}

static void test_take_queue_then_seal(void **state)
{
    (void)state;
    bn_log_level = BN_LOG_ERROR;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bn_mesh_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = "a@127.0.0.1";
    cfg.cookie = COOKIE;
    static const bn_mesh_callbacks_t cb = {0};
    bn_mesh_t *m = NULL;
    assert_int_equal(bn_mesh_new(&loop, &cfg, &cb, NULL, &m), 0);

    /* Both links are still dialling: what they are sent stays queued. */
    bn__link_t *from = bn__link_new(m, true);
    bn__link_t *to = bn__link_new(m, true);
    send_frame(from, 10, 'P', false); /* a handshake frame, in plain text */
    send_frame(from, 20, 'S', true);
    send_frame(from, 30, 'T', true);
    assert_int_equal(from->wq.len, 3);
    assert_int_equal(from->plain_unsent, 1);
    assert_int_equal(from->queued_bytes, 14 + (24 + BN__HS_ABYTES) + (34 + BN__HS_ABYTES));
    send_frame(to, 5, 'H', false);

    /* The old link's frames follow the new link's own, in order, sealed
     * under the new link's keys (costed so); the old link is empty. */
    bn__link_take_queue(to, from);
    assert_int_equal(from->wq.len, 0);
    assert_int_equal(from->wq.bytes, 0);
    assert_int_equal(from->queued_bytes, 0);
    assert_int_equal(from->plain_unsent, 0);
    assert_int_equal(to->wq.len, 4);
    const char order[] = "HPST";
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(body_char(&to->wq, i), order[i]);
    }
    assert_int_equal(to->plain_unsent, 1);
    assert_int_equal(to->queued_bytes,
                     9 + (14 + BN__HS_ABYTES) + (24 + BN__HS_ABYTES) + (34 + BN__HS_ABYTES));

    /* The old link's burst grew a ring: it goes back once the link has
     * sent nothing for a tick, not before; a link with frames keeps its. */
    assert_true(bn_wq_has_ring(&from->wq));
    uint64_t sent = from->last_tx_ms;
    assert_false(bn__link_shrink_idle(from, sent + m->tick_ms - 1));
    assert_true(bn_wq_has_ring(&from->wq));
    assert_true(bn__link_shrink_idle(from, sent + m->tick_ms));
    assert_false(bn_wq_has_ring(&from->wq));
    assert_true(bn_wq_has_ring(&to->wq));
    assert_false(bn__link_shrink_idle(to, to->last_tx_ms + m->tick_ms));
    assert_true(bn_wq_has_ring(&to->wq));

    /* Connected: the next frame flushes everything. The plain frame goes as
     * it is, every other one with its sealed length, in queue order. */
    int fd, peer;
    tcp_pair(&fd, &peer);
    assert_int_equal(uv_tcp_open(&to->tcp, fd), 0);
    to->state = BN__LINK_HANDSHAKE;
    send_frame(to, 40, 'U', true);
    assert_int_equal(to->wq.len, 0);
    assert_int_equal(to->queued_bytes, 0);
    assert_int_equal(to->plain_unsent, 0);
    uint8_t hdr[9];
    read_exact(peer, hdr, 9);
    assert_int_equal(hdr[3], 5);
    assert_memory_equal(hdr + 4, "HHHHH", 5);
    /* A receiver keyed with the link's send key opens them in order. */
    bn__hs_t rx;
    memset(&rx, 0, sizeof(rx));
    memcpy(rx.rx_key, to->hs.tx_key, sizeof(rx.rx_key));
    rx.derived = true;
    const size_t lens[] = {10, 20, 30, 40};
    const char chars[] = "PSTU";
    for (int i = 0; i < 4; i++) {
        uint8_t h[4];
        read_exact(peer, h, 4);
        size_t clen = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        assert_int_equal(clen, lens[i] + BN__HS_ABYTES);
        uint8_t body[64];
        read_exact(peer, body, clen);
        uint8_t want[40], got[64];
        memset(want, chars[i], lens[i]);
        assert_memory_not_equal(body, want, lens[i]); /* not in plain text */
        assert_int_equal(bn__hs_open(&rx, body, clen, got), (long)lens[i]);
        assert_memory_equal(got, want, lens[i]);
    }
    close(peer);

    bool closed = false;
    bn_mesh_close(m, on_closed, &closed);
    for (int i = 0; i < 1000 && !closed; i++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    assert_true(closed);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_queue_then_seal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
