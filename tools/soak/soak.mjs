#!/usr/bin/env node
// bennu soak: drives one real bennu node with connects, joins, broadcasts,
// slow consumers and abrupt disconnects for a while, samples the server's
// resident memory, and says whether it stayed flat. Off in CI (the test suite
// runs it for a few seconds only); run it on demand:
//
//   node tools/soak/soak.mjs --bennu build/bennu --minutes 10
//
// Verdict: FLAT when the RSS of the last sampling window is within
// --tolerance (default 10 %) of the first window after warm-up; exit 0 when
// flat and the server stayed up, 1 otherwise, 2 on usage errors.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { Socket } from 'phoenix';
import WebSocket from 'ws';

function usage(code) {
    const text = `usage: soak.mjs --bennu PATH [--minutes M | --seconds S] [--clients N]
                [--tolerance PCT] [--json]
  --bennu PATH     the bennu binary (default: build/bennu)
  --minutes M      how long to run (default 5); --seconds S for short runs
  --clients N      steady connected clients (default 200)
  --tolerance PCT  allowed RSS growth between the first and last window (default 10)
  --json           print one JSON line at the end`;
    (code === 0 ? console.log : console.error)(text);
    process.exit(code);
}

const opts = { bennu: 'build/bennu', seconds: 300, clients: 200, tolerance: 10, json: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
        if (i + 1 >= argv.length) {
            usage(2);
        }
        return argv[++i];
    };
    if (a === '--bennu') opts.bennu = next();
    else if (a === '--minutes') opts.seconds = Number(next()) * 60;
    else if (a === '--seconds') opts.seconds = Number(next());
    else if (a === '--clients') opts.clients = Number(next());
    else if (a === '--tolerance') opts.tolerance = Number(next());
    else if (a === '--json') opts.json = true;
    else if (a === '--help' || a === '-h') usage(0);
    else {
        console.error(`soak: unknown argument ${a}`);
        usage(2);
    }
}
if (!(opts.seconds > 0) || !(opts.clients > 0) || !(opts.tolerance >= 0)) {
    usage(2);
}

function rssKb(pid) {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) : 0;
}

async function startServer() {
    const proc = spawn(opts.bennu, ['--port', '0', '--no-mesh', '--log-level', 'info',
        '--max-queued-bytes', '65536', '--idle-timeout', '5000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const port = await new Promise((resolve, reject) => {
        proc.on('exit', (code) => reject(new Error(`bennu exited early (${code}): ${stderr}`)));
        proc.stderr.on('data', (d) => {
            stderr += d;
            const m = /event=listening .*?port=(\d+)/.exec(stderr);
            if (m) {
                resolve(Number(m[1]));
            }
        });
    });
    proc.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.length > 1 << 20) {
            stderr = stderr.slice(-65536);
        }
    });
    return { proc, port, log: () => stderr };
}

const stats = { connects: 0, joins: 0, broadcasts: 0, received: 0, abrupt: 0, slow: 0, errors: 0 };

function phoenixClient(port) {
    const socket = new Socket(`ws://127.0.0.1:${port}/socket`, { transport: WebSocket, reconnectAfterMs: () => 1000 });
    socket.onError(() => stats.errors++);
    socket.connect();
    stats.connects++;
    const channel = socket.channel('room:lobby', {});
    channel.on('new_msg', () => stats.received++);
    channel.join().receive('ok', () => stats.joins++);
    return { socket, channel };
}

