// Limits with a defined outcome, each with a bystander that must keep
// receiving: topics per node, per-connection rate limits (WebSocket and
// LongPoll), connections per node, descriptor exhaustion (EMFILE) in the
// accept loop, and the --workers supervisor.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';

import {
    assertServerHealthy, bennuBin, bystander, rawHttp, runBennu, startServer, waitFor, withServer,
} from './support/server.mjs';

test('--max-topics: a join that would create one topic too many gets "too many topics"', async () => {
    const mint = await runBennu(['token', 'mint', '--user', '1', '--dev']);
    const token = mint.stdout.trim();
    await withServer(['--dev', '--no-mesh', '--max-topics', '1'], async (srv) => {
        const by = await bystander(srv); // room:lobby: the one topic allowed
        const c = await srv.ws(`token=${encodeURIComponent(token)}&vsn=2.0.0`);
        c.send(['2', '2', 'room:secret', 'phx_join', {}]);
        await c.expect(JSON.stringify(['2', '2', 'room:secret', 'phx_reply',
            { response: { reason: 'too many topics' }, status: 'error' }]));
        await c.join('room:lobby', '3'); // an existing topic is still fine
        await srv.waitForLog(/event=join_refused reason=too_many_topics limit=1/);
        await assertServerHealthy(srv, by);
    });
});

test('--rate-limit: a WebSocket client over its rate is closed with 1008, others unaffected', async () => {
    await withServer(['--no-mesh', '--rate-limit', '5', '--rate-burst', '5'], async (srv) => {
        const by = await bystander(srv);
        const c = await srv.ws();
        for (let i = 0; i < 20; i++) {
            c.send([null, String(i + 10), 'phoenix', 'heartbeat', {}]);
        }
        const info = await c.waitClose();
        assert.equal(info.code, 1008);
        const replies = c.frames.filter((f) => !f.binary && f.text.includes('phx_reply'));
        assert.equal(replies.length, 5, 'exactly the burst was served');
        await srv.waitForLog(/event=rate_limited transport=websocket limit=5 burst=5/);
        // A client within its rate is never limited.
        const slow = await srv.ws();
        for (let i = 0; i < 4; i++) {
            slow.send([null, String(i), 'phoenix', 'heartbeat', {}]);
        }
        await waitFor(() => slow.frames.length === 4);
        assert.equal(slow.closeInfo, null);
        await assertServerHealthy(srv, by);
    });
});

test('--rate-limit over LongPoll: the POST batch over the rate gets {"status":429}', async () => {
    await withServer(['--no-mesh', '--rate-limit', '3', '--rate-burst', '3'], async (srv) => {
        const base = `http://127.0.0.1:${srv.port}/socket/longpoll?vsn=2.0.0`;
        const open = await (await fetch(base)).json();
        assert.equal(open.status, 410);
        const lines = [];
        for (let i = 0; i < 10; i++) {
            lines.push(JSON.stringify([null, String(i), 'phoenix', 'heartbeat', {}]));
        }
        const res = await fetch(base, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson', 'x-phoenix-longpoll-token': open.token },
            body: lines.join('\n'),
        });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { status: 429 });
        await srv.waitForLog(/event=rate_limited transport=longpoll/);
    });
});

test('--max-connections: the connection over the cap gets 503, the others keep working', async () => {
    await withServer(['--no-mesh', '--max-connections', '4'], async (srv) => {
        const by = await bystander(srv);
        const held = [await srv.tcp(), await srv.tcp(), await srv.tcp()];
        const r = await rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(r.status, 503);
        await srv.waitForLog(/event=conn_refused reason=too_many_connections limit=4/);
        for (const h of held) {
            h.destroy();
        }
        // Once the server has seen those closes there is room again (the
        // refused connection may still be closing for a moment).
        await waitFor(async () => {
            try {
                await assertServerHealthy(srv, by);
                return true;
            } catch {
                return false;
            }
        }, 5000, 'room for new connections');
    });
});

