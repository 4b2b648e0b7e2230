// Issue 15 part A, end to end with the real binary and phoenix.js: the server
// API under /api/ (bearer key), /metrics (Prometheus text 0.0.4, checked by
// the strict parser below), /health and /ready, socket ids and the
// "disconnect" broadcast across a cluster, and --enforce-token-expiry.
// Every wait is a bounded poll on an observable event.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Socket } from 'phoenix';

import { lobby, waitFor, withCluster } from './support/cluster.mjs';
import { lp, lpOpen, mint, phxSocket, socketOpened, wsUpgradeStatus } from './support/compat_client.mjs';
import { bennuctlBin, rawHttp, runBennu, WebSocket, withServer } from './support/server.mjs';

const KEY = 'api-test-key-0123456789abcdef';
const SECRET = 'ops-test-secret-0123456789-abcdefghij';

function keyFile(content = KEY, mode = 0o600) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-api-'));
    const f = path.join(dir, 'api.key');
    fs.writeFileSync(f, `${content}\n`, { mode });
    fs.chmodSync(f, mode);
    return f;
}

async function api(port, method, p, { key = KEY, body, headers = {} } = {}) {
    const h = { ...headers };
    if (key !== null) {
        h.authorization = `Bearer ${key}`;
    }
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { method, headers: h, body });
    const text = await res.text();
    let json = null;
    try {
        json = JSON.parse(text);
    } catch {
        // not JSON (404 of a static path, /metrics)
    }
    return { status: res.status, headers: res.headers, text, json };
}

// ------------------------------------------------------------ Prometheus text format 0.0.4

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A strict parser of the exposition format: every sample belongs to a
 *  family declared by one HELP and one TYPE line before it, families are
 *  contiguous, label values are well escaped, values are numbers, no
 *  series repeats. Returns Map name -> {type, help, samples: [{labels, value}]}. */
function parseProm(text) {
    assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
    const families = new Map();
    const series = new Set();
    let current = null;
    const lines = text.slice(0, -1).split('\n');
    for (const [i, line] of lines.entries()) {
        const where = `line ${i + 1}: ${JSON.stringify(line)}`;
        if (line.startsWith('#')) {
            const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
            assert.ok(m, `malformed comment, ${where}`);
            const [, kind, name, rest] = m;
            assert.match(name, NAME_RE, where);
            assert.ok(name.startsWith('bennu_'), `bennu_ prefix, ${where}`);
            let f = families.get(name);
            if (f === undefined) {
                f = { help: null, type: null, samples: [] };
                families.set(name, f);
            } else {
                assert.equal(current, name, `family ${name} is not contiguous, ${where}`);
            }
            current = name;
            if (kind === 'HELP') {
                assert.equal(f.help, null, `second HELP, ${where}`);
                assert.ok(!/\\(?![\\n])/.test(rest), `bad escape in HELP, ${where}`);
                f.help = rest;
            } else {
                assert.equal(f.type, null, `second TYPE, ${where}`);
                assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), where);
                assert.equal(f.samples.length, 0, `TYPE after samples, ${where}`);
                f.type = rest;
            }
            continue;
        }
        assert.notEqual(line, '', `empty line, ${where}`);
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
        assert.ok(m, `malformed sample, ${where}`);
        const [, name, , labelText, valueText] = m;
        assert.equal(name, current, `sample outside its family, ${where}`);
        const f = families.get(name);
        assert.ok(f.type !== null && f.help !== null, `sample before HELP/TYPE, ${where}`);
        const labels = {};
        if (labelText !== undefined) {
            let rest = labelText;
            while (rest.length > 0) {
                const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
                assert.ok(lm, `malformed labels, ${where}`);
                assert.match(lm[1], LABEL_RE);
                assert.ok(!(lm[1] in labels), `duplicate label, ${where}`);
                labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
                rest = rest.slice(lm[0].length);
            }
        }
        assert.match(valueText, /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|NaN|[+-]Inf)$/, `bad value, ${where}`);
        const value = Number(valueText.replace('Inf', 'Infinity'));
        if (f.type === 'counter') {
            assert.ok(value >= 0, `negative counter, ${where}`);
        }
        const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
        assert.ok(!series.has(key), `duplicate series, ${where}`);
        series.add(key);
        f.samples.push({ labels, value });
    }
    for (const [name, f] of families) {
        assert.ok(f.type !== null && f.help !== null, `${name} lacks HELP or TYPE`);
    }
    return families;
}

