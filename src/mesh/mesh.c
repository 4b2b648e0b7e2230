/* The public mesh API, the dispatch of frames from authenticated links, and
 * the housekeeping timer (ticks, liveness, handshake deadlines, redials,
 * admin deadlines). One housekeeping timer per mesh instead of timers per
 * link or node keeps teardown simple: only the listener, the timer, the idle
 * handle and the links are libuv handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "bennu/log.h"
#include "core/net.h"
#include "core/sigpipe.h"
#include "core/time.h"
#include "core/json_check.h"
#include "core/utf8.h"
#include "mesh/internal.h"

#define DEFAULT_TICK_MS 1000u
#define DEFAULT_DOWN_MS 5000u
#define DEFAULT_MAX_FRAME (16u * 1024u * 1024u)
#define DEFAULT_MAX_LINK_QUEUE (64u * 1024u * 1024u)
#define DEFAULT_MAX_PREAUTH 128u
#define DEFAULT_MAX_PREAUTH_PER_IP 16u

uint64_t bn__mesh_now(const bn_mesh_t *m)
{
    return uv_now(m->loop);
}

/* ---- construction ------------------------------------------------------- */

int bn_mesh_new(uv_loop_t *loop, const bn_mesh_config_t *cfg, const bn_mesh_callbacks_t *cb,
                void *ud, bn_mesh_t **out)
{
    if (cfg == NULL || cfg->name == NULL ||
        !bn__node_name_valid((const uint8_t *)cfg->name, strlen(cfg->name))) {
        BN_LOG(ERROR, "mesh_config", "reason=%s", BN_LOG_VAL("name must be name@host"));
        return UV_EINVAL;
    }
    if (cfg->cookie == NULL || strlen(cfg->cookie) < BN__HS_COOKIE_MIN) {
        BN_LOG(ERROR, "mesh_config", "reason=\"%s\"", "the cookie must be at least 16 bytes");
        return UV_EINVAL;
    }
    bn__cidr_t *allow = NULL;
    if (cfg->n_allow > 0) {
        allow = bn_xcalloc(cfg->n_allow, sizeof(*allow));
        for (size_t i = 0; i < cfg->n_allow; i++) {
            if (cfg->allow[i] == NULL || bn__cidr_parse(cfg->allow[i], &allow[i]) != 0) {
                BN_LOG(ERROR, "mesh_config", "reason=\"%s\" allow=%s",
                       "bad network, want ADDR or ADDR/BITS", BN_LOG_VAL(cfg->allow[i]));
                free(allow);
                return UV_EINVAL;
            }
        }
    }
    if (cfg->port < -1 || cfg->port > 65535) {
        BN_LOG(ERROR, "mesh_config", "reason=%s port=%d", BN_LOG_VAL("bad port"), cfg->port);
        return UV_EINVAL;
    }
    size_t seeds_cap = cfg->n_seeds + (cfg->n_join_dns > 0 ? BN__DNS_MAX_ADDRS : 0);
    bn__seed_t *seeds = bn_xcalloc(seeds_cap ? seeds_cap : 1, sizeof(*seeds));
    for (size_t i = 0; i < cfg->n_seeds; i++) {
        if (cfg->seeds[i] == NULL ||
            bn__parse_hostport(cfg->seeds[i], seeds[i].host, sizeof(seeds[i].host),
                               &seeds[i].port) != 0) {
            BN_LOG(ERROR, "mesh_config", "reason=%s seed=%s",
                   BN_LOG_VAL("bad seed, want host:port"), BN_LOG_VAL(cfg->seeds[i]));
            free(seeds);
            free(allow);
            return UV_EINVAL;
        }
    }
    char adv_host[BN__MESH_HOST_MAX + 1] = "";
    int adv_port = 0;
    bool bad = cfg->advertise != NULL &&
               bn__parse_hostport(cfg->advertise, adv_host, sizeof(adv_host), &adv_port) != 0;
    if (bad) {
        BN_LOG(ERROR, "mesh_config", "reason=%s advertise=%s",
               BN_LOG_VAL("bad advertise address, want HOST:PORT"), BN_LOG_VAL(cfg->advertise));
    }
    for (size_t i = 0; !bad && i < cfg->n_join_dns; i++) {
        if (bn__dns_name_check(cfg->join_dns[i], cfg->port) != 0) {
            BN_LOG(ERROR, "mesh_config", "reason=%s join_dns=%s",
                   BN_LOG_VAL("bad DNS seed, want NAME[:PORT] (PORT needed with an ephemeral "
                              "mesh port)"),
                   BN_LOG_VAL(cfg->join_dns[i]));
            bad = true;
        }
    }
    if (bad) {
        free(seeds);
        free(allow);
        return UV_EINVAL;
    }
    /* sodium_init is idempotent and thread-safe; it is the one global
     * initialisation the mesh needs. */
    uint8_t cookie_key[BN__HS_KEY_BYTES];
    if (sodium_init() < 0 || bn__hs_cookie_key(cfg->cookie, cookie_key) != 0) {
        BN_LOG(ERROR, "mesh_config", "reason=\"%s\"", "cannot derive the cookie key");
        free(seeds);
        free(allow);
        return UV_EIO;
    }

    bn_mesh_t *m = bn_xcalloc(1, sizeof(*m));
    bn_queue_init(&m->links);
    bn_queue_init(&m->pa.links);
    m->loop = loop;
    m->name = bn_xstrdup(cfg->name);
    m->bind = bn_xstrdup(cfg->bind != NULL ? cfg->bind : "127.0.0.1");
    m->cfg_port = cfg->port;
    m->port = -1;
    memcpy(m->cookie_key, cookie_key, sizeof(cookie_key));
    sodium_memzero(cookie_key, sizeof(cookie_key));
    m->pa.max_total = cfg->max_preauth ? cfg->max_preauth : DEFAULT_MAX_PREAUTH;
    m->pa.max_per_ip =
        cfg->max_preauth_per_ip ? cfg->max_preauth_per_ip : DEFAULT_MAX_PREAUTH_PER_IP;
    m->pa.allow = allow;
    m->pa.n_allow = cfg->n_allow;
    m->pa.summary_ms = 10000;
    m->tick_ms = cfg->tick_ms ? cfg->tick_ms : DEFAULT_TICK_MS;
    m->down_ms = cfg->down_ms ? cfg->down_ms : DEFAULT_DOWN_MS;
    m->hidden = cfg->hidden;
    m->max_frame = cfg->max_frame ? cfg->max_frame : DEFAULT_MAX_FRAME;
    if (m->max_frame > UINT32_MAX - BN__HS_ABYTES) {
        m->max_frame = UINT32_MAX - BN__HS_ABYTES;
    }
    m->max_link_queue = cfg->max_link_queue ? cfg->max_link_queue : DEFAULT_MAX_LINK_QUEUE;
    if (cb != NULL) {
        m->cb = *cb;
    }
    m->ud = ud;
    m->seeds = seeds;
    m->n_seeds = cfg->n_seeds;
    m->seeds_cap = seeds_cap;
    m->dns_interval_ms = cfg->dns_interval_ms ? cfg->dns_interval_ms : 5000;
    memcpy(m->adv_host, adv_host, sizeof(adv_host));
    m->adv_port = adv_port;
    bn__dns_init(m, cfg->join_dns, cfg->n_join_dns); /* checked above */
    if (cfg->n_dial_overrides > 0) {
        m->dial_overrides = bn_xcalloc(cfg->n_dial_overrides, sizeof(char *));
        for (size_t i = 0; i < cfg->n_dial_overrides; i++) {
            m->dial_overrides[i] = bn_xstrdup(cfg->dial_overrides[i]);
        }
        m->n_dial_overrides = cfg->n_dial_overrides;
    }
    /* Wall-clock milliseconds in the high bits make a restart's incarnation
     * compare greater than the previous one; the random low bits separate
     * nodes started in the same millisecond. */
    uint64_t ms = bn_wall_ms();
    m->incarnation = (ms << 20) | randombytes_uniform(1u << 20);

    unsigned sweep = m->tick_ms / 2;
    m->timing.sweep_ms = sweep < 10 ? 10 : (sweep > 100 ? 100 : sweep);
    m->timing.handshake_ms = 5000;
    m->timing.backoff_min_ms = 100;
    m->timing.backoff_max_ms = 10000;
    m->timing.sync_chunk = 1000;
    m->timing.tick_force = 4;

    uv_timer_init(loop, &m->sweep);
    m->sweep.data = m;
    uv_idle_init(loop, &m->idle);
    m->idle.data = m;
    m->open_handles = 2;
    *out = m;
    return 0;
}

