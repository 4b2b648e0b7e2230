// Secrets never reach the logs: the cluster cookie, the secret_key_base and
// tokens (good, bad and expired), whatever happens, at the most verbose log
// level. Both nodes' stderr are searched for each secret.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Socket } from 'phoenix';

import { runBennu, startServer, waitFor, WebSocket } from './support/server.mjs';

const COOKIE = 'cookie-SEKRIT-4f1d2a9e';
const WRONG_COOKIE = 'cookie-WRONG-77aa01-x';
const SECRET = 'secret-key-base-SEKRIT-0123456789abcdef0123456789';

/** The token with one signature character changed. Not the last one: its
 *  low bits are padding that base64 decoders ignore, so replacing it can
 *  leave the signature intact (this test failed about one run in 16 so). */
function tamper(token) {
    const i = token.length - 10;
    return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

function joinWith(endpoint, params) {
    return new Promise((resolve) => {
        const socket = new Socket(endpoint, { transport: WebSocket, params, reconnectAfterMs: () => 60000 });
        socket.onError(() => { socket.disconnect(); resolve('refused'); });
        socket.connect();
        socket.channel('room:secret').join()
            .receive('ok', () => { socket.disconnect(); resolve('joined'); })
            .receive('error', () => { socket.disconnect(); resolve('error'); });
    });
}

test('cookie, secret_key_base and tokens never appear in the logs', async () => {
    const mint = await runBennu(['token', 'mint', '--user', '7', '--secret-key-base', SECRET]);
    assert.equal(mint.code, 0, mint.stderr);
    const token = mint.stdout.trim();
    const expired = (await runBennu(['token', 'mint', '--user', '7', '--max-age', '0',
        '--secret-key-base', SECRET])).stdout.trim();
    const a = await startServer(['--mesh-port', '0', '--name', 'a@127.0.0.1', '--cookie', COOKIE,
        '--secret-key-base', SECRET], { logLevel: 'debug' });
    const meshPort = / mesh_port=(\d+)/.exec(a.logLines().find((l) => /event=listening/.test(l)))[1];
    const b = await startServer(['--mesh-port', '0', '--name', 'b@127.0.0.1', '--cookie', WRONG_COOKIE,
        '--join', `127.0.0.1:${meshPort}`], { logLevel: 'debug' });
    try {
        assert.equal(await joinWith(a.socketEndpoint, { token }), 'joined');
        assert.equal(await joinWith(a.socketEndpoint, { token: `${token}x` }), 'refused');
        assert.equal(await joinWith(a.socketEndpoint, { token: tamper(expired) }), 'refused');
        await a.waitForLog(/reason=token_invalid/);
        // a: the debug line of each refused connection (the per-interval
        // summary comes up to 10 s later); b: its refused dial.
        await waitFor(() => /event=mesh_preauth_close .*reason=bad_cookie/.test(a.stderr) &&
            /bad_cookie/.test(b.stderr), 10000, 'bad_cookie refusals on both nodes');
    } finally {
        await b.stop();
        await a.stop();
    }
    for (const [name, log] of [['a', a.stderr], ['b', b.stderr]]) {
        for (const secret of [COOKIE, WRONG_COOKIE, SECRET, token, token.split('.')[2], expired]) {
            assert.ok(!log.includes(secret), `node ${name} logged a secret (${secret.slice(0, 12)}...)`);
        }
    }
});
