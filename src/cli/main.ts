/**
 * `blinger-bridge <command>`. Configuration problems are printed one per line, without a stack
 * trace, and exit with status 2; other failures exit with 1.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import { createBridge, type Role } from '../bridge.js';
import { createLogger } from '../log.js';
import { redact } from '../redact.js';

const USAGE = `Usage: blinger-bridge <command> [options]

Commands:
  start [--role all|ingress|worker]   run the bridge (default role: all)
  help                                this text

Configuration comes from the environment (see README.md and .env.example).`;

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { role: { type: 'string', default: 'all' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void console.log('Usage: blinger-bridge start [--role all|ingress|worker]\n\nRuns the HTTP server, the adapters and the delivery workers.');
  const role = values.role as Role;
  if (!['all', 'ingress', 'worker'].includes(role)) throw new UsageError(`--role: expected all, ingress or worker, got "${role}"`);
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  if (config.sandbox) {
    log.warn('no channel configured: set BLINGER_URL, BLINGER_TOKEN, BLINGER_CHANNEL_ID and TELEGRAM_BOT_TOKEN (or BRIDGE_CONFIG) — see "Configuration" in README.md');
  }
  const bridge = createBridge({ config, log, role });
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting at once (queued messages stay in Redis)');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight deliveries');
    const force = setTimeout(() => {
      log.warn('in-flight deliveries did not finish within 30 s; exiting (they will be retried)');
      process.exit(1);
    }, 30_000);
    force.unref();
    bridge.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err: redact(String(err)) }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  await bridge.start();
}

class UsageError extends Error {}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'start':
      return start(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      throw new UsageError(`unknown command "${command}"; run "blinger-bridge help"`);
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error('blinger-bridge: invalid configuration');
    for (const p of err.problems) console.error(`  ${p}`);
    process.exit(2);
  }
  if (err instanceof UsageError) {
    console.error(`blinger-bridge: ${err.message}`);
    process.exit(2);
  }
  console.error(`blinger-bridge: ${redact(err instanceof Error ? err.message : String(err))}`);
  process.exit(1);
});
