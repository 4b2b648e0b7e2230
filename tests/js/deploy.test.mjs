// deploy/: the systemd unit passes `systemd-analyze verify` with no warning
// and its ExecStart line starts a working node (credentials in a directory
// as systemd's LoadCredential makes them); the container file installs
// every shared library the binary needs. Plus the token commands' --dev in
// any position, as the README shows them.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as nodeTest } from 'node:test';

import { bennuBin, bennuctlBin, rawHttp, runBennu, waitFor, withTimeout } from './support/server.mjs';

const test = (name, fn) => nodeTest(name, { timeout: 60000 }, fn);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT = path.join(ROOT, 'deploy/bennu.service');
const CONTAINERFILE = path.join(ROOT, 'deploy/Containerfile');

function run(cmd, args, opts = {}) {
    return new Promise((resolve) => {
        execFile(cmd, args, { timeout: 30000, ...opts }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr,
                missing: err?.code === 'ENOENT' });
        });
    });
}

function tmpdir() {
    return fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-deploy-'));
}

/** The unit with the binary's install path replaced by the built one. */
function unitText() {
    return fs.readFileSync(UNIT, 'utf8').replaceAll('/usr/local/bin/bennu', bennuBin());
}

test('deploy/bennu.service passes systemd-analyze verify without a warning', async (t) => {
    const probe = await run('systemd-analyze', ['--version']);
    if (probe.missing) {
        t.skip('systemd-analyze is not installed: the unit was not verified');
        return;
    }
    const dir = tmpdir();
    try {
        const unit = path.join(dir, 'bennu.service');
        fs.writeFileSync(unit, unitText());
        const r = await run('systemd-analyze', ['verify', unit]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr.trim(), '', `systemd-analyze verify warned:\n${r.stderr}`);
        // The checks that matter for a server are there.
        const text = fs.readFileSync(UNIT, 'utf8');
        for (const key of ['LimitNOFILE=', 'LoadCredential=cookie:', 'LoadCredential=secret_key_base:',
            'NoNewPrivileges=yes', 'ProtectSystem=strict', 'DynamicUser=yes', 'TimeoutStopSec=']) {
            assert.ok(text.includes(key), `unit lacks ${key}`);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test('the unit\'s ExecStart line starts a node that serves and stops cleanly', async () => {
    // ExecStart as systemd would run it: continuation lines joined, %d the
    // credentials directory (files mode 0400), $BENNU_ARGS from
    // /etc/default/bennu (here: ephemeral ports on loopback, which override
    // the unit's fixed ones: the last flag wins).
    const lines = unitText().replace(/\\\n\s*/g, ' ').split('\n');
    const exec = lines.find((l) => l.startsWith('ExecStart='));
    assert.ok(exec, 'no ExecStart');
    const dir = tmpdir();
    const creds = path.join(dir, 'credentials');
    fs.mkdirSync(creds, { mode: 0o700 });
    fs.writeFileSync(path.join(creds, 'cookie'), 'unit-test-cookie-0123456789\n', { mode: 0o400 });
    fs.writeFileSync(path.join(creds, 'secret_key_base'), `${'k'.repeat(64)}\n`, { mode: 0o400 });
    const web = path.join(dir, 'web');
    fs.mkdirSync(web);
    fs.writeFileSync(path.join(web, 'index.html'), '<!doctype html><title>t</title>\n');
    const words = exec.slice('ExecStart='.length).trim().split(/\s+/)
        .map((w) => w.replaceAll('%d', creds).replace('/usr/local/share/bennu/web', web))
        .flatMap((w) => (w === '$BENNU_ARGS'
            ? ['--port', '0', '--mesh-port', '0', '--bind', '127.0.0.1', '--name', 'unit@127.0.0.1']
            : [w]));
    assert.equal(words[0], bennuBin());
    const env = { ...process.env };
    delete env.BENNU_COOKIE; // the files only
    delete env.SECRET_KEY_BASE;
    const proc = spawn(words[0], words.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
    try {
        const line = await waitFor(() => stderr.split('\n').find((l) => / event=listening /.test(l)),
            10000, () => `listening:\n${stderr}`);
        const port = Number(/ port=(\d+)/.exec(line)[1]);
        assert.match(line, / node=unit@127\.0\.0\.1 /);
        assert.doesNotMatch(stderr, /no_secret|mesh_disabled|secret_in_argv/);
        const h = await rawHttp(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(h.status, 200);
        proc.kill('SIGTERM');
        assert.deepEqual(await withTimeout(exited, 15000, 'exit'), { code: 0, signal: null }, stderr);
    } finally {
        proc.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test('deploy/Containerfile installs every shared library bennu needs', async (t) => {
    const elf = await run('readelf', ['-d', bennuBin()]);
    const dpkg = await run('dpkg-query', ['--version']);
    if (elf.missing || dpkg.missing) {
        t.skip('readelf or dpkg-query missing: the library list was not checked');
        return;
    }
    const text = fs.readFileSync(CONTAINERFILE, 'utf8');
    assert.match(text, /^FROM debian:12/m);
    const runtime = text.slice(text.lastIndexOf('FROM '));
    const needed = [...elf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1])
        // the sanitizer runtimes (a test build) and libc are not the image's business
        .filter((l) => !/^lib(asan|ubsan|tsan|lsan|c|m|pthread|dl|rt|gcc_s)\.so/.test(l));
    assert.ok(needed.length >= 5, `too few libraries: ${needed}`);
    for (const lib of needed) {
        const r = await run('dpkg-query', ['-S', `*/${lib}`]);
        assert.equal(r.code, 0, `no package owns ${lib}`);
        const pkg = r.stdout.split(':')[0];
        assert.match(runtime, new RegExp(`\\b${pkg.replace(/[.+]/g, '\\$&')}\\b`),
            `the runtime stage does not install ${pkg} (for ${lib})`);
    }
});

test('--dev works before and after the token subcommand (bennu and bennuctl)', async () => {
    const env = { ...process.env };
    delete env.SECRET_KEY_BASE; // the secret comes from --dev only
    const ctl = (args) => run(bennuctlBin(), args, { env });
    const bennu = (args) => run(bennuBin(), args, { env });
    const forms = [
        () => bennu(['--dev', 'token', 'mint', '--user', '42']),
        () => bennu(['token', '--dev', 'mint', '--user', '42']),
        () => bennu(['token', 'mint', '--dev', '--user', '42']),
        () => ctl(['--dev', 'token', 'mint', '--user', '42']),
        () => ctl(['token', '--dev', 'mint', '--user', '42']),
        () => ctl(['token', 'mint', '--user', '42', '--dev']),
    ];
    for (const f of forms) {
        const m = await f();
        assert.equal(m.code, 0, m.stderr);
        const token = m.stdout.trim();
        assert.match(token, /^SFMyNTY\./);
        for (const v of [await bennu(['--dev', 'token', 'verify', token]),
            await ctl(['token', '--dev', 'verify', token])]) {
            assert.equal(v.code, 0, v.stderr);
            assert.equal(v.stdout.trim(), '42');
        }
    }
    // Without --dev and without a secret: refused, exit 2.
    const none = await bennu(['token', 'mint', '--user', '42']);
    assert.equal(none.code, 2);
    // --dev before an unknown word is still an unknown argument for the server.
    const r = await runBennu(['--dev', 'tokens']);
    assert.equal(r.code, 2);
});

test('a plain cmake configure without phoenix.js stops and names `npm ci`', async (t) => {
    const probe = await run('cmake', ['--version']);
    if (probe.missing) {
        t.skip('cmake is not installed');
        return;
    }
    const dir = tmpdir();
    try {
        // As on a clone where `npm ci` never ran: the file is not there.
        const r = await run('cmake', ['-S', ROOT, '-B', path.join(dir, 'b'), '-DBN_TESTS=OFF',
            `-DBN_PHOENIX_JS=${path.join(dir, 'missing/phoenix.js')}`], { timeout: 60000 });
        assert.notEqual(r.code, 0, 'configure must fail');
        assert.match(r.stderr, /phoenix\.js/);
        assert.match(r.stderr, /^\s+npm ci$/m);
        assert.ok(!fs.existsSync(path.join(dir, 'b/Makefile')), 'a build system was generated');
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
