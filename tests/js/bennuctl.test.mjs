// bennuctl against a real three-node bennu cluster on loopback, with the
// official phoenix.js client subscribing on different nodes. Every wait is a
// poll on bennuctl's own output with a deadline: cluster state converges
// asynchronously (ticks every 100 ms, a silent node is down after 600 ms).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';

import { collect, joinOk, phxSocket, socketOpened } from './support/compat_client.mjs';
import { bennuctlBin, startServer, waitFor, withTimeout } from './support/server.mjs';
import { partitionProxy } from './support/partition_proxy.mjs';

const COOKIE = 'bennuctl-test-cookie-16+';
const SECRET = 'bennuctl-test-secret-key-base-0123456789';
const FAST = ['--tick-ms', '100', '--down-ms', '600'];

/** Runs bennuctl to completion; resolves with {code, stdout, stderr}. */
function ctl(args, { env = {}, timeoutMs = 20000 } = {}) {
    return withTimeout(new Promise((resolve, reject) => {
        const proc = spawn(bennuctlBin(), args, {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, BENNU_COOKIE: '', ...env },
        });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        proc.on('error', reject);
        proc.on('close', (code) => resolve({ code, stdout, stderr }));
    }), timeoutMs, `bennuctl ${args.join(' ')}`);
}

/** bennuctl against node `n` with the cluster cookie. */
function ask(n, args, opts) {
    return ctl(['--node', `127.0.0.1:${n.meshPort}`, '--cookie', COOKIE, ...args], opts);
}

/** Parses a rendered table into rows of {HEADER: cell}. Columns are found
 *  from the header line: every header starts after a run of 2+ spaces. */
function parseTable(text) {
    const lines = text.split('\n').filter((l) => l.length > 0);
    const header = lines[0];
    const starts = [0];
    const re = / {2,}(?=\S)/g;
    let m;
    while ((m = re.exec(header)) !== null) {
        starts.push(m.index + m[0].length);
    }
    const names = starts.map((s, i) => header.slice(s, starts[i + 1]).trim());
    // Right-aligned cells may start before their header: split each line on
    // 2+ spaces instead, which holds because no cell contains two spaces.
    return lines.slice(1).map((l) => {
        const cells = l.trim().split(/ {2,}/);
        const row = {};
        names.forEach((n, i) => { row[n] = cells[i]; });
        return row;
    });
}

/** Starts a cluster node; resolves with the server and its mesh port. */
async function startNode(name, extra = []) {
    const srv = await startServer(['--mesh-port', '0', '--name', name, '--cookie', COOKIE,
        '--secret-key-base', SECRET, ...FAST, ...extra]);
    const line = srv.logLines().find((l) => /event=listening /.test(l));
    srv.meshPort = Number(/ mesh_port=(\d+)/.exec(line)[1]);
    srv.nodeName = name;
    return srv;
}

/** Polls `bennuctl members --json` on n until pred(members) holds. */
async function waitMembers(n, pred, what, timeoutMs = 10000) {
    let last = null;
    return waitFor(async () => {
        const r = await ask(n, ['members', '--json']);
        if (r.code !== 0) {
            last = r.stderr;
            return false;
        }
        last = r.stdout;
        const m = JSON.parse(r.stdout);
        return pred(m) ? m : false;
    }, timeoutMs, () => `${what} (last: ${last})`);
}

function stateOf(members, name) {
    return members.nodes.find((x) => x.name === name)?.state;
}

async function startCluster(extra = () => []) {
    const a = await startNode('a@127.0.0.1', extra('a'));
    const b = await startNode('b@127.0.0.1', ['--join', `127.0.0.1:${a.meshPort}`, ...extra('b')]);
    const c = await startNode('c@127.0.0.1', ['--join', `127.0.0.1:${a.meshPort}`, ...extra('c')]);
    const nodes = [a, b, c];
    for (const n of nodes) {
        await waitMembers(n, (m) => nodes.every((o) => o === n || stateOf(m, o.nodeName) === 'up'),
            `${n.nodeName} sees every node up`);
    }
    return nodes;
}

async function stopAll(nodes) {
    for (const n of nodes) {
        if (n.exit === null) {
            await n.stop();
        }
    }
}

