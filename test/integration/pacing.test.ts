/**
 * Shared pacing (src/delivery/pacing.ts) on a real Redis: sliding windows, slots of the shared
 * window reserved in order for waiting senders, and the conversation's own window that only makes
 * a sender wait. Windows are short so that time can pass for real.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeSlot, type Window } from '../../src/delivery/pacing.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';

let redis: Redis;
const prefix = uniquePrefix();
let n = 0;

beforeAll(async () => {
  redis = await readyRedis();
});
afterAll(async () => {
  await removeKeys(redis, prefix);
  await redis.quit();
});

/** A fresh pair of windows: shared 3 per 600 ms, the chat's own 2 per 600 ms. */
function windows(chat = 'c1'): Window[] {
  const k = `${prefix}:p${++n}`;
  return [
    { key: `${k}:bot`, max: 3, windowMs: 600 },
    { key: `${k}:chat:${chat}`, max: 2, windowMs: 600 },
  ];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('takeSlot', () => {
  it('lets a burst through up to the limit, then says how long to wait', async () => {
    const w = windows();
    const shared = (chat: string) => [w[0]!, { ...w[1]!, key: `${w[1]!.key}-${chat}` }];
    expect(await takeSlot(redis, shared('a'), 1)).toBe(0);
    expect(await takeSlot(redis, shared('b'), 1)).toBe(0);
    expect(await takeSlot(redis, shared('c'), 1)).toBe(0);
    const wait = await takeSlot(redis, shared('d'), 1);
    expect(wait).toBeGreaterThan(500);
    expect(wait).toBeLessThanOrEqual(602);
  });

  it('reserves the shared window in order for waiting senders, spread over the window, and keeps each reservation', async () => {
    const w = windows();
    const forChat = (chat: string) => [w[0]!, { ...w[1]!, key: `${w[1]!.key}-${chat}` }];
    for (const chat of ['a', 'b', 'c']) expect(await takeSlot(redis, forChat(chat), 1, `id-${chat}`)).toBe(0);
    const d = await takeSlot(redis, forChat('d'), 1, 'id-d');
    const e = await takeSlot(redis, forChat('e'), 1, 'id-e');
    const f = await takeSlot(redis, forChat('f'), 1, 'id-f');
    expect(d).toBeGreaterThan(500);
    // In order, at least window/max (200 ms) apart: the senders do not all wake at once.
    expect(e - d).toBeGreaterThanOrEqual(195);
    expect(f - e).toBeGreaterThanOrEqual(195);
    // Asking again before the time: the same reservation, the remaining wait.
    const again = await takeSlot(redis, forChat('e'), 1, 'id-e');
    expect(again).toBeLessThanOrEqual(e);
    expect(again).toBeGreaterThan(e - 100);
    // A newcomer queues behind the reservations.
    const g = await takeSlot(redis, forChat('g'), 1, 'id-g');
    expect(g).toBeGreaterThan(f);

    await sleep(d + 5);
    expect(await takeSlot(redis, forChat('d'), 1, 'id-d')).toBe(0);
    // Used: another attempt of the same message (after a failed send) takes a new slot.
    expect(await takeSlot(redis, forChat('d'), 1, 'id-d')).toBeGreaterThan(g - d - 50);
  });

  it("makes a sender wait for its conversation's own window without reserving the shared one", async () => {
    const w = windows();
    expect(await takeSlot(redis, w, 1, 'm1')).toBe(0);
    expect(await takeSlot(redis, w, 1, 'm2')).toBe(0);
    const wait = await takeSlot(redis, w, 1, 'm3');
    expect(wait).toBeGreaterThan(500);
    // Nothing was reserved: the shared window still has its third slot for another chat now.
    expect(await takeSlot(redis, [w[0]!, { ...w[1]!, key: `${w[1]!.key}-other` }], 1, 'x1')).toBe(0);
    expect(await redis.zscore(w[0]!.key, 'm3:1')).toBeNull();
  });

  it('without a reservation id only says how long to wait', async () => {
    const w = windows();
    const forChat = (chat: string) => [w[0]!, { ...w[1]!, key: `${w[1]!.key}-${chat}` }];
    for (const chat of ['a', 'b', 'c']) expect(await takeSlot(redis, forChat(chat), 1)).toBe(0);
    const first = await takeSlot(redis, forChat('d'), 1);
    const second = await takeSlot(redis, forChat('e'), 1);
    expect(first).toBeGreaterThan(0);
    // Nobody queued: both are told the same moment.
    expect(Math.abs(second - first)).toBeLessThan(50);
    expect(await redis.zcard(w[0]!.key)).toBe(3);
  });

  it('takes one slot per part of a split message, capped at the window', async () => {
    const w = windows();
    expect(await takeSlot(redis, w, 5, 'long')).toBe(0);
    expect(await redis.zcard(w[0]!.key)).toBe(3);
    expect(await redis.zcard(w[1]!.key)).toBe(2);
    expect(await takeSlot(redis, [w[0]!, { ...w[1]!, key: `${w[1]!.key}-x` }], 1)).toBeGreaterThan(0);
  });
});
