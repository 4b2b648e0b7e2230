// Test support for the JavaScript integration tests: start/stop a real bennu
// process, raw WebSocket clients (the `ws` package), raw TCP clients with a
// hand-written RFC 6455 framer (for frames `ws` refuses to send), and
// bounded polling. Nothing here sleeps for synchronisation: every wait is a
// poll on an observable condition with a deadline.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export { WebSocket };

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Path of the bennu binary: $BENNU_BIN (set by ctest), else a build dir guess. */
export function bennuBin() {
    if (process.env.BENNU_BIN) {
        return process.env.BENNU_BIN;
    }
    const guesses = [
        path.resolve(HERE, '../../../build/bennu'),
        path.resolve(HERE, '../../../build/src/app/bennu'),
    ];
    for (const g of guesses) {
        if (fs.existsSync(g)) {
            return g;
        }
    }
    throw new Error('BENNU_BIN is not set and no build/bennu was found');
}

/** bennuctl is built next to bennu, in tools/bennuctl/ of the build dir. */
export function bennuctlBin() {
    const dirs = [process.env.BENNU_BUILD_DIR, path.dirname(bennuBin())].filter(Boolean);
    for (const d of dirs) {
        const p = path.join(d, 'tools/bennuctl/bennuctl');
        if (fs.existsSync(p)) {
            return p;
        }
    }
    throw new Error(`bennuctl not found under ${dirs.join(', ')}`);
}

/** Default deadline of every wait, generous enough for sanitizer builds. */
export const DEFAULT_TIMEOUT = 5000;

/** Poll `predicate` (sync or async) every 5 ms until it returns a truthy
 *  value, which is returned; throws after `timeoutMs`. `what` (a string or a
 *  function returning one, evaluated only on timeout) names the condition. */
export async function waitFor(predicate, timeoutMs = DEFAULT_TIMEOUT, what = 'condition') {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await predicate();
        if (v) {
            return v;
        }
        if (Date.now() > deadline) {
            const desc = typeof what === 'function' ? what() : what;
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${desc}`);
        }
        await new Promise((r) => setTimeout(r, 5));
    }
}

/** Race a promise against a deadline. */
export function withTimeout(promise, timeoutMs, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)),
            timeoutMs);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer/;

// Servers still alive when the test process exits (a failed test) are killed.
const live = new Set();
process.on('exit', () => {
    for (const s of live) {
        try {
            s.proc.kill('SIGKILL');
        } catch {
            // already gone
        }
    }
});

/** Run the bennu binary to completion with `args` (for flag tests). */
export function runBennu(args, timeoutMs = DEFAULT_TIMEOUT) {
    return withTimeout(new Promise((resolve, reject) => {
        const proc = spawn(bennuBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        proc.on('error', reject);
        proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    }), timeoutMs, `bennu ${args.join(' ')}`);
}

export class BennuServer {
    constructor(proc, args) {
        this.proc = proc;
        this.args = args;
        this.stderr = '';
        this.stdout = '';
        this.port = null;
        this.exit = null; // {code, signal} once exited
        this.clients = new Set(); // sockets to tear down after the server stops
        this.exited = new Promise((resolve) => {
            proc.on('close', (code, signal) => {
                this.exit = { code, signal };
                live.delete(this);
                resolve(this.exit);
            });
        });
        proc.stderr.setEncoding('utf8');
        proc.stdout.setEncoding('utf8');
        proc.stderr.on('data', (d) => { this.stderr += d; });
        proc.stdout.on('data', (d) => { this.stdout += d; });
    }

    /** Base URL of the Phoenix WebSocket endpoint with the given query. */
    wsUrl(query = 'vsn=2.0.0') {
        return `ws://127.0.0.1:${this.port}/socket/websocket${query ? `?${query}` : ''}`;
    }

    /** Endpoint to give phoenix.js's Socket (it appends /websocket). */
    get socketEndpoint() {
        return `ws://127.0.0.1:${this.port}/socket`;
    }

    logLines() {
        return this.stderr.split('\n').filter((l) => l.length > 0);
    }

    /** Wait until a stderr line matches `re`; returns the line. */
    waitForLog(re, timeoutMs = DEFAULT_TIMEOUT) {
        return waitFor(() => this.logLines().find((l) => re.test(l)), timeoutMs,
            () => `log line ${re}\n--- stderr so far ---\n${this.stderr}`);
    }

    assertNoSanitizerReports() {
        assert.doesNotMatch(this.stderr, SANITIZER_RE,
            `sanitizer report in bennu stderr:\n${this.stderr}`);
    }

    /** Open a raw `ws` client registered for teardown. */
    async ws(query = 'vsn=2.0.0', opts = {}) {
        const c = await WsClient.connect(this.wsUrl(query), opts);
        this.clients.add(c);
        return c;
    }

    /** Open a raw TCP client registered for teardown. */
    async tcp() {
        const c = await TcpClient.connect(this.port);
        this.clients.add(c);
        return c;
    }

    /** Register something with a close()/disconnect() for teardown. */
    track(thing) {
        this.clients.add(thing);
        return thing;
    }

    /** SIGTERM, wait for a clean exit (code 0) and assert no sanitizer
     *  reports; then drop every client still around. */
    async stop() {
        try {
            if (this.exit === null) {
                this.proc.kill('SIGTERM');
            }
            const ex = await withTimeout(this.exited, 15000, 'bennu exit after SIGTERM');
            assert.deepEqual(ex, { code: 0, signal: null },
                `bennu did not exit cleanly:\n${this.stderr}`);
            this.assertNoSanitizerReports();
        } finally {
            if (this.exit === null) {
                this.proc.kill('SIGKILL');
            }
            for (const c of this.clients) {
                if (typeof c.disconnect === 'function') {
                    c.disconnect();
                } else if (typeof c.destroy === 'function') {
                    c.destroy();
                }
            }
            this.clients.clear();
        }
    }
}