function sample(families, name, labels = {}) {
    const f = families.get(name);
    assert.ok(f, `no family ${name}`);
    const s = f.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    assert.ok(s, `no ${name} sample with ${JSON.stringify(labels)}`);
    return s.value;
}

test('metrics parser: rejects what the format forbids', () => {
    const ok = '# HELP bennu_x X.\n# TYPE bennu_x gauge\nbennu_x{a="q\\"\\\\"} 1\n';
    assert.equal(sample(parseProm(ok), 'bennu_x', { a: 'q"\\' }), 1);
    for (const bad of [
        'bennu_x 1\n', // no HELP/TYPE
        '# HELP bennu_x X.\n# TYPE bennu_x gauge\nbennu_x 1', // no final newline
        '# HELP bennu_x X.\n# TYPE bennu_x gauge\nbennu_x{a="b} 1\n', // unterminated label
        '# HELP bennu_x X.\n# TYPE bennu_x gauge\nbennu_x one\n', // value
        '# HELP bennu_x X.\n# TYPE bennu_x gauge\nbennu_x 1\nbennu_x 2\n', // duplicate series
        '# HELP bennu_x X.\n# TYPE bennu_x counter\nbennu_x -1\n', // negative counter
        '# HELP x X.\n# TYPE x gauge\nx 1\n', // prefix
    ]) {
        assert.throws(() => parseProm(bad), undefined, JSON.stringify(bad));
    }
});

// ------------------------------------------------------------ single node

test('no key configured: /api/ and /metrics answer 404; /health and /ready are JSON', () =>
    withServer(['--no-mesh'], async (srv) => {
        for (const p of ['/api/node', '/api/broadcast', '/metrics']) {
            assert.equal((await api(srv.port, 'GET', p)).status, 404, p);
        }
        const h = await api(srv.port, 'GET', '/health', { key: null });
        assert.equal(h.status, 200);
        assert.equal(h.json.status, 'ok');
        assert.equal(h.json.clustered, false);
        assert.equal(h.json.node, `bennu-${srv.port}@127.0.0.1`);
        const r = await api(srv.port, 'GET', '/ready', { key: null });
        assert.equal(r.status, 200);
        assert.deepEqual({ ready: r.json.ready, listening: r.json.listening }, { ready: true, listening: true });
        assert.equal((await api(srv.port, 'POST', '/ready', { key: null })).status, 405);
    }));

