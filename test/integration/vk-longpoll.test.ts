/**
 * The VK Bots Long Poll cursor against the VK double and real Redis, one poll at a time: the ts in
 * Redis moves only after every event of an answer was handled (queued), and failed 1/2/3 move it
 * exactly as VK says.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { VkApi } from '../../adapters/vk/api.js';
import { VkLongPoll } from '../../adapters/vk/longpoll.js';
import { startVkDouble, type VkDouble } from '../doubles/vk-api.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';

let vk: VkDouble;
let redis: Redis;
const prefix = uniquePrefix();
const tsKey = `${prefix}:vk:ch:lp-ts`;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  vk = await startVkDouble();
  redis = await readyRedis();
});
afterAll(async () => {
  await removeKeys(redis, prefix);
  await redis.quit();
  await vk.close();
});
beforeEach(async () => {
  await removeKeys(redis, prefix);
});
afterEach(() => vk.reset());

/** A poller whose handler records event ids and fails where told. */
function poller(failOn: Set<string> = new Set()) {
  const handled: string[] = [];
  const api = new VkApi({ token: vk.community.token, apiRoot: vk.apiRoot, version: '5.199', timeoutMs: 3000 });
  const lp = new VkLongPoll({
    api,
    groupId: vk.community.id,
    redis,
    leaseKey: `${prefix}:poller`,
    tsKey,
    leaseMs: 4000,
    log,
    handle: async (u) => {
      const text = String((u as { object: { message: { text: string } } }).object.message.text);
      handled.push(text);
      if (failOn.delete(text)) throw new Error(`queue unavailable for ${text}`);
    },
  });
  const poll = () => lp.pollOnce(new AbortController().signal, 1);
  return { handled, poll };
}

describe('VK long poll cursor', () => {
  it('starts at "now", and moves only after every event of an answer is handled: a failure fetches the same events again', async () => {
    vk.pushMessageNew({ text: 'before the first poll' });
    const p = poller(new Set(['two']));
    await p.poll(); // nothing new since the server's ts: an empty answer after the wait
    const start = await redis.get(tsKey);
    expect(start).toBe(String(vk.currentTs()));
    vk.pushMessageNew({ text: 'one' });
    vk.pushMessageNew({ text: 'two' });
    await expect(p.poll()).rejects.toThrow('queue unavailable for two');
    expect(await redis.get(tsKey)).toBe(start);
    await p.poll();
    expect(p.handled).toEqual(['one', 'two', 'one', 'two']);
    expect(await redis.get(tsKey)).toBe(String(vk.currentTs()));
    expect(p.handled).not.toContain('before the first poll');
  });

  it('failed: 2 → a new key, the same ts: events from before and after the expiry come once', async () => {
    const p = poller();
    await p.poll();
    const ts = await redis.get(tsKey);
    vk.pushMessageNew({ text: 'queued while the key expires' });
    vk.expireKeys();
    await p.poll(); // failed: 2
    expect(await redis.get(tsKey)).toBe(ts);
    vk.pushMessageNew({ text: 'after' });
    await p.poll();
    expect(p.handled).toEqual(['queued while the key expires', 'after']);
  });

  it('failed: 1 → the ts VK gives; failed: 3 → a fresh key and ts; the cursor is shared by every poller of the community', async () => {
    const p = poller();
    await p.poll();
    vk.pushMessageNew({ text: 'lost with the history' });
    vk.dropHistory();
    await p.poll(); // failed: 1 with the current ts
    expect(await redis.get(tsKey)).toBe(String(vk.currentTs()));
    vk.failNextPoll(3);
    await p.poll();
    expect(await redis.get(tsKey)).toBe(String(vk.currentTs()));
    // Another process taking over goes on from the stored cursor.
    vk.pushMessageNew({ text: 'for the next poller' });
    const next = poller();
    await next.poll();
    expect(next.handled).toEqual(['for the next poller']);
    expect(p.handled).toEqual([]);
  });
});
