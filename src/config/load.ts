/**
 * Reads and validates the configuration at start. Every problem becomes one line naming the
 * variable (or the BRIDGE_CONFIG path) and what is expected; ConfigError carries all of them.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { registerSecret } from '../redact.js';
import { channelSchema, duration, httpUrl, type BridgeConfig, type ChannelConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** /admin can pause and empty the queues: no short passwords. */
const ADMIN_MIN_PASSWORD = 12;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** An address to listen on: an IP literal or a DNS host name (checked here, not as a stack trace at listen). */
function isListenHost(v: string): boolean {
  return (
    isIP(v) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(v)
  );
}

/** Empty strings count as unset, as in most .env tooling. */
const opt = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const envSchema = z.object({
  REDIS_URL: opt(z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')),
  REDIS_PREFIX: opt(z.string().regex(/^[A-Za-z0-9_:{}.-]{1,32}$/, 'expected 1-32 characters without spaces')),
  REDIS_CLUSTER: opt(z.enum(['true', 'false', '1', '0'])),
  PORT: opt(z.coerce.number().int().min(0).max(65535)),
  HOST: opt(z.string().refine(isListenHost, 'expected an IP address (0.0.0.0, 127.0.0.1, ::) or a host name such as localhost')),
  HTTP_REQUEST_TIMEOUT: opt(duration('how long a request may take to arrive').refine((ms) => ms >= 1000, 'expected at least 1s')),
  PUBLIC_URL: opt(httpUrl),
  BLINGER_URL: opt(httpUrl),
  BLINGER_TOKEN: opt(z.string()),
  BLINGER_CHANNEL_ID: opt(z.string()),
  BLINGER_TIMEOUT: opt(duration('Blinger request timeout')),
  TELEGRAM_BOT_TOKEN: opt(z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'expected a bot token like 123456:ABC-DEF… from @BotFather')),
  TELEGRAM_MODE: opt(z.enum(['polling', 'webhook'])),
  TELEGRAM_WEBHOOK_SECRET: opt(z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'expected 1-256 characters of A-Z, a-z, 0-9, _ and -')),
  TELEGRAM_API_ROOT: opt(httpUrl),
  MEDIA_SECRET: opt(z.string().min(16, 'expected at least 16 characters (use a long random string)')),
  MEDIA_LINK_TTL: opt(duration('media link lifetime').refine((ms) => ms > 0, 'expected more than 0 (links would be expired when sent)')),
  BRIDGE_CONFIG: opt(z.string()),
  ADMIN_USER: opt(z.string()),
  ADMIN_PASSWORD: opt(
    z.string().min(ADMIN_MIN_PASSWORD, `expected at least ${ADMIN_MIN_PASSWORD} characters (/admin can pause and empty the queues)`),
  ),
  ADMIN_READ_ONLY: opt(z.enum(['true', 'false', '1', '0'])),
  LOG_LEVEL: opt(z.enum(LOG_LEVELS)),
  RETRY_MAX_AGE: opt(duration('how long a message is retried')),
  WORKER_CONCURRENCY: opt(z.coerce.number().int().min(1).max(1000)),
  ALLOW_PRIVATE_URLS: opt(z.enum(['true', 'false', '1', '0'])),
});

function issueLines(error: z.ZodError, name: (path: PropertyKey[]) => string): string[] {
  return error.issues.map((i) => `${name(i.path)}: ${i.message}`);
}

function formatPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** `${VAR}` in BRIDGE_CONFIG is replaced from the environment; an unset VAR is a problem. */
function expandVars(text: string, env: Env, problems: string[]): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) {
      problems.push(`BRIDGE_CONFIG: \${${name}} is used but the environment variable ${name} is not set`);
      return '';
    }
    return v;
  });
}

function channelsFromFile(
  file: string,
  env: Env,
  defaults: { timeoutMs: number; allowPrivate: boolean },
  problems: string[],
): ChannelConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    problems.push(`BRIDGE_CONFIG: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    return [];
  }
  const expanded = expandVars(text, env, problems);
  let doc: unknown;
  try {
    doc = /\.json$/i.test(file) ? JSON.parse(expanded) : parseYaml(expanded);
  } catch (e) {
    problems.push(`BRIDGE_CONFIG: ${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
    return [];
  }
  const parsed = z.object({ channels: z.array(channelSchema).min(1, 'expected at least one channel') }).safeParse(doc);
  if (!parsed.success) {
    problems.push(...issueLines(parsed.error, (p) => `BRIDGE_CONFIG ${formatPath(p) || '(root)'}`));
    return [];
  }
  const seen = new Set<string>();
  for (const c of parsed.data.channels) {
    if (seen.has(c.id)) problems.push(`BRIDGE_CONFIG channels: the id "${c.id}" is used twice; each Custom App ID must be unique`);
    seen.add(c.id);
  }
  return parsed.data.channels.map((c) => ({
    id: c.id,
    blinger: { url: c.blinger.url, token: c.blinger.token, timeoutMs: c.blinger.timeout ?? defaults.timeoutMs },
    adapter: c.adapter,
    allowPrivateUrls: c.allowPrivateUrls ?? defaults.allowPrivate,
    ...(c.bot ? { bot: c.bot } : {}),
  }));
}

const CHANNEL_VARS = ['BLINGER_URL', 'BLINGER_TOKEN', 'BLINGER_CHANNEL_ID', 'TELEGRAM_BOT_TOKEN'] as const;

