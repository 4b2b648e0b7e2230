// The official phoenix.js client (npm `phoenix`) against the real bennu
// binary, with `ws` as its WebSocket implementation.
import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';
import { Socket } from 'phoenix';

import { WebSocket, startServer, waitFor, withServer, withTimeout } from './support/server.mjs';

// Every test has a hard deadline so a hung server cannot stall the run.
const test = (name, fn) => nodeTest(name, { timeout: 30000 }, fn);

/** A connected phoenix.js Socket whose raw incoming messages are recorded in
 *  `socket.seen` (decoded {join_ref, ref, topic, event, payload}) and close
 *  codes in `socket.closeCodes`. Registered with `srv` for teardown. */
async function phxSocket(srv, opts = {}) {
    const socket = new Socket(srv.socketEndpoint, { transport: WebSocket, ...opts });
    socket.seen = [];
    socket.closeCodes = [];
    socket.onMessage((msg) => socket.seen.push(msg));
    socket.onClose((ev) => socket.closeCodes.push(ev.code));
    srv.track(socket);
    socket.connect();
    await waitFor(() => socket.isConnected(), 5000, 'phoenix socket open');
    return socket;
}

/** Join and resolve with {status, response}; rejects on timeout. An error
 *  reply makes phoenix.js retry forever, so the channel is left then. */
function join(channel) {
    // phoenix.js may never fire 'timeout' if the socket dropped meanwhile:
    // hence the outer deadline.
    return withTimeout(new Promise((resolve, reject) => {
        channel.join(3000)
            .receive('ok', (response) => resolve({ status: 'ok', response }))
            .receive('error', (response) => {
                channel.leave();
                resolve({ status: 'error', response });
            })
            .receive('timeout', () => reject(new Error(`join of ${channel.topic} timed out`)));
    }), 5000, `join of ${channel.topic}`);
}

function push(channel, event, payload) {
    return withTimeout(new Promise((resolve, reject) => {
        channel.push(event, payload, 3000)
            .receive('ok', (response) => resolve({ status: 'ok', response }))
            .receive('error', (response) => resolve({ status: 'error', response }))
            .receive('timeout', () => reject(new Error(`push ${event} timed out`)));
    }), 5000, `push ${event}`);
}

/** Collect new_msg bodies of a channel into an array. */
function collect(channel) {
    const bodies = [];
    channel.on('new_msg', (p) => bodies.push(p.body));
    return bodies;
}

/** One heartbeat round trip on `socket`, sent by hand; everything the server
 *  queued to this socket before it is then already in `socket.seen`. */
async function roundTrip(socket) {
    const ref = socket.makeRef();
    socket.push({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref });
    await waitFor(() => socket.seen.find((m) => m.topic === 'phoenix' && m.ref === ref), 3000,
        'heartbeat reply');
}

test('join room:lobby ok', () => withServer([], async (srv) => {
    const socket = await phxSocket(srv);
    const ch = socket.channel('room:lobby', { any: 'params' });
    assert.deepEqual(await join(ch), { status: 'ok', response: {} });
    assert.equal(ch.state, 'joined');
}));

for (const topic of ['room:123', 'room:secret']) {
    test(`join ${topic} -> error unauthorized`, () => withServer([], async (srv) => {
        const socket = await phxSocket(srv);
        const ch = socket.channel(topic, {});
        assert.deepEqual(await join(ch), { status: 'error', response: { reason: 'unauthorized' } });
    }));
}

test('join of an unrouted topic -> error unmatched topic', () => withServer([], async (srv) => {
    const socket = await phxSocket(srv);
    const ch = socket.channel('lobby', {});
    assert.deepEqual(await join(ch), { status: 'error', response: { reason: 'unmatched topic' } });
}));

test('two clients exchange new_msg (both directions, sender included)', () => withServer([], async (srv) => {
    const s1 = await phxSocket(srv);
    const s2 = await phxSocket(srv);
    const c1 = s1.channel('room:lobby');
    const c2 = s2.channel('room:lobby');
    const got1 = collect(c1);
    const got2 = collect(c2);
    assert.equal((await join(c1)).status, 'ok');
    assert.equal((await join(c2)).status, 'ok');
    c1.push('new_msg', { body: 'from 1' });
    await waitFor(() => got2.length === 1 && got1.length === 1, 3000, 'first message');
    c2.push('new_msg', { body: 'from 2 ü €' });
    await waitFor(() => got2.length === 2 && got1.length === 2, 3000, 'second message');
    assert.deepEqual(got1, ['from 1', 'from 2 ü €']);
    assert.deepEqual(got2, ['from 1', 'from 2 ü €']);
}));

