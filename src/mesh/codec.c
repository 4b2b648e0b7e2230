/* The only file that touches protobuf-c generated types: it converts between
 * bn__msg_t and the Envelope of proto/mesh.proto. Decoding validates the
 * envelope shape (version, known oneof, required byte lengths are left to
 * the consumers, which know their limits). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mesh.pb-c.h"
#include "mesh/internal.h"

static const char *const msg_type_names[] = {
#define BN__MSG_NAME(name, str) str,
    BN__MSG_TYPE_MAP(BN__MSG_NAME)
#undef BN__MSG_NAME
};

const char *bn__msg_type_name(bn__msg_type_t t)
{
    if ((unsigned)t >= BN__MSG_COUNT) {
        return "invalid";
    }
    return msg_type_names[t];
}

static ProtobufCBinaryData pb_bytes(bn__bytes_t b)
{
    ProtobufCBinaryData d;
    d.len = b.len;
    /* protobuf-c's field is non-const but packing never writes through it. */
    d.data = (uint8_t *)(uintptr_t)b.data;
    return d;
}

static bn__bytes_t from_pb(ProtobufCBinaryData d)
{
    return bn__bytes(d.data, d.len);
}

int bn__codec_encode(const bn__msg_t *msg, size_t max_frame, bn_buf_t **out)
{
    Bnmesh__Envelope env = BNMESH__ENVELOPE__INIT;
    Bnmesh__Hello hello = BNMESH__HELLO__INIT;
    Bnmesh__Challenge chal = BNMESH__CHALLENGE__INIT;
    Bnmesh__Identify ident = BNMESH__IDENTIFY__INIT;
    Bnmesh__Refuse refuse = BNMESH__REFUSE__INIT;
    Bnmesh__Ready ready = BNMESH__READY__INIT;
    Bnmesh__Tick tick = BNMESH__TICK__INIT;
    Bnmesh__PeerList plist = BNMESH__PEER_LIST__INIT;
    Bnmesh__GroupJoin gjoin = BNMESH__GROUP_JOIN__INIT;
    Bnmesh__GroupLeave gleave = BNMESH__GROUP_LEAVE__INIT;
    Bnmesh__GroupSync gsync = BNMESH__GROUP_SYNC__INIT;
    Bnmesh__NodeMessage nmsg = BNMESH__NODE_MESSAGE__INIT;
    Bnmesh__SyncRequest sreq = BNMESH__SYNC_REQUEST__INIT;
    Bnmesh__Broadcast bcast = BNMESH__BROADCAST__INIT;
    Bnmesh__AdminRequest areq = BNMESH__ADMIN_REQUEST__INIT;
    Bnmesh__AdminResponse aresp = BNMESH__ADMIN_RESPONSE__INIT;
    Bnmesh__Peer *peers = NULL;
    Bnmesh__Peer **peer_ptrs = NULL;
    ProtobufCBinaryData *topics = NULL;

    env.version = msg->version ? msg->version : BN__MESH_PROTO_VERSION;
    switch (msg->type) {
    case BN__MSG_HELLO:
        hello.nonce = pb_bytes(msg->u.hello.nonce);
        hello.kx_public = pb_bytes(msg->u.hello.kx_pk);
        env.msg_case = BNMESH__ENVELOPE__MSG_HELLO;
        env.hello = &hello;
        break;
    case BN__MSG_CHALLENGE:
        chal.nonce = pb_bytes(msg->u.hello.nonce);
        chal.kx_public = pb_bytes(msg->u.hello.kx_pk);
        env.msg_case = BNMESH__ENVELOPE__MSG_CHALLENGE;
        env.challenge = &chal;
        break;
    case BN__MSG_IDENTIFY:
        ident.name = pb_bytes(msg->u.ident.name);
        ident.incarnation = msg->u.ident.incarnation;
        ident.hidden = msg->u.ident.hidden;
        ident.host = pb_bytes(msg->u.ident.host);
        ident.port = msg->u.ident.port;
        env.msg_case = BNMESH__ENVELOPE__MSG_IDENTIFY;
        env.identify = &ident;
        break;
    case BN__MSG_REFUSE:
        refuse.reason = (Bnmesh__RefuseReason)msg->u.refuse.reason;
        env.msg_case = BNMESH__ENVELOPE__MSG_REFUSE;
        env.refuse = &refuse;
        break;
    case BN__MSG_READY:
        env.msg_case = BNMESH__ENVELOPE__MSG_READY;
        env.ready = &ready;
        break;
    case BN__MSG_TICK:
        tick.ts_us = msg->u.tick.ts_us;
        tick.echo_ts_us = msg->u.tick.echo_ts_us;
        tick.echo_delay_us = msg->u.tick.echo_delay_us;
        tick.has_digest = msg->u.tick.has_digest;
        tick.digest = msg->u.tick.digest;
        tick.group_count = msg->u.tick.count;
        env.msg_case = BNMESH__ENVELOPE__MSG_TICK;
        env.tick = &tick;
        break;
    case BN__MSG_PEER_LIST:
        peers = bn_xcalloc(msg->u.peers.n, sizeof(*peers));
        peer_ptrs = bn_xcalloc(msg->u.peers.n, sizeof(*peer_ptrs));
        for (size_t i = 0; i < msg->u.peers.n; i++) {
            bnmesh__peer__init(&peers[i]);
            peers[i].name = pb_bytes(msg->u.peers.peers[i].name);
            peers[i].host = pb_bytes(msg->u.peers.peers[i].host);
            peers[i].port = msg->u.peers.peers[i].port;
            peers[i].incarnation = msg->u.peers.peers[i].incarnation;
            peer_ptrs[i] = &peers[i];
        }
        plist.n_peers = msg->u.peers.n;
        plist.peers = peer_ptrs;
        env.msg_case = BNMESH__ENVELOPE__MSG_PEER_LIST;
        env.peer_list = &plist;
        break;
    case BN__MSG_GROUP_JOIN:
        gjoin.topic = pb_bytes(msg->u.group.topic);
        env.msg_case = BNMESH__ENVELOPE__MSG_GROUP_JOIN;
        env.group_join = &gjoin;
        break;
    case BN__MSG_GROUP_LEAVE:
        gleave.topic = pb_bytes(msg->u.group.topic);
        env.msg_case = BNMESH__ENVELOPE__MSG_GROUP_LEAVE;
        env.group_leave = &gleave;
        break;
    case BN__MSG_GROUP_SYNC:
        topics = bn_xcalloc(msg->u.sync.n, sizeof(*topics));
        for (size_t i = 0; i < msg->u.sync.n; i++) {
            topics[i] = pb_bytes(msg->u.sync.topics[i]);
        }
        gsync.sync_id = msg->u.sync.sync_id;
        gsync.first = msg->u.sync.first;
        gsync.last = msg->u.sync.last;
        gsync.n_topics = msg->u.sync.n;
        gsync.topics = topics;
        env.msg_case = BNMESH__ENVELOPE__MSG_GROUP_SYNC;
        env.group_sync = &gsync;
        break;
    case BN__MSG_SYNC_REQUEST:
        env.msg_case = BNMESH__ENVELOPE__MSG_SYNC_REQUEST;
        env.sync_request = &sreq;
        break;
    case BN__MSG_BROADCAST:
        bcast.topic = pb_bytes(msg->u.bcast.topic);
        bcast.event = pb_bytes(msg->u.bcast.event);
        bcast.payload = pb_bytes(msg->u.bcast.payload);
        bcast.kind = msg->u.bcast.binary ? BNMESH__PAYLOAD_KIND__PAYLOAD_BINARY
                                         : BNMESH__PAYLOAD_KIND__PAYLOAD_JSON;
        env.msg_case = BNMESH__ENVELOPE__MSG_BROADCAST;
        env.broadcast = &bcast;
        break;
    case BN__MSG_ADMIN_REQUEST:
        areq.id = msg->u.admin.id;
        areq.body = pb_bytes(msg->u.admin.body);
        env.msg_case = BNMESH__ENVELOPE__MSG_ADMIN_REQUEST;
        env.admin_request = &areq;
        break;
    case BN__MSG_ADMIN_RESPONSE:
        aresp.id = msg->u.admin.id;
        aresp.body = pb_bytes(msg->u.admin.body);
        env.msg_case = BNMESH__ENVELOPE__MSG_ADMIN_RESPONSE;
        env.admin_response = &aresp;
        break;
    case BN__MSG_NODE_MESSAGE:
        nmsg.service = msg->u.node.service;
        nmsg.body = pb_bytes(msg->u.node.body);
        env.msg_case = BNMESH__ENVELOPE__MSG_NODE_MESSAGE;
        env.node_message = &nmsg;
        break;
    case BN__MSG_NONE:
    case BN__MSG_COUNT:
        /* An envelope without a message: used by tests as an "unknown type". */
        break;
    }

    int rc = 0;
    size_t size = bnmesh__envelope__get_packed_size(&env);
    if (size > max_frame || size > UINT32_MAX) {
        rc = -1;
    } else {
        bn_buf_t *b = bn_buf_new(4 + size);
        if (b == NULL) {
            bn_oom(4 + size);
        }
        uint8_t *p = (uint8_t *)bn_buf_body(b);
        p[0] = (uint8_t)(size >> 24);
        p[1] = (uint8_t)(size >> 16);
        p[2] = (uint8_t)(size >> 8);
        p[3] = (uint8_t)size;
        bnmesh__envelope__pack(&env, p + 4);
        b->len = 4 + size;
        b->binary = 1;
        *out = b;
    }
    free(peers);
    free(peer_ptrs);
    free(topics);
    return rc;
}

