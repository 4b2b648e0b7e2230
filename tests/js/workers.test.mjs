// `bennu --workers 3` seen from outside as one node (docs/NOTES.md
// "Workers as one node"): bennuctl members shows one node with its three
// workers beneath it, bennuctl stats sums them, /api/node names the node and its workers, presence is the
// whole node's, and a worker killed with SIGKILL comes back while the
// clients of the other workers stay connected and keep receiving.
// Real processes only: the supervisor, its workers, bennuctl and the
// official phoenix.js client. Every wait polls an observable state.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { Presence, Socket } from 'phoenix';

import { bennuBin, bennuctlBin, waitFor, WebSocket } from './support/server.mjs';

const COOKIE = 'workers-test-cookie-0123456789';
const API_KEY = 'workers-test-api-key-0123456789';
const WORKERS = 3;
const CLIENTS = 18;

function canBind(port) {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
}

/** count consecutive free ports below the kernel's ephemeral range. */
async function freePorts(count) {
    for (let i = 0; i < 200; i++) {
        const p = 20000 + Math.floor(Math.random() * 12000);
        let ok = true;
        for (let k = 0; k < count && ok; k++) {
            ok = await canBind(p + k);
        }
        if (ok) {
            return p;
        }
    }
    throw new Error('no free ports');
}

function bennuctl(meshPort, args) {
    return new Promise((resolve) => {
        execFile(bennuctlBin(), ['--node', `127.0.0.1:${meshPort}`, '--cookie', COOKIE, ...args],
            { timeout: 20000, env: { ...process.env, BENNU_COOKIE: '' } }, (err, stdout, stderr) => {
                resolve({ code: err ? err.code : 0, stdout, stderr });
            });
    });
}

async function apiNode(port) {
    const r = await fetch(`http://127.0.0.1:${port}/api/node`,
        { headers: { authorization: `Bearer ${API_KEY}`, connection: 'close' } });
    assert.equal(r.status, 200);
    return r.json();
}

/** A phoenix.js client in room:lobby as `name`, counting its closes and
 *  keeping every new_msg body it receives. */
async function member(port, name) {
    const socket = new Socket(`ws://127.0.0.1:${port}/socket`, {
        transport: WebSocket,
        reconnectAfterMs: () => 50,
        rejoinAfterMs: () => 100,
        timeout: 10000,
    });
    const m = { name, socket, closes: 0, bodies: [], node: null };
    socket.onClose(() => { m.closes++; });
    const opened = new Promise((resolve) => { const ref = socket.onOpen(() => { socket.off([ref]); resolve(); }); });
    socket.connect();
    await opened;
    m.channel = socket.channel('room:lobby', { name });
    m.presence = new Presence(m.channel);
    m.channel.on('new_msg', (p) => m.bodies.push(p.body));
    await new Promise((resolve, reject) => {
        m.channel.join().receive('ok', resolve).receive('error', reject).receive('timeout', () => reject(new Error('join timeout')));
    });
    return m;
}

/** The worker index a member's own presence entry says it is on. */
function workerOf(m) {
    const entry = m.presence.list((key, { metas }) => ({ key, metas })).find((e) => e.key === m.name);
    if (!entry) {
        return null;
    }
    const node = entry.metas[entry.metas.length - 1].node;
    const w = /-w(\d+)@/.exec(node);
    return w ? Number(w[1]) : null;
}

function listed(m) {
    return m.presence.list((key) => key).sort();
}