/* ---- housekeeping ------------------------------------------------------- */

void bn__mesh_send_tick(bn_mesh_t *m, bn__link_t *l)
{
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_TICK;
    uint64_t t = bn_mono_us();
    msg.u.tick.ts_us = t;
    if (l->peer_tick_ts_us != 0) {
        msg.u.tick.echo_ts_us = l->peer_tick_ts_us;
        msg.u.tick.echo_delay_us = t - l->peer_tick_rx_us;
    }
    /* A digest taken while our snapshot is still being streamed would not
     * match what the peer holds yet. */
    msg.u.tick.has_digest = !m->hidden && !l->gtx.active;
    msg.u.tick.digest = m->local.digest;
    msg.u.tick.count = m->local.count;
    l->last_tick_tx_ms = bn__mesh_now(m);
    bn__link_send_msg(l, &msg);
}

static void on_sweep(uv_timer_t *t)
{
    bn_mesh_t *m = t->data;
    uint64_t now = bn__mesh_now(m);
    for (bn__link_t *l = bn__link_first(m); l != NULL; l = bn__link_next(m, l)) {
        switch (l->state) {
        case BN__LINK_CONNECTING:
        case BN__LINK_HANDSHAKE:
        case BN__LINK_PENDING:
            if (now - l->created_ms >= m->timing.handshake_ms) {
                bn__link_close(l, BN_CLOSE_HANDSHAKE_TIMEOUT);
            }
            break;
        case BN__LINK_UP:
            if (l->draining) {
                /* A Refuse that the peer does not read. */
                if (now - l->last_tx_ms >= m->timing.handshake_ms) {
                    bn__link_close(l, l->drain_reason);
                }
                break;
            }
            if (now - l->last_rx_ms >= m->down_ms) {
                bn__link_close(l, BN_CLOSE_TICK_TIMEOUT);
                break;
            }
            bn__link_shrink_idle(l, now); /* as client connections at their sweep */
            if (now - l->last_tx_ms >= m->tick_ms ||
                now - l->last_tick_tx_ms >= (uint64_t)m->tick_ms * m->timing.tick_force) {
                bn__mesh_send_tick(m, l);
            }
            break;
        case BN__LINK_CLOSING:
            break;
        }
    }
    bn__gossip_sweep(m, now);
    bn__dns_sweep(m, now);
    bn__admin_sweep(m, now);
    bn__preauth_sweep(m, now);
}

