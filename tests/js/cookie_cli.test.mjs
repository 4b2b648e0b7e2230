// The cluster cookie at the command line: `bennu cookie new`, the 16-byte
// minimum, and --dev refusing to open the mesh beyond loopback with its
// public development cookie. Each bad value exits 2 with a clear message
// before anything listens.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { runBennu, startServer } from './support/server.mjs';

test('bennu cookie new prints a fresh 256-bit cookie, or writes a new 0600 file once', async () => {
    const a = await runBennu(['cookie', 'new']);
    const b = await runBennu(['cookie', 'new']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    assert.notEqual(a.stdout, b.stdout);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bennu-cookie-'));
    try {
        const file = path.join(dir, 'cluster.cookie');
        const w = await runBennu(['cookie', 'new', file]);
        assert.equal(w.code, 0, w.stderr);
        assert.equal(w.stdout, '', 'a cookie written to a file is not printed');
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        const text = fs.readFileSync(file, 'utf8');
        assert.match(text, /^[A-Za-z0-9_-]{43}\n$/);
        const again = await runBennu(['cookie', 'new', file]);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /exists/);
        assert.equal(fs.readFileSync(file, 'utf8'), text, 'never overwritten');

        // The file is a working cookie: a node starts a mesh with it.
        const srv = await startServer(['--port', '0', '--mesh-port', '0', '--name', 'k@127.0.0.1',
            '--cookie-file', file]);
        try {
            assert.ok(srv.logLines().some((l) => / event=mesh_start /.test(l)));
        } finally {
            await srv.stop();
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    const usage = await runBennu(['cookie', 'old']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: bennu cookie new/);
});

test('bad cookies and unsafe --dev meshes are refused at start (exit 2)', async () => {
    const rows = [
        [['--port', '0', '--cookie', 'fifteen-bytes!!'], /at least 16 bytes \(got 15\)/],
        [['--port', '0', '--dev', '--bind', '0.0.0.0'], /public development cookie/],
        [['--port', '0', '--dev', '--mesh-bind', '10.1.2.3'], /public development cookie/],
        [['--port', '0', '--mesh-allow', '10.0.0.0/33'], /--mesh-allow expects/],
        [['--port', '0', '--mesh-allow', 'example.com'], /--mesh-allow expects/],
        [['--port', '0', '--mesh-max-preauth', '0'], /--mesh-max-preauth/],
        [['--port', '0', '--mesh-encrypt'], /unknown option --mesh-encrypt/],
    ];
    for (const [args, re] of rows) {
        const r = await runBennu(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, re, args.join(' '));
    }
    // --dev on loopback, or with an explicit cookie anywhere, is fine.
    const ok = await startServer(['--port', '0', '--mesh-port', '0', '--dev']);
    await ok.stop();
    const explicit = await startServer(['--port', '0', '--mesh-port', '0', '--dev', '--bind', '0.0.0.0',
        '--cookie', 'an-explicit-cookie-0123']);
    await explicit.stop();
});