test(`--workers ${WORKERS}: one node to the outside; a killed worker returns, the others keep their clients`, { timeout: 120000 }, async () => {
    const port = await freePorts(1);
    let meshPort = await freePorts(WORKERS);
    while (meshPort <= port && meshPort + WORKERS > port) {
        meshPort = await freePorts(WORKERS);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-workers-'));
    const keyFile = path.join(dir, 'api-key');
    fs.writeFileSync(keyFile, API_KEY, { mode: 0o600 });
    const proc = spawn(bennuBin(), ['--port', String(port), '--mesh-port', String(meshPort),
        '--workers', String(WORKERS), '--cookie', COOKIE, '--api-key-file', keyFile,
        '--tick-ms', '100', '--down-ms', '600', '--log-level', 'info'],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, BENNU_COOKIE: '' } });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    const members = [];
    const base = `bennu-${port}@127.0.0.1`;
    try {
        // bennuctl, asked any worker: one node, its workers beneath it.
        const allUp = async (mp) => {
            const r = await bennuctl(mp, ['members']);
            return r.code === 0 && r.stdout.includes(`${WORKERS}/${WORKERS} workers up`) ? r.stdout : false;
        };
        const table = await waitFor(() => allUp(meshPort), 30000, () => `all workers up:\n${stderr}`);
        const lines = table.split('\n');
        assert.match(lines[1], new RegExp(`^${base.replace(/\./g, '\\.')}\\s+-\\s+-\\s+${WORKERS}/${WORKERS} workers up`));
        for (let i = 0; i < WORKERS; i++) {
            const mark = i < WORKERS - 1 ? '├' : '└';
            assert.match(lines[2 + i], new RegExp(`^${mark} bennu-${port}-w${i}@127\\.0\\.0\\.1 `), table);
        }
        assert.match(lines[2], / self /, 'worker 0 answered');
        const json = JSON.parse((await bennuctl(meshPort + 1, ['members', '--json'])).stdout);
        assert.equal(json.node, `bennu-${port}-w1@127.0.0.1`);
        assert.equal(json.worker_of, base);
        assert.equal(json.worker, 1);
        assert.deepEqual(json.nodes.filter((n) => n.worker_of === base).map((n) => n.worker).sort(), [0, 2]);

        // /api/node, whichever worker answers, names the node and its workers.
        const node = await waitFor(async () => {
            const j = await apiNode(port);
            return j.workers_up === WORKERS ? j : false;
        }, 10000, 'api/node with every worker up');
        assert.equal(node.node, base);
        assert.match(node.name, new RegExp(`^bennu-${port}-w${node.worker}@`));
        assert.deepEqual(node.workers.map((w) => w.index).sort(), [0, 1, 2]);
        assert.ok(node.workers.every((w) => w.state === 'up'));

        // Clients spread over the workers by the kernel; presence is the
        // whole node's: every client sees every other one.
        for (let i = 0; i < CLIENTS; i++) {
            members.push(await member(port, `u${i}`));
        }
        const names = members.map((m) => m.name).sort();
        await waitFor(() => members.every((m) => JSON.stringify(listed(m)) === JSON.stringify(names)),
            15000, () => `every client lists all ${CLIENTS}: ${members.map((m) => listed(m).length)}`);
        for (const m of members) {
            m.node = workerOf(m);
        }
        const used = new Set(members.map((m) => m.node));
        assert.ok(used.size >= 2, `clients on several workers: ${[...used]}`);
        const apiPresence = await (await fetch(`http://127.0.0.1:${port}/api/presence?topic=room:lobby`,
            { headers: { authorization: `Bearer ${API_KEY}`, connection: 'close' } })).json();
        assert.deepEqual(Object.keys(apiPresence.presences).sort(), names);

        // bennuctl stats sums the workers into the node's row.
        const stats = await waitFor(async () => {
            const r = await bennuctl(meshPort, ['stats']);
            const row = r.stdout.split('\n').find((l) => l.startsWith(`${base} `));
            return row && Number(row.split(/\s+/)[1]) === CLIENTS ? r.stdout : false;
        }, 10000, 'bennuctl stats: the node row counts every client');
        assert.match(stats, new RegExp(`${WORKERS}/${WORKERS} up`));
        assert.match(stats, /└ bennu-\d+-w2@/);

        // SIGKILL the worker of client 0 (its latest pid).
        const victim = members[0].node;
        const survivors = members.filter((m) => m.node !== victim);
        const started = () => [...stderr.matchAll(new RegExp(`event=worker_started worker=${victim} pid=(\\d+)`, 'g'))];
        const before = started().length;
        process.kill(Number(started().pop()[1]), 'SIGKILL');
        await waitFor(() => new RegExp(`event=worker_died worker=${victim}`).test(stderr), 10000, 'worker_died');
        // Its clients are disconnected (phoenix.js reconnects them, to any
        // worker that is listening)...
        const onVictim = members.filter((m) => m.node === victim);
        await waitFor(() => onVictim.every((m) => m.closes > 0), 15000, 'the victim\'s clients closed');
        // ...the worker comes back and rejoins the mesh...
        await waitFor(() => started().length === before + 1, 10000, () => `worker ${victim} restarted:\n${stderr}`);
        const surviving = (victim + 1) % WORKERS;
        await waitFor(() => allUp(meshPort + surviving), 30000, () => `all workers up again:\n${stderr}`);
        // ...the victim's clients reconnect (phoenix.js does, to any worker)
        // and every client lists everyone again.
        await waitFor(() => members.every((m) => JSON.stringify(listed(m)) === JSON.stringify(names)),
            20000, () => `every client lists all again: ${members.map((m) => listed(m).length)}`);
        // A broadcast from a survivor reaches everyone, and no survivor was
        // ever disconnected.
        survivors[0].channel.push('new_msg', { body: 'after the restart' });
        await waitFor(() => members.every((m) => m.bodies.includes('after the restart')), 15000,
            'the broadcast reached every client');
        for (const m of survivors) {
            assert.equal(m.closes, 0, `${m.name} on worker ${m.node} stayed connected`);
        }
        await Promise.all(members.map((m) => new Promise((resolve) => m.socket.disconnect(resolve))));
        proc.kill('SIGTERM');
        assert.deepEqual(await exited, { code: 0, signal: null });
        assert.doesNotMatch(stderr, /AddressSanitizer|runtime error:|LeakSanitizer/);
    } finally {
        for (const m of members) {
            m.socket.disconnect();
        }
        try {
            process.kill(-proc.pid, 'SIGKILL');
        } catch {
            // already gone
        }
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
