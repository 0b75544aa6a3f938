/**
 * The naive baseline: no queue at all. Each webhook POST is converted and forwarded with one
 * axios POST (keep-alive) before it is answered — nothing is durable, nothing is retried, order
 * holds only because each conversation's sender waits for the answer.
 *
 * Env: BENCH_KIND (inbound|outbound), BENCH_TARGET_URL, BENCH_TARGET_AUTH.
 */
import http from 'node:http';
import { Agent as HttpAgent } from 'node:http';
import axios from 'axios';
import { converter, readBody, serveSubject, type Kind } from './shapes.js';

const env = process.env;
const convert = converter((env.BENCH_KIND ?? 'inbound') as Kind, env);
const client = axios.create({
  httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
  validateStatus: () => true,
  headers: { 'content-type': 'application/json', ...(env.BENCH_TARGET_AUTH ? { authorization: `Bearer ${env.BENCH_TARGET_AUTH}` } : {}) },
});
const target = env.BENCH_TARGET_URL!;

const server = http.createServer((req, res) => {
  readBody(req)
    .then(async (raw) => {
      const out = await client.post(target, convert(JSON.parse(raw)), { timeout: 10_000 });
      const ok = out.status >= 200 && out.status < 300;
      res
        .writeHead(ok ? 200 : 502, { 'content-type': 'application/json' })
        .end(ok ? '{"ok":true}' : JSON.stringify({ error: `target answered ${out.status}` }));
    })
    .catch((err: unknown) => {
      res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
    });
});
serveSubject(server);