test('members, groups, topic, check, broadcast and token on a converged cluster', async () => {
    const nodes = await startCluster();
    const [a, b, c] = nodes;
    try {
        // members: all three, links up, table and --json agree.
        const table = await ask(a, ['members']);
        assert.equal(table.code, 0, table.stderr);
        const rows = parseTable(table.stdout);
        assert.deepEqual(rows.map((r) => r.NODE), ['a@127.0.0.1', 'b@127.0.0.1', 'c@127.0.0.1']);
        assert.equal(rows[0].STATE, 'self');
        assert.equal(rows[1].STATE, 'up');
        assert.equal(rows[2].STATE, 'up');
        assert.equal(rows[1].ADDRESS, `127.0.0.1:${b.meshPort}`);
        assert.match(rows[1].RTT, /^(-|\d+(\.\d)?(us|ms))$/); // '-' until the first tick round trip
        const jsText = (await ask(a, ['members', '--json'])).stdout;
        const js = JSON.parse(jsText);
        assert.equal(js.node, 'a@127.0.0.1');
        // bennuctl's own hidden link is not shown
        assert.deepEqual(js.nodes.map((n) => n.name).sort(), ['b@127.0.0.1', 'c@127.0.0.1']);
        for (const r of rows.slice(1)) {
            const n = js.nodes.find((x) => x.name === r.NODE);
            assert.equal(n.link_state, r.STATE);
            // incarnations exceed 2^53: compare the JSON text, not the parsed number
            assert.ok(jsText.includes(`"incarnation": ${r.INCARNATION},`), r.INCARNATION);
            assert.equal(`${n.host}:${n.port}`, r.ADDRESS);
        }
        // the alias, and the cookie from the environment
        const viaEnv = await ctl(['--node', `127.0.0.1:${a.meshPort}`, 'nodes'],
            { env: { BENNU_COOKIE: COOKIE } });
        assert.equal(viaEnv.code, 0, viaEnv.stderr);
        assert.match(viaEnv.stdout, /^c@127\.0\.0\.1 /m);

        // Subscribers through phoenix.js: 2 on a and 1 on b in room:lobby,
        // 1 on c in room:secret with a token minted by bennuctl.
        const token = (await ctl(['token', 'mint', '--user', '42', '--secret-key-base', SECRET]))
            .stdout.trim();
        assert.match(token, /^SFMyNTY\./);
        const lobby = [];
        for (const n of [a, a, b]) {
            const s = phxSocket(n);
            s.connect();
            await socketOpened(s);
            const ch = s.channel('room:lobby', {});
            lobby.push(collect(ch, 'announce'));
            await joinOk(ch);
        }
        const sc = phxSocket(c, { params: { token } });
        sc.connect();
        await socketOpened(sc);
        const secret = sc.channel('room:secret', {});
        const secretGot = collect(secret, 'announce');
        await joinOk(secret);

        // groups: as a sees it, with counts from every node. The token's
        // socket is also subscribed to its socket id, users_socket:42.
        const groups = await waitFor(async () => {
            const r = await ask(a, ['groups', '--json']);
            const g = JSON.parse(r.stdout);
            return g.topics.length === 3 && g.topics[0].nodes.length === 2 ? g : false;
        }, 10000, 'groups shows the three topics');
        assert.deepEqual(groups.topics, [
            { topic: 'room:lobby', nodes: ['a@127.0.0.1', 'b@127.0.0.1'],
                counts: { 'a@127.0.0.1': 2, 'b@127.0.0.1': 1 }, subscribers: 3 },
            { topic: 'room:secret', nodes: ['c@127.0.0.1'], counts: { 'c@127.0.0.1': 1 },
                subscribers: 1 },
            { topic: 'users_socket:42', nodes: ['c@127.0.0.1'], counts: { 'c@127.0.0.1': 1 },
                subscribers: 1 },
        ]);
        const gt = parseTable((await ask(b, ['groups'])).stdout);
        assert.deepEqual(gt.map((r) => [r.TOPIC, r.NODES, r.SUBSCRIBERS, r['PER NODE']]), [
            ['room:lobby', '2', '3', 'a@127.0.0.1=2 b@127.0.0.1=1'],
            ['room:secret', '1', '1', 'c@127.0.0.1=1'],
            ['users_socket:42', '1', '1', 'c@127.0.0.1=1'],
        ]);
        const filtered = parseTable((await ask(c, ['groups', 'room:s*'])).stdout);
        assert.deepEqual(filtered.map((r) => r.TOPIC), ['room:secret']);
        const summary = JSON.parse((await ask(a, ['groups', '--summary', '--json'])).stdout);
        assert.equal(summary.topics, 3);
        assert.equal(summary.subscribers, 5);
        assert.equal(summary.memberships, 4);

        // topic: asked of every node; they agree
        const topic = await ask(c, ['topic', 'room:lobby']);
        assert.equal(topic.code, 0, topic.stdout + topic.stderr);
        assert.match(topic.stdout, /agreement: all 3 nodes agree/);
        const tj = JSON.parse((await ask(c, ['topic', 'room:lobby', '--json'])).stdout);
        assert.equal(tj.agree, true);
        assert.deepEqual(tj.holders, ['a@127.0.0.1', 'b@127.0.0.1']);
        assert.equal(tj.subscribers, 3);
        const unknown = await ask(a, ['topic', 'room:nobody']);
        assert.equal(unknown.code, 1);
        assert.match(unknown.stderr, /unknown topic 'room:nobody'/);

        // check: converged
        const ok = await ask(b, ['check']);
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        assert.match(ok.stdout, /ok: 3 nodes agree on members and on 3 topics/);

        // broadcast from the command line reaches subscribers on every node
        const bc = await ask(c, ['broadcast', 'room:lobby', 'announce', '{"body":"hello"}']);
        assert.equal(bc.code, 0, bc.stderr);
        assert.match(bc.stdout, /sent to 2 other nodes/);
        await waitFor(() => lobby.every((got) => got.length === 1), 5000, 'announce on a and b');
        for (const got of lobby) {
            assert.deepEqual(got, [{ body: 'hello' }]);
        }
        const bs = await ask(a, ['broadcast', 'room:secret', 'announce', '[1,2]', '--json']);
        assert.deepEqual(JSON.parse(bs.stdout), { peers: 1, topic: 'room:secret', event: 'announce' });
        await waitFor(() => secretGot.length === 1, 5000, 'announce on c');
        assert.deepEqual(secretGot, [[1, 2]]);
        // on the node asked, the broadcast goes through its pubsub like any
        // other: its own subscribers get it, and no peer holds the topic
        const here = await ask(c, ['broadcast', 'room:secret', 'announce', '{"n":2}', '--json']);
        assert.deepEqual(JSON.parse(here.stdout), { peers: 0, topic: 'room:secret', event: 'announce' });
        await waitFor(() => secretGot.length === 2, 5000, 'local announce on c');
        assert.deepEqual(secretGot[1], { n: 2 });

        // stats: one row per node, counters that reflect the clients
        const st = parseTable((await ask(a, ['stats'])).stdout);
        assert.deepEqual(st.map((r) => r.NODE), ['a@127.0.0.1', 'b@127.0.0.1', 'c@127.0.0.1']);
        assert.equal(st[0].WS, '2');
        for (const r of st) {
            // The totals add up: SOCKETS = WS + LP.
            assert.equal(Number(r.SOCKETS), Number(r.WS) + Number(r.LP));
        }
        assert.equal(st[1].CHANNELS, '1');
        assert.match(st[2].RSS, /MiB$/);
        const sj = JSON.parse((await ask(a, ['stats', '--json'])).stdout);
        assert.equal(sj.nodes['a@127.0.0.1'].stats.sockets_websocket, 2);
        // b received exactly one broadcast from another node: room:lobby via c
        assert.equal(sj.nodes['b@127.0.0.1'].stats.broadcasts_in, 1);

        // --watch with --count: two refreshes, then exit 0
        const w = await ask(a, ['stats', '--watch', '0.2', '--count', '2']);
        assert.equal(w.code, 0, w.stderr);
        assert.equal((w.stdout.match(/^Every 0\.2s: bennuctl stats/mg) ?? []).length, 2);

        // token: bennuctl's tokens verify with bennu token and vice versa
        const v = await ctl(['token', 'verify', token, '--secret-key-base', SECRET]);
        assert.deepEqual([v.code, v.stdout], [0, '42\n']);
        const bad = await ctl(['token', 'verify', token, '--secret-key-base', `${SECRET}x`]);
        assert.deepEqual([bad.code, bad.stdout], [1, 'invalid\n']);
    } finally {
        await stopAll(nodes);
    }
});

