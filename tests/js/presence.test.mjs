// Presence (docs/presence.md): the official phoenix.js `Presence` class
// against the demo chat's room:lobby, which tracks every socket under its
// `name` join param. One node on both transports (WebSocket and LongPoll),
// the exact wire format with raw clients (V1 and V2 serializers), channel
// ends of every kind, then 3 real nodes on loopback: convergence, kill -9 of
// a node, and a partition of one node and its heal through TCP proxies.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';

import { Presence } from 'phoenix';

import { LongPoll, phxSocket, socketOpened } from './support/compat_client.mjs';
import { withCluster } from './support/cluster.mjs';
import { bennuctlBin, waitFor, WebSocket, withServer } from './support/server.mjs';
import { partitionProxy as proxy } from './support/partition_proxy.mjs';

/** bennuctl against `node`; resolves {code, stdout, stderr}. */
function bennuctl(cluster, node, args) {
    return new Promise((resolve) => {
        execFile(bennuctlBin(), ['--node', node.meshAddr, '--cookie', cluster.cookie, ...args],
            { timeout: 20000 }, (err, stdout, stderr) => {
                resolve({ code: err ? err.code : 0, stdout, stderr });
            });
    });
}

/** A phoenix.js client in room:lobby under `name`, with a Presence that
 *  records every onJoin/onLeave key. `srv` has socketEndpoint and track(). */
async function member(srv, name, transport = WebSocket) {
    const socket = phxSocket(srv, { transport, params: {} });
    const opened = socketOpened(socket, 10000);
    socket.connect();
    await opened;
    const channel = socket.channel('room:lobby', name === null ? {} : { name });
    const presence = new Presence(channel);
    const m = { name, socket, channel, presence, joins: [], leaves: [], syncs: 0 };
    presence.onJoin((key, cur) => { if (!cur) m.joins.push(key); });
    presence.onLeave((key, cur) => { if (cur.metas.length === 0) m.leaves.push(key); });
    presence.onSync(() => { m.syncs++; });
    m.names = () => presence.list((key) => key).sort();
    await new Promise((resolve, reject) => {
        channel.join(10000).receive('ok', resolve)
            .receive('error', (r) => reject(new Error(`join refused: ${JSON.stringify(r)}`)))
            .receive('timeout', () => reject(new Error('join timed out')));
    });
    return m;
}

function sameNames(members, expected, what, timeoutMs = 5000) {
    const want = [...expected].sort();
    return waitFor(() => members.every((m) => JSON.stringify(m.names()) === JSON.stringify(want)),
        timeoutMs, () => `${what}: want ${JSON.stringify(want)}, have ` +
            JSON.stringify(members.map((m) => [m.name, m.names()])));
}

for (const [label, transport] of [['WebSocket', WebSocket], ['LongPoll', LongPoll]]) {
    // A LongPoll session ends once it has not polled for the session timeout
    // (after its last poll is answered at the end of the window).
    test(`phoenix.js Presence on ${label}: sync, join, leave, rejoin`, () => withServer(['--longpoll-session-timeout', '1000', '--longpoll-window', '1000'], async (srv) => {
        const alice = await member(srv, 'alice', transport);
        await sameNames([alice], ['alice'], 'alice sees herself');
        const bob = await member(srv, 'bob', transport);
        await sameNames([alice, bob], ['alice', 'bob'], 'both listed');
        assert.ok(alice.joins.includes('bob'), 'onJoin for bob on alice');
        // metas as the chat tracks them
        const [meta] = bob.presence.list((k, p) => (k === 'bob' ? p.metas : null)).filter(Boolean);
        assert.equal(meta.length, 1);
        assert.match(meta[0].phx_ref, /^[A-Za-z0-9_-]{16}$/);
        assert.match(meta[0].online_at, /^\d+$/);
        assert.equal(typeof meta[0].node, 'string');

        // leave: a presence_diff with bob in leaves
        await new Promise((r) => bob.channel.leave().receive('ok', r));
        await sameNames([alice], ['alice'], 'bob left');
        assert.deepEqual(alice.leaves, ['bob']);

        // rejoin after a dropped connection: the channel rejoins by itself,
        // gets a fresh presence_state, and alice sees bob again.
        const carol = await member(srv, 'carol', transport);
        await sameNames([alice, carol], ['alice', 'carol'], 'carol joined');
        const syncsBefore = carol.syncs;
        carol.socket.disconnect(null, 1000);
        await sameNames([alice], ['alice'], 'carol gone with her connection', 10000);
        carol.socket.connect();
        await waitFor(() => carol.syncs > syncsBefore && carol.channel.state === 'joined', 10000,
            'carol rejoined and synced');
        await sameNames([alice, carol], ['alice', 'carol'], 'carol back after rejoin');
        assert.deepEqual(alice.leaves, ['bob', 'carol']);
        assert.deepEqual(alice.joins.filter((k) => k === 'carol').length, 2);
    }));
}

