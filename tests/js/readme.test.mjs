// Every command block of README.md, run as written, so the examples cannot
// drift from what the code does. Fenced ```sh blocks run whole; in
// ```console blocks the lines starting with "$ " run (the rest is sample
// output). The blocks run in order in one bash (-e: any failing command
// fails the test, naming the block), in a scratch directory that stands for
// a clone after the README's two commands: the repository's files linked
// in, build/ being the build under test. A block with "&" lines starts
// servers: the test waits until each --port it names answers, and they run
// until the next such block or the end, then get SIGTERM and must exit 0
// (sanitizer-clean). When `unshare` allows, everything runs in a network
// namespace of its own, so the examples' fixed ports cannot collide with
// anything else on the machine. A block preceded by
// <!-- readme-test: skip: REASON --> is not run; the reason is printed.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { bennuBin } from './support/server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

/** The README's fenced sh/console blocks: {line, lang, text, skip}. */
export function readmeBlocks(markdown) {
    const lines = markdown.split('\n');
    const blocks = [];
    for (let i = 0; i < lines.length; i++) {
        const open = /^```(\w+)\s*$/.exec(lines[i]);
        if (!open) {
            continue;
        }
        let j = i + 1;
        while (j < lines.length && lines[j] !== '```') {
            j++;
        }
        const lang = open[1];
        if (lang === 'sh' || lang === 'console') {
            let k = i - 1;
            while (k >= 0 && lines[k].trim() === '') {
                k--;
            }
            const marker = k >= 0 ? /^<!-- readme-test: skip: (.*?) -->$/.exec(lines[k]) : null;
            blocks.push({ line: i + 1, lang, text: lines.slice(i + 1, j).join('\n'),
                skip: marker ? marker[1].trim() : null });
        }
        i = j;
    }
    return blocks;
}

/** The commands of a block: a console block's "$ " lines (with their
 *  continuation lines), an sh block whole. */
function commands(block) {
    if (block.lang === 'sh') {
        return block.text;
    }
    const out = [];
    const lines = block.text.split('\n');
    for (let i = 0; i < lines.length; i++) {
        if (!lines[i].startsWith('$ ')) {
            continue;
        }
        let cmd = lines[i].slice(2);
        while (cmd.endsWith('\\') && i + 1 < lines.length) {
            cmd += `\n${lines[++i]}`;
        }
        out.push(cmd);
    }
    return out.join('\n');
}