test('key files are checked like the other secret files', async () => {
    const loose = keyFile(KEY, 0o644);
    let r = await runBennu(['--no-mesh', '--port', '0', '--api-key-file', loose]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--api-key-file: .*mode 0644.*chmod 600/);
    r = await runBennu(['--no-mesh', '--port', '0', '--api-key-file', keyFile('short')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /at least 16 bytes/);
});

test('API: 401 / 400 / 404 / 405 / 413, and a broadcast reaching a local client', () =>
    withServer(['--no-mesh', '--api-key-file', keyFile()], async (srv) => {
        const good = JSON.stringify({ topic: 'room:lobby', event: 'new_msg', payload: { body: 'hi' } });
        // 401: missing, wrong, other scheme, a prefix of the key.
        for (const key of [null, 'wrong-key-0123456789', KEY.slice(0, -1), `${KEY}x`]) {
            const r = await api(srv.port, 'POST', '/api/broadcast', { key, body: good });
            assert.equal(r.status, 401, `key ${key}`);
            assert.equal(r.json.error, 'missing or wrong API key');
            assert.match(r.headers.get('www-authenticate'), /^Bearer/);
        }
        const basic = await api(srv.port, 'GET', '/api/node', { key: null, headers: { authorization: `Basic ${KEY}` } });
        assert.equal(basic.status, 401);
        // 400s name what is wrong.
        const bad = [
            ['{bad', /^invalid JSON/],
            ['', /^invalid JSON/],
            ['[1]', /must be a JSON object/],
            ['{"event":"e","payload":{}}', /^missing field: topic$/],
            ['{"topic":"t","payload":{}}', /^missing field: event$/],
            ['{"topic":"t","event":"e"}', /^missing field: payload$/],
            ['{"topic":1,"event":"e","payload":{}}', /field topic must be a string/],
            ['{"topic":"","event":"e","payload":{}}', /field topic must be 1 to/],
            ['{"topic":"t","event":"e","payload":[1]}', /field payload must be a JSON object/],
            ['{"topic":"t\\u0000x","event":"e","payload":{}}', /^invalid JSON: \\u0000 is not allowed/],
            ['{"topic":"t","topic":"u","event":"e","payload":{}}', /^invalid JSON: duplicate/],
            [`{"topic":"${'t'.repeat(1025)}","event":"e","payload":{}}`, /field topic must be 1 to 1024/],
        ];
        for (const [body, re] of bad) {
            const r = await api(srv.port, 'POST', '/api/broadcast', { body });
            assert.equal(r.status, 400, body.slice(0, 60));
            assert.match(r.json.error, re, body.slice(0, 60));
        }
        // 405 with Allow; 404 for an unknown endpoint (JSON, authenticated).
        const get = await api(srv.port, 'GET', '/api/broadcast');
        assert.equal(get.status, 405);
        assert.equal(get.headers.get('allow'), 'POST');
        assert.equal((await api(srv.port, 'POST', '/api/node', { body: '{}' })).status, 405);
        const unknown = await api(srv.port, 'GET', '/api/nope');
        assert.equal(unknown.status, 404);
        assert.equal(unknown.json.error, 'no such API endpoint');
        // /api/presence: the topic is required; an empty topic lists nobody.
        assert.equal((await api(srv.port, 'GET', '/api/presence')).status, 400);
        const pres = await api(srv.port, 'GET', '/api/presence?topic=room%3Aempty');
        assert.equal(pres.status, 200);
        assert.deepEqual(pres.json.presences, {});
        // 413: over --max-body (1 MiB), before any JSON is parsed.
        const big = await rawHttp(srv.port, 'POST /api/broadcast HTTP/1.1\r\nHost: x\r\n' +
            `Authorization: Bearer ${KEY}\r\nContent-Length: 2000000\r\n\r\n`);
        assert.equal(big.status, 413);

        // A local phoenix.js client receives an API broadcast.
        const socket = phxSocket(srv);
        socket.connect();
        await socketOpened(socket);
        const ch = socket.channel('room:lobby', {});
        const got = [];
        ch.on('new_msg', (p) => got.push(p));
        await new Promise((resolve, reject) => ch.join().receive('ok', resolve).receive('error', reject));
        const ok = await api(srv.port, 'POST', '/api/broadcast', { body: good });
        assert.equal(ok.status, 200);
        assert.deepEqual(ok.json, { ok: true, node: `bennu-${srv.port}@127.0.0.1`, local: 1, peers_up: 0 });
        await waitFor(() => got.length === 1, 5000, 'the API broadcast on the client');
        assert.deepEqual(got[0], { body: 'hi' });

        const node = await api(srv.port, 'GET', '/api/node');
        assert.equal(node.status, 200);
        assert.equal(node.json.connections.websocket, 1);
        assert.equal(node.json.clustered, false);
        assert.ok(Number.isInteger(node.json.uptime_ms));
        assert.match(node.json.version, /^\d+\.\d+\.\d+/);
        // Still alive after all of it.
        assert.equal((await api(srv.port, 'GET', '/health', { key: null })).status, 200);
    }));

test('/metrics: needs the key unless --metrics-public; parses; the gauge matches the clients', async () => {
    await withServer(['--no-mesh', '--api-key-file', keyFile()], async (srv) => {
        assert.equal((await api(srv.port, 'GET', '/metrics', { key: null })).status, 401);
        assert.equal((await api(srv.port, 'GET', '/metrics')).status, 200);
    });
    await withServer(['--no-mesh', '--metrics-public'], async (srv) => {
        const sockets = [];
        for (let i = 0; i < 3; i++) {
            const s = phxSocket(srv);
            s.connect();
            await socketOpened(s);
            sockets.push(s);
        }
        const r = await api(srv.port, 'GET', '/metrics', { key: null });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
        const m = parseProm(r.text);
        assert.equal(sample(m, 'bennu_connections', { transport: 'websocket' }), 3);
        assert.equal(sample(m, 'bennu_connections', { transport: 'longpoll' }), 0);
        for (const name of ['bennu_channels_joined', 'bennu_topics', 'bennu_deliveries_total',
            'bennu_queued_bytes', 'bennu_slow_consumer_closes_total', 'bennu_rate_limit_closes_total',
            'bennu_disconnects_total', 'bennu_token_expired_closes_total']) {
            assert.ok(m.has(name), name);
        }
        assert.equal(sample(m, 'bennu_broadcasts_total', { direction: 'out' }), 0);
        assert.equal(sample(m, 'bennu_refusals_total', { reason: 'origin' }), 0);
        // The /api/ stays off without a key even when /metrics is public.
        assert.equal((await api(srv.port, 'GET', '/api/node')).status, 404);
        // A refused origin is counted by reason; the gauge follows disconnects.
        const refused = new WebSocket(srv.wsUrl(), { headers: { origin: 'http://evil.example' } });
        await new Promise((resolve) => { refused.on('error', resolve); refused.on('unexpected-response', resolve); });
        sockets[0].disconnect();
        await waitFor(async () => {
            const again = parseProm((await api(srv.port, 'GET', '/metrics', { key: null })).text);
            return sample(again, 'bennu_connections', { transport: 'websocket' }) === 2 &&
                sample(again, 'bennu_refusals_total', { reason: 'origin' }) === 1;
        }, 5000, 'the gauge at 2 and one origin refusal');
    });
});

/** A phoenix.js socket on `node` with a user token; records its closes. */
function userSocket(node, token) {
    const socket = new Socket(node.socketEndpoint, {
        transport: WebSocket, params: { token }, reconnectAfterMs: () => 60000,
    });
    node.track(socket);
    socket.closes = [];
    socket.onClose((e) => socket.closes.push({ code: e.code, at: Date.now() }));
    socket.connect();
    return socket;
}

test('cluster: /ready 503 then 200, API broadcast on A reaches clients on A and B, ' +
    'disconnect of users_socket:42 on A closes the user-42 socket on B within 1 s', () =>
    withCluster({}, async (cluster) => {
        const env = { BENNU_API_KEY: KEY, SECRET_KEY_BASE: SECRET };
        // B joins a seed that is not there yet: not ready.
        const b = await cluster.start('b', { join: ['127.0.0.1:1'], env, extra: ['--ready-min-peers', '1'] });
        const r0 = await api(b.httpPort, 'GET', '/ready', { key: null });
        assert.equal(r0.status, 503);
        assert.equal(r0.json.ready, false);
        assert.equal(r0.json.reason, 'waiting for peers');
        const a = await cluster.start('a', { join: [b], env });
        await cluster.waitFullMesh([a, b]);
        for (const n of [a, b]) {
            const r = await api(n.httpPort, 'GET', '/ready', { key: null });
            assert.equal(r.status, 200, n.name);
            assert.deepEqual([r.json.ready, r.json.peers_up], [true, 1]);
        }
        const node = await api(a.httpPort, 'GET', '/api/node');
        assert.equal(node.json.name, a.name);
        assert.deepEqual(node.json.members.map((m) => [m.name, m.state]), [[b.name, 'up']]);

        // Broadcast through the API of A: clients on A and B get it.
        const chA = await lobby(a);
        const chB = await lobby(b);
        await cluster.waitPeerGroup(a, b, 'room:lobby');
        const res = await api(a.httpPort, 'POST', '/api/broadcast', {
            body: JSON.stringify({ topic: 'room:lobby', event: 'new_msg', payload: { body: 'from-api' } }),
        });
        assert.equal(res.status, 200);
        assert.equal(res.json.ok, true);
        assert.equal(res.json.local, 1);
        await waitFor(() => chA.bodies.includes('from-api') && chB.bodies.includes('from-api'), 5000,
            'the API broadcast on both nodes');
        const mA = parseProm((await api(a.httpPort, 'GET', '/metrics')).text);
        assert.equal(sample(mA, 'bennu_mesh_links_up'), 1);
        assert.ok(sample(mA, 'bennu_mesh_peer_rtt_seconds', { peer: b.name }) >= 0);
        assert.ok(sample(mA, 'bennu_broadcasts_total', { direction: 'out' }) >= 1);
        // Every series the Grafana dashboard uses exists.
        const dash = JSON.parse(fs.readFileSync(new URL('../../docs/grafana-bennu.json', import.meta.url)));
        const used = new Set(JSON.stringify(dash).match(/bennu_[a-z_]+/g));
        for (const name of used) {
            assert.ok(mA.has(name), `the dashboard uses ${name}, which /metrics lacks`);
        }
        // The demo chat tracks every lobby socket: A's API and metrics see
        // both nodes' members (replicated presence).
        await waitFor(async () => {
            const p = await api(a.httpPort, 'GET', '/api/presence?topic=room%3Alobby');
            return p.status === 200 && Object.keys(p.json.presences).length === 2;
        }, 5000, 'A lists the lobby presences of A and B');
        const pm = parseProm((await api(a.httpPort, 'GET', '/metrics')).text);
        assert.equal(sample(pm, 'bennu_presence_members'), 2);
        const mB = parseProm((await api(b.httpPort, 'GET', '/metrics')).text);
        assert.ok(sample(mB, 'bennu_broadcasts_total', { direction: 'in' }) >= 1);

        // Socket ids: users 42 and 43 on B; disconnect 42 from A's API.
        const t42 = await mint(['--user', '42', '--secret-key-base', SECRET]);
        const t43 = await mint(['--user', '43', '--secret-key-base', SECRET]);
        const s42 = userSocket(b, t42);
        const s43 = userSocket(b, t43);
        await waitFor(() => s42.isConnected() && s43.isConnected(), 5000, 'user sockets open');
        await cluster.waitPeerGroup(a, b, 'users_socket:42');
        const t0 = Date.now();
        const d = await api(a.httpPort, 'POST', '/api/broadcast', {
            body: JSON.stringify({ topic: 'users_socket:42', event: 'disconnect', payload: {} }),
        });
        assert.equal(d.status, 200);
        await waitFor(() => s42.closes.length > 0, 5000, 'the user-42 socket closed');
        assert.equal(s42.closes[0].code, 1001, 'Phoenix closes with 1001 (going away)');
        assert.ok(s42.closes[0].at - t0 < 1000, `closed ${s42.closes[0].at - t0} ms after the API call`);
        assert.ok(s43.isConnected(), 'user 43 is untouched');
        assert.deepEqual(s43.closes, []);
        await waitFor(async () => sample(parseProm((await api(b.httpPort, 'GET', '/metrics')).text),
            'bennu_disconnects_total') === 1, 5000, 'B counts one disconnect');

        // The same through bennuctl broadcast (via A, the client is on B).
        await cluster.waitPeerGroup(a, b, 'users_socket:43');
        const ctl = await new Promise((resolve, reject) => {
            execFile(bennuctlBin(), ['--node', a.meshAddr, '--cookie', cluster.cookie, 'broadcast',
                'users_socket:43', 'disconnect', '{}'], { timeout: 20000 },
            (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
        });
        assert.match(ctl, /broadcast users_socket:43 disconnect/);
        await waitFor(() => s43.closes.length > 0, 5000, 'the user-43 socket closed by bennuctl');
        assert.equal(s43.closes[0].code, 1001);
    }));

test('--enforce-token-expiry closes a socket at its token expiry with close code 4001', () =>
    withServer(['--no-mesh', '--secret-key-base', SECRET, '--enforce-token-expiry',
        '--metrics-public'], async (srv) => {
        // A token whose own max age is 3 s: accepted, then closed at expiry
        // (minted last, so process start-up under a sanitizer eats little of it).
        const long = await mint(['--user', '8', '--secret-key-base', SECRET]);
        const short = await mint(['--user', '7', '--max-age', '3', '--secret-key-base', SECRET]);
        const sShort = phxSocket(srv, { params: { token: short }, reconnectAfterMs: () => 60000 });
        const sLong = phxSocket(srv, { params: { token: long } });
        const closes = [];
        sShort.onClose((e) => closes.push(e.code));
        const opened = [socketOpened(sShort), socketOpened(sLong)]; // before either can open
        sShort.connect();
        sLong.connect();
        await Promise.all(opened);
        await waitFor(() => closes.length > 0, 10000, 'the expired socket closed');
        assert.deepEqual(closes, [4001]);
        assert.ok(sLong.isConnected());
        const m = parseProm((await api(srv.port, 'GET', '/metrics', { key: null })).text);
        assert.equal(sample(m, 'bennu_token_expired_closes_total'), 1);
        // Once expired, the same token is refused at connect.
        assert.equal((await wsUpgradeStatus(srv, { query: `vsn=2.0.0&token=${short}` })).status, 403);
    }));

test('disconnect over LongPoll: the session of the socket id ends, its next poll gets 410', () =>
    withServer(['--no-mesh', '--secret-key-base', SECRET, '--api-key-file', keyFile(),
        '--longpoll-window', '500'], async (srv) => {
        const t = await mint(['--user', 'alice', '--secret-key-base', SECRET]);
        const q = `vsn=2.0.0&token=${t}`;
        const session = await lpOpen(srv, q);
        const other = await lpOpen(srv, 'vsn=2.0.0');
        const d = await api(srv.port, 'POST', '/api/broadcast', {
            body: JSON.stringify({ topic: 'users_socket:alice', event: 'disconnect', payload: {} }),
        });
        assert.equal(d.status, 200);
        const poll = await lp(srv, 'GET', { query: q, session });
        assert.equal(poll.json.status, 410);
        // An anonymous session is untouched: its poll waits the window, then answers 204.
        const again = await lp(srv, 'GET', { session: other, timeoutMs: 15000 });
        assert.equal(again.json.status, 204);
    }, { logLevel: 'info' }));
