// The soak tool itself (tools/soak/soak.mjs) in a short run: it must drive a
// real node through connects, joins, broadcasts, slow consumers and abrupt
// disconnects, keep it up with no sanitizer report, and print its verdict.
// Memory flatness is judged by long runs on demand (README "Soak"); under the
// sanitizer build the allocator's quarantine makes short-run RSS meaningless,
// so this run only bounds it loosely.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { bennuBin } from './support/server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('soak: 8 s of churn keeps the node up, clean, and reports a verdict', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'tools/soak/soak.mjs'), '--bennu',
        bennuBin(), '--seconds', '8', '--clients', '40', '--tolerance', '400', '--json'],
    { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `soak failed:\n${r.stdout}\n${r.stderr}`);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(summary.server_up, true);
    assert.equal(summary.sanitizer, false);
    assert.ok(summary.connects >= 40, `connects ${summary.connects}`);
    assert.ok(summary.broadcasts > 100, `broadcasts ${summary.broadcasts}`);
    assert.ok(summary.received > summary.broadcasts, `received ${summary.received}`);
    assert.ok(summary.abrupt > 5, `abrupt ${summary.abrupt}`);
    assert.ok(summary.slow > 1, `slow consumers ${summary.slow}`);
    assert.ok(summary.samples.length >= 5);
    assert.match(r.stdout, /verdict: FLAT/);
});
