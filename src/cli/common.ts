/**
 * What the operator commands share: argument parsing with --help, a one-shot Redis connection
 * that fails with one clear line, the lane queues and dead letters over it, and adapters built
 * for inspection (check, telegram webhook) rather than for receiving.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Adapter, AdapterContext, CliContext } from '../adapter.js';
import { builtInAdapters, channelSettings } from '../adapters.js';
import type { BridgeConfig, ChannelConfig } from '../config/schema.js';
import type { QueueConfig } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { DeadLetters } from '../delivery/dead-letters.js';
import { LaneQueue } from '../delivery/lane-queue.js';
import type { Direction } from '../delivery/lane-store.js';
import { MediaSigner } from '../media/links.js';
import { redact } from '../redact.js';
import { clusterClient } from '../redis.js';

import { CliError, UsageError } from './errors.js';

export { CliError, UsageError };

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with `--help`/`-h` on every command. Returns undefined after printing the help.
 * Unknown options and missing values become a UsageError naming the command.
 */
export interface ParsedCommand {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseCommand(
  command: string,
  help: string,
  argv: string[],
  options: Options,
  allowPositionals = false,
): ParsedCommand | undefined {
  let parsed: ParsedCommand;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    }) as ParsedCommand;
  } catch (err) {
    const first = String((err as Error).message)
      .split('. ')[0]!
      .replace(/\.$/, '');
    throw new UsageError(`${command}: ${first}; see "blinger-bridge ${command} --help"`);
  }
  if (parsed.values.help) {
    console.log(help);
    return undefined;
  }
  return parsed;
}

/** A string option's value. */
export function str(p: ParsedCommand, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function parseDirection(value: string | undefined, command: string): Direction | undefined {
  if (value === undefined) return undefined;
  if (value !== 'inbound' && value !== 'outbound')
    throw new UsageError(`${command}: --direction must be inbound or outbound, got "${value}"`);
  return value;
}

export function parsePositiveInt(value: string | undefined, name: string, command: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${command}: ${name} must be a positive whole number, got "${value}"`);
  return n;
}

export function parseDurationArg(value: string | undefined, name: string, command: string): number {
  const ms = value === undefined ? undefined : parseDuration(value);
  if (ms === undefined)
    throw new UsageError(`${command}: ${name} needs a duration such as 30m, 24h or 7d${value === undefined ? '' : `, got "${value}"`}`);
  return ms;
}

/** The Redis URL without its password, for messages. */
export function safeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid REDIS_URL)';
  }
}

/** Connects once (no endless reconnecting in a CLI); a failure is one clear line. */
export async function openRedis(config: Pick<BridgeConfig, 'redisUrl' | 'redisCluster'>, timeoutMs = 5000): Promise<Redis> {
  const url = config.redisUrl;
  const options = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    connectionName: 'blinger-bridge:cli',
  };
  const redis = config.redisCluster ? clusterClient(url, options, { lazyConnect: true }) : new Redis(url, options);
  // Errors reach the caller through the rejected promises; no "unhandled error event" noise.
  let cause: Error | undefined;
  redis.on('error', (err: Error) => {
    cause ??= err;
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    // The 'error' event says why (ECONNREFUSED, ENOTFOUND, WRONGPASS…); the rejection only "closed".
    throw new CliError(`cannot reach Redis at ${safeRedisUrl(url)}: ${redact((cause ?? (err as Error)).message)}`);
  }
  return redis;
}

const silentLog = pino({ level: 'silent' });

export interface CliQueues {
  inbound: LaneQueue<unknown>;
  outbound: LaneQueue<unknown>;
  deadLetters: DeadLetters;
  close(): Promise<void>;
}

/** The two lane queues (no workers) and the dead letters, over one connection. */
export function openQueues(config: QueueConfig, redis: Redis): CliQueues {
  const mk = (direction: Direction) =>
    new LaneQueue<unknown>({ direction, prefix: config.redisPrefix, producer: redis, log: silentLog, retryMaxAgeMs: config.retryMaxAgeMs });
  const inbound = mk('inbound');
  const outbound = mk('outbound');
  return {
    inbound,
    outbound,
    deadLetters: new DeadLetters({ inbound, outbound }),
    async close() {
      await Promise.all([inbound.queue.close(), outbound.queue.close()]);
    },
  };
}

export interface InspectedChannel {
  config: ChannelConfig;
  adapter?: Adapter;
  /** Why the adapter could not be built (bad settings, unknown type). */
  error?: string;
}

/**
 * Adapters built to be asked things (getMe, webhook info), never started. `redis` may be a lazy,
 * unconnected client: only starting an adapter uses it.
 */
export function inspectAdapters(config: BridgeConfig, redis: Redis): InspectedChannel[] {
  const registry = new Map(builtInAdapters.map((d) => [d.type, d]));
  const media = new MediaSigner(config.mediaSecret, config.publicUrl, config.mediaTtlMs);
  return config.channels.map((channel) => {
    const def = registry.get(channel.adapter.type);
    if (!def)
      return { config: channel, error: `unknown adapter type "${channel.adapter.type}" (known: ${[...registry.keys()].join(', ')})` };
    const ctx: AdapterContext = {
      channelId: channel.id,
      settings: channel.adapter,
      botFlow: false,
      publicUrl: config.publicUrl,
      log: silentLog,
      redis,
      redisPrefix: config.redisPrefix,
      inbound: {
        enqueue: async () => {
          throw new Error('the CLI does not receive messages');
        },
      },
      media: { link: (ref) => media.link(channel.id, ref), ttlMs: config.mediaTtlMs },
      allowPrivateUrls: channel.allowPrivateUrls,
    };
    try {
      return { config: channel, adapter: def.create({ ...ctx, settings: channelSettings(def, channel) }) };
    } catch (err) {
      return { config: channel, error: redact(describeError(err)) };
    }
  });
}

/** What an adapter's CLI command gets (AdapterCli.run): its channels, option parsing, output. */
export function cliContext(type: string, load: () => BridgeConfig): CliContext {
  let inspected: InspectedChannel[] | undefined;
  return {
    channels() {
      if (!inspected) {
        const config = load();
        // Nothing here touches Redis; adapters just need a client object.
        const redis = new Redis(config.redisUrl, { lazyConnect: true });
        inspected = inspectAdapters(config, redis).filter((c) => c.config.adapter.type === type);
        redis.disconnect();
      }
      return inspected.map((c) => ({
        id: c.config.id,
        ...(c.adapter ? { adapter: c.adapter } : {}),
        ...(c.error ? { error: c.error } : {}),
      }));
    },
    parse(command, help, argv, options, allowPositionals) {
      return parseCommand(command, help, argv, options, allowPositionals);
    },
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  };
}

/** One line from whatever was thrown (zod issues included). */
export function describeError(err: unknown): string {
  const e = err as { issues?: { path: PropertyKey[]; message: string }[]; message?: string };
  if (Array.isArray(e?.issues)) return e.issues.map((i) => `${i.path.map(String).join('.') || '(settings)'}: ${i.message}`).join('; ');
  return e?.message ?? String(err);
}

/** "3 s", "4 min 10 s", "2 h 5 min", "3 d 4 h". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Left-aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
