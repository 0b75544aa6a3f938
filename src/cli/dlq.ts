/**
 * `blinger-bridge dlq list|retry|purge`: the dead-letter lists — messages that were not delivered
 * (a permanent failure such as a blocked bot, or transient failures for longer than RETRY_MAX_AGE).
 */
import { loadQueueConfig } from '../config/load.js';
import type { DeadLetter } from '../delivery/lane-store.js';
import {
  CliError,
  formatAge,
  openQueues,
  openRedis,
  parseCommand,
  parseDirection,
  parseDurationArg,
  parsePositiveInt,
  str,
  table,
  UsageError,
} from './common.js';
import { progressBar } from './progress.js';

export const DLQ_HELP = `Usage: blinger-bridge dlq <list|retry|purge> [options]

  list  [--channel <id>] [--direction inbound|outbound] [--limit <n>] [--json]
        the newest dead letters (default 20) with why they failed
  retry <id> | --all [--channel <id>] [--direction inbound|outbound]
        put dead letters back at the end of their conversation's queue; they are delivered
        in order with a fresh retry window
  purge --older-than <duration> [--direction inbound|outbound]
        delete dead letters that failed more than <duration> ago (e.g. 7d, 12h)

Run "blinger-bridge dlq <command> --help" for details.`;

const LIST_HELP = `Usage: blinger-bridge dlq list [--channel <id>] [--direction inbound|outbound] [--limit <n>] [--json]

Shows the newest dead letters first: when and why each failed, its id (for "dlq retry"), the
channel, direction, conversation (client id) and message type.

Options:
  --channel <id>     only this channel (Custom App ID)
  --direction <d>    inbound (end-user → Blinger) or outbound (agent → end-user)
  --limit <n>        at most n letters (default 20)
  --json             print them as JSON, message included`;

const RETRY_HELP = `Usage: blinger-bridge dlq retry <id>
       blinger-bridge dlq retry --all [--channel <id>] [--direction inbound|outbound]

Puts dead letters back at the end of their conversation's queue and removes them from the
dead-letter list, atomically. They are then delivered like new messages (in order, paced, with a
fresh RETRY_MAX_AGE window) by the running workers. --all shows a progress bar.`;

const PURGE_HELP = `Usage: blinger-bridge dlq purge --older-than <duration> [--direction inbound|outbound]

Deletes dead letters that failed more than <duration> ago, for good. Durations: 30m, 12h, 7d…`;

function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function printLetters(letters: DeadLetter<unknown>[], now: number): void {
  console.log(
    table([
      ['FAILED', 'ID', 'DIRECTION', 'CHANNEL', 'CLIENT', 'TYPE', 'ATTEMPTS', 'REASON'],
      ...letters.map((l) => [
        `${formatAge(now - l.failedAt)} ago`,
        l.id,
        l.direction,
        l.lane.channelId,
        l.lane.clientId,
        String((l.item.payload as { type?: unknown } | null)?.type ?? '?'),
        String(l.attempts),
        oneLine(`[${l.code}] ${l.reason}`, 100),
      ]),
    ]),
  );
}

export async function dlqCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    const missing = sub === undefined;
    (missing ? console.error : console.log)(DLQ_HELP);
    return missing ? 2 : 0;
  }
  const common = { channel: { type: 'string' }, direction: { type: 'string' } } as const;
  let run: (() => Promise<number>) | undefined;
  switch (sub) {
    case 'list': {
      const args = parseCommand('dlq list', LIST_HELP, rest, { ...common, limit: { type: 'string' }, json: { type: 'boolean' } });
      if (!args) return 0;
      const direction = parseDirection(str(args, 'direction'), 'dlq list');
      const limit = parsePositiveInt(str(args, 'limit'), '--limit', 'dlq list', 20);
      run = () =>
        withQueues(async (q) => {
          const letters = await q.deadLetters.list({ channel: str(args, 'channel'), direction, limit });
          if (args.values.json) {
            console.log(JSON.stringify(letters, null, 2));
            return 0;
          }
          const total = await q.deadLetters.count(direction);
          if (letters.length === 0) {
            console.log(total === 0 ? 'No dead letters.' : 'No dead letters match.');
            return 0;
          }
          printLetters(letters, Date.now());
          console.log(
            `\n${letters.length} shown, ${total} in all${direction ? ` (${direction})` : ''}. Retry one with "blinger-bridge dlq retry <id>".`,
          );
          return 0;
        });
      break;
    }
    case 'retry': {
      const args = parseCommand('dlq retry', RETRY_HELP, rest, { ...common, all: { type: 'boolean' } }, true);
      if (!args) return 0;
      const direction = parseDirection(str(args, 'direction'), 'dlq retry');
      const ids = args.positionals;
      if (args.values.all ? ids.length > 0 : ids.length !== 1)
        throw new UsageError('dlq retry: give one dead-letter id, or --all; see "blinger-bridge dlq retry --help"');
      if (!args.values.all && (str(args, 'channel') || direction))
        throw new UsageError('dlq retry: --channel and --direction go with --all');
      run = () =>
        withQueues(async (q) => {
          if (!args.values.all) {
            if (!(await q.deadLetters.retry(ids[0]!)))
              throw new CliError(`dlq retry: no dead letter with id "${ids[0]}" (see "blinger-bridge dlq list")`);
            console.log(`Retried ${ids[0]}: queued again at the end of its conversation.`);
            return 0;
          }
          const { retried, total } = await q.deadLetters.retryAll({
            channel: str(args, 'channel'),
            direction,
            onProgress: progressBar('Retrying dead letters'),
          });
          console.log(
            total === 0
              ? 'No dead letters to retry.'
              : `Retried ${retried} of ${total} dead letters${retried < total ? ' (the others were retried or purged meanwhile)' : ''}.`,
          );
          return 0;
        });
      break;
    }
    case 'purge': {
      const args = parseCommand('dlq purge', PURGE_HELP, rest, { 'older-than': { type: 'string' }, direction: { type: 'string' } });
      if (!args) return 0;
      const olderThan = str(args, 'older-than');
      if (olderThan === undefined) throw new UsageError('dlq purge: --older-than <duration> is required (e.g. --older-than 7d)');
      const ms = parseDurationArg(olderThan, '--older-than', 'dlq purge');
      const direction = parseDirection(str(args, 'direction'), 'dlq purge');
      run = () =>
        withQueues(async (q) => {
          const n = await q.deadLetters.purge(Date.now() - ms, direction);
          console.log(`Purged ${n} dead letter${n === 1 ? '' : 's'} older than ${olderThan}.`);
          return 0;
        });
      break;
    }
    default:
      throw new UsageError(`dlq: unknown command "${sub}"; expected list, retry or purge`);
  }
  return run();
}

async function withQueues(fn: (q: ReturnType<typeof openQueues>) => Promise<number>): Promise<number> {
  // Only Redis settings matter here: dead letters stay reachable while the rest is being fixed.
  const config = loadQueueConfig();
  const redis = await openRedis(config);
  const queues = openQueues(config, redis);
  try {
    return await fn(queues);
  } finally {
    await queues.close();
    redis.disconnect();
  }
}
