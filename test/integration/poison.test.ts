/**
 * Poison messages: lane entries the scripts or the worker cannot handle must neither be delivered
 * over and over nor block their conversation. Entries are written into the lane directly, as an
 * older bridge (or a bug) would have left them.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { LaneQueue } from '../../src/delivery/lane-queue.js';
import { LaneStore, type DeadLetter, type LaneItem, type LaneRef } from '../../src/delivery/lane-store.js';
import { mayBePoison, POISON_LIMIT } from '../../src/delivery/poison.js';
import { DeadLetters } from '../../src/delivery/dead-letters.js';
import { readyRedis, redisClient, removeKeys, uniquePrefix } from '../helpers/redis.js';

const log = pino({ level: 'silent' });
type Msg = { n: number; text?: string };

describe('poison messages in a lane', () => {
  const prefix = uniquePrefix();
  const admin = redisClient();
  const conns: Redis[] = [];
  const queues: LaneQueue<Msg>[] = [];
  let producer!: Redis;

  beforeEach(async () => {
    await removeKeys(admin, prefix);
    producer = await readyRedis({ failFast: true });
    conns.push(producer);
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.close({ graceMs: 2000 })));
    await Promise.all(conns.splice(0).map((c) => c.quit().catch(() => undefined)));
  });
  afterAll(async () => {
    await removeKeys(admin, prefix);
    await admin.quit();
  });

  function makeQueue(direction: 'inbound' | 'outbound' = 'inbound'): LaneQueue<Msg> {
    const q = new LaneQueue<Msg>({ direction, prefix, producer, log, retryMaxAgeMs: 60_000, backoff: { baseMs: 5, maxMs: 40 } });
    queues.push(q);
    return q;
  }

  /**
   * Starts a worker that records every delivery; `until(n)` resolves once message n was delivered
   * and popped, and rejects as soon as any message is delivered more than `maxTimes`.
   */
  function record(q: LaneQueue<Msg>, maxTimes: number) {
    const deliveries: number[] = [];
    const waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
    const connection = redisClient();
    conns.push(connection);
    const worker = q.startWorker({
      connection,
      concurrency: 2,
      lockDurationMs: 5000,
      deliver: async ({ item }) => {
        deliveries.push(item.payload.n);
        const times = deliveries.filter((n) => n === item.payload.n).length;
        if (times > maxTimes) for (const w of waiters) w.reject(new Error(`message ${item.payload.n} delivered ${times} times`));
      },
    });
    // Popped, not only sent.
    q.on('delivered', ({ item }) => {
      for (const w of waiters) if (item.payload.n === w.n) w.resolve();
    });
    const until = (n: number) => new Promise<void>((resolve, reject) => waiters.push({ n, resolve, reject }));
    let failedTurns = 0;
    worker.on('failed', () => failedTurns++);
    return { deliveries, until, failedTurns: () => failedTurns };
  }

  /** Writes a raw entry at the end of a lane, bypassing LaneStore (as an older bridge or a bug would). */
  async function pushRaw(q: LaneQueue<Msg>, lane: LaneRef, raw: string): Promise<void> {
    await admin.rpush(q.store.laneKey(lane), raw);
  }

  it('an entry with a lone surrogate (which cjson cannot decode) is delivered once and popped; the next message follows', async () => {
    const q = makeQueue();
    const lane = { channelId: 'ch', clientId: 'surrogate' };
    // What JSON.stringify wrote for a lone surrogate before entries were made well-formed.
    const old: LaneItem<Msg> = { id: 'old-entry-1', at: Date.now(), cid: 'c1', payload: { n: 1, text: 'broken \ud83d tail' } };
    expect(JSON.stringify(old)).toContain('\\ud83d');
    await pushRaw(q, lane, JSON.stringify(old));
    await q.enqueue(lane, [{ n: 2 }]);
    const r = record(q, 1);
    await r.until(2);
    expect(r.deliveries).toEqual([1, 2]);
    expect(await q.store.length(lane)).toBe(0);
  });

  it(`a head that cannot be read is dead-lettered as poison after ${POISON_LIMIT} failed turns; the next message is delivered`, async () => {
    const q = makeQueue();
    const lane = { channelId: 'ch', clientId: 'garbage' };
    const dead = new Promise<DeadLetter<Msg>>((resolve) => q.on('deadLettered', (l) => resolve(l)));
    await pushRaw(q, lane, 'not json {');
    await q.enqueue(lane, [{ n: 2 }]);
    const r = record(q, 1);
    const letter = await dead;
    expect(letter).toMatchObject({ code: 'poison', attempts: POISON_LIMIT, lane, item: { payload: 'not json {' } });
    expect(letter.reason).toMatch(/^poison: the worker failed 3 times on this message \(last: .*JSON.*\)/);
    await r.until(2);
    expect(r.deliveries).toEqual([2]);
    // The first failures go back to BullMQ (retried after 2 s); the last one is the guard's.
    expect(r.failedTurns()).toBe(POISON_LIMIT - 1);
    // Set aside, not lost: the dead-letter list has it, and a retry puts it back at the end of its lane.
    const letters = new DeadLetters({ inbound: q as LaneQueue<unknown>, outbound: makeQueue('outbound') as LaneQueue<unknown> });
    expect((await letters.list()).map((l) => l.code)).toEqual(['poison']);
    expect(await q.store.length(lane)).toBe(0);
  });

  it(`a head whose id the scripts cannot match is delivered at most ${POISON_LIMIT} times, then set aside`, async () => {
    const q = makeQueue('outbound');
    const lane = { channelId: 'ch', clientId: 'unmatched' };
    // The id is not first and holds a lone surrogate: no script can match it, so it cannot be popped.
    await pushRaw(q, lane, '{"at":1,"cid":"c","payload":{"n":1},"id":"\\ud83d"}');
    await q.enqueue(lane, [{ n: 2 }]);
    const dead = new Promise<DeadLetter<Msg>>((resolve) => q.on('deadLettered', (l) => resolve(l)));
    const r = record(q, POISON_LIMIT);
    await r.until(2);
    expect(r.deliveries).toEqual([...Array<number>(POISON_LIMIT).fill(1), 2]);
    const letter = await dead;
    expect(letter).toMatchObject({ code: 'poison', item: { id: '\ufffd', payload: { n: 1 } } });
    expect(letter.reason).toContain('was delivered but could not be popped');
  });
});

