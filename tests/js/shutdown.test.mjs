// Graceful shutdown: SIGTERM/SIGINT close every WebSocket with 1001 and the
// process exits 0 (the stop() helper asserts the exit code and a clean,
// sanitizer-free stderr).
import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';
import { Socket } from 'phoenix';

import { WebSocket, startServer, waitFor, withTimeout } from './support/server.mjs';

// Every test has a hard deadline so a hung server cannot stall the run.
const test = (name, fn) => nodeTest(name, { timeout: 30000 }, fn);

for (const signal of ['SIGTERM', 'SIGINT']) {
    test(`${signal}: connected clients see close 1001, exit code 0`, async () => {
        const srv = await startServer();
        const phx = new Socket(srv.socketEndpoint, { transport: WebSocket });
        const phxCloses = [];
        phx.onClose((ev) => phxCloses.push(ev.code));
        try {
            const joined = await srv.ws();
            await joined.join('room:lobby', '1');
            const v1 = await srv.ws('vsn=1.0.0');
            const bare = await srv.ws();
            const http = await srv.tcp(); // connected, nothing sent yet
            phx.connect();
            let joinedPhx = false;
            phx.channel('room:lobby').join().receive('ok', () => { joinedPhx = true; });
            await waitFor(() => joinedPhx, 5000, 'phoenix.js join');

            srv.proc.kill(signal);
            const ex = await withTimeout(srv.exited, 10000, `exit after ${signal}`);
            assert.deepEqual(ex, { code: 0, signal: null });
            for (const c of [joined, v1, bare]) {
                assert.equal((await c.waitClose()).code, 1001);
            }
            await http.waitClosed();
            await waitFor(() => phxCloses.length > 0, 3000, 'phoenix.js close event');
            assert.equal(phxCloses[0], 1001);
            const lines = srv.logLines();
            assert.ok(lines.some((l) => /event=shutdown /.test(l)), 'no event=shutdown log line');
            assert.ok(lines.some((l) => /event=stopped /.test(l)), 'no event=stopped log line');
        } finally {
            phx.disconnect();
            await srv.stop();
        }
    });
}

// SIGTERM right after the listening line: a supervisor may signal as soon as
// the node says it is ready, so the handlers must be installed by then.
test('SIGTERM right after the listening line (no clients) exits 0 promptly', async () => {
    const srv = await startServer();
    const t0 = Date.now();
    await srv.stop();
    assert.ok(Date.now() - t0 < 3000, 'shutdown took too long');
});

test('SIGTERM while a client is mid-handshake exits 0', async () => {
    const srv = await startServer();
    try {
        const c = await srv.tcp();
        c.write('GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
        srv.proc.kill('SIGTERM');
        await withTimeout(srv.exited, 10000, 'exit');
        await c.waitClosed();
    } finally {
        await srv.stop();
    }
});
