/**
 * The Telegram adapter's reply routes (adapters/telegram/reply-route.ts) on a real Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLY_ROUTE_TTL_MS, ReplyRoutes } from '../../adapters/telegram/reply-route.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { freePort } from '../helpers/net.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';

let redis: Redis;
const prefix = uniquePrefix();
let routes: ReplyRoutes;

beforeAll(async () => {
  redis = await readyRedis();
  routes = new ReplyRoutes(redis, `${prefix}:tg-route:4711`);
});
afterAll(async () => {
  await removeKeys(redis, prefix);
  await redis.quit();
});

describe('ReplyRoutes', () => {
  it('keeps a route per chat under the prefix, and an empty route deletes it', async () => {
    expect(routes.key('-100123')).toBe(`${prefix}:tg-route:4711:-100123`);
    await routes.remember('-100123', { message_thread_id: 42 });
    await routes.remember('777', { business_connection_id: 'conn-1' });
    expect(await routes.lookup('-100123')).toEqual({ message_thread_id: 42 });
    expect(await routes.lookup('777')).toEqual({ business_connection_id: 'conn-1' });

    await routes.remember('-100123', {});
    expect(await redis.exists(routes.key('-100123'))).toBe(0);
    expect(await routes.lookup('-100123')).toEqual({});
  });

  it('lives 30 days, and a lookup (an outbound message) starts them again', async () => {
    await routes.remember('-100200', { message_thread_id: 7 });
    expect(await redis.pttl(routes.key('-100200'))).toBeGreaterThan(REPLY_ROUTE_TTL_MS - 60_000);
    await redis.pexpire(routes.key('-100200'), 5_000);
    expect(await routes.lookup('-100200')).toEqual({ message_thread_id: 7 });
    expect(await redis.pttl(routes.key('-100200'))).toBeGreaterThan(REPLY_ROUTE_TTL_MS - 60_000);
    expect(REPLY_ROUTE_TTL_MS).toBe(30 * 24 * 3600 * 1000);
  });

  it('forgets a gone topic only if the route is still the one the send read', async () => {
    const read = { message_thread_id: 42 };
    await routes.remember('-100300', read);
    // Meanwhile the customer wrote in another topic: that one stays.
    await routes.remember('-100300', { message_thread_id: 43 });
    await routes.forgetTopic('-100300', read);
    expect(await routes.lookup('-100300')).toEqual({ message_thread_id: 43 });

    await routes.forgetTopic('-100300', { message_thread_id: 43 });
    expect(await redis.exists(routes.key('-100300'))).toBe(0);

    // A route with a business connection keeps it.
    await routes.remember('-100301', { message_thread_id: 5, business_connection_id: 'conn-2' });
    await routes.forgetTopic('-100301', { message_thread_id: 5, business_connection_id: 'conn-2' });
    expect(await routes.lookup('-100301')).toEqual({ business_connection_id: 'conn-2' });
  });

  it('an unreadable or foreign value is no route, not a crash', async () => {
    await redis.set(routes.key('-100400'), 'not json');
    expect(await routes.lookup('-100400')).toEqual({});
    await redis.set(routes.key('-100401'), JSON.stringify({ message_thread_id: 'x', business_connection_id: 5 }));
    expect(await routes.lookup('-100401')).toEqual({});
  });

  it('Redis unreachable while reading: a transient DeliveryError, so the reply waits instead of going to the wrong place', async () => {
    // Like the bridge's producer connection: fail fast, no offline queue.
    const down = new Redis({
      port: await freePort(),
      host: '127.0.0.1',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => undefined);
    try {
      const err = await new ReplyRoutes(down, `${prefix}:tg-route:4711`).lookup('-100123').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeliveryError);
      expect(err).toMatchObject({ kind: 'transient', code: 'redis' });
      expect((err as Error).message).toMatch(/^Could not read where replies to this chat go \(Redis\)/);
    } finally {
      down.disconnect();
    }
  });
});