test('wire format: presence_state push with join_ref, coalesced presence_diff, V1 and V2', () => withServer(['--presence-diff-ms', '200'], async (srv) => {
    // V2: [join_ref, ref, topic, event, payload]
    const a = await srv.ws('vsn=2.0.0', { presence: true });
    a.send(['1', '1', 'room:lobby', 'phx_join', { name: 'a' }]);
    const reply = JSON.parse((await a.next()).text);
    assert.deepEqual(reply.slice(0, 4), ['1', '1', 'room:lobby', 'phx_reply']);
    const state = JSON.parse((await a.next()).text);
    assert.deepEqual(state.slice(0, 4), ['1', null, 'room:lobby', 'presence_state']);
    assert.deepEqual(Object.keys(state[4]), ['a']);
    const metaA = state[4].a.metas[0];
    assert.deepEqual(Object.keys(metaA), ['node', 'online_at', 'phx_ref']);
    // its own join also arrives as a diff (a client merges it by phx_ref)
    const own = JSON.parse((await a.next()).text);
    assert.deepEqual(own, [null, null, 'room:lobby', 'presence_diff',
        { joins: { a: { metas: [metaA] } }, leaves: {} }]);

    // V1: {topic, event, payload, ref} objects, no join_ref
    const b = await srv.ws('vsn=1.0.0', { presence: true });
    b.send({ topic: 'room:lobby', event: 'phx_join', payload: { name: 'b' }, ref: '7' });
    const r1 = JSON.parse((await b.next()).text);
    assert.equal(r1.event, 'phx_reply');
    const s1 = JSON.parse((await b.next()).text);
    assert.equal(s1.event, 'presence_state');
    assert.deepEqual(Object.keys(s1.payload).sort(), ['a', 'b']);
    assert.equal(s1.ref, null);
    const d1 = JSON.parse((await b.next()).text);
    assert.equal(d1.event, 'presence_diff');
    assert.deepEqual(Object.keys(d1.payload.joins), ['b']);

    // a saw b join
    assert.deepEqual(Object.keys(JSON.parse((await a.next()).text)[4].joins), ['b']);

    // Several joins in one interval: one diff carrying all of them.
    const many = [];
    for (let i = 0; i < 5; i++) {
        const c = await srv.ws('vsn=2.0.0', { presence: true });
        many.push(c);
    }
    for (const [i, c] of many.entries()) {
        c.send(['1', '1', 'room:lobby', 'phx_join', { name: `m${i}` }]);
    }
    const seen = new Set();
    let diffs = 0;
    await waitFor(async () => {
        const f = JSON.parse((await a.next()).text);
        assert.equal(f[3], 'presence_diff');
        diffs++;
        for (const k of Object.keys(f[4].joins)) {
            seen.add(k);
        }
        return seen.size === 5;
    }, 5000, 'five joins seen by a');
    assert.ok(diffs < 5, `joins were coalesced (${diffs} diffs for 5 joins)`);

    // Channel ends of every kind are leaves: crash (unknown event), duplicate
    // join, connection drop.
    many[0].send(['1', '2', 'room:lobby', 'no_such_event', {}]);
    many[1].send(['9', '9', 'room:lobby', 'phx_join', { name: 'm1' }]); // duplicate join: old one leaves
    many[2].close();
    const left = new Set();
    const rejoined = [];
    await waitFor(async () => {
        const f = JSON.parse((await a.next()).text);
        for (const k of Object.keys(f[4].leaves)) {
            left.add(k);
        }
        rejoined.push(...Object.keys(f[4].joins));
        return left.has('m0') && left.has('m1') && left.has('m2') && rejoined.includes('m1');
    }, 5000, 'crash, duplicate join and drop seen as leaves');
}));

// ---------------------------------------------------------------- cluster

