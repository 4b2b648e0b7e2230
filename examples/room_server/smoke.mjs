// Smoke test for a running room_server (examples/run-smoke.sh starts it with
// --capacity 2 and ROOM_SERVER_KEY set): node smoke.mjs PORT [PORT2]
// With PORT2, a second room_server clustered with the first over the mesh
// (bn_server_attach_mesh): "say" crosses nodes both ways.
// Speaks the Phoenix V2 JSON protocol with the `ws` package from the
// repository's node_modules and checks each feature of the example once.
import assert from 'node:assert/strict';
import WebSocket from 'ws';

const port = Number(process.argv[2]);
const port2 = process.argv[3] !== undefined ? Number(process.argv[3]) : 0;
const key = process.env.ROOM_SERVER_KEY;
assert.ok(port > 0, 'usage: node smoke.mjs PORT');
assert.ok(key, 'ROOM_SERVER_KEY must be set');
const base = `127.0.0.1:${port}`;

const deadline = setTimeout(() => {
    console.error('smoke: timed out');
    process.exit(1);
}, 15000);

class Client {
    constructor(user, at = base) {
        this.user = user;
        this.base = at;
        this.ref = 0;
        this.pending = new Map();
        this.inbox = [];
        this.waiters = [];
    }

    open() {
        return new Promise((resolve, reject) => {
            const q = this.user === null ? '' : `&user=${encodeURIComponent(this.user)}`;
            this.ws = new WebSocket(`ws://${this.base}/socket/websocket?vsn=2.0.0${q}`);
            this.ws.on('open', () => resolve(this));
            this.ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
            this.ws.on('error', reject);
            this.ws.on('message', (data) => this.onMessage(JSON.parse(data.toString())));
        });
    }

    onMessage([joinRef, ref, topic, event, payload]) {
        if (event === 'phx_reply' && this.pending.has(ref)) {
            const resolve = this.pending.get(ref);
            this.pending.delete(ref);
            resolve(payload);
            return;
        }
        const msg = { joinRef, topic, event, payload };
        const i = this.waiters.findIndex((w) => w.match(msg));
        if (i >= 0) {
            this.waiters.splice(i, 1)[0].resolve(msg); // consumed by next()
        } else {
            this.inbox.push(msg);
        }
    }

    send(topic, event, payload, joinRef = null) {
        const ref = String(++this.ref);
        const reply = new Promise((resolve) => this.pending.set(ref, resolve));
        this.ws.send(JSON.stringify([joinRef, ref, topic, event, payload]));
        return reply;
    }

    async join(topic, params = {}) {
        const joinRef = String(this.ref + 1);
        const reply = await this.send(topic, 'phx_join', params, joinRef);
        if (reply.status === 'ok') {
            (this.joins ??= new Map()).set(topic, joinRef);
        }
        return reply;
    }

    push(topic, event, payload) {
        return this.send(topic, event, payload, this.joins.get(topic));
    }

    // Resolves with the first message (already received or not) matching.
    next(match) {
        const i = this.inbox.findIndex(match);
        if (i >= 0) {
            return Promise.resolve(this.inbox.splice(i, 1)[0]);
        }
        return new Promise((resolve) => this.waiters.push({ match, resolve }));
    }

    close() {
        this.ws.close();
    }
}

// The library's own health endpoint, served by the embedded server.
const health = await fetch(`http://${base}/health`);
assert.equal(health.status, 200);

// Connect: a socket without a valid user is refused by the connect callback.
await assert.rejects(new Client(null).open(), /HTTP 403/);
await assert.rejects(new Client('no spaces').open(), /HTTP 403/);

const alice = await new Client('alice').open();
const bob = await new Client('bob').open();
const carol = await new Client('carol').open();

// Join authorization: vip rooms need the key; per-topic capacity is 2.
let r = await alice.join('room:lobby');
assert.deepEqual(r, { status: 'ok', response: { members: 1 } });
r = await alice.join('room:vip-1', { key: 'wrong' });
assert.deepEqual(r, { status: 'error', response: { reason: 'unauthorized' } });
r = await alice.join('room:vip-1', { key });
assert.equal(r.status, 'ok');
r = await bob.join('room:lobby');
assert.deepEqual(r, { status: 'ok', response: { members: 2 } });
r = await carol.join('room:lobby');
assert.deepEqual(r, { status: 'error', response: { reason: 'room full' } });