test('a killed node shows down on the others; check agrees once all see it', async () => {
    const nodes = await startCluster();
    const [a, b, c] = nodes;
    try {
        c.proc.kill('SIGKILL');
        await c.exited;
        for (const n of [a, b]) {
            await waitMembers(n, (m) => stateOf(m, 'c@127.0.0.1') === 'down', `${n.nodeName} sees c down`);
        }
        const rows = parseTable((await ask(a, ['members'])).stdout);
        const rc = rows.find((r) => r.NODE === 'c@127.0.0.1');
        assert.match(rc.STATE, /^(down|connecting)/);
        assert.equal(rows.find((r) => r.NODE === 'b@127.0.0.1').STATE, 'up');
        const chk = await ask(b, ['check']);
        assert.equal(chk.code, 0, chk.stdout + chk.stderr);
        assert.match(chk.stdout, /down \(all answering nodes agree\): c@127\.0\.0\.1/);
        const st = await ask(a, ['stats']);
        assert.match(st.stdout, /^c@127\.0\.0\.1: (down|connecting) according to a@127\.0\.0\.1$/m);
    } finally {
        await stopAll(nodes);
    }
});

// A deterministic divergence: a and c reach each other only through proxies
// (--dial-override, and c joins through b, so no seed link bypasses them).
// Cutting the proxies partitions a from c while b still sees both: a and c
// each see the other down, b sees everyone up. That view lasts as long as
// the partition does, so check must report it and exit 1; after healing it
// must converge back to exit 0.
test('check exits 1 on a forced partition and 0 once healed', async () => {
    let cPort = 0;
    let aPort = 0;
    const toC = await partitionProxy(() => cPort);
    const toA = await partitionProxy(() => aPort);
    const a = await startNode('a@127.0.0.1', ['--dial-override', `c@127.0.0.1=127.0.0.1:${toC.port}`]);
    aPort = a.meshPort;
    const b = await startNode('b@127.0.0.1', ['--join', `127.0.0.1:${a.meshPort}`]);
    const c = await startNode('c@127.0.0.1', ['--join', `127.0.0.1:${b.meshPort}`,
        '--dial-override', `a@127.0.0.1=127.0.0.1:${toA.port}`]);
    cPort = c.meshPort;
    const nodes = [a, b, c];
    try {
        for (const n of nodes) {
            await waitMembers(n, (m) => nodes.every((o) => o === n || stateOf(m, o.nodeName) === 'up'),
                `${n.nodeName} sees every node up`);
        }
        const before = await ask(b, ['check']);
        assert.equal(before.code, 0, before.stdout);

        toC.cut();
        toA.cut();
        await waitMembers(a, (m) => stateOf(m, 'c@127.0.0.1') === 'down', 'a sees c down');
        await waitMembers(c, (m) => stateOf(m, 'a@127.0.0.1') === 'down', 'c sees a down');
        const split = await ask(b, ['check']);
        assert.equal(split.code, 1, split.stdout + split.stderr);
        assert.match(split.stdout, /DISAGREEMENT/);
        assert.match(split.stdout, /a@127\.0\.0\.1 sees c@127\.0\.0\.1 down, but c@127\.0\.0\.1 answers \(and sees a@127\.0\.0\.1 down\)/);
        const sj = JSON.parse((await ask(a, ['check', '--json'])).stdout);
        assert.equal(sj.ok, false);
        assert.ok(sj.problems.length >= 2, JSON.stringify(sj));
        // members shows exactly what each node sees
        const fromB = parseTable((await ask(b, ['members'])).stdout);
        assert.deepEqual(fromB.map((r) => r.STATE), ['self', 'up', 'up']);

        toC.heal();
        toA.heal();
        await waitFor(async () => (await ask(b, ['check'])).code === 0, 15000, 'check converges');
    } finally {
        await stopAll(nodes);
        await toC.close();
        await toA.close();
    }
});

