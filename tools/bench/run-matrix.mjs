#!/usr/bin/env node
// Benchmark matrix: Bennu vs limitsrv (the fanout yardstick), same
// parameters, server pinned to core 0 and bennu-bench to core 1. Builds
// nothing; writes results.json, report.md and SVG plots into --out.
//
//   node tools/bench/run-matrix.mjs --bennu PATH --bench PATH --limit PATH [--out DIR]
//        [--subs 100,1000,10000,18000] [--bodies 100,4096] [--pubs 1,4]
//        [--duration 10] [--warmup 2] [--window 64] [--callgrind] [--quick] [--broadcast-100k]
// --broadcast-100k adds the 100,000-socket --workers 6 row (broadcast-100k.mjs).
// Env fallbacks: BENNU_BIN, BENNU_BENCH_BIN, LIMITSRV_BIN.
// For testing before bennu exists: --bennu-cmd 'PATH --port {port} --coalesce'
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const flag = (name) => argv.includes(`--${name}`);
if (flag('help')) {
  const top = fs.readFileSync(new URL(import.meta.url)).toString().split('\n').slice(1);
  console.log(top.slice(0, top.findIndex((l) => !l.startsWith('//'))).join('\n'));
  process.exit(0);
}
const BENCH = opt('bench', process.env.BENNU_BENCH_BIN);
const BENNU = opt('bennu', process.env.BENNU_BIN);
const LIMIT = opt('limit', process.env.LIMITSRV_BIN);
const OUT = opt('out', 'bench-out');
const quick = flag('quick');
const list = (s) => s.split(',').map(Number);
const SUBS = list(opt('subs', quick ? '100,1000' : '100,1000,10000,18000'));
const BODIES = list(opt('bodies', quick ? '100' : '100,4096'));
const PUBS = list(opt('pubs', quick ? '1' : '1,4'));
const DURATION = opt('duration', quick ? '3' : '10');
const WARMUP = opt('warmup', quick ? '1' : '2');
const WINDOW = opt('window', '64');
const MAX_FILES = 20000;
if (!BENCH || !LIMIT || (!BENNU && !opt('bennu-cmd'))) {
  console.error('run-matrix: need --bench, --limit and --bennu (or BENNU_BENCH_BIN, LIMITSRV_BIN, BENNU_BIN)');
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });

