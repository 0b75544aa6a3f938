/**
 * The pacer (src/delivery/pacer.ts) on a real Redis: requests counted when they leave and recorded
 * at the latest moment they can have arrived, a line for the account's slots kept in order, the
 * conversation's own window, and the property the messenger cares about — in no window of time do
 * more requests arrive than the limit allows, however late they leave or arrive. Windows are short
 * so that time can pass for real.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SendLimits } from '../../src/adapter.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { PACING_SLEEP_MS, Pacer, type PacedChannel } from '../../src/delivery/pacer.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

let redis: Redis;
let other: Redis;
const prefix = uniquePrefix();
let n = 0;

beforeAll(async () => {
  redis = await readyRedis();
  other = await readyRedis();
});
afterAll(async () => {
  await removeKeys(redis, prefix);
  await Promise.all([redis.quit(), other.quit()]);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh channel (its own keys) with these limits. */
function channel(limits: SendLimits, isGroup?: (id: string) => boolean): { id: string; def: PacedChannel } {
  return { id: `c${++n}`, def: { limits, ...(isGroup ? { isGroup } : {}) } };
}

/** The wait a long pace() asked for, or 0 when it went. */
async function paceOrWait(p: Promise<void>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (err) {
    if (err instanceof DeliveryError && err.code === 'paced') return err.retryAfterMs!;
    throw err;
  }
}

