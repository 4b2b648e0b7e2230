// LongPoll transport (PROTOCOL.md section 5): the official phoenix.js
// client with `transport: LongPoll` in Node (fetch), mixed WebSocket and
// LongPoll clients in one topic, the longPollFallbackMs fallback from a
// WebSocket that never opens, and every status of the raw HTTP endpoint.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';

import {
    assertEnvelope, collect, joinOk, lp, lpOpen, lpReceive, lpSend, LongPoll, mint, phxSocket,
    pushResult, socketErrored, socketOpened,
} from './support/compat_client.mjs';
import { TcpClient, waitFor, WebSocket, withServer } from './support/server.mjs';

const J = JSON.stringify;
const REPLY_OK = (jr, ref, topic, response = {}) => J([jr, ref, topic, 'phx_reply', { response, status: 'ok' }]);

test('phoenix.js LongPoll client: join, ping, broadcast to itself, leave', () => withServer(['--dev'], async (srv) => {
    const token = await mint(['--user', '7', '--dev']);
    const socket = phxSocket(srv, { transport: LongPoll, params: { token } });
    const opened = socketOpened(socket);
    socket.connect();
    await opened;
    assert.ok(socket.connection.transport instanceof LongPoll, 'the connection is a LongPoll');
    assert.equal(socket.isConnected(), true);

    const lobby = socket.channel('room:lobby', {});
    const lobbyMsgs = collect(lobby, 'new_msg');
    await joinOk(lobby);

    assert.deepEqual(await pushResult(lobby.push('ping', { a: 1, s: 'x' })),
        { status: 'ok', response: { a: 1, s: 'x' } });

    // new_msg has no reply; the broadcast comes back to the sender too.
    lobby.push('new_msg', { body: 'hello from longpoll' });
    await waitFor(() => lobbyMsgs.length === 1, 5000, 'own broadcast over LongPoll');
    assert.deepEqual(lobbyMsgs, [{ body: 'hello from longpoll' }]);

    // Several pushes in one tick go out as one ndjson batch and arrive in order.
    for (let i = 0; i < 5; i++) {
        lobby.push('new_msg', { body: `batch ${i}` });
    }
    await waitFor(() => lobbyMsgs.length === 6, 5000, 'batched broadcasts');
    assert.deepEqual(lobbyMsgs.slice(1).map((m) => m.body), [0, 1, 2, 3, 4].map((i) => `batch ${i}`));

    // Leave: ok reply, channel closed on the client.
    const left = await pushResult(lobby.leave());
    assert.equal(left.status, 'ok');
    assert.equal(lobby.state, 'closed');

    // The server really dropped the subscription: a second channel on the
    // same LongPoll session receives a later broadcast, the left one does not
    // (the server buffers in order, so the lobby message would come first).
    const other = socket.channel('room:secret', {});
    const otherMsgs = collect(other, 'new_msg');
    await joinOk(other);
    const ws = await srv.ws(`token=${token}&vsn=2.0.0`);
    await ws.join('room:lobby', '1');
    await ws.join('room:secret', '2');
    ws.send(['1', '3', 'room:lobby', 'new_msg', { body: 'to lobby after leave' }]);
    ws.send(['2', '4', 'room:secret', 'new_msg', { body: 'to other' }]);
    await waitFor(() => otherMsgs.length === 1, 5000, 'room:secret broadcast');
    assert.deepEqual(otherMsgs, [{ body: 'to other' }]);
    assert.equal(lobbyMsgs.length, 6, 'left channel still received a broadcast');
    socket.disconnect();
}));