test('1000 messages arrive complete, in order, without duplicates', () => withServer([], async (srv) => {
    const sender = await phxSocket(srv);
    const receiver = await phxSocket(srv);
    const cs = sender.channel('room:lobby');
    const cr = receiver.channel('room:lobby');
    const got = collect(cr);
    assert.equal((await join(cs)).status, 'ok');
    assert.equal((await join(cr)).status, 'ok');
    const N = 1000;
    for (let i = 0; i < N; i++) {
        cs.push('new_msg', { body: `m${i}` });
    }
    cs.push('new_msg', { body: 'end' });
    await waitFor(() => got.includes('end'), 20000, () => `all messages (have ${got.length})`);
    // A duplicate of any message would have arrived before the sentinel.
    assert.equal(got.length, N + 1);
    for (let i = 0; i < N; i++) {
        assert.equal(got[i], `m${i}`, `message ${i}`);
    }
}));

test('ping echoes the JSON payload', () => withServer([], async (srv) => {
    const socket = await phxSocket(srv);
    const ch = socket.channel('room:lobby');
    assert.equal((await join(ch)).status, 'ok');
    const payload = { a: 1, s: 'x', nested: { list: [1, 'two', null, true], f: 1.5 } };
    assert.deepEqual(await push(ch, 'ping', payload), { status: 'ok', response: payload });
    assert.deepEqual(await push(ch, 'ping', {}), { status: 'ok', response: {} });
}));

test('ping with an ArrayBuffer payload is echoed as binary', () => withServer([], async (srv) => {
    const socket = await phxSocket(srv);
    const ch = socket.channel('room:lobby');
    assert.equal((await join(ch)).status, 'ok');
    const bytes = new Uint8Array([0, 1, 2, 0xfe, 0xff, 0x80]);
    const r = await push(ch, 'ping', bytes.buffer);
    assert.equal(r.status, 'ok');
    assert.ok(r.response instanceof ArrayBuffer, `response is ${r.response}`);
    assert.deepEqual(new Uint8Array(r.response), bytes);
}));

test('leave stops delivery', () => withServer([], async (srv) => {
    const sa = await phxSocket(srv);
    const sb = await phxSocket(srv);
    const ca = sa.channel('room:lobby');
    const cb = sb.channel('room:lobby');
    const gotA = collect(ca);
    const gotB = collect(cb);
    assert.equal((await join(ca)).status, 'ok');
    assert.equal((await join(cb)).status, 'ok');
    cb.push('new_msg', { body: 'before' });
    await waitFor(() => gotA.length === 1 && gotB.length === 1, 3000, 'before-leave message');
    await withTimeout(new Promise((resolve, reject) => {
        ca.leave(3000).receive('ok', resolve).receive('timeout', () => reject(new Error('leave timeout')));
    }), 5000, 'leave');
    assert.equal(ca.state, 'closed');
    cb.push('new_msg', { body: 'after' });
    await waitFor(() => gotB.length === 2, 3000, 'after-leave message at B');
    await roundTrip(sa);
    assert.deepEqual(gotA, ['before']);
    const late = sa.seen.filter((m) => m.event === 'new_msg' && m.payload.body === 'after');
    assert.deepEqual(late, [], 'the left socket still received a broadcast');
    // The server closed the channel: phx_close for the join ref came on the wire.
    assert.ok(sa.seen.some((m) => m.event === 'phx_close' && m.topic === 'room:lobby'));
}));

