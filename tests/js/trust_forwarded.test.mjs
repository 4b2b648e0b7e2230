// --trust-forwarded: behind a TLS-terminating reverse proxy, a request from
// a trusted peer takes its scheme from X-Forwarded-Proto (so the default
// --check-origin conn accepts Origin: https://host) and its client address
// from X-Forwarded-For (rightmost hop outside the trusted networks): logs
// and the per-address limit on pending connections use that address. A
// peer outside the networks gets none of this. Raw HTTP requests only, so
// the exact headers are what a proxy would send.
import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';

import { lpRawGet, wsUpgradeStatus } from './support/compat_client.mjs';
import { runBennu, waitFor, withServer } from './support/server.mjs';

const test = (name, fn) => nodeTest(name, { timeout: 60000 }, fn);

const PROXIED = { Origin: 'https://chat.example', 'X-Forwarded-Proto': 'https' };

async function both(srv, headers) {
    const ws = await wsUpgradeStatus(srv, { host: 'chat.example', headers });
    const lp = await lpRawGet(srv, { host: 'chat.example', headers });
    return { ws: ws.status, lp: lp.json?.status ?? lp.status };
}

test('a trusted proxy\'s X-Forwarded-Proto: https makes Origin https://host acceptable (conn)', () =>
    withServer(['--trust-forwarded', '127.0.0.0/8,::1'], async (srv) => {
        assert.deepEqual(await both(srv, PROXIED), { ws: 101, lp: 410 });
        // Without the header the request is plain http: an https Origin differs.
        assert.deepEqual(await both(srv, { Origin: 'https://chat.example' }), { ws: 403, lp: 403 });
        // An http Origin no longer matches a request the proxy says was https.
        assert.deepEqual(await both(srv, { Origin: 'http://chat.example', 'X-Forwarded-Proto': 'https' }),
            { ws: 403, lp: 403 });
        // Another host is still refused.
        assert.deepEqual(await both(srv, { Origin: 'https://evil.example', 'X-Forwarded-Proto': 'https' }),
            { ws: 403, lp: 403 });
    }));

test('an untrusted peer\'s X-Forwarded-* headers are ignored', async () => {
    await withServer(['--trust-forwarded', '10.0.0.0/8'], async (srv) => {
        assert.deepEqual(await both(srv, PROXIED), { ws: 403, lp: 403 });
    });
    await withServer([], async (srv) => {
        assert.deepEqual(await both(srv, PROXIED), { ws: 403, lp: 403 });
    });
});

test('logs name the forwarded client: the rightmost hop that is not a trusted proxy', () =>
    withServer(['--dev', '--no-mesh', '--trust-forwarded', '127.0.0.0/8'], async (srv) => {
        const refused = async (xff) => {
            const before = srv.logLines().length;
            const r = await wsUpgradeStatus(srv, { query: 'vsn=2.0.0&token=bad',
                headers: xff === null ? {} : { 'X-Forwarded-For': xff } });
            assert.equal(r.status, 403);
            const line = await waitFor(() => srv.logLines().slice(before)
                .find((l) => /event=connect_refused reason=token_/.test(l)), 5000, 'connect_refused');
            return / peer=(\S+)/.exec(line)[1];
        };
        assert.equal(await refused('203.0.113.9'), '203.0.113.9');
        // A client-written (spoofable) left part is not believed.
        assert.equal(await refused('198.51.100.1, 203.0.113.9'), '203.0.113.9');
        // Trusted hops on the right are skipped.
        assert.equal(await refused('203.0.113.9, 127.0.0.5'), '203.0.113.9');
        assert.equal(await refused('2001:db8::7'), '2001:db8::7');
        // No header: the TCP peer.
        assert.match(await refused(null), /^127\.0\.0\.1:\d+$/);
    }));

test('an untrusted peer cannot put an address in the logs', () =>
    withServer(['--dev', '--no-mesh', '--trust-forwarded', '10.0.0.0/8'], async (srv) => {
        const r = await wsUpgradeStatus(srv, { query: 'vsn=2.0.0&token=bad',
            headers: { 'X-Forwarded-For': '203.0.113.9' } });
        assert.equal(r.status, 403);
        const line = await srv.waitForLog(/event=connect_refused reason=token_/);
        assert.match(line, / peer=127\.0\.0\.1:\d+/);
    }));

test('pending connections are counted per forwarded address, not per proxy', () =>
    withServer(['--trust-forwarded', '127.0.0.1', '--max-pending-per-ip', '2'], async (srv) => {
        let marks = 0;
        // A marker request: its log line comes after everything the server
        // did for earlier bytes on other connections that it already read.
        const sync = async () => {
            marks++;
            const r = await wsUpgradeStatus(srv, { query: 'vsn=9.9.9' });
            assert.equal(r.status, 403);
            await waitFor(() => srv.logLines().filter((l) => /reason=bad_vsn/.test(l)).length >= marks,
                5000, 'marker log line');
        };
        const evictions = () => srv.logLines().filter((l) => /reason=pending_per_ip/.test(l)).length;
        // Five idle connections from the proxy itself: the proxy is not capped.
        const idle = [];
        for (let i = 0; i < 5; i++) {
            idle.push(await srv.tcp());
        }
        await sync();
        assert.equal(evictions(), 0);
        // Requests whose body has not arrived yet, for one client address:
        // the third evicts that client's oldest.
        const held = async (xff) => {
            const c = await srv.tcp();
            c.write('POST /socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\n' +
                `X-Forwarded-For: ${xff}\r\nContent-Length: 10\r\n\r\n`);
            return c;
        };
        const a1 = await held('198.51.100.7');
        const a2 = await held('198.51.100.7');
        await sync();
        assert.equal(evictions(), 0);
        const a3 = await held('198.51.100.7');
        await a1.waitClosed();
        await sync();
        assert.equal(evictions(), 1);
        // Other clients behind the same proxy are unaffected.
        const b1 = await held('198.51.100.8');
        const b2 = await held('198.51.100.8');
        await sync();
        assert.equal(evictions(), 1);
        for (const c of [...idle, a2, a3, b1, b2]) {
            assert.equal(c.closed || c.ended, false, 'a connection was closed');
        }
    }, { logLevel: 'debug' }));

test('--trust-forwarded is checked', async () => {
    for (const bad of ['', 'nonsense', '10.0.0.0/33', '10.0.0.1,', '::1/129']) {
        const r = await runBennu(['--trust-forwarded', bad, '--no-mesh', '--port', '0']);
        assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
        assert.match(r.stderr, /--trust-forwarded/);
    }
});