/* Sends the next chunk of l's pending GroupSync snapshot. */
static void send_sync_chunk(bn_mesh_t *m, bn__link_t *l)
{
    bn__gtx_t *tx = &l->gtx;
    size_t k = tx->n - tx->pos;
    if (k > m->timing.sync_chunk) {
        k = m->timing.sync_chunk;
    }
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_GROUP_SYNC;
    msg.u.sync.sync_id = tx->sync_id;
    msg.u.sync.first = tx->pos == 0;
    msg.u.sync.last = tx->pos + k == tx->n;
    msg.u.sync.topics = tx->items + tx->pos;
    msg.u.sync.n = k;
    bn__link_send_msg(l, &msg);
    tx->pos += k;
    if (tx->pos == tx->n) {
        bn__gtx_reset(tx);
    }
}

/* Streams the rest of pending GroupSync snapshots, one chunk per link per
 * loop turn, so a node with 100k topics does not stall the loop when a peer
 * comes up. */
static void on_idle(uv_idle_t *h)
{
    bn_mesh_t *m = h->data;
    bool more = false;
    for (bn__link_t *l = bn__link_first(m); l != NULL; l = bn__link_next(m, l)) {
        if (!l->gtx.active || l->state != BN__LINK_UP) {
            continue;
        }
        /* Leave room in the queue for broadcasts: wait while it drains. */
        if (l->queued_bytes > m->max_link_queue / 2) {
            more = true;
            continue;
        }
        send_sync_chunk(m, l);
        more = more || l->gtx.active;
    }
    if (!more) {
        uv_idle_stop(&m->idle);
        m->idle_on = false;
    }
}

void bn__mesh_want_idle(bn_mesh_t *m)
{
    if (!m->idle_on && !m->closing) {
        uv_idle_start(&m->idle, on_idle);
        m->idle_on = true;
    }
}