test('duplicate join on one socket (raw push): phx_close for the old join_ref, then the reply', () => withServer([], async (srv) => {
    const socket = await phxSocket(srv);
    const ch = socket.channel('room:lobby');
    const got = collect(ch);
    assert.equal((await join(ch)).status, 'ok');
    const oldRef = ch.joinRef();
    const newRef = socket.makeRef();
    socket.push({ topic: 'room:lobby', event: 'phx_join', payload: {}, ref: newRef, join_ref: newRef });
    const reply = await waitFor(() => socket.seen.find((m) => m.ref === newRef && m.event === 'phx_reply'),
        3000, 'reply to the second join');
    assert.deepEqual(reply, { join_ref: newRef, ref: newRef, topic: 'room:lobby', event: 'phx_reply',
        payload: { status: 'ok', response: {} } });
    const closeIdx = socket.seen.findIndex((m) => m.event === 'phx_close');
    assert.ok(closeIdx >= 0, 'no phx_close for the old join');
    assert.deepEqual(socket.seen[closeIdx], { join_ref: oldRef, ref: oldRef, topic: 'room:lobby',
        event: 'phx_close', payload: {} });
    assert.ok(closeIdx < socket.seen.indexOf(reply), 'phx_close must precede the new join reply');
    // The phx_close names the join_ref phoenix.js's Channel holds, so the
    // client takes it as its channel being closed by the server.
    await waitFor(() => ch.state === 'closed', 3000, 'phoenix.js channel closed');
    // Server side the new join is live and subscribed exactly once.
    const seenBefore = socket.seen.length;
    socket.push({ topic: 'room:lobby', event: 'new_msg', payload: { body: 'dup' }, ref: socket.makeRef(),
        join_ref: newRef });
    await roundTrip(socket);
    const after = socket.seen.slice(seenBefore).filter((m) => m.event === 'new_msg');
    assert.deepEqual(after, [{ join_ref: null, ref: null, topic: 'room:lobby', event: 'new_msg',
        payload: { body: 'dup' } }]);
    assert.deepEqual(got, [], 'the closed Channel object must not get broadcasts');
}));

test('heartbeats are answered and keep the socket up', () => withServer([], async (srv) => {
    const socket = await phxSocket(srv, { heartbeatIntervalMs: 50 });
    const replies = () => socket.seen.filter((m) => m.topic === 'phoenix' && m.event === 'phx_reply');
    await waitFor(() => replies().length >= 4, 5000, 'four heartbeat replies');
    for (const r of replies()) {
        assert.equal(r.join_ref, null);
        assert.deepEqual(r.payload, { status: 'ok', response: {} });
    }
    assert.ok(socket.isConnected());
    assert.deepEqual(socket.closeCodes, [], 'the socket closed (heartbeat timeout?)');
}));

test('heartbeats keep an idle socket alive past --idle-timeout', () => withServer(['--idle-timeout', '400'], async (srv) => {
    const socket = await phxSocket(srv, { heartbeatIntervalMs: 100 });
    const replies = () => socket.seen.filter((m) => m.topic === 'phoenix' && m.event === 'phx_reply');
    await waitFor(() => replies().length >= 12, 8000, 'twelve heartbeat replies (>1 s)');
    assert.deepEqual(socket.closeCodes, []);
}));

test('the client reconnects and rejoins after a restart on the same port', async () => {
    const srv1 = await startServer();
    const port = srv1.port;
    const socket = new Socket(srv1.socketEndpoint, { transport: WebSocket });
    const closeCodes = [];
    socket.onClose((ev) => closeCodes.push(ev.code));
    try {
        socket.connect();
        const ch = socket.channel('room:lobby');
        const got = collect(ch);
        let joins = 0;
        ch.join(3000).receive('ok', () => { joins++; });
        await waitFor(() => joins === 1, 5000, 'first join');
        await srv1.stop();
        await waitFor(() => closeCodes.length > 0, 3000, 'client saw the close');
        assert.equal(closeCodes[0], 1001, 'shutdown close code');
        await withServer([], async (srv2) => {
            srv2.track(socket);
            // The same Channel object rejoins by itself once the socket reopens.
            await waitFor(() => joins === 2, 10000, 'rejoin after reconnect');
            assert.equal(ch.state, 'joined');
            const other = await srv2.ws();
            await other.join('room:lobby', '1');
            other.send(['1', '2', 'room:lobby', 'new_msg', { body: 'after restart' }]);
            await waitFor(() => got.includes('after restart'), 3000, 'message after restart');
            assert.deepEqual(got, ['after restart']);
        }, { port });
    } finally {
        socket.disconnect();
        if (srv1.exit === null) {
            await srv1.stop();
        }
    }
});
