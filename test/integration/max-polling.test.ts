/**
 * MAX long polling against the MAX double and real Redis: the marker that confirms updates to MAX
 * is passed (and stored) only after every update it covers was handled, so an update whose
 * queuing failed comes again rather than being confirmed and lost.
 */
import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { MaxApi } from '../../adapters/max/api.js';
import { MaxPoller } from '../../adapters/max/polling.js';
import { DEFAULT_MAX_BOT, startMaxDouble, type Json, type MaxDouble } from '../doubles/max-api.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';

let max: MaxDouble;
let redis: Redis;
let prefix: string;
let poller: MaxPoller | undefined;

beforeEach(async () => {
  max = await startMaxDouble();
  redis = await readyRedis();
  prefix = uniquePrefix();
});

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  await max.close();
  await removeKeys(redis, prefix);
  await redis.quit();
});

const textOf = (u: unknown) => ((u as Json).message as { body: { text: string } }).body.text;

it('an update whose queuing failed is polled again; the marker moves past it only once it is queued', async () => {
  max.pushMessage('first');
  max.pushMessage('second');
  const start = max.confirmedMarker();
  const handled: string[] = [];
  let failOnce = true;
  const markerKey = `${prefix}:max-marker:test`;
  let confirmedAtFailure: number | undefined;
  let storedAtFailure: string | null | undefined;
  poller = new MaxPoller({
    api: new MaxApi({ token: DEFAULT_MAX_BOT.token, apiRoot: max.apiRoot, timeoutMs: 3000 }),
    redis,
    leaseKey: `${prefix}:poller:test`,
    markerKey,
    log: pino({ level: 'silent' }),
    pollTimeoutS: 1,
    handle: async (u) => {
      const text = textOf(u);
      if (text === 'second' && failOnce) {
        failOnce = false;
        confirmedAtFailure = max.confirmedMarker();
        storedAtFailure = await redis.get(markerKey);
        handled.push('second (failed)');
        throw new Error('Redis is away');
      }
      handled.push(text);
    },
  });
  poller.start();
  await expect.poll(() => handled.length, { timeout: 10_000 }).toBe(4);
  expect(handled).toEqual(['first', 'second (failed)', 'first', 'second']);
  // Nothing was confirmed while "second" was not queued.
  expect([confirmedAtFailure, storedAtFailure]).toEqual([start, null]);
  // Then the marker past both is stored and passed to MAX, which confirms them.
  await max.waitForPoll();
  await expect.poll(() => max.confirmedMarker()).toBe(start + 2);
  expect(await redis.get(markerKey)).toBe(String(start + 2));
  expect(max.pendingUpdates()).toEqual([]);
});
