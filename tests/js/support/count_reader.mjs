// A fast reader in its own process (so it does not share an event loop with
// the publisher it races): joins room:lobby on the given endpoint, counts
// new_msg bodies "<seq>:..." and prints one JSON line when it has `want` of
// them or its socket closes: {"n":..., "inOrder":..., "close":null|{code}}.
// Usage: node count_reader.mjs WS_URL WANT
import { WebSocket } from 'ws';

const [url, wantArg] = process.argv.slice(2);
const want = Number(wantArg);
const ws = new WebSocket(url);
let n = 0;
let inOrder = true;
let done = false;
function finish(close) {
    if (!done) {
        done = true;
        process.stdout.write(`${JSON.stringify({ n, inOrder, close })}\n`);
        ws.terminate();
    }
}
ws.on('open', () => {
    ws.send(JSON.stringify(['1', '1', 'room:lobby', 'phx_join', {}]));
    process.stdout.write('joined\n');
});
ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m[3] !== 'new_msg') {
        return;
    }
    const seq = Number(m[4].body.split(':')[0]);
    inOrder = inOrder && seq === n;
    n++;
    if (n === want) {
        finish(null);
    }
});
ws.on('close', (code) => finish({ code }));
ws.on('error', () => finish({ code: 'error' }));
