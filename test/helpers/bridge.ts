/**
 * Starts a real bridge (HTTP server, adapters, workers) against test doubles, on its own Redis
 * key prefix, and tears everything down after. Logs are captured so tests can read them.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { createBridge, type Bridge, type Role } from '../../src/bridge.js';
import type { BridgeConfig, ChannelConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { registerSecret } from '../../src/redact.js';
import { botFlowSchema, type BotFlowInput } from '../../src/flow/config.js';
import type { Middleware } from '../../src/flow/middleware.js';
import { startTelegramDouble, type TelegramDouble, type TelegramDoubleOptions } from '../doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { freePort } from './net.js';
import type { Redis } from 'ioredis';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from './redis.js';

export const BOT_TOKEN = '123456:TEST-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
export const BLINGER_TOKEN = 'blinger-app-token-0123456789';
export const CHANNEL_ID = '4711';
export const MEDIA_SECRET = 'test-media-secret-0123456789';

/** A debug logger whose JSON lines are kept in `logs`, so tests can read real log output. */
export function captureLogger(): { logs: string[]; log: pino.Logger } {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logs, log: createLogger('debug', { destination: sink as unknown as pino.DestinationStream, pretty: false }) };
}

/** What every test bridge starts from: loopback on its own port and Redis prefix, debug logs, no channels. */
export function baseTestConfig(o: { port: number; prefix: string; redisUrl?: string; mediaSecret?: string }): BridgeConfig {
  return {
    redisUrl: o.redisUrl ?? testRedisUrl(),
    redisPrefix: o.prefix,
    port: o.port,
    host: '127.0.0.1',
    publicUrl: `http://127.0.0.1:${o.port}`,
    mediaSecret: o.mediaSecret ?? MEDIA_SECRET,
    mediaTtlMs: 3_600_000,
    logLevel: 'debug',
    retryMaxAgeMs: 60_000,
    concurrency: 20,
    sandbox: false,
    channels: [],
  };
}

/** Short locks, stall checks and backoffs, so crash and retry tests take seconds. */
export const TEST_TUNING = { lockDurationMs: 2000, stalledIntervalMs: 1000, keeperIntervalMs: 500, backoff: { baseMs: 20, maxMs: 200 } };

export interface TestBridge {
  bridge: Bridge;
  url: string;
  prefix: string;
  logs: string[];
  stop(): Promise<void>;
}

export interface TestBridgeOptions {
  telegramApiRoot: string;
  blingerUrl: string;
  mode?: 'polling' | 'webhook';
  role?: Role;
  prefix?: string;
  retryMaxAgeMs?: number;
  extraChannels?: ChannelConfig[];
  redisUrl?: string;
  /** Extra Telegram adapter settings, e.g. relaxed `limits` for volume tests. */
  telegram?: Record<string, unknown>;
  /** Keep the Redis keys (another process goes on with them). */
  keepKeys?: boolean;
  /** The channel's `bot` section, as written in BRIDGE_CONFIG (validated like it). */
  bot?: BotFlowInput;
  middleware?: Middleware[];
  /** The bot flow's clock. */
  now?: () => number;
  /** Enables the /admin dashboard with these credentials. */
  admin?: { user: string; password: string; readOnly?: boolean };
  /** `redisUrl` is a node of a Redis Cluster. */
  redisCluster?: boolean;
}

export interface LaunchOptions {
  /** What the config has beyond baseTestConfig (channels, retryMaxAgeMs, sandbox…). */
  config: Partial<BridgeConfig>;
  /** Registered for redaction, so a test that finds one in the logs has found a leak. */
  secrets: string[];
  prefix?: string;
  /** A Redis of the test's own (one it stops and restarts, or a cluster); its keys are left alone. */
  redisUrl?: string;
  mediaSecret?: string;
  role?: Role;
  middleware?: Middleware[];
  /** The bot flow's clock. */
  now?: () => number;
  /** Keep the Redis keys (another bridge or process goes on with them). */
  keepKeys?: boolean;
  /** How long stop() lets jobs in flight finish (the bridge's default otherwise). */
  graceMs?: number;
}

/**
 * Starts a real bridge on a free port and its own key prefix, with test tuning and captured logs;
 * stop() stops it and removes its keys. Every helper that starts a bridge in-process comes here.
 */
export async function launchTestBridge(o: LaunchOptions): Promise<TestBridge> {
  const port = await freePort();
  const prefix = o.prefix ?? uniquePrefix();
  const config: BridgeConfig = {
    ...baseTestConfig({ port, prefix, redisUrl: o.redisUrl, mediaSecret: o.mediaSecret }),
    ...o.config,
  };
  for (const s of o.secrets) registerSecret(s);
  const { logs, log } = captureLogger();
  const bridge = createBridge({
    config,
    log,
    role: o.role,
    ...(o.middleware ? { middleware: o.middleware } : {}),
    tuning: { ...TEST_TUNING, ...(o.now ? { now: o.now } : {}) },
  });
  const url = await bridge.start();
  return {
    bridge,
    url,
    prefix,
    logs,
    async stop() {
      await bridge.stop(o.graceMs !== undefined ? { graceMs: o.graceMs } : {});
      if (!o.keepKeys && !o.redisUrl) {
        const r = await readyRedis();
        await removeKeys(r, prefix);
        await r.quit();
      }
    },
  };
}

