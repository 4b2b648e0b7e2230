// bennu-chaos end to end: a short run of every named scenario on a
// 3-node cluster, asserting exit status 0, the three report files, and
// that report.json agrees (every invariant passes, messages flowed), plus
// what each attack scenario must show (duplicate-name, mitm, flood).
// Plus the usage errors (exit 2), and netns mode: as root, three scenarios
// with kernel faults between network namespaces (and nothing left behind);
// otherwise the announced fallback to proxy mode. Runs one scenario at a
// time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { bennuBin } from './support/server.mjs';

function chaosBin() {
    const dirs = [process.env.BENNU_BUILD_DIR, path.dirname(bennuBin())].filter(Boolean);
    for (const d of dirs) {
        const p = path.join(d, 'tools', 'bennu-chaos', 'bennu-chaos');
        if (fs.existsSync(p)) {
            return p;
        }
    }
    throw new Error('bennu-chaos not found: set BENNU_BUILD_DIR');
}

function runChaos(args, timeoutMs, env) {
    return new Promise((resolve, reject) => {
        const proc = spawn(chaosBin(), args, {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: env ?? process.env,
        });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`bennu-chaos ${args.join(' ')} timed out\n${stderr}`));
        }, timeoutMs);
        proc.on('exit', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr, pid: proc.pid });
        });
    });
}

const SCENARIOS = ['partition-halves', 'isolate-one', 'flapping-link', 'blackhole', 'slow-link',
    'kill-restart', 'pause-resume', 'random', 'duplicate-name', 'mitm', 'flood'];
// Seconds per run: flood needs 12 (its restart must fit inside the flood).
const DURATION = { flood: 12 };

// What the attack scenarios must show beyond the common invariants.
const ATTACK_CHECKS = {
    'duplicate-name': (rep, out, where) => {
        for (const inv of ['name_held', 'impostor_refused']) {
            assert.ok(rep.invariants[inv], `${inv} not judged: ${where}`);
        }
        const imp = rep.impostor;
        assert.equal(imp.starts, 1, where);
        assert.equal(imp.links, 0, where);
        assert.ok(imp.refusals.length >= 3 && imp.refusals.every((r) => r.reason === 'name_clash'),
            where);
        assert.ok(imp.name_clash_lines.every((n) => n > 0), where);
        assert.ok(imp.probe_rounds > 0 && imp.probe_rounds_wrong === 0, where);
        // The node it impersonated was never declared down while it ran.
        const fault = rep.faults[0];
        assert.ok(!rep.mesh_events.some((e) => e.event === 'nodedown' && e.peer === imp.as_node
            && e.t_ms >= fault.started_ms && e.t_ms <= fault.ended_ms + 1000), where);
        assert.ok(rep.exits.some((e) => e.node === -1 && e.status === 0 && e.expected), where);
        const log = fs.readFileSync(path.join(out, 'impostor.log'), 'utf8');
        assert.match(log, /event=mesh_refused .*reason=name_clash/);
        assert.doesNotMatch(log, /event=mesh_nodeup /);
    },
    mitm: (rep, out, where) => {
        for (const inv of ['tamper_detected', 'delivery_resumed']) {
            assert.ok(rep.invariants[inv], `${inv} not judged: ${where}`);
        }
        assert.ok(rep.tampers.length >= 4, where);
        for (const t of rep.tampers) {
            assert.equal(t.noticed, true, `${JSON.stringify(t)}\n${where}`);
            assert.equal(t.reason, t.expect, `${JSON.stringify(t)}\n${where}`);
        }
        const kinds = new Set(rep.tampers.map((t) => t.kind));
        assert.ok(kinds.size >= 4, `${[...kinds]}: ${where}`);
        assert.equal(rep.messages.unknown, 0);
        assert.ok(rep.resumed.expected.every((n) => n > 0), where);
        assert.deepEqual(rep.resumed.delivered, rep.resumed.expected);
    },
    flood: (rep, out, where) => {
        for (const inv of ['flood_contained', 'flood_rejoin', 'flood_http', 'flood_rss']) {
            assert.ok(rep.invariants[inv], `${inv} not judged: ${where}`);
        }
        const f = rep.flood;
        assert.ok(f.established >= f.target && f.target === 2000, where);
        assert.ok(f.hellos > 0 && f.closed_by_node > 0, where);
        assert.ok(f.max_open_after_burst <= 128 + 64, where);
        assert.ok(f.http_probes > 0 && f.http_ok === f.http_probes, where);
        assert.ok(f.rss_peak_kb > 0 && f.rss_peak_kb <= 65536, where);
        // The restarted node was linked with every node again within 4 s.
        assert.ok(f.restarted >= 0 && f.rejoin_ms >= 0 && f.rejoin_ms <= 4000, where);
        assert.ok(f.listening_ms >= 0 && f.listening_ms <= f.rejoin_ms, where);
        assert.ok(f.converged_ms >= f.rejoin_ms, where);
    },
};

