// bennu --config FILE: channel routes with join rules, client events
// (broadcast or webhook), and the backend webhook, driven by the official
// phoenix.js client against real bennu processes and a real webhook server
// (the example backend of examples/webhook, as a process, and in-test
// servers for the failure cases). The backends verify every signature.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

import { Presence } from 'phoenix';

import { createBackend, policy, signatureValid } from '../../examples/webhook/backend.mjs';
import { Cluster } from './support/cluster.mjs';
import { joinResult, LongPoll, mint, phxSocket, pushResult, socketOpened } from './support/compat_client.mjs';
import { runBennu, waitFor, withServer } from './support/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SECRET = 'webhook-test-secret-key-base-0123456789';
const HOOK_SECRET = 'webhook-hmac-secret-0123456789';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-webhook-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const hookSecretFile = path.join(dir, 'webhook.secret');
fs.writeFileSync(hookSecretFile, `${HOOK_SECRET}\n`, { mode: 0o600 });
const skbFile = path.join(dir, 'skb');
fs.writeFileSync(skbFile, `${SECRET}\n`, { mode: 0o600 });

let nConfigs = 0;
function writeConfig(doc) {
    const f = path.join(dir, `config-${nConfigs++}.json`);
    fs.writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return f;
}

function config(port, webhook = {}) {
    return {
        'secret-key-base-file': skbFile,
        channels: [
            { topic: 'public:*', join: 'anyone' },
            { topic: 'user:{user_id}', join: 'owner' },
            { topic: 'private:*', join: 'token' },
            { topic: 'closed:*', join: 'deny' },
            { topic: 'doc:*', join: 'webhook', events: 'webhook', leave: 'webhook' },
            { topic: 'room:*', join: 'anyone', events: 'broadcast' },
            { topic: 'quiet:*', join: 'anyone' },
        ],
        webhook: { url: `http://127.0.0.1:${port}/bennu`, timeout_ms: 2000,
            secret_file: hookSecretFile, ...webhook },
    };
}

/** An in-test backend: verifies signatures (counting bad ones), records
 *  each request, and answers with decide(req, res) (which may answer
 *  itself and return undefined). */
async function backend(decide = policy) {
    const seen = [];
    let badSignatures = 0;
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks);
            if (!signatureValid(HOOK_SECRET, body, req.headers['x-bennu-signature'])) {
                badSignatures++;
                res.writeHead(401).end();
                return;
            }
            const doc = JSON.parse(body.toString('utf8'));
            seen.push(doc);
            const answer = decide(doc, res);
            if (answer !== undefined) {
                const text = JSON.stringify(answer);
                res.writeHead(200, { 'content-type': 'application/json' }).end(text);
            }
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return {
        server, seen, port: server.address().port,
        get badSignatures() { return badSignatures; },
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    };
}

async function socketFor(srv, user, opts = {}) {
    const params = user === undefined ? {} : { token: await mint(['--user', String(user), '--secret-key-base', SECRET]) };
    const socket = phxSocket(srv, { params, ...opts });
    socket.connect();
    await socketOpened(socket);
    return socket;
}