/** Start bennu on port 0 (or opts.port) with extra `args`; resolves once the
 *  listening log line gave the port. */
export async function startServer(args = [], opts = {}) {
    const full = ['--port', String(opts.port ?? 0), '--log-level', opts.logLevel ?? 'info', ...args];
    const proc = spawn(bennuBin(), full, { stdio: ['ignore', 'pipe', 'pipe'] });
    const srv = new BennuServer(proc, full);
    live.add(srv);
    try {
        const line = await waitFor(() => {
            if (srv.exit !== null) {
                throw new Error(`bennu exited early (${JSON.stringify(srv.exit)}):\n${srv.stderr}`);
            }
            return srv.logLines().find((l) => /event=listening /.test(l));
        }, 10000, 'event=listening');
        const m = / port=(\d+)/.exec(line);
        assert.ok(m, `no port in: ${line}`);
        srv.port = Number(m[1]);
        assert.ok(srv.port > 0);
        if (opts.port) {
            assert.equal(srv.port, opts.port);
        }
    } catch (e) {
        proc.kill('SIGKILL');
        throw e;
    }
    return srv;
}

/** Run `fn(srv)` against a fresh server and always stop it (asserting exit 0
 *  and a sanitizer-clean stderr), even when `fn` failed. */
export async function withServer(args, fn, opts = {}) {
    const srv = await startServer(args, opts);
    let failure = null;
    try {
        await fn(srv);
    } catch (e) {
        failure = e;
    }
    try {
        await srv.stop();
    } catch (e) {
        if (failure === null) {
            failure = e;
        } else {
            failure.message += `\n(also on stop: ${e.message})`;
        }
    }
    if (failure !== null) {
        if (failure.message !== undefined && !failure.message.includes('--- bennu stderr')) {
            failure.message += `\n--- bennu stderr (tail) ---\n${srv.stderr.slice(-4000)}`;
        }
        throw failure;
    }
}

// ------------------------------------------------------------------ raw `ws`

