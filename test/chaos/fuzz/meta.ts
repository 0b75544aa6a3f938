/**
 * GET and POST /whatsapp, /messenger, /instagram/:channelId: verification handshakes with odd
 * parameters, and Meta notifications with every field mangled — most of them signed correctly over
 * the very bytes sent, so they get past the signature check into the normalizers — or with wrong,
 * missing or odd signatures. Afterwards, real messages to the fuzzed conversations of all three
 * arrive once each and in order.
 */
import { expect } from 'vitest';
import { signMetaBody, startGraphDouble, type GraphDouble, type WaUser } from '../../doubles/graph-api.js';
import { startBlingerDouble, type BlingerDouble } from '../../doubles/blinger.js';
import { metaSettings, VERIFY_TOKEN, type MetaType } from '../../helpers/meta.js';
import { groupBy, verify } from '../support/verify.js';
import { chance, int, mangle, pick, randomValue, type FuzzRequest, type FuzzRoute } from './kit.js';

const TYPES: readonly MetaType[] = ['whatsapp', 'messenger', 'instagram'];
const TOKEN = 'meta-fuzz-blinger-token-0123456789';
const channelOf = (type: MetaType) => `${type}-fuzz`;
const WA_USERS: WaUser[] = [0, 1, 2].map((i) => ({ waId: `4915100000${i}`, userId: `DE.5000000${i}`, name: `Fuzz ${i}` }));
const PSIDS = ['7100000001', '7100000002', '7100000003'];

let graph: GraphDouble;
const blingers = new Map<MetaType, BlingerDouble>();

function validPayload(type: MetaType): Record<string, unknown> {
  const g = graph;
  if (type === 'whatsapp') {
    const user = pick(WA_USERS);
    return pick<() => object>([
      () => g.wa.text('fuzz', { user }),
      () => g.wa.image({ caption: 'c' }, { user }),
      () => g.wa.document({}, { user }),
      () => g.wa.location({ latitude: 1, longitude: 2 }, { user }),
      () => g.wa.contacts([{ name: 'A B', phone: '+1 555', waId: user.waId! }], { user }),
      () => g.wa.buttonReply({ id: 'b', title: 'B' }, 'wamid.x', { user }),
      () => g.wa.reaction('wamid.x', '👍', { user }),
      () => g.wa.unsupported('poll_creation', { user }),
      () => g.wa.status({ id: 'wamid.s', to: user.userId, via: 'recipient' }, pick(['failed', 'delivered'] as const), { user }),
    ])() as Record<string, unknown>;
  }
  const p = type === 'messenger' ? g.fb : g.ig;
  const user = pick(PSIDS);
  return pick<() => object>([
    () => p.text('fuzz', { user }),
    () => p.text('Q', { user, quickReply: pick(['q', '+1 650 555 1234']) }),
    () => p.postback({ title: 'T', payload: 'P' }, { user }),
    () => p.attachment('image', { url: 'https://127.0.0.1:1/cdn.jpg' }, { user }),
    () => p.echo('echo', { user }),
  ])() as Record<string, unknown>;
}

function body(type: MetaType): Buffer {
  return pick<() => Buffer>([
    () => {
      const o = validPayload(type);
      mangle(o, 1 + int(4));
      return Buffer.from(JSON.stringify(o));
    },
    () => Buffer.from(JSON.stringify(validPayload(pick(TYPES)))), // valid, maybe for another route
    () => Buffer.from(JSON.stringify(randomValue())),
    () => Buffer.from(JSON.stringify(validPayload(type)).slice(0, int(80))),
    () => Buffer.from(pick(['', 'null', '[]', '{}', '{"object":"page"}', '{"entry":{}}', '{"a":1,}', '\ufeff{}'])),
    () => Buffer.from(Array.from({ length: int(3000) }, () => int(256))),
    () => Buffer.from(`{"k":"${'x'.repeat(1024 * 1024 + int(1000))}"}`), // over the server's 1 MiB, within Meta's 3 MB
    () => Buffer.from(`{"k":"${'x'.repeat(3 * 1024 * 1024 + int(1000))}"}`), // over the Graph routes' 3 MB
  ])();
}