test('join rules: anyone, token, owner ({user_id}), deny; events none crash, broadcast', async () => {
    const hook = await backend();
    try {
        await withServer(['--no-mesh', '--config', writeConfig(config(hook.port))], async (srv) => {
            const anon = await socketFor(srv);
            const u7 = await socketFor(srv, 7);
            assert.deepEqual(await joinResult(anon.channel('public:x')), { status: 'ok', response: {} });
            assert.deepEqual(await joinResult(u7.channel('user:7')), { status: 'ok', response: {} });
            assert.deepEqual(await joinResult(u7.channel('user:8')),
                { status: 'error', response: { reason: 'unauthorized' } });
            assert.deepEqual(await joinResult(anon.channel('user:7')),
                { status: 'error', response: { reason: 'unauthorized' } });
            assert.deepEqual(await joinResult(u7.channel('private:a')), { status: 'ok', response: {} });
            assert.deepEqual(await joinResult(anon.channel('private:a')),
                { status: 'error', response: { reason: 'unauthorized' } });
            assert.deepEqual(await joinResult(u7.channel('closed:a')),
                { status: 'error', response: { reason: 'unauthorized' } });
            assert.deepEqual(await joinResult(u7.channel('nowhere')),
                { status: 'error', response: { reason: 'unmatched topic' } });
            // events: broadcast reaches every subscriber, the sender included.
            const r1 = u7.channel('room:1');
            const r2 = anon.channel('room:1');
            const got1 = [];
            const got2 = [];
            r1.on('hello', (p) => got1.push(p));
            r2.on('hello', (p) => got2.push(p));
            await joinResult(r1);
            await joinResult(r2);
            r1.push('hello', { n: 1 });
            await waitFor(() => got1.length === 1 && got2.length === 1);
            assert.deepEqual(got2, [{ n: 1 }]);
            // events: none -> the channel crashes (phx_error), as an unmatched handle_in.
            const q = anon.channel('quiet:1');
            await joinResult(q);
            let errored = false;
            q.onError(() => { errored = true; });
            q.push('anything', {});
            await waitFor(() => errored);
            assert.equal(hook.seen.length, 0, 'no rule above calls the webhook');
        });
    } finally {
        await hook.close();
    }
});

test('done-when: example backend process, two nodes, reply + broadcast across nodes, backend down', async () => {
    // The example backend, as a user runs it.
    const proc = spawn(process.execPath, [path.resolve(HERE, '../../examples/webhook/backend.mjs'),
        '--port', '0', '--secret-file', hookSecretFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    const exited = new Promise((r) => proc.on('close', r));
    const cluster = new Cluster();
    try {
        const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out)))[1]);
        const cfg = writeConfig(config(port));
        const a = await cluster.start('wa', { extra: ['--config', cfg] });
        const b = await cluster.start('wb', { join: [a], extra: ['--config', cfg] });
        await cluster.waitFullMesh([a, b]);
        const sa = await socketFor({ socketEndpoint: a.socketEndpoint, track: (x) => a.track(x) }, 7);
        const sb = await socketFor({ socketEndpoint: b.socketEndpoint, track: (x) => b.track(x) }, 7);
        const sanon = await socketFor({ socketEndpoint: a.socketEndpoint, track: (x) => a.track(x) });
        const ca = sa.channel('doc:1');
        assert.deepEqual(await joinResult(ca), { status: 'ok', response: { welcome: 'doc:1' } });
        const cb = sb.channel('doc:1');
        const edited = [];
        cb.on('edited', (p) => edited.push(p));
        assert.deepEqual(await joinResult(cb), { status: 'ok', response: { welcome: 'doc:1' } });
        await cluster.waitPeerGroup(a, b, 'doc:1');
        assert.deepEqual(await pushResult(ca.push('edit', { text: 'hi' })),
            { status: 'ok', response: { saved: true } });
        await waitFor(() => edited.length === 1);
        assert.deepEqual(edited[0], { by: 7, text: 'hi' });
        assert.deepEqual(await pushResult(ca.push('other', {})),
            { status: 'error', response: { reason: 'unknown event other' } });
        assert.deepEqual(await joinResult(sanon.channel('doc:1')),
            { status: 'error', response: { reason: 'not allowed' } });
        const stats = await cluster.stats(a);
        assert.ok(stats.webhook.calls >= 4, JSON.stringify(stats.webhook));
        assert.ok(stats.webhook.ok >= 4);
        assert.equal(stats.webhook.latency_ms.count, stats.webhook.ok);
        // The backend goes away: joins get "unavailable", everything else goes on.
        proc.kill('SIGTERM');
        await exited;
        const t0 = Date.now();
        assert.deepEqual(await joinResult(sa.channel('doc:2')),
            { status: 'error', response: { reason: 'unavailable' } });
        assert.ok(Date.now() - t0 < 2000 + 3000, 'refused within the timeout');
        assert.deepEqual(await joinResult(sanon.channel('public:y')), { status: 'ok', response: {} });
        const stats2 = await cluster.stats(a);
        assert.ok(stats2.webhook.failures.connect >= 1, JSON.stringify(stats2.webhook));
        await a.waitForLog(/event=webhook_failures/);
    } finally {
        proc.kill('SIGKILL');
        await cluster.stopAll();
    }
});

