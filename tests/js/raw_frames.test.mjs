// Exact wire frames of the Phoenix protocol (PROTOCOL.md sections 2-3), sent
// and compared as text with a raw `ws` client.
import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';

import { withServer } from './support/server.mjs';

// Every test has a hard deadline so a hung server cannot stall the run.
const test = (name, fn) => nodeTest(name, { timeout: 30000 }, fn);

const J = JSON.stringify;
const OK = { response: {}, status: 'ok' };
const unmatched = (ref, topic) =>
    J([null, ref, topic, 'phx_reply', { response: { reason: 'unmatched topic' }, status: 'error' }]);

test('join reply is exact', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('["1","1","room:lobby","phx_join",{}]');
    await c.expect('["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
}));

test('join params are not echoed: response is {}', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('["3","3","room:lobby","phx_join",{"token":"x"}]');
    await c.expect('["3","3","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
}));

test('broadcast frame is exact and reaches the sender too, with no reply to new_msg', () => withServer([], async (srv) => {
    const a = await srv.ws();
    const b = await srv.ws();
    await a.join('room:lobby', '1');
    await b.join('room:lobby', '7');
    a.send('["1","2","room:lobby","new_msg",{"body":"hi"}]');
    // No phx_reply for new_msg: the very next frame is the broadcast.
    await a.expect('[null,null,"room:lobby","new_msg",{"body":"hi"}]');
    await b.expect('[null,null,"room:lobby","new_msg",{"body":"hi"}]');
    // Extra payload keys are not forwarded: the channel re-packs {"body": b}.
    a.send('["1","3","room:lobby","new_msg",{"body":{"nested":[1,2]},"extra":true}]');
    await b.expect('[null,null,"room:lobby","new_msg",{"body":{"nested":[1,2]}}]');
    await a.expect('[null,null,"room:lobby","new_msg",{"body":{"nested":[1,2]}}]');
}));

test('ping replies ok with the same payload', () => withServer([], async (srv) => {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    c.send('["1","2","room:lobby","ping",{"a":1,"b":"x"}]');
    await c.expect('["1","2","room:lobby","phx_reply",{"response":{"a":1,"b":"x"},"status":"ok"}]');
    c.send('["1","3","room:lobby","ping",{}]');
    await c.expect('["1","3","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    // A null join_ref is accepted; the reply carries the channel's join_ref.
    c.send('[null,"4","room:lobby","ping",{"n":null}]');
    await c.expect('["1","4","room:lobby","phx_reply",{"response":{"n":null},"status":"ok"}]');
}));

test('heartbeat reply is exact, with or without channels', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('[null,"5","phoenix","heartbeat",{}]');
    await c.expect('[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]');
    await c.join('room:lobby', '6');
    c.send('[null,"7","phoenix","heartbeat",{}]');
    await c.expect('[null,"7","phoenix","phx_reply",{"response":{},"status":"ok"}]');
}));

test('leave: ok reply then phx_close with join_ref in both slots, then no more broadcasts', () => withServer([], async (srv) => {
    const c = await srv.ws();
    const other = await srv.ws();
    await c.join('room:lobby', '1');
    await other.join('room:lobby', '1');
    c.send('["1","2","room:lobby","phx_leave",{}]');
    await c.expect('["1","2","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    await c.expect('["1","1","room:lobby","phx_close",{}]');
    other.send('["1","2","room:lobby","new_msg",{"body":"after"}]');
    await other.expect('[null,null,"room:lobby","new_msg",{"body":"after"}]');
    // The heartbeat reply is the next frame c sees: no broadcast in between.
    c.send('[null,"3","phoenix","heartbeat",{}]');
    await c.expect('[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]');
    // The channel is gone: a push gets "unmatched topic".
    c.send('["1","4","room:lobby","ping",{}]');
    await c.expect(unmatched('4', 'room:lobby'));
}));

test('crash: phx_error, channel gone, socket and rejoin still work', () => withServer([], async (srv) => {
    const c = await srv.ws();
    const other = await srv.ws();
    await c.join('room:lobby', '1');
    await other.join('room:lobby', '1');
    c.send('["1","2","room:lobby","new_msg",{}]');
    await c.expect('["1","1","room:lobby","phx_error",{"reason":"channel_crash"}]');
    c.send('["1","3","room:lobby","ping",{}]');
    await c.expect('[null,"3","room:lobby","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]');
    // The crashed channel no longer receives broadcasts.
    other.send('["1","2","room:lobby","new_msg",{"body":"x"}]');
    await other.expect('[null,null,"room:lobby","new_msg",{"body":"x"}]');
    c.send('[null,"4","phoenix","heartbeat",{}]');
    await c.expect('[null,"4","phoenix","phx_reply",{"response":{},"status":"ok"}]');
    // The other client's channel is untouched.
    other.send('["1","3","room:lobby","ping",{"still":"here"}]');
    await other.expect('["1","3","room:lobby","phx_reply",{"response":{"still":"here"},"status":"ok"}]');
    // Rejoining on the same socket works and broadcasts flow again.
    await c.join('room:lobby', '5');
    other.send('["1","4","room:lobby","new_msg",{"body":"y"}]');
    await c.expect('[null,null,"room:lobby","new_msg",{"body":"y"}]');
    // An unknown event is also a crash.
    c.send('["5","6","room:lobby","no_such_event",{}]');
    await c.expect('["5","5","room:lobby","phx_error",{"reason":"channel_crash"}]');
}));

test('push to a topic not joined -> unmatched topic with null join_ref', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('["9","2","room:lobby","new_msg",{"body":"x"}]');
    await c.expect(unmatched('2', 'room:lobby'));
    c.send('["9","3","room:other","ping",{}]');
    await c.expect(unmatched('3', 'room:other'));
}));

