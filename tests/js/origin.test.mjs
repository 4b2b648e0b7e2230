// check_origin (PROTOCOL.md 1.6) for every --check-origin mode, on both
// transports: a refused WebSocket upgrade is HTTP 403 with an empty body, a
// refused LongPoll connect is HTTP 200 {"status":403}; an allowed one is 101
// and {"status":410,...} respectively. No Origin header is always allowed.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { lpRawGet, wsUpgradeStatus } from './support/compat_client.mjs';
import { withServer } from './support/server.mjs';

const ALLOW = true;
const DENY = false;

/** Check one origin (null = no Origin header) with a given Host on both
 *  transports. */
async function expectOrigin(srv, origin, allowed, host) {
    const headers = origin === null ? {} : { Origin: origin };
    const what = `Origin ${JSON.stringify(origin)} Host ${host ?? `127.0.0.1:${srv.port}`}`;
    const ws = await wsUpgradeStatus(srv, { headers, host });
    if (allowed) {
        assert.equal(ws.status, 101, `WS should upgrade: ${what}`);
    } else {
        assert.equal(ws.status, 403, `WS should be refused: ${what}`);
        assert.equal(ws.body, '', `WS 403 body: ${what}`);
    }
    const lp = await lpRawGet(srv, { headers, host });
    assert.equal(lp.status, 200, `LongPoll HTTP status: ${what}`);
    assert.equal(lp.headers['access-control-allow-origin'], '*');
    if (allowed) {
        assert.equal(lp.json?.status, 410, `LongPoll should open a session: ${what}: ${lp.body}`);
        assert.equal(typeof lp.json.token, 'string');
    } else {
        assert.equal(lp.body, '{"status":403}', `LongPoll should be refused: ${what}`);
    }
}

test('default (conn): Origin must equal the request\'s own scheme, host and port', () => withServer([], async (srv) => {
    const self = `http://127.0.0.1:${srv.port}`;
    const table = [
        [null, ALLOW],
        [self, ALLOW],
        [`HTTP://127.0.0.1:${srv.port}`, ALLOW], // scheme is case-insensitive
        ['http://evil.example', DENY],
        [`https://127.0.0.1:${srv.port}`, DENY], // scheme differs
        ['http://127.0.0.1:1', DENY], // port differs
        ['http://127.0.0.1', DENY], // default port 80 != ours
        [`http://localhost:${srv.port}`, DENY], // host differs from Host
        ['null', DENY], // opaque origin: no host
        ['', DENY],
    ];
    for (const [origin, allowed] of table) {
        await expectOrigin(srv, origin, allowed);
    }
    // The comparison is against the Host header of the request.
    await expectOrigin(srv, 'http://chat.example:8080', ALLOW, 'chat.example:8080');
    await expectOrigin(srv, 'http://chat.example:8080', DENY, 'chat.example:8081');
    await expectOrigin(srv, 'http://chat.example', ALLOW, 'chat.example');
}));

test('explicit --check-origin conn behaves like the default', () => withServer(['--check-origin', 'conn'], async (srv) => {
    await expectOrigin(srv, `http://127.0.0.1:${srv.port}`, ALLOW);
    await expectOrigin(srv, 'http://evil.example', DENY);
    await expectOrigin(srv, null, ALLOW);
}));

test('--check-origin off: every Origin is allowed', () => withServer(['--check-origin', 'off'], async (srv) => {
    for (const origin of [null, 'http://evil.example', 'https://anything:1234', 'null']) {
        await expectOrigin(srv, origin, ALLOW);
    }
}));

test('--check-origin host: only the Origin host is compared with --url-host', () => withServer(['--check-origin', 'host', '--url-host', 'example.com'], async (srv) => {
    const table = [
        [null, ALLOW],
        ['https://example.com', ALLOW],
        ['http://example.com', ALLOW], // scheme not compared
        ['https://example.com:8443', ALLOW], // port not compared
        ['https://EXAMPLE.com', ALLOW], // host names are case-insensitive
        ['https://sub.example.com', DENY],
        ['https://example.com.evil.net', DENY],
        ['https://evil.net', DENY],
        [`http://127.0.0.1:${srv.port}`, DENY], // the request's own origin is not special
    ];
    for (const [origin, allowed] of table) {
        await expectOrigin(srv, origin, allowed);
    }
}));

test('--check-origin list: scheme/host/port per entry, //host and //*.wildcard', () => withServer(['--check-origin',
    'https://example.com,//other.org,//*.wild.net,http://localhost:4000'], async (srv) => {
    const table = [
        [null, ALLOW],
        // https://example.com pins scheme https, host, and port 443 (default).
        ['https://example.com', ALLOW],
        ['https://example.com:443', ALLOW],
        ['http://example.com', DENY],
        ['https://example.com:8443', DENY],
        ['https://www.example.com', DENY],
        // //other.org: any scheme, any port.
        ['http://other.org', ALLOW],
        ['https://other.org:9999', ALLOW],
        ['https://notother.org', DENY],
        // //*.wild.net: the bare domain and any subdomain.
        ['http://wild.net', ALLOW],
        ['https://a.wild.net', ALLOW],
        ['https://a.b.wild.net:81', ALLOW],
        ['http://evilwild.net', DENY],
        ['http://wild.net.evil.com', DENY],
        // http://localhost:4000: exact scheme, host and port.
        ['http://localhost:4000', ALLOW],
        ['http://localhost:4001', DENY],
        ['https://localhost:4000', DENY],
        ['http://localhost', DENY],
        // Not listed, even the server's own origin.
        [`http://127.0.0.1:${srv.port}`, DENY],
        ['null', DENY],
    ];
    for (const [origin, allowed] of table) {
        await expectOrigin(srv, origin, allowed);
    }
}));