test('a WebSocket client and a LongPoll client in one topic see each other', () => withServer([], async (srv) => {
    const wsSock = phxSocket(srv);
    const lpSock = phxSocket(srv, { transport: LongPoll });
    wsSock.connect();
    lpSock.connect();
    await Promise.all([socketOpened(wsSock), socketOpened(lpSock)]);
    assert.ok(wsSock.connection.transport instanceof WebSocket);
    assert.ok(lpSock.connection.transport instanceof LongPoll);

    const wsCh = wsSock.channel('room:lobby', {});
    const lpCh = lpSock.channel('room:lobby', {});
    const wsGot = collect(wsCh, 'new_msg');
    const lpGot = collect(lpCh, 'new_msg');
    await Promise.all([joinOk(wsCh), joinOk(lpCh)]);

    wsCh.push('new_msg', { body: 'from ws' });
    await waitFor(() => lpGot.length === 1 && wsGot.length === 1, 5000, 'ws message on both');
    lpCh.push('new_msg', { body: 'from lp' });
    await waitFor(() => lpGot.length === 2 && wsGot.length === 2, 5000, 'lp message on both');
    assert.deepEqual(wsGot, [{ body: 'from ws' }, { body: 'from lp' }]);
    assert.deepEqual(lpGot, [{ body: 'from ws' }, { body: 'from lp' }]);

    // Unicode and nested bodies survive the ndjson + JSON-string envelope.
    const body = { text: 'héllo ✓ "quoted"\nline', n: [1, { x: null }] };
    lpCh.push('new_msg', { body });
    await waitFor(() => wsGot.length === 3 && lpGot.length === 3, 5000, 'nested body');
    assert.deepEqual(wsGot[2], { body });
    assert.deepEqual(lpGot[2], { body });
    wsSock.disconnect();
    lpSock.disconnect();
}));

test('longPollFallbackMs: a WebSocket that never opens falls back to LongPoll and joins', async () => {
    // A TCP listener that accepts and never answers: the WebSocket handshake
    // hangs in CONNECTING, like a proxy that swallows upgrades.
    const held = [];
    const blackhole = net.createServer((s) => { held.push(s); s.on('error', () => {}); });
    await new Promise((r) => blackhole.listen(0, '127.0.0.1', r));
    const bhPort = blackhole.address().port;
    try {
        await withServer([], async (srv) => {
            class NeverOpens extends WebSocket {
                constructor(url, protocols) {
                    super(url.replace(`:${srv.port}/`, `:${bhPort}/`), protocols);
                }
            }
            const store = new Map();
            const sessionStorage = {
                getItem: (k) => (store.has(k) ? store.get(k) : null),
                setItem: (k, v) => store.set(k, String(v)),
                removeItem: (k) => store.delete(k),
            };
            const socket = phxSocket(srv, { transport: NeverOpens, longPollFallbackMs: 300, sessionStorage });
            const ch = socket.channel('room:lobby', {});
            const got = collect(ch, 'new_msg');
            const joined = joinOk(ch, 8000);
            const t0 = Date.now();
            socket.connect();
            await joined;
            assert.ok(Date.now() - t0 >= 250, 'joined before the fallback delay: the WebSocket opened?');
            assert.equal(socket.transport, LongPoll, 'socket.transport after fallback');
            assert.ok(socket.connection.transport instanceof LongPoll);
            assert.ok(held.length >= 1, 'the WebSocket attempt never reached the black hole');
            // phoenix.js remembers the fallback for the page session.
            assert.equal(store.get('phx:fallback:LongPoll'), 'true');

            // The fallback connection is fully functional.
            assert.deepEqual(await pushResult(ch.push('ping', { fallback: true })),
                { status: 'ok', response: { fallback: true } });
            const peer = await srv.ws();
            await peer.join('room:lobby', '1');
            peer.send(['1', '2', 'room:lobby', 'new_msg', { body: 'to the fallback client' }]);
            await waitFor(() => got.length === 1, 5000, 'broadcast to the fallback client');
            assert.deepEqual(got, [{ body: 'to the fallback client' }]);
            socket.disconnect();
        });
    } finally {
        for (const s of held) {
            s.destroy();
        }
        await new Promise((r) => blackhole.close(r));
    }
});

