#!/usr/bin/env node
// One --workers node, 100,000 joined WebSockets on one topic, a fixed broadcast
// rate: how long one broadcast takes to reach every socket, and what it costs.
// The sockets are spread over --procs bennu-bench processes (one process may
// hold 20,000 descriptors): --procs - 1 of them only listen (--listen-pubs 1),
// the last one also publishes. The topic is a plain broadcast channel of a
// --config file (no Presence). Builds nothing; writes broadcast-100k.json and
// broadcast-100k.md into --out.
//
//   node tools/bench/broadcast-100k.mjs --bennu PATH --bench PATH [--sockets 100000]
//        [--workers 6] [--procs 6] [--rate 2] [--duration 20] [--warmup 5]
//        [--port 4700] [--mesh-port 4710] [--out DIR] [--sched-batch]
// Env fallbacks: BENNU_BIN, BENNU_BENCH_BIN.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
if (argv.includes('--help')) {
  const top = fs.readFileSync(new URL(import.meta.url)).toString().split('\n').slice(1);
  console.log(top.slice(0, top.findIndex((l) => !l.startsWith('//'))).join('\n'));
  process.exit(0);
}
const BENNU = opt('bennu', process.env.BENNU_BIN);
const BENCH = opt('bench', process.env.BENNU_BENCH_BIN);
const SOCKETS = Number(opt('sockets', '100000'));
const WORKERS = Number(opt('workers', '6'));
const PROCS = Number(opt('procs', '6'));
const RATE = opt('rate', '2');
const DURATION = opt('duration', '20');
const WARMUP = opt('warmup', '5');
const PORT = Number(opt('port', '4700'));
const MESH_PORT = Number(opt('mesh-port', '4710'));
const OUT = opt('out', 'bench-out');
// --sched-batch: the bench processes run SCHED_BATCH, so their wake-ups do
// not preempt the workers in the middle of a fanout.
const BATCH = argv.includes('--sched-batch');
if (!BENNU || !BENCH) {
  console.error('broadcast-100k: need --bennu and --bench (or BENNU_BIN, BENNU_BENCH_BIN)');
  process.exit(2);
}
if (Math.ceil(SOCKETS / PROCS) + 64 > 20000) {
  console.error(`broadcast-100k: ${Math.ceil(SOCKETS / PROCS)} sockets per bench process is over the 20,000 descriptors of one process; raise --procs`);
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-100k-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.error(`broadcast-100k: ${s}`);

async function canConnect(port) {
  return new Promise((res) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); res(true); });
    s.on('error', () => res(false));
  });
}

function children(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** utime+stime seconds and VmRSS bytes of each pid, read now. */
function sample(pids) {
  const hz = 100; // USER_HZ on Linux
  let cpu = 0;
  let rss = 0;
  for (const p of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu += (Number(f[11]) + Number(f[12])) / hz;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      rss += m ? Number(m[1]) * 1024 : 0;
    } catch {
      // a worker that is gone counts nothing
    }
  }
  return { cpu, rss, t: Date.now() };
}