function startsServers(script) {
    return /&\s*(#.*)?$/m.test(script.replace(/&&/g, ''));
}

test('the README\'s command blocks parse: only sh/console, every skip has a reason', () => {
    const blocks = readmeBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    assert.ok(blocks.length >= 15, `only ${blocks.length} blocks found`);
    for (const b of blocks) {
        assert.ok(b.skip === null || b.skip.length > 10, `README.md:${b.line}: a skip needs a reason`);
    }
    // No indented (unfenced) command blocks: they would escape the test.
    const md = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    let inFence = false;
    const indented = [];
    md.split('\n').forEach((l, i) => {
        if (l.startsWith('```')) {
            inFence = !inFence;
        } else if (!inFence && /^ {4}\S/.test(l) && /^ {4}(\$ |\.\/|build\/|bennu|node |cmake |make )/.test(l)) {
            indented.push(`${i + 1}: ${l}`);
        }
    });
    assert.deepEqual(indented, [], 'commands outside fenced blocks');
    // No link or path that leaves the repository.
    assert.doesNotMatch(md, /\.\.\/shared|\]\(\.\.\//);
});

test('every README command block runs as written', { timeout: 240000 }, async (t) => {
    const md = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const blocks = readmeBlocks(md);
    const buildDir = process.env.BENNU_BUILD_DIR ?? path.dirname(bennuBin());
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-readme-'));
    for (const entry of fs.readdirSync(ROOT)) {
        if (entry === '.git' || entry.startsWith('build')) {
            continue;
        }
        fs.symlinkSync(path.join(ROOT, entry), path.join(scratch, entry));
    }
    fs.symlinkSync(path.resolve(buildDir), path.join(scratch, 'build'));

    // One bash script: block by block, with a marker line before each.
    let script = 'set -e -o pipefail\nservers=()\n' +
        'stop_servers() {\n' +
        '  local pid rc=0\n' +
        '  for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done\n' +
        '  for pid in "${servers[@]}"; do wait "$pid" || { echo "README-TEST server $pid exit $?" >&2; rc=1; }; done\n' +
        '  servers=()\n' +
        '  return $rc\n' +
        '}\n' +
        'wait_port() {\n' +
        '  local i\n' +
        '  for i in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done\n' +
        '  echo "README-TEST port $1 never answered" >&2; return 1\n' +
        '}\n';
    const ran = [];
    for (const b of blocks) {
        if (b.skip !== null) {
            t.diagnostic(`README.md:${b.line} not run: ${b.skip}`);
            continue;
        }
        const cmds = commands(b);
        const servers = startsServers(cmds);
        script += `echo "README-TEST block ${b.line}" >&2\n`;
        if (servers) {
            script += 'stop_servers\n';
        }
        const file = path.join(scratch, `.readme-block-${b.line}.sh`);
        fs.writeFileSync(file, `${cmds}\n`);
        // Sourced, so exports and background jobs belong to the one shell.
        script += `. ${JSON.stringify(file)}\n`;
        if (servers) {
            script += 'servers+=($(jobs -p))\n';
            // Every port the block names (HTTP and mesh: the HTTP port
            // opens first), else bennu's defaults.
            const ports = [...cmds.matchAll(/--(?:mesh-)?port (\d+)/g)].map((m) => m[1]);
            for (const p of ports.length > 0 ? ports : ['4000', '4370']) {
                script += `wait_port ${p}\n`;
            }
        }
        ran.push(b.line);
    }
    script += 'stop_servers\necho "README-TEST done" >&2\n';
    fs.writeFileSync(path.join(scratch, '.readme-test.sh'), script);

    const unshare = spawnSync('unshare', ['-rn', 'true']).status === 0;
    if (!unshare) {
        t.diagnostic('unshare -rn is not permitted here: running in the host network namespace');
    }
    const argv = unshare
        ? ['unshare', '-rn', 'bash', '-c', 'ip link set lo up && exec bash .readme-test.sh']
        : ['bash', '.readme-test.sh'];
    const env = { ...process.env };
    for (const k of ['SECRET_KEY_BASE', 'BENNU_COOKIE']) {
        delete env[k];
    }
    const proc = spawn(argv[0], argv.slice(1), { cwd: scratch, env, detached: true,
        stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => {
        try {
            process.kill(-proc.pid, 'SIGKILL');
        } catch {
            // gone
        }
    }, 200000);
    const closed = new Promise((resolve) => proc.on('close', resolve));
    // 'exit', not 'close': after a failed block its servers still hold the
    // output pipes open.
    const code = await new Promise((resolve) => proc.on('exit', (c) => resolve(c)));
    clearTimeout(timer);
    try {
        process.kill(-proc.pid, 'SIGKILL'); // anything a failed block left behind
    } catch {
        // all gone
    }
    await closed;
    const last = [...out.matchAll(/README-TEST block (\d+)/g)].pop()?.[1];
    try {
        assert.equal(code, 0, `README.md block at line ${last} failed (exit ${code}):\n${out.slice(-6000)}`);
        assert.match(out, /README-TEST done/);
        assert.doesNotMatch(out, SANITIZER_RE, out.slice(-6000));
        assert.ok(ran.length >= 5, `only ${ran.length} blocks ran`);
        // What the examples claim: the chaos run's report, the token round trip.
        assert.match(fs.readFileSync(path.join(scratch, 'chaos-report/report.txt'), 'utf8'),
            /result: PASS/);
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
});