/** A `ws` client that records every frame it receives, in order. Frames are
 *  {binary: false, text} or {binary: true, data: Buffer}. `next()` consumes
 *  them one at a time. */
/** Is `text` a Presence message (presence_state / presence_diff /
 *  presence_count) in either JSON serializer? The demo chat tracks every
 *  room:lobby join (docs/presence.md), so raw clients skip these unless asked
 *  for them ({presence: true}); exact-frame tests stay about their subject. */
export function isPresenceText(text) {
    if (!text.includes('"presence_')) {
        return false;
    }
    try {
        const m = JSON.parse(text);
        const ev = Array.isArray(m) ? m[3] : m?.event;
        return ev === 'presence_state' || ev === 'presence_diff' || ev === 'presence_count';
    } catch {
        return false;
    }
}

export class WsClient {
    constructor(ws, { presence = false } = {}) {
        this.ws = ws;
        this.frames = [];
        this.cursor = 0;
        this.closeInfo = null;
        this.errors = [];
        ws.on('message', (data, isBinary) => {
            if (isBinary) {
                this.frames.push({ binary: true, data: Buffer.from(data) });
            } else {
                const text = data.toString('utf8');
                if (presence || !isPresenceText(text)) {
                    this.frames.push({ binary: false, text });
                }
            }
        });
        ws.on('error', (e) => this.errors.push(e));
        this.closed = new Promise((resolve) => {
            ws.on('close', (code, reason) => {
                this.closeInfo = { code, reason: reason.toString() };
                resolve(this.closeInfo);
            });
        });
    }

    static connect(url, opts = {}) {
        const { presence = false, ...wsOpts } = opts;
        return new Promise((resolve, reject) => {
            const ws = new WebSocket(url, wsOpts);
            const c = new WsClient(ws, { presence });
            ws.once('open', () => resolve(c));
            ws.once('error', reject);
            ws.once('unexpected-response', (_req, res) => {
                reject(new Error(`unexpected HTTP ${res.statusCode} on upgrade`));
            });
        });
    }

    /** Send a string as text, a Buffer as binary, anything else as JSON text. */
    send(x) {
        if (typeof x === 'string') {
            this.ws.send(x);
        } else if (Buffer.isBuffer(x)) {
            this.ws.send(x, { binary: true });
        } else {
            this.ws.send(JSON.stringify(x));
        }
    }

    /** Send raw bytes in a text frame (no UTF-8 validation by `ws`). */
    sendTextBytes(buf) {
        this.ws.send(buf, { binary: false });
    }

    /** Next unconsumed frame. */
    async next(timeoutMs = DEFAULT_TIMEOUT) {
        await waitFor(() => this.frames.length > this.cursor || this.closeInfo !== null,
            timeoutMs, () => `a frame (received so far: ${JSON.stringify(this.frames).slice(-2000)})`);
        if (this.frames.length > this.cursor) {
            return this.frames[this.cursor++];
        }
        throw new Error(`socket closed (${JSON.stringify(this.closeInfo)}) while waiting for a frame`);
    }

    async nextText(timeoutMs) {
        const f = await this.next(timeoutMs);
        assert.equal(f.binary, false, `expected a text frame, got binary ${f.data?.toString('hex')}`);
        return f.text;
    }

    /** Assert the next frame is exactly the text `expected`. */
    async expect(expected, timeoutMs) {
        assert.equal(await this.nextText(timeoutMs), expected);
    }