test('clear errors: wrong cookie, unreachable, timeout, usage', async () => {
    const a = await startNode('a@127.0.0.1');
    try {
        const wrong = await ctl(['--node', `127.0.0.1:${a.meshPort}`, '--cookie',
            'not-the-cluster-cookie', 'members']);
        assert.equal(wrong.code, 3);
        assert.match(wrong.stderr, /wrong cookie/);
        assert.equal(wrong.stdout, '');
        const short = await ctl(['--node', `127.0.0.1:${a.meshPort}`, '--cookie', 'nope', 'members']);
        assert.equal(short.code, 2);
        assert.match(short.stderr, /at least 16 bytes/);

        // a port nobody listens on: take one and free it
        const s = net.createServer();
        await new Promise((r) => s.listen(0, '127.0.0.1', r));
        const freePort = s.address().port;
        await new Promise((r) => s.close(r));
        const gone = await ctl(['--node', `127.0.0.1:${freePort}`, '--cookie', COOKIE, 'members']);
        assert.equal(gone.code, 3);
        assert.match(gone.stderr, /unreachable: connection refused/);

        // a stopped node: the connection is accepted by the kernel, nothing answers
        a.proc.kill('SIGSTOP');
        const t0 = Date.now();
        const slow = await ask(a, ['members', '--timeout', '400']);
        a.proc.kill('SIGCONT');
        assert.equal(slow.code, 3);
        assert.match(slow.stderr, /no answer in time/);
        assert.ok(Date.now() - t0 < 5000);

        const usage = await ctl(['members']);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /--node HOST:PORT is required/);
        const nocookie = await ctl(['--node', `127.0.0.1:${a.meshPort}`, 'members']);
        assert.equal(nocookie.code, 2);
        assert.match(nocookie.stderr, /no cookie/);
        const help = await ctl(['check', '--help']);
        assert.equal(help.code, 0);
        assert.match(help.stdout, /exits 1/);
        const cookieFile = path.join(fs.mkdtempSync('/tmp/bnctl-'), 'cookie');
        fs.writeFileSync(cookieFile, `${COOKIE}\n`, { mode: 0o600 });
        const viaFile = await ctl(['--node', `127.0.0.1:${a.meshPort}`, '--cookie-file', cookieFile,
            'members']);
        assert.equal(viaFile.code, 0, viaFile.stderr);
    } finally {
        await a.stop();
    }
});