static void start_sync(bn_mesh_t *m, bn__link_t *l)
{
    if (m->hidden) {
        return;
    }
    bn__gtx_start(&l->gtx, &m->local, ++m->next_sync_id);
    /* The first chunk goes now, in the same turn as the snapshot: a
     * GroupJoin or GroupLeave sent after it reaches the peer after the
     * chunk that opens the sync, so the peer logs it and replays it on top
     * of the snapshot instead of losing it when the snapshot lands. */
    send_sync_chunk(m, l);
    if (l->gtx.active) {
        bn__mesh_want_idle(m);
    }
}

void bn__mesh_node_up(bn_mesh_t *m, bn__node_t *n, bool restarted)
{
    (void)restarted;
    bn__link_t *l = n->link;
    if (!n->hidden && !m->hidden) {
        bn__gossip_send_peers(m, l, NULL);
        /* Tell everyone else where the new node listens. */
        for (bn__node_t *o = m->nodes; o != NULL; o = o->hh.next) {
            if (o != n && o->state == BN__NODE_UP && !o->hidden) {
                bn__gossip_send_peers(m, o->link, n);
            }
        }
        start_sync(m, l);
    }
    bn__mesh_send_tick(m, l);
    bn__admin_flush(m);
    if (!n->hidden && !m->hidden && m->cb.peer_up != NULL && n->link == l) {
        m->cb.peer_up(m->ud, n->name, n->incarnation);
    }
}

/* ---- dispatch ----------------------------------------------------------- */

static void on_tick(bn_mesh_t *m, bn__link_t *l, const bn__msg_t *msg)
{
    uint64_t t = bn_mono_us();
    l->last_tick_rx_ms = bn__mesh_now(m);
    if (msg->u.tick.echo_ts_us != 0 && t >= msg->u.tick.echo_ts_us + msg->u.tick.echo_delay_us) {
        l->rtt_us = t - msg->u.tick.echo_ts_us - msg->u.tick.echo_delay_us;
    }
    l->peer_tick_ts_us = msg->u.tick.ts_us;
    l->peer_tick_rx_us = t;
    bn__node_t *n = l->node;
    if (!msg->u.tick.has_digest || n == NULL || n->hidden || l->grx.active || l->resync_pending) {
        return;
    }
    if (msg->u.tick.digest != n->groups.digest || msg->u.tick.count != n->groups.count) {
        BN_LOG(INFO, "mesh_digest_mismatch", "mesh=%s node=%s have_count=%zu peer_count=%llu",
               m->name, BN_LOG_VAL(n->name), n->groups.count,
               (unsigned long long)msg->u.tick.count);
        bn__msg_t req;
        memset(&req, 0, sizeof(req));
        req.type = BN__MSG_SYNC_REQUEST;
        if (bn__link_send_msg(l, &req) == 0) {
            l->resync_pending = true;
        }
    }
}

static void on_broadcast(bn_mesh_t *m, const bn__msg_t *msg)
{
    if (m->cb.deliver == NULL) {
        return;
    }
    /* Topic and event are handed over NUL-terminated as a courtesy; the
     * lengths remain authoritative. */
    size_t tl = msg->u.bcast.topic.len;
    size_t el = msg->u.bcast.event.len;
    char small[512];
    char *s = tl + el + 2 <= sizeof(small) ? small : bn_xmalloc(tl + el + 2);
    memcpy(s, msg->u.bcast.topic.data, tl);
    s[tl] = '\0';
    memcpy(s + tl + 1, msg->u.bcast.event.data, el);
    s[tl + 1 + el] = '\0';
    bn_payload_t p = msg->u.bcast.binary
                         ? bn_payload_binary(msg->u.bcast.payload.data, msg->u.bcast.payload.len)
                         : bn_payload_raw_json((const char *)msg->u.bcast.payload.data,
                                               msg->u.bcast.payload.len);
    m->cb.deliver(m->ud, s, tl, s + tl + 1, el, &p);
    if (s != small) {
        free(s);
    }
}

/* Everything a peer sends is checked as the client path checks what a
 * client sends: topics and events are UTF-8 text and a JSON payload parses,
 * so nothing a peer sends can make a client socket close (a browser drops a
 * WebSocket on invalid UTF-8). A bad frame closes the link that carried it. */
