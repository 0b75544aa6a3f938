import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { once } from 'node:events';
import { LaneQueue } from '../../src/delivery/lane-queue.js';
import { laneMember } from '../../src/delivery/lane-store.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { readyRedis, redisClient, removeKeys, uniquePrefix } from '../helpers/redis.js';

const log = pino({ level: process.env.LQ_DEBUG ? 'debug' : 'silent' });
type Msg = { conv: string; n: number };

describe('LaneQueue: per-conversation order over real Redis', () => {
  const prefix = uniquePrefix();
  const conns: Redis[] = [];
  const queues: LaneQueue<Msg>[] = [];
  const admin = redisClient();

  let producer!: Redis;
  function makeQueue(): LaneQueue<Msg> {
    conns.push(producer);
    const q = new LaneQueue<Msg>({ direction: 'inbound', prefix, producer, log, retryMaxAgeMs: 60_000, backoff: { baseMs: 5, maxMs: 40 } });
    queues.push(q);
    return q;
  }
  function workerConn(): Redis {
    const c = redisClient();
    conns.push(c);
    return c;
  }

  beforeEach(async () => {
    await removeKeys(admin, prefix);
    producer = await readyRedis({ failFast: true });
    conns.push(producer);
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.close()));
    await Promise.all(conns.splice(0).map((c) => c.quit().catch(() => undefined)));
  });
  afterAll(async () => {
    await removeKeys(admin, prefix);
    await admin.quit();
  });

  it('delivers each conversation in order under random transient failures, with two workers', async () => {
    const front = makeQueue();
    const delivered = new Map<string, number[]>();
    let attempts = 0;
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const total = 20 * 25;
    const done = new Promise<void>((resolve) => {
      let count = 0;
      const deliver = async ({ item }: { item: { payload: Msg } }) => {
        attempts++;
        if (random() < 0.3) throw DeliveryError.transient('injected 503', 'http_503');
        const list = delivered.get(item.payload.conv) ?? [];
        list.push(item.payload.n);
        delivered.set(item.payload.conv, list);
        if (++count === total) resolve();
      };
      for (let w = 0; w < 2; w++) {
        const q = makeQueue();
        q.startWorker({ connection: workerConn(), concurrency: 8, deliver, keeperIntervalMs: 500 });
      }
    });
    for (let n = 0; n < 25; n++) {
      for (let c = 0; c < 20; c++) await front.enqueue({ channelId: 'ch', clientId: `c${c}` }, [{ conv: `c${c}`, n }]);
    }
    await done;
    expect(attempts).toBeGreaterThan(total);
    for (let c = 0; c < 20; c++) expect(delivered.get(`c${c}`)).toEqual([...Array(25).keys()]);
  });

  it('a turn whose lock lapsed stops before the next message; the lane goes on once it is recovered, without duplicates', async () => {
    const q = makeQueue();
    const lane = { channelId: 'ch', clientId: 'locked' };
    const delivered: number[] = [];
    const allDone = new Promise<void>((resolve) => {
      q.startWorker({
        connection: workerConn(),
        concurrency: 1,
        stalledIntervalMs: 200,
        deliver: async ({ item }) => {
          if (item.payload.n === 1) {
            // As if Redis had been away longer than the lock: it expired and another worker took it.
            await admin.set(`${prefix}:inbound:${laneMember(lane)}:lock`, 'another-workers-token', 'PX', 500);
          }
          delivered.push(item.payload.n);
          if (delivered.length === 3) resolve();
        },
      });
    });
    const lockLost = once(q, 'lockLost');
    await q.enqueue(
      lane,
      [1, 2, 3].map((n) => ({ conv: 'locked', n })),
    );
    expect(await lockLost).toEqual([{ lane }]);
    // The delivered message is popped; the next ones wait for whoever holds the lane now.
    expect(delivered).toEqual([1]);
    expect((await q.store.head<Msg>(lane))!.payload.n).toBe(2);
    // The foreign lock expires without being renewed; the stalled-job check hands the lane out again.
    await allDone;
    expect(delivered).toEqual([1, 2, 3]);
  });

  it('treats a redelivered source event as a no-op', async () => {
    const q = makeQueue();
    const lane = { channelId: 'ch', clientId: '42' };
    expect(await q.enqueue(lane, [{ conv: '42', n: 1 }], { dedupeId: '1001' })).toBe('queued');
    expect(await q.enqueue(lane, [{ conv: '42', n: 1 }], { dedupeId: '1001' })).toBe('duplicate');
    expect(await q.store.length(lane)).toBe(1);
  });

  it('dead-letters a permanent failure with its reason and goes on with the next message', async () => {
    const q = makeQueue();
    const lane = { channelId: 'ch', clientId: 'x:y/ü' };
    const got: number[] = [];
    const dead = new Promise<string>((resolve) => q.on('deadLettered', (l) => resolve(l.reason)));
    const second = new Promise<void>((resolve) => q.on('delivered', () => resolve()));
    q.startWorker({
      connection: workerConn(),
      concurrency: 2,
      deliver: async ({ item }) => {
        if (item.payload.n === 1) throw DeliveryError.permanent('Blinger answered 400: bad client_id', 'http_400');
        got.push(item.payload.n);
      },
    });
    await q.enqueue(lane, [
      { conv: 'x', n: 1 },
      { conv: 'x', n: 2 },
    ]);
    expect(await dead).toBe('Blinger answered 400: bad client_id');
    await second;
    expect(got).toEqual([2]);
    expect(await admin.hlen(q.store.dlqKey)).toBe(1);
  });

  it('waits out a rate limit without spending an attempt', async () => {
    const q = makeQueue();
    const seen: number[] = [];
    const delivered = new Promise<number>((resolve) => q.on('delivered', (d) => resolve(d.attempts)));
    let first = true;
    q.startWorker({
      connection: workerConn(),
      concurrency: 1,
      deliver: async ({ attempt }) => {
        seen.push(attempt);
        if (first) {
          first = false;
          throw DeliveryError.rateLimited('429', 50);
        }
      },
    });
    await q.enqueue({ channelId: 'ch', clientId: 'r' }, [{ conv: 'r', n: 1 }]);
    expect(await delivered).toBe(1);
    expect(seen).toEqual([1, 1]);
  });

  it('gives up on transient failures once the message is older than the retry age', async () => {
    const q = new LaneQueue<Msg>({ direction: 'outbound', prefix, producer, log, retryMaxAgeMs: 200, backoff: { baseMs: 20, maxMs: 50 } });
    queues.push(q);
    const dead = new Promise<{ reason: string; attempts: number }>((resolve) => q.on('deadLettered', (l) => resolve(l)));
    q.startWorker({
      connection: workerConn(),
      concurrency: 1,
      deliver: async () => {
        throw DeliveryError.transient('timeout after 10 s', 'timeout');
      },
    });
    await q.enqueue({ channelId: 'ch', clientId: 'old' }, [{ conv: 'old', n: 1 }]);
    const letter = await dead;
    expect(letter.reason).toMatch(/^gave up after \d+ attempts over .*: timeout after 10 s$/);
    expect(letter.attempts).toBeGreaterThan(1);
  });
});
