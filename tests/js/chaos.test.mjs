// bennu-chaos end to end: a short run of every named scenario on a
// 3-node cluster, asserting exit status 0, the three report files, and
// that report.json agrees (every invariant passes, messages flowed).
// Plus the usage errors (exit 2). Runs one scenario at a time.
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

function runChaos(args, timeoutMs) {
    return new Promise((resolve, reject) => {
        const proc = spawn(chaosBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
            resolve({ code, signal, stdout, stderr });
        });
    });
}

const SCENARIOS = ['partition-halves', 'isolate-one', 'flapping-link', 'blackhole', 'slow-link',
    'kill-restart', 'pause-resume', 'random'];

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
        ['run', 'blackhole', '--mode', 'netns'],
        ['run', 'blackhole', '--bennu', '/nonexistent/bennu'],
    ];
    for (const args of rows) {
        const r = await runChaos(args, 5000);
        assert.equal(r.code, 2, `args ${JSON.stringify(args)}: ${r.stderr}`);
    }
    const netns = await runChaos(['run', 'blackhole', '--mode', 'netns'], 5000);
    assert.match(netns.stderr, /only proxy mode/);
});

for (const [i, scenario] of SCENARIOS.entries()) {
    test(`${scenario}: every invariant holds on 3 nodes`, async () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), `chaos-${scenario}-`));
        const seed = String(1000 + i);
        const r = await runChaos(['run', scenario, '--nodes', '3', '--duration', '9', '--seed',
            seed, '--out', out, '--bennu', bennuBin()], 60000);
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
