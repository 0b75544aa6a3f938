/** Real Redis for tests: a unique key prefix per test file, and every key under it removed after. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function uniquePrefix(): string {
  return `bbtest-${randomBytes(4).toString('hex')}`;
}

export function redisClient(opts: { failFast?: boolean } = {}): Redis {
  return new Redis(testRedisUrl(), opts.failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { maxRetriesPerRequest: null });
}

export async function removeKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) removed += await redis.del(...keys);
  } while (cursor !== '0');
  return removed;
}

/** A connected client; fail-fast clients refuse commands until they are ready. */
export async function readyRedis(opts: { failFast?: boolean } = {}): Promise<Redis> {
  const c = redisClient(opts);
  if (c.status !== 'ready')
    await new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve());
      c.once('error', reject);
    });
  return c;
}
