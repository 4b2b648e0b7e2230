// Issue 4, end to end: real bennu nodes on loopback forming a mesh, the
// official phoenix.js client (with `ws`) on different nodes, failures by
// SIGKILL and SIGSTOP, restarts, a wrong cookie, and the failure-detection
// and reconvergence times with the default settings. Mesh state is read
// through mesh_probe (tests/integration/mesh_probe.c), a hidden mesh node.
//
// Every node runs with --port 0 --mesh-port 0; every wait is a bounded poll.
// On teardown every running node gets SIGTERM and must exit 0, and no node's
// stderr may hold a sanitizer report.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MeshNode, lobby, logFields, logTs, phx, say, waitFor, withCluster } from './support/cluster.mjs';

const FAST = { tickMs: 100, downMs: 600 };
// The brief's bound for failure detection with --tick-ms 100 --down-ms 600.
const FAST_DETECT_MS = 1500;

// ------------------------------------------------------------ phoenix.js

/** Wait until every channel in `chans` has received `body`. */
async function waitBody(chans, body, timeoutMs = 5000) {
    await waitFor(() => chans.every((c) => c.bodies.includes(body)), timeoutMs,
        () => `"${body}" on every channel; last bodies: ` +
            `${JSON.stringify(chans.map((c) => c.bodies.slice(-3)))}`);
}

let seq = 0;
/** One fresh message from `from` must reach every channel in `to`. */
async function assertFlows(from, to, timeoutMs = 5000) {
    const body = `flow-${++seq}-${Date.now()}`;
    say(from, body);
    await waitBody(to, body, timeoutMs);
}

// ------------------------------------------------------------ helpers

const nodeupRe = (self, peer) => MeshNode.eventRe('mesh_nodeup', self.name, peer.name);
const nodedownRe = (self, peer) => MeshNode.eventRe('mesh_nodedown', self.name, peer.name);

/** Milliseconds from `t0` to the time stamp of `line`; log stamps are whole
 *  milliseconds, so never less than 0. */
function since(t0, line) {
    return Math.max(0, logTs(line) - t0);
}

/** Start A, then B and C joining only A, and wait for the full mesh. */
async function threeNodes(cluster) {
    const a = await cluster.start('a');
    const b = await cluster.start('b', { join: [a] });
    const c = await cluster.start('c', { join: [a] });
    await cluster.waitFullMesh([a, b, c]);
    return { a, b, c };
}

/** Subscribers on every node, and every node's view of every other's
 *  room:lobby membership settled. */
async function lobbyEverywhere(cluster, nodes) {
    const chans = [];
    for (const n of nodes) {
        chans.push(await lobby(n));
    }
    for (const n of nodes) {
        for (const o of nodes) {
            if (o !== n) {
                await cluster.waitPeerGroup(n, o, 'room:lobby');
            }
        }
    }
    return chans;
}

// ------------------------------------------------------------ tests

test('three nodes joined through one seed form a full mesh', { timeout: 30000 }, () =>
    withCluster(FAST, async (cluster) => {
        const { a, b, c } = await threeNodes(cluster);
        const all = [a, b, c];
        for (const n of all) {
            for (const o of all) {
                if (o === n) {
                    continue;
                }
                // Each node logs exactly one nodeup for each other node (a
                // duplicate link is resolved by a link switch, not a flap),
                // carrying the incarnation that node announced.
                const ups = n.grep(nodeupRe(n, o));
                assert.equal(ups.length, 1, `${n.name} nodeups for ${o.name}: ${ups.join('\n')}`);
                assert.equal(logFields(ups[0]).incarnation, o.incarnation);
                assert.deepEqual(n.grep(nodedownRe(n, o)), []);
            }
        }
        // B and C learnt of each other only through A's gossip; the members
        // view of each node lists the other two up, at their real mesh ports.
        for (const n of all) {
            const m = await cluster.members(n);
            assert.equal(m.node, n.name);
            assert.equal(m.port, n.meshPort);
            assert.equal(m.incarnation, n.incarnation);
            const peers = m.nodes.filter((p) => !p.hidden);
            assert.deepEqual(peers.map((p) => p.name).sort(),
                all.filter((o) => o !== n).map((o) => o.name).sort());
            for (const p of peers) {
                const o = all.find((x) => x.name === p.name);
                assert.equal(p.state, 'up');
                assert.equal(p.port, o.meshPort);
                assert.equal(p.host, '127.0.0.1');
                assert.equal(p.downs, 0);
                assert.ok(p.link, `${n.name} has no link to ${p.name}`);
            }
        }
    }));