static bool text_ok(bn__bytes_t b)
{
    return bn_utf8_valid(b.data, b.len);
}

static bool broadcast_ok(const bn__msg_t *msg)
{
    if (!text_ok(msg->u.bcast.topic) || msg->u.bcast.topic.len == 0 ||
        !text_ok(msg->u.bcast.event) || msg->u.bcast.event.len == 0) {
        return false;
    }
    if (msg->u.bcast.binary) {
        return true;
    }
    return bn_json_valid((const char *)msg->u.bcast.payload.data, msg->u.bcast.payload.len);
}

static bool frame_ok(const bn__msg_t *msg)
{
    switch (msg->type) {
    case BN__MSG_GROUP_JOIN:
    case BN__MSG_GROUP_LEAVE:
        return text_ok(msg->u.group.topic);
    case BN__MSG_GROUP_SYNC:
        for (size_t i = 0; i < msg->u.sync.n; i++) {
            if (!text_ok(msg->u.sync.topics[i])) {
                return false;
            }
        }
        return true;
    case BN__MSG_BROADCAST:
        return broadcast_ok(msg);
    default:
        return true;
    }
}

void bn__mesh_dispatch(bn_mesh_t *m, bn__link_t *l, const bn__msg_t *msg)
{
    if (!frame_ok(msg)) {
        BN_LOG(WARN, "mesh_bad_payload", "mesh=%s link#%llu node=%s type=%s", m->name,
               (unsigned long long)l->id, BN_LOG_VAL(l->peer_name), bn__msg_type_name(msg->type));
        bn__link_close(l, BN_CLOSE_BAD_PAYLOAD);
        return;
    }
    bn__node_t *n = l->node;
    if (n == NULL) {
        /* A link replaced by a newer one (node.c): its frames are dropped
         * while it closes. */
        return;
    }
    switch (msg->type) {
    case BN__MSG_TICK:
        on_tick(m, l, msg);
        break;
    case BN__MSG_PEER_LIST:
        bn__gossip_on_peers(m, l, msg);
        break;
    case BN__MSG_GROUP_JOIN:
    case BN__MSG_GROUP_LEAVE:
        if (!n->hidden) {
            bn__grx_delta(&l->grx, &n->groups, msg->type == BN__MSG_GROUP_JOIN,
                          msg->u.group.topic.data, msg->u.group.topic.len);
        }
        break;
    case BN__MSG_GROUP_SYNC:
        if (!n->hidden && bn__grx_chunk(&l->grx, &n->groups, msg->u.sync.sync_id, msg->u.sync.first,
                                        msg->u.sync.last, msg->u.sync.topics, msg->u.sync.n)) {
            l->resync_pending = false;
            BN_LOG(DEBUG, "mesh_group_sync", "mesh=%s node=%s groups=%zu", m->name,
                   BN_LOG_VAL(n->name), n->groups.count);
        }
        break;
    case BN__MSG_SYNC_REQUEST:
        if (!n->hidden) {
            start_sync(m, l);
        }
        break;
    case BN__MSG_BROADCAST:
        on_broadcast(m, msg);
        break;
    case BN__MSG_ADMIN_REQUEST:
        bn__admin_on_request(m, l, msg);
        break;
    case BN__MSG_ADMIN_RESPONSE:
        bn__admin_on_response(m, msg);
        break;
    case BN__MSG_NODE_MESSAGE:
        if (!n->hidden && !m->hidden && m->cb.node_message != NULL) {
            m->cb.node_message(m->ud, n->name, msg->u.node.service, msg->u.node.body.data,
                               msg->u.node.body.len);
        }
        break;
    default:
        bn__link_close(l, BN_CLOSE_PROTOCOL);
        break;
    }
}