test('3 nodes: all 6 names everywhere, kill -9 drops exactly 2, partition and heal converge', { timeout: 120000 }, () => withCluster({}, async (cluster) => {
    // Every mesh link goes through a proxy per (dialler, target) pair, the
    // seed links included, so cutting c's four proxies isolates c alone.
    const ports = { a: 0, b: 0, c: 0 };
    const names = ['a', 'b', 'c'];
    const px = {};
    for (const from of names) {
        for (const to of names) {
            if (from !== to) {
                px[from + to] = await proxy(() => ports[to]);
            }
        }
    }
    const overrides = (self) => names.filter((n) => n !== self).flatMap((n) =>
        ['--dial-override', `${n}@127.0.0.1=127.0.0.1:${px[self + n].port}`]);
    try {
        const a = await cluster.start('a', { extra: overrides('a') });
        ports.a = a.meshPort;
        const b = await cluster.start('b', { join: [`127.0.0.1:${px.ba.port}`], extra: overrides('b') });
        ports.b = b.meshPort;
        const c = await cluster.start('c', { join: [`127.0.0.1:${px.ca.port}`], extra: overrides('c') });
        ports.c = c.meshPort;
        const nodes = [a, b, c];
        await cluster.waitFullMesh(nodes, 10000);

        const members = [];
        for (const n of nodes) {
            for (const i of [1, 2]) {
                members.push(await member(n, `${n.name.split('@')[0]}${i}`));
            }
        }
        const all = ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'];
        const t0 = Date.now();
        await sameNames(members, all, 'all six everywhere', 2000);
        console.log(`all 6 names on every client after ${Date.now() - t0} ms`);

        // bennuctl: every node lists the same presences; check agrees.
        const pj = await bennuctl(cluster, a, ['presence', 'room:lobby', '--json']);
        assert.equal(pj.code, 0, pj.stdout + pj.stderr);
        const pdoc = JSON.parse(pj.stdout);
        assert.equal(pdoc.agree, true);
        assert.equal(Object.keys(pdoc.nodes).length, 3);
        for (const v of Object.values(pdoc.nodes)) {
            assert.deepEqual(Object.keys(v.presence.presences).sort(), all);
            assert.equal(v.presence.by_node[b.name].length, 2);
        }
        const pt = await bennuctl(cluster, b, ['presence', 'room:lobby']);
        assert.equal(pt.code, 0, pt.stdout + pt.stderr);
        assert.match(pt.stdout, /agreement: all 3 nodes list the same presences/);
        assert.match(pt.stdout, /^c1 +c@127\.0\.0\.1 /m);
        const ck = await bennuctl(cluster, c, ['check', '--json']);
        assert.equal(ck.code, 0, ck.stdout + ck.stderr);
        assert.equal(JSON.parse(ck.stdout).presence_compared, 3);

        // Partition c from a and b, then heal.
        const onAB = members.filter((m) => !m.name.startsWith('c'));
        const onC = members.filter((m) => m.name.startsWith('c'));
        const leavesBefore = members.map((m) => m.leaves.length);
        const markA = a.mark();
        const markC = c.mark();
        for (const k of ['ac', 'bc', 'ca', 'cb']) {
            px[k].cut();
        }
        await a.waitForMeshEvent('mesh_nodedown', c.name, 5000, markA);
        await sameNames(onAB, ['a1', 'a2', 'b1', 'b2'], 'a and b side without c', 3000);
        await sameNames(onC, ['c1', 'c2'], 'c alone', 3000);
        // a partition is never a leave for a member of one's own side
        for (const [i, m] of members.entries()) {
            const newLeaves = m.leaves.slice(leavesBefore[i]);
            const own = m.name.startsWith('c') ? ['c1', 'c2'] : ['a1', 'a2', 'b1', 'b2'];
            assert.deepEqual(newLeaves.filter((k) => own.includes(k)), [],
                `${m.name} saw a leave of its own side: ${newLeaves}`);
        }
        const markA2 = a.mark();
        const markC2 = c.mark();
        for (const k of ['ac', 'bc', 'ca', 'cb']) {
            px[k].heal();
        }
        await a.waitForMeshEvent('mesh_nodeup', c.name, 15000, markA2);
        await c.waitForMeshEvent('mesh_nodeup', b.name, 15000, markC2);
        const tHeal = Date.now();
        await sameNames(members, all, 'healed: all six, no zombie', 3000);
        console.log(`converged ${Date.now() - tHeal} ms after the links came back`);
        assert.ok(markC >= 0);

        // kill -9 b: the others drop exactly b1 and b2 within the detection
        // time (--down-ms, or at once when the link closes) + 1 s.
        const survivors = members.filter((m) => !m.name.startsWith('b'));
        const tKill = await b.kill();
        await sameNames(survivors, ['a1', 'a2', 'c1', 'c2'], 'b gone', cluster.downMs + 1000);
        console.log(`b's names dropped ${Date.now() - tKill} ms after kill -9`);
        for (const m of members) {
            m.socket.disconnect();
        }
    } finally {
        for (const p of Object.values(px)) {
            await p.close();
        }
    }
}));