test('phoenix.js on A receives 1000 new_msg pushed on C, in order, no loss, no duplicates',
    { timeout: 60000 }, () => withCluster(FAST, async (cluster) => {
        const { a, b, c } = await threeNodes(cluster);
        const [onA, onB, onC] = await lobbyEverywhere(cluster, [a, b, c]);
        const N = 1000;
        const expected = Array.from({ length: N }, (_, i) => `m-${i}`);
        for (const body of expected) {
            say(onC, body);
        }
        await waitFor(() => onA.bodies.length >= N && onB.bodies.length >= N &&
            onC.bodies.length >= N, 30000, () => `${N} messages everywhere; have ` +
            `A=${onA.bodies.length} B=${onB.bodies.length} C=${onC.bodies.length}`);
        // A sentinel sent after the batch: once it arrives, anything the batch
        // could still have duplicated would have arrived before it.
        await assertFlows(onC, [onA, onB, onC]);
        for (const [where, ch] of [['A', onA], ['B', onB], ['C (sender)', onC]]) {
            assert.deepEqual(ch.bodies.slice(0, N), expected, `order/loss on ${where}`);
            assert.equal(ch.bodies.length, N + 1, `duplicates on ${where}`);
        }
        // One Broadcast frame per message per interested peer, nothing more.
        const [sa, sc] = [await cluster.stats(a), await cluster.stats(c)];
        assert.equal(sa.broadcasts_in, N + 1);
        assert.equal(sc.broadcasts_out, N + 1);
    }));

test('a topic with subscribers only on A is never sent to B', { timeout: 60000 }, () =>
    withCluster(FAST, async (cluster) => {
        const { a, b, c } = await threeNodes(cluster);
        const onA = await lobby(a);
        const onC = await lobby(c);
        await cluster.waitPeerGroup(c, a, 'room:lobby');
        // B has no subscriber: C's view of B's groups is known and empty.
        await cluster.waitPeerGroup(c, b, 'room:lobby', false);
        const N = 100;
        const big = 'x'.repeat(8000);

        const linkOf = (peers, name) => {
            assert.equal(peers[name]?.state, 'up', `${name} not up: ${JSON.stringify(peers)}`);
            return peers[name].link;
        };
        const before = await cluster.peers(c);
        const t0 = Date.now();
        for (let i = 0; i < N; i++) {
            say(onC, `${i}:${big}`);
        }
        await waitFor(() => onA.bodies.length >= N, 20000,
            () => `${N} messages on A (have ${onA.bodies.length})`);
        const after = await cluster.peers(c);
        const elapsed = Date.now() - t0;

        const toA = [linkOf(before, a.name), linkOf(after, a.name)];
        const toB = [linkOf(before, b.name), linkOf(after, b.name)];
        // Same links throughout, or the counters would not be comparable.
        assert.equal(toA[1].id, toA[0].id);
        assert.equal(toB[1].id, toB[0].id);
        const aMsgs = toA[1].msgs_out - toA[0].msgs_out;
        const aBytes = toA[1].bytes_out - toA[0].bytes_out;
        const bMsgs = toB[1].msgs_out - toB[0].msgs_out;
        const bBytes = toB[1].bytes_out - toB[0].bytes_out;
        console.log(`# C->A during ${N} publishes: ${aMsgs} frames, ${aBytes} bytes; ` +
            `C->B: ${bMsgs} frames, ${bBytes} bytes in ${elapsed} ms`);
        assert.ok(aMsgs >= N, `C->A carried ${aMsgs} frames for ${N} broadcasts`);
        assert.ok(aBytes >= N * big.length, `C->A carried only ${aBytes} bytes`);
        // To B only ticks may go: at most one per tick interval (plus slack
        // for the sweep's phase), and not one broadcast-sized frame.
        assert.ok(bMsgs <= Math.ceil(elapsed / FAST.tickMs) + 3,
            `C->B carried ${bMsgs} frames in ${elapsed} ms`);
        assert.ok(bBytes < big.length, `C->B carried ${bBytes} bytes: a broadcast went to B`);
        const sb = await cluster.stats(b);
        assert.equal(sb.broadcasts_in, 0, 'B received a broadcast');
        assert.equal(sb.deliveries, 0);

        // Control: once B subscribes, the same publishing does reach B, so
        // the counters above could have shown it.
        const onB = await lobby(b);
        await cluster.waitPeerGroup(c, b, 'room:lobby');
        const before2 = await cluster.peers(c);
        for (let i = 0; i < N; i++) {
            say(onC, `again-${i}:${big}`);
        }
        await waitFor(() => onB.bodies.length >= N, 20000,
            () => `${N} messages on B (have ${onB.bodies.length})`);
        const after2 = await cluster.peers(c);
        const b2 = [linkOf(before2, b.name), linkOf(after2, b.name)];
        assert.ok(b2[1].msgs_out - b2[0].msgs_out >= N);
        assert.ok(b2[1].bytes_out - b2[0].bytes_out >= N * big.length);
        assert.equal((await cluster.stats(b)).broadcasts_in, N);
    }));

