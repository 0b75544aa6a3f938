/**
 * The ceiling: raw BullMQ on the same Redis, with none of the bridge's guarantees (no per-
 * conversation order, no dedupe, no pacing, no validation). One job per message; a Worker with
 * concurrency 50 POSTs each job with axios (keep-alive) to the same double the bridge delivers to.
 *
 * Two ways in (BENCH_MODE):
 * - direct: POST /run {conversations, perConversation} — this process itself calls queue.add for
 *   every message (one sequential producer per conversation) and answers when all were added.
 *   That is the ceiling: queue.add → Worker → POST.
 * - http: POST /anything with an update (inbound) or an agent reply (outbound) → queue.add → 200.
 *   The same webhook load as the bridge gets, so the two differ only in what happens in between.
 * POST /fill {count} adds jobs only (for Redis bytes per queued job; start with BENCH_WORKER=0).
 *
 * Env: BENCH_REDIS_URL, BENCH_PREFIX, BENCH_KIND (inbound|outbound), BENCH_TARGET_URL,
 * BENCH_TARGET_AUTH (Bearer token or empty), BENCH_MODE, BENCH_WORKER, BENCH_CONCURRENCY.
 */
import http from 'node:http';
import { Agent as HttpAgent } from 'node:http';
import axios from 'axios';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { converter, readBody, serveSubject, syntheticInput, type Kind } from './shapes.js';

const env = process.env;
const kind = (env.BENCH_KIND ?? 'inbound') as Kind;
const prefix = env.BENCH_PREFIX ?? 'ceil';
const convert = converter(kind, env);
const producer = new Redis(env.BENCH_REDIS_URL!, { maxRetriesPerRequest: null });
const queue = new Queue('ceiling', { connection: producer, prefix });
const client = axios.create({
  httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
  validateStatus: () => true,
  headers: { 'content-type': 'application/json', ...(env.BENCH_TARGET_AUTH ? { authorization: `Bearer ${env.BENCH_TARGET_AUTH}` } : {}) },
});
const target = env.BENCH_TARGET_URL!;
const jobOpts = { removeOnComplete: true, removeOnFail: true };

let worker: Worker | undefined;
if (env.BENCH_WORKER !== '0') {
  worker = new Worker(
    'ceiling',
    async (job) => {
      const res = await client.post(target, job.data, { timeout: 10_000 });
      if (res.status < 200 || res.status >= 300) throw new Error(`target answered ${res.status}`);
    },
    {
      connection: new Redis(env.BENCH_REDIS_URL!, { maxRetriesPerRequest: null }),
      prefix,
      concurrency: Number(env.BENCH_CONCURRENCY ?? 50),
    },
  );
  worker.on('error', (err) => console.error('worker error', err));
}

let nextUpdateId = 1;

async function produce(conversations: number, perConversation: number): Promise<void> {
  await Promise.all(
    Array.from({ length: conversations }, async (_, c) => {
      for (let i = 0; i < perConversation; i++) await queue.add('m', convert(syntheticInput(kind, c, i, nextUpdateId++)), jobOpts);
    }),
  );
}

const server = http.createServer((req, res) => {
  readBody(req)
    .then(async (raw) => {
      const body = JSON.parse(raw) as Record<string, number>;
      if (req.url === '/run') {
        await produce(body.conversations!, body.perConversation!);
      } else if (req.url === '/fill') {
        const n = body.count!;
        for (let i = 0; i < n; i += 1000)
          await queue.addBulk(
            Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({
              name: 'm',
              data: convert(syntheticInput(kind, (i + k) % 50, i + k, nextUpdateId++)),
              opts: jobOpts,
            })),
          );
      } else {
        await queue.add('m', convert(body), jobOpts);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    })
    .catch((err: unknown) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
    });
});
serveSubject(server, () => Promise.all([worker?.close(true), queue.close()]));
