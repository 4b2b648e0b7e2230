// Mesh discovery for real deployments: --join-dns NAME[:PORT] takes seeds
// from DNS (here `localhost`, which resolves to 127.0.0.1 on loopback), and
// --advertise HOST:PORT is the address the other nodes dial (a node behind
// NAT or in a container): a node that learns of it through a third node's
// peer list dials the advertised address, not the listen address.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test as nodeTest } from 'node:test';

import { runBennu } from './support/server.mjs';
import { withCluster } from './support/cluster.mjs';

const test = (name, fn) => nodeTest(name, { timeout: 60000 }, fn);

test('--join-dns localhost:PORT finds the seed and the cluster becomes a full mesh', () =>
    withCluster({}, async (cl) => {
        const a = await cl.start('a');
        const b = await cl.start('b', { extra: ['--join-dns', `localhost:${a.meshPort}`] });
        const c = await cl.start('c', { extra: ['--join-dns', `localhost:${a.meshPort}`] });
        await cl.waitFullMesh([a, b, c]);
        await b.waitForLog(new RegExp(` event=mesh_dns_seed mesh=b@127\\.0\\.0\\.1 addr=127\\.0\\.0\\.1:${a.meshPort}`));
        // Each address becomes one seed, however often it is resolved.
        assert.equal(b.grep(/event=mesh_dns_seed .*addr=127\.0\.0\.1:/).length, 1);
    }));

test('--join-dns NAME without a port (the own mesh port) needs a fixed --mesh-port', async () => {
    const r = await runBennu(['--port', '0', '--mesh-port', '0', '--cookie', 'x'.repeat(20),
        '--join-dns', 'localhost']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad DNS seed/);
});

test('--advertise: peers learned through gossip are dialled at the advertised address', () =>
    withCluster({}, async (cl) => {
        // A TCP forwarder stands for the NAT / container port mapping.
        let target = null;
        let forwarded = 0;
        const sockets = new Set();
        const proxy = net.createServer((down) => {
            forwarded++;
            const up = net.connect({ host: '127.0.0.1', port: target });
            down.pipe(up);
            up.pipe(down);
            for (const s of [down, up]) {
                sockets.add(s);
                s.on('error', () => { down.destroy(); up.destroy(); });
                s.on('close', () => { down.destroy(); up.destroy(); sockets.delete(s); });
            }
        });
        await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
        const adv = proxy.address().port;
        try {
            const a = await cl.start('a', { extra: ['--advertise', `127.0.0.1:${adv}`] });
            target = a.meshPort;
            const b = await cl.start('b', { join: [a] });
            const c = await cl.start('c', { join: [b] }); // learns a from b only
            await cl.waitFullMesh([a, b, c]);
            const peers = await cl.peers(c);
            assert.equal(peers['a@127.0.0.1'].port, adv);
            assert.ok(forwarded >= 1, 'c did not dial the advertised address');
        } finally {
            for (const s of sockets) {
                s.destroy();
            }
            await new Promise((r) => proxy.close(r));
        }
    }));

test('--advertise and --join-dns are checked', async () => {
    for (const args of [['--advertise', 'nohost'], ['--advertise', 'h:0'], ['--advertise', ':4370'],
        ['--no-mesh', '--advertise', '127.0.0.1:4370'], ['--no-mesh', '--join-dns', 'localhost']]) {
        const r = await runBennu(['--port', '0', ...args]);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
});
