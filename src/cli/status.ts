/**
 * `blinger-bridge status`: per channel and direction, how many messages wait, are in flight, wait
 * out a retry, or failed (dead letters), and how old the oldest undelivered one is.
 */
import { ConfigError, loadConfig, loadQueueConfig, type QueueConfig } from '../config/load.js';
import { channelQueueStats, type ChannelQueueStats } from '../delivery/queue-stats.js';
import type { Direction } from '../delivery/lane-store.js';
import { formatAge, openQueues, openRedis, parseCommand, table } from './common.js';

export const STATUS_HELP = `Usage: blinger-bridge status [--json]

Queue depths per channel and direction, read from Redis (any process can run it):
  waiting   messages queued and not yet being delivered
  active    messages being delivered right now (one per conversation at most)
  delayed   messages waiting out a retry backoff, a rate limit or pacing
  failed    dead letters (see "blinger-bridge dlq list")
  oldest    age of the oldest undelivered message
inbound = end-users → Blinger, outbound = agents → end-users.

Options:
  --json    print the rows as JSON (ages in milliseconds)`;

export interface StatusRow extends Omit<ChannelQueueStats, 'oldestAt'> {
  direction: Direction;
  oldestAgeMs: number | null;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const args = parseCommand('status', STATUS_HELP, argv, { json: { type: 'boolean' } });
  if (!args) return 0;
  const { config, channelIds } = statusConfig();
  const redis = await openRedis(config);
  const queues = openQueues(config, redis);
  try {
    const now = Date.now();
    const rows: StatusRow[] = [];
    for (const q of [queues.inbound, queues.outbound]) {
      const stats = await channelQueueStats(q, { deadLettersByChannel: true });
      // Configured channels always show, even when idle; lanes of removed channels show too.
      const ids = [...new Set([...channelIds, ...stats.keys()])];
      for (const id of ids) {
        const s = stats.get(id) ?? { channelId: id, waiting: 0, active: 0, delayed: 0, failed: 0 };
        rows.push({
          channelId: id,
          direction: q.store.direction,
          waiting: s.waiting,
          active: s.active,
          delayed: s.delayed,
          failed: s.failed,
          oldestAgeMs: s.oldestAt === undefined ? null : Math.max(0, now - s.oldestAt),
        });
      }
    }
    rows.sort((a, b) => a.channelId.localeCompare(b.channelId) || a.direction.localeCompare(b.direction));
    if (args.values.json) {
      console.log(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      console.log('No channel configured and nothing queued.');
      return 0;
    }
    console.log(
      table([
        ['CHANNEL', 'DIRECTION', 'WAITING', 'ACTIVE', 'DELAYED', 'FAILED', 'OLDEST'],
        ...rows.map((r) => [
          r.channelId,
          r.direction,
          String(r.waiting),
          String(r.active),
          String(r.delayed),
          String(r.failed),
          r.oldestAgeMs === null ? '-' : formatAge(r.oldestAgeMs),
        ]),
      ]),
    );
    return 0;
  } finally {
    await queues.close();
    redis.disconnect();
  }
}

/**
 * The queues are worth seeing even while the configuration has a problem elsewhere: then only the
 * Redis settings are used, and the channels shown are those with messages.
 */
function statusConfig(): { config: QueueConfig; channelIds: string[] } {
  try {
    const config = loadConfig();
    return { config, channelIds: config.channels.map((c) => c.id) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(
      `note: the configuration has ${err.problems.length} problem${err.problems.length > 1 ? 's' : ''} (run "blinger-bridge check"); showing the queues from the Redis settings alone`,
    );
    return { config: loadQueueConfig(), channelIds: [] };
  }
}
