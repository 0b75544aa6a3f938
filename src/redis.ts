/**
 * Redis connections. Producers (HTTP routes, polling) fail fast while Redis is away so the bridge
 * answers 503 and the messenger or Blinger redelivers; workers wait and resume. Both reconnect
 * forever — the process never dies because Redis restarted.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redact } from './redact.js';

export type RedisRole = 'producer' | 'worker';

export function connectRedis(url: string, role: RedisRole, log: Logger): Redis {
  const redis = new Redis(url, {
    connectionName: `blinger-bridge:${role}`,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    ...(role === 'producer' ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { maxRetriesPerRequest: null }),
  });
  let down = false;
  redis.on('error', (err) => {
    if (down) return; // one line per outage, not one per reconnect attempt
    down = true;
    log.error({ role, err: redact(err.message) }, 'Redis unreachable; reconnecting');
  });
  redis.on('ready', () => {
    if (down) log.info({ role }, 'Redis connection restored');
    down = false;
  });
  return redis;
}

export function waitForReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
