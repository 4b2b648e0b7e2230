// Helpers shared by the compatibility tests (LongPoll, serializers, auth,
// origin): the official phoenix.js client in Node, raw LongPoll requests with
// fetch, raw WebSocket upgrades with a chosen Origin/Host, and the `bennu
// token` CLI. Builds on support/server.mjs (server lifecycle, raw clients).
// Every wait is bounded; nothing sleeps to synchronise.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { LongPoll, Socket } from 'phoenix';

import {
    DEFAULT_TIMEOUT, isPresenceText, rawHttp, runBennu, WebSocket, withTimeout,
} from './server.mjs';

export { LongPoll, Socket };

/** The secret of PROTOCOL.md 7.5 ("0123456789abcdef" x 4). */
export const VECTOR_SECRET = '0123456789abcdef'.repeat(4);
/** PROTOCOL.md 7.5: data 42, signed_at 1700000000000 ms, max_age 86400. */
export const VECTOR_TOKEN_42 = 'SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.m7SDXSf3rVdHjrnrb1PRh48trPi839fZKU80GMSVsuo';
/** PROTOCOL.md 7.5: data "user:42", same clock. */
export const VECTOR_TOKEN_USER42 = 'SFMyNTY.g2gDbQAAAAd1c2VyOjQybgYAAGjlz4sBYgABUYA.xcsK2JlqIc7WTRqT6AvSCH2IoS8E3sjekP6dBrxe4Ek';

// The server inherits our environment: a SECRET_KEY_BASE from the caller's
// shell would silently change what "no secret" means in these tests.
delete process.env.SECRET_KEY_BASE;

/** A phoenix.js Socket against `srv`. Node 20 has no global WebSocket, so
 *  the `ws` package is the default transport. Registered for teardown. */
export function phxSocket(srv, opts = {}) {
    const socket = new Socket(srv.socketEndpoint, {
        transport: WebSocket,
        reconnectAfterMs: () => 50,
        rejoinAfterMs: () => 200,
        timeout: DEFAULT_TIMEOUT,
        ...opts,
    });
    srv.track(socket);
    return socket;
}

/** Wait until `socket` fires onOpen (resolves) or onError (rejects). */
export function socketOpened(socket, timeoutMs = DEFAULT_TIMEOUT) {
    return withTimeout(new Promise((resolve, reject) => {
        const refs = [];
        refs.push(socket.onOpen(() => { socket.off(refs); resolve(); }));
        refs.push(socket.onError((e) => { socket.off(refs); reject(new Error(`socket error: ${e?.message ?? e}`)); }));
    }), timeoutMs, 'socket open');
}

/** Wait for the first onError of `socket`; resolves with its argument. */
export function socketErrored(socket, timeoutMs = DEFAULT_TIMEOUT) {
    return withTimeout(new Promise((resolve) => {
        const ref = socket.onError((e) => { socket.off([ref]); resolve(e); });
    }), timeoutMs, 'socket error');
}

/** Turn a Push into a promise of {status, response} for ok/error/timeout. */
export function pushResult(push, timeoutMs = DEFAULT_TIMEOUT + 1000) {
    return withTimeout(new Promise((resolve) => {
        push.receive('ok', (response) => resolve({ status: 'ok', response }))
            .receive('error', (response) => resolve({ status: 'error', response }))
            .receive('timeout', () => resolve({ status: 'timeout', response: null }));
    }), timeoutMs, 'push result');
}

/** Join `channel`; resolves with {status, response}. */
export function joinResult(channel, timeoutMs) {
    return pushResult(channel.join(), timeoutMs);
}

/** Join `channel` and assert it was ok. */
export async function joinOk(channel, timeoutMs) {
    const r = await joinResult(channel, timeoutMs);
    assert.deepEqual(r, { status: 'ok', response: {} }, `join ${channel.topic}`);
    return r;
}

/** Collect every `event` payload of `channel` into an array, with a waiter. */
export function collect(channel, event) {
    const got = [];
    channel.on(event, (payload) => got.push(payload));
    return got;
}

// ------------------------------------------------------------- LongPoll raw

/** URL of the LongPoll endpoint of `srv` with a raw query string. */
export function lpUrl(srv, query = 'vsn=2.0.0') {
    return `http://127.0.0.1:${srv.port}/socket/longpoll${query ? `?${query}` : ''}`;
}

/** One LongPoll request with fetch. `session` goes into the
 *  x-phoenix-longpoll-token header. Returns {http, headers, text, json}. */
