/**
 * 2,000 random and malformed requests at the Graph webhook routes (GET and POST /whatsapp,
 * /messenger, /instagram): handshakes with odd parameters, bodies that are not JSON or of the
 * wrong shape, Meta notifications with every field mangled — most of them correctly signed, so
 * they get past the signature check into the normalizers — and wrong, missing or odd signatures.
 * The bridge answers each with a 4xx (or 200 for a valid handshake or notification), never a 5xx,
 * stays alive and healthy, and the conversations the garbage went to still get real messages
 * through afterwards, in order, once each.
 */
import http from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { signMetaBody, startGraphDouble, type GraphDouble, type WaUser } from '../doubles/graph-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { metaSettings, VERIFY_TOKEN, type MetaType } from '../helpers/meta.js';
import { World } from './support/harness.js';
import { groupBy, verify } from './support/verify.js';
import { mulberry32 as prng } from '../helpers/random.js';

let world: World | undefined;
let graph: GraphDouble | undefined;
const blingers: BlingerDouble[] = [];
afterEach(async () => {
  await world?.dispose();
  world = undefined;
  await graph?.close();
  graph = undefined;
  await Promise.all(blingers.splice(0).map((b) => b.close()));
});

const SEED = Number(process.env.CHAOS_SEED ?? 20261201);
const rnd = prng(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
const chance = (p: number) => rnd() < p;
const int = (max: number) => Math.floor(rnd() * max);

const TYPES: readonly MetaType[] = ['whatsapp', 'messenger', 'instagram'];
const TOKEN = 'meta-fuzz-blinger-token-0123456789';
const channelOf = (type: MetaType) => `${type}-fuzz`;
const WA_USERS: WaUser[] = [0, 1, 2].map((i) => ({ waId: `4915100000${i}`, userId: `DE.5000000${i}`, name: `Fuzz ${i}` }));
const PSIDS = ['7100000001', '7100000002', '7100000003'];

function randomString(): string {
  return pick([
    () => '',
    () => 'x'.repeat(int(5000)),
    () => 'é😀\u202e\u0000\uffff\ud800',
    () => '<script>alert(1)</script>',
    () => '__proto__',
    () => 'constructor',
    () => 'US.1',
    () => '../../etc/passwd',
    () => 'https://127.0.0.1:1/x.png',
    () => String(rnd()),
  ])();
}

function randomValue(depth = 0): unknown {
  const kinds: (() => unknown)[] = [
    () => null,
    () => chance(0.5),
    () => int(1e6) - 5e5,
    () => 2 ** 60,
    () => 1.5,
    randomString,
    () => [],
    () => ({}),
  ];
  if (depth < 3) {
    kinds.push(() => Array.from({ length: int(4) }, () => randomValue(depth + 1)));
    kinds.push(() =>
      Object.fromEntries(
        Array.from({ length: int(4) }, () => [pick(['id', 'type', 'text', 'messages', '__proto__', 'from']), randomValue(depth + 1)]),
      ),
    );
  }
  return pick(kinds)();
}

/** Sets, removes or replaces a random field somewhere in an object tree (arrays included). */
function mangle(o: unknown, times: number): void {
  for (let i = 0; i < times; i++) {
    let cur = o as Record<string, unknown>;
    while (chance(0.75)) {
      const keys = Object.keys(cur).filter((k) => typeof cur[k] === 'object' && cur[k] !== null);
      if (keys.length === 0) break;
      cur = cur[pick(keys)] as Record<string, unknown>;
    }
    const keys = Object.keys(cur);
    const key =
      keys.length && chance(0.8)
        ? pick(keys)
        : pick(['type', 'id', 'from_user_id', 'contacts', 'errors', 'attachments', 'is_echo', 'quick_reply']);
    if (chance(0.2)) delete cur[key];
    else cur[key] = randomValue();
  }
}

function validPayload(g: GraphDouble, type: MetaType): object {
  if (type === 'whatsapp') {
    const user = pick(WA_USERS);
    return pick([
      () => g.wa.text('fuzz', { user }),
      () => g.wa.image({ caption: 'c' }, { user }),
      () => g.wa.document({}, { user }),
      () => g.wa.location({ latitude: 1, longitude: 2 }, { user }),
      () => g.wa.contacts([{ name: 'A B', phone: '+1 555', waId: user.waId! }], { user }),
      () => g.wa.buttonReply({ id: 'b', title: 'B' }, 'wamid.x', { user }),
      () => g.wa.reaction('wamid.x', '👍', { user }),
      () => g.wa.unsupported('poll_creation', { user }),
      () => g.wa.status({ id: 'wamid.s', to: user.userId, via: 'recipient' }, pick(['failed', 'delivered'] as const), { user }),
    ])();
  }
  const p = type === 'messenger' ? g.fb : g.ig;
  const user = pick(PSIDS);
  return pick([
    () => p.text('fuzz', { user }),
    () => p.text('Q', { user, quickReply: pick(['q', '+1 650 555 1234']) }),
    () => p.postback({ title: 'T', payload: 'P' }, { user }),
    () => p.attachment('image', { url: 'https://127.0.0.1:1/cdn.jpg' }, { user }),
    () => p.echo('echo', { user }),
  ])();
}

interface FuzzRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

function randomBody(g: GraphDouble, type: MetaType): Buffer {
  return pick<() => Buffer>([
    () => {
      const o = validPayload(g, type);
      mangle(o, 1 + int(4));
      return Buffer.from(JSON.stringify(o));
    },
    () => {
      const o = validPayload(g, type);
      mangle(o, 1 + int(2));
      return Buffer.from(JSON.stringify(o));
    },
    () => Buffer.from(JSON.stringify(validPayload(g, pick(TYPES)))), // valid, maybe for another route
    () => Buffer.from(JSON.stringify(randomValue())),
    () => Buffer.from(JSON.stringify(validPayload(g, type)).slice(0, int(80))),
    () => Buffer.from(pick(['', 'null', '[]', '{}', '{"object":"page"}', '{"entry":{}}', '{"a":1,}', '\ufeff{}'])),
    () => Buffer.from(Array.from({ length: int(3000) }, () => int(256))),
    () => Buffer.from(`${'['.repeat(50_000)}${']'.repeat(50_000)}`),
    () => Buffer.from(`{"k":"${'x'.repeat(1024 * 1024 + int(1000))}"}`), // over the server's 1 MiB, within Meta's 3 MB
    () => Buffer.from(`{"k":"${'x'.repeat(3 * 1024 * 1024 + int(1000))}"}`), // over the Graph routes' 3 MB
  ])();
}

function randomRequest(g: GraphDouble): FuzzRequest {
  const type = pick(TYPES);
  const channel = chance(0.9) ? channelOf(type) : pick(['nope', '%00', 'x'.repeat(3000), '..%2F..%2Fetc', channelOf(pick(TYPES))]);
  const path = `/${type}/${channel}`;
  if (chance(0.2)) {
    const q = new URLSearchParams();
    if (chance(0.9)) q.set('hub.mode', pick(['subscribe', 'subscribe', 'unsubscribe', '', 'x'.repeat(5000)]));
    if (chance(0.9))
      q.set('hub.verify_token', pick([VERIFY_TOKEN, VERIFY_TOKEN, 'wrong', '', VERIFY_TOKEN.toUpperCase(), 'x'.repeat(8000)]));
    if (chance(0.9)) q.set('hub.challenge', pick(['1158201444', '<b>hi</b>', '', 'é😀', 'x'.repeat(300)]));
    if (chance(0.1)) q.append('hub.challenge', '2');
    return { method: 'GET', path: `${path}?${q.toString()}`, headers: {} };
  }
  const body = randomBody(g, type);
  const headers: Record<string, string> = {};
  const contentType = chance(0.8)
    ? 'application/json'
    : pick(['text/plain', 'application/x-www-form-urlencoded', '', 'application/json; charset=utf-16']);
  if (contentType) headers['content-type'] = contentType;
  const signature = pick([
    () => signMetaBody(body, g.appSecret),
    () => signMetaBody(body, g.appSecret),
    () => signMetaBody(body, g.appSecret),
    () => signMetaBody(body, 'wrong-secret'),
    () => 'sha256=',
    () => `sha1=${'0'.repeat(40)}`,
    () => 'x'.repeat(8000),
    () => undefined,
  ])();
  if (signature !== undefined) headers['x-hub-signature-256'] = signature;
  return { method: 'POST', path, headers, body };
}

function send(baseUrl: string, r: FuzzRequest, agent: http.Agent): Promise<number | 'closed'> {
  return new Promise((resolve, reject) => {
    let status: number | undefined;
    const headers = r.body ? { ...r.headers, 'content-length': String(r.body.length) } : r.headers;
    const req = http.request(`${baseUrl}${r.path}`, { method: r.method, agent, headers, timeout: 30_000 }, (res) => {
      status = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => resolve(status!));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${r.method} ${r.path.slice(0, 80)} within 30 s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve(status ?? 'closed');
      else reject(err);
    });
    req.end(r.body);
  });
}