export function loadConfig(env: Env = process.env): BridgeConfig {
  const problems: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(issueLines(parsed.error, (p) => String(p[0])));
  const e = parsed.data;

  const port = e.PORT ?? 3000;
  const timeoutMs = e.BLINGER_TIMEOUT ?? 10_000;
  const allowPrivate = e.ALLOW_PRIVATE_URLS === 'true' || e.ALLOW_PRIVATE_URLS === '1';

  let channels: ChannelConfig[] = [];
  const channelVarsSet = CHANNEL_VARS.filter((v) => e[v] !== undefined);
  if (e.BRIDGE_CONFIG) {
    if (channelVarsSet.length > 0) {
      problems.push(
        `BRIDGE_CONFIG: set together with ${channelVarsSet.join(', ')}; describe every channel in the file and unset those variables`,
      );
    }
    channels = channelsFromFile(e.BRIDGE_CONFIG, env, { timeoutMs, allowPrivate }, problems);
  } else if (channelVarsSet.length > 0) {
    for (const v of CHANNEL_VARS) {
      if (e[v] === undefined)
        problems.push(
          `${v}: required when ${channelVarsSet.join(', ')} ${channelVarsSet.length > 1 ? 'are' : 'is'} set (one channel = Blinger URL, token, Custom App ID and a bot token)`,
        );
    }
    if (e.BLINGER_CHANNEL_ID !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(e.BLINGER_CHANNEL_ID)) {
      problems.push('BLINGER_CHANNEL_ID: expected 1-64 characters of letters, digits, "_", "-" or "." (the Custom App ID)');
    }
    if (problems.length === 0) {
      channels = [
        {
          id: e.BLINGER_CHANNEL_ID!,
          blinger: { url: e.BLINGER_URL!, token: e.BLINGER_TOKEN!, timeoutMs },
          adapter: {
            type: 'telegram',
            token: e.TELEGRAM_BOT_TOKEN!,
            mode: e.TELEGRAM_MODE ?? 'polling',
            ...(e.TELEGRAM_WEBHOOK_SECRET ? { webhookSecret: e.TELEGRAM_WEBHOOK_SECRET } : {}),
            ...(e.TELEGRAM_API_ROOT ? { apiRoot: e.TELEGRAM_API_ROOT } : {}),
          },
          allowPrivateUrls: allowPrivate,
        },
      ];
    }
  }

  const sandbox = !e.BRIDGE_CONFIG && channelVarsSet.length === 0;
  if (!sandbox && !e.MEDIA_SECRET) {
    problems.push('MEDIA_SECRET: required when a channel is configured (a long random string; it signs /media links)');
  }
  const redisCluster = e.REDIS_CLUSTER === 'true' || e.REDIS_CLUSTER === '1';
  if (redisCluster && !/\{[^{}]+\}/.test(e.REDIS_PREFIX ?? '')) {
    problems.push(
      'REDIS_PREFIX: with REDIS_CLUSTER=true it must contain a hash tag such as {bb}, so that every key of the bridge lives in one cluster slot',
    );
  }
  if ((e.ADMIN_USER === undefined) !== (e.ADMIN_PASSWORD === undefined)) {
    problems.push('ADMIN_USER / ADMIN_PASSWORD: set both to enable /admin, or neither');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config: BridgeConfig = {
    redisUrl: e.REDIS_URL ?? 'redis://127.0.0.1:6379',
    redisPrefix: e.REDIS_PREFIX ?? 'bb',
    ...(redisCluster ? { redisCluster } : {}),
    port,
    // The sandbox is a newcomer's trial: it stays on this machine unless HOST says otherwise.
    host: e.HOST ?? (sandbox ? '127.0.0.1' : '0.0.0.0'),
    ...(e.HTTP_REQUEST_TIMEOUT ? { requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT } : {}),
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    // The sandbox signs with a per-process key: its links need not outlive the process.
    mediaSecret: e.MEDIA_SECRET ?? randomBytes(32).toString('hex'),
    mediaTtlMs: e.MEDIA_LINK_TTL ?? 7 * 86_400_000,
    logLevel: e.LOG_LEVEL ?? 'info',
    ...(e.ADMIN_USER && e.ADMIN_PASSWORD
      ? { admin: { user: e.ADMIN_USER, password: e.ADMIN_PASSWORD, readOnly: e.ADMIN_READ_ONLY === 'true' || e.ADMIN_READ_ONLY === '1' } }
      : {}),
    retryMaxAgeMs: e.RETRY_MAX_AGE ?? 86_400_000,
    concurrency: e.WORKER_CONCURRENCY ?? 50,
    channels,
    sandbox,
  };
  registerConfigSecrets(config);
  return config;
}

function registerConfigSecrets(config: BridgeConfig): void {
  registerSecret(config.mediaSecret);
  registerSecret(config.admin?.password);
  for (const c of config.channels) {
    registerSecret(c.blinger.token);
    for (const key of ['token', 'webhookSecret', 'secret', 'accessToken', 'authToken']) {
      const v = c.adapter[key];
      if (typeof v === 'string') registerSecret(v);
    }
  }
  // A password inside REDIS_URL must not leak through connection errors either.
  try {
    const pw = new URL(config.redisUrl).password;
    if (pw) registerSecret(decodeURIComponent(pw));
  } catch {
    /* validated above */
  }
}
