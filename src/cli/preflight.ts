/**
 * What `start` tells an operator before and while the bridge comes up, one line each with the fix:
 * where the settings came from, a PUBLIC_URL Blinger cannot reach, Redis not answering (the bridge
 * waits for it: under compose or after a reboot Redis may come up later), a port already in use.
 */
import type { Logger } from 'pino';
import type { BridgeConfig } from '../config/schema.js';
import { CliError, openRedis, safeRedisUrl } from './common.js';
import { PUBLIC_URL_FIX, publicUrlProblem } from './public-url.js';

const REDIS_FIX =
  'start Redis (redis-server, or docker run -d -p 6379:6379 redis:7), or set REDIS_URL to where it runs (redis://host:port, rediss:// for TLS)';

export function warnAboutPublicUrl(config: BridgeConfig, env: NodeJS.ProcessEnv, log: Logger): void {
  if (config.sandbox) return;
  const problem = publicUrlProblem(config.publicUrl, Boolean(env.PUBLIC_URL));
  if (problem) log.warn({ fix: PUBLIC_URL_FIX }, `PUBLIC_URL ${problem}`);
}

/** Resolves once Redis answers; while it does not, one line says so and how to fix it. */
export async function waitForRedis(config: BridgeConfig, log: Logger, retryMs = 2000): Promise<void> {
  let said = false;
  for (;;) {
    try {
      const redis = await openRedis(config);
      redis.disconnect();
      if (said) log.info({ redis: safeRedisUrl(config.redisUrl) }, 'Redis answers now; starting');
      return;
    } catch (err) {
      if (!said) log.error({ fix: REDIS_FIX }, `${(err as Error).message}; waiting for it (Ctrl-C to stop)`);
      said = true;
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}

/** A listen error the operator can fix, as one line; anything else is returned as it was. */
export function explainListenError(err: unknown, config: BridgeConfig): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  const where = `port ${config.port} on ${config.host}`;
  if (code === 'EADDRINUSE')
    return new CliError(`${where} is already in use by another program — fix: stop it (ss -ltnp shows which), or set PORT to a free port`);
  if (code === 'EACCES')
    return new CliError(`${where} needs privileges this user does not have — fix: set PORT above 1023 and put a reverse proxy in front`);
  if (code === 'EADDRNOTAVAIL')
    return new CliError(`${config.host} is not an address of this machine — fix: set HOST (0.0.0.0: every address)`);
  return err;
}