/** Runs `fn` and says how long it took (ms on this process' clock, which runs at Redis' rate). */
async function timed<R>(fn: () => Promise<R>): Promise<{ value: R; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** The lane's head start: a paced wait is reported this much shorter than the slot is away. */
const HEAD_START = PACING_SLEEP_MS / 2;
/** Redis' clock counts whole milliseconds: a difference of two of its moments may be 1 ms off either way. */
const ROUNDING = 1;

describe('Pacer', () => {
  it('lets a burst through up to the account limit; the next one waits, about a window after the first', async () => {
    const pacer = new Pacer(redis, prefix);
    const c = channel({ account: { max: 3, windowMs: 2000 } });
    const { value: wait, ms } = await timed(async () => {
      for (const id of ['a', 'b', 'c']) {
        const attempt = pacer.attempt(c.id, c.def, id, `m-${id}:0`);
        await attempt.pace();
        await attempt.done();
      }
      return paceOrWait(pacer.attempt(c.id, c.def, 'd', 'm-d:0').pace());
    });
    // The first send's recorded moment (its answer's) leaves the window 2,001 ms after it; all of
    // this took `ms`, so the slot is at most that much nearer.
    expect(wait + HEAD_START).toBeLessThanOrEqual(2001);
    expect(wait + HEAD_START).toBeGreaterThanOrEqual(2001 - ms - ROUNDING);
  });

  it('a paced wait throws a rate_limited DeliveryError coded "paced"', async () => {
    const pacer = new Pacer(redis, prefix);
    const c = channel({ account: { max: 1, windowMs: 5000 } });
    const first = pacer.attempt(c.id, c.def, 'a', 'x:0');
    await first.pace();
    await first.done();
    const err = await pacer
      .attempt(c.id, c.def, 'b', 'y:0')
      .pace()
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).kind).toBe('rate_limited');
    expect((err as DeliveryError).code).toBe('paced');
  });

  it('waiting senders queue in the order they asked, each told the moment of its own slot, and keep their place', async () => {
    const pacer = new Pacer(redis, prefix);
    const c = channel({ account: { max: 3, windowMs: 5000 } });
    for (const id of ['a', 'b', 'c']) {
      const attempt = pacer.attempt(c.id, c.def, id, `m-${id}:0`);
      await attempt.pace();
      await attempt.done();
      await sleep(300); // three recorded moments at least 300 ms apart
    }
    const ask = (id: string) => timed(() => paceOrWait(pacer.attempt(c.id, c.def, id, `m-${id}:0`).pace()));
    const d = await ask('d');
    const e = await ask('e');
    const f = await ask('f');
    // d gets a's slot, e b's, f c's: each moment at least 300 ms after the one before, less the
    // time that passed between the asks (which shortens the later wait).
    expect(d.value).toBeGreaterThan(0);
    expect(e.value - d.value).toBeGreaterThanOrEqual(300 - d.ms - e.ms - 2 * ROUNDING);
    expect(f.value - e.value).toBeGreaterThanOrEqual(300 - e.ms - f.ms - 2 * ROUNDING);
    // Asking again with the same ticket: the same place (b's slot), not a newcomer's.
    const eAgain = await ask('e');
    expect(eAgain.value).toBeLessThanOrEqual(e.value);
    expect(eAgain.value).toBeGreaterThan(d.value);
    // A newcomer queues behind them all: a's slot, a window later.
    const g = await ask('g');
    expect(g.value - d.value).toBeGreaterThanOrEqual(5000 - eAgain.ms - g.ms - f.ms - e.ms - d.ms - 2 * ROUNDING);
  });

  it('a waiter far back in the line is told about its turn at the account rate, also when the window is not full', async () => {
    const pacer = new Pacer(redis, prefix);
    const c = channel({ account: { max: 4, windowMs: 2000 } });
    const send = async (id: string) => {
      const attempt = pacer.attempt(c.id, c.def, id, `${id}:0`);
      await attempt.pace();
      await attempt.done();
    };
    await send('a');
    await sleep(1000);
    for (const id of ['b', 'c', 'd']) await send(id);
    // Eight waiters: two turns of the window's four slots.
    const ask = (id: string) => paceOrWait(pacer.attempt(c.id, c.def, id, `${id}:0`).pace());
    for (const id of ['e', 'f', 'g', 'h', 'i', 'j', 'k', 'l']) expect(await ask(id)).toBeGreaterThan(0);
    await sleep(1100);
    // a has left the window (three of its four slots taken); the last waiter's turn is the second
    // turn of d's slot: ~2 s from now. (Counting turns as if the window had three slots makes it ~4 s.)
    const wait = await ask('l');
    expect(wait + HEAD_START).toBeLessThan(2000 + 1000);
    expect(wait + HEAD_START).toBeGreaterThan(1000);
  });

  it('a request holds its slot while in flight, and counts from the moment its answer was confirmed', async () => {
    const pacer = new Pacer(redis, prefix);
    const c = channel({ account: { max: 1, windowMs: 1000 } });
    const first = pacer.attempt(c.id, c.def, 'a', 'a:0');
    await first.pace();
    let settled = false;
    const second = paceOrWait(pacer.attempt(c.id, c.def, 'b', 'b:0').pace()).finally(() => (settled = true));
    // More than a window after the first left: had it been counted when it left, the second would be gone.
    await sleep(1200);
    expect(settled).toBe(false);
    // Its answer is in: the second is told to wait a window from then (less the lane's head start).
    const { value: wait, ms } = await timed(async () => {
      await first.done();
      return second;
    });
    expect(wait + HEAD_START).toBeGreaterThanOrEqual(1001 - ms - ROUNDING);
    expect(wait + HEAD_START).toBeLessThanOrEqual(1001);
  });

  it("the conversation's own limit makes its sender wait without holding a place in the account's line", async () => {
    const pacer = new Pacer(redis, prefix);
    const c = channel({ account: { max: 5, windowMs: 3000 }, conversation: { max: 1, windowMs: 3000 } });
    const a1 = pacer.attempt(c.id, c.def, 'a', 'a1:0');
    await a1.pace();
    await a1.done();
    expect(await paceOrWait(pacer.attempt(c.id, c.def, 'a', 'a2:0').pace())).toBeGreaterThan(2000);
    // Other conversations still find the account's slots free, with nobody in line before them.
    for (const id of ['b', 'c', 'd', 'e']) expect(await paceOrWait(pacer.attempt(c.id, c.def, id, `${id}:0`).pace())).toBe(0);
  });

  it("a group's limit applies instead of the conversation's; a request that is not a message counts for the account only", async () => {
    const pacer = new Pacer(redis, prefix);
    const c = channel(
      { account: { max: 10, windowMs: 3000 }, conversation: { max: 1, windowMs: 3000 }, group: { max: 2, windowMs: 3000 } },
      (id) => id.startsWith('-'),
    );
    const group = pacer.attempt(c.id, c.def, '-100', 'g:0');
    await group.pace();
    await group.pace();
    expect(await paceOrWait(group.pace())).toBeGreaterThan(2000);
    const user = pacer.attempt(c.id, c.def, '42', 'u:0');
    await user.pace('request');
    await user.pace('request');
    await user.pace(); // its one message in the window
    expect(await paceOrWait(user.pace())).toBeGreaterThan(2000);
  });

  it('a channel without limits is not paced (and costs no Redis call)', async () => {
    // A connection that connects on its first command: still waiting afterwards means none was sent.
    const untouched = new Redis(testRedisUrl(), { lazyConnect: true });
    const pacer = new Pacer(untouched, prefix);
    const c = channel({});
    const attempt = pacer.attempt(c.id, c.def, 'a', 'a:0');
    for (let i = 0; i < 50; i++) await attempt.pace();
    await attempt.done();
    expect(untouched.status).toBe('wait');
    untouched.disconnect();
  });

  it('in no window do more requests arrive than the limit allows, from two processes, whenever each arrives before its answer', async () => {
    const limit = { max: 4, windowMs: 200 };
    const c = channel({ account: limit });
    const processes = [new Pacer(redis, prefix), new Pacer(other, prefix)];
    const arrivals: number[] = [];
    // 12 conversations × 3 messages; each request "arrives" at a random moment of its round trip
    // (up to 60 ms, after up to 30 ms of a stalled event loop before it leaves; on a busy machine
    // the timers make both longer, which must not matter).
    const conversation = async (i: number) => {
      for (let m = 0; m < 3; m++) {
        // A new attempt each time, as the lane makes one when it is back from the queue.
        const attempt = () => processes[i % 2]!.attempt(c.id, c.def, `u${i}`, `u${i}-${m}:0`);
        let sending = attempt();
        for (let wait = await paceOrWait(sending.pace()); wait > 0; wait = await paceOrWait(sending.pace())) {
          await sleep(wait);
          sending = attempt();
        }
        const stall = Math.random() * 30;
        const trip = Math.random() * 30;
        await sleep(stall);
        arrivals.push(performance.now());
        await sleep(trip);
        await sending.done();
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, i) => conversation(i)));
    arrivals.sort((a, b) => a - b);
    expect(arrivals).toHaveLength(36);
    for (let i = 0; i + limit.max < arrivals.length; i++) {
      expect(arrivals[i + limit.max]! - arrivals[i]!, `requests ${i}…${i + limit.max}`).toBeGreaterThanOrEqual(limit.windowMs);
    }
  });
});
