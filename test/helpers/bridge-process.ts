/**
 * A bridge in its own process, for crash tests: `node --import tsx test/helpers/bridge-process.ts`
 * with BRIDGE_TEST_CONFIG (a BridgeConfig as JSON) and BRIDGE_TEST_ROLE. Prints "ready" when started.
 */
import { createBridge, type Role } from '../../src/bridge.js';
import type { BridgeConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';

const config = JSON.parse(process.env.BRIDGE_TEST_CONFIG ?? '{}') as BridgeConfig;
const bridge = createBridge({
  config,
  role: (process.env.BRIDGE_TEST_ROLE ?? 'worker') as Role,
  log: createLogger('warn', { pretty: false }),
  tuning: { lockDurationMs: 2000, stalledIntervalMs: 1000, keeperIntervalMs: 500, backoff: { baseMs: 20, maxMs: 200 } },
});
await bridge.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void bridge.stop().then(() => process.exit(0)));