/* ---- start -------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
    bn_mesh_t *m = server->data;
    if (status < 0 || m->closing) {
        return;
    }
    bn__link_t *l = bn__link_new(m, false);
    if (uv_accept(server, (uv_stream_t *)&l->tcp) != 0) {
        bn__link_close(l, BN_CLOSE_READ_ERROR);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&l->tcp, (struct sockaddr *)&ss, &len) == 0) {
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, l->peer_ip, sizeof(l->peer_ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, l->peer_ip, sizeof(l->peer_ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
        snprintf(l->addr, sizeof(l->addr), "%s:%d", l->peer_ip, port);
    } else {
        bn__link_close(l, BN_CLOSE_READ_ERROR);
        return;
    }
    if (!bn__preauth_admit(m, l, (const struct sockaddr *)&ss)) {
        bn__link_close(l, BN_CLOSE_NOT_ALLOWED);
        return;
    }
    bn__link_start(l);
}

static void on_handle_closed(uv_handle_t *h)
{
    bn__mesh_handle_closed(h->data);
}

int bn_mesh_start(bn_mesh_t *m)
{
    bn_sigpipe_ignore();
    if (m->started || m->closing) {
        return UV_EALREADY;
    }
    m->started = true;
    if (m->cfg_port >= 0) {
        struct sockaddr_storage ss;
        int rc = bn_net_addr(m->bind, m->cfg_port, &ss);
        if (rc < 0) {
            BN_LOG(ERROR, "mesh_listen", "mesh=%s bind=%s err=%s", m->name, m->bind,
                   uv_err_name(rc));
            return rc;
        }
        uv_tcp_init_ex(m->loop, &m->listener, ss.ss_family);
        m->listener.data = m;
        m->listening = true;
        m->open_handles++;
        rc = bn_net_listen(&m->listener, (const struct sockaddr *)&ss, false, 128, on_connection);
        if (rc < 0) {
            BN_LOG(ERROR, "mesh_listen", "mesh=%s bind=%s port=%d err=%s", m->name, m->bind,
                   m->cfg_port, uv_err_name(rc));
            return rc;
        }
        m->port = bn_net_bound_port(&m->listener);
    }
    uv_timer_start(&m->sweep, on_sweep, m->timing.sweep_ms, m->timing.sweep_ms);
    bn__dns_sweep(m, bn__mesh_now(m));
    BN_LOG(INFO, "mesh_start",
           "mesh=%s incarnation=%llu port=%d hidden=%d seeds=%zu max_preauth=%zu "
           "max_preauth_per_ip=%zu allow=%zu",
           m->name, (unsigned long long)m->incarnation, m->port, m->hidden, m->n_seeds,
           m->pa.max_total, m->pa.max_per_ip, m->pa.n_allow);
    bn__gossip_start(m);
    return 0;
}

int bn_mesh_port(const bn_mesh_t *m)
{
    return m->port;
}

const char *bn_mesh_name(const bn_mesh_t *m)
{
    return m->name;
}

uint64_t bn_mesh_incarnation(const bn_mesh_t *m)
{
    return m->incarnation;
}

size_t bn_mesh_up_count(const bn_mesh_t *m)
{
    size_t n = 0;
    for (const bn__node_t *x = m->nodes; x != NULL; x = x->hh.next) {
        n += x->state == BN__NODE_UP;
    }
    return n;
}

/* ---- groups and broadcast ----------------------------------------------- */

static void send_group_delta(bn_mesh_t *m, bn__msg_type_t type, const char *topic, size_t len)
{
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = type;
    msg.u.group.topic = bn__bytes(topic, len);
    bn_buf_t *b = NULL;
    if (bn__codec_encode(&msg, m->max_frame, &b) != 0) {
        return;
    }
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        if (n->state == BN__NODE_UP && !n->hidden && bn__link_usable(n->link)) {
            bn__link_send(n->link, b);
        }
    }
    bn_buf_unref(b);
}

void bn_mesh_group_join(bn_mesh_t *m, const char *topic, size_t topic_len)
{
    if (m->hidden || m->closing) {
        return;
    }
    if (bn__gset_add(&m->local, topic, topic_len)) {
        send_group_delta(m, BN__MSG_GROUP_JOIN, topic, topic_len);
    }
}

void bn_mesh_group_leave(bn_mesh_t *m, const char *topic, size_t topic_len)
{
    if (m->hidden || m->closing) {
        return;
    }
    if (bn__gset_del(&m->local, topic, topic_len)) {
        send_group_delta(m, BN__MSG_GROUP_LEAVE, topic, topic_len);
    }
}

int bn_mesh_send(bn_mesh_t *m, const char *node, uint32_t service, const void *bytes, size_t len)
{
    if (m->closing || node == NULL) {
        return -1;
    }
    bn__node_t *n = bn__node_find(m, node);
    if (n == NULL || n->state != BN__NODE_UP || n->link == NULL) {
        return -1;
    }
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_NODE_MESSAGE;
    msg.u.node.service = service;
    msg.u.node.body = bn__bytes(bytes, len);
    return bn__link_send_msg(n->link, &msg);
}