test('phx_leave on a topic not joined -> ok with the message join_ref', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('["9","4","room:lobby","phx_leave",{}]');
    await c.expect('["9","4","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    c.send('[null,"5","room:lobby","phx_leave",{}]');
    await c.expect('[null,"5","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
}));

test('stale join_ref messages are dropped silently', () => withServer([], async (srv) => {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    c.send('["7","2","room:lobby","ping",{"stale":true}]');
    c.send('["7","3","room:lobby","new_msg",{"body":"stale"}]');
    c.send('["1","4","room:lobby","ping",{"fresh":true}]');
    // Neither a reply to ref 2 nor the stale broadcast precedes this.
    await c.expect('["1","4","room:lobby","phx_reply",{"response":{"fresh":true},"status":"ok"}]');
    // A stale phx_leave is ignored too: the channel stays joined.
    c.send('["7","5","room:lobby","phx_leave",{}]');
    c.send('["1","6","room:lobby","ping",{}]');
    await c.expect('["1","6","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    assert.deepEqual(c.pending(), []);
}));

test('duplicate join: phx_close for the old join_ref, then the new ok reply; one subscription', () => withServer([], async (srv) => {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    c.send('["3","3","room:lobby","phx_join",{}]');
    await c.expect('["1","1","room:lobby","phx_close",{}]');
    await c.expect('["3","3","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    // Exactly one copy of a broadcast, and the new join_ref is the live one.
    c.send('["3","4","room:lobby","new_msg",{"body":"once"}]');
    await c.expect('[null,null,"room:lobby","new_msg",{"body":"once"}]');
    c.send('["1","5","room:lobby","ping",{"old":1}]'); // old join_ref: stale
    c.send('["3","6","room:lobby","ping",{}]');
    await c.expect('["3","6","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
}));

test('unrouted topic join -> unmatched topic with null join_ref', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('["1","1","lobby","phx_join",{}]');
    await c.expect('[null,"1","lobby","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]');
}));

test('refused join -> error reply with the join_ref, no phx_close, channel not registered', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('["1","1","room:123","phx_join",{}]');
    await c.expect('["1","1","room:123","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]');
    c.send('["2","2","room:secret","phx_join",{}]');
    await c.expect('["2","2","room:secret","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]');
    c.send('["1","3","room:123","ping",{}]');
    await c.expect(unmatched('3', 'room:123'));
}));

test('--max-channels: a join beyond the limit -> "too many channels joined"', () => withServer(['--max-channels', '1'], async (srv) => {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    c.send('["2","2","room:123","phx_join",{}]');
    await c.expect('["2","2","room:123","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]');
    // An unrouted topic is still "unmatched topic" (routing is checked first).
    c.send('["3","3","lobby","phx_join",{}]');
    await c.expect('[null,"3","lobby","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]');
}));

test('numeric refs are echoed as numbers', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('[1,2,"room:lobby","phx_join",{}]');
    await c.expect('[1,2,"room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    c.send('[1,3,"room:lobby","ping",{"k":"v"}]');
    await c.expect('[1,3,"room:lobby","phx_reply",{"response":{"k":"v"},"status":"ok"}]');
    c.send('[null,4,"phoenix","heartbeat",{}]');
    await c.expect('[null,4,"phoenix","phx_reply",{"response":{},"status":"ok"}]');
    c.send('[1,5,"room:lobby","phx_leave",{}]');
    await c.expect('[1,5,"room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    await c.expect('[1,1,"room:lobby","phx_close",{}]');
}));

test('extra trailing elements of a V2 message are ignored', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send('["1","1","room:lobby","phx_join",{},"extra",42]');
    await c.expect('["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
}));