test('presence: true tracks joined sockets under the user id, else the name param, webhook joins included', async () => {
    const hook = await backend((doc) => (doc.type === 'join' ? { ok: true } : {}));
    try {
        const doc = config(hook.port);
        doc.channels = [
            { topic: 'live:*', join: 'anyone', presence: true },
            { topic: 'hooked:*', join: 'webhook', presence: true },
        ];
        await withServer(['--no-mesh', '--config', writeConfig(doc)], async (srv) => {
            const u7 = await socketFor(srv, 7);
            const anon = await socketFor(srv);
            for (const topic of ['live:1', 'hooked:1']) {
                const a = u7.channel(topic, {});
                const b = anon.channel(topic, { name: 'ann' });
                const pa = new Presence(a);
                const pb = new Presence(b);
                assert.equal((await joinResult(a)).status, 'ok', topic);
                assert.equal((await joinResult(b)).status, 'ok', topic);
                const keys = (p) => p.list((k) => k).sort().join(',');
                await waitFor(() => keys(pa) === '7,ann' && keys(pb) === '7,ann', 5000,
                    () => `${topic}: lists ${keys(pa)} / ${keys(pb)}`);
                b.leave();
                await waitFor(() => keys(pa) === '7', 5000, () => `${topic}: after leave ${keys(pa)}`);
            }
            assert.equal(hook.seen.filter((r) => r.type === 'join').length, 2);
        });
    } finally {
        await hook.close();
    }
});

