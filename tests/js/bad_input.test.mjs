// Hostile and malformed input: every case checks the exact outcome and that
// a bystander joined to room:lobby keeps receiving broadcasts and the
// server keeps serving afterwards.
import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';

import {
    TcpClient, assertServerHealthy, bystander, closePayload, rawHttp, runBennu, waitFor,
    withServer, wsFrame,
} from './support/server.mjs';

// Every test has a hard deadline so a hung server cannot stall the run.
const test = (name, fn) => nodeTest(name, { timeout: 30000 }, fn);

/** Run `fn(srv, by)` with a bystander, then assert the bystander and the
 *  server are fine. */
function withBystander(args, fn) {
    return withServer(args, async (srv) => {
        const by = await bystander(srv);
        await fn(srv, by);
        await assertServerHealthy(srv, by);
    });
}

// ------------------------------------------------------------ WebSocket payloads

const badTextMessages = [
    ['non-JSON text', 'this is not json', 1011],
    ['JSON array of 4', '["1","1","room:lobby","phx_join"]', 1011],
    ['topic is a number', '["1","1",42,"phx_join",{}]', 1011],
    ['JSON object on V2', '{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}', 1011],
    ['empty text frame', '', 1011],
];

for (const [name, text, code] of badTextMessages) {
    test(`bad V2 message: ${name} -> close ${code}`, () => withBystander([], async (srv) => {
        const c = await srv.ws();
        await c.join('room:lobby', '1');
        c.send(text);
        const info = await c.waitClose();
        assert.equal(info.code, code);
    }));
}

test('invalid UTF-8 in a text frame -> close 1007', () => withBystander([], async (srv) => {
    const c = await srv.ws();
    c.sendTextBytes(Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d])); // ["\xc3("]
    assert.equal((await c.waitClose()).code, 1007);
}));

test('unknown binary kind -> close 1011', () => withBystander([], async (srv) => {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    c.send(Buffer.from([0x07, 0, 0, 0, 0]));
    assert.equal((await c.waitClose()).code, 1011);
}));

// ------------------------------------------------------------ WebSocket framing (raw TCP)

async function rawWs(srv) {
    const c = await srv.tcp();
    await c.upgrade();
    return c;
}

test('unmasked client frame -> close 1002', () => withBystander([], async (srv) => {
    const c = await rawWs(srv);
    c.write(wsFrame(0x1, '[null,"1","phoenix","heartbeat",{}]', { mask: false }));
    assert.equal(await c.nextClose(), 1002);
    await c.waitClosed();
}));

test('frame over --max-frame-size -> close 1009', () => withBystander(['--max-frame-size', '1024'], async (srv) => {
    const c = await rawWs(srv);
    // Exactly at the limit is fine.
    const tmpl = '[null,"1","phoenix","heartbeat",{"b":""}]';
    const atLimit = `[null,"1","phoenix","heartbeat",{"b":"${'x'.repeat(1024 - tmpl.length)}"}]`;
    assert.equal(atLimit.length, 1024);
    c.sendText(atLimit);
    assert.equal(await c.nextText(), '[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]');
    c.write(wsFrame(0x1, Buffer.alloc(1025, 0x20)));
    assert.equal(await c.nextClose(), 1009);
    await c.waitClosed();
}));

test('message over --max-message-size across fragments -> close 1009', () => withBystander(['--max-frame-size', '1024', '--max-message-size', '2048'], async (srv) => {
    const c = await rawWs(srv);
    c.write(wsFrame(0x1, Buffer.alloc(1000, 0x20), { fin: false }));
    c.write(wsFrame(0x0, Buffer.alloc(1000, 0x20), { fin: false }));
    c.write(wsFrame(0x0, Buffer.alloc(1000, 0x20), { fin: true }));
    assert.equal(await c.nextClose(), 1009);
    await c.waitClosed();
}));