it('2,000 random requests at the Graph webhook routes: no 5xx, alive, healthy, and the fuzzed conversations still deliver in order', async () => {
  const w = (world = await World.create({ seed: 61 }));
  const g = (graph = await startGraphDouble({ seed: 62 }));
  const blinger = new Map<MetaType, BlingerDouble>();
  for (const type of TYPES) {
    const b = await startBlingerDouble({ token: TOKEN, channelId: channelOf(type), seed: 63 });
    blingers.push(b);
    blinger.set(type, b);
    w.extraChannels.push({
      id: channelOf(type),
      blinger: { url: b.url, token: TOKEN, timeoutMs: 2000 },
      adapter: metaSettings(type, g) as { type: string },
      allowPrivateUrls: false,
    });
  }
  const bridge = await w.startBridge('all');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const statuses = new Map<number, number>();
  const serverErrors: string[] = [];
  let next = 0;
  const total = 2000;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < total) {
        next++;
        const r = randomRequest(g);
        const status = await send(bridge.url, r, agent);
        if (status === 'closed') {
          if ((r.body?.length ?? 0) <= 3 * 1024 * 1024 && r.path.length <= 2000)
            serverErrors.push(`connection closed on ${r.method} ${r.path.slice(0, 60)}`);
          continue;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500)
          serverErrors.push(
            `${status} ${r.method} ${r.path.slice(0, 60)} ${(r.body ?? Buffer.alloc(0)).subarray(0, 200).toString('utf8')}`,
          );
      }
    }),
  );
  agent.destroy();
  const histogram = [...statuses]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');
  expect(serverErrors).toEqual([]);
  expect(bridge.alive).toBe(true);
  expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${bridge.url}/readyz`)).status).toBe(200);
  for (const s of [200, 400, 401, 403, 404, 413, 415]) expect(statuses.get(s) ?? 0, `status ${s} (${histogram})`).toBeGreaterThan(0);

  // Not poisoned: real messages to the same conversations arrive, in order, once each.
  const expected = new Map<MetaType, Map<string, string[]>>(TYPES.map((t) => [t, new Map()]));
  await Promise.all(
    TYPES.flatMap((type) =>
      [0, 1, 2].map(async (u) => {
        const clientId = type === 'whatsapp' ? WA_USERS[u]!.userId : PSIDS[u]!;
        const texts: string[] = [];
        for (let i = 0; i < 5; i++) {
          const text = `real ${type} ${u} #${i}`;
          const payload =
            type === 'whatsapp'
              ? g.wa.text(text, { user: WA_USERS[u] })
              : (type === 'messenger' ? g.fb : g.ig).text(text, { user: clientId });
          const r = await g.deliver(`${bridge.url}/${type}/${channelOf(type)}`, payload, { attempts: 1 });
          expect(r.status).toBe(200);
          texts.push(text);
        }
        expected.get(type)!.set(clientId, texts);
      }),
    ),
  );
  let lost = 0;
  let duplicates = 0;
  let order = 0;
  for (const type of TYPES) {
    const b = blinger.get(type)!;
    const real = () => b.received.filter((m) => m.data.startsWith('real '));
    while (real().length < 15) await b.waitFor(b.received.length + 1, 30_000);
    const f = verify(
      expected.get(type)!,
      groupBy(
        real(),
        (m) => m.client_id,
        (m) => m.data,
      ),
    );
    lost += f.lost;
    duplicates += f.duplicates;
    order += f.orderViolations;
  }
  expect({ lost, duplicates, order }).toEqual({ lost: 0, duplicates: 0, order: 0 });
  expect(bridge.alive).toBe(true);
  // The app secret, verify token and access tokens never reach a log line.
  for (const secret of [g.appSecret, VERIFY_TOKEN, g.accounts.whatsapp.accessToken, g.accounts.messenger.accessToken])
    expect(bridge.log).not.toContain(secret);
  console.log(
    `chaos fuzz, Graph routes (seed ${SEED}): ${total} requests, statuses ${histogram}; alive, /healthz 200; 45 real messages after it: 0 lost, 0 duplicates, in order`,
  );
});