test('list names every scenario', async () => {
    const r = await runChaos(['list'], 5000);
    assert.equal(r.code, 0);
    for (const s of SCENARIOS) {
        assert.match(r.stdout, new RegExp(`^${s} `, 'm'));
    }
});

test('usage errors exit 2', async () => {
    const rows = [
        [],
        ['run'],
        ['run', 'no-such-scenario'],
        ['run', 'blackhole', '--nodes', '1'],
        ['run', 'blackhole', '--duration', '2'],
        ['run', 'blackhole', '--bogus', '1'],
        ['run', 'blackhole', '--mode', 'bogus'],
        ['run', 'blackhole', '--bennu', '/nonexistent/bennu'],
        ['run', 'flood', '--duration', '11'],
    ];
    for (const args of rows) {
        const r = await runChaos(args, 5000);
        assert.equal(r.code, 2, `args ${JSON.stringify(args)}: ${r.stderr}`);
    }
});

for (const [i, scenario] of SCENARIOS.entries()) {
    test(`${scenario}: every invariant holds on 3 nodes`, async () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), `chaos-${scenario}-`));
        const seed = String(1000 + i);
        const r = await runChaos(['run', scenario, '--nodes', '3', '--duration',
            String(DURATION[scenario] ?? 9), '--seed', seed, '--out', out, '--bennu', bennuBin()],
        60000);
        const where = `scenario ${scenario} seed ${seed} (report in ${out})\n${r.stdout}`;
        for (const f of ['report.txt', 'report.json', 'timeline.svg', 'n0.log', 'n1.log', 'n2.log']) {
            assert.ok(fs.existsSync(path.join(out, f)), `${f} missing: ${where}`);
        }
        const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
        assert.equal(rep.scenario, scenario);
        assert.equal(rep.seed, Number(seed));
        for (const [name, inv] of Object.entries(rep.invariants)) {
            assert.equal(inv.pass, true, `${name}: ${inv.detail}\n${where}`);
        }
        assert.equal(r.code, 0, where);
        assert.equal(rep.pass, true);
        assert.ok(rep.faults.length >= 1 && rep.faults.every((f) => f.ran));
        assert.ok(rep.messages.sent > 0 && rep.messages.delivered > 0);
        assert.equal(rep.messages.duplicated, 0);
        assert.equal(rep.messages.reordered, 0);
        assert.equal(rep.messages.lost_unexplained, 0);
        assert.equal(rep.crashes, 0);
        const txt = fs.readFileSync(path.join(out, 'report.txt'), 'utf8');
        assert.match(txt, /^result: PASS$/m);
        const svg = fs.readFileSync(path.join(out, 'timeline.svg'), 'utf8');
        assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        assert.match(svg, /<\/svg>\s*$/);
        if (ATTACK_CHECKS[scenario]) {
            ATTACK_CHECKS[scenario](rep, out, where);
        } else {
            // The attack invariants are judged only where there is an attack.
            assert.equal(Object.keys(rep.invariants).length, 11, where);
        }
        fs.rmSync(out, { recursive: true, force: true });
    });
}

// ---- netns mode ----

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const NETNS_SCENARIOS = ['partition-halves', 'blackhole', 'slow-link'];

// Names of the network objects a harness with this pid made (netns_plan.h).
function netnsLeftovers(pid) {
    const mine = (n) => n === `bnc-br${pid}` || new RegExp(`^bnc${pid}[nvp]\\d+$`).test(n);
    const list = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
    return [...list('/run/netns'), ...list('/sys/class/net')].filter(mine);
}