export async function lp(srv, method, { query = 'vsn=2.0.0', session, headers = {}, body,
    timeoutMs = DEFAULT_TIMEOUT } = {}) {
    const h = { ...headers };
    if (session !== undefined) {
        h['x-phoenix-longpoll-token'] = session;
    }
    const res = await fetch(lpUrl(srv, query), {
        method,
        headers: h,
        body,
        signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json;
    try {
        json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
        json = undefined;
    }
    return { http: res.status, headers: Object.fromEntries(res.headers), text, json };
}

/** Assert the LongPoll JSON envelope: HTTP 200, JSON content type,
 *  cache-control no-store, CORS header. Returns the parsed body. */
export function assertEnvelope(res) {
    assert.equal(res.http, 200, `HTTP status of a LongPoll JSON answer (${res.text})`);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.ok(res.json !== undefined, `body is not JSON: ${JSON.stringify(res.text)}`);
    return res.json;
}

/** Open a LongPoll session: GET without a token must answer 410 + token. */
export async function lpOpen(srv, query = 'vsn=2.0.0', headers = {}) {
    const body = assertEnvelope(await lp(srv, 'GET', { query, headers }));
    assert.equal(body.status, 410, JSON.stringify(body));
    assert.equal(typeof body.token, 'string');
    assert.ok(body.token.length > 0);
    assert.deepEqual(body.messages, []);
    assert.deepEqual(Object.keys(body).sort(), ['messages', 'status', 'token']);
    return body.token;
}

/** POST ndjson lines on a session; asserts {"status":200}. */
export async function lpSend(srv, session, lines, query = 'vsn=2.0.0') {
    const body = assertEnvelope(await lp(srv, 'POST', {
        query,
        session,
        headers: { 'content-type': 'application/x-ndjson' },
        body: lines.join('\n'),
    }));
    assert.deepEqual(body, { status: 200 });
}

/** GET on a session until `count` messages have arrived (each poll answers
 *  200 with what is buffered). Returns the message strings. */
export async function lpReceive(srv, session, count, query = 'vsn=2.0.0', timeoutMs = 15000) {
    const out = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < count) {
        assert.ok(Date.now() < deadline, `timed out: ${out.length}/${count} messages: ${JSON.stringify(out)}`);
        const body = assertEnvelope(await lp(srv, 'GET', { query, session, timeoutMs: 13000 }));
        assert.ok(body.status === 200 || body.status === 204, `poll status ${JSON.stringify(body)}`);
        assert.equal(body.token, session);
        if (body.status === 200) {
            assert.ok(body.messages.length > 0, '200 with no messages');
        } else {
            assert.deepEqual(body.messages, []);
        }
        for (const m of body.messages) {
            assert.equal(typeof m, 'string', 'messages must be strings');
            if (!isPresenceText(m)) { // the demo chat's presence (see isPresenceText)
                out.push(m);
            }
        }
    }
    return out;
}

// ------------------------------------------------------------- WS upgrade raw

/** Send a WebSocket upgrade request with exact headers on a raw TCP
 *  connection and return the HTTP status (101 or a refusal). `headers` are
 *  added after the upgrade headers; `host` defaults to 127.0.0.1:<port>. */
export async function wsUpgradeStatus(srv, { query = 'vsn=2.0.0', host, headers = {} } = {}) {
    const key = crypto.randomBytes(16).toString('base64');
    let req = `GET /socket/websocket?${query} HTTP/1.1\r\nHost: ${host ?? `127.0.0.1:${srv.port}`}\r\n` +
        'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
    for (const [k, v] of Object.entries(headers)) {
        req += `${k}: ${v}\r\n`;
    }
    const res = await rawHttp(srv.port, `${req}\r\n`);
    return res;
}

/** Same for a LongPoll GET with exact Host/Origin headers (fetch cannot set
 *  Host). Returns {status, headers, json}. */
export async function lpRawGet(srv, { query = 'vsn=2.0.0', host, headers = {} } = {}) {
    let req = `GET /socket/longpoll?${query} HTTP/1.1\r\nHost: ${host ?? `127.0.0.1:${srv.port}`}\r\n`;
    for (const [k, v] of Object.entries(headers)) {
        req += `${k}: ${v}\r\n`;
    }
    const res = await rawHttp(srv.port, `${req}\r\n`);
    let json;
    try {
        json = JSON.parse(res.body);
    } catch {
        json = undefined;
    }
    return { ...res, json };
}

// ------------------------------------------------------------- token CLI

/** `bennu token mint ...`; asserts exit 0 and returns the token. */
export async function mint(args) {
    const r = await runBennu(['token', 'mint', ...args]);
    assert.equal(r.code, 0, `token mint ${args.join(' ')} failed: ${r.stderr}`);
    const t = r.stdout.trim();
    assert.match(t, /^SFMyNTY\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    return t;
}

/** `bennu token verify ...`; returns {code, out} (stdout trimmed). */
export async function verify(args) {
    const r = await runBennu(['token', 'verify', ...args]);
    return { code: r.code, out: r.stdout.trim(), err: r.stderr };
}
