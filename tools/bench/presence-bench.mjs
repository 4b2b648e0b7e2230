#!/usr/bin/env node
// Big-room Presence bench: N raw WebSocket clients (V2 JSON) join
// room:lobby of the demo chat across a cluster of real nodes on loopback,
// each under its own `name`, so every join is tracked. Measures what the
// clients receive (messages, bytes, by event), what crosses the mesh
// (frames and bytes on every link, from the nodes' own counters) and the
// time until every client's view is complete: all N keys (diff mode) or a
// presence_count of N (count-only mode). Compares with the N² figure of
// one diff per join per client.
//
//   node tools/bench/presence-bench.mjs [--clients 10000] [--nodes 3]
//        [--count-above 1000] [--concurrency 200] [--timeout 300]
// Env: BENNU_BIN (default build/bennu), BENNU_BUILD_DIR (for mesh_probe).
// The bench process holds one descriptor per client: keep --clients under
// the open-file limit (ulimit -n) minus a few hundred.
import { performance } from 'node:perf_hooks';

import WebSocket from 'ws';

import { Cluster } from '../../tests/js/support/cluster.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : def;
};
const N = Number(opt('clients', '10000'));
const NODES = Number(opt('nodes', '3'));
const COUNT_ABOVE = Number(opt('count-above', '1000'));
const CONCURRENCY = Number(opt('concurrency', '200'));
const TIMEOUT_S = Number(opt('timeout', '300'));

const stats = { msgs: 0, bytes: 0, byEvent: {}, stateBytes: 0 };
const clients = [];

function onFrame(c, data) {
    const text = data.toString('utf8');
    stats.msgs++;
    stats.bytes += text.length;
    const m = JSON.parse(text);
    const ev = m[3];
    const e = (stats.byEvent[ev] ??= { msgs: 0, bytes: 0 });
    e.msgs++;
    e.bytes += text.length;
    if (ev === 'presence_state') {
        c.keys = new Set(Object.keys(m[4]));
    } else if (ev === 'presence_diff') {
        // phoenix.js semantics are per meta; one meta per key here
        for (const k of Object.keys(m[4].joins)) {
            c.keys?.add(k);
        }
        for (const k of Object.keys(m[4].leaves)) {
            c.keys?.delete(k);
        }
    } else if (ev === 'presence_count') {
        c.count = m[4].count;
    }
}

function connect(node, i) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${node.httpPort}/socket/websocket?vsn=2.0.0`,
            { perMessageDeflate: false });
        const c = { ws, keys: null, count: 0, i };
        ws.on('message', (d) => onFrame(c, d));
        ws.once('open', () => {
            ws.send(JSON.stringify(['1', '1', 'room:lobby', 'phx_join', { name: `u${i}` }]));
            resolve(c);
        });
        ws.once('error', reject);
    });
}

async function meshTotals(cluster, nodes) {
    let frames = 0;
    let bytes = 0;
    for (const n of nodes) {
        const peers = await cluster.peers(n);
        for (const p of Object.values(peers)) {
            if (p.state === 'up' && p.link) {
                frames += p.link.msgs_out;
                bytes += p.link.bytes_out;
            }
        }
    }
    return { frames, bytes };
}

const converged = () => clients.length === N && clients.every((c) =>
    (c.keys !== null && c.keys.size === N) || c.count === N);

const cluster = new Cluster({ tickMs: 100, downMs: 2000 });
const extra = ['--presence-count-above', String(COUNT_ABOVE), '--max-connections', '20000',
    '--idle-timeout', '600000'];
try {
    const nodes = [await cluster.start('n0', { extra, nofile: 20000 })];
    for (let k = 1; k < NODES; k++) {
        nodes.push(await cluster.start(`n${k}`, { join: [nodes[0]], extra, nofile: 20000 }));
    }
    await cluster.waitFullMesh(nodes, 10000);
    const before = await meshTotals(cluster, nodes);
    const t0 = performance.now();
    let next = 0;
    const workers = Array.from({ length: CONCURRENCY }, async () => {
        while (next < N) {
            const i = next++;
            clients.push(await connect(nodes[i % NODES], i));
        }
    });
    await Promise.all(workers);
    const tJoined = performance.now();
    const deadline = Date.now() + TIMEOUT_S * 1000;
    while (!converged()) {
        if (Date.now() > deadline) {
            const done = clients.filter((c) => (c.keys?.size ?? 0) === N || c.count === N).length;
            throw new Error(`not converged after ${TIMEOUT_S} s: ${done}/${N} clients complete`);
        }
        await new Promise((r) => setTimeout(r, 20));
    }
    const tConverged = performance.now();
    const after = await meshTotals(cluster, nodes);
    const mesh = { frames: after.frames - before.frames, bytes: after.bytes - before.bytes };
    const n2 = N * N;
    const result = {
        clients: N,
        nodes: NODES,
        count_above: COUNT_ABOVE,
        mode: COUNT_ABOVE > 0 && N > COUNT_ABOVE ? 'count-only above the threshold' : 'diffs',
        joins_sent_s: +((tJoined - t0) / 1000).toFixed(2),
        converged_s: +((tConverged - t0) / 1000).toFixed(2),
        to_clients: { messages: stats.msgs, bytes: stats.bytes, by_event: stats.byEvent },
        between_nodes: mesh,
        n_squared: n2,
        messages_vs_n_squared: +(stats.msgs / n2).toFixed(5),
    };
    console.log(JSON.stringify(result, null, 2));
} finally {
    for (const c of clients) {
        c.ws.terminate();
    }
    await cluster.stopAll();
}