size_t bn_mesh_group_peers(bn_mesh_t *m, const char *topic, size_t topic_len, const char **names,
                           size_t max)
{
    size_t n_found = 0;
    if (m->closing) {
        return 0;
    }
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        if (n->state == BN__NODE_UP && bn__gset_has(&n->groups, topic, topic_len)) {
            if (n_found < max) {
                names[n_found] = n->name;
            }
            n_found++;
        }
    }
    return n_found;
}

size_t bn_mesh_send_broadcast(bn_mesh_t *m, const char *const *nodes, size_t n_nodes,
                              const char *topic, size_t topic_len, const char *event,
                              size_t event_len, const bn_payload_t *payload)
{
    if (m->closing || n_nodes == 0 || payload->kind == BN_PAYLOAD_JSON) {
        return 0;
    }
    bn__msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = BN__MSG_BROADCAST;
    msg.u.bcast.topic = bn__bytes(topic, topic_len);
    msg.u.bcast.event = bn__bytes(event, event_len);
    msg.u.bcast.payload = bn__bytes(payload->raw, payload->len);
    msg.u.bcast.binary = payload->kind == BN_PAYLOAD_BINARY;
    bn_buf_t *b = NULL;
    if (bn__codec_encode(&msg, m->max_frame, &b) != 0) {
        BN_LOG(WARN, "mesh_broadcast_too_large", "mesh=%s topic_len=%zu payload_len=%zu", m->name,
               topic_len, msg.u.bcast.payload.len);
        return 0;
    }
    /* One encoded frame shared by every named link. */
    size_t sent = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        bn__node_t *n = nodes[i] != NULL ? bn__node_find(m, nodes[i]) : NULL;
        if (n != NULL && n->state == BN__NODE_UP && bn__link_usable(n->link) &&
            bn__link_send(n->link, b) == 0) {
            sent++;
        }
    }
    bn_buf_unref(b);
    return sent;
}

void bn_mesh_set_callbacks(bn_mesh_t *m, const bn_mesh_callbacks_t *cb, void *ud)
{
    if (cb != NULL) {
        m->cb = *cb;
    } else {
        memset(&m->cb, 0, sizeof(m->cb));
    }
    m->ud = ud;
}

/* ---- snapshots ---------------------------------------------------------- */

void bn_mesh_info(const bn_mesh_t *m, bn_mesh_info_t *out)
{
    out->name = m->name;
    out->incarnation = m->incarnation;
    out->port = m->port;
    out->hidden = m->hidden;
    out->local_groups = m->local.count;
    out->unknown_frames = m->unknown_frames;
}

void bn_mesh_members(bn_mesh_t *m, void (*cb)(void *ud, const bn_mesh_member_t *mb), void *ud)
{
    uint64_t now = bn__mesh_now(m);
    for (bn__node_t *n = m->nodes; n != NULL; n = n->hh.next) {
        bn_mesh_member_t mb;
        memset(&mb, 0, sizeof(mb));
        mb.name = n->name;
        mb.host = n->host;
        mb.port = n->port;
        mb.incarnation = n->incarnation;
        mb.state = bn__node_state_name(n->state);
        mb.up = n->state == BN__NODE_UP;
        mb.hidden = n->hidden;
        mb.groups = n->groups.count;
        mb.digest = n->groups.digest;
        mb.last_down_reason = bn_close_reason_name(n->last_reason);
        mb.downs = n->downs;
        mb.up_ms = mb.up ? now - n->up_since_ms : 0;
        /* "connecting" while a dial is in flight for a node that is down, so
         * an operator can tell a node being retried from one given up on. */
        mb.link_state = mb.up ? "up" : n->dial_link != NULL ? "connecting" : "down";
        if (!mb.up && n->down_since_ms != 0) {
            mb.have_down_ms = true;
            mb.down_ms = now - n->down_since_ms;
        }
        bn__link_t *l = n->link;
        if (l != NULL) {
            mb.have_link = true;
            mb.link.id = l->id;
            mb.link.outbound = l->outbound;
            mb.link.addr = l->addr;
            mb.link.msgs_in = l->msgs_in;
            mb.link.msgs_out = l->msgs_out;
            mb.link.bytes_in = l->bytes_in;
            mb.link.bytes_out = l->bytes_out;
            mb.link.queued_bytes = l->queued_bytes;
            mb.link.rtt_us = l->rtt_us;
            mb.link.last_rx_ms_ago = now - l->last_rx_ms;
            mb.link.age_ms = now - l->created_ms;
            mb.link.have_tick = l->last_tick_rx_ms != 0;
            mb.link.last_tick_ms_ago = mb.link.have_tick ? now - l->last_tick_rx_ms : 0;
        }
        cb(ud, &mb);
    }
}