function handshake(path: string): FuzzRequest {
  const q = new URLSearchParams();
  if (chance(0.9)) q.set('hub.mode', pick(['subscribe', 'subscribe', 'unsubscribe', '', 'x'.repeat(5000)]));
  if (chance(0.9)) q.set('hub.verify_token', pick([VERIFY_TOKEN, VERIFY_TOKEN, 'wrong', '', VERIFY_TOKEN.toUpperCase(), 'x'.repeat(8000)]));
  if (chance(0.9)) q.set('hub.challenge', pick(['1158201444', '<b>hi</b>', '', 'é😀', 'x'.repeat(300)]));
  if (chance(0.1)) q.append('hub.challenge', '2');
  return { method: 'GET', path: `${path}?${q.toString()}`, headers: {}, body: Buffer.alloc(0) };
}

export const metaRoute: FuzzRoute = {
  name: 'meta',
  async channels(w) {
    graph = await startGraphDouble({ seed: 62 });
    w.cleanups.push(() => graph.close());
    return Promise.all(
      TYPES.map(async (type) => {
        const b = await startBlingerDouble({ token: TOKEN, channelId: channelOf(type), seed: 63 });
        w.cleanups.push(() => b.close());
        blingers.set(type, b);
        return {
          id: channelOf(type),
          blinger: { url: b.url, token: TOKEN, timeoutMs: 2000 },
          adapter: metaSettings(type, graph) as { type: string },
          allowPrivateUrls: false,
        };
      }),
    );
  },
  request() {
    const type = pick(TYPES);
    const channel = chance(0.9) ? channelOf(type) : pick(['nope', '%00', 'x'.repeat(3000), '..%2F..%2Fetc', channelOf(pick(TYPES))]);
    const path = `/${type}/${channel}`;
    if (chance(0.2)) return handshake(path);
    const bytes = body(type);
    const headers: Record<string, string> = {};
    const contentType = chance(0.8)
      ? 'application/json'
      : pick(['text/plain', 'application/x-www-form-urlencoded', '', 'application/json; charset=utf-16']);
    if (contentType) headers['content-type'] = contentType;
    const signature = pick<() => string | undefined>([
      () => signMetaBody(bytes, graph.appSecret),
      () => signMetaBody(bytes, graph.appSecret),
      () => signMetaBody(bytes, graph.appSecret),
      () => signMetaBody(bytes, 'wrong-secret'),
      () => 'sha256=',
      () => `sha1=${'0'.repeat(40)}`,
      () => 'x'.repeat(8000),
      () => undefined,
    ])();
    if (signature !== undefined) headers['x-hub-signature-256'] = signature;
    return { method: 'POST', path, headers, body: bytes, maxBody: 3 * 1024 * 1024 };
  },
  async afterwards(_w, bridgeUrl) {
    // Not poisoned: real messages to the same conversations arrive, in order, once each.
    const expected = new Map<MetaType, Map<string, string[]>>(TYPES.map((t) => [t, new Map()]));
    await Promise.all(
      TYPES.flatMap((type) =>
        [0, 1, 2].map(async (u) => {
          const clientId = type === 'whatsapp' ? WA_USERS[u]!.userId! : PSIDS[u]!;
          const texts: string[] = [];
          for (let i = 0; i < 5; i++) {
            const text = `real ${type} ${u} #${i}`;
            const payload =
              type === 'whatsapp'
                ? graph.wa.text(text, { user: WA_USERS[u] })
                : (type === 'messenger' ? graph.fb : graph.ig).text(text, { user: clientId });
            expect((await graph.deliver(`${bridgeUrl}/${type}/${channelOf(type)}`, payload, { attempts: 1 })).status).toBe(200);
            texts.push(text);
          }
          expected.get(type)!.set(clientId, texts);
        }),
      ),
    );
    for (const type of TYPES) {
      const b = blingers.get(type)!;
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
      expect({ type, lost: f.lost, duplicates: f.duplicates, order: f.orderViolations }).toEqual({
        type,
        lost: 0,
        duplicates: 0,
        order: 0,
      });
    }
  },
  secrets: () => [graph.appSecret, VERIFY_TOKEN, graph.accounts.whatsapp.accessToken, graph.accounts.messenger.accessToken],
};
