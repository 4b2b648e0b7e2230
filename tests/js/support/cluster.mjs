// Test support for multi-node (mesh) integration tests: start real bennu
// processes on loopback that join each other, follow their logs with the
// time every line was written, signal them (SIGKILL, SIGSTOP/SIGCONT,
// SIGTERM), and query any node's mesh state with the mesh_probe helper (a
// hidden mesh node built from tests/integration/mesh_probe.c). Ports are
// always ephemeral (--port 0 --mesh-port 0) and read back from the log;
// every wait is a bounded poll on an observable condition.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { Socket } from 'phoenix';

import { bennuBin, waitFor, WebSocket } from './server.mjs';

export { waitFor };

const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer/;

/** Path of the mesh_probe binary: $MESH_PROBE, else under $BENNU_BUILD_DIR
 *  (set by ctest), else next to the bennu binary's build tree. */
export function probeBin() {
    if (process.env.MESH_PROBE) {
        return process.env.MESH_PROBE;
    }
    const roots = [];
    if (process.env.BENNU_BUILD_DIR) {
        roots.push(process.env.BENNU_BUILD_DIR);
    }
    roots.push(path.dirname(bennuBin()));
    for (const r of roots) {
        for (const rel of ['tests/integration/mesh_probe', 'mesh_probe']) {
            const p = path.join(r, rel);
            if (fs.existsSync(p)) {
                return p;
            }
        }
    }
    throw new Error(`mesh_probe not found (looked under ${roots.join(', ')}); ` +
        'build the mesh_probe target (tests/integration) or set MESH_PROBE');
}

/** Milliseconds since the epoch of a log line's ts= field. */
export function logTs(line) {
    const m = /^ts=(\S+Z) /.exec(line);
    assert.ok(m, `no ts= in log line: ${line}`);
    return Date.parse(m[1]);
}