r = await alice.push('room:lobby', 'who', {});
assert.deepEqual(r, { status: 'ok', response: { members: ['alice', 'bob'] } });

// The intercepted "said": handle_out marks the sender's own copy.
r = await alice.push('room:lobby', 'say', { body: 'hi' });
assert.deepEqual(r, { status: 'ok', response: { seq: 1 } });
const mine = await alice.next((m) => m.event === 'said');
assert.deepEqual(mine.payload, { user: 'alice', body: 'hi', seq: 1, mine: true });
const theirs = await bob.next((m) => m.event === 'said');
assert.deepEqual(theirs.payload, { user: 'alice', body: 'hi', seq: 1, mine: false });

// bob mutes alice: his handle_out drops her next message. Replies on one
// socket are in order, so "said" would have reached bob before his "who"
// reply did.
r = await bob.push('room:lobby', 'mute', { user: 'alice' });
assert.equal(r.status, 'ok');
r = await alice.push('room:lobby', 'say', { body: 'again' });
assert.deepEqual(r.response, { seq: 2 });
await alice.next((m) => m.event === 'said' && m.payload.seq === 2);
await bob.push('room:lobby', 'who', {});
assert.equal(bob.inbox.filter((m) => m.event === 'said').length, 0, 'muted message delivered');

// The server-side timer pushes to every joined socket.
const tick = await bob.next((m) => m.event === 'tick' && m.topic === 'room:lobby');
assert.equal(tick.payload.members, 2);
assert.equal(tick.payload.seq, 2);

// terminate: bob leaves, the room's state follows; carol now fits.
r = await bob.push('room:lobby', 'phx_leave', {});
assert.equal(r.status, 'ok');
r = await alice.push('room:lobby', 'who', {});
assert.deepEqual(r.response, { members: ['alice'] });
r = await carol.join('room:lobby');
assert.deepEqual(r, { status: 'ok', response: { members: 2 } });
await alice.next((m) => m.event === 'tick' && m.topic === 'room:lobby' && m.payload.members === 2 &&
    m.payload.tick > tick.payload.tick);

// An unknown event crashes only that channel (phx_error), as in Phoenix.
const crashed = carol.next((m) => m.event === 'phx_error');
carol.ws.send(JSON.stringify([carol.joins.get('room:lobby'), '99', 'room:lobby', 'nope', {}]));
await crashed;
r = await alice.push('room:lobby', 'who', {});
assert.deepEqual(r.response, { members: ['alice'] });

const clients = [alice, bob, carol];
if (port2) {
    // Two nodes: each keeps its own room (members, capacity, seq); a "said"
    // broadcast crosses the mesh and meets the other node's handle_out.
    const dave = await new Client('dave', `127.0.0.1:${port2}`).open();
    clients.push(dave);
    r = await dave.join('room:lobby');
    assert.deepEqual(r, { status: 'ok', response: { members: 1 } });
    // Until each node has learnt that the other holds room:lobby (the mesh's
    // group gossip), a say stays on its node: say again until one crosses.
    const crossing = async (from, to, body) => {
        const got = to.next((m) => m.event === 'said' && m.payload.body === body);
        for (let seen = null; seen === null;) {
            await from.push('room:lobby', 'say', { body });
            seen = await Promise.race([got, new Promise((res) => setTimeout(res, 100, null))]);
            if (seen !== null) {
                return seen.payload;
            }
        }
        return null;
    };
    let p = await crossing(dave, alice, 'from b');
    assert.equal(p.user, 'dave');
    assert.equal(p.mine, false);
    p = await crossing(alice, dave, 'from a');
    assert.equal(p.user, 'alice');
    assert.equal(p.mine, false);
}
for (const c of clients) {
    c.close();
}
clearTimeout(deadline);
console.log(`smoke: room_server ok${port2 ? ' (two nodes clustered)' : ''}`);