/**
 * Starts a bridge between doubles already running; if the bridge fails to start, closes them, so a
 * failed start leaks no server.
 */
export async function startBetween<T>(doubles: Array<{ close(): Promise<void> }>, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    for (const d of doubles) await d.close();
    throw err;
  }
}

/** Stops a bridge and its doubles: the bridge first, as it may still be sending to them. */
export async function stopBetween(
  tb: { stop(): Promise<void> } | undefined,
  ...doubles: Array<{ close(): Promise<void> } | undefined>
): Promise<void> {
  await tb?.stop();
  for (const d of doubles) await d?.close();
}

/**
 * A channel as BRIDGE_CONFIG has it, sending to a Blinger double; `bot` is validated as the
 * config's is. Private URLs are allowed by default: the doubles and file servers are on loopback.
 */
export function testChannel(o: {
  id: string;
  blingerUrl: string;
  blingerToken: string;
  adapter: ChannelConfig['adapter'];
  bot?: BotFlowInput | undefined;
  allowPrivateUrls?: boolean;
}): ChannelConfig {
  return {
    id: o.id,
    blinger: { url: o.blingerUrl, token: o.blingerToken, timeoutMs: 2000 },
    adapter: o.adapter,
    allowPrivateUrls: o.allowPrivateUrls ?? true,
    ...(o.bot ? { bot: botFlowSchema.parse(o.bot) } : {}),
  };
}

export async function startTestBridge(o: TestBridgeOptions): Promise<TestBridge> {
  const telegram = testChannel({
    id: CHANNEL_ID,
    blingerUrl: o.blingerUrl,
    blingerToken: BLINGER_TOKEN,
    adapter: {
      type: 'telegram',
      token: BOT_TOKEN,
      mode: o.mode ?? 'polling',
      apiRoot: o.telegramApiRoot,
      pollTimeout: 1,
      requestTimeout: 3000,
      ...o.telegram,
    },
    bot: o.bot,
  });
  const config: Partial<BridgeConfig> = {
    retryMaxAgeMs: o.retryMaxAgeMs ?? 60_000,
    ...(o.admin ? { admin: o.admin } : {}),
    ...(o.redisCluster ? { redisCluster: true } : {}),
    channels: [telegram, ...(o.extraChannels ?? [])],
  };
  return launchTestBridge({
    config,
    secrets: [BOT_TOKEN, BLINGER_TOKEN, MEDIA_SECRET],
    prefix: o.prefix,
    redisUrl: o.redisUrl,
    role: o.role,
    middleware: o.middleware,
    now: o.now,
    keepKeys: o.keepKeys,
  });
}

/**
 * A bridge with the given channels (any adapter type) on its own port and key prefix; the keys
 * are removed by stop().
 */
export function startChannelBridge(
  channels: ChannelConfig[],
  o: { middleware?: Middleware[]; now?: () => number } = {},
): Promise<TestBridge> {
  return launchTestBridge({ config: { channels }, secrets: [BLINGER_TOKEN], ...o });
}

/** Fresh Telegram and Blinger doubles with a bridge between them: what most e2e tests start. */
export interface TelegramStack {
  tg: TelegramDouble;
  blinger: BlingerDouble;
  tb: TestBridge;
}

export async function startTelegramStack(
  o: Omit<TestBridgeOptions, 'telegramApiRoot' | 'blingerUrl'> & { double?: TelegramDoubleOptions } = {},
): Promise<TelegramStack> {
  const { double, ...bridge } = o;
  const tg = await startTelegramDouble(double);
  const blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID });
  const tb = await startBetween([tg, blinger], () => startTestBridge({ ...bridge, telegramApiRoot: tg.apiRoot, blingerUrl: blinger.url }));
  return { tg, blinger, tb };
}

/** Stops what startTelegramStack started, the bridge first (it may still be sending). */
export function stopTelegramStack(s: Partial<TelegramStack>): Promise<void> {
  return stopBetween(s.tb, s.tg, s.blinger);
}

/**
 * For tests whose bridge runs as a child process: both doubles, a Redis connection and a fresh key
 * prefix. Their teardown (keys removed) is pushed onto `cleanups`.
 */
export async function startChildTestbed(
  cleanups: Array<() => unknown>,
): Promise<{ tg: TelegramDouble; blinger: BlingerDouble; redis: Redis; prefix: string }> {
  const tg = await startTelegramDouble();
  const blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID });
  const redis = await readyRedis();
  const prefix = uniquePrefix();
  cleanups.push(
    () => tg.close(),
    () => blinger.close(),
    async () => {
      await removeKeys(redis, prefix);
      await redis.quit();
    },
  );
  return { tg, blinger, redis, prefix };
}
