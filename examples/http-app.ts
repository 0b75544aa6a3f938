/**
 * A small app on the bridge's HTTP channel (adapters/http/README.md), with no dependency but Node:
 * each line typed on stdin is a user's message to the agents, and each agent reply the bridge
 * POSTs here is printed — after its Standard Webhooks signature was checked.
 *
 *   BRIDGE_URL=http://localhost:3000 CHANNEL_ID=my-app SECRET=whsec_… PORT=4000 \
 *     node --import tsx examples/http-app.ts
 *
 * with the channel's deliveryUrl set to http://<this host>:4000/bridge. Copy what you need:
 * `sign` and `verify` are the whole of the signature scheme.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { createInterface } from 'node:readline';

const BRIDGE_URL = required('BRIDGE_URL').replace(/\/+$/, '');
const CHANNEL_ID = required('CHANNEL_ID');
const SECRET = required('SECRET');
const PORT = Number(process.env.PORT ?? 4000);
const USER_ID = process.env.USER_ID ?? 'demo-user';

function required(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return v;
}

const key = Buffer.from(SECRET.replace(/^whsec_/, ''), 'base64');

function sign(id: string, timestamp: number, body: string | Buffer): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64')}`;
}

/** True when one of the v1 signatures matches and the timestamp is within 5 minutes. */
function verify(headers: http.IncomingHttpHeaders, body: Buffer): boolean {
  const id = String(headers['webhook-id'] ?? '');
  const timestamp = Number(headers['webhook-timestamp']);
  if (!id || !Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) return false;
  const expected = Buffer.from(sign(id, timestamp, body).slice(3), 'base64');
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .some((entry) => {
      const given = Buffer.from(entry.startsWith('v1,') ? entry.slice(3) : '', 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

/** Agent replies arrive here; a repeated webhook-id (a retry) is answered 200 and shown once. */
const seen = new Set<string>();
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST' || req.url !== '/bridge') return res.writeHead(404).end();
    if (!verify(req.headers, body)) return res.writeHead(401).end();
    const id = String(req.headers['webhook-id']);
    if (!seen.has(id)) {
      seen.add(id);
      const { user_id, message } = JSON.parse(body.toString('utf8')) as {
        user_id: string;
        message: { type: string; text?: string; url?: string };
      };
      console.log(`agent → ${user_id}: ${message.text ?? `[${message.type}] ${message.url}`}`);
    }
    res.writeHead(200).end();
  });
});

/** A user's message to the agents; the webhook-id lets the bridge drop a retried copy. */
async function send(text: string): Promise<void> {
  const body = JSON.stringify({ user: { id: USER_ID, name: 'Demo user' }, type: 'text', text });
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const res = await fetch(`${BRIDGE_URL}/http/${encodeURIComponent(CHANNEL_ID)}/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': sign(id, timestamp, body),
    },
    body,
  });
  console.log(res.ok ? `sent (${id})` : `not sent: ${res.status} ${await res.text()}`);
}

server.listen(PORT, () => {
  console.log(`http-app listening on :${PORT}; type a message and press Enter`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim()) send(line.trim()).catch((err: unknown) => console.error(`not sent: ${String(err)}`));
  });
});
