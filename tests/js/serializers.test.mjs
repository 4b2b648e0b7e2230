// Serializers (PROTOCOL.md section 2): V1 JSON objects on WebSocket with
// vsn=1.0.0 and with no vsn at all, V1 over LongPoll, and V2 binary frames,
// both from the official client (ArrayBuffer payloads) and as exact bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
    joinOk, lp, lpOpen, lpReceive, lpSend, phxSocket, pushResult, socketOpened,
} from './support/compat_client.mjs';
import { withServer } from './support/server.mjs';

const J = JSON.stringify;
const v1 = (topic, event, payload, ref) => J({ topic, event, payload, ref });
const v1ok = (topic, ref, response = {}) => v1(topic, 'phx_reply', { status: 'ok', response }, ref);

// One V1 session, frame by frame: [what the client sends, what it must get].
const V1_SESSION = [
    ['{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}', [v1ok('room:lobby', '1')]],
    ['{"topic":"room:lobby","event":"ping","payload":{"a":[1,"x"]},"ref":"2"}', [v1ok('room:lobby', '2', { a: [1, 'x'] })]],
    ['{"topic":"room:lobby","event":"new_msg","payload":{"body":"v1"},"ref":"3"}', [v1('room:lobby', 'new_msg', { body: 'v1' }, null)]],
    ['{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"4"}', [v1ok('phoenix', '4')]],
    // Duplicate join without join_ref: phx_close carries ref null (the
    // recorded join_ref), then the new join's reply.
    ['{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"5"}',
        [v1('room:lobby', 'phx_close', {}, null), v1ok('room:lobby', '5')]],
    // A join with join_ref: its phx_close later carries that join_ref.
    ['{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"6","join_ref":"6"}',
        [v1('room:lobby', 'phx_close', {}, null), v1ok('room:lobby', '6')]],
    ['{"topic":"room:lobby","event":"phx_leave","payload":{},"ref":"7","join_ref":"6"}',
        [v1ok('room:lobby', '7'), v1('room:lobby', 'phx_close', {}, '6')]],
    ['{"topic":"room:lobby","event":"ping","payload":{},"ref":"8"}',
        [v1('room:lobby', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }, '8')]],
    ['{"topic":"room:nope","event":"phx_join","payload":{},"ref":"9"}',
        [v1('room:nope', 'phx_reply', { status: 'error', response: { reason: 'unauthorized' } }, '9')]],
];

for (const [name, query] of [['vsn=1.0.0', 'vsn=1.0.0'], ['no vsn (defaults to V1)', ''], ['vsn=1.0.5', 'vsn=1.0.5']]) {
    test(`V1 JSON over WebSocket, ${name}: exact frames`, () => withServer([], async (srv) => {
        const c = await srv.ws(query);
        for (const [send, expect] of V1_SESSION) {
            c.send(send);
            for (const e of expect) {
                await c.expect(e);
            }
        }
        assert.deepEqual(c.pending(), []);
        // V1 frames never carry join_ref, even when the client sent one.
        for (const f of c.frames) {
            assert.deepEqual(Object.keys(JSON.parse(f.text)), ['topic', 'event', 'payload', 'ref']);
        }
    }));
}

test('V1 and V2 clients in one topic receive the same broadcast in their own format', () => withServer([], async (srv) => {
    const a = await srv.ws('vsn=1.0.0');
    const b = await srv.ws('vsn=2.0.0');
    a.send('{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}');
    await a.expect(v1ok('room:lobby', '1'));
    await b.join('room:lobby', '1');
    a.send('{"topic":"room:lobby","event":"new_msg","payload":{"body":"from v1"},"ref":"2","join_ref":"1"}');
    await a.expect(v1('room:lobby', 'new_msg', { body: 'from v1' }, null));
    await b.expect(J([null, null, 'room:lobby', 'new_msg', { body: 'from v1' }]));
    b.send(['1', '2', 'room:lobby', 'new_msg', { body: 'from v2' }]);
    await a.expect(v1('room:lobby', 'new_msg', { body: 'from v2' }, null));
    await b.expect(J([null, null, 'room:lobby', 'new_msg', { body: 'from v2' }]));
}));

test('V1: a V2 array on a V1 socket and a V1 object missing keys are bad messages', () => withServer([], async (srv) => {
    for (const bad of ['["1","1","room:lobby","phx_join",{}]', '{"topic":"room:lobby","event":"phx_join","payload":{}}', '"str"']) {
        const c = await srv.ws('vsn=1.0.0');
        c.send(bad);
        const close = await c.waitClose();
        assert.equal(close.code, 1011, `close code after ${bad}`);
        assert.deepEqual(c.frames, []);
    }
}));

test('V1 over LongPoll: session opened without vsn, V1 objects in and out', () => withServer([], async (srv) => {
    for (const query of ['vsn=1.0.0', '']) {
        const session = await lpOpen(srv, query);
        await lpSend(srv, session, [
            '{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}',
            '{"topic":"room:lobby","event":"ping","payload":{"n":1},"ref":"2"}',
            '{"topic":"room:lobby","event":"new_msg","payload":{"body":"lp v1"},"ref":"3"}',
        ], query);
        const msgs = await lpReceive(srv, session, 3, query);
        assert.deepEqual(msgs, [
            v1ok('room:lobby', '1'),
            v1ok('room:lobby', '2', { n: 1 }),
            v1('room:lobby', 'new_msg', { body: 'lp v1' }, null),
        ], `query ${JSON.stringify(query)}`);
    }
    // An unsupported vsn refuses the LongPoll connect.
    const res = await lp(srv, 'GET', { query: 'vsn=2.1.0' });
    assert.equal(res.text, '{"status":403}');
}));

