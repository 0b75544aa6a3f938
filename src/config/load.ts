/**
 * Reads and validates the configuration at start. Every problem becomes one line naming the
 * variable (or the BRIDGE_CONFIG path), the value given (secrets masked) and what is expected;
 * ConfigError carries all of them. The core knows no messenger's variables: each adapter's
 * definition brings its settings schema and, optionally, its one-channel environment variables.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import type { AdapterDefinition, AdapterSettings } from '../adapter.js';
import { builtInAdapters } from '../adapters.js';
import { registerSecret } from '../redact.js';
import { channelSchema, duration, httpUrl, type BridgeConfig, type ChannelConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Empty strings count as unset, as in most .env tooling. */
const opt = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** A whole number in [min, max], written in the environment as digits. */
const wholeNumber = (min: number, max: number, what: string) => {
  const message = `expected ${what} ${min}–${max}`;
  return z.string().trim().regex(/^\d+$/, message).transform(Number).pipe(z.number().min(min, message).max(max, message));
};

const flag = z.enum(['true', 'false', '1', '0'], { error: 'expected true or false' });

const envSchema = z.object({
  REDIS_URL: opt(z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')),
  REDIS_PREFIX: opt(z.string().regex(/^[A-Za-z0-9_:{}.-]{1,32}$/, 'expected 1-32 characters of letters, digits and _ : { } . -')),
  REDIS_CLUSTER: opt(flag),
  PORT: opt(wholeNumber(1, 65535, 'a port number')),
  HOST: opt(z.string().min(1)),
  PUBLIC_URL: opt(httpUrl),
  BLINGER_URL: opt(httpUrl),
  BLINGER_TOKEN: opt(z.string()),
  BLINGER_CHANNEL_ID: opt(z.string()),
  BLINGER_TIMEOUT: opt(duration('Blinger request timeout')),
  MEDIA_SECRET: opt(z.string().min(16, 'expected at least 16 characters (use a long random string)')),
  MEDIA_LINK_TTL: opt(duration('media link lifetime')),
  BRIDGE_CONFIG: opt(z.string()),
  ADMIN_USER: opt(z.string()),
  ADMIN_PASSWORD: opt(z.string()),
  LOG_LEVEL: opt(z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` })),
  LOG_FORMAT: opt(z.enum(['json', 'pretty'], { error: 'expected json or pretty' })),
  RETRY_MAX_AGE: opt(duration('how long a message is retried')),
  WORKER_CONCURRENCY: opt(wholeNumber(1, 1000, 'a whole number')),
  ALLOW_PRIVATE_URLS: opt(flag),
});

type CoreEnv = z.output<typeof envSchema>;

/** Variables whose values never appear in a problem line. */
const SECRET_VARS = new Set(['BLINGER_TOKEN', 'MEDIA_SECRET', 'ADMIN_PASSWORD']);

/** `NAME=value` for a problem line: secrets masked, odd characters quoted, long values cut. */
function shown(name: string, value: string | undefined, secret: boolean): string {
  if (value === undefined) return name;
  if (secret) return `${name}=(${value.length} characters, hidden)`;
  if (name === 'REDIS_URL') value = maskUrlPassword(value);
  const cut = value.length > 80 ? `${value.slice(0, 77)}…` : value;
  return `${name}=${/^[\w.:/@%+,~*()-]*$/.test(cut) ? cut : JSON.stringify(cut)}`;
}

function maskUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

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

type Registry = Map<string, AdapterDefinition>;

/** Validates a channel's `adapter` section with its definition's schema. */
function adapterSettings(registry: Registry, raw: AdapterSettings, where: (path: PropertyKey[]) => string, problems: string[]) {
  const def = registry.get(raw.type);
  if (!def) {
    problems.push(`${where(['type'])}: unknown adapter type "${raw.type}" (known: ${[...registry.keys()].join(', ')})`);
    return undefined;
  }
  const parsed = def.settings.safeParse(raw);
  if (!parsed.success) {
    problems.push(...issueLines(parsed.error, where));
    return undefined;
  }
  return parsed.data as ChannelConfig['adapter'];
}

function channelsFromFile(
  file: string,
  env: Env,
  registry: Registry,
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
  const channels: ChannelConfig[] = [];
  parsed.data.channels.forEach((c, i) => {
    if (seen.has(c.id)) problems.push(`BRIDGE_CONFIG channels: the id "${c.id}" is used twice; each Custom App ID must be unique`);
    seen.add(c.id);
    const adapter = adapterSettings(registry, c.adapter, (p) => `BRIDGE_CONFIG ${formatPath(['channels', i, 'adapter', ...p])}`, problems);
    if (!adapter) return;
    channels.push({
      id: c.id,
      blinger: { url: c.blinger.url, token: c.blinger.token, timeoutMs: c.blinger.timeout ?? defaults.timeoutMs },
      adapter,
      allowPrivateUrls: c.allowPrivateUrls ?? defaults.allowPrivate,
      ...(c.bot ? { bot: c.bot } : {}),
    });
  });
  return channels;
}

const BLINGER_VARS = ['BLINGER_URL', 'BLINGER_TOKEN', 'BLINGER_CHANNEL_ID'] as const;

/** The adapters whose one-channel variable is set in the environment. */
function adaptersInEnv(env: Env, registry: Registry): AdapterDefinition[] {
  return [...registry.values()].filter((d) => d.env && env[d.env.enabledBy] !== undefined && env[d.env.enabledBy] !== '');
}

/** An adapter's variable without the one that turns the adapter on is a mistake worth naming. */
function strayAdapterVars(env: Env, registry: Registry): string[] {
  const problems: string[] = [];
  for (const def of registry.values()) {
    if (!def.env || (env[def.env.enabledBy] ?? '') !== '') continue;
    const secrets = new Set(def.secrets ?? []);
    for (const [key, name] of Object.entries(def.env.vars)) {
      if ((env[name] ?? '') === '') continue;
      problems.push(
        `${shown(name, env[name], secrets.has(key))}: set without ${def.env.enabledBy}, so it has no effect (set ${def.env.enabledBy}, or remove it)`,
      );
    }
  }
  return problems;
}

/** One channel from BLINGER_* plus one adapter's variables (e.g. TELEGRAM_BOT_TOKEN). */
function channelFromEnv(
  e: CoreEnv,
  env: Env,
  registry: Registry,
  defaults: { timeoutMs: number; allowPrivate: boolean },
  problems: string[],
): ChannelConfig[] {
  const defs = adaptersInEnv(env, registry);
  const given = [...BLINGER_VARS.filter((v) => e[v] !== undefined), ...defs.map((d) => d.env!.enabledBy)];
  const triggers = [...registry.values()].flatMap((d) => (d.env ? [d.env.enabledBy] : []));
  for (const v of BLINGER_VARS) {
    if (e[v] === undefined)
      problems.push(
        `${v}: required when ${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} set (one channel = Blinger URL, token, Custom App ID and a messenger)`,
      );
  }
  if (defs.length === 0)
    problems.push(
      `${triggers.join(' or ')}: one is required when ${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} set (which messenger the channel connects)`,
    );
  if (defs.length > 1)
    problems.push(
      `${defs.map((d) => d.env!.enabledBy).join(', ')}: the environment describes one channel; describe several in a BRIDGE_CONFIG file`,
    );
  if (e.BLINGER_CHANNEL_ID !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(e.BLINGER_CHANNEL_ID)) {
    problems.push(
      `${shown('BLINGER_CHANNEL_ID', e.BLINGER_CHANNEL_ID, false)}: expected 1-64 characters of letters, digits, "_", "-" or "." (the Custom App ID)`,
    );
  }
  const def = defs[0];
  if (!def || defs.length > 1) return [];
  const vars = def.env!.vars;
  const raw: AdapterSettings & Record<string, unknown> = { type: def.type };
  for (const [key, name] of Object.entries(vars)) if (env[name] !== undefined && env[name] !== '') raw[key] = env[name];
  const secretKeys = new Set(def.secrets ?? []);
  const adapter = adapterSettings(
    registry,
    raw,
    (p) => {
      const key = String(p[0] ?? '');
      const name = vars[key] ?? def.env!.enabledBy;
      return shown(name, env[name], secretKeys.has(key));
    },
    problems,
  );
  if (!adapter || problems.length > 0) return [];
  return [
    {
      id: e.BLINGER_CHANNEL_ID!,
      blinger: { url: e.BLINGER_URL!, token: e.BLINGER_TOKEN!, timeoutMs: defaults.timeoutMs },
      adapter,
      allowPrivateUrls: defaults.allowPrivate,
    },
  ];
}

/** Each variable on its own, so that one bad value does not hide the problems of the others. */
function parseEnv(env: Env, problems: string[]): CoreEnv {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema.shape)) {
    const parsed = (schema as z.ZodType).safeParse(env[name]);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(...parsed.error.issues.map((i) => `${shown(name, env[name], SECRET_VARS.has(name))}: ${i.message}`));
  }
  return out as CoreEnv;
}

/** What the queue commands (status, dlq) need: Redis and retry settings, nothing else checked. */
export type QueueConfig = Pick<BridgeConfig, 'redisUrl' | 'redisPrefix' | 'redisCluster' | 'retryMaxAgeMs'>;

export function loadQueueConfig(env: Env = process.env): QueueConfig {
  const pick = envSchema.pick({ REDIS_URL: true, REDIS_PREFIX: true, REDIS_CLUSTER: true, RETRY_MAX_AGE: true });
  const parsed = pick.safeParse(env);
  if (!parsed.success) throw new ConfigError(issueLines(parsed.error, (p) => shown(String(p[0]), env[String(p[0])], false)));
  const e = parsed.data;
  const redisCluster = e.REDIS_CLUSTER === 'true' || e.REDIS_CLUSTER === '1';
  const config: QueueConfig = {
    redisUrl: e.REDIS_URL ?? 'redis://127.0.0.1:6379',
    redisPrefix: e.REDIS_PREFIX ?? 'bb',
    ...(redisCluster ? { redisCluster } : {}),
    retryMaxAgeMs: e.RETRY_MAX_AGE ?? 86_400_000,
  };
  registerRedisPassword(config.redisUrl);
  return config;
}

export function loadConfig(env: Env = process.env, adapters: readonly AdapterDefinition[] = builtInAdapters): BridgeConfig {
  const problems: string[] = [];
  const e = parseEnv(env, problems);
  const registry: Registry = new Map(adapters.map((d) => [d.type, d]));

  const port = e.PORT ?? 3000;
  const defaults = {
    timeoutMs: e.BLINGER_TIMEOUT ?? 10_000,
    allowPrivate: e.ALLOW_PRIVATE_URLS === 'true' || e.ALLOW_PRIVATE_URLS === '1',
  };

  const envChannel = BLINGER_VARS.some((v) => e[v] !== undefined) || adaptersInEnv(env, registry).length > 0;
  problems.push(...strayAdapterVars(env, registry));
  let channels: ChannelConfig[] = [];
  if (e.BRIDGE_CONFIG) {
    if (envChannel) {
      const set = [...BLINGER_VARS.filter((v) => e[v] !== undefined), ...adaptersInEnv(env, registry).map((d) => d.env!.enabledBy)];
      problems.push(`BRIDGE_CONFIG: set together with ${set.join(', ')}; describe every channel in the file and unset those variables`);
    }
    channels = channelsFromFile(e.BRIDGE_CONFIG, env, registry, defaults, problems);
  } else if (envChannel) {
    channels = channelFromEnv(e, env, registry, defaults, problems);
  }

  const sandbox = !e.BRIDGE_CONFIG && !envChannel;
  if (!sandbox && (env.MEDIA_SECRET ?? '') === '') {
    problems.push('MEDIA_SECRET: required when a channel is configured (a long random string; it signs /media links)');
  }
  const redisCluster = e.REDIS_CLUSTER === 'true' || e.REDIS_CLUSTER === '1';
  if (redisCluster && !/\{[^{}]+\}/.test(e.REDIS_PREFIX ?? '')) {
    problems.push(
      `${shown('REDIS_PREFIX', e.REDIS_PREFIX, false)}: with REDIS_CLUSTER=true it must contain a hash tag such as {bb}, so that every key of the bridge lives in one cluster slot`,
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
    host: e.HOST ?? '0.0.0.0',
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    // The sandbox signs with a per-process key: its links need not outlive the process.
    mediaSecret: e.MEDIA_SECRET ?? randomBytes(32).toString('hex'),
    mediaTtlMs: e.MEDIA_LINK_TTL ?? 7 * 86_400_000,
    logLevel: e.LOG_LEVEL ?? 'info',
    ...(e.LOG_FORMAT ? { logFormat: e.LOG_FORMAT } : {}),
    ...(e.ADMIN_USER && e.ADMIN_PASSWORD ? { admin: { user: e.ADMIN_USER, password: e.ADMIN_PASSWORD } } : {}),
    retryMaxAgeMs: e.RETRY_MAX_AGE ?? 86_400_000,
    concurrency: e.WORKER_CONCURRENCY ?? 50,
    channels,
    sandbox,
  };
  registerConfigSecrets(config, registry);
  return config;
}

function registerConfigSecrets(config: BridgeConfig, registry: Registry): void {
  registerSecret(config.mediaSecret);
  registerSecret(config.admin?.password);
  for (const c of config.channels) {
    registerSecret(c.blinger.token);
    for (const key of registry.get(c.adapter.type)?.secrets ?? []) {
      const v = c.adapter[key];
      if (typeof v === 'string') registerSecret(v);
    }
  }
  registerRedisPassword(config.redisUrl);
}

/** A password inside REDIS_URL must not leak through connection errors either. */
function registerRedisPassword(url: string): void {
  try {
    const pw = new URL(url).password;
    if (pw) registerSecret(decodeURIComponent(pw));
  } catch {
    /* validated before */
  }
}
