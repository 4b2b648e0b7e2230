// A TCP proxy on loopback that stands for a network link between two nodes:
// cut() drops every connection through it and refuses new ones (a
// partition) until heal(). The target port is asked per connection, so a
// proxy can be created before the node behind it has its port (a target of
// 0 refuses).
import net from 'node:net';

export async function partitionProxy(targetPort) {
    const pairs = new Set();
    let cut = false;
    const server = net.createServer((down) => {
        if (cut || targetPort() === 0) {
            down.destroy();
            return;
        }
        const up = net.connect(targetPort(), '127.0.0.1');
        const pair = [down, up];
        pairs.add(pair);
        const end = () => { down.destroy(); up.destroy(); pairs.delete(pair); };
        down.on('error', end).on('close', end);
        up.on('error', end).on('close', end);
        down.pipe(up);
        up.pipe(down);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return {
        port: server.address().port,
        cut() {
            cut = true;
            for (const [d, u] of pairs) {
                d.destroy();
                u.destroy();
            }
            pairs.clear();
        },
        heal() { cut = false; },
        close() { this.cut(); return new Promise((r) => server.close(r)); },
    };
}
