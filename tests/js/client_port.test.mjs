// The client port under abuse and burst: deadlines that trickled bytes do not
// extend, a cap on pending connections per address, a memory budget for
// incomplete frames with a deadline of their own, flow control instead of
// disconnecting a healthy publisher, HTTP versions, and max_connections
// clamped below the descriptor limit. Every server started here must exit 0
// on SIGTERM with a sanitizer-clean stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
    assertServerHealthy, bennuBin, bystander, rawHttp, startServer, TcpClient, waitFor, wsFrame,
    withTimeout, WsClient,
} from './support/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function legitGets(srv, n) {
    let ok = 0;
    for (let i = 0; i < n; i++) {
        try {
            const r = await rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
            ok += r.status === 200 ? 1 : 0;
        } catch {
            // counted as a failure
        }
    }
    return ok;
}

async function legitJoins(srv, n) {
    let ok = 0;
    for (let i = 0; i < n; i++) {
        try {
            const c = await WsClient.connect(srv.wsUrl());
            await c.join('room:lobby', '1');
            ok++;
            c.destroy();
        } catch {
            // counted as a failure
        }
    }
    return ok;
}

test('a request must be complete --handshake-timeout after its first byte, however it trickles',
    { timeout: 60000 }, async () => {
        const srv = await startServer(['--handshake-timeout', '2000']);
        try {
            const request = 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n';
            const slow = [];
            for (let i = 0; i < 20; i++) {
                slow.push(await srv.tcp());
            }
            const t0 = Date.now();
            let stop = false;
            const trickle = (async () => {
                for (let k = 0; k < request.length && !stop; k++) {
                    for (const c of slow) {
                        if (!c.closed && !c.ended) {
                            c.write(request[k]);
                        }
                    }
                    await sleep(250);
                }
            })();
            // Meanwhile real clients are served.
            assert.equal(await legitGets(srv, 20), 20);
            assert.equal(await legitJoins(srv, 20), 20);
            await waitFor(() => slow.every((c) => c.closed || c.ended), 6000, 'every trickler closed');
            const elapsed = Date.now() - t0;
            stop = true;
            await trickle;
            // Closed near the deadline, not at the end of the trickle (~17 s).
            assert.ok(elapsed < 5000, `tricklers lived ${elapsed} ms`);
            const timeouts = srv.logLines().filter((l) => / event=request_timeout /.test(l));
            assert.ok(timeouts.length >= 20, `request_timeout lines: ${timeouts.length}`);
            assert.ok(slow.some((c) => c.buf.toString().startsWith('HTTP/1.1 408 ')),
                'the trickler was told 408');
        } finally {
            await srv.stop();
        }
    });

test('connections without a completed request are capped per address; the oldest give way',
    { timeout: 60000 }, async () => {
        const srv = await startServer(['--max-pending-per-ip', '20']);
        try {
            const idle = [];
            for (let i = 0; i < 100; i++) {
                idle.push(await srv.tcp());
            }
            await waitFor(() => idle.filter((c) => !c.closed && !c.ended).length <= 20, 5000,
                'all but 20 idle connections closed');
            // The survivors are the newest.
            const open = idle.map((c) => !c.closed && !c.ended);
            assert.deepEqual(open.slice(0, 80).filter(Boolean), []);
            assert.equal(await legitGets(srv, 20), 20);
            assert.equal(await legitJoins(srv, 20), 20);
        } finally {
            await srv.stop();
        }
    });

test('incomplete frames: a process-wide budget closes the largest holders (1009), and a frame ' +
    'must finish within --frame-timeout (1008)', { timeout: 60000 }, async () => {
    const srv = await startServer(['--memory-budget', String(4 * 1024 * 1024), '--frame-timeout', '2000']);
    try {
        const by = await bystander(srv);
        const holders = [];
        for (let i = 0; i < 8; i++) {
            const c = await srv.tcp();
            await c.upgrade();
            holders.push(c);
        }
        // Each declares a 1 MiB frame and sends 900 kB of it: 7.2 MB in all.
        for (const c of holders) {
            c.write(wsFrame(0x1, Buffer.alloc(900 * 1024, 0x61), { length: 1024 * 1024 }).subarray(0, 14 + 900 * 1024));
            await sleep(20);
        }
        await waitFor(() => srv.logLines().filter((l) => / event=memory_budget_close /.test(l)).length >= 4,
            5000, 'memory_budget_close lines');
        const codes = [];
        for (const c of holders) {
            try {
                codes.push(await c.nextClose(3000));
            } catch {
                codes.push(null);
            }
        }
        const tooBig = codes.filter((x) => x === 1009).length;
        assert.ok(tooBig >= 4, `close codes ${JSON.stringify(codes)}`);
        const line = srv.logLines().find((l) => / event=memory_budget_close /.test(l));
        assert.match(line, / budget=4194304/);
        await assertServerHealthy(srv, by);

        // HTTP request bodies count against the same budget: the largest
        // unfinished uploads are refused with 503.
        const uploads = [];
        for (let i = 0; i < 8; i++) {
            const c = await srv.tcp();
            c.write('POST /socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\n' +
                `Content-Length: ${1024 * 1024}\r\n\r\n`);
            c.write(Buffer.alloc(900 * 1024, 0x61));
            uploads.push(c);
            await sleep(20);
        }
        await waitFor(() => uploads.filter((c) => c.buf.toString().startsWith('HTTP/1.1 503 ')).length >= 4,
            5000, () => `503 answers (have ${uploads.map((c) => c.buf.toString().slice(0, 12))})`);
        for (const c of uploads) {
            c.destroy();
        }
        await assertServerHealthy(srv, by);

        // A small frame left unfinished is closed at its deadline.
        const stuck = await srv.tcp();
        await stuck.upgrade();
        stuck.write(wsFrame(0x1, Buffer.from('["1","1","room:lobby","phx_join",{}]')).subarray(0, 10));
        const t0 = Date.now();
        assert.equal(await stuck.nextClose(6000), 1008);
        assert.ok(Date.now() - t0 >= 1500, 'closed before the deadline');
        await srv.waitForLog(/ event=frame_timeout /);
        await assertServerHealthy(srv, by);
    } finally {
        await srv.stop();
    }
});

