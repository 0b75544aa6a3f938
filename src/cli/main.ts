/**
 * `blinger-bridge <command>`. Configuration problems are printed one per line, without a stack
 * trace, and exit with status 2; other failures exit with 1.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Role } from '../bridge.js';
import { createLogger } from '../log.js';
import { redact } from '../redact.js';
import { CliError, UsageError } from './errors.js';
import type { AdapterDefinition } from '../adapter.js';

/** The commands every deployment has; each adapter type adds its own (`blinger-bridge <type> …`). */
function usage(adapters: readonly AdapterDefinition[]): string {
  const rows: [string, string][] = [
    ['start [--role all|ingress|worker]', 'run the bridge (default role: all)'],
    ['check', 'check the configuration, Redis, the messengers and Blinger'],
    ['status [--json]', 'queue depths per channel and direction'],
    ['dlq list|retry|purge', 'the dead letters (undelivered messages)'],
  ];
  for (const def of adapters) {
    for (const line of def.cli?.summary ?? []) {
      const [what, ...why] = line.split(/\s{2,}/);
      rows.push([`${def.type} ${what}`, why.join(' ')]);
    }
  }
  rows.push(['help', 'this text']);
  const width = Math.max(...rows.map(([c]) => c.length)) + 3;
  return [
    'Usage: blinger-bridge <command> [options]',
    '',
    'Commands:',
    ...rows.map(([c, d]) => `  ${c.padEnd(width)}${d}`),
    '',
    'Every command takes --help. Configuration comes from the environment (see README.md and .env.example).',
  ].join('\n');
}

const START_HELP = `Usage: blinger-bridge start [--role all|ingress|worker]

Runs the bridge until SIGTERM or SIGINT.
  --role all       (default) everything in one process
  --role ingress   the HTTP server (webhooks, media, health, metrics) and Telegram polling
                   (one process per bot polls at a time; the others stand by)
  --role worker    the delivery workers (plus health and metrics on PORT)
Run any number of ingress and worker processes against one Redis.

On SIGTERM/SIGINT: /readyz answers 503, polling stops, deliveries in flight finish (up to
30 s), connections close, exit status 0. A second signal exits at once (status 1); queued
messages stay in Redis either way.`;

/**
 * Reads ./.env into the environment when there is one, with Node's own loader, which leaves
 * variables that are already set alone: the real environment wins. Returns the file's path.
 */
function loadDotEnv(): string | undefined {
  const file = resolve('.env');
  if (!existsSync(file)) return undefined;
  try {
    process.loadEnvFile(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return file;
}

/** How long in-flight deliveries may take to finish after SIGTERM/SIGINT. */
const SHUTDOWN_GRACE_MS = 30_000;

async function start(argv: string[], envFile: string | undefined): Promise<void> {
  const { parseCommand, str } = await import('./common.js');
  const args = parseCommand('start', START_HELP, argv, { role: { type: 'string', default: 'all' } });
  if (!args) return;
  const role = (str(args, 'role') ?? 'all') as Role;
  if (!['all', 'ingress', 'worker'].includes(role)) throw new UsageError(`--role: expected all, ingress or worker, got "${role}"`);
  const config = loadConfig();
  const log = createLogger(config.logLevel, { format: config.logFormat });
  if (envFile) log.info({ file: envFile }, 'settings read from .env (the environment wins where both set a variable)');
  const { explainListenError, waitForRedis, warnAboutPublicUrl } = await import('./preflight.js');
  warnAboutPublicUrl(config, process.env, log);
  await waitForRedis(config, log);
  const { createBridge } = await import('../bridge.js');
  const bridge = createBridge({ config, log, role });
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting at once (queued messages stay in Redis)');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight deliveries (a second signal exits at once)');
    // bridge.stop() gives up on in-flight deliveries after the grace period by itself; this only
    // guards against a close that hangs (e.g. Redis unreachable while quitting).
    const force = setTimeout(() => {
      log.warn('shutdown did not complete; exiting (queued messages stay in Redis)');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS + 10_000);
    force.unref();
    bridge.stop({ graceMs: SHUTDOWN_GRACE_MS }).then(
      () => process.exit(0),
      (err) => {
        log.error({ err: redact(String(err)) }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await bridge.start();
  } catch (err) {
    await bridge.stop({ graceMs: 5000 }).catch(() => undefined);
    throw explainListenError(err, config);
  }
  if (bridge.sandbox) {
    // For the newcomer at the terminal, plain lines rather than log records.
    process.stdout.write(
      [
        '',
        'blinger-bridge is in sandbox mode: no channel is configured. To connect a bot and Blinger, see "Connecting a bot to Blinger" in README.md.',
        `  visitor's chat:  ${bridge.sandbox.chatUrl}`,
        `  agents' inbox:   ${bridge.sandbox.inboxUrl}`,
        '',
        '',
      ].join('\n'),
    );
  }
}

/** Runs an operator command and exits with its status once its output is written. */
async function finish(run: Promise<number>): Promise<void> {
  const code = await run;
  process.exitCode = code;
  // Normally every connection is closed and the process ends now; never hang on a stray handle.
  setTimeout(() => process.exit(code), 1000).unref();
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const envFile = command === undefined || command === 'help' || command.startsWith('-') ? undefined : loadDotEnv();
  switch (command) {
    case 'start':
      return start(rest, envFile);
    // Loaded on demand: "--help" and mistakes answer without loading the whole bridge.
    case 'check':
      return finish((await import('./check.js')).checkCommand(rest, envFile));
    case 'status':
      return finish((await import('./status.js')).statusCommand(rest));
    case 'dlq':
      return finish((await import('./dlq.js')).dlqCommand(rest));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage((await import('../adapters.js')).builtInAdapters));
      return;
    default: {
      const { builtInAdapters } = await import('../adapters.js');
      const def = builtInAdapters.find((d) => d.type === command && d.cli);
      if (!def?.cli) throw new UsageError(`unknown command "${command}"; run "blinger-bridge help"`);
      const { cliContext } = await import('./common.js');
      return finish(
        def.cli.run(
          rest,
          cliContext(def.type, () => loadConfig()),
        ),
      );
    }
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
  if (err instanceof CliError) {
    console.error(`blinger-bridge: ${redact(err.message)}`);
    process.exit(1);
  }
  console.error(`blinger-bridge: ${redact(err instanceof Error ? err.message : String(err))}`);
  process.exit(1);
});
