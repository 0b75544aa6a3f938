/**
 * Queue depths, read from Redis, for `blinger-bridge status` and the /metrics gauges. Counted in
 * messages, per channel, for one direction:
 *
 * - active:  heads of lanes a worker holds right now (the messages in flight);
 * - delayed: heads of lanes waiting out a backoff, a rate limit or pacing;
 * - waiting: every other undelivered message (behind a head, or in a lane waiting for a worker);
 * - failed:  dead letters;
 * - oldestAt: when the oldest undelivered message was received (the oldest lane head).
 *
 * Cost: one pass over the non-empty lanes (a Lua script reads length and head time of 500 lanes per
 * call) plus the ids of active and delayed lane jobs. Dead letters per channel need a pass over the
 * dead-letter hash, so that is only done when asked for (the CLI), never on a scrape.
 */
import type { Queue } from 'bullmq';
import type { LaneStore, LaneRef } from './lane-store.js';
import { laneMember } from './lane-store.js';

export interface ChannelQueueStats {
  channelId: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** Receive time (ms) of the oldest undelivered message; undefined when nothing waits. */
  oldestAt?: number;
}

export interface DirectionTotals {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  oldestAt?: number;
}

const LANE_HEADS = `
-- KEYS: lane lists. Returns length and head receive time (-1 if none) for each.
local out = {}
for i, k in ipairs(KEYS) do
  local len = redis.call('LLEN', k)
  local at = -1
  if len > 0 then
    local ok, item = pcall(cjson.decode, redis.call('LINDEX', k, 0))
    if ok and type(item) == 'table' and tonumber(item.at) then at = tonumber(item.at) end
  end
  out[#out + 1] = len
  out[#out + 1] = at
end
return out
`;

export interface LaneQueueLike {
  store: LaneStore;
  queue: Queue;
}

/** Per-channel depths of one direction. Dead letters per channel only with `deadLettersByChannel`. */
export async function channelQueueStats(
  q: LaneQueueLike,
  opts: { deadLettersByChannel?: boolean } = {},
): Promise<Map<string, ChannelQueueStats>> {
  const { store } = q;
  const [activeIds, delayedIds] = await Promise.all([q.queue.getRanges(['active'], 0, -1), q.queue.getRanges(['delayed'], 0, -1)]);
  const active = new Set(activeIds);
  const delayed = new Set(delayedIds);
  const byChannel = new Map<string, ChannelQueueStats>();
  const row = (channelId: string): ChannelQueueStats => {
    let r = byChannel.get(channelId);
    if (!r) byChannel.set(channelId, (r = { channelId, waiting: 0, active: 0, delayed: 0, failed: 0 }));
    return r;
  };

  for await (const lanes of store.activeLanes(500)) {
    const keys = lanes.map((l: LaneRef) => store.laneKey(l));
    const res = (await store.redis.eval(LANE_HEADS, keys.length, ...keys)) as number[];
    lanes.forEach((lane, i) => {
      const len = Number(res[2 * i]);
      const at = Number(res[2 * i + 1]);
      if (!len) return;
      const r = row(lane.channelId);
      const member = laneMember(lane);
      const headState = active.has(member) ? 'active' : delayed.has(member) ? 'delayed' : 'waiting';
      r[headState] += 1;
      r.waiting += len - 1;
      if (at >= 0 && (r.oldestAt === undefined || at < r.oldestAt)) r.oldestAt = at;
    });
  }

  if (opts.deadLettersByChannel) {
    let cursor = '0';
    do {
      const [next, entries] = await store.redis.hscan(store.dlqKey, cursor, 'COUNT', 500);
      cursor = next;
      for (let i = 1; i < entries.length; i += 2) {
        const channelId = deadLetterChannel(entries[i]!);
        if (channelId) row(channelId).failed += 1;
      }
    } while (cursor !== '0');
  }
  return byChannel;
}

/** Totals of one direction; dead letters counted from the index (cheap). */
export async function directionTotals(q: LaneQueueLike): Promise<DirectionTotals> {
  const [byChannel, failed] = await Promise.all([channelQueueStats(q), q.store.redis.zcard(q.store.dlqIndexKey)]);
  const t: DirectionTotals = { waiting: 0, active: 0, delayed: 0, failed };
  for (const r of byChannel.values()) {
    t.waiting += r.waiting;
    t.active += r.active;
    t.delayed += r.delayed;
    if (r.oldestAt !== undefined && (t.oldestAt === undefined || r.oldestAt < t.oldestAt)) t.oldestAt = r.oldestAt;
  }
  return t;
}

function deadLetterChannel(raw: string): string | undefined {
  try {
    const lane = (JSON.parse(raw) as { lane?: { channelId?: unknown } }).lane;
    return typeof lane?.channelId === 'string' ? lane.channelId : undefined;
  } catch {
    return undefined;
  }
}