/** key=value fields of a log line (values without spaces). */
export function logFields(line) {
    const out = {};
    for (const m of line.matchAll(/(?:^| )([a-z_#]+)=(\S*)/g)) {
        out[m[1]] = m[2];
    }
    return out;
}

// Processes still alive when the test process exits (a failed test) are
// killed, stopped ones included.
const live = new Set();
process.on('exit', () => {
    for (const n of live) {
        try {
            n.proc.kill('SIGKILL');
        } catch {
            // already gone
        }
    }
});

/** One bennu process of a cluster. Its stderr is kept whole (`stderr`) and
 *  as lines (`lines`) in arrival order; `mark()` / `since` let a wait look
 *  only at lines written after some point. */
export class MeshNode {
    constructor(cluster, name, args, { nofile = null, env = null } = {}) {
        this.cluster = cluster;
        this.name = name;
        this.args = args;
        this.stderr = '';
        this.lines = [];
        this.partial = '';
        this.httpPort = null;
        this.meshPort = null;
        this.incarnation = null;
        this.exit = null;
        this.stopped = false; // SIGSTOPped and not yet continued
        this.clients = new Set();
        // nofile: the descriptor limit (ulimit -n) to run the node under; the
        // shell execs bennu, so the pid is bennu's. env: variables to add.
        const opts = { stdio: ['ignore', 'ignore', 'pipe'] };
        if (env !== null) {
            opts.env = { ...process.env, ...env };
        }
        this.proc = nofile === null
            ? spawn(bennuBin(), args, opts)
            : spawn('/bin/sh', ['-c', `ulimit -n ${Number(nofile)} && exec "$0" "$@"`,
                bennuBin(), ...args], opts);
        live.add(this);
        this.exited = new Promise((resolve) => {
            this.proc.on('close', (code, signal) => {
                this.exit = { code, signal };
                live.delete(this);
                resolve(this.exit);
            });
        });
        this.proc.stderr.setEncoding('utf8');
        this.proc.stderr.on('data', (d) => {
            this.stderr += d;
            const parts = (this.partial + d).split('\n');
            this.partial = parts.pop();
            for (const l of parts) {
                if (l.length > 0) {
                    this.lines.push(l);
                }
            }
        });
    }

    get alive() {
        return this.exit === null;
    }

    /** Endpoint for phoenix.js's Socket (it appends /websocket). */
    get socketEndpoint() {
        return `ws://127.0.0.1:${this.httpPort}/socket`;
    }

    get meshAddr() {
        return `127.0.0.1:${this.meshPort}`;
    }

    /** Index of the next log line, for `since`. */
    mark() {
        return this.lines.length;
    }

    /** Lines (from index `since`) matching `re`. */
    grep(re, since = 0) {
        return this.lines.slice(since).filter((l) => re.test(l));
    }

    /** Wait for a log line (from index `since`) matching `re`; returns it. */
    waitForLog(re, timeoutMs = 5000, since = 0) {
        return waitFor(() => {
            const hit = this.lines.slice(since).find((l) => re.test(l));
            if (hit) {
                return hit;
            }
            if (!this.alive) {
                throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) while ` +
                    `waiting for ${re}:\n${this.stderr.slice(-4000)}`);
            }
            return undefined;
        }, timeoutMs, () => `${this.name}: log line ${re}\n--- stderr (tail) ---\n` +
            `${this.stderr.slice(-4000)}`);
    }

    /** Wait until this node has started: ports, incarnation. */
    async started(timeoutMs = 10000) {
        const line = await this.waitForLog(/ event=listening /, timeoutMs);
        const f = logFields(line);
        this.httpPort = Number(f.port);
        this.meshPort = Number(f.mesh_port);
        assert.ok(this.httpPort > 0 && this.meshPort > 0, `bad ports in ${line}`);
        assert.equal(f.node, this.name);
        const start = this.grep(/ event=mesh_start /)[0];
        assert.ok(start, `no mesh_start line:\n${this.stderr}`);
        this.incarnation = logFields(start).incarnation;
        return this;
    }

    /** Regex of this node's mesh event about `peer`, e.g. nodeup/nodedown. */
    static eventRe(event, self, peer) {
        const q = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        return new RegExp(` event=${event} mesh=${q(self)} node=${q(peer)} `);
    }

    /** Wait for this node's mesh_nodeup (or other mesh event) about `peer`. */
    waitForMeshEvent(event, peer, timeoutMs = 5000, since = 0) {
        return this.waitForLog(MeshNode.eventRe(event, this.name, peer), timeoutMs, since);
    }

    signal(sig) {
        if (!this.alive) {
            return;
        }
        if (sig === 'SIGSTOP') {
            this.stopped = true;
        } else if (sig === 'SIGCONT') {
            this.stopped = false;
        }
        this.proc.kill(sig);
    }

    /** Register something with disconnect()/close()/destroy() for teardown. */
    track(thing) {
        this.clients.add(thing);
        return thing;
    }

    dropClients() {
        for (const c of this.clients) {
            try {
                if (typeof c.disconnect === 'function') {
                    c.disconnect();
                } else if (typeof c.terminate === 'function') {
                    c.terminate();
                } else if (typeof c.destroy === 'function') {
                    c.destroy();
                }
            } catch {
                // best effort
            }
        }
        this.clients.clear();
    }

    assertNoSanitizerReports() {
        assert.doesNotMatch(this.stderr, SANITIZER_RE,
            `sanitizer report in ${this.name}'s stderr:\n${this.stderr}`);
    }

    /** SIGTERM (after SIGCONT if stopped); asserts exit status 0 and a
     *  sanitizer-clean stderr. */
    async stop(timeoutMs = 15000) {
        if (this.alive) {
            if (this.stopped) {
                this.signal('SIGCONT');
            }
            this.proc.kill('SIGTERM');
        }
        try {
            const ex = await waitFor(() => this.exit, timeoutMs,
                `${this.name} to exit after SIGTERM`);
            assert.deepEqual(ex, { code: 0, signal: null },
                `${this.name} did not exit cleanly:\n${this.stderr.slice(-4000)}`);
            this.assertNoSanitizerReports();
        } finally {
            if (this.alive) {
                this.proc.kill('SIGKILL');
            }
            this.dropClients();
        }
    }

    /** SIGKILL and wait for the process to be gone; returns Date.now() at
     *  the moment the signal was sent. */
    async kill() {
        const t0 = Date.now();
        this.proc.kill('SIGKILL');
        await waitFor(() => this.exit, 5000, `${this.name} to die after SIGKILL`);
        this.assertNoSanitizerReports();
        // Its clients would otherwise keep trying to reconnect to a dead port.
        this.dropClients();
        return t0;
    }
}

/** A set of bennu nodes sharing a cookie and timing flags. */
export class Cluster {
    constructor({ cookie = 'test-cluster-cookie-0123', tickMs = 100, downMs = 600, logLevel = 'info' } = {}) {
        this.cookie = cookie;
        this.tickMs = tickMs;
        this.downMs = downMs;
        this.logLevel = logLevel;
        this.nodes = []; // every process ever started, restarted ones included
    }

    /** Start a node named `short@127.0.0.1` joining `join` (nodes or
     *  "host:port" strings). opts: cookie, meshPort, extra args, nofile (a
     *  descriptor limit to run it under), env (variables to add). Resolves
     *  once it is listening. */
    async start(short, { join = [], cookie = this.cookie, meshPort = 0, extra = [],
        nofile = null, env = null } = {}) {
        const name = short.includes('@') ? short : `${short}@127.0.0.1`;
        const args = ['--port', '0', '--mesh-port', String(meshPort), '--name', name,
            '--cookie', cookie, '--log-level', this.logLevel];
        if (this.tickMs !== null) {
            args.push('--tick-ms', String(this.tickMs), '--down-ms', String(this.downMs));
        }
        for (const j of join) {
            args.push('--join', typeof j === 'string' ? j : j.meshAddr);
        }
        args.push(...extra);
        const node = new MeshNode(this, name, args, { nofile, env });
        this.nodes.push(node);
        try {
            await node.started();
        } catch (e) {
            node.proc.kill('SIGKILL');
            throw e;
        }
        if (meshPort) {
            assert.equal(node.meshPort, meshPort, 'node did not take the requested mesh port');
        }
        return node;
    }

    /** Start `node`'s name again with the same arguments but its previous
     *  mesh port pinned (a restart). The old process must be gone. */
    async restart(node) {
        assert.ok(!node.alive, `${node.name} is still running`);
        const args = [...node.args];
        const i = args.indexOf('--mesh-port');
        args[i + 1] = String(node.meshPort);
        const fresh = new MeshNode(this, node.name, args);
        this.nodes.push(fresh);
        try {
            await fresh.started();
        } catch (e) {
            fresh.proc.kill('SIGKILL');
            throw e;
        }
        assert.equal(fresh.meshPort, node.meshPort);
        return fresh;
    }

    /** Run mesh_probe against `node` with the given requests ("members",
     *  "groups", "stats" or request objects); resolves with the parsed
     *  answers in order. Rejects if the probe fails. */
    probe(node, requests, { cookie = this.cookie, timeoutMs = 3000 } = {}) {
        const args = ['--target', node.meshAddr, '--cookie', cookie, '--timeout-ms',
            String(timeoutMs),
            ...requests.map((r) => (typeof r === 'string' ? r : JSON.stringify(r)))];
        return new Promise((resolve, reject) => {
            execFile(probeBin(), args, { timeout: timeoutMs + 5000 }, (err, stdout, stderr) => {
                if (err) {
                    reject(new Error(`mesh_probe ${args.join(' ')} failed: ${err.message}\n` +
                        `stdout: ${stdout}\nstderr: ${stderr}`));
                    return;
                }
                assert.doesNotMatch(stderr, SANITIZER_RE, `sanitizer report in mesh_probe:\n${stderr}`);
                // Incarnations and digests are 64-bit: keep them exact, as strings.
                const answers = stdout.trim().split('\n').map((l) => JSON.parse(
                    l.replace(/"(incarnation|digest)":(\d+)/g, '"$1":"$2"')));
                assert.equal(answers.length, requests.length);
                resolve(answers);
            });
        });
    }

    /** The node's members JSON (bn_admin_members_json). */
    async members(node) {
        return (await this.probe(node, ['members']))[0].members;
    }

    /** The node's groups JSON (bn_admin_groups_json). */
    async groups(node) {
        return (await this.probe(node, ['groups']))[0].groups;
    }

    /** The node's server stats (bn_server_stats_json). */
    async stats(node) {
        return (await this.probe(node, ['stats']))[0].stats;
    }

    /** Peers in `node`'s members view, hidden ones (probes) left out,
     *  keyed by name. */
    async peers(node) {
        const m = await this.members(node);
        const out = {};
        for (const n of m.nodes) {
            if (!n.hidden) {
                out[n.name] = n;
            }
        }
        return out;
    }

    /** Poll until every node in `nodes` sees every other as up with the
     *  incarnation that node announced, and nothing else up. */
    async waitFullMesh(nodes, timeoutMs = 5000) {
        let last = null;
        await waitFor(async () => {
            for (const n of nodes) {
                const peers = await this.peers(n);
                const up = Object.values(peers).filter((p) => p.state === 'up');
                last = { node: n.name, peers };
                if (up.length !== nodes.length - 1) {
                    return false;
                }
                for (const o of nodes) {
                    if (o !== n && (peers[o.name]?.state !== 'up' ||
                        String(peers[o.name].incarnation) !== o.incarnation)) {
                        return false;
                    }
                }
            }
            return true;
        }, timeoutMs, () => `a full mesh of ${nodes.map((n) => n.name).join(', ')}; ` +
            `last view: ${JSON.stringify(last)}`);
    }

    /** Poll until `node` knows that `peer` has `topic` (present=true) or
     *  not (present=false) in its group membership. */
    async waitPeerGroup(node, peer, topic, present = true, timeoutMs = 5000) {
        let last = null;
        await waitFor(async () => {
            const g = await this.groups(node);
            last = g;
            const list = g.peers[peer.name];
            if (list === undefined) {
                return false;
            }
            return list.includes(topic) === present;
        }, timeoutMs, () => `${node.name} to see ${topic} ${present ? 'in' : 'not in'} ` +
            `${peer.name}'s groups; last: ${JSON.stringify(last)}`);
    }

    /** SIGTERM every running node: each must exit 0; no node (dead ones
     *  included) may have a sanitizer report. Collects every failure. */
    async stopAll() {
        const errors = [];
        await Promise.all(this.nodes.map(async (n) => {
            try {
                if (n.alive) {
                    await n.stop();
                } else {
                    n.dropClients();
                    n.assertNoSanitizerReports();
                }
            } catch (e) {
                errors.push(e);
            }
        }));
        if (errors.length > 0) {
            throw errors[0];
        }
    }

    /** Tails of every node's stderr, for failure messages. */
    dump(chars = 3000) {
        return this.nodes.map((n, i) => `--- ${n.name} #${i} (exit ${JSON.stringify(n.exit)}) ---\n` +
            n.stderr.slice(-chars)).join('\n');
    }
}

/** Run `fn(cluster)` and always stop the cluster (asserting clean exits),
 *  appending the nodes' logs to any failure. */
export async function withCluster(opts, fn) {
    const cluster = new Cluster(opts);
    let failure = null;
    try {
        await fn(cluster);
    } catch (e) {
        failure = e;
    }
    try {
        await cluster.stopAll();
    } catch (e) {
        if (failure === null) {
            failure = e;
        } else {
            failure.message += `\n(also on stop: ${e.message})`;
        }
    }
    if (failure !== null) {
        if (typeof failure.message === 'string' && !failure.message.includes('--- cluster logs')) {
            failure.message += `\n--- cluster logs ---\n${cluster.dump()}`;
        }
        throw failure;
    }
}

// ------------------------------------------------------------ phoenix.js on a node

/** A connected phoenix.js socket on `node`, torn down with it. */
export async function phx(node) {
    const socket = new Socket(node.socketEndpoint, { transport: WebSocket });
    node.track(socket);
    socket.connect();
    await waitFor(() => socket.isConnected(), 5000, `phoenix socket to ${node.name}`);
    return socket;
}

/** A phoenix.js channel joined to room:lobby on `node`; every new_msg body
 *  it receives is appended to `ch.bodies`. */
export async function lobby(node) {
    const socket = await phx(node);
    const ch = socket.channel('room:lobby', {});
    ch.bodies = [];
    ch.on('new_msg', (p) => ch.bodies.push(p.body));
    await new Promise((resolve, reject) => {
        ch.join(3000)
            .receive('ok', resolve)
            .receive('error', (r) => reject(new Error(`join refused: ${JSON.stringify(r)}`)))
            .receive('timeout', () => reject(new Error(`join on ${node.name} timed out`)));
    });
    return ch;
}

/** Push new_msg; the chat channel does not reply to it, so the push's
 *  timeout timer is cancelled at once (it would only keep the process up). */
export function say(ch, body) {
    const push = ch.push('new_msg', { body }, 10000);
    push.cancelTimeout();
}
