/**
 * `blinger-bridge check`: is this deployment able to work? One line per check — ✓ passed,
 * ✗ failed (with what to do about it), ⚠ a warning — and exit status 1 when any check failed.
 */
import { ConfigError, loadConfig } from '../config/load.js';
import type { BridgeConfig } from '../config/schema.js';
import { BlingerClient } from '../blinger/client.js';
import type { CheckResult } from '../adapter.js';
import { redact } from '../redact.js';
import { inspectAdapters, openRedis, parseCommand, safeRedisUrl } from './common.js';
import { probeHealthz, PUBLIC_URL_FIX, publicUrlProblem } from './public-url.js';
import { Redis } from 'ioredis';

export const CHECK_HELP = `Usage: blinger-bridge check

Checks the configuration and everything the bridge depends on, one line each:
  - the configuration (environment or BRIDGE_CONFIG) is valid;
  - with a channel configured: PUBLIC_URL is a public https address, and PUBLIC_URL/healthz answers;
  - Redis is reachable, its version, and its maxmemory-policy (noeviction expected) and persistence;
  - per channel: the messenger (Telegram: getMe, and getWebhookInfo with pending updates and the
    last delivery error) and the Blinger incoming URL.
✓ = fine, ✗ = failed (the line says how to fix it), ⚠ = works, but read the advice.
Exit status: 0 when nothing failed, 1 otherwise.`;

export type Line = CheckResult & { warning?: boolean };

export function formatLine(l: Line): string {
  const mark = l.ok ? (l.warning ? '⚠' : '✓') : '✗';
  const fix = (!l.ok || l.warning) && l.fix ? ` — fix: ${l.fix}` : '';
  return redact(`${mark} ${l.name}: ${l.detail}${fix}`);
}

/** Redis ≥ 6.2 is what the bridge is tested on (README "Requirements"). */
function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

async function checkRedis(config: BridgeConfig, emit: (l: Line) => void): Promise<Redis | undefined> {
  const where = safeRedisUrl(config.redisUrl);
  let redis: Redis;
  try {
    redis = await openRedis(config);
  } catch (err) {
    emit({
      ok: false,
      name: 'Redis',
      detail: (err as Error).message,
      fix: 'start Redis, or set REDIS_URL to where it runs (redis://host:port, rediss:// for TLS)',
    });
    return undefined;
  }
  try {
    const info = await redis.info();
    const version = infoField(info, 'redis_version') ?? 'unknown';
    const recent = versionAtLeast(version, 6, 2);
    emit({
      ok: recent,
      name: 'Redis',
      detail: `${where} reachable, version ${version}`,
      fix: 'upgrade to Redis 6.2 or later (7 recommended)',
    });
    const policy = infoField(info, 'maxmemory_policy') ?? 'unknown';
    emit({
      ok: true,
      warning: policy !== 'noeviction',
      name: 'Redis maxmemory-policy',
      detail: policy === 'noeviction' ? 'noeviction' : `${policy}: when memory is full Redis may evict queued messages`,
      fix: 'set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction); when full, Redis then refuses writes, the bridge answers 503 and senders retry',
    });
    const aof = infoField(info, 'aof_enabled') === '1';
    emit({
      ok: true,
      warning: !aof,
      name: 'Redis persistence',
      detail: aof ? 'appendonly yes' : 'appendonly no: a Redis restart can lose the messages queued since the last snapshot',
      fix: 'set appendonly yes (redis.conf, or CONFIG SET appendonly yes)',
    });
  } catch (err) {
    emit({
      ok: false,
      name: 'Redis',
      detail: `${where} answered, but INFO failed: ${redact(String((err as Error).message))}`,
      fix: 'allow the INFO command for this user',
    });
  }
  return redis;
}

export async function runChecks(env: NodeJS.ProcessEnv, emit: (l: Line) => void): Promise<boolean> {
  let failed = false;
  const out = (l: Line) => {
    if (!l.ok) failed = true;
    emit(l);
  };

  let config: BridgeConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems)
      out({ ok: false, name: 'configuration', detail: p, fix: 'see "Configuration" in README.md or .env.example' });
    return false;
  }
  out({
    ok: true,
    name: 'configuration',
    detail:
      config.channels.length === 0
        ? 'valid; no channel configured (sandbox mode)'
        : `valid; ${config.channels.length} channel${config.channels.length > 1 ? 's' : ''} (${config.channels.map((c) => c.id).join(', ')})`,
  });

  if (config.channels.length > 0) await checkPublicUrl(config.publicUrl, Boolean(env.PUBLIC_URL), out);
  const redis = await checkRedis(config, out);
  // Adapters are inspected only; a lazy client stands in when Redis is down.
  const adapterRedis = redis ?? new Redis(config.redisUrl, { lazyConnect: true });
  try {
    const blinger = new BlingerClient();
    for (const ch of inspectAdapters(config, adapterRedis)) {
      const label = `${ch.config.adapter.type} ${ch.config.id}`;
      if (!ch.adapter) {
        out({ ok: false, name: label, detail: ch.error ?? 'cannot be set up', fix: 'fix the adapter settings of this channel' });
      } else if (ch.adapter.check) {
        for (const r of await ch.adapter.check()) out(r);
      }
      const probe = await blinger.probe(ch.config.blinger.url, Math.min(ch.config.blinger.timeoutMs, 10_000));
      out({
        ok: probe.reachable,
        name: `blinger ${ch.config.id}`,
        detail: probe.reachable
          ? `${originOf(ch.config.blinger.url)} reachable (${probe.detail})`
          : `${originOf(ch.config.blinger.url)} unreachable: ${probe.detail}`,
        fix: 'check BLINGER_URL (the incoming URL on the Custom App settings page) and that this host can reach it (DNS, firewall, proxy)',
      });
    }
  } finally {
    adapterRedis.disconnect();
  }
  return !failed;
}

/** Warnings only: Blinger's view of PUBLIC_URL can differ from this host's (proxies, split DNS). */
async function checkPublicUrl(publicUrl: string, setInEnvironment: boolean, emit: (l: Line) => void): Promise<void> {
  const problem = publicUrlProblem(publicUrl, setInEnvironment);
  emit({ ok: true, warning: problem !== undefined, name: 'PUBLIC_URL', detail: problem ?? `${publicUrl}`, fix: PUBLIC_URL_FIX });
  const probe = await probeHealthz(publicUrl);
  emit({
    ok: true,
    warning: !probe.ok,
    name: 'PUBLIC_URL reachable',
    detail: probe.detail,
    fix: 'start the bridge, and make sure the proxy or tunnel at PUBLIC_URL forwards to its PORT',
  });
}

/** Scheme, host and path, without a query string (which could carry a key). */
function originOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

export async function checkCommand(argv: string[], envFile?: string): Promise<number> {
  if (!parseCommand('check', CHECK_HELP, argv, {})) return 0;
  if (envFile)
    console.log(
      formatLine({ ok: true, name: 'settings', detail: `read from ${envFile} (the environment wins where both set a variable)` }),
    );
  const ok = await runChecks(process.env, (l) => console.log(formatLine(l)));
  return ok ? 0 : 1;
}
