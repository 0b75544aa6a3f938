/**
 * 2,000 random and malformed requests at the webhook routes (Telegram, VK's Callback API, Blinger's
 * replies): wrong, missing and odd headers and secrets;
 * bodies that are not JSON, JSON of the wrong shape, updates and replies with every field mangled,
 * oversized and deeply nested ones. The bridge answers each with a 4xx (or 200 when it is a valid
 * message after all), never another 5xx than 503, stays alive and healthy, and the conversations
 * the garbage went to still deliver real messages afterwards, in order.
 */
import http from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { closedLoop, LoadClient } from '../../bench/lib/load.js';
import {
  addFigures,
  BLINGER_TOKEN,
  CHANNEL_ID,
  inboundLoad,
  outboundLoad,
  untilAllArrived,
  VK_CHANNEL_ID,
  VK_SECRET,
  WEBHOOK_SECRET,
  World,
} from './support/harness.js';
import { figuresLine, groupBy, verify } from './support/verify.js';
import { mulberry32 as prng } from '../helpers/random.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

/** Reproducible: the same requests every run; CHAOS_SEED=<n> explores others. */
const SEED = Number(process.env.CHAOS_SEED ?? 20240611);
const rnd = prng(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
const chance = (p: number) => rnd() < p;
const int = (max: number) => Math.floor(rnd() * max);

/** The chats the garbage goes to; real messages follow to the same chats afterwards. */
const FUZZ_CHATS = [2000, 2001, 2002, 2003, 2004];
const FUZZ_CLIENTS = ['3000', '3001', '3002', '3003', '3004'];
/** The VK conversations the garbage goes to; real VK messages follow to them too. */
const VK_PEERS = [100001, 100002, 100003, 2_000_000_001, 2_000_000_002];
/**
 * Where file URLs in the garbage point: a local server that answers 404, so a reply that is valid
 * enough to be queued fails permanently at once. (An unreachable URL would be retried for
 * RETRY_MAX_AGE, holding its conversation — by design — and tests never leave 127.0.0.1.)
 */
let LOCAL_FILE = 'http://127.0.0.1:9/none';

function deep(levels: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = chance(0.5) ? [v] : { a: v };
  return v;
}

function randomString(): string {
  return pick([
    () => '',
    () => ' ',
    () => 'x'.repeat(int(5000)),
    () => 'é😀\u202e\u0000\uffff\ud800', // accents, emoji, RTL override, NUL, a lone surrogate
    () => '<script>alert(1)</script>',
    () => '${PATH} %s %n {{7*7}}',
    () => '__proto__',
    () => 'constructor',
    () => `${LOCAL_FILE}/a.png`,
    () => `${LOCAL_FILE}?q=${'x'.repeat(3000)}`,
    () => 'javascript:alert(1)',
    () => 'a'.repeat(70_000),
    () => String(rnd()),
  ])();
}

/** Any JSON value, from plain to hostile. */
function randomValue(depth = 0): unknown {
  const kinds: (() => unknown)[] = [
    () => null,
    () => chance(0.5),
    () => int(1e6) - 5e5,
    () => rnd() * 1e308,
    () => 2 ** 60,
    () => -1,
    () => 1.5,
    randomString,
    () => [],
    () => ({}),
  ];
  if (depth < 3) {
    kinds.push(() => Array.from({ length: int(4) }, () => randomValue(depth + 1)));
    kinds.push(() =>
      Object.fromEntries(
        Array.from({ length: int(4) }, () => [
          pick(['a', 'text', 'id', '__proto__', 'constructor', 'chat', 'type']),
          randomValue(depth + 1),
        ]),
      ),
    );
  }
  if (chance(0.03)) kinds.push(() => deep(2000, 'deep'));
  return pick(kinds)();
}

/** Sets, removes or replaces a random field somewhere in an object tree (mutates it). */
function mangle(o: Record<string, unknown>, times: number): void {
  for (let i = 0; i < times; i++) {
    const path: Record<string, unknown>[] = [o];
    let cur: Record<string, unknown> = o;
    while (chance(0.6)) {
      const keys = Object.keys(cur).filter((k) => typeof cur[k] === 'object' && cur[k] !== null && !Array.isArray(cur[k]));
      if (keys.length === 0) break;
      cur = cur[pick(keys)] as Record<string, unknown>;
      path.push(cur);
    }
    const keys = Object.keys(cur);
    const key =
      keys.length && chance(0.8)
        ? pick(keys)
        : pick([
            'photo',
            'document',
            'caption',
            'entities',
            'reply_to_message',
            'contact',
            'location',
            'poll',
            'sticker',
            'extra',
            'echo',
            'info',
          ]);
    if (chance(0.2)) delete cur[key];
    else cur[key] = randomValue();
  }
}

interface FuzzRequest {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

function telegramUpdate(w: World): Record<string, unknown> {
  const u = w.tg.makeMessageUpdate({ chat_id: pick(FUZZ_CHATS), text: 'fuzz' }) as unknown as Record<string, unknown>;
  if (chance(0.2)) {
    const m = u.message as Record<string, unknown>;
    delete m.text;
    Object.assign(
      m,
      pick([
        { photo: [{ file_id: 'f', file_unique_id: 'u', width: 1, height: 1 }] },
        { document: { file_id: 'f', file_unique_id: 'u', file_name: randomString() } },
        { location: { latitude: 91, longitude: 'x' } },
        { contact: { phone_number: randomValue(), first_name: randomValue() } },
        { poll: { question: randomValue(), options: randomValue() } },
        { caption: randomValue(), video: {} },
      ]),
    );
  }
  if (chance(0.15)) {
    u[pick(['edited_message', 'channel_post', 'callback_query', 'my_chat_member', 'business_message', 'unknown_kind'])] = u.message;
    if (chance(0.5)) delete u.message;
  }
  return u;
}

/** A VK Callback API event (the secret right most of the time), sometimes a confirmation or a button press. */
function vkEvent(w: World): Record<string, unknown> {
  const vk = w.vk!;
  const peer = pick(VK_PEERS);
  const e = pick<() => Record<string, unknown>>([
    () => vk.makeMessageNew({ peer, text: 'fuzz' }) as unknown as Record<string, unknown>,
    () =>
      vk.makeMessageNew({
        peer,
        text: 'fuzz',
        attachments: [{ type: 'photo' }, { type: 'doc' }],
        payload: '{"b":"x"}',
      }) as unknown as Record<string, unknown>,
    () =>
      vk.makeEvent('message_event', {
        user_id: 100001,
        peer_id: peer,
        event_id: 'e1',
        payload: { b: 'm:0', l: 'Menu' },
      }) as unknown as Record<string, unknown>,
    () => vk.makeEvent('message_edit', { peer_id: peer, from_id: 100001, id: 5, text: 'fuzz' }) as unknown as Record<string, unknown>,
    () => ({ type: 'confirmation', group_id: vk.community.id }),
  ])();
  const secret = pick([
    VK_SECRET,
    VK_SECRET,
    VK_SECRET,
    '',
    'wrong',
    VK_SECRET.toUpperCase(),
    `${VK_SECRET} `,
    'x'.repeat(8000),
    undefined,
    7,
  ]);
  if (secret !== undefined) e.secret = secret;
  return e;
}

function agentReply(): Record<string, unknown> {
  return {
    token: BLINGER_TOKEN,
    custom_channel_id: CHANNEL_ID,
    client_id: pick(FUZZ_CLIENTS),
    type: pick(['text', 'image', 'file']),
    data: `${LOCAL_FILE}/fuzz.png`,
  };
}

function randomBody(valid: () => Record<string, unknown>): Buffer {
  return pick<() => Buffer>([
    // A valid body with fields mangled (the most informative: it passes the outer checks).
    () => {
      const o = valid();
      mangle(o, 1 + int(4));
      return Buffer.from(JSON.stringify(o));
    },
    () => {
      const o = valid();
      mangle(o, 1 + int(4));
      return Buffer.from(JSON.stringify(o));
    },
    () => Buffer.from(JSON.stringify(randomValue())),
    () => Buffer.from(JSON.stringify(valid()).slice(0, int(60))), // truncated
    () => Buffer.from(`${JSON.stringify(valid())}garbage`),
    () => Buffer.from(pick(['', 'null', 'true', '0', '"x"', '[]', '{}', "{'a':1}", '{"a":NaN}', '\ufeff{}', '{"a":1,}', '{"a":1}{"b":2}'])),
    () => Buffer.from(Array.from({ length: int(3000) }, () => int(256))), // binary, invalid UTF-8
    () => Buffer.from(`${'['.repeat(50_000)}${JSON.stringify(valid())}${']'.repeat(50_000)}`), // deep nesting
    () => Buffer.from(JSON.stringify(valid()).replace(/"fuzz"|"http:[^"]*"/, `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`)), // a deep field
    () => Buffer.from(`{${'"k":'.repeat(1)}"${'x'.repeat(1024 * 1024 + int(1000))}"}`), // over 1 MiB
    () => Buffer.from(JSON.stringify({ ...valid(), __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } })),
  ])();
}

function randomRequest(w: World): FuzzRequest {
  if (chance(0.25)) return vkRequest(w);
  const telegram = chance(0.5);
  const headers: Record<string, string> = {};
  const contentType = chance(0.6)
    ? 'application/json'
    : pick([
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=xyz',
        'application/vnd.api+json',
        'application/json; charset=utf-16',
        'application/ json',
        '',
        '*/*',
      ]);
  if (contentType) headers['content-type'] = contentType;
  if (telegram) {
    const secret = pick([
      WEBHOOK_SECRET,
      WEBHOOK_SECRET,
      WEBHOOK_SECRET,
      '',
      'wrong',
      WEBHOOK_SECRET.toUpperCase(),
      `${WEBHOOK_SECRET} `,
      'x'.repeat(8000),
      undefined,
    ]);
    if (secret !== undefined) headers['x-telegram-bot-api-secret-token'] = secret;
  } else {
    const auth = pick([
      `Bearer ${BLINGER_TOKEN}`,
      `Bearer ${BLINGER_TOKEN}`,
      `Bearer ${BLINGER_TOKEN}`,
      `bearer ${BLINGER_TOKEN}`,
      'Bearer wrong',
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      'Bearer',
      `Bearer  ${BLINGER_TOKEN}`,
      'x'.repeat(8000),
      undefined,
    ]);
    if (auth !== undefined) headers.authorization = auth;
  }
  if (chance(0.05)) headers['content-encoding'] = pick(['gzip', 'br', 'identity', 'bogus']);
  if (chance(0.05)) headers['x-forwarded-for'] = pick(['1.2.3.4', 'garbage', '::1, 10.0.0.1']);
  const channel = chance(0.9) ? CHANNEL_ID : pick(['nope', '%00', 'x'.repeat(3000), '..%2F..%2Fetc', 'chaos%20', '']);
  const path = `/${telegram ? 'telegram' : 'blinger'}/${channel}`;
  return { path, headers, body: randomBody(telegram ? () => telegramUpdate(w) : agentReply) };
}

function vkRequest(w: World): FuzzRequest {
  const headers: Record<string, string> = {
    'content-type': chance(0.8)
      ? 'application/json'
      : pick(['text/plain', 'application/x-www-form-urlencoded', '', 'application/json; charset=utf-8']),
  };
  if (!headers['content-type']) delete headers['content-type'];
  if (chance(0.2)) headers['x-retry-counter'] = pick(['1', '2', '-1', 'abc', 'x'.repeat(3000)]);
  const channel = chance(0.9) ? VK_CHANNEL_ID : pick(['nope', CHANNEL_ID, '%00', 'x'.repeat(3000)]);
  return { path: `/vk/${channel}`, headers, body: randomBody(() => vkEvent(w)) };
}

/** The status, or 'closed' when the server closed the connection before the body was sent. */
function send(baseUrl: string, r: FuzzRequest, agent: http.Agent): Promise<number | 'closed'> {
  return new Promise((resolve, reject) => {
    let status: number | undefined;
    const req = http.request(
      `${baseUrl}${r.path}`,
      { method: 'POST', agent, headers: { ...r.headers, 'content-length': String(r.body.length) }, timeout: 30_000 },
      (res) => {
        status = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => resolve(status!));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to POST ${r.path.slice(0, 80)} within 30 s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A server may answer an oversized request early and close: that refusal is fine.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve(status ?? 'closed');
      else reject(err);
    });
    req.end(r.body);
  });
}

/** Requests a server may refuse by closing the connection: a body over the 1 MiB limit, a huge URL. */
const oversized = (r: FuzzRequest) => r.body.length > 1024 * 1024 || r.path.length > 2000;

it('2,000 random and malformed bodies and headers at the webhook routes (Telegram, VK, Blinger): no 5xx but 503, alive, healthy, not poisoned', async () => {
  const w = (world = await World.create({ seed: 51, vk: true }));
  LOCAL_FILE = `${new URL(w.blinger.url).origin}/files`;
  const bridge = await w.startBridge('all');
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
        const r = randomRequest(w);
        const status = await send(bridge.url, r, agent);
        if (status === 'closed') {
          closed++;
          if (!oversized(r)) serverErrors.push(`connection closed on POST ${r.path.slice(0, 60)} (${r.body.length} bytes)`);
          continue;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500 && status !== 503)
          serverErrors.push(
            `${status} POST ${r.path.slice(0, 60)} ${JSON.stringify(r.headers).slice(0, 200)} ${r.body.subarray(0, 200).toString('utf8')}`,
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
  for (const s of [200, 400, 401, 403, 404, 413, 415]) expect(statuses.get(s) ?? 0, `status ${s} (${histogram})`).toBeGreaterThan(0);

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
  // The VK conversations the garbage went to take real events too, through VK's own Callback API.
  const vk = w.vk!;
  const server = vk.addCallbackServer({ url: `${bridge.url}/vk/${VK_CHANNEL_ID}`, secret: VK_SECRET });
  expect(await vk.confirmCallbackServer(server)).toMatchObject({ confirmed: true, body: vk.confirmationCode() });
  const vkExpected = new Map(VK_PEERS.map((p) => [String(p), Array.from({ length: 10 }, (_, i) => `vkreal ${p}-${i}`)]));
  await Promise.all(
    VK_PEERS.map(async (p) => {
      for (const text of vkExpected.get(String(p))!)
        expect((await vk.deliverCallback(vk.makeMessageNew({ peer: p, text }), { maxAttempts: 5 })).ok).toBe(true);
    }),
  );
  const vkReal = () => w.vkBlinger!.received.filter((m) => m.data.includes('vkreal '));
  const deadline = Date.now() + 60_000;
  while (vkReal().length < 50 && Date.now() < deadline)
    await w.vkBlinger!.waitFor(w.vkBlinger!.received.length + 1, deadline - Date.now()).catch(() => undefined);
  const vkFigures = verify(
    vkExpected,
    groupBy(
      vkReal(),
      (m) => m.client_id,
      // In chats the author comes first ("Name: text").
      (m) => m.data.slice(m.data.indexOf('vkreal ')),
    ),
  );
  expect(vkFigures).toMatchObject({ lost: 0, duplicates: 0, orderViolations: 0 });
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
  expect(bridge.alive).toBe(true);
  console.log(
    `chaos fuzz (seed ${SEED}): ${total} requests, statuses ${histogram}; process alive, /healthz 200; then ${figuresLine('real messages to the fuzzed chats', f)}; ${figuresLine('real VK events to the fuzzed peers', vkFigures)}`,
  );
});