test('--max-connections: refused connections that the client closes free their place at once ' +
    '(retrying clients cannot keep the node full by themselves)', async () => {
    await withServer(['--no-mesh', '--max-connections', '2', '--log-level', 'debug'], async (srv) => {
        const by = await bystander(srv); // connection id 1
        const held = await srv.tcp(); // id 2: the node is now full
        for (let i = 0; i < 3; i++) { // ids 3-5: refused, each closed by the client at once
            assert.equal((await rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')).status, 503);
        }
        held.destroy();
        await srv.waitForLog(/event=conn_close id=2 reason=peer_closed/);
        // The refused ones went when their clients closed (well before the
        // held one), not at the 2 s close deadline: there is room now.
        assert.equal((await rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')).status, 200);
        assert.equal(by.closeInfo, null, 'the bystander keeps its connection');
    });
});

test('EMFILE: the accept loop logs once, does not spin, and recovers', async () => {
    const proc = spawn('prlimit', ['--nofile=40:40', bennuBin(), '--port', '0', '--no-mesh',
        '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    try {
        const port = Number((await waitFor(() => / port=(\d+)/.exec(stderr), 10000, 'listening'))[1]);
        const socks = [];
        for (let i = 0; i < 60; i++) {
            const s = net.connect(port, '127.0.0.1');
            s.on('error', () => {});
            socks.push(s);
        }
        await waitFor(() => /event=accept_failed error=EMFILE/.test(stderr), 10000, () => `accept_failed in:\n${stderr}`);
        const cpuBefore = process.cpuUsage();
        await new Promise((r) => setTimeout(r, 300)); // let a spinning loop show itself
        for (const s of socks) {
            s.destroy();
        }
        await waitFor(async () => {
            try {
                return (await rawHttp(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 1000)).status === 200;
            } catch {
                return false;
            }
        }, 10000, 'the server to serve again');
        assert.match(stderr, /event=accept_recovered/);
        assert.equal((stderr.match(/event=accept_failed/g) || []).length, 1, 'logged once per episode');
        assert.ok(process.cpuUsage(cpuBefore).user < 5e6);
        proc.kill('SIGTERM');
        assert.deepEqual(await exited, { code: 0, signal: null });
        assert.doesNotMatch(stderr, /AddressSanitizer|runtime error:/);
    } finally {
        // The supervisor and its workers form a process group: end them all.
        try {
            process.kill(-proc.pid, 'SIGKILL');
        } catch {
            // already gone
        }
    }
});

async function freePort() {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

function canBind(port) {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
}

/** Two consecutive free ports below the kernel's ephemeral range, so no
 *  client connection can take the second one meanwhile. */
async function freePortPair() {
    for (let i = 0; i < 200; i++) {
        const p = 20000 + Math.floor(Math.random() * 12000);
        if (await canBind(p) && await canBind(p + 1)) {
            return p;
        }
    }
    throw new Error('no free port pair');
}

test('--workers 2: two processes share the port, a broadcast reaches clients on both', async () => {
    const port = await freePort();
    const meshPort = await freePortPair(); // worker i listens on meshPort + i
    const proc = spawn(bennuBin(), ['--port', String(port), '--mesh-port', String(meshPort),
        '--workers', '2', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    try {
        await waitFor(() => (stderr.match(/event=mesh_nodeup/g) || []).length >= 2, 15000,
            () => `the two workers linked:\n${stderr}`);
        const srv = { port, wsUrl: () => `ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0` };
        const { WsClient } = await import('./support/server.mjs');
        const clients = [];
        for (let i = 0; i < 12; i++) {
            const c = await WsClient.connect(srv.wsUrl());
            await c.join('room:lobby', '1');
            clients.push(c);
        }
        clients[0].send(['1', '2', 'room:lobby', 'new_msg', { body: 'to all workers' }]);
        const expected = JSON.stringify([null, null, 'room:lobby', 'new_msg', { body: 'to all workers' }]);
        for (const c of clients) {
            await c.waitForFrame(expected, 5000);
        }
        // Both workers served some of the twelve sockets.
        const w0 = / port=\d+ mesh_port=\d+ node=(\S+-w0@\S+)/.exec(stderr);
        assert.ok(w0, stderr);
        // A worker that dies is restarted by the supervisor (take its latest
        // pid: a worker may already have been restarted once).
        const started = () => [...stderr.matchAll(/event=worker_started worker=1 pid=(\d+)/g)];
        const before = started().length;
        process.kill(Number(started().pop()[1]), 'SIGKILL');
        await waitFor(() => /event=worker_died worker=1/.test(stderr), 5000);
        await waitFor(() => started().length === before + 1, 5000);
        for (const c of clients) {
            c.destroy();
        }
        proc.kill('SIGTERM');
        assert.deepEqual(await exited, { code: 0, signal: null });
        assert.doesNotMatch(stderr, /AddressSanitizer|runtime error:/);
    } finally {
        // The supervisor and its workers form a process group: end them all.
        try {
            process.kill(-proc.pid, 'SIGKILL');
        } catch {
            // already gone
        }
    }
});

test('LongPoll: an abandoned session is freed after --longpoll-session-timeout; the window is honoured', async () => {
    await withServer(['--no-mesh', '--longpoll-window', '300', '--longpoll-session-timeout', '400',
        '--max-longpoll-sessions', '2'], async (srv) => {
        const base = `http://127.0.0.1:${srv.port}/socket/longpoll?vsn=2.0.0`;
        const get = async (token) => (await fetch(base, token ? { headers: { 'x-phoenix-longpoll-token': token } } : {})).json();
        const a = await get();
        assert.equal(a.status, 410);
        const t0 = Date.now();
        const empty = await get(a.token); // nothing buffered: answered after the window
        assert.equal(empty.status, 204);
        assert.ok(Date.now() - t0 >= 250, 'the poll waited for the window');
        // The cap: a second session is allowed, a third is refused.
        const b = await get();
        assert.equal(b.status, 410);
        assert.deepEqual(await get(), { status: 403 });
        await srv.waitForLog(/reason=too_many_longpoll_sessions limit=2/);
        // Abandon both: they are reaped (without polling, which would keep
        // them alive); then the old token opens a new session.
        await waitFor(() => (srv.stderr.match(/event=longpoll_session_expired/g) || []).length === 2,
            5000, 'both abandoned sessions to be freed');
        const again = await get(a.token);
        assert.equal(again.status, 410);
        assert.notEqual(again.token, a.token);
    }, { logLevel: 'debug' });
});