for (const [name, query] of [['vsn=1.0.0', 'vsn=1.0.0'], ['no vsn (defaults to V1)', '']]) {
    test(`V1 frames (${name}): join reply, broadcast, ping, leave`, () => withServer([], async (srv) => {
        const c = await srv.ws(query);
        const parse = async () => {
            const t = await c.nextText();
            const o = JSON.parse(t);
            assert.equal(typeof o, 'object');
            assert.ok(!Array.isArray(o), `V1 frame must be an object: ${t}`);
            assert.deepEqual(Object.keys(o).sort(), ['event', 'payload', 'ref', 'topic'],
                `V1 frame keys (never join_ref): ${t}`);
            return o;
        };
        c.send({ topic: 'room:lobby', event: 'phx_join', payload: {}, ref: '1', join_ref: '1' });
        assert.deepEqual(await parse(), { topic: 'room:lobby', event: 'phx_reply', payload: OK, ref: '1' });
        c.send({ topic: 'room:lobby', event: 'new_msg', payload: { body: 'v1' }, ref: '2', join_ref: '1' });
        assert.deepEqual(await parse(), { topic: 'room:lobby', event: 'new_msg', payload: { body: 'v1' }, ref: null });
        c.send({ topic: 'room:lobby', event: 'ping', payload: { p: 1 }, ref: '3' });
        assert.deepEqual(await parse(), { topic: 'room:lobby', event: 'phx_reply',
            payload: { status: 'ok', response: { p: 1 } }, ref: '3' });
        c.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '4' });
        assert.deepEqual(await parse(), { topic: 'phoenix', event: 'phx_reply', payload: OK, ref: '4' });
        c.send({ topic: 'room:lobby', event: 'phx_leave', payload: {}, ref: '5', join_ref: '1' });
        assert.deepEqual(await parse(), { topic: 'room:lobby', event: 'phx_reply', payload: OK, ref: '5' });
        // phx_close carries the join_ref recorded from the join message.
        assert.deepEqual(await parse(), { topic: 'room:lobby', event: 'phx_close', payload: {}, ref: '1' });
    }));
}

test('V1 join without join_ref: phx_close has ref null', () => withServer([], async (srv) => {
    const c = await srv.ws('vsn=1.0.0');
    c.send({ topic: 'room:lobby', event: 'phx_join', payload: {}, ref: '1' });
    assert.deepEqual(JSON.parse(await c.nextText()),
        { topic: 'room:lobby', event: 'phx_reply', payload: OK, ref: '1' });
    c.send({ topic: 'room:lobby', event: 'phx_leave', payload: {}, ref: '2' });
    assert.deepEqual(JSON.parse(await c.nextText()),
        { topic: 'room:lobby', event: 'phx_reply', payload: OK, ref: '2' });
    assert.deepEqual(JSON.parse(await c.nextText()),
        { topic: 'room:lobby', event: 'phx_close', payload: {}, ref: null });
}));

test('V1 and V2 clients share broadcasts', () => withServer([], async (srv) => {
    const v1 = await srv.ws('vsn=1.0.0');
    const v2 = await srv.ws();
    v1.send({ topic: 'room:lobby', event: 'phx_join', payload: {}, ref: '1', join_ref: '1' });
    await v1.next();
    await v2.join('room:lobby', '1');
    v2.send('["1","2","room:lobby","new_msg",{"body":"both"}]');
    await v2.expect('[null,null,"room:lobby","new_msg",{"body":"both"}]');
    assert.deepEqual(JSON.parse(await v1.nextText()),
        { topic: 'room:lobby', event: 'new_msg', payload: { body: 'both' }, ref: null });
}));

/** V2 client->server binary push (kind 0), PROTOCOL 2.3. */
function binaryPush(joinRef, ref, topic, event, payload) {
    const parts = [joinRef, ref, topic, event].map((s) => Buffer.from(s));
    return Buffer.concat([Buffer.from([0, ...parts.map((p) => p.length)]), ...parts, payload]);
}

test('binary push kind 0 layout matches the phoenix.js example', () => {
    // Guard on the helper itself (PROTOCOL 2.3 verified bytes).
    assert.equal(binaryPush('1', '2', 'room:1', 'up', Buffer.from([0xde, 0xad])).toString('hex'),
        '00010106023132726f6f6d3a317570dead');
});

test('binary ping -> binary reply (kind 1) with the exact bytes', () => withServer([], async (srv) => {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    const payload = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]);
    c.send(binaryPush('1', '2', 'room:lobby', 'ping', payload));
    const f = await c.next();
    assert.equal(f.binary, true, `expected a binary frame, got ${f.text}`);
    const expected = Buffer.concat([
        Buffer.from([1, 1, 1, 10, 2]), Buffer.from('1'), Buffer.from('2'),
        Buffer.from('room:lobby'), Buffer.from('ok'), payload]);
    assert.equal(f.data.toString('hex'), expected.toString('hex'));
    // Empty binary payload.
    c.send(binaryPush('1', '33', 'room:lobby', 'ping', Buffer.alloc(0)));
    const g = await c.next();
    assert.equal(g.binary, true);
    assert.equal(g.data.toString('hex'), Buffer.concat([Buffer.from([1, 1, 2, 10, 2]),
        Buffer.from('133room:lobbyok')]).toString('hex'));
    // JSON and binary interleave on one socket.
    c.send('["1","4","room:lobby","ping",{"t":1}]');
    await c.expect('["1","4","room:lobby","phx_reply",{"response":{"t":1},"status":"ok"}]');
}));

test('binary push to a topic not joined -> unmatched topic (JSON reply)', () => withServer([], async (srv) => {
    const c = await srv.ws();
    c.send(binaryPush('1', '2', 'room:lobby', 'ping', Buffer.from([1, 2, 3])));
    await c.expect(unmatched('2', 'room:lobby'));
}));