// A client that joins and then never reads: the server must close it as a
// slow consumer instead of buffering for it.
function slowConsumer(port) {
    const s = net.connect(port, '127.0.0.1', () => {
        s.write(`GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
            `Sec-WebSocket-Version: 13\r\n\r\n`);
        const text = Buffer.from('["1","1","room:lobby","phx_join",{}]');
        const frame = Buffer.alloc(6 + text.length);
        frame[0] = 0x81;
        frame[1] = 0x80 | text.length;
        frame.writeUInt32BE(0, 2); // zero mask: payload as is
        text.copy(frame, 6);
        s.write(frame);
        s.pause();
    });
    s.on('error', () => {});
    stats.slow++;
    setTimeout(() => s.destroy(), 20000).unref();
}

async function main() {
    const server = await startServer();
    const { pid } = server.proc;
    let exited = null;
    server.proc.on('exit', (code, sig) => { exited = { code, sig }; });
    const clients = [];
    for (let i = 0; i < opts.clients; i++) {
        clients.push(phoenixClient(server.port));
    }
    const samples = [];
    const started = Date.now();
    const endAt = started + opts.seconds * 1000;
    const body = 'x'.repeat(512);
    let tick = 0;
    while (Date.now() < endAt && exited === null) {
        await new Promise((r) => setTimeout(r, 100));
        tick++;
        // Broadcasts: a few per tick from random clients.
        for (let k = 0; k < 5; k++) {
            const c = clients[Math.floor(Math.random() * clients.length)];
            if (c.channel.state === 'joined') {
                c.channel.push('new_msg', { body });
                stats.broadcasts++;
            }
        }
        // Churn: every 500 ms one client vanishes abruptly and one joins.
        if (tick % 5 === 0) {
            const i = Math.floor(Math.random() * clients.length);
            const old = clients[i];
            old.socket.conn?._socket?.destroy();
            old.socket.disconnect();
            stats.abrupt++;
            clients[i] = phoenixClient(server.port);
        }
        if (tick % 20 === 0) {
            slowConsumer(server.port);
        }
        if (tick % 10 === 0) {
            samples.push({ t: (Date.now() - started) / 1000, rss_kb: rssKb(pid) });
        }
    }
    for (const c of clients) {
        c.socket.disconnect();
    }
    const up = exited === null;
    if (up) {
        server.proc.kill('SIGTERM');
        await new Promise((r) => server.proc.on('exit', r));
    }
    // Windows: the first fifth after a 20 % warm-up, and the last fifth.
    const n = samples.length;
    const w = Math.max(1, Math.floor(n / 5));
    const avg = (a) => a.reduce((s, x) => s + x.rss_kb, 0) / Math.max(1, a.length);
    const first = avg(samples.slice(w, 2 * w));
    const last = avg(samples.slice(n - w));
    const growth = first > 0 ? ((last - first) / first) * 100 : 0;
    const sanitizer = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/.test(server.log());
    const flat = growth <= opts.tolerance;
    const ok = up && flat && !sanitizer && n >= 3;
    console.log(`soak: ${opts.seconds}s, ${opts.clients} clients`);
    console.log('  t(s)   rss(KiB)');
    for (const s of samples.filter((_, i) => i % Math.max(1, Math.floor(n / 12)) === 0 || i === n - 1)) {
        console.log(`  ${s.t.toFixed(0).padStart(4)}   ${String(s.rss_kb).padStart(8)}`);
    }
    console.log(`  connects ${stats.connects}  joins ${stats.joins}  broadcasts ${stats.broadcasts}  ` +
        `received ${stats.received}  abrupt disconnects ${stats.abrupt}  slow consumers ${stats.slow}`);
    console.log(`  rss first window ${first.toFixed(0)} KiB, last window ${last.toFixed(0)} KiB, ` +
        `growth ${growth.toFixed(1)} % (tolerance ${opts.tolerance} %)`);
    console.log(`  server ${up ? 'stayed up' : `exited ${JSON.stringify(exited)}`}; ` +
        `sanitizer reports: ${sanitizer ? 'YES' : 'none'}; verdict: ${ok ? 'FLAT' : 'FAIL'}`);
    if (opts.json) {
        console.log(JSON.stringify({ ...stats, seconds: opts.seconds, samples, first_kb: first,
            last_kb: last, growth_pct: growth, server_up: up, sanitizer, ok }));
    }
    process.exit(ok ? 0 : 1);
}

main().catch((e) => {
    console.error(`soak: ${e.message}`);
    process.exit(1);
});
