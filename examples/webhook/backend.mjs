// A Bennu webhook backend with nothing but Node's standard library: it
// checks each request's X-Bennu-Signature (HMAC-SHA256 of the body under the
// shared secret), then decides joins and answers client events.
//
//   node examples/webhook/backend.mjs --port 9000 --secret-file webhook.secret
//
// Policy (replace with your application's): user 7 may join doc:*; anyone
// else is refused with {"reason":"not allowed"}. The event "edit" is
// answered {"saved":true} and broadcast to the topic as "edited". Leave
// notifications are acknowledged.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

/** True when header is "sha256=<hex>" of the HMAC-SHA256 of body under secret. */
export function signatureValid(secret, body, header) {
    if (typeof header !== 'string' || !header.startsWith('sha256=')) {
        return false;
    }
    const want = crypto.createHmac('sha256', secret).update(body).digest();
    const got = Buffer.from(header.slice(7), 'hex');
    return got.length === want.length && crypto.timingSafeEqual(got, want);
}

/** The example policy: a request document in, an answer document out. */
export function policy(req) {
    switch (req.type) {
    case 'join':
        if (String(req.user_id) === '7') {
            return { ok: true, reply: { welcome: req.topic }, assigns: { role: 'editor' } };
        }
        return { ok: false, reason: 'not allowed' };
    case 'event':
        if (req.event === 'edit') {
            return {
                reply: { saved: true },
                broadcast: { event: 'edited', payload: { by: req.user_id, ...req.payload } },
            };
        }
        return { reply: { reason: `unknown event ${req.event}` }, reply_status: 'error' };
    default: // leave
        return {};
    }
}

/** An http.Server that verifies signatures and answers with decide(req). */
export function createBackend(secret, decide = policy) {
    return http.createServer((request, response) => {
        const chunks = [];
        request.on('data', (c) => chunks.push(c));
        request.on('end', () => {
            const body = Buffer.concat(chunks);
            if (!signatureValid(secret, body, request.headers['x-bennu-signature'])) {
                response.writeHead(401).end();
                return;
            }
            let answer;
            try {
                answer = decide(JSON.parse(body.toString('utf8')));
            } catch {
                response.writeHead(400).end();
                return;
            }
            const text = JSON.stringify(answer);
            response.writeHead(200, {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(text),
            }).end(text);
        });
    });
}

// Run as a program (not imported by a test); argv[1] may be a symlinked path.
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
    const arg = (name, dflt) => {
        const i = process.argv.indexOf(name);
        return i > 0 ? process.argv[i + 1] : dflt;
    };
    const port = Number(arg('--port', '9000'));
    const secret = fs.readFileSync(arg('--secret-file', 'webhook.secret'), 'utf8').trim();
    const server = createBackend(secret);
    server.listen(port, '127.0.0.1', () => {
        console.log(`webhook backend listening on 127.0.0.1:${server.address().port}`);
    });
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