const CHANNELS = fileURLToPath(new URL('./channels.json', import.meta.url));
const servers = {
  bennu: (port) => (opt('bennu-cmd') ? opt('bennu-cmd').replaceAll('{port}', port).split(' ')
    // The bench's room:* topics as plain broadcast channels: the demo chat
    // tracks Presence in room:lobby, which the limit server has no part of.
    : [BENNU, '--config', CHANNELS, '--port', String(port), '--bind', '127.0.0.1', '--log-level', 'warn']),
  limit: (port) => [LIMIT, '--port', String(port), '--coalesce'],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitPort(port, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((res) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); res(true); });
      s.on('error', () => res(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`server did not listen on ${port}`);
}
let nextPort = 4600 + Math.floor(Math.random() * 200);
async function startServer(kind, wrap = []) {
  const port = nextPort++;
  const cmd = [...wrap, ...servers[kind](port)];
  const child = spawn('taskset', ['-c', '0', ...cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  await waitPort(port, wrap.length ? 60000 : 10000);
  return { port, child, pid: child.pid, err: () => err };
}
async function stopServer(s) {
  s.child.kill('SIGTERM');
  await new Promise((r) => { if (s.child.exitCode !== null) r(); else s.child.on('exit', r); });
}
function bench(args) {
  const r = spawnSync('taskset', ['-c', '1', BENCH, '--quiet', ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const lines = (r.stdout || '').trim().split('\n');
  try { return JSON.parse(lines[lines.length - 1]); } catch { return { ok: false, error: (r.stderr || '').trim() }; }
}

// ---- fanout matrix ----
const rows = [];
for (const subs of SUBS) {
  for (const body of BODIES) {
    for (const pubs of PUBS) {
      if (subs + pubs + 16 > MAX_FILES) continue; // keep each process under the open-files limit
      const row = { subs, body, pubs };
      for (const kind of ['bennu', 'limit']) {
        const srv = await startServer(kind);
        const res = bench(['--port', String(srv.port), '--mode', 'fanout', '--subs', String(subs),
          '--pubs', String(pubs), '--body-size', String(body), '--window', WINDOW,
          '--duration', DURATION, '--warmup', WARMUP, '--server-pid', String(srv.pid)]);
        await stopServer(srv);
        row[kind] = res;
        console.error(`fanout subs=${subs} body=${body} pubs=${pubs} ${kind}: ` +
          (res.ok ? `${Math.round(res.deliveries_per_s)} deliveries/s p99 ${res.latency_us.p99.toFixed(0)} us` : `FAILED ${res.error || res.first_error}`));
      }
      rows.push(row);
    }
  }
}

// ---- fixed 20 broadcasts/s: server CPU per delivery ----
const cpuRows = [];
for (const subs of SUBS) {
  const row = { subs };
  for (const kind of ['bennu', 'limit']) {
    const srv = await startServer(kind);
    row[kind] = bench(['--port', String(srv.port), '--mode', 'fanout', '--subs', String(subs),
      '--pubs', '1', '--rate', '20', '--duration', DURATION, '--warmup', WARMUP,
      '--server-pid', String(srv.pid)]);
    await stopServer(srv);
  }
  cpuRows.push(row);
}

// ---- optional callgrind: instructions per delivery ----
const cg = {};
if (flag('callgrind')) {
  for (const kind of ['bennu', 'limit']) {
    const file = path.resolve(OUT, `callgrind.${kind}.out`);
    const srv = await startServer(kind, ['valgrind', '--tool=callgrind', `--callgrind-out-file=${file}`]);
    const res = bench(['--port', String(srv.port), '--mode', 'fanout', '--subs', '100', '--pubs', '1',
      '--rate', '50', '--duration', '5', '--warmup', '1', '--connect-timeout', '60',
      '--exec-start', `callgrind_control -z ${srv.pid} >/dev/null`,
      '--exec-end', `callgrind_control -d ${srv.pid} >/dev/null`]);
    await stopServer(srv);
    // The dump taken at the end of the window holds exactly the window's cost.
    const dumps = fs.readdirSync(OUT).filter((f) => f.startsWith(`callgrind.${kind}.out.`)).sort();
    let ir = NaN;
    for (const d of dumps) {
      const m = fs.readFileSync(path.join(OUT, d), 'utf8').match(/^(?:summary|totals):\s+(\d+)/m);
      if (m) ir = Number(m[1]);
    }
    cg[kind] = { instructions: ir, deliveries: res.deliveries, per_delivery: ir / res.deliveries };
    console.error(`callgrind ${kind}: ${(ir / res.deliveries).toFixed(0)} instructions/delivery`);
  }
}

fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ rows, cpuRows, callgrind: cg }, null, 1));

// ---- markdown ----
const f0 = (x) => (x === undefined || Number.isNaN(x) ? '-' : Math.round(x).toLocaleString('en-US'));
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : '-');
let md = `# Bennu fanout vs limitsrv --coalesce\n\nServer on core 0, bennu-bench on core 1; window ${WINDOW}, ` +
  `${DURATION} s measured after ${WARMUP} s warm-up. Deliveries count every joined socket (publishers included).\n\n` +
  '| subs | body B | pubs | Bennu deliv/s | limit deliv/s | Bennu/limit | Bennu p50/p99 µs | limit p50/p99 µs | Bennu lost/dup/reord | bench CPU % |\n' +
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';
for (const r of rows) {
  const b = r.bennu; const l = r.limit;
  const lat = (x) => (x.ok ? `${f0(x.latency_us.p50)} / ${f0(x.latency_us.p99)}` : 'failed');
  md += `| ${r.subs} | ${r.body} | ${r.pubs} | ${b.ok ? f0(b.deliveries_per_s) : 'failed'} | ${l.ok ? f0(l.deliveries_per_s) : 'failed'} | ` +
    `${ratio(b.deliveries_per_s, l.deliveries_per_s)} | ${lat(b)} | ${lat(l)} | ` +
    `${b.ok ? `${b.lost}/${b.duplicates}/${b.reordered}` : '-'} | ${f0(b.bench_cpu_pct)} / ${f0(l.bench_cpu_pct)} |\n`;
}
md += '\n## Server CPU per delivery at 20 broadcasts/s\n\n| subs | Bennu ns/delivery | limit ns/delivery | Bennu/limit |\n|---:|---:|---:|---:|\n';
for (const r of cpuRows) {
  md += `| ${r.subs} | ${f0(r.bennu.server_ns_per_delivery)} | ${f0(r.limit.server_ns_per_delivery)} | ` +
    `${ratio(r.bennu.server_ns_per_delivery, r.limit.server_ns_per_delivery)} |\n`;
}
md += '\n(/proc utime+stime has 10 ms resolution; at low subscriber counts these figures are coarse.)\n';
if (cg.bennu) {
  md += `\n## Callgrind (100 subscribers, 50 broadcasts/s, 5 s)\n\n| server | instructions/delivery |\n|---|---:|\n` +
    `| Bennu | ${f0(cg.bennu.per_delivery)} |\n| limit | ${f0(cg.limit.per_delivery)} |\n`;
}
if (flag('broadcast-100k')) {
  // Its own server and bench processes (not pinned: --workers 6 uses both cores).
  const r = spawnSync(process.execPath, [new URL('broadcast-100k.mjs', import.meta.url).pathname,
    '--bennu', BENNU, '--bench', BENCH, '--out', OUT], { stdio: ['ignore', 'ignore', 'inherit'] });
  const f = path.join(OUT, 'broadcast-100k.md');
  md += `\n## 100,000 sockets, --workers 6, 2 broadcasts/s\n\n${r.status === 0 && fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : 'failed\n'}`;
}
md += '\n![deliveries](deliveries.svg)\n\n![latency](latency.svg)\n';
fs.writeFileSync(path.join(OUT, 'report.md'), md);

