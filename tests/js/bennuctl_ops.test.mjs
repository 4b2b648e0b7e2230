// Operating a cluster with bennuctl: `forget` removes a stopped node from
// every node's members (and refuses a node that is up), and an admin session
// costs the node one info line (admin_session), its link lines being debug:
// no WARN for a normal bennuctl run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test as nodeTest } from 'node:test';

import { bennuctlBin, withTimeout } from './support/server.mjs';
import { waitFor, withCluster } from './support/cluster.mjs';

const test = (name, fn) => nodeTest(name, { timeout: 90000 }, fn);
const COOKIE = 'test-cluster-cookie-0123'; // the Cluster helper's default

function ctl(node, args) {
    return withTimeout(new Promise((resolve, reject) => {
        const proc = spawn(bennuctlBin(), ['--node', node.meshAddr, '--cookie', COOKIE, ...args],
            { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENNU_COOKIE: '' } });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        proc.on('error', reject);
        proc.on('close', (code) => resolve({ code, stdout, stderr }));
    }), 20000, `bennuctl ${args.join(' ')}`);
}

async function memberNames(node) {
    const r = await ctl(node, ['members', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout);
    return Object.fromEntries(m.nodes.map((n) => [n.name, n.state]));
}

test('forget: refused for an up node, removes a down node everywhere', () =>
    withCluster({}, async (cl) => {
        const a = await cl.start('a');
        const b = await cl.start('b', { join: [a] });
        const c = await cl.start('c', { join: [a] });
        await cl.waitFullMesh([a, b, c]);

        const up = await ctl(a, ['forget', 'c@127.0.0.1']);
        assert.equal(up.code, 1);
        assert.match(up.stderr, /c@127\.0\.0\.1 is up according to a@127\.0\.0\.1: only a down node can be forgotten; stop it first/);
        assert.equal((await memberNames(a))['c@127.0.0.1'], 'up');
        const self = await ctl(a, ['forget', 'a@127.0.0.1']);
        assert.equal(self.code, 1);

        await c.stop();
        await waitFor(async () => (await memberNames(a))['c@127.0.0.1'] === 'down' &&
            (await memberNames(b))['c@127.0.0.1'] === 'down', 10000, 'c down on a and b');
        const f = await ctl(a, ['forget', 'c@127.0.0.1']);
        assert.equal(f.code, 0, f.stderr);
        assert.match(f.stdout, /forgot c@127\.0\.0\.1 on 2 nodes/);
        assert.equal((await memberNames(a))['c@127.0.0.1'], undefined);
        assert.equal((await memberNames(b))['c@127.0.0.1'], undefined);
        await a.waitForLog(/ event=mesh_forget mesh=a@127\.0\.0\.1 node=c@127\.0\.0\.1 /);

        const again = await ctl(a, ['forget', 'c@127.0.0.1', '--json']);
        assert.equal(again.code, 1);
        assert.deepEqual(JSON.parse(again.stdout).forgotten, []);
        // A forgotten node that comes back rejoins as usual.
        const c2 = await cl.restart(c);
        await cl.waitFullMesh([a, b, c2]);

        const usage = await ctl(a, ['forget']);
        assert.equal(usage.code, 2);
    }));

test('a bennuctl run logs one info line on the node, nothing at warn', () =>
    withCluster({}, async (cl) => {
        const a = await cl.start('a');
        const b = await cl.start('b', { join: [a] });
        await cl.waitFullMesh([a, b]);
        const since = a.mark();
        for (const cmd of [['members'], ['stats'], ['groups'], ['check']]) {
            const r = await ctl(a, cmd);
            assert.equal(r.code, 0, r.stderr);
        }
        await waitFor(() => a.grep(/ event=admin_session /, since).length === 4, 5000,
            'four admin_session lines');
        const lines = a.lines.slice(since);
        const mine = lines.filter((l) => /bennuctl-/.test(l));
        assert.deepEqual(mine.filter((l) => !/ event=admin_session /.test(l)), [],
            'only admin_session lines about bennuctl at info');
        assert.deepEqual(lines.filter((l) => / level=warn /.test(l)), []);
        assert.match(a.grep(/ event=admin_session /, since)[1], / requests=\d+ ops=[a-z,]*stats/);
    }));