test('raw: GET without a session creates one (410 + token), then polls answer 200 with message strings', () => withServer([], async (srv) => {
    const session = await lpOpen(srv);
    // A join and pings posted as ndjson; the POST answer is only the ack.
    await lpSend(srv, session, [
        J(['1', '1', 'room:lobby', 'phx_join', {}]),
        J(['1', '2', 'room:lobby', 'ping', { n: 1 }]),
    ]);
    // \r\n separators are accepted too.
    const r = assertEnvelope(await lp(srv, 'POST', {
        session,
        headers: { 'content-type': 'application/x-ndjson' },
        body: `${J(['1', '3', 'room:lobby', 'ping', { n: 3 }])}\r\n${J(['1', '4', 'room:lobby', 'new_msg', { body: 'b' }])}`,
    }));
    assert.deepEqual(r, { status: 200 });
    const msgs = await lpReceive(srv, session, 4);
    assert.deepEqual(msgs, [
        REPLY_OK('1', '1', 'room:lobby'),
        REPLY_OK('1', '2', 'room:lobby', { n: 1 }),
        REPLY_OK('1', '3', 'room:lobby', { n: 3 }),
        J([null, null, 'room:lobby', 'new_msg', { body: 'b' }]),
    ]);
    // The exact 200 envelope (one message buffered).
    await lpSend(srv, session, [J([null, '5', 'phoenix', 'heartbeat', {}])]);
    const res = await lp(srv, 'GET', { session });
    assert.equal(res.text, J({ status: 200, token: session, messages: [J([null, '5', 'phoenix', 'phx_reply', { response: {}, status: 'ok' }])] }));
}));

test('raw: a waiting GET is answered as soon as a broadcast arrives', () => withServer([], async (srv) => {
    const session = await lpOpen(srv);
    await lpSend(srv, session, [J(['1', '1', 'room:lobby', 'phx_join', {}])]);
    assert.deepEqual(await lpReceive(srv, session, 1), [REPLY_OK('1', '1', 'room:lobby')]);
    // Buffer empty: this GET parks on the server.
    const t0 = Date.now();
    const pending = lp(srv, 'GET', { session, timeoutMs: 13000 });
    const ws = await srv.ws();
    await ws.join('room:lobby', '1');
    ws.send(['1', '2', 'room:lobby', 'new_msg', { body: 'wake up' }]);
    const body = assertEnvelope(await pending);
    assert.deepEqual(body, { status: 200, token: session, messages: [J([null, null, 'room:lobby', 'new_msg', { body: 'wake up' }])] });
    assert.ok(Date.now() - t0 < 5000, `parked GET answered after ${Date.now() - t0} ms`);
}));

test('raw: an idle poll answers 204 with the same token after the 10 s window', () => withServer([], async (srv) => {
    const session = await lpOpen(srv);
    const t0 = Date.now();
    const res = await lp(srv, 'GET', { session, timeoutMs: 15000 });
    const elapsed = Date.now() - t0;
    assert.deepEqual(assertEnvelope(res), { status: 204, token: session, messages: [] });
    assert.ok(elapsed >= 9000 && elapsed < 13000, `204 after ${elapsed} ms, expected ~10000`);
}));