    /** Skip frames until one satisfies `pred` (a text or a predicate on the
     *  frame); returns it. */
    async waitForFrame(pred, timeoutMs = DEFAULT_TIMEOUT) {
        const match = typeof pred === 'string' ? (f) => !f.binary && f.text === pred : pred;
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const f = await this.next(Math.max(1, deadline - Date.now()));
            if (match(f)) {
                return f;
            }
        }
    }

    /** Frames received but not yet consumed. */
    pending() {
        return this.frames.slice(this.cursor);
    }

    /** Join `topic` with the given join_ref/ref and assert the ok reply. */
    async join(topic, joinRef = '1', ref = joinRef) {
        this.send([joinRef, ref, topic, 'phx_join', {}]);
        await this.expect(JSON.stringify([joinRef, ref, topic, 'phx_reply',
            { response: {}, status: 'ok' }]));
    }

    async waitClose(timeoutMs = DEFAULT_TIMEOUT) {
        return withTimeout(this.closed, timeoutMs, 'websocket close');
    }

    close(code, reason) {
        this.ws.close(code, reason);
    }

    destroy() {
        if (this.closeInfo === null) {
            this.ws.terminate();
        }
    }
}

// ------------------------------------------------------------------ raw TCP

/** Build one client->server WebSocket frame. */
export function wsFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0,
    length = undefined } = {}) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const len = length ?? data.length;
    const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode)];
    const m = mask ? 0x80 : 0;
    if (len < 126) {
        head.push(m | len);
    } else if (len < 65536) {
        head.push(m | 126, len >> 8, len & 0xff);
    } else {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(BigInt(len));
        head.push(m | 127, ...b);
    }
    if (!mask) {
        return Buffer.concat([Buffer.from(head), data]);
    }
    const key = crypto.randomBytes(4);
    const body = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i++) {
        body[i] = data[i] ^ key[i & 3];
    }
    return Buffer.concat([Buffer.from(head), key, body]);
}

/** Close-frame payload for `code`. */
export function closePayload(code, reason = '') {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    return Buffer.concat([b, Buffer.from(reason)]);
}

/** A raw TCP connection that buffers everything the server sends and knows
 *  when the server ended (FIN) or reset the connection. */
export class TcpClient {
    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.ended = false; // FIN from the server
        this.closed = false; // socket fully closed (FIN or error)
        this.error = null;
        sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); });
        sock.on('end', () => { this.ended = true; });
        sock.on('error', (e) => { this.error = e; });
        sock.on('close', () => { this.closed = true; });
    }

    static connect(port) {
        return new Promise((resolve, reject) => {
            const sock = net.connect({ host: '127.0.0.1', port });
            sock.once('connect', () => resolve(new TcpClient(sock)));
            sock.once('error', reject);
        });
    }

    write(data) {
        this.sock.write(data);
    }

    /** Wait until the server has closed the connection (FIN or RST). */
    async waitClosed(timeoutMs = DEFAULT_TIMEOUT) {
        await waitFor(() => this.closed || this.ended, timeoutMs, 'server to close the TCP connection');
    }

    /** Read one HTTP response (head + content-length body) off the buffer. */
    async readResponse(timeoutMs = DEFAULT_TIMEOUT) {
        const head = await waitFor(() => {
            const i = this.buf.indexOf('\r\n\r\n');
            if (i >= 0) {
                return i;
            }
            if (this.closed || this.ended) {
                throw new Error(`connection closed before a full response; got ${JSON.stringify(this.buf.toString())}`);
            }
            return undefined;
        }, timeoutMs, () => `an HTTP response (have ${JSON.stringify(this.buf.toString())})`);
        const lines = this.buf.subarray(0, head).toString('latin1').split('\r\n');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(lines[0]);
        assert.ok(m, `bad status line: ${lines[0]}`);
        const headers = {};
        for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        const clen = Number(headers['content-length'] ?? 0);
        await waitFor(() => this.buf.length >= head + 4 + clen || this.closed, timeoutMs, 'response body');
        const body = this.buf.subarray(head + 4, head + 4 + clen).toString();
        this.buf = this.buf.subarray(head + 4 + clen);
        return { status: Number(m[1]), statusLine: lines[0], headers, body };
    }

    /** Perform a WebSocket upgrade on this connection; asserts 101. */
    async upgrade(pathAndQuery = '/socket/websocket?vsn=2.0.0') {
        const key = crypto.randomBytes(16).toString('base64');
        this.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        const res = await this.readResponse();
        assert.equal(res.status, 101, res.statusLine);
        const accept = crypto.createHash('sha1')
            .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        assert.equal(res.headers['sec-websocket-accept'], accept);
        return res;
    }

    /** Parse one server->client WebSocket frame off the buffer. Server
     *  frames must be unmasked. Returns {fin, opcode, payload}. */
    async nextFrame(timeoutMs = DEFAULT_TIMEOUT) {
        const frame = await waitFor(() => {
            const f = parseServerFrame(this.buf);
            if (f) {
                return f;
            }
            if (this.closed || this.ended) {
                throw new Error(`connection closed while waiting for a frame (buffer ${this.buf.toString('hex')})`);
            }
            return undefined;
        }, timeoutMs, 'a WebSocket frame');
        this.buf = this.buf.subarray(frame.size);
        return frame;
    }

    /** Send a masked text frame carrying `msg` (JSON-encoded unless a string). */
    sendText(msg) {
        this.write(wsFrame(0x1, typeof msg === 'string' ? msg : JSON.stringify(msg)));
    }

    /** Next frame, asserted to be a text frame; returns its text. */
    async nextText(timeoutMs) {
        const f = await this.nextFrame(timeoutMs);
        assert.equal(f.opcode, 0x1, `expected a text frame, got opcode ${f.opcode}`);
        return f.payload.toString('utf8');
    }

    /** Next frame, asserted to be a close frame; returns its code. */
    async nextClose(timeoutMs) {
        const f = await this.nextFrame(timeoutMs);
        assert.equal(f.opcode, 0x8, `expected a close frame, got opcode ${f.opcode} ${f.payload}`);
        assert.ok(f.payload.length >= 2, 'close frame without a code');
        return f.payload.readUInt16BE(0);
    }

    destroy() {
        this.sock.destroy();
    }
}