test('SIGKILL: the others declare the node down fast and drop its groups; ' +
    'it restarts with a new incarnation on the same mesh port and all converges',
{ timeout: 60000 }, () => withCluster(FAST, async (cluster) => {
    const { a, b, c } = await threeNodes(cluster);
    const [onA, , onC] = await lobbyEverywhere(cluster, [a, b, c]);
    const marks = { a: a.mark(), c: c.mark() };

    const t0 = await b.kill();
    const downs = {};
    for (const n of [a, c]) {
        const line = await n.waitForLog(nodedownRe(n, b), 5000, marks[n.name[0]]);
        const f = logFields(line);
        downs[n.name] = { ms: since(t0, line), reason: f.reason };
        // A killed process's sockets are closed by the kernel: detection is
        // by the connection closing, or at worst by the tick timeout.
        assert.match(f.reason, /^(connection_closed|read_error|tick_timeout)$/, line);
        assert.equal(f.incarnation, b.incarnation);
        assert.equal(f.groups_dropped, '1', `B's room:lobby membership not dropped: ${line}`);
        assert.ok(since(t0, line) < FAST_DETECT_MS, `${n.name} took ${since(t0, line)} ms`);
    }
    console.log(`# SIGKILL detection (tick 100, down 600): ${JSON.stringify(downs)}`);
    for (const n of [a, c]) {
        const g = await cluster.groups(n);
        assert.equal(g.peers[b.name], undefined, `${n.name} still lists B's groups`);
        const peers = await cluster.peers(n);
        assert.equal(peers[b.name].state, 'down');
        assert.equal(peers[b.name].downs, 1);
        assert.equal(peers[b.name].last_down_reason, downs[n.name].reason);
    }
    // The survivors still talk to each other.
    await assertFlows(onA, [onA, onC]);

    const marks2 = { a: a.mark(), c: c.mark() };
    const t1 = Date.now();
    const b2 = await cluster.restart(b);
    assert.notEqual(b2.incarnation, b.incarnation);
    assert.ok(BigInt(b2.incarnation) > BigInt(b.incarnation), 'incarnation did not grow');
    for (const n of [a, c]) {
        const line = await n.waitForLog(nodeupRe(n, b2), 5000, marks2[n.name[0]]);
        assert.equal(logFields(line).incarnation, b2.incarnation);
        assert.match(line, / restarted=1/);
    }
    await b2.waitForMeshEvent('mesh_nodeup', a.name);
    await b2.waitForMeshEvent('mesh_nodeup', c.name);
    await cluster.waitFullMesh([a, b2, c]);
    const onB2 = await lobby(b2);
    await cluster.waitPeerGroup(a, b2, 'room:lobby');
    await cluster.waitPeerGroup(c, b2, 'room:lobby');
    await cluster.waitPeerGroup(b2, a, 'room:lobby');
    await cluster.waitPeerGroup(b2, c, 'room:lobby');
    console.log(`# restart to converged with groups (tick 100, down 600): ${Date.now() - t1} ms`);
    await assertFlows(onB2, [onA, onB2, onC]);
    await assertFlows(onA, [onA, onB2, onC]);
    await assertFlows(onC, [onA, onB2, onC]);
}));

