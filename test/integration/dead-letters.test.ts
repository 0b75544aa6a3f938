/**
 * Dead letters (list, retry, purge), queue depths, and a worker's graceful close — over real Redis
 * with real lane queues and workers.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { LaneQueue } from '../../src/delivery/lane-queue.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { DeadLetters } from '../../src/delivery/dead-letters.js';
import { channelQueueStats, directionTotals } from '../../src/delivery/queue-stats.js';
import type { DeadLetter, LaneRef } from '../../src/delivery/lane-store.js';
import { readyRedis, redisClient, removeKeys, uniquePrefix } from '../helpers/redis.js';

const log = pino({ level: 'silent' });
type Msg = { text: string; type: 'text' };
const msg = (text: string): Msg => ({ text, type: 'text' });

describe('dead letters, queue stats and graceful close over real Redis', () => {
  const prefix = uniquePrefix();
  const admin = redisClient();
  const conns: Redis[] = [];
  const queues: LaneQueue<Msg>[] = [];
  let producer!: Redis;

  const makeQueue = (direction: 'inbound' | 'outbound' = 'outbound', backoff = { baseMs: 5, maxMs: 40 }) => {
    const q = new LaneQueue<Msg>({ direction, prefix, producer, log, retryMaxAgeMs: 60_000, backoff });
    queues.push(q);
    return q;
  };
  const workerConn = () => {
    const c = redisClient();
    conns.push(c);
    return c;
  };
  /** Resolves with the next n events of that name. */
  const collect = <E extends 'delivered' | 'deadLettered'>(q: LaneQueue<Msg>, event: E, n: number) =>
    new Promise<unknown[]>((resolve) => {
      const got: unknown[] = [];
      const on = (...args: unknown[]) => {
        got.push(args[0]);
        if (got.length === n) {
          q.off(event, on as never);
          resolve(got);
        }
      };
      q.on(event, on as never);
    });

  beforeEach(async () => {
    await removeKeys(admin, prefix);
    producer = await readyRedis({ failFast: true });
    conns.push(producer);
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.close({ graceMs: 1000 })));
    await Promise.all(conns.splice(0).map((c) => c.quit().catch(() => undefined)));
  });
  afterAll(async () => {
    await removeKeys(admin, prefix);
    await admin.quit();
  });

  it('lists dead letters newest first, by channel, with a limit; retry puts one back at the end of its lane, once', async () => {
    const out = makeQueue('outbound');
    const inb = makeQueue('inbound');
    const dl = new DeadLetters({ inbound: inb as LaneQueue<unknown>, outbound: out as LaneQueue<unknown> });
    // "blocked" chats fail for good until unblocked.
    const blocked = new Set(['u1', 'u2']);
    const delivered: string[] = [];
    out.startWorker({
      connection: workerConn(),
      concurrency: 4,
      deliver: async ({ lane, item }) => {
        if (blocked.has(lane.clientId)) throw DeliveryError.permanent('Telegram 403: Forbidden: bot was blocked by the user', 'blocked');
        delivered.push(`${lane.clientId}:${item.payload.text}`);
      },
    });
    const dead = collect(out, 'deadLettered', 3);
    await out.enqueue({ channelId: 'tg-a', clientId: 'u1' }, [msg('a1')]);
    await out.enqueue({ channelId: 'tg-b', clientId: 'u2' }, [msg('b1')]);
    await out.enqueue({ channelId: 'tg-a', clientId: 'u1' }, [msg('a2')]);
    const letters = (await dead) as DeadLetter<Msg>[];
    expect(letters.map((l) => (l.item.payload as Msg).text).sort()).toEqual(['a1', 'a2', 'b1']);
    expect(letters.every((l) => l.code === 'blocked' && l.attempts === 1)).toBe(true);

    expect(await dl.count()).toBe(3);
    expect(await dl.count('inbound')).toBe(0);
    const all = await dl.list();
    expect(all).toHaveLength(3);
    expect([...all].sort((a, b) => b.failedAt - a.failedAt).map((l) => l.id)).toEqual(all.map((l) => l.id));
    const onlyA = await dl.list({ channel: 'tg-a' });
    expect(onlyA.map((l) => (l.item.payload as Msg).text).sort()).toEqual(['a1', 'a2']);
    expect(await dl.list({ limit: 1 })).toHaveLength(1);
    expect(await dl.list({ direction: 'inbound' })).toEqual([]);

    // The user unblocks the bot; u1 has written meanwhile — a retried letter goes after that.
    blocked.delete('u1');
    const later = collect(out, 'delivered', 1);
    await out.enqueue({ channelId: 'tg-a', clientId: 'u1' }, [msg('a3')]);
    await later;
    const a1 = onlyA.find((l) => (l.item.payload as Msg).text === 'a1')!;
    const a2 = onlyA.find((l) => (l.item.payload as Msg).text === 'a2')!;
    const two = collect(out, 'delivered', 2);
    expect(await dl.retry(a1.id)).toBe(true);
    expect(await dl.retry(a1.id)).toBe(false); // already retried: no second copy
    expect(await dl.retry(a2.id)).toBe(true);
    await two;
    expect(delivered).toEqual(['u1:a3', 'u1:a1', 'u1:a2']);
    expect(await dl.count()).toBe(1);
    expect(await dl.get(a1.id)).toBeUndefined();
  });

  it('retryAll (per channel) reports progress and refills lanes in failure order; purge drops only old letters', async () => {
    const out = makeQueue('outbound');
    const inb = makeQueue('inbound');
    const dl = new DeadLetters({ inbound: inb as LaneQueue<unknown>, outbound: out as LaneQueue<unknown> });
    let failing = true;
    const delivered: string[] = [];
    out.startWorker({
      connection: workerConn(),
      concurrency: 4,
      deliver: async ({ item }) => {
        if (failing) throw DeliveryError.permanent('Telegram 400: Bad Request: chat not found', 'chat_not_found');
        delivered.push(item.payload.text);
      },
    });
    const lane: LaneRef = { channelId: 'tg-a', clientId: '7' };
    const dead = collect(out, 'deadLettered', 6);
    for (let i = 1; i <= 5; i++) await out.enqueue(lane, [msg(`m${i}`)]);
    await out.enqueue({ channelId: 'tg-b', clientId: '8' }, [msg('other')]);
    await dead;

    failing = false;
    const progress: [number, number][] = [];
    const done = collect(out, 'delivered', 5);
    const res = await dl.retryAll({ channel: 'tg-a', onProgress: (d, t) => progress.push([d, t]) });
    expect(res).toEqual({ retried: 5, total: 5 });
    expect(progress[0]).toEqual([0, 5]);
    expect(progress.at(-1)).toEqual([5, 5]);
    await done;
    expect(delivered).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(await dl.count()).toBe(1);

    // Purge: the remaining letter is "old" relative to a cut-off in the future, not to one in the past.
    expect(await dl.purge(Date.now() - 60_000)).toBe(0);
    expect(await dl.count()).toBe(1);
    expect(await dl.purge(Date.now() + 1)).toBe(1);
    expect(await dl.count()).toBe(0);
    expect(await admin.exists(out.store.dlqKey, out.store.dlqIndexKey)).toBe(0);
  });

  it('counts waiting, active, delayed and failed messages per channel, and the oldest waiting', async () => {
    // Backoff long enough that 'flaky' stays delayed while we look.
    const out = makeQueue('outbound', { baseMs: 60_000, maxMs: 60_000 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const isActive = new Promise<void>((r) => (started = r));
    out.startWorker({
      connection: workerConn(),
      concurrency: 4,
      deliver: async ({ lane }) => {
        if (lane.clientId === 'slow') {
          started();
          await held;
          return;
        }
        if (lane.clientId === 'flaky') throw DeliveryError.transient('Telegram 502', 'http_502');
        throw DeliveryError.permanent('gone', 'chat_not_found');
      },
    });
    const t0 = Date.now();
    await out.enqueue({ channelId: 'tg-a', clientId: 'slow' }, [msg('s1'), msg('s2'), msg('s3')]);
    await isActive;
    const retried = new Promise((r) => out.once('retrying', r));
    await out.enqueue({ channelId: 'tg-a', clientId: 'flaky' }, [msg('f1'), msg('f2')]);
    await retried;
    const dead = collect(out, 'deadLettered', 1);
    await out.enqueue({ channelId: 'tg-b', clientId: 'gone' }, [msg('g1')]);
    await dead;
    await expect.poll(async () => await out.queue.getDelayedCount()).toBe(1);

    const stats = await channelQueueStats(out, { deadLettersByChannel: true });
    expect(stats.get('tg-a')).toMatchObject({ active: 1, delayed: 1, waiting: 3, failed: 0 });
    expect(stats.get('tg-b')).toMatchObject({ active: 0, delayed: 0, waiting: 0, failed: 1 });
    expect(stats.get('tg-a')!.oldestAt).toBeGreaterThanOrEqual(t0);
    expect(stats.get('tg-a')!.oldestAt).toBeLessThan(Date.now());
    const totals = await directionTotals(out);
    expect(totals).toMatchObject({ active: 1, delayed: 1, waiting: 3, failed: 1 });
    release();
  });

  it('close() lets the message in flight finish and leaves the rest of the lane queued', async () => {
    const out = makeQueue('outbound');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inFlight = new Promise<void>((r) => (started = r));
    const delivered: string[] = [];
    out.startWorker({
      connection: workerConn(),
      concurrency: 2,
      deliver: async ({ item }) => {
        if (item.payload.text === 'm1') {
          started();
          await held;
        }
        delivered.push(item.payload.text);
      },
    });
    const lane = { channelId: 'tg-a', clientId: '1' };
    await out.enqueue(lane, [msg('m1'), msg('m2'), msg('m3')]);
    await inFlight;
    const closing = out.close({ graceMs: 10_000 });
    setTimeout(release, 100);
    expect(await closing).toBe('drained');
    expect(delivered).toEqual(['m1']);
    expect(await out.store.length(lane)).toBe(2);
    // The lane's job went back to the queue, ready for another worker.
    const ids = await out.queue.getRanges(['wait', 'delayed', 'prioritized'], 0, -1);
    expect(ids).toContain('tg-a|1');
    queues.splice(queues.indexOf(out), 1);

    // Another worker delivers the rest, in order.
    const next = makeQueue('outbound');
    const rest = collect(next, 'delivered', 2);
    next.startWorker({ connection: workerConn(), concurrency: 2, deliver: async ({ item }) => void delivered.push(item.payload.text) });
    await rest;
    expect(delivered).toEqual(['m1', 'm2', 'm3']);
  });

  it('close() gives up after the grace period; the stuck message stays at the head of its lane', async () => {
    const out = makeQueue('outbound');
    let started!: () => void;
    const inFlight = new Promise<void>((r) => (started = r));
    out.startWorker({
      connection: workerConn(),
      concurrency: 1,
      deliver: () => {
        started();
        return new Promise(() => undefined); // never answers
      },
    });
    const lane = { channelId: 'tg-a', clientId: '2' };
    await out.enqueue(lane, [msg('stuck'), msg('next')]);
    await inFlight;
    const t = Date.now();
    expect(await out.close({ graceMs: 300 })).toBe('timed-out');
    expect(Date.now() - t).toBeLessThan(3000);
    queues.splice(queues.indexOf(out), 1);
    expect((await out.store.head<Msg>(lane))!.payload.text).toBe('stuck');
    expect(await out.store.length(lane)).toBe(2);
  });
});
