// Graceful drain on SIGTERM (Phoenix 1.7's drainer): the node stops
// accepting, then closes its WebSockets (code 1001) in batches of
// --drain-batch spread over --drain-ms, so clients reconnect to other nodes
// gradually, then exits 0. A second SIGTERM/SIGINT exits at once. Batching
// is asserted from the close timestamps relative to each other (the largest
// gaps fall between batches), never from absolute timing.
import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';

import { phxSocket, socketOpened } from './support/compat_client.mjs';
import { rawHttp, startServer, waitFor, withTimeout } from './support/server.mjs';

const test = (name, fn) => nodeTest(name, { timeout: 60000 }, fn);

async function clients(srv, n) {
    const out = [];
    for (let i = 0; i < n; i++) {
        // No reconnects during the test: the closes are what is measured.
        const s = phxSocket(srv, { reconnectAfterMs: () => 600000 });
        const rec = { socket: s, closedAt: null, code: null };
        s.onClose((ev) => {
            if (rec.closedAt === null) {
                rec.closedAt = process.hrtime.bigint();
                rec.code = ev.code;
            }
        });
        s.connect();
        await socketOpened(s);
        out.push(rec);
    }
    return out;
}

test('SIGTERM closes WebSockets in batches over the window, then exits 0', async () => {
    const N = 12;
    const srv = await startServer(['--no-mesh', '--drain-ms', '3000', '--drain-batch', '4']);
    try {
        const recs = await clients(srv, N);
        srv.proc.kill('SIGTERM');
        const line = await srv.waitForLog(/event=drain_start /);
        assert.match(line, /websockets=12 batches=3 batch=4 /);
        // Not accepting any more while draining.
        await assert.rejects(rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
        const ex = await withTimeout(srv.exited, 20000, 'exit after the drain');
        assert.deepEqual(ex, { code: 0, signal: null }, srv.stderr);
        srv.assertNoSanitizerReports();
        await waitFor(() => recs.every((r) => r.closedAt !== null), 5000, 'every close event');
        for (const r of recs) {
            assert.equal(r.code, 1001);
        }
        const ts = recs.map((r) => r.closedAt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const gaps = [];
        for (let i = 1; i < ts.length; i++) {
            gaps.push({ after: i, gap: ts[i] - ts[i - 1] });
        }
        gaps.sort((a, b) => (a.gap > b.gap ? -1 : a.gap < b.gap ? 1 : 0));
        const boundaries = gaps.slice(0, 2).map((g) => g.after).sort((a, b) => a - b);
        assert.deepEqual(boundaries, [4, 8],
            `closes not in batches of 4: gaps (ns) ${gaps.map((g) => `${g.after}:${g.gap}`).join(' ')}`);
        // Each batch boundary gap dwarfs every gap inside a batch.
        assert.ok(gaps[1].gap > 4n * gaps[2].gap, 'batches not separated');
    } finally {
        if (srv.exit === null) {
            srv.proc.kill('SIGKILL');
        }
        for (const c of srv.clients) {
            c.disconnect?.();
        }
    }
});

test('fewer WebSockets than one batch: all closed at once, prompt exit', async () => {
    const srv = await startServer(['--no-mesh', '--drain-ms', '60000', '--drain-batch', '10']);
    try {
        const recs = await clients(srv, 3);
        const t0 = Date.now();
        await srv.stop();
        assert.ok(Date.now() - t0 < 5000, 'a single batch must not wait for the window');
        assert.ok(!srv.logLines().some((l) => /event=drain_start /.test(l)));
        await waitFor(() => recs.every((r) => r.code === 1001), 5000, 'every close 1001');
    } finally {
        if (srv.exit === null) {
            srv.proc.kill('SIGKILL');
        }
    }
});

for (const second of ['SIGTERM', 'SIGINT']) {
    test(`a second signal (${second}) during the drain exits at once`, async () => {
        const srv = await startServer(['--no-mesh', '--drain-ms', '600000', '--drain-batch', '2']);
        try {
            const recs = await clients(srv, 6);
            srv.proc.kill('SIGTERM');
            await srv.waitForLog(/event=drain_start /);
            await waitFor(() => recs.filter((r) => r.closedAt !== null).length >= 2, 5000,
                'the first batch');
            srv.proc.kill(second);
            const ex = await withTimeout(srv.exited, 5000, 'exit after the second signal');
            assert.deepEqual(ex, { code: 1, signal: null });
            assert.ok(srv.logLines().some((l) => /event=shutdown_forced /.test(l)));
            srv.assertNoSanitizerReports();
        } finally {
            if (srv.exit === null) {
                srv.proc.kill('SIGKILL');
            }
            for (const c of srv.clients) {
                c.disconnect?.();
            }
        }
    });
}