test('raw: session token location: header, query param, last query param wins, header before param', () => withServer([], async (srv) => {
    const session = await lpOpen(srv);
    // Session in the query param only (phoenix.js <= 1.8 style).
    await lp(srv, 'POST', {
        query: `vsn=2.0.0&token=${session}`,
        headers: { 'content-type': 'application/x-ndjson' },
        body: J([null, '1', 'phoenix', 'heartbeat', {}]),
    }).then((r) => assert.deepEqual(assertEnvelope(r), { status: 200 }));
    // Two token params (a connect param named token, then the session
    // token appended by the client): the last one is the session.
    let body = assertEnvelope(await lp(srv, 'GET', { query: `token=usertoken&vsn=2.0.0&token=${session}` }));
    assert.deepEqual(body, { status: 200, token: session, messages: [J([null, '1', 'phoenix', 'phx_reply', { response: {}, status: 'ok' }])] });
    // Header wins over a junk param.
    await lpSend(srv, session, [J([null, '2', 'phoenix', 'heartbeat', {}])], `vsn=2.0.0&token=junk`);
    body = assertEnvelope(await lp(srv, 'GET', { session, query: 'vsn=2.0.0&token=junk' }));
    assert.equal(body.status, 200);
    assert.equal(body.token, session);
    // A junk session token silently opens a new session (410 with a fresh token).
    body = assertEnvelope(await lp(srv, 'GET', { session: 'SFMyNTY.junk.junk' }));
    assert.equal(body.status, 410);
    assert.notEqual(body.token, session);
    assert.notEqual(body.token, 'SFMyNTY.junk.junk');
    assert.deepEqual(body.messages, []);
    // A tampered copy of a real session token too.
    const tampered = `${session.slice(0, -2)}${session.endsWith('AA') ? 'BB' : 'AA'}`;
    body = assertEnvelope(await lp(srv, 'GET', { session: tampered }));
    assert.equal(body.status, 410);
    assert.notEqual(body.token, session);
}));

test('raw: POST without or with an unknown session -> {"status":410}', () => withServer([], async (srv) => {
    const line = J(['1', '1', 'room:lobby', 'phx_join', {}]);
    for (const session of [undefined, 'garbage', 'SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.m7SDXSf3rVdHjrnrb1PRh48trPi839fZKU80GMSVsuo']) {
        const res = await lp(srv, 'POST', { session, headers: { 'content-type': 'application/x-ndjson' }, body: line });
        assert.equal(res.text, '{"status":410}', `POST with session ${session}`);
        assertEnvelope(res);
    }
}));

test('raw: OPTIONS is the CORS preflight; other methods are HTTP 400', () => withServer([], async (srv) => {
    const res = await lp(srv, 'OPTIONS', {
        headers: { 'access-control-request-headers': 'x-phoenix-longpoll-token, content-type' },
    });
    assert.equal(res.http, 200);
    assert.equal(res.text, '');
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-headers'], 'x-phoenix-longpoll-token, content-type');
    assert.equal(res.headers['access-control-allow-methods'], 'get, post, options');
    assert.equal(res.headers['access-control-max-age'], '3600');
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
        const r = await lp(srv, method, { body: method === 'DELETE' ? undefined : '{}' });
        assert.equal(r.http, 400, `${method} -> HTTP ${r.http} ${r.text}`);
        assert.equal(r.text, '', `${method} body`);
    }
}));

test('raw: refused connects answer {"status":403}: bad origin, bad vsn, bad user token', () => withServer(['--dev'], async (srv) => {
    const cases = [
        { what: 'foreign Origin', query: 'vsn=2.0.0', headers: { origin: 'http://evil.example' } },
        { what: 'vsn 3.0.0', query: 'vsn=3.0.0' },
        { what: 'vsn not semver', query: 'vsn=abc' },
        { what: 'garbage user token', query: 'token=garbage&vsn=2.0.0' },
        { what: 'expired user token (7.5 vector, other secret)', query: 'token=SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.m7SDXSf3rVdHjrnrb1PRh48trPi839fZKU80GMSVsuo&vsn=2.0.0' },
    ];
    for (const c of cases) {
        const res = await lp(srv, 'GET', { query: c.query, headers: c.headers ?? {} });
        assert.equal(res.text, '{"status":403}', c.what);
        assertEnvelope(res);
    }
    // An OPTIONS preflight from a foreign origin is refused as well (1.6
    // applies to all methods).
    const pre = await lp(srv, 'OPTIONS', { headers: { origin: 'http://evil.example' } });
    assert.equal(pre.text, '{"status":403}', 'OPTIONS with a foreign Origin');
    // And a POST from a foreign origin with a valid session.
    const session = await lpOpen(srv);
    const post = await lp(srv, 'POST', { session, headers: { origin: 'http://evil.example', 'content-type': 'application/x-ndjson' }, body: J([null, '1', 'phoenix', 'heartbeat', {}]) });
    assert.equal(post.text, '{"status":403}', 'POST with a foreign Origin');
}));