if (IS_ROOT) {
    for (const [i, scenario] of NETNS_SCENARIOS.entries()) {
        test(`netns mode, ${scenario}: every invariant holds and nothing is left behind`,
            async () => {
                const out = fs.mkdtempSync(path.join(os.tmpdir(), `chaos-netns-${scenario}-`));
                const seed = String(2000 + i);
                const r = await runChaos(['run', scenario, '--mode', 'netns', '--nodes', '3',
                    '--duration', '8', '--seed', seed, '--out', out, '--bennu', bennuBin()],
                60000);
                const where = `netns ${scenario} seed ${seed} (report in ${out})\n${r.stdout}\n${r.stderr}`;
                const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
                assert.equal(rep.mode, 'netns', where);
                for (const [name, inv] of Object.entries(rep.invariants)) {
                    assert.equal(inv.pass, true, `${name}: ${inv.detail}\n${where}`);
                }
                assert.equal(r.code, 0, where);
                assert.match(r.stdout, /mode: netns/);
                // The faults really went through the kernel.
                const ns = rep.netns;
                assert.equal(ns.command_failures, 0, `${ns.last_error}\n${where}`);
                assert.equal(ns.namespaces.length, 3);
                assert.match(ns.subnet, /^10\.213\.\d+\.0\/24$/);
                assert.deepEqual(rep.proxies, []);
                if (scenario === 'slow-link') {
                    assert.ok(ns.flows.some((f) => f.delayed_packets > 0), where);
                    assert.ok(ns.tc_updates >= 2, where);
                    assert.equal(rep.messages.lost_unexplained, 0);
                } else {
                    assert.ok(ns.rule_updates >= 2, where);
                }
                if (scenario === 'partition-halves') {
                    // REJECT cut: noticed through resets, long before a tick timeout.
                    assert.ok(rep.down_detection.length > 0, where);
                    assert.ok(ns.flows.some((f) => f.sockets_destroyed > 0), where);
                }
                assert.deepEqual(netnsLeftovers(r.pid), [], where);
                fs.rmSync(out, { recursive: true, force: true });
            });
    }

    test('the attack scenarios refuse netns mode (exit 2)', async () => {
        for (const scenario of ['duplicate-name', 'mitm', 'flood']) {
            const r = await runChaos(['run', scenario, '--mode', 'netns', '--bennu', bennuBin()],
                5000);
            assert.equal(r.code, 2, r.stderr);
            assert.match(r.stderr, /runs in proxy mode only/);
        }
    });

    test('netns mode without a working `ip` is a setup error (exit 2)', async () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-netns-noip-'));
        const r = await runChaos(['run', 'blackhole', '--mode', 'netns', '--out', out, '--bennu',
            bennuBin()], 10000, { ...process.env, PATH: '/nonexistent' });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /netns mode cannot be set up: .*ip .*command not found/);
        assert.deepEqual(netnsLeftovers(r.pid), []);
        fs.rmSync(out, { recursive: true, force: true });
    });
} else {
    test('netns mode without root says so and runs in proxy mode', async () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-netns-fallback-'));
        const r = await runChaos(['run', 'blackhole', '--mode', 'netns', '--nodes', '3',
            '--duration', '8', '--seed', '2001', '--out', out, '--bennu', bennuBin()], 60000);
        assert.match(r.stderr, /--mode netns needs root .*so proxy mode is used instead/);
        const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
        assert.equal(rep.mode, 'proxy');
        assert.equal(r.code, 0, r.stdout);
        fs.rmSync(out, { recursive: true, force: true });
    });
}

test('the same seed gives the same random schedule', async () => {
    const outs = [];
    for (let k = 0; k < 2; k++) {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-seed-'));
        // A binary that cannot form a cluster still writes the schedule.
        await runChaos(['run', 'random', '--duration', '12', '--seed', '42', '--out', out,
            '--bennu', '/bin/false', '--quiet'], 40000);
        outs.push(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')));
        fs.rmSync(out, { recursive: true, force: true });
    }
    const plan = (rep) => rep.faults.map((f) => [f.kind, f.a, f.b, f.planned_start_ms, f.planned_end_ms]);
    assert.deepEqual(plan(outs[0]), plan(outs[1]));
    assert.equal(outs[0].pass, false);
    assert.equal(outs[0].invariants.cluster_formed.pass, false);
});
