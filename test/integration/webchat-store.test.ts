/**
 * The web chat's history in the real Redis: what became of a visitor's message is written into
 * its entry (and announced to the open pages), in whichever order the delivery and the append
 * happen, and only forward.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { WebchatStore, type StoredEntry } from '../../adapters/webchat/store.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';

let redis: Redis;
let sub: Redis;
const prefix = uniquePrefix();
let n = 0;
const pushes: Array<{ channel: string; push: Record<string, unknown> }> = [];

beforeAll(async () => {
  redis = await readyRedis();
  sub = await readyRedis();
  sub.on('pmessage', (_p: string, channel: string, m: string) => pushes.push({ channel, push: JSON.parse(m) as Record<string, unknown> }));
  await sub.psubscribe(`${prefix}:*:push`);
});

afterAll(async () => {
  await removeKeys(redis, prefix);
  await Promise.all([redis.quit(), sub.quit()]);
});

function store(): { s: WebchatStore; channel: string } {
  const base = `${prefix}:c${++n}`;
  return { s: new WebchatStore(redis, base), channel: `${base}:push` };
}

const entry = (id: string, extra: Partial<StoredEntry> = {}): StoredEntry => ({
  id,
  from: 'visitor',
  type: 'text',
  data: 'a "quoted" text / with a slash, ünïcödé and 1767225600000',
  at: 1767225600123,
  ...extra,
});

/** The pushes of one store, in the order Redis published them (after the PING's reply, all are in). */
async function pushesOf(channel: string, clientId: string) {
  await sub.ping();
  return pushes
    .filter((p) => p.channel === channel && p.push.v === clientId)
    .map(({ push: p }) => (p.s ? { status: p.s } : { entry: (p.e as StoredEntry).id }));
}

describe('a visitor entry’s status', () => {
  it('is written into the entry, leaving the rest exactly as stored, and only moves forward', async () => {
    const { s, channel } = store();
    const e = entry('m-0001-aaaa', { kind: 'phone', source: '+44 20 7946 0000' });
    expect(await s.append('web-a', e)).toEqual({ result: 'appended' });
    await s.setStatus('web-a', e.id, 'delivered');
    expect(await s.history('web-a')).toEqual([{ ...e, status: 'delivered' }]);
    // A late "failed" (a duplicate delivery attempt dead-lettered) does not undo "delivered".
    await s.setStatus('web-a', e.id, 'failed');
    expect((await s.history('web-a'))[0]!.status).toBe('delivered');

    const f = entry('m-0002-bbbb');
    await s.append('web-a', f);
    await s.setStatus('web-a', f.id, 'failed');
    await s.setStatus('web-a', f.id, 'resent');
    await s.setStatus('web-a', f.id, 'delivered');
    expect(await s.history('web-a')).toEqual([
      { ...e, status: 'delivered' },
      { ...f, status: 'resent' },
    ]);
    expect(await pushesOf(channel, 'web-a')).toEqual([
      { entry: e.id },
      { status: { id: e.id, status: 'delivered' } },
      { entry: f.id },
      { status: { id: f.id, status: 'failed' } },
      { status: { id: f.id, status: 'resent' } },
    ]);
  });

  it('delivered before it was appended: the append gives the entry its status and announces it after the entry', async () => {
    const { s, channel } = store();
    const e = entry('m-0003-cccc');
    await s.setStatus('web-b', e.id, 'delivered');
    expect(await s.history('web-b')).toEqual([]);
    expect(await s.append('web-b', e)).toEqual({ result: 'appended', status: 'delivered' });
    expect(await s.history('web-b')).toEqual([{ ...e, status: 'delivered' }]);
    expect(await pushesOf(channel, 'web-b')).toEqual([{ entry: e.id }, { status: { id: e.id, status: 'delivered' } }]);
  });

  it('finds an entry far back in a long history, and never marks an agent’s reply', async () => {
    const { s } = store();
    const first = entry('m-0004-dddd');
    await s.append('web-c', first);
    for (let i = 0; i < 120; i++) await s.append('web-c', entry(`m-filler-${String(i).padStart(4, '0')}`));
    await s.append('web-c', { id: 'agent-0001', from: 'agent', type: 'text', data: 'hi', at: 1 });
    await s.setStatus('web-c', first.id, 'failed');
    await s.setStatus('web-c', 'agent-0001', 'delivered');
    const h = await s.history('web-c');
    expect(h[0]).toEqual({ ...first, status: 'failed' });
    expect(h.at(-1)).toEqual({ id: 'agent-0001', from: 'agent', type: 'text', data: 'hi', at: 1 });
  });
});