test('phoenix.js LongPoll client refused with 403 reports the error and never opens', () => withServer(['--dev'], async (srv) => {
    const socket = phxSocket(srv, { transport: LongPoll, params: { token: 'garbage' } });
    let opened = false;
    socket.onOpen(() => { opened = true; });
    const err = socketErrored(socket);
    socket.connect();
    assert.equal(await err, 403);
    assert.equal(opened, false);
    socket.disconnect();
}));

test('raw: binary pushes over LongPoll (base64 ndjson line) are accepted', () => withServer([], async (srv) => {
    const session = await lpOpen(srv);
    await lpSend(srv, session, [J(['1', '1', 'room:lobby', 'phx_join', {}])]);
    assert.deepEqual(await lpReceive(srv, session, 1), [REPLY_OK('1', '1', 'room:lobby')]);
    // Kind-0 push: join_ref "1", ref "2", topic room:lobby, event ping, payload de ad.
    const frame = Buffer.concat([Buffer.from([0, 1, 1, 10, 4]), Buffer.from('12room:lobbyping'), Buffer.from([0xde, 0xad])]);
    await lpSend(srv, session, [frame.toString('base64'), J([null, '3', 'phoenix', 'heartbeat', {}])]);
    // The binary reply cannot travel over LongPoll (PROTOCOL.md 2, gotchas);
    // the session goes on and the next text frame is delivered.
    const msgs = await lpReceive(srv, session, 1);
    assert.deepEqual(msgs, [J([null, '3', 'phoenix', 'phx_reply', { response: {}, status: 'ok' }])]);
}));

test('raw: a keep-alive connection keeps serving requests after a parked GET was answered', () => withServer([], async (srv) => {
    // Browsers and Node's fetch reuse connections: the connection that
    // carried a parked (answered later) poll carries the next POST or GET.
    const session = await lpOpen(srv);
    const a = srv.track(await TcpClient.connect(srv.port));
    const b = srv.track(await TcpClient.connect(srv.port));
    const head = (method, extra = '') => `${method} /socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `x-phoenix-longpoll-token: ${session}\r\n${extra}`;
    const post = (c, line) => {
        c.write(`${head('POST', `content-type: application/x-ndjson\r\ncontent-length: ${Buffer.byteLength(line)}\r\n`)}\r\n${line}`);
        return c.readResponse();
    };
    assert.equal((await post(b, J(['1', '1', 'room:lobby', 'phx_join', {}]))).body, '{"status":200}');
    // The demo chat tracks the join (docs/presence.md): drain the reply, the
    // presence_state and the join's own presence_diff, so nothing is buffered.
    const seen = [];
    await waitFor(async () => {
        seen.push(...assertEnvelope(await lp(srv, 'GET', { session })).messages);
        return seen.some((m) => m.includes('"presence_diff"'));
    }, 15000, 'the join reply and its presence messages');
    assert.equal(seen[0], REPLY_OK('1', '1', 'room:lobby'));
    // Park a GET on `a`; wake it with a ping posted on `b`.
    a.write(`${head('GET')}\r\n`);
    // Nothing is buffered, so the server must hold it: still unanswered later.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.buf.length, 0, 'the GET was answered although nothing was buffered');
    assert.equal((await post(b, J(['1', '2', 'room:lobby', 'ping', { k: 1 }]))).body, '{"status":200}');
    const parked = await a.readResponse();
    assert.equal(parked.status, 200);
    assert.deepEqual(JSON.parse(parked.body).messages, [REPLY_OK('1', '2', 'room:lobby', { k: 1 })]);
    // The same connection must answer its next request.
    a.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const health = await a.readResponse(3000);
    assert.equal(health.status, 200, 'GET /health on the connection that carried a parked poll');
    assert.equal((await post(a, J(['1', '3', 'room:lobby', 'ping', { k: 3 }]))).body, '{"status":200}');
}));
