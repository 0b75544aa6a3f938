/**
 * Redis connections. Producers (HTTP routes, polling) fail fast while Redis is away so the bridge
 * answers 503 and the messenger or Blinger redelivers; workers wait and resume. Both reconnect
 * forever — the process never dies because Redis restarted.
 *
 * Redis Cluster (REDIS_CLUSTER=true): REDIS_URL names one node, ioredis discovers the others and
 * follows slot moves. Every key starts with REDIS_PREFIX, which must then carry a hash tag ({bb}),
 * so all of the bridge's keys — and every multi-key Lua script and BullMQ script — stay in one slot.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { redact } from './redact.js';

export type RedisRole = 'producer' | 'worker';

/**
 * A Cluster client seeded from a redis:// or rediss:// URL. Typed as Redis: the bridge uses only
 * commands both clients have, and BullMQ takes either.
 */
export function clusterClient(
  url: string,
  redisOptions: RedisOptions,
  opts: { enableOfflineQueue?: boolean; lazyConnect?: boolean } = {},
): Redis {
  const u = new URL(url);
  const tls = u.protocol === 'rediss:';
  // The offline queue is the cluster's business; nodes queue while the cluster connects them.
  const { enableOfflineQueue: _nodeQueue, ...nodeOptions } = redisOptions;
  const cluster = new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
    ...opts,
    clusterRetryStrategy: redisOptions.retryStrategy ?? ((times) => Math.min(times * 200, 5000)),
    // TLS certificates name the configured host, not the node IPs the cluster reports.
    ...(tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
    redisOptions: {
      ...nodeOptions,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(tls ? { tls: { servername: u.hostname } } : {}),
    },
  });
  return cluster as unknown as Redis;
}

export function connectRedis(url: string, role: RedisRole, log: Logger, opts: { cluster?: boolean } = {}): Redis {
  const options: RedisOptions = {
    connectionName: `blinger-bridge:${role}`,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    ...(role === 'producer' ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { maxRetriesPerRequest: null }),
  };
  const redis = opts.cluster
    ? clusterClient(url, options, { enableOfflineQueue: options.enableOfflineQueue ?? true })
    : new Redis(url, options);
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
