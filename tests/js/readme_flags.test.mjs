// README's flag tables against `bennu --help` (generated from the flag
// table, src/app/options.h): every flag --help lists has a README row and
// every README row names a real flag; where README gives one plain default
// per flag (a number or a word), --help shows the same "(default X)".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { runBennu } from './support/server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The rows of every "| flag | default | meaning |" table: [flags, defaults cell]. */
function readmeRows() {
    const lines = fs.readFileSync(path.join(root, 'README.md'), 'utf8').split('\n');
    const rows = [];
    for (let i = 0; i < lines.length; i++) {
        if (!/^\| flag \| default \| meaning \|$/.test(lines[i])) {
            continue;
        }
        for (i += 2; i < lines.length && lines[i].startsWith('|'); i++) {
            const cells = lines[i].split(' | ');
            const flags = [...cells[0].matchAll(/`--([a-z-]+)/g)].map((m) => m[1]);
            rows.push([flags, cells[1].trim()]);
        }
    }
    return rows;
}

/** --help's flags: name -> the "(default X)" text, or null. */
function helpFlags(text) {
    const flags = new Map();
    const entries = text.split(/\n(?=  --)/);
    for (const e of entries) {
        const m = /^ {2}--([a-z-]+)/.exec(e);
        if (m) {
            const d = /\(default ([^)]*)\)/.exec(e.replace(/\n\s+/g, ' '));
            flags.set(m[1], d ? d[1] : null);
        }
    }
    return flags;
}

test('README flag tables list exactly the flags of --help, with the same defaults', async () => {
    const r = await runBennu(['--help']);
    assert.equal(r.code, 0, r.stderr);
    const help = helpFlags(r.stdout);
    assert.ok(help.size >= 55, `only ${help.size} flags in --help`);
    const rows = readmeRows();
    const documented = new Set(rows.flatMap(([flags]) => flags));
    for (const flag of help.keys()) {
        assert.ok(documented.has(flag), `--${flag} is in --help but in no README flag table`);
    }
    for (const flag of documented) {
        assert.ok(help.has(flag), `README documents --${flag}, which --help does not list`);
    }
    let compared = 0;
    for (const [flags, cell] of rows) {
        const defaults = cell.split(', ');
        if (defaults.length !== flags.length) {
            continue;
        }
        flags.forEach((flag, i) => {
            const want = help.get(flag);
            if (want != null && /^[\w.]+$/.test(defaults[i])) {
                assert.equal(defaults[i], want, `README default of --${flag}`);
                compared++;
            }
        });
    }
    assert.ok(compared >= 30, `only ${compared} defaults compared`);
});