for (const [name, bytes] of [
    ['reserved data opcode 0x3', () => wsFrame(0x3, 'x')],
    ['reserved control opcode 0xb', () => wsFrame(0xb, 'x')],
    ['RSV1 set without an extension', () => wsFrame(0x1, '[]', { rsv: 4 })],
    ['continuation without a start', () => wsFrame(0x0, 'x')],
    ['fragmented control frame', () => wsFrame(0x9, 'x', { fin: false })],
    ['control frame over 125 bytes', () => wsFrame(0x9, Buffer.alloc(126))],
]) {
    test(`${name} -> close 1002`, () => withBystander([], async (srv) => {
        const c = await rawWs(srv);
        c.write(bytes());
        assert.equal(await c.nextClose(), 1002);
        await c.waitClosed();
    }));
}

test('text message in 3 fragments with a ping in between is reassembled', () => withBystander([], async (srv) => {
    const c = await rawWs(srv);
    const msg = Buffer.from('["1","1","room:lobby","phx_join",{"x":"ü"}]');
    // Split inside the two-byte "ü" to exercise UTF-8 across fragments.
    const cut = msg.indexOf(0xc3) + 1;
    c.write(wsFrame(0x1, msg.subarray(0, 10), { fin: false }));
    c.write(wsFrame(0x9, 'mid'));
    c.write(wsFrame(0x0, msg.subarray(10, cut), { fin: false }));
    c.write(wsFrame(0x0, msg.subarray(cut), { fin: true }));
    const pong = await c.nextFrame();
    assert.equal(pong.opcode, 0xa);
    assert.equal(pong.payload.toString(), 'mid');
    assert.equal(await c.nextText(), '["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
}));

test('ping -> pong with the same data', () => withBystander([], async (srv) => {
    const c = await rawWs(srv);
    for (const data of [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(125, 0xab)]) {
        c.write(wsFrame(0x9, data));
        const f = await c.nextFrame();
        assert.equal(f.opcode, 0xa);
        assert.equal(f.fin, true);
        assert.equal(f.payload.toString('hex'), data.toString('hex'));
    }
    // An unsolicited pong is ignored; the connection keeps working.
    c.write(wsFrame(0xa, 'unsolicited'));
    c.sendText('[null,"9","phoenix","heartbeat",{}]');
    assert.equal(await c.nextText(), '[null,"9","phoenix","phx_reply",{"response":{},"status":"ok"}]');
}));

test('close handshake: client close 1000 -> server echoes 1000 and closes TCP', () => withBystander([], async (srv) => {
    const c = await rawWs(srv);
    c.write(wsFrame(0x8, closePayload(1000, 'bye')));
    assert.equal(await c.nextClose(), 1000);
    await c.waitClosed();
}));

test('close handshake with the ws client: code 4000 echoed', () => withBystander([], async (srv) => {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    c.close(4000, 'custom');
    assert.equal((await c.waitClose()).code, 4000);
}));

test('close with a 1-byte payload -> 1002', () => withBystander([], async (srv) => {
    const c = await rawWs(srv);
    c.write(wsFrame(0x8, Buffer.from([0x03])));
    assert.equal(await c.nextClose(), 1002);
}));

// ------------------------------------------------------------ HTTP

const UPGRADE = (extra = {}, path = '/socket/websocket?vsn=2.0.0') => {
    const h = {
        Host: '127.0.0.1', Upgrade: 'websocket', Connection: 'Upgrade',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13', ...extra,
    };
    const lines = Object.entries(h).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
    return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
};

const httpCases = [
    ['malformed request line', 'GARBAGE\r\n\r\n', 400],
    ['GET /socket/websocket without upgrade headers', 'GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['upgrade without Sec-WebSocket-Key', UPGRADE({ 'Sec-WebSocket-Key': null }), 400],
    ['bad Sec-WebSocket-Version', UPGRADE({ 'Sec-WebSocket-Version': '8' }), 426],
    ['missing Sec-WebSocket-Version', UPGRADE({ 'Sec-WebSocket-Version': null }), 426],
    ['bad Sec-WebSocket-Key (not 16 bytes)', UPGRADE({ 'Sec-WebSocket-Key': 'abc' }), 400],
    ['POST upgrade', UPGRADE().replace(/^GET/, 'POST'), 400],
    ['vsn=3.0.0', UPGRADE({}, '/socket/websocket?vsn=3.0.0'), 403],
    ['vsn not semver', UPGRADE({}, '/socket/websocket?vsn=banana'), 403],
    ['upgrade on an unknown path', UPGRADE({}, '/nope/websocket'), 404],
    ['POST /health', 'POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 405],
    ['unknown path', 'GET /does/not/exist HTTP/1.1\r\nHost: x\r\n\r\n', 404],
    ['URL over 8 KiB', `GET /${'a'.repeat(8300)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
    ['headers over 16 KiB', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(17000)}\r\n\r\n`, 431],
    ['headers over 16 KiB in many lines', `GET /health HTTP/1.1\r\nHost: x\r\n${
        Array.from({ length: 90 }, (_, i) => `X-H${i}: ${'c'.repeat(200)}\r\n`).join('')}\r\n`, 431],
    ['more than 100 headers', `GET /health HTTP/1.1\r\nHost: x\r\n${
        Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`, 431],
    ['body over 1 MiB (content-length)', 'POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n', 413],
];

for (const [name, request, status] of httpCases) {
    test(`HTTP: ${name} -> ${status}`, () => withBystander([], async (srv) => {
        const res = await rawHttp(srv.port, request);
        assert.equal(res.status, status, res.statusLine);
    }));
}

test('HTTP: GET and HEAD /health -> 200', () => withBystander([], async (srv) => {
    const res = await rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).status, 'ok'); // the bennu binary's /health is JSON
    const c = await srv.tcp();
    c.write('HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => c.buf.includes('\r\n\r\n'), 3000, 'HEAD response');
    assert.match(c.buf.toString(), /^HTTP\/1\.1 200 /);
}));

test('HTTP: exactly 100 headers are accepted', () => withBystander([], async (srv) => {
    const res = await rawHttp(srv.port, `GET /health HTTP/1.1\r\n${
        Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`);
    assert.equal(res.status, 200);
}));

test('HTTP: request split byte by byte is still answered', () => withBystander([], async (srv) => {
    const c = await srv.tcp();
    c.sock.setNoDelay(true);
    const req = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';
    for (const ch of req) {
        c.write(ch);
        await new Promise((r) => setImmediate(r));
    }
    const res = await c.readResponse();
    assert.equal(res.status, 200);
}));

test('slowloris: half a request then silence -> closed by the server', () => withBystander(['--handshake-timeout', '500'], async (srv) => {
    const c = await srv.tcp();
    const t0 = Date.now();
    c.write('GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    await c.waitClosed(5000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 400, `closed too early (${elapsed} ms)`);
    // A WebSocket that joined is not subject to the handshake timeout: the
    // bystander (checked afterwards) has been connected longer than 500 ms.
}));

test('connected but silent before any byte -> closed after --handshake-timeout', () => withBystander(['--handshake-timeout', '500'], async (srv) => {
    const c = await srv.tcp();
    await c.waitClosed(5000);
}));

test('idle WebSocket -> closed with 1001 after --idle-timeout; a heartbeating one survives', () => withServer(['--idle-timeout', '500'], async (srv) => {
    const by = await bystander(srv);
    const beat = setInterval(() => by.send('[null,"hb","phoenix","heartbeat",{}]'), 100);
    try {
        const idle = await srv.ws();
        await idle.join('room:lobby', '1');
        const t0 = Date.now();
        const info = await idle.waitClose(5000);
        assert.equal(info.code, 1001);
        assert.ok(Date.now() - t0 >= 400, 'closed before the idle timeout');
        await srv.waitForLog(/event=idle_timeout /);
        await assertServerHealthy(srv, by);
    } finally {
        clearInterval(beat);
    }
}));

test('slow consumer: a client that stops reading is closed, the bystander keeps receiving', () => withServer(['--max-queued-bytes', '65536'], async (srv) => {
    const by = await bystander(srv);
    const slow = await rawWs(srv);
    slow.sendText('["1","1","room:lobby","phx_join",{}]');
    assert.equal(await slow.nextText(), '["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
    slow.sock.pause(); // stop reading: the kernel buffers fill, then the server queue

    const flooder = await srv.ws();
    await flooder.join('room:lobby', '1');
    // Bursts stay well under the limit (20 x ~2 KB per round trip), so only a
    // client that really stopped reading can accumulate 64 KiB.
    const body = 'z'.repeat(2000);
    let sent = 0;
    let ref = 1;
    // Flood in batches, each acknowledged by the flooder's own copy of the
    // last broadcast, until the server gives up on the slow client.
    while (!srv.logLines().some((l) => /event=slow_consumer /.test(l))) {
        assert.ok(sent < 40000, 'no slow_consumer after 80 MB of broadcasts');
        for (let i = 0; i < 20; i++) {
            flooder.send(['1', String(++ref), 'room:lobby', 'new_msg', { body: `${sent}:${body}` }]);
            sent++;
        }
        await flooder.waitForFrame((f) => f.text?.startsWith(`[null,null,"room:lobby","new_msg",{"body":"${sent - 1}:`), 10000);
    }
    // The bystander got every broadcast, in order.
    for (let i = 0; i < sent; i++) {
        const f = await by.waitForFrame(() => true, 10000);
        assert.ok(f.text.startsWith(`[null,null,"room:lobby","new_msg",{"body":"${i}:`), `broadcast ${i}`);
    }
    // Once the slow client reads again it finds its connection closed.
    slow.sock.resume();
    await slow.waitClosed(10000);
    await assertServerHealthy(srv, by);
}));

test('keep-alive: two GET /health on one connection are both answered', () => withBystander([], async (srv) => {
    const c = await srv.tcp();
    c.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    const r1 = await c.readResponse();
    assert.equal(r1.status, 200);
    assert.equal(JSON.parse(r1.body).status, 'ok');
    c.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    const r2 = await c.readResponse();
    assert.equal(r2.status, 200);
    assert.equal(JSON.parse(r2.body).status, 'ok');
    assert.equal(c.closed || c.ended, false);
}));

test('keep-alive: two pipelined GET /health in one write are both answered', () => withBystander([], async (srv) => {
    const c = await srv.tcp();
    c.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await c.readResponse()).status, 200);
    assert.equal((await c.readResponse()).status, 404);
}));

test('--max-connections: a connection beyond the limit -> 503, others unaffected', () => withServer(['--max-connections', '2'], async (srv) => {
    const by = await bystander(srv);
    const second = await srv.tcp();
    const third = await TcpClient.connect(srv.port);
    srv.track(third);
    third.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await third.readResponse()).status, 503);
    second.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await second.readResponse()).status, 200);
    by.send('["1","2","room:lobby","ping",{}]');
    await by.expect('["1","2","room:lobby","phx_reply",{"response":{},"status":"ok"}]');
}));

