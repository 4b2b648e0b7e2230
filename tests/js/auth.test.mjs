// User tokens (PROTOCOL.md section 7): the `bennu token` CLI, and the
// `token` connect param on both transports: a verified user may join
// room:secret; a bad token refuses the connect (WS 403, LongPoll 403).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import {
    joinOk, joinResult, lp, lpOpen, LongPoll, mint, phxSocket, socketErrored, socketOpened, verify,
    VECTOR_SECRET, VECTOR_TOKEN_42, VECTOR_TOKEN_USER42, wsUpgradeStatus,
} from './support/compat_client.mjs';
import { runBennu, withServer } from './support/server.mjs';

const SECRET = 'compat-test-secret-0123456789-abcdefghij';
const OTHER_SECRET = 'another-secret-9876543210-zyxwvutsrqponm';

/** Flip one character of the MAC (the last part), keeping the alphabet. */
function tamperMac(t) {
    const i = t.length - 5;
    return t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
}

/** Flip one character of the payload (the middle part). */
function tamperPayload(t) {
    const i = t.indexOf('.') + 3;
    return t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
}

test('token CLI: mint/verify round trips, ids, secrets, expiry and max-age override', async () => {
    const k = ['--secret-key-base', SECRET];
    const num = await mint(['--user', '42', ...k]);
    assert.deepEqual(await verify([num, ...k]), { code: 0, out: '42', err: '' });
    // A non-numeric id is signed as a string; verify prints it as JSON.
    const str = await mint(['--user', 'alice', ...k]);
    assert.deepEqual(await verify([str, ...k]), { code: 0, out: '"alice"', err: '' });

    const table = [
        ['other secret', [num, '--secret-key-base', OTHER_SECRET], 1, 'invalid'],
        ['dev secret', [num, '--dev'], 1, 'invalid'],
        ['tampered MAC', [tamperMac(num), ...k], 1, 'invalid'],
        ['tampered payload', [tamperPayload(num), ...k], 1, 'invalid'],
        ['two parts', [num.split('.').slice(0, 2).join('.'), ...k], 1, 'invalid'],
        ['bad marker', [`SFMyNTZ${num.slice(7)}`, ...k], 1, 'invalid'],
        ['empty token', ['', ...k], 1, 'invalid'],
        // PROTOCOL.md 7.5: signed 2023-11-14 with max age 86400 -> expired.
        ['7.5 vector, embedded max age', [VECTOR_TOKEN_42, '--secret-key-base', VECTOR_SECRET], 1, 'expired'],
        ['7.5 vector, 1209600 s override', [VECTOR_TOKEN_42, '--max-age', '1209600', '--secret-key-base', VECTOR_SECRET], 1, 'expired'],
        // An override larger than its age makes it valid again.
        ['7.5 vector, huge override', [VECTOR_TOKEN_42, '--max-age', '999999999', '--secret-key-base', VECTOR_SECRET], 0, '42'],
        ['7.5 string vector, huge override', [VECTOR_TOKEN_USER42, '--max-age', '999999999', '--secret-key-base', VECTOR_SECRET], 0, '"user:42"'],
        ['7.5 vector, wrong secret', [VECTOR_TOKEN_42, '--max-age', '999999999', ...k], 1, 'invalid'],
        // Override max age 0 (or less) is always expired.
        ['fresh token, override 0', [num, '--max-age', '0', ...k], 1, 'expired'],
    ];
    for (const [what, args, code, out] of table) {
        const r = await verify(args);
        assert.deepEqual([r.code, r.out], [code, out], what);
    }

    // Embedded max age 0: expired at once; an override rescues it.
    const zero = await mint(['--user', '5', '--max-age', '0', ...k]);
    assert.deepEqual((await verify([zero, ...k])).out, 'expired');
    assert.deepEqual(await verify([zero, '--max-age', '60', ...k]), { code: 0, out: '5', err: '' });

    // The secret from the environment and from a file.
    process.env.SECRET_KEY_BASE = SECRET;
    try {
        assert.deepEqual(await verify([num]), { code: 0, out: '42', err: '' });
    } finally {
        delete process.env.SECRET_KEY_BASE;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-auth-'));
    try {
        const f = path.join(dir, 'skb');
        fs.writeFileSync(f, `${SECRET}\n`, { mode: 0o600 });
        assert.deepEqual(await verify([num, '--secret-key-base-file', f]), { code: 0, out: '42', err: '' });
        const fromFile = await mint(['--user', '9', '--secret-key-base-file', f]);
        assert.deepEqual(await verify([fromFile, ...k]), { code: 0, out: '9', err: '' });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }

    // Usage errors: exit 2, nothing on stdout.
    for (const args of [['token', 'mint', '--user', '1'], ['token', 'mint', ...k], ['token', 'verify', ...k],
        ['token', 'mint', '--user', '1', '--secret-key-base', 'short'], ['token', 'frobnicate']]) {
        const r = await runBennu(args);
        assert.equal(r.code, 2, `bennu ${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.ok(r.stderr.length > 0);
    }
});

test('server: a verified token joins room:secret over WebSocket and LongPoll', () => withServer(['--secret-key-base', SECRET], async (srv) => {
    const token = await mint(['--user', '42', '--secret-key-base', SECRET]);
    for (const transport of [undefined, LongPoll]) {
        const socket = phxSocket(srv, { params: { token }, ...(transport ? { transport } : {}) });
        socket.connect();
        await socketOpened(socket);
        await joinOk(socket.channel('room:secret', {}));
        await joinOk(socket.channel('room:lobby', {}));
        socket.disconnect();
    }
    // A string user id works too.
    const alice = await mint(['--user', 'alice', '--secret-key-base', SECRET]);
    const ws = await srv.ws(`token=${encodeURIComponent(alice)}&vsn=2.0.0`);
    await ws.join('room:secret', '1');
    // An embedded max age of 0 does not matter: the server verifies with
    // max_age 1209600, which overrides it (Phoenix.Token semantics).
    const zero = await mint(['--user', '5', '--max-age', '0', '--secret-key-base', SECRET]);
    const ws0 = await srv.ws(`token=${zero}&vsn=2.0.0`);
    await ws0.join('room:secret', '1');
}));

test('server: without a token the socket connects but room:secret is unauthorized', () => withServer(['--secret-key-base', SECRET], async (srv) => {
    for (const transport of [undefined, LongPoll]) {
        const socket = phxSocket(srv, transport ? { transport } : {});
        socket.connect();
        await socketOpened(socket);
        await joinOk(socket.channel('room:lobby', {}));
        const secret = socket.channel('room:secret', {});
        assert.deepEqual(await joinResult(secret), { status: 'error', response: { reason: 'unauthorized' } });
        socket.disconnect();
    }
    const c = await srv.ws();
    c.send(['1', '1', 'room:secret', 'phx_join', {}]);
    await c.expect(JSON.stringify(['1', '1', 'room:secret', 'phx_reply', { response: { reason: 'unauthorized' }, status: 'error' }]));
    // A token in the join payload (not the connect params) does not authorize.
    const token = await mint(['--user', '42', '--secret-key-base', SECRET]);
    c.send(['2', '2', 'room:secret', 'phx_join', { token }]);
    await c.expect(JSON.stringify(['2', '2', 'room:secret', 'phx_reply', { response: { reason: 'unauthorized' }, status: 'error' }]));
}));

test('server: bad tokens refuse the connect: WS upgrade 403, LongPoll {"status":403}', () => withServer(['--secret-key-base', VECTOR_SECRET], async (srv) => {
    const good = await mint(['--user', '42', '--secret-key-base', VECTOR_SECRET]);
    const bad = [
        ['expired (PROTOCOL 7.5 vector, signed 2023)', VECTOR_TOKEN_42],
        ['tampered MAC', tamperMac(good)],
        ['tampered payload', tamperPayload(good)],
        ['other secret', await mint(['--user', '42', '--secret-key-base', OTHER_SECRET])],
        ['garbage', 'not-a-token'],
        ['empty', ''],
    ];
    // Control: the good token upgrades.
    let r = await wsUpgradeStatus(srv, { query: `token=${good}&vsn=2.0.0` });
    assert.equal(r.status, 101);
    for (const [what, t] of bad) {
        r = await wsUpgradeStatus(srv, { query: `token=${encodeURIComponent(t)}&vsn=2.0.0` });
        assert.equal(r.status, 403, `WS upgrade with ${what}: ${r.statusLine}`);
        assert.equal(r.body, '', `403 body for ${what}`);
        const l = await lp(srv, 'GET', { query: `token=${encodeURIComponent(t)}&vsn=2.0.0` });
        assert.equal(l.text, '{"status":403}', `LongPoll with ${what}`);
    }
    // The official client reports the refusal and never opens.
    for (const transport of [undefined, LongPoll]) {
        const socket = phxSocket(srv, { params: { token: VECTOR_TOKEN_42 }, ...(transport ? { transport } : {}) });
        let opened = false;
        socket.onOpen(() => { opened = true; });
        const err = socketErrored(socket);
        socket.connect();
        const e = await err;
        if (transport === LongPoll) {
            assert.equal(e, 403);
        } else {
            assert.match(String(e?.message ?? e), /403/);
        }
        assert.equal(opened, false);
        socket.disconnect();
    }
}));

test('server without any secret: anonymous connects work, token connects are refused', () => withServer([], async (srv) => {
    assert.match(srv.stderr, /event=no_secret/);
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    await lpOpen(srv);
    const t = await mint(['--user', '1', '--dev']);
    const r = await wsUpgradeStatus(srv, { query: `token=${t}&vsn=2.0.0` });
    assert.equal(r.status, 403);
    assert.equal((await lp(srv, 'GET', { query: `token=${t}&vsn=2.0.0` })).text, '{"status":403}');
}));

test('server secret from the environment, a file, and --dev', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-auth-'));
    const f = path.join(dir, 'skb');
    fs.writeFileSync(f, `${SECRET}\n`, { mode: 0o600 });
    const token = await mint(['--user', '3', '--secret-key-base', SECRET]);
    const devToken = await mint(['--user', '3', '--dev']);
    const check = async (srv, ok, ko) => {
        assert.equal((await wsUpgradeStatus(srv, { query: `token=${ok}&vsn=2.0.0` })).status, 101);
        assert.equal((await wsUpgradeStatus(srv, { query: `token=${ko}&vsn=2.0.0` })).status, 403);
        const c = await srv.ws(`token=${ok}&vsn=2.0.0`);
        await c.join('room:secret', '1');
    };
    try {
        await withServer(['--secret-key-base-file', f], (srv) => check(srv, token, devToken));
        await withServer(['--dev'], (srv) => check(srv, devToken, token));
        process.env.SECRET_KEY_BASE = SECRET;
        try {
            await withServer([], (srv) => check(srv, token, devToken));
        } finally {
            delete process.env.SECRET_KEY_BASE;
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