int bn__codec_decode(const uint8_t *data, size_t len, bn__msg_t *msg)
{
    memset(msg, 0, sizeof(*msg));
    Bnmesh__Envelope *env = bnmesh__envelope__unpack(NULL, len, data);
    if (env == NULL) {
        return BN__DEC_BAD;
    }
    if (env->version != BN__MESH_PROTO_VERSION) {
        msg->version = env->version;
        bnmesh__envelope__free_unpacked(env, NULL);
        return BN__DEC_VERSION;
    }
    msg->pb = env;
    msg->version = env->version;
    switch (env->msg_case) {
    case BNMESH__ENVELOPE__MSG_HELLO:
        msg->type = BN__MSG_HELLO;
        msg->u.hello.nonce = from_pb(env->hello->nonce);
        msg->u.hello.kx_pk = from_pb(env->hello->kx_public);
        break;
    case BNMESH__ENVELOPE__MSG_CHALLENGE:
        msg->type = BN__MSG_CHALLENGE;
        msg->u.hello.nonce = from_pb(env->challenge->nonce);
        msg->u.hello.kx_pk = from_pb(env->challenge->kx_public);
        break;
    case BNMESH__ENVELOPE__MSG_IDENTIFY:
        msg->type = BN__MSG_IDENTIFY;
        msg->u.ident.name = from_pb(env->identify->name);
        msg->u.ident.incarnation = env->identify->incarnation;
        msg->u.ident.hidden = env->identify->hidden;
        msg->u.ident.host = from_pb(env->identify->host);
        msg->u.ident.port = env->identify->port;
        break;
    case BNMESH__ENVELOPE__MSG_REFUSE:
        msg->type = BN__MSG_REFUSE;
        msg->u.refuse.reason = (uint32_t)env->refuse->reason;
        break;
    case BNMESH__ENVELOPE__MSG_READY:
        msg->type = BN__MSG_READY;
        break;
    case BNMESH__ENVELOPE__MSG_TICK:
        msg->type = BN__MSG_TICK;
        msg->u.tick.ts_us = env->tick->ts_us;
        msg->u.tick.echo_ts_us = env->tick->echo_ts_us;
        msg->u.tick.echo_delay_us = env->tick->echo_delay_us;
        msg->u.tick.has_digest = env->tick->has_digest;
        msg->u.tick.digest = env->tick->digest;
        msg->u.tick.count = env->tick->group_count;
        break;
    case BNMESH__ENVELOPE__MSG_PEER_LIST: {
        msg->type = BN__MSG_PEER_LIST;
        size_t n = env->peer_list->n_peers;
        bn__peer_info_t *peers = bn_xcalloc(n, sizeof(*peers));
        for (size_t i = 0; i < n; i++) {
            const Bnmesh__Peer *p = env->peer_list->peers[i];
            peers[i].name = from_pb(p->name);
            peers[i].host = from_pb(p->host);
            peers[i].port = p->port;
            peers[i].incarnation = p->incarnation;
        }
        msg->scratch = peers;
        msg->u.peers.peers = peers;
        msg->u.peers.n = n;
        break;
    }
    case BNMESH__ENVELOPE__MSG_GROUP_JOIN:
        msg->type = BN__MSG_GROUP_JOIN;
        msg->u.group.topic = from_pb(env->group_join->topic);
        break;
    case BNMESH__ENVELOPE__MSG_GROUP_LEAVE:
        msg->type = BN__MSG_GROUP_LEAVE;
        msg->u.group.topic = from_pb(env->group_leave->topic);
        break;
    case BNMESH__ENVELOPE__MSG_GROUP_SYNC: {
        msg->type = BN__MSG_GROUP_SYNC;
        size_t n = env->group_sync->n_topics;
        bn__bytes_t *topics = bn_xcalloc(n, sizeof(*topics));
        for (size_t i = 0; i < n; i++) {
            topics[i] = from_pb(env->group_sync->topics[i]);
        }
        msg->scratch = topics;
        msg->u.sync.sync_id = env->group_sync->sync_id;
        msg->u.sync.first = env->group_sync->first;
        msg->u.sync.last = env->group_sync->last;
        msg->u.sync.topics = topics;
        msg->u.sync.n = n;
        break;
    }
    case BNMESH__ENVELOPE__MSG_SYNC_REQUEST:
        msg->type = BN__MSG_SYNC_REQUEST;
        break;
    case BNMESH__ENVELOPE__MSG_BROADCAST:
        msg->type = BN__MSG_BROADCAST;
        msg->u.bcast.topic = from_pb(env->broadcast->topic);
        msg->u.bcast.event = from_pb(env->broadcast->event);
        msg->u.bcast.payload = from_pb(env->broadcast->payload);
        if (env->broadcast->kind == BNMESH__PAYLOAD_KIND__PAYLOAD_BINARY) {
            msg->u.bcast.binary = true;
        } else if (env->broadcast->kind != BNMESH__PAYLOAD_KIND__PAYLOAD_JSON) {
            bn__msg_free(msg);
            return BN__DEC_BAD;
        }
        break;
    case BNMESH__ENVELOPE__MSG_ADMIN_REQUEST:
        msg->type = BN__MSG_ADMIN_REQUEST;
        msg->u.admin.id = env->admin_request->id;
        msg->u.admin.body = from_pb(env->admin_request->body);
        break;
    case BNMESH__ENVELOPE__MSG_ADMIN_RESPONSE:
        msg->type = BN__MSG_ADMIN_RESPONSE;
        msg->u.admin.id = env->admin_response->id;
        msg->u.admin.body = from_pb(env->admin_response->body);
        break;
    case BNMESH__ENVELOPE__MSG_NODE_MESSAGE:
        msg->type = BN__MSG_NODE_MESSAGE;
        msg->u.node.service = env->node_message->service;
        msg->u.node.body = from_pb(env->node_message->body);
        break;
    default:
        /* A newer peer's message type: the caller counts and ignores it. */
        msg->type = BN__MSG_NONE;
        return BN__DEC_UNKNOWN;
    }
    return BN__DEC_OK;
}

void bn__msg_free(bn__msg_t *msg)
{
    if (msg->pb != NULL) {
        bnmesh__envelope__free_unpacked(msg->pb, NULL);
    }
    free(msg->scratch);
    msg->pb = NULL;
    msg->scratch = NULL;
}