// ------------------------------------------------------------ command line

const badFlags = [
    ['--port', 'abc'],
    ['--port', '70000'],
    ['--port', '-1'],
    ['--port'],
    ['--bogus'],
    ['--log-level', 'loud'],
    ['--idle-timeout', '5'],
    ['--handshake-timeout', 'x'],
    ['--max-frame-size', '10'],
    ['--max-message-size', '1e6'],
    ['--max-queued-bytes', '0'],
    ['--max-connections', '0'],
    ['--max-channels', ''],
    ['positional'],
];

for (const args of badFlags) {
    test(`bad command line ${JSON.stringify(args)} -> exit 2 with a message`, async () => {
        const r = await runBennu(args);
        assert.equal(r.code, 2, `stderr: ${r.stderr}`);
        assert.match(r.stderr, /^bennu: .+/m);
        assert.doesNotMatch(r.stderr, /event=listening/);
    });
}

test('--help -> usage on stdout, exit 0', async () => {
    const r = await runBennu(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: bennu/);
    for (const flag of ['--port', '--bind', '--log-level', '--max-frame-size', '--max-message-size',
        '--idle-timeout', '--handshake-timeout', '--max-queued-bytes', '--max-connections',
        '--max-channels', '--help', '--version']) {
        assert.ok(r.stdout.includes(flag), `--help does not mention ${flag}`);
    }
});

test('--version -> exit 0', async () => {
    const r = await runBennu(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^bennu \d+\.\d+\.\d+/);
});