function runBench(args, onStderr) {
  const cmd = BATCH ? ['chrt', '--batch', '0', BENCH] : [BENCH];
  const child = spawn(cmd[0], [...cmd.slice(1), '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; onStderr?.(err); });
  const done = new Promise((resolve) => child.on('close', (code) => {
    const lines = out.trim().split('\n');
    let json = null;
    try { json = JSON.parse(lines[lines.length - 1]); } catch { /* failed run */ }
    resolve({ code, json, err });
  }));
  return { child, done };
}

const pct = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : NaN);

const conditions = { loadavg_before: os.loadavg(), cpus: os.cpus().length, started: new Date().toISOString(), sched_batch: BATCH };
const cookie = crypto.randomBytes(16).toString('hex');
// A plain broadcast channel: the demo chat's room:lobby tracks Presence,
// whose diffs would make every join a broadcast to everyone already there.
const config = path.join(tmp, 'bennu.json');
fs.writeFileSync(config, JSON.stringify({ channels: [{ topic: 'bench:*', join: 'anyone', events: 'broadcast' }] }));
const server = spawn(BENNU, ['--config', config, '--port', String(PORT), '--mesh-port', String(MESH_PORT), '--workers', String(WORKERS),
  '--cookie', cookie, '--log-level', 'warn', '--max-connections', String(SOCKETS + 1000)],
{ stdio: ['ignore', 'ignore', 'pipe'], detached: true });
let serverErr = '';
server.stderr.on('data', (d) => { serverErr += d; });
const benches = [];
let result;
try {
  // Every worker listening on its mesh port and the HTTP port answering.
  const t0 = Date.now();
  for (;;) {
    let up = children(server.pid).length === WORKERS && await canConnect(PORT);
    for (let i = 0; up && i < WORKERS; i++) {
      up = await canConnect(MESH_PORT + i);
    }
    if (up) break;
    if (Date.now() - t0 > 60000 || server.exitCode !== null) throw new Error(`workers did not start:\n${serverErr}`);
    await sleep(100);
  }
  await sleep(3000); // the siblings' links come up within a tick
  const pids = [server.pid, ...children(server.pid)];
  const idle = sample(pids);
  log(`${WORKERS} workers up, ${(idle.rss / 1048576).toFixed(1)} MiB RSS in all`);

  // The listeners connect together; the publisher's process after them.
  const per = Math.floor(SOCKETS / PROCS);
  const common = ['--port', String(PORT), '--topic', 'bench:all', '--warmup', WARMUP, '--duration', DURATION, '--drain', '10',
    '--connect-timeout', '900', '--heartbeat', '30'];
  const ready = [];
  const tc0 = Date.now();
  for (let i = 0; i < PROCS - 1; i++) {
    ready.push(new Promise((resolve) => {
      benches.push(runBench([...common, '--subs', String(per), '--pubs', '0', '--listen-pubs', '1'],
        (err) => { if (/sockets joined/.test(err)) resolve(Date.now()); }));
    }));
  }
  const readyAt = await Promise.race([Promise.all(ready),
    Promise.all(benches.map((b) => b.done)).then((r) => { throw new Error(`a listener failed: ${r.map((x) => x.err).join('\n')}`); })]);
  const listenersJoined = per * (PROCS - 1);
  const connectS = PROCS > 1 ? (Math.max(...readyAt) - tc0) / 1000 : 0;
  log(`${listenersJoined} listener sockets joined in ${connectS.toFixed(1)} s`);
  const leadSubs = SOCKETS - listenersJoined - 1;
  const mark0 = path.join(tmp, 'start');
  const mark1 = path.join(tmp, 'end');
  const lead = runBench([...common, '--subs', String(leadSubs), '--pubs', '1', '--rate', RATE,
    '--exec-start', `touch ${mark0}`, '--exec-end', `touch ${mark1}`]);
  benches.push(lead);
  let s0 = null;
  let s1 = null;
  while (!s1) {
    if (!s0 && fs.existsSync(mark0)) s0 = sample(pids);
    if (s0 && fs.existsSync(mark1)) s1 = sample(pids);
    if (lead.child.exitCode !== null && !s1) break;
    await sleep(20);
  }
  const runs = await Promise.all(benches.map((b) => b.done));
  conditions.loadavg_after = os.loadavg();
  const failed = runs.filter((r) => !r.json);
  if (failed.length || !s0 || !s1) {
    throw new Error(`bench failed: ${failed.map((r) => r.err).join('\n')}`);
  }
  const js = runs.map((r) => r.json);
  const leadJson = js[js.length - 1];
  const joined = js.reduce((a, j) => a + j.joined, 0);
  const sum = (k) => js.reduce((a, j) => a + (j[k] || 0), 0);
  // Each broadcast sent while measuring: sockets reached and last arrival.
  const [q0, q1] = leadJson.measure_seqs;
  const bc = new Map();
  for (const j of js) {
    for (const [seq, count, lastUs] of j.broadcasts) {
      if (seq < q0 || seq >= q1) continue;
      const e = bc.get(seq) || { count: 0, last: 0 };
      e.count += count;
      e.last = Math.max(e.last, lastUs);
      bc.set(seq, e);
    }
  }
  const lasts = [...bc.values()].map((e) => e.last / 1000).sort((a, b) => a - b);
  const complete = [...bc.values()].filter((e) => e.count === joined).length;
  const deliveries = sum('deliveries');
  const secs = leadJson.measured_s;
  const cpuS = s1.cpu - s0.cpu;
  result = {
    sockets: joined,
    workers: WORKERS,
    bench_processes: PROCS,
    rate: Number(RATE),
    measured_s: secs,
    // The listeners connect together (the publisher's process after them).
    connect_join_per_s: PROCS > 1 ? listenersJoined / connectS : js[0].joined / js[0].connect_s,
    rss_idle_bytes: idle.rss,
    rss_joined_bytes: s0.rss,
    rss_end_bytes: s1.rss,
    bytes_per_socket: (s0.rss - idle.rss) / joined,
    broadcasts_measured: bc.size,
    broadcasts_complete: complete,
    reach_all_ms: { p50: pct(lasts, 0.5), p99: pct(lasts, 0.99), max: lasts[lasts.length - 1] },
    // In send order: a rising series means the node (or the host) does not keep up.
    reach_all_series_ms: [...bc.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => Math.round(e.last / 1000)),
    delivery_latency_us: {
      p50_median_of_procs: js.map((j) => j.latency_us.p50).sort((a, b) => a - b)[Math.floor(js.length / 2)],
      p99_max_of_procs: Math.max(...js.map((j) => j.latency_us.p99)),
      max: Math.max(...js.map((j) => j.latency_us.max)),
    },
    deliveries_measured: deliveries,
    deliveries_per_s: deliveries / secs,
    server_cpu_s: cpuS,
    server_cpu_pct: (100 * cpuS) / secs,
    server_us_per_delivery: (cpuS * 1e6) / deliveries,
    bench_cpu_s: js.reduce((a, j) => a + j.bench_user_s + j.bench_sys_s, 0),
    lost: sum('lost'),
    duplicates: sum('duplicates'),
    reordered: sum('reordered'),
    bad_bodies: sum('bad_bodies'),
    disconnects: sum('disconnects'),
    conditions,
    procs: js.map((j) => ({ joined: j.joined, connect_s: j.connect_s, published: j.published,
      expected: j.expected, received: j.received, lost: j.lost, duplicates: j.duplicates,
      reordered: j.reordered, deliveries: j.deliveries, latency_us: j.latency_us })),
  };
} finally {
  for (const b of benches) {
    if (b.child.exitCode === null) b.child.kill('SIGTERM');
  }
  try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
  fs.rmSync(tmp, { recursive: true, force: true });
}

const f0 = (x) => Math.round(x).toLocaleString('en-US');
const md = `| sockets | workers | rate | connect+join/s | RSS total | bytes/socket | reach all p50 / p99 / max | deliveries/s | server CPU per delivery | lost / dup / reordered |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ${f0(result.sockets)} | ${result.workers} | ${result.rate}/s | ${f0(result.connect_join_per_s)} | ${(result.rss_joined_bytes / 1048576).toFixed(0)} MiB | ${f0(result.bytes_per_socket)} | ${f0(result.reach_all_ms.p50)} / ${f0(result.reach_all_ms.p99)} / ${f0(result.reach_all_ms.max)} ms | ${f0(result.deliveries_per_s)} | ${result.server_us_per_delivery.toFixed(2)} us | ${result.lost} / ${result.duplicates} / ${result.reordered} |

${result.broadcasts_measured} broadcasts measured over ${result.measured_s.toFixed(1)} s, ${result.broadcasts_complete} reached all ${f0(result.sockets)} sockets; ${result.disconnects} disconnects. Server CPU ${result.server_cpu_pct.toFixed(0)} % of one core (all workers, the hop included), bench ${result.bench_cpu_s.toFixed(1)} s CPU${BATCH ? ' (SCHED_BATCH)' : ''}. Load average ${conditions.loadavg_before.map((x) => x.toFixed(1)).join(' ')} before, ${conditions.loadavg_after.map((x) => x.toFixed(1)).join(' ')} after, ${conditions.cpus} CPUs, ${conditions.started}.
`;
fs.writeFileSync(path.join(OUT, 'broadcast-100k.json'), `${JSON.stringify(result, null, 1)}\n`);
fs.writeFileSync(path.join(OUT, 'broadcast-100k.md'), md);
console.log(md);
