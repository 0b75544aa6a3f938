/**
 * 2,000 random and malformed requests at every webhook route (test/chaos/fuzz/, one module each): wrong, missing and odd headers;
 * bodies that are not JSON, JSON of the wrong shape, updates and replies with every field mangled,
 * oversized and deeply nested ones. The bridge answers each with a 4xx (or 200 when it is a valid
 * message after all), never another 5xx than 503, stays alive and healthy, and the conversations
 * the garbage went to still deliver real messages afterwards, in order.
 */
import http from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { closedLoop, LoadClient } from '../../bench/lib/load.js';
import { addFigures, inboundLoad, outboundLoad, untilAllArrived, World } from './support/harness.js';
import { figuresLine, groupBy, verify } from './support/verify.js';
import { FUZZ_CHATS, FUZZ_CLIENTS, pick, SEED, setLocalFile, type FuzzRequest } from './fuzz/kit.js';
import { FUZZ_ROUTES } from './fuzz/routes.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

/** The status, or 'closed' when the server closed the connection before the body was sent. */
function send(baseUrl: string, r: FuzzRequest, agent: http.Agent): Promise<number | 'closed'> {
  return new Promise((resolve, reject) => {
    let status: number | undefined;
    const method = r.method ?? 'POST';
    const headers = method === 'POST' ? { ...r.headers, 'content-length': String(r.body.length) } : r.headers;
    const req = http.request(`${baseUrl}${r.path}`, { method, agent, headers, timeout: 30_000 }, (res) => {
      status = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => resolve(status!));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${r.path.slice(0, 80)} within 30 s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A server may answer an oversized request early and close: that refusal is fine.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve(status ?? 'closed');
      else reject(err);
    });
    req.end(method === 'POST' ? r.body : undefined);
  });
}

/** Requests a server may refuse by closing the connection: a body over the route's limit, a huge URL. */
const oversized = (r: FuzzRequest) => r.body.length > (r.maxBody ?? 1024 * 1024) || r.path.length > 2000;

it('2,000 random and malformed bodies and headers at every webhook route: no 5xx but 503, alive, healthy, not poisoned', async () => {
  const w = (world = await World.create({ seed: 51 }));
  setLocalFile(`${new URL(w.blinger.url).origin}/files`);
  for (const route of FUZZ_ROUTES) if (route.channels) w.extraChannels.push(...(await route.channels(w)));
  const bridge = await w.startBridge('all');
  const perRoute = new Map<string, number>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const statuses = new Map<number, number>();
  const serverErrors: string[] = [];
  let closed = 0;
  const total = 2000;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < total) {
        next++;
        const route = pick(FUZZ_ROUTES);
        perRoute.set(route.name, (perRoute.get(route.name) ?? 0) + 1);
        const r = route.request(w);
        const status = await send(bridge.url, r, agent);
        if (status === 'closed') {
          closed++;
          if (!oversized(r))
            serverErrors.push(`connection closed on ${r.method ?? 'POST'} ${r.path.slice(0, 60)} (${r.body.length} bytes)`);
          continue;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500 && status !== 503)
          serverErrors.push(
            `${status} ${r.method ?? 'POST'} ${r.path.slice(0, 60)} ${JSON.stringify(r.headers).slice(0, 200)} ${r.body.subarray(0, 200).toString('utf8')}`,
          );
      }
    }),
  );
  agent.destroy();
  const histogram =
    [...statuses]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}:${n}`)
      .join(' ') + (closed ? ` closed-on-oversized:${closed}` : '');

  expect(serverErrors).toEqual([]);
  // Redis was up all along: a 503 would mean the bridge failed on an input, not on the queue.
  expect(statuses.get(503) ?? 0).toBe(0);
  expect(bridge.alive).toBe(true);
  expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${bridge.url}/readyz`)).status).toBe(200);
  // Every kind of refusal was exercised, and some garbage was valid enough to be queued.
  for (const s of [200, 400, 401, 404, 413, 415]) expect(statuses.get(s) ?? 0, `status ${s} (${histogram})`).toBeGreaterThan(0);

  // Not poisoned: real messages to the same conversations arrive, in order.
  const client = new LoadClient();
  const inbound = inboundLoad(w, () => bridge.url, FUZZ_CHATS.length, 10, 'real');
  const outbound = outboundLoad(() => bridge.url, FUZZ_CLIENTS.length, 10, 'real');
  await Promise.all([
    closedLoop({ client, requests: inbound.requests, deadlineMs: 30_000 }),
    closedLoop({ client, requests: outbound.requests, deadlineMs: 30_000 }),
  ]);
  await untilAllArrived(w, 'inbound', inbound, 60_000);
  await untilAllArrived(w, 'outbound', outbound, 60_000);
  client.close();
  // Only the real messages count here; the garbage that was queued went wherever it could.
  const real = (text: string) => text.startsWith('real');
  const f = addFigures(
    verify(
      inbound.expected,
      groupBy(
        w.blinger.received.filter((m) => real(m.data)),
        (m) => m.client_id,
        (m) => m.data,
      ),
    ),
    verify(
      outbound.expected,
      groupBy(
        w.tg.sent.filter((s) => real(s.text ?? '')),
        (s) => s.chat_id,
        (s) => s.text ?? '',
      ),
    ),
  );
  expect(f.lost).toBe(0);
  expect(f.duplicates).toBe(0);
  expect(f.orderViolations).toBe(0);
  // Each route's own conversations too (routes with doubles of their own check them).
  for (const route of FUZZ_ROUTES) await route.afterwards?.(w, bridge.url);
  expect(bridge.alive).toBe(true);
  // No secret of any route's channels reached a log line.
  for (const secret of FUZZ_ROUTES.flatMap((r) => r.secrets?.() ?? [])) expect(bridge.log).not.toContain(secret);
  console.log(
    `chaos fuzz (seed ${SEED}): ${total} requests (${[...perRoute].map(([n, c]) => `${n} ${c}`).join(', ')}), statuses ${histogram}; process alive, /healthz 200; then ${figuresLine('real messages to the fuzzed chats', f)}`,
  );
});