function parseServerFrame(buf) {
    if (buf.length < 2) {
        return null;
    }
    const fin = (buf[0] & 0x80) !== 0;
    const rsv = (buf[0] >> 4) & 7;
    const opcode = buf[0] & 0x0f;
    assert.equal(buf[1] & 0x80, 0, 'server frames must not be masked');
    assert.equal(rsv, 0, 'server set RSV bits');
    let len = buf[1] & 0x7f;
    let off = 2;
    if (len === 126) {
        if (buf.length < 4) {
            return null;
        }
        len = buf.readUInt16BE(2);
        off = 4;
    } else if (len === 127) {
        if (buf.length < 10) {
            return null;
        }
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
    }
    if (buf.length < off + len) {
        return null;
    }
    return { fin, opcode, payload: Buffer.from(buf.subarray(off, off + len)), size: off + len };
}

/** Send `request` (string or Buffer) on a fresh TCP connection and read one
 *  response. Returns {status, headers, body, client}. */
export async function rawHttp(port, request, timeoutMs = DEFAULT_TIMEOUT) {
    const c = await TcpClient.connect(port);
    try {
        c.write(request);
        const res = await c.readResponse(timeoutMs);
        return { ...res, client: c };
    } finally {
        c.destroy();
    }
}

// ------------------------------------------------------------------ bystander

/** A raw client joined to room:lobby, used to show a bad client did not hurt
 *  anyone else. */
export async function bystander(srv) {
    const c = await srv.ws();
    await c.join('room:lobby', '1');
    return c;
}

let probeSeq = 0;
/** Assert the server still serves: GET /health answers 200 and a fresh
 *  client's new_msg reaches the bystander `by`. */
export async function assertServerHealthy(srv, by) {
    const h = await rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(h.status, 200);
    const sender = await srv.ws();
    await sender.join('room:lobby', '1');
    const body = `probe-${++probeSeq}`;
    sender.send(['1', '2', 'room:lobby', 'new_msg', { body }]);
    const expected = JSON.stringify([null, null, 'room:lobby', 'new_msg', { body }]);
    await by.waitForFrame(expected);
    assert.equal(by.closeInfo, null, 'bystander was closed');
    sender.destroy();
}