test('SIGSTOP: a frozen node is declared down by tick timeout, and rejoins after SIGCONT',
    { timeout: 60000 }, () => withCluster(FAST, async (cluster) => {
        const { a, b, c } = await threeNodes(cluster);
        const [onA, onB, onC] = await lobbyEverywhere(cluster, [a, b, c]);
        const marks = { a: a.mark(), b: b.mark(), c: c.mark() };

        const t0 = Date.now();
        c.signal('SIGSTOP');
        const downs = {};
        for (const n of [a, b]) {
            const line = await n.waitForLog(nodedownRe(n, c), 5000, marks[n.name[0]]);
            const f = logFields(line);
            downs[n.name] = since(t0, line);
            // The TCP connection is alive: only silence can reveal the node.
            assert.equal(f.reason, 'tick_timeout', line);
            assert.equal(f.groups_dropped, '1', line);
            assert.ok(since(t0, line) < FAST_DETECT_MS, `${n.name} took ${since(t0, line)} ms`);
            // Not before the silence could have lasted down-ms minus a tick.
            assert.ok(since(t0, line) >= FAST.downMs - 2 * FAST.tickMs - 100,
                `${n.name} declared C down after only ${since(t0, line)} ms`);
        }
        console.log(`# SIGSTOP detection (tick 100, down 600): ${JSON.stringify(downs)}`);
        for (const n of [a, b]) {
            assert.equal((await cluster.groups(n)).peers[c.name], undefined);
            assert.equal((await cluster.peers(n))[c.name].state, 'down');
        }
        await assertFlows(onA, [onA, onB]);

        const t1 = Date.now();
        c.signal('SIGCONT');
        // Redials back off while C is frozen: allow more than the usual 5 s.
        for (const n of [a, b]) {
            await n.waitForLog(nodeupRe(n, c), 8000, marks[n.name[0]]);
        }
        // C finds out itself that both links are gone, then comes back.
        for (const peer of [a, b]) {
            await c.waitForLog(nodedownRe(c, peer), 8000, marks.c);
            await c.waitForLog(nodeupRe(c, peer), 8000, marks.c);
        }
        await cluster.waitFullMesh([a, b, c], 8000);
        for (const n of [a, b]) {
            await cluster.waitPeerGroup(n, c, 'room:lobby', true, 8000);
            await cluster.waitPeerGroup(c, n, 'room:lobby', true, 8000);
        }
        console.log(`# SIGCONT to converged with groups (tick 100, down 600): ${Date.now() - t1} ms`);
        await assertFlows(onC, [onA, onB, onC]);
        await assertFlows(onA, [onA, onB, onC]);
    }));

test('a node with the wrong cookie is refused and the cluster is unaffected',
    { timeout: 30000 }, () => withCluster(FAST, async (cluster) => {
        const a = await cluster.start('a');
        const b = await cluster.start('b', { join: [a] });
        await cluster.waitFullMesh([a, b]);
        const [onA, onB] = await lobbyEverywhere(cluster, [a, b]);
        const mark = { a: a.mark(), b: b.mark() };

        const d = await cluster.start('d', { join: [a], cookie: 'not-the-cluster-cookie' });
        // The acceptor cannot open d's proof and tells it so in plain text;
        // d never learns anything that depends on the cookie, not even A's
        // name. Unauthenticated closes are counted at A (one summary line per
        // interval), not logged one by one; d is refused again on redial.
        const refusedAtD = / event=mesh_refused mesh=d@127\.0\.0\.1 .* reason=bad_cookie/;
        await d.waitForLog(refusedAtD, 5000);
        await waitFor(() => d.grep(refusedAtD).length >= 2, 5000, 'd redial refused too');
        await waitFor(async () => ((await cluster.members(a)).closes.bad_cookie ?? 0) >= 2, 5000,
            'A counted two bad_cookie closes');
        assert.deepEqual(d.grep(/a@127\.0\.0\.1|b@127\.0\.0\.1/), [], 'd learned a node name');
        for (const n of [a, b, d]) {
            assert.deepEqual(n.grep(/ event=mesh_nodeup .*node=d@| event=mesh_nodeup mesh=d@/),
                [], `${n.name} let d in`);
        }
        assert.deepEqual(a.grep(/ event=mesh_nodedown /, mark.a).filter((l) => !/node=probe-/.test(l)), []);
        assert.deepEqual(b.grep(/ event=mesh_nodedown /, mark.b).filter((l) => !/node=probe-/.test(l)), []);
        const ma = await cluster.members(a);
        assert.ok(ma.closes.bad_cookie >= 2, JSON.stringify(ma.closes));
        assert.equal(ma.nodes.find((n) => n.name === d.name), undefined, 'd is in A\'s node table');
        const pa = await cluster.peers(a);
        assert.deepEqual(Object.keys(pa), [b.name]);
        assert.equal(pa[b.name].state, 'up');
        assert.equal(pa[b.name].downs, 0);
        // D sees nobody, and the probe cannot use D's cookie to get into A.
        const [md] = await cluster.probe(d, ['members'], { cookie: 'not-the-cluster-cookie' });
        assert.deepEqual(md.members.nodes.filter((n) => !n.hidden), []);
        await assert.rejects(cluster.probe(a, ['members'], { cookie: 'not-the-cluster-cookie', timeoutMs: 500 }));
        await cluster.waitFullMesh([a, b]);
        await assertFlows(onA, [onA, onB]);
        await assertFlows(onB, [onA, onB]);
    }));