test('a publisher bursting 20,000 x 1 KB and a fast reader both get all 20,000 in order; ' +
    'a client that never reads is closed with 1008', { timeout: 120000 }, async () => {
    const srv = await startServer([]);
    try {
        const N = 20000;
        const body = 'x'.repeat(1000);
        const pub = await srv.ws();
        await pub.join('room:lobby', '1');
        // The fast reader runs in its own process.
        const reader = spawn(process.execPath, [path.join(here, 'support', 'count_reader.mjs'),
            srv.wsUrl(), String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        reader.stdout.on('data', (d) => { out += d; });
        const readerDone = new Promise((r) => reader.on('close', r));
        await waitFor(() => out.startsWith('joined\n'), 5000, 'reader joined');
        // The non-reader joins, then stops reading its socket.
        const sleeper = await srv.tcp();
        await sleeper.upgrade();
        sleeper.sendText(['1', '1', 'room:lobby', 'phx_join', {}]);
        await sleeper.nextText();
        sleeper.sock.pause();

        const count = (c) => {
            let n = 0;
            let inOrder = true;
            for (let i = c.cursor; i < c.frames.length; i++) {
                const f = c.frames[i];
                if (f.binary || !f.text.includes('"new_msg"')) {
                    continue;
                }
                const seq = Number(JSON.parse(f.text)[4].body.split(':')[0]);
                inOrder = inOrder && seq === n;
                n++;
            }
            return { n, inOrder };
        };
        for (let i = 0; i < N; i++) {
            pub.send([null, null, 'room:lobby', 'new_msg', { body: `${i}:${body}` }]);
        }
        await waitFor(() => count(pub).n === N, 90000, () => `all ${N} at the publisher (${count(pub).n})`);
        assert.deepEqual(count(pub), { n: N, inOrder: true });
        assert.equal(pub.closeInfo, null);
        await withTimeout(readerDone, 30000, 'the reader to finish');
        assert.deepEqual(JSON.parse(out.split('\n')[1]), { n: N, inOrder: true, close: null });
        await srv.waitForLog(/ event=slow_consumer /, 20000);
        // The sleeper is gone: its socket took nothing more, so after its
        // queue was swapped for a close frame the close deadline ended it.
        sleeper.sock.resume();
        await sleeper.waitClosed(10000);
    } finally {
        await srv.stop();
    }
});

test('HTTP versions other than 1.0 and 1.1 are refused with 505', async () => {
    const srv = await startServer([]);
    try {
        for (const v of ['HTTP/9.9', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2']) {
            const r = await rawHttp(srv.port, `GET /health ${v}\r\nHost: x\r\n\r\n`);
            assert.equal(r.status, 505, v);
        }
        const ok = await rawHttp(srv.port, 'GET /health HTTP/1.0\r\nHost: x\r\n\r\n');
        assert.equal(ok.status, 200);
    } finally {
        await srv.stop();
    }
});

test('--max-connections is clamped below the descriptor limit, so 503 comes before EMFILE',
    { timeout: 60000 }, async () => {
        const args = ['--nofile=300:300', bennuBin(), '--port', '0', '--no-mesh', '--log-level', 'info'];
        const proc = spawn('prlimit', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        proc.stderr.on('data', (d) => { stderr += d; });
        const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
        const clients = [];
        try {
            const line = await waitFor(() => stderr.split('\n').find((l) => / event=listening /.test(l)), 5000,
                () => `listening line; stderr: ${stderr}`);
            const port = Number(/ port=(\d+)/.exec(line)[1]);
            assert.match(stderr, / event=max_connections_clamped configured=100000 used=44 fd_limit=300 reserved=256/);
            // 44 connections are held; the 45th is answered 503, not dropped.
            for (let i = 0; i < 44; i++) {
                clients.push(await TcpClient.connect(port));
            }
            const r = await rawHttp(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
            assert.equal(r.status, 503);
        } finally {
            for (const c of clients) {
                c.destroy();
            }
            proc.kill('SIGTERM');
            assert.deepEqual(await exited, { code: 0, signal: null }, stderr);
        }
    });
