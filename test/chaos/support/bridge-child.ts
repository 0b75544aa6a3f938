/**
 * A bridge in its own process for the chaos tests, so it can be killed with SIGKILL and restarted:
 * `node --import tsx test/chaos/support/bridge-child.ts` with CHAOS_CONFIG (a BridgeConfig as JSON)
 * and CHAOS_ROLE. Short locks and backoff so a killed worker's conversations are taken over within
 * seconds. Prints "ready <url>" once started; logs (warn and above) go to stderr.
 */
import { createBridge, type Role } from '../../../src/bridge.js';
import type { BridgeConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';
import { registerSecret } from '../../../src/redact.js';

const config = JSON.parse(process.env.CHAOS_CONFIG ?? '{}') as BridgeConfig;
for (const c of config.channels) {
  registerSecret(c.blinger.token);
  for (const key of ['token', 'accessToken', 'appSecret', 'verifyToken'])
    if (typeof c.adapter[key] === 'string') registerSecret(c.adapter[key]);
}
const bridge = createBridge({
  config,
  role: (process.env.CHAOS_ROLE ?? 'all') as Role,
  log: createLogger(process.env.CHAOS_LOG_LEVEL ?? 'warn', { pretty: false, destination: process.stderr }),
  tuning: { lockDurationMs: 2000, stalledIntervalMs: 1000, keeperIntervalMs: 500, backoff: { baseMs: 20, maxMs: 200 } },
});
const url = await bridge.start();
process.stdout.write(`ready ${url}\n`);
process.on('SIGTERM', () => void bridge.stop({ graceMs: 5000 }).then(() => process.exit(0)));
