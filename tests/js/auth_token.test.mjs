// phoenix.js's `authToken` option (Phoenix 1.8): the token travels in
// Sec-WebSocket-Protocol on WebSocket and in x-phoenix-authtoken on
// LongPoll, never in the URL; Bennu verifies it like the `token` param.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LongPoll, Socket } from 'phoenix';

import { runBennu, WebSocket, withServer } from './support/server.mjs';

function joinSecret(endpoint, opts) {
    return new Promise((resolve) => {
        const socket = new Socket(endpoint, { reconnectAfterMs: () => 60000, ...opts });
        socket.onError(() => { socket.disconnect(); resolve('refused'); });
        socket.connect();
        socket.channel('room:secret').join()
            .receive('ok', () => { socket.disconnect(); resolve('joined'); })
            .receive('error', (e) => { socket.disconnect(); resolve(`error:${e.reason}`); });
    });
}

test('authToken over WebSocket and LongPoll: a valid token joins room:secret, a bad one is refused', async () => {
    const token = (await runBennu(['token', 'mint', '--user', '9', '--dev'])).stdout.trim();
    await withServer(['--dev', '--no-mesh'], async (srv) => {
        const ep = srv.socketEndpoint;
        assert.equal(await joinSecret(ep, { transport: WebSocket, authToken: token }), 'joined');
        assert.equal(await joinSecret(ep, { transport: LongPoll, authToken: token }), 'joined');
        assert.equal(await joinSecret(ep, { transport: WebSocket, authToken: `${token}x` }), 'refused');
        assert.equal(await joinSecret(ep, { transport: LongPoll, authToken: `${token}x` }), 'refused');
        assert.equal(await joinSecret(ep, { transport: WebSocket }), 'error:unauthorized');
        await srv.waitForLog(/event=connect_refused reason=token_invalid .*transport=websocket/);
        await srv.waitForLog(/event=connect_refused reason=token_invalid .*transport=longpoll/);
        assert.ok(!srv.stderr.includes(token), 'the token never reaches the log');
    });
});