void bn_mesh_groups(bn_mesh_t *m, const char *node,
                    void (*cb)(void *ud, const char *topic, size_t topic_len), void *ud)
{
    const bn__gset_t *g = &m->local;
    if (node != NULL) {
        bn__node_t *n = bn__node_find(m, node);
        if (n == NULL) {
            return;
        }
        g = &n->groups;
    }
    for (const bn__topic_t *t = g->head; t != NULL; t = t->hh.next) {
        cb(ud, t->key, t->len);
    }
}

bool bn_mesh_has_group(bn_mesh_t *m, const char *node, const char *topic, size_t topic_len)
{
    if (node == NULL) {
        return bn__gset_has(&m->local, topic, topic_len);
    }
    bn__node_t *n = bn__node_find(m, node);
    return n != NULL && bn__gset_has(&n->groups, topic, topic_len);
}

void bn_mesh_close_counts(const bn_mesh_t *m, void (*cb)(void *ud, const char *reason, uint64_t n),
                          void *ud)
{
    for (int r = 0; r < BN_CLOSE__COUNT; r++) {
        if (m->closes[r] != 0) {
            cb(ud, bn_close_reason_name((bn_close_reason_t)r), m->closes[r]);
        }
    }
}

int bn_mesh_forget(bn_mesh_t *m, const char *node)
{
    return node != NULL ? bn__node_forget(m, node) : 1;
}

/* ---- close -------------------------------------------------------------- */

void bn__mesh_handle_closed(bn_mesh_t *m)
{
    if (--m->open_handles > 0 || !m->closing) {
        return;
    }
    void (*cb)(void *) = m->close_cb;
    void *ud = m->close_ud;
    bn__node_free_all(m);
    bn__preauth_free(m);
    bn__gset_clear(&m->local);
    free(m->seeds);
    free(m->dns);
    for (size_t i = 0; i < m->n_dial_overrides; i++) {
        free(m->dial_overrides[i]);
    }
    free(m->dial_overrides);
    free(m->name);
    free(m->bind);
    sodium_memzero(m->cookie_key, sizeof(m->cookie_key));
    free(m);
    if (cb != NULL) {
        cb(ud);
    }
}

void bn_mesh_close(bn_mesh_t *m, void (*cb)(void *ud), void *ud)
{
    if (m->closing) {
        return;
    }
    m->closing = true;
    m->close_cb = cb;
    m->close_ud = ud;
    bn__admin_cancel_all(m);
    bn__dns_cancel(m);
    for (bn__link_t *l = bn__link_first(m); l != NULL; l = bn__link_next(m, l)) {
        bn__link_close(l, BN_CLOSE_SHUTDOWN);
    }
    if (m->listening) {
        uv_close((uv_handle_t *)&m->listener, on_handle_closed);
    }
    uv_close((uv_handle_t *)&m->sweep, on_handle_closed);
    uv_close((uv_handle_t *)&m->idle, on_handle_closed);
}

/* ---- test access -------------------------------------------------------- */

bn__mesh_timing_t *bn__mesh_timing(bn_mesh_t *m)
{
    return &m->timing;
}

void bn__mesh_set_tap(bn_mesh_t *m, bn__mesh_tap_cb cb, void *ud)
{
    m->tap = cb;
    m->tap_ud = ud;
}

uint64_t bn__mesh_close_count(const bn_mesh_t *m, bn_close_reason_t r)
{
    return m->closes[r];
}

bool bn__mesh_stall_node(bn_mesh_t *m, const char *name)
{
    bn__node_t *n = bn__node_find(m, name);
    if (n == NULL || !bn__link_usable(n->link)) {
        return false;
    }
    bn__link_stall(n->link);
    return true;
}
