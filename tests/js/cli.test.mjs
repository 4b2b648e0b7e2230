// The command line and start-up under abuse: bad command lines (each one
// exit 2 with a message naming the flag), host names for --bind, log values
// a client controls (quoted, so they cannot forge fields), secret files
// (mode and size), secrets on the command line (warned about, blanked in
// argv, never passed on in a worker's argv), and the --workers supervisor
// (gives up on a worker that cannot start; refuses a port already taken).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import {
    TcpClient, bennuBin, bennuctlBin, runBennu, startServer, waitFor, withServer, withTimeout,
} from './support/server.mjs';

const COOKIE = 'cli-test-COOKIE-4f1d2a9e77';
const SECRET = 'cli-test-SECRET-key-base-0123456789abcdef';

// ------------------------------------------------------------ bad command lines

const P = ['--port', '0'];
const badCommandLines = [
    [['--port'], /^bennu: option --port needs a value/m],
    [['--port', '--bind', '127.0.0.1'], /^bennu: option --port needs a value, got the option --bind/m],
    [[...P, '--bind', ''], /^bennu: option --bind needs a value/m],
    [[...P, '--bind=', '--no-mesh'], /^bennu: option --bind needs a value/m],
    [['--po', '4000'], /^bennu: unknown option --po \(did you mean --port\?/m],
    [[...P, '--dev=yes'], /^bennu: option --dev takes no value/m],
    [[...P, '--check-origin', 'maybe'],
        /^bennu: invalid value for --check-origin: 'maybe' \(accepted: off, conn, host, or a comma list of origins scheme:\/\/host\[:port\]/m],
    [[...P, '--check-origin', 'https://ok.example,not an origin'], /--check-origin: 'https:\/\/ok.example,not an origin'/],
    [[...P, '--check-origin', 'https://ok.example:99999'], /--check-origin/],
    [[...P, '--check-origin', 'https://ok.example/path'], /--check-origin/],
    [[...P, '--check-origin', 'https://ok.example,'], /--check-origin/],
    [[...P, '--log-level', 'loud'], /--log-level: 'loud' \(accepted: debug, info, warn, error, off\)/],
    [[...P, '--rate-burst', '5'], /^bennu: --rate-burst needs --rate-limit/m],
    [[...P, '--rate-limit', '0', '--rate-burst', '5'], /^bennu: --rate-burst needs --rate-limit/m],
    [[...P, '--url-host', 'example.com'], /^bennu: --url-host is used only by --check-origin host/m],
    [[...P, '--check-origin', 'conn', '--url-host', 'example.com'], /--url-host/],
    [[...P, '--no-mesh', '--join', '127.0.0.1:4370'], /^bennu: --join has no effect with --no-mesh/m],
    [[...P, '--no-mesh', '--mesh-port', '4370'], /^bennu: --mesh-port has no effect with --no-mesh/m],
    [[...P, '--join', 'no-port'], /^bennu: --join expects HOST:PORT/m],
    [[...P, '--join', '127.0.0.1:0'], /^bennu: --join expects HOST:PORT/m],
    [[...P, '--bind', 'no-such-host.invalid'], /^bennu: --bind: cannot resolve 'no-such-host.invalid'/m],
    [[...P, '--mesh-bind', 'no-such-host.invalid'], /^bennu: --mesh-bind: cannot resolve/m],
    [[...P, '--secret-key-base', SECRET, '--secret-key-base-file', '/nonexistent'],
        /--secret-key-base or --secret-key-base-file, not both/],
    [[...P, '--cookie', COOKIE, '--cookie-file', '/nonexistent'], /--cookie or --cookie-file, not both/],
    [[...P, '--cookie-file', '/nonexistent/cookie'], /^bennu: --cookie-file: cannot read \/nonexistent\/cookie/m],
    [['--port', '4000', '--workers', '2', '--mesh-port', '65535'], /--workers 2 needs mesh ports 65535 to 65536/],
    [[...P, 'stray'], /^bennu: unexpected argument 'stray'/m],
];

test('bad command lines: exit 2, a message naming the flag, nothing started', async () => {
    for (const [args, re] of badCommandLines) {
        const r = await runBennu(args);
        assert.equal(r.code, 2, `bennu ${JSON.stringify(args)}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, re, `bennu ${JSON.stringify(args)}`);
        assert.doesNotMatch(r.stderr, /event=listening|AddressSanitizer|runtime error:/);
        for (const secret of [COOKIE, SECRET]) {
            assert.ok(!r.stderr.includes(secret), `a secret in the message of ${JSON.stringify(args)}`);
        }
    }
});

test('--bind localhost and origin lists with spaces around entries are accepted', async () => {
    await withServer(['--no-mesh', '--bind', 'localhost', '--check-origin',
        'https://a.example, //*.b.example:8443,http://[::1]:4000'], async (srv) => {
        const line = srv.logLines().find((l) => / event=listening /.test(l));
        assert.match(line, / bind=(127\.0\.0\.1|::1) /);
        const res = await fetch(`http://127.0.0.1:${srv.port}/health`);
        assert.equal(res.status, 200);
    });
});

// ------------------------------------------------------------ log values

/** A logfmt line as [key, value] pairs in order (quoted values unescaped). */
function parseLogfmt(line) {
    const pairs = [];
    let i = 0;
    while (i < line.length) {
        while (line[i] === ' ') {
            i++;
        }
        const eq = line.indexOf('=', i);
        assert.ok(eq > i, `no key at ${i} in ${line}`);
        const key = line.slice(i, eq);
        assert.match(key, /^[a-z_#0-9]+$/, `bad key ${JSON.stringify(key)} in ${line}`);
        i = eq + 1;
        let value = '';
        if (line[i] === '"') {
            i++;
            while (line[i] !== '"') {
                assert.ok(i < line.length, `unterminated quote in ${line}`);
                if (line[i] === '\\') {
                    const e = line[i + 1];
                    if (e === 'x') {
                        value += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
                        i += 4;
                    } else {
                        value += { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' }[e];
                        i += 2;
                    }
                } else {
                    value += line[i++];
                }
            }
            i++;
        } else {
            const sp = line.indexOf(' ', i);
            const end = sp < 0 ? line.length : sp;
            value = line.slice(i, end);
            i = end;
        }
        pairs.push([key, value]);
    }
    return pairs;
}

test('a client-controlled Origin is logged as one quoted value and cannot forge fields', async () => {
    const origin = 'http://evil.example level=error event=forged "x"\\y';
    await withServer(['--no-mesh'], async (srv) => {
        const c = await TcpClient.connect(srv.port);
        srv.track(c);
        c.write(`GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n` +
            `Origin: ${origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
        const res = await c.readResponse();
        assert.equal(res.status, 403);
        const line = await srv.waitForLog(/ event=connect_refused reason=origin /);
        assert.ok(line.includes(' origin="http://evil.example level=error event=forged \\"x\\"\\\\y"'), line);
        const pairs = parseLogfmt(line);
        const keys = pairs.map(([k]) => k);
        assert.deepEqual(keys, ['ts', 'level', 'event', 'reason', 'transport', 'origin']);
        const fields = Object.fromEntries(pairs);
        assert.equal(fields.level, 'info');
        assert.equal(fields.event, 'connect_refused');
        assert.equal(fields.origin, origin);
    });
});

// ------------------------------------------------------------ secrets

function runCtl(args) {
    return withTimeout(new Promise((resolve, reject) => {
        const proc = spawn(bennuctlBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        proc.stderr.on('data', (d) => { stderr += d; });
        proc.on('error', reject);
        proc.on('close', (code) => resolve({ code, stderr }));
    }), 10000, `bennuctl ${args.join(' ')}`);
}

test('secret files: group/other access and oversize files are refused (exit 2)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-cli-'));
    const file = (name, text, mode) => {
        const f = path.join(dir, name);
        fs.writeFileSync(f, text, { mode });
        fs.chmodSync(f, mode);
        return f;
    };
    try {
        const open = file('cookie-644', `${COOKIE}\n`, 0o644);
        const groupSkb = file('skb-640', `${SECRET}\n`, 0o640);
        const writable = file('cookie-602', `${COOKIE}\n`, 0o602);
        const bigCookie = file('cookie-big', 'c'.repeat(1024), 0o600);
        const bigSkb = file('skb-big', 's'.repeat(4096), 0o600);
        const okCookie = file('cookie-ok', `${'c'.repeat(1023)}\n\n`, 0o600);
        const modeRows = [
            [['--cookie-file', open], open, '0644'],
            [['--cookie-file', writable], writable, '0602'],
            [['--secret-key-base-file', groupSkb], groupSkb, '0640'],
            [['token', 'mint', '--user', '1', '--secret-key-base-file', groupSkb], groupSkb, '0640'],
        ];
        for (const [args, f, mode] of modeRows) {
            const r = await runBennu(args[0] === 'token' ? args : [...P, '--mesh-port', '0', ...args]);
            assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
            assert.ok(r.stderr.includes(`${f} has mode ${mode}`), r.stderr);
            assert.ok(r.stderr.includes(`chmod 600 ${f}`), r.stderr);
            assert.ok(!r.stderr.includes(COOKIE) && !r.stderr.includes(SECRET));
        }
        const ctl = await runCtl(['--node', '127.0.0.1:1', '--cookie-file', open, 'members']);
        assert.equal(ctl.code, 2, ctl.stderr);
        assert.ok(ctl.stderr.includes(`${open} has mode 0644`) && ctl.stderr.includes('chmod 600'), ctl.stderr);

        let r = await runBennu([...P, '--mesh-port', '0', '--cookie-file', bigCookie]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /cookie-big is too large: a secret file holds at most 1023 bytes/);
        r = await runBennu([...P, '--secret-key-base-file', bigSkb]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /skb-big is too large: a secret file holds at most 4095 bytes/);
        // The maximum itself fits; its trailing newlines are not counted.
        const ok = await startServer(['--mesh-port', '0', '--cookie-file', okCookie]);
        await ok.stop();
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test('secrets on the command line: warned about, never logged, blanked in argv', async () => {
    const srv = await startServer(['--mesh-port', '0', '--cookie', COOKIE, '--secret-key-base', SECRET]);
    try {
        const cmdline = fs.readFileSync(`/proc/${srv.proc.pid}/cmdline`, 'utf8');
        assert.ok(!cmdline.includes(COOKIE) && !cmdline.includes(SECRET), cmdline);
        assert.match(cmdline, /--cookie\0x+\0/);
    } finally {
        await srv.stop();
    }
    assert.match(srv.stderr, / level=warn event=secret_in_argv flag=--cookie detail="visible to every local user in ps; use --cookie-file or BENNU_COOKIE"/);
    assert.match(srv.stderr, / level=warn event=secret_in_argv flag=--secret-key-base detail=/);
    assert.ok(!srv.stderr.includes(COOKIE) && !srv.stderr.includes(SECRET));
    // From the environment: no warning.
    const env = await new Promise((resolve) => {
        const p = spawn(bennuBin(), [...P, '--mesh-port', '0', '--log-level', 'info'],
            { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BENNU_COOKIE: COOKIE } });
        let err = '';
        let killed = false;
        p.stderr.on('data', (d) => {
            err += d;
            if (!killed && /event=listening/.test(err)) {
                killed = true;
                p.kill('SIGTERM');
            }
        });
        p.on('close', (code) => resolve({ code, err }));
    });
    assert.equal(env.code, 0, env.err);
    assert.doesNotMatch(env.err, /secret_in_argv/);
});

// ------------------------------------------------------------ --workers

function canBind(port) {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
}

/** n consecutive free ports below the ephemeral range. */
async function freePorts(n) {
    for (let i = 0; i < 200; i++) {
        const p = 20000 + Math.floor(Math.random() * 12000);
        let ok = true;
        for (let k = 0; k < n && ok; k++) {
            ok = await canBind(p + k);
        }
        if (ok) {
            return p;
        }
    }
    throw new Error('no free ports');
}

function listenOn(port) {
    return new Promise((resolve, reject) => {
        const s = net.createServer((c) => c.destroy());
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve(s));
    });
}

/** Removes the lock file a supervisor of port leaves behind (by design: it
 *  is never unlinked while in use); only once every supervisor is gone. */
function removeLock(port) {
    fs.rmSync(`/tmp/bennu-workers-${port}.lock`, { force: true });
}

/** A supervisor in its own process group; `done` resolves to {code, signal}. */
function supervisor(args, env = {}) {
    const proc = spawn(bennuBin(), args, {
        stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, ...env },
    });
    const s = { proc, stderr: '' };
    proc.stderr.on('data', (d) => { s.stderr += d; });
    s.done = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    s.killGroup = () => {
        try {
            process.kill(-proc.pid, 'SIGKILL');
        } catch {
            // already gone
        }
    };
    return s;
}

test('--workers: secrets reach workers in the environment only; a second supervisor is refused', async () => {
    const base = await freePorts(5); // HTTP base, mesh base+1..base+2, second mesh base+3..+4
    const a = supervisor(['--port', String(base), '--mesh-port', String(base + 1), '--workers', '2',
        '--cookie', COOKIE, '--secret-key-base', SECRET, '--log-level', 'info']);
    try {
        await waitFor(() => (a.stderr.match(/ event=listening /g) || []).length >= 2, 15000,
            () => `both workers listening:\n${a.stderr}`);
        const pids = [...a.stderr.matchAll(/event=worker_started worker=\d pid=(\d+)/g)].map((m) => Number(m[1]));
        assert.equal(pids.length, 2);
        for (const pid of pids) {
            const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
            assert.ok(!cmdline.includes('--cookie') && !cmdline.includes('--secret-key-base'), cmdline.join(' '));
            assert.ok(!cmdline.some((x) => x.includes(COOKIE) || x.includes(SECRET) || /^x+$/.test(x)));
            const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
            assert.ok(environ.includes(`BENNU_COOKIE=${COOKIE}`));
            assert.ok(environ.includes(`SECRET_KEY_BASE=${SECRET}`));
        }
        assert.equal((a.stderr.match(/event=secret_in_argv/g) || []).length, 2, 'the supervisor warns, once per flag');

        const b = supervisor(['--port', String(base), '--mesh-port', String(base + 3), '--workers', '2']);
        try {
            assert.deepEqual(await withTimeout(b.done, 10000, 'second supervisor'), { code: 1, signal: null });
            assert.match(b.stderr, new RegExp(`^bennu: another bennu --workers supervisor is running on port ${base}`, 'm'));
            assert.doesNotMatch(b.stderr, /worker_started/);
        } finally {
            b.killGroup();
        }
        a.proc.kill('SIGTERM');
        assert.deepEqual(await withTimeout(a.done, 15000, 'supervisor exit'), { code: 0, signal: null });
        assert.doesNotMatch(a.stderr, /AddressSanitizer|runtime error:/);
        assert.ok(!a.stderr.includes(COOKIE) && !a.stderr.includes(SECRET));
    } finally {
        a.killGroup();
        removeLock(base);
    }
});

test('--workers: an HTTP port held by another server is refused (exit 1)', async () => {
    const base = await freePorts(3);
    const holder = await listenOn(base);
    try {
        const s = supervisor(['--port', String(base), '--mesh-port', String(base + 1), '--workers', '2']);
        try {
            assert.deepEqual(await withTimeout(s.done, 10000, 'supervisor'), { code: 1, signal: null });
            assert.match(s.stderr, new RegExp(`^bennu: port ${base} on 127\\.0\\.0\\.1 is already in use`, 'm'));
        } finally {
            s.killGroup();
        }
    } finally {
        holder.close();
        removeLock(base);
    }
});

test('--workers: a worker that fails to start 5 times in a row makes the supervisor give up (exit 1)', async () => {
    const base = await freePorts(3);
    const holder = await listenOn(base + 2); // worker 1's mesh port
    try {
        const s = supervisor(['--port', String(base), '--mesh-port', String(base + 1), '--workers', '2',
            '--log-level', 'info']);
        try {
            assert.deepEqual(await withTimeout(s.done, 30000, 'supervisor to give up'), { code: 1, signal: null });
            assert.equal((s.stderr.match(/event=worker_start_failed worker=1 /g) || []).length, 4, s.stderr);
            assert.match(s.stderr, /^bennu: worker 1 failed to start 5 times in a row \(exit status 1\); giving up\. Last error: bennu: cannot listen for the mesh on 127\.0\.0\.1:\d+: address already in use$/m);
            assert.match(s.stderr, /event=worker_exit worker=0 status=0/); // the healthy sibling was stopped
            assert.doesNotMatch(s.stderr, /AddressSanitizer|runtime error:/);
        } finally {
            s.killGroup();
        }
    } finally {
        holder.close();
        removeLock(base);
    }
});