test('failure detection and reconvergence with the default settings (tick 1000, down 5000)',
    { timeout: 60000 }, () => withCluster({ tickMs: null }, async (cluster) => {
        const figures = {};
        let t = Date.now();
        const { a, b, c } = await threeNodes(cluster);
        figures.start_to_full_mesh_ms = Date.now() - t;
        const [onA, , onC] = await lobbyEverywhere(cluster, [a, b, c]);

        // SIGKILL: the kernel closes the dead process's sockets.
        let marks = { a: a.mark(), c: c.mark() };
        t = await b.kill();
        figures.sigkill_detect_ms = {};
        for (const n of [a, c]) {
            const line = await n.waitForLog(nodedownRe(n, b), 8000, marks[n.name[0]]);
            figures.sigkill_detect_ms[n.name] = `${since(t, line)} (${logFields(line).reason})`;
            assert.ok(since(t, line) < 6000);
            assert.equal(logFields(line).groups_dropped, '1');
        }
        t = Date.now();
        const b2 = await cluster.restart(b);
        for (const n of [a, c]) {
            await n.waitForLog(nodeupRe(n, b2), 8000, marks[n.name[0]]);
        }
        await cluster.waitFullMesh([a, b2, c], 8000);
        figures.restart_to_full_mesh_ms = Date.now() - t;
        const onB2 = await lobby(b2);
        await cluster.waitPeerGroup(a, b2, 'room:lobby');
        await cluster.waitPeerGroup(c, b2, 'room:lobby');
        figures.restart_to_groups_synced_ms = Date.now() - t;
        await assertFlows(onB2, [onA, onC]);

        // SIGSTOP: only the tick timeout can tell.
        marks = { a: a.mark(), b: b2.mark(), c: c.mark() };
        t = Date.now();
        c.signal('SIGSTOP');
        figures.sigstop_detect_ms = {};
        for (const n of [a, b2]) {
            const line = await n.waitForLog(nodedownRe(n, c), 9000, marks[n.name[0]]);
            assert.equal(logFields(line).reason, 'tick_timeout', line);
            const ms = since(t, line);
            figures.sigstop_detect_ms[n.name] = ms;
            // down 5000 after the last frame, which came at most one tick
            // (1000) before the stop; the sweep adds up to 100.
            assert.ok(ms >= 3800 && ms <= 6000, `${n.name} declared C down after ${ms} ms`);
        }
        t = Date.now();
        c.signal('SIGCONT');
        await cluster.waitFullMesh([a, b2, c], 8000);
        figures.sigcont_to_full_mesh_ms = Date.now() - t;
        await cluster.waitPeerGroup(a, c, 'room:lobby');
        await cluster.waitPeerGroup(b2, c, 'room:lobby');
        figures.sigcont_to_groups_synced_ms = Date.now() - t;
        await assertFlows(onC, [onA, onB2, onC]);
        console.log(`# default settings (tick 1000 ms, down 5000 ms): ${JSON.stringify(figures)}`);
    }));