describe('the poison guard counts per head, across processes, and only for this turn', () => {
  const prefix = uniquePrefix();
  const redis = redisClient();
  const store = new LaneStore(redis, prefix, 'outbound');
  const lane = { channelId: 'ch', clientId: 'strikes' };

  afterAll(async () => {
    await removeKeys(redis, prefix);
    await redis.quit();
  });

  it('counts failures on the same head, restarts on a new head, and ignores a turn whose lock is gone', async () => {
    await redis.rpush(store.laneKey(lane), 'first', 'second');
    const a = await store.strikeHead(lane, 60_000);
    const b = await store.strikeHead(lane, 60_000);
    expect([a.failures, b.failures]).toEqual([1, 2]);
    expect(a.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(b.sha).toBe(a.sha);

    const lockKey = `${prefix}:lock`;
    await redis.set(lockKey, 'someone-else');
    expect(await store.strikeHead(lane, 60_000, { key: lockKey, token: 'mine' })).toEqual({ failures: 0 });
    const letter = {
      id: 'x',
      direction: 'outbound' as const,
      lane,
      item: { id: 'x', at: 1, cid: 'c', payload: 'first' },
      reason: 'r',
      code: 'poison',
      failedAt: 1,
      attempts: 2,
    };
    // Neither under someone else's lock, nor for a head that is not the one counted.
    expect(await store.deadLetterPoison(letter, a.sha!, { key: lockKey, token: 'mine' })).toBe(false);
    expect(await store.deadLetterPoison(letter, 'f'.repeat(40))).toBe(false);
    expect(await store.deadLetterPoison(letter, a.sha!)).toBe(true);
    expect(await redis.lrange(store.laneKey(lane), 0, -1)).toEqual(['second']);
    expect(await store.strikeHead(lane, 60_000)).toMatchObject({ failures: 1 });
  });

  it('does not count Redis being away or a turn that lost its lane', () => {
    expect(mayBePoison(new Error('ERR user_script:4: Expected value but found invalid unicode escape code'))).toBe(true);
    expect(mayBePoison(new SyntaxError('Unexpected token o in JSON at position 1'))).toBe(true);
    expect(mayBePoison(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(true);
    expect(mayBePoison(new Error('Connection is closed.'))).toBe(false);
    expect(mayBePoison(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(mayBePoison(new Error('LOADING Redis is loading the dataset in memory'))).toBe(false);
    expect(mayBePoison(new Error("OOM command not allowed when used memory > 'maxmemory'."))).toBe(false);
    expect(mayBePoison(new Error('Missing lock for job outbound|x. moveToDelayed'))).toBe(false);
  });
});