// ------------------------------------------------------------------ binary

/** Client->server kind-0 push. */
function push0(joinRef, ref, topic, event, payload) {
    const parts = [joinRef, ref, topic, event].map((s) => Buffer.from(s));
    return Buffer.concat([Buffer.from([0, ...parts.map((p) => p.length)]), ...parts, Buffer.from(payload)]);
}

/** Server->client kind-1 reply. */
function reply1(joinRef, ref, topic, status, payload) {
    const parts = [joinRef, ref, topic, status].map((s) => Buffer.from(s));
    return Buffer.concat([Buffer.from([1, ...parts.map((p) => p.length)]), ...parts, Buffer.from(payload)]);
}

test('binary frame builders match the PROTOCOL.md 2.3 examples', () => {
    assert.equal(push0('1', '2', 'room:1', 'up', [0xde, 0xad]).toString('hex'),
        '0001010602313272' + '6f6f6d3a3175' + '70dead');
    assert.equal(reply1('12', '123', 'topic', 'ok', [0x65, 0x66, 0x67]).toString('hex'),
        Buffer.concat([Buffer.from([1, 2, 3, 5, 2]), Buffer.from('12123topicok'), Buffer.from('efg')]).toString('hex'));
});

test('V2 binary: exact kind-0 push in, exact kind-1 reply out', () => withServer([], async (srv) => {
    const c = await srv.ws('vsn=2.0.0');
    await c.join('room:lobby', '1');
    const payloads = [
        Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        Buffer.alloc(0),
        Buffer.from([0x00, 0xff, 0x5b, 0x22]), // NUL, 0xff, '[', '"': not text
        Buffer.alloc(70000, 0xab), // above 65535: 64-bit WebSocket length both ways
    ];
    let ref = 2;
    for (const p of payloads) {
        c.send(push0('1', String(ref), 'room:lobby', 'ping', p));
        const f = await c.next();
        assert.equal(f.binary, true, `reply to a binary ping must be binary, got ${f.text}`);
        assert.equal(f.data.toString('hex'), reply1('1', String(ref), 'room:lobby', 'ok', p).toString('hex'),
            `binary ping reply, payload ${p.length} bytes`);
        ref++;
    }
    // Text and binary interleave on one socket.
    c.send(['1', String(ref), 'room:lobby', 'ping', { t: 1 }]);
    await c.expect(J(['1', String(ref), 'room:lobby', 'phx_reply', { response: { t: 1 }, status: 'ok' }]));
    // An empty join_ref in a binary push is accepted like a null join_ref.
    c.send(push0('', '99', 'room:lobby', 'ping', [1, 2, 3]));
    const f = await c.next();
    assert.equal(f.data.toString('hex'), reply1('1', '99', 'room:lobby', 'ok', [1, 2, 3]).toString('hex'));
}));

test('V2 binary: a binary push to a topic not joined -> unmatched topic (text reply)', () => withServer([], async (srv) => {
    const c = await srv.ws('vsn=2.0.0');
    c.send(push0('5', '6', 'room:lobby', 'ping', [1]));
    await c.expect(J([null, '6', 'room:lobby', 'phx_reply', { response: { reason: 'unmatched topic' }, status: 'error' }]));
}));

test('V2 binary: malformed binary frames close the connection with 1011', () => withServer([], async (srv) => {
    const bad = [
        ['unknown kind 3', Buffer.from([3, 0, 0, 0, 0])],
        ['kind 1 from a client', reply1('1', '2', 'room:lobby', 'ok', [1])],
        ['kind 2 from a client', Buffer.concat([Buffer.from([2, 10, 4]), Buffer.from('room:lobbyping')])],
        ['header truncated', Buffer.from([0, 1, 1])],
        ['lengths past the end', Buffer.from([0, 1, 1, 10, 4, 0x31, 0x32])],
        ['empty frame', Buffer.alloc(0)],
    ];
    for (const [what, frame] of bad) {
        const c = await srv.ws('vsn=2.0.0');
        await c.join('room:lobby', '1');
        c.send(frame);
        const close = await c.waitClose();
        assert.equal(close.code, 1011, what);
    }
}));

test('phoenix.js: pushing an ArrayBuffer to ping returns an ArrayBuffer with identical bytes', () => withServer([], async (srv) => {
    const socket = phxSocket(srv);
    socket.connect();
    await socketOpened(socket);
    const ch = socket.channel('room:lobby', {});
    await joinOk(ch);
    for (const len of [0, 1, 255, 4096, 100000]) {
        const bytes = new Uint8Array(len);
        for (let i = 0; i < len; i++) {
            bytes[i] = (i * 31 + 7) & 0xff;
        }
        const r = await pushResult(ch.push('ping', bytes.buffer));
        assert.equal(r.status, 'ok', `ping ${len} bytes`);
        assert.ok(r.response instanceof ArrayBuffer, `response is ${Object.prototype.toString.call(r.response)}`);
        assert.deepEqual(new Uint8Array(r.response), bytes, `${len}-byte payload round trip`);
    }
    // A JSON ping on the same channel still gets a JSON reply.
    assert.deepEqual(await pushResult(ch.push('ping', { json: true })), { status: 'ok', response: { json: true } });
    socket.disconnect();
}));