// ---- SVG (hand-written, no dependencies) ----
const W = 720; const H = 420; const M = { l: 80, r: 200, t: 30, b: 50 };
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
function svgPlot({ title, xlabel, ylabel, series, xlog, ylog, xticks }) {
  const pts = series.flatMap((s) => s.points).filter((p) => p[1] > 0 && p[0] >= 0);
  if (!pts.length) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">no data</text></svg>`;
  const tx = (v) => (xlog ? Math.log10(v) : v); const ty = (v) => (ylog ? Math.log10(v) : v);
  let [x0, x1] = [Math.min(...pts.map((p) => tx(p[0]))), Math.max(...pts.map((p) => tx(p[0])))];
  let [y0, y1] = [ylog ? Math.min(...pts.map((p) => ty(p[1]))) : 0, Math.max(...pts.map((p) => ty(p[1])))];
  if (x1 === x0) x1 = x0 + 1; if (y1 === y0) y1 = y0 + 1;
  if (ylog) { y0 = Math.floor(y0); y1 = Math.ceil(y1); } else y1 *= 1.05;
  const X = (v) => M.l + ((tx(v) - x0) / (x1 - x0)) * (W - M.l - M.r);
  const Y = (v) => H - M.b - ((ty(v) - y0) / (y1 - y0)) * (H - M.t - M.b);
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n` +
    `<rect width="${W}" height="${H}" fill="white"/>\n<text x="${W / 2 - 100}" y="18" font-size="14">${esc(title)}</text>\n` +
    `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/>` +
    `<line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="black"/>\n`;
  for (let i = 0; i <= 5; i++) {
    const yv = y0 + ((y1 - y0) * i) / 5; const real = ylog ? 10 ** yv : yv; const py = Y(ylog ? real : yv);
    s += `<line x1="${M.l}" y1="${py}" x2="${W - M.r}" y2="${py}" stroke="#ddd"/><text x="${M.l - 6}" y="${py + 4}" text-anchor="end">${esc(real >= 1000 ? real.toExponential(1) : real.toPrecision(3))}</text>\n`;
  }
  for (const [v, label] of xticks) {
    s += `<text x="${X(v)}" y="${H - M.b + 16}" text-anchor="middle">${esc(label)}</text><line x1="${X(v)}" y1="${H - M.b}" x2="${X(v)}" y2="${H - M.b + 4}" stroke="black"/>\n`;
  }
  s += `<text x="${(M.l + W - M.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(xlabel)}</text>` +
    `<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle">${esc(ylabel)}</text>\n`;
  series.forEach((se, i) => {
    const c = colors[i % colors.length]; const p = se.points.filter((q) => q[1] > 0);
    s += `<polyline fill="none" stroke="${c}" stroke-width="2" ${se.dash ? 'stroke-dasharray="6 3"' : ''} points="${p.map((q) => `${X(q[0]).toFixed(1)},${Y(q[1]).toFixed(1)}`).join(' ')}"/>\n`;
    p.forEach((q) => { s += `<circle cx="${X(q[0]).toFixed(1)}" cy="${Y(q[1]).toFixed(1)}" r="3" fill="${c}"/>`; });
    s += `<text x="${W - M.r + 10}" y="${M.t + 16 * i + 10}" fill="${c}">${esc(se.name)}</text>\n`;
  });
  return `${s}</svg>\n`;
}
const dseries = [];
for (const body of BODIES) for (const pubs of PUBS) for (const kind of ['bennu', 'limit']) {
  dseries.push({ name: `${kind} ${body}B ${pubs}p`, dash: kind === 'limit',
    points: rows.filter((r) => r.body === body && r.pubs === pubs && r[kind].ok).map((r) => [r.subs, r[kind].deliveries_per_s]) });
}
fs.writeFileSync(path.join(OUT, 'deliveries.svg'), svgPlot({ title: 'Deliveries/s vs subscribers', xlabel: 'subscribers (log)',
  ylabel: 'deliveries/s', series: dseries, xlog: true, ylog: false, xticks: SUBS.map((s) => [s, String(s)]) }));
// Latency distribution: HDR-style percentile plot, x = 1/(1-q) on a log axis.
const lr = rows.find((r) => r.subs === Math.max(...rows.map((x) => x.subs)) && r.body === BODIES[0] && r.pubs === PUBS[0]) || rows[0];
const lseries = [];
for (const r of rows.filter((x) => x.body === BODIES[0] && x.pubs === PUBS[0])) for (const kind of ['bennu', 'limit']) {
  if (!r[kind].ok) continue;
  lseries.push({ name: `${kind} ${r.subs} subs`, dash: kind === 'limit',
    points: r[kind].latency_us.spectrum.filter(([q]) => q < 1 && q > 0).map(([q, us]) => [1 / (1 - q), us]) });
}
void lr;
fs.writeFileSync(path.join(OUT, 'latency.svg'), svgPlot({ title: `Latency percentiles (${BODIES[0]} B, ${PUBS[0]} publisher)`,
  xlabel: 'percentile', ylabel: 'latency µs (log)', series: lseries, xlog: true, ylog: true,
  xticks: [[1 / 0.9, '10%'], [2, '50%'], [10, '90%'], [100, '99%'], [1000, '99.9%'], [10000, '99.99%']] }));
console.log(md);