test('/metrics carries the webhook series: calls, failures by reason, latency histogram', async () => {
    let fail = false;
    const hook = await backend((doc, res) => {
        if (fail) {
            res.writeHead(500).end();
            return undefined;
        }
        return doc.type === 'join' ? { ok: true } : {};
    });
    try {
        await withServer(['--no-mesh', '--metrics-public', '--config', writeConfig(config(hook.port))],
            async (srv) => {
                const u7 = await socketFor(srv, 7);
                assert.equal((await joinResult(u7.channel('doc:1'))).status, 'ok');
                fail = true;
                assert.deepEqual(await joinResult(u7.channel('doc:2')),
                    { status: 'error', response: { reason: 'unavailable' } });
                const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
                const value = (line) => {
                    const m = text.split('\n').find((l) => l.startsWith(`${line} `));
                    assert.ok(m, `no sample ${line} in /metrics`);
                    return Number(m.slice(line.length + 1));
                };
                assert.match(text, /^# TYPE bennu_webhook_latency_seconds histogram$/m);
                assert.equal(value('bennu_webhook_calls_total'), 2);
                assert.equal(value('bennu_webhook_failures_total{reason="status"}'), 1);
                assert.equal(value('bennu_webhook_failures_total{reason="timeout"}'), 0);
                assert.equal(value('bennu_webhook_latency_seconds_count'), 1);
                assert.equal(value('bennu_webhook_latency_seconds_bucket{le="+Inf"}'), 1);
                assert.ok(value('bennu_webhook_latency_seconds_bucket{le="1"}') <= 1);
                assert.equal(value('bennu_webhook_in_flight'), 0);
            });
    } finally {
        await hook.close();
    }
});

test('slow backend: join and push answered "unavailable"/error within timeout_ms; others unaffected', async () => {
    let slow = false;
    const held = [];
    const hook = await backend((req, res) => {
        if (slow) {
            held.push(res); // never answered in time
            return undefined;
        }
        return policy(req);
    });
    try {
        const cfg = writeConfig(config(hook.port, { timeout_ms: 300 }));
        await withServer(['--no-mesh', '--config', cfg], async (srv) => {
            const u7 = await socketFor(srv, 7);
            const doc = u7.channel('doc:1');
            await joinResult(doc);
            slow = true;
            assert.deepEqual(await pushResult(doc.push('edit', {})),
                { status: 'error', response: { reason: 'unavailable' } });
            assert.deepEqual(await joinResult(u7.channel('doc:2')),
                { status: 'error', response: { reason: 'unavailable' } });
            assert.deepEqual(await joinResult(u7.channel('public:z')), { status: 'ok', response: {} });
            slow = false;
            // The timed-out connections were dropped; a new call works.
            assert.deepEqual(await pushResult(doc.push('edit', { x: 1 })),
                { status: 'ok', response: { saved: true } });
        });
        for (const r of held) {
            r.destroy();
        }
    } finally {
        await hook.close();
    }
});

test('garbage answers: not JSON, wrong status, non-HTTP bytes, bad signature at the backend', async () => {
    let mode = 'text';
    const hook = await backend((req, res) => {
        if (mode === 'text') {
            res.writeHead(200).end('this is not json');
        } else if (mode === 'status') {
            res.writeHead(500).end('{}');
        } else {
            return policy(req);
        }
        return undefined;
    });
    // A TCP server that answers any request with non-HTTP bytes.
    const junk = net.createServer((s) => { s.on('data', () => s.end('SSH-2.0-OpenSSH\r\n')); });
    await new Promise((r) => junk.listen(0, '127.0.0.1', r));
    // A backend with another secret refuses every signature (401).
    const other = path.join(dir, 'other.secret');
    fs.writeFileSync(other, 'another-secret-0123456789\n', { mode: 0o600 });
    try {
        await withServer(['--no-mesh', '--config', writeConfig(config(hook.port))], async (srv) => {
            const u7 = await socketFor(srv, 7);
            assert.deepEqual(await joinResult(u7.channel('doc:1')),
                { status: 'error', response: { reason: 'unavailable' } });
            mode = 'status';
            assert.deepEqual(await joinResult(u7.channel('doc:2')),
                { status: 'error', response: { reason: 'unavailable' } });
            mode = 'ok';
            assert.deepEqual(await joinResult(u7.channel('doc:3')),
                { status: 'ok', response: { welcome: 'doc:3' } });
            assert.equal(hook.badSignatures, 0);
        });
        await withServer(['--no-mesh', '--config',
            writeConfig(config(junk.address().port))], async (srv) => {
            const u7 = await socketFor(srv, 7);
            assert.deepEqual(await joinResult(u7.channel('doc:1')),
                { status: 'error', response: { reason: 'unavailable' } });
        });
        await withServer(['--no-mesh', '--config',
            writeConfig(config(hook.port, { secret_file: other }))], async (srv) => {
            const u7 = await socketFor(srv, 7);
            const before = hook.badSignatures;
            assert.deepEqual(await joinResult(u7.channel('doc:1')),
                { status: 'error', response: { reason: 'unavailable' } });
            assert.equal(hook.badSignatures, before + 1, 'the backend rejected the signature');
        });
    } finally {
        junk.close();
        await hook.close();
    }
});

test('ordering: pushes sent while the join waits on the webhook run after it, in order', async () => {
    let release = null;
    const hook = await backend((req, res) => {
        if (req.type === 'join') {
            release = () => res.writeHead(200).end(JSON.stringify({ ok: true }));
            return undefined;
        }
        if (req.type === 'event') {
            return { reply: { n: req.payload.n } };
        }
        return {};
    });
    try {
        await withServer(['--no-mesh', '--config', writeConfig(config(hook.port))], async (srv) => {
            const token = await mint(['--user', '7', '--secret-key-base', SECRET]);
            const c = await srv.ws(`vsn=2.0.0&token=${token}`);
            c.send(['1', '1', 'doc:9', 'phx_join', {}]);
            for (let n = 0; n < 5; n++) {
                c.send(['1', String(10 + n), 'doc:9', 'ev', { n }]);
            }
            c.send([null, '99', 'phoenix', 'heartbeat', {}]);
            await waitFor(() => release !== null);
            assert.equal(c.pending().length, 0, 'nothing answered while the join waits');
            release();
            const replies = [];
            for (let i = 0; i < 7; i++) {
                replies.push(JSON.parse(await c.nextText()));
            }
            // The join's reply first (Phoenix's transport is blocked in join);
            // then the heartbeat is answered by the transport while the
            // channel works through its events, whose replies keep their order.
            assert.deepEqual(replies[0], ['1', '1', 'doc:9', 'phx_reply', { status: 'ok', response: {} }]);
            assert.ok(replies.some((r) => isDeepStrictEqual(r,
                [null, '99', 'phoenix', 'phx_reply', { status: 'ok', response: {} }])));
            const evs = replies.filter((r) => r[2] === 'doc:9').slice(1);
            for (let n = 0; n < 5; n++) {
                assert.deepEqual(evs[n],
                    ['1', String(10 + n), 'doc:9', 'phx_reply', { status: 'ok', response: { n } }]);
            }
            assert.deepEqual(hook.seen.filter((r) => r.type === 'event').map((r) => r.payload.n),
                [0, 1, 2, 3, 4]);
            // The socket goes away while a join waits: nothing breaks.
            release = null;
            const d = await srv.ws(`vsn=2.0.0&token=${token}`);
            d.send(['1', '1', 'doc:10', 'phx_join', {}]);
            await waitFor(() => release !== null);
            d.destroy();
            await waitFor(() => hook.seen.filter((r) => r.type === 'join').length === 2);
            release();
            // and leave notifications arrive (fire and forget)
            c.close();
            await waitFor(() => hook.seen.some((r) => r.type === 'leave' && r.topic === 'doc:9'));
        });
    } finally {
        await hook.close();
    }
});

test('LongPoll: webhook join and event with reply and broadcast', async () => {
    const hook = await backend();
    try {
        await withServer(['--no-mesh', '--config', writeConfig(config(hook.port))], async (srv) => {
            const lp = await socketFor(srv, 7, { transport: LongPoll });
            const ws = await socketFor(srv, 7);
            const a = lp.channel('doc:5');
            const b = ws.channel('doc:5');
            const edited = [];
            b.on('edited', (p) => edited.push(p));
            assert.deepEqual(await joinResult(a), { status: 'ok', response: { welcome: 'doc:5' } });
            assert.deepEqual(await joinResult(b), { status: 'ok', response: { welcome: 'doc:5' } });
            assert.deepEqual(await pushResult(a.push('edit', { v: 2 })),
                { status: 'ok', response: { saved: true } });
            await waitFor(() => edited.length === 1);
            assert.deepEqual(edited[0], { by: 7, v: 2 });
            const join = hook.seen.find((r) => r.type === 'join');
            assert.equal(join.user_id, 7);
            assert.equal(join.topic, 'doc:5');
            assert.equal(typeof join.socket_id, 'string');
            const ev = hook.seen.find((r) => r.type === 'event');
            assert.deepEqual(ev.assigns, { role: 'editor' }, 'the join answer\'s assigns come back');
        });
    } finally {
        await hook.close();
    }
});

test('max_in_flight: a full client answers "unavailable" at once', async () => {
    const held = [];
    const hook = await backend((req, res) => {
        held.push(res);
        return undefined;
    });
    try {
        const cfg = writeConfig(config(hook.port, { max_in_flight: 1, timeout_ms: 60000 }));
        await withServer(['--no-mesh', '--config', cfg], async (srv) => {
            const u7 = await socketFor(srv, 7);
            const first = joinResult(u7.channel('doc:1'));
            await waitFor(() => held.length === 1);
            const other = await socketFor(srv, 7);
            assert.deepEqual(await joinResult(other.channel('doc:2')),
                { status: 'error', response: { reason: 'unavailable' } });
            held[0].writeHead(200).end(JSON.stringify({ ok: true }));
            assert.deepEqual(await first, { status: 'ok', response: {} });
        });
    } finally {
        await hook.close();
    }
});

test('config file errors exit 2 naming the JSON path; flags override the file', async () => {
    const cases = [
        ['{', /\$: invalid JSON/],
        ['[]', /\$: expected an object/],
        [{ prot: 1 }, /\$\.prot: unknown key/],
        [{ port: 'x' }, /invalid value for --port/],
        [{ port: true }, /\$\.port: expected a string or an integer/],
        [{ dev: 1 }, /\$\.dev: expected true or false/],
        [{ channels: {} }, /\$\.channels: expected an array/],
        [{ channels: [{ topic: 'a:*' }] }, /\$\.channels\[0\]\.join: missing/],
        [{ channels: [{ topic: 'a:*', join: 'maybe' }] }, /\$\.channels\[0\]\.join: expected one of anyone, token, owner, webhook, deny/],
        [{ channels: [{ topic: 'a:*', join: 'owner' }] }, /\$\.channels\[0\]\.join: "owner" needs a \{user_id\}/],
        [{ channels: [{ topic: 'a:*:b', join: 'anyone' }] }, /\$\.channels\[0\]\.topic: '\*' only at the end/],
        [{ channels: [{ topic: 'a:*', join: 'anyone', color: 1 }] }, /\$\.channels\[0\]\.color: unknown key/],
        [{ channels: [{ topic: 'a:*', join: 'webhook' }] }, /\$\.channels\[0\]: uses the webhook, but \$\.webhook is missing/],
        [{ webhook: { url: 'http://example.com/x', secret_file: hookSecretFile } }, /\$\.webhook\.url: the host must be an IP address/],
        [{ webhook: { url: 'http://127.0.0.1:1/x', secret_file: hookSecretFile, timeout_ms: 0 } }, /\$\.webhook\.timeout_ms: expected an integer 1\.\.600000/],
        [{ webhook: { url: 'http://127.0.0.1:1/x', secret_file: path.join(dir, 'missing') } }, /\$\.webhook\.secret_file: /],
        [{ webhook: { url: 'http://127.0.0.1:1/x' } }, /\$\.webhook\.secret_file: missing/],
    ];
    for (const [doc, re] of cases) {
        const r = await runBennu(['--config', writeConfig(doc), '--no-mesh']);
        assert.equal(r.code, 2, `${JSON.stringify(doc)}: ${r.stderr}`);
        assert.match(r.stderr, re, JSON.stringify(doc));
    }
    const loose = path.join(dir, 'loose.secret');
    fs.writeFileSync(loose, `${HOOK_SECRET}\n`, { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    const r = await runBennu(['--config', writeConfig({ webhook: { url: 'http://127.0.0.1:1/', secret_file: loose } })]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\$\.webhook\.secret_file: .*chmod 600/);
    // A flag on the command line overrides the file (the file says port 1).
    await withServer(['--no-mesh', '--config', writeConfig({ port: 1, 'log-level': 'debug' })], async (srv) => {
        assert.notEqual(srv.port, 1);
        // Without channels in the file, the demo chat is served unchanged.
        const s = await socketFor(srv);
        assert.deepEqual(await joinResult(s.channel('room:lobby')), { status: 'ok', response: {} });
    }, { logLevel: 'info' });
});

test('the example backend module verifies signatures', () => {
    const body = Buffer.from('{"type":"join"}');
    assert.equal(signatureValid('k', body, 'sha256=00'), false);
    assert.equal(typeof createBackend, 'function');
});
