/**
 * The dead-letter lists (`<prefix>:dlq:<direction>`, a hash id → DeadLetter JSON, and its zset
 * index by failure time): list, retry, purge — for `blinger-bridge dlq`.
 *
 * Retry puts the message back at the end of its conversation's lane and removes the dead letter in
 * one Lua script, so a crash can neither lose it nor leave it in both places; then it makes sure
 * the lane has a job, exactly as a newly received message does. The message is delivered after
 * whatever that conversation already has queued, through the usual ordering, pacing and retries,
 * with a fresh retry window (its receive time becomes the time of the retry).
 */
import type { DeadLetter, Direction } from './lane-store.js';
import { laneMember, serializeItem } from './lane-store.js';
import type { LaneQueue } from './lane-queue.js';

const RETRY = `
-- KEYS: dlq hash, dlq index, lane list, lanes set; ARGV: id, lane member, item JSON
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('RPUSH', KEYS[3], ARGV[3])
local added = redis.call('SADD', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return added
`;

const PURGE = `
-- KEYS: dlq hash, dlq index; ARGV: max failedAt, batch. Removes up to batch letters at or before it.
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return 0 end
redis.call('HDEL', KEYS[1], unpack(ids))
redis.call('ZREM', KEYS[2], unpack(ids))
return #ids
`;

export const DIRECTIONS: readonly Direction[] = ['inbound', 'outbound'];

export interface ListOptions {
  channel?: string;
  direction?: Direction;
  /** At most this many, newest first. */
  limit?: number;
}

export class DeadLetters {
  private readonly queues: Record<Direction, LaneQueue<unknown>>;

  constructor(queues: { inbound: LaneQueue<unknown>; outbound: LaneQueue<unknown> }) {
    this.queues = queues;
  }

  private directions(only?: Direction): Direction[] {
    return only ? [only] : [...DIRECTIONS];
  }

  async count(direction?: Direction): Promise<number> {
    let n = 0;
    for (const d of this.directions(direction)) n += await this.queues[d].store.redis.zcard(this.queues[d].store.dlqIndexKey);
    return n;
  }

  /** Newest first, across both directions unless one is given. */
  async list(opts: ListOptions = {}): Promise<DeadLetter<unknown>[]> {
    const limit = opts.limit ?? 20;
    const out: DeadLetter<unknown>[] = [];
    for (const d of this.directions(opts.direction)) {
      const { store } = this.queues[d];
      // Walk the index newest first in pages until `limit` letters of the channel are found.
      let found = 0;
      for (let start = 0; found < limit; start += 200) {
        const ids = await store.redis.zrevrange(store.dlqIndexKey, start, start + 199);
        if (ids.length === 0) break;
        const raws = await store.redis.hmget(store.dlqKey, ...ids);
        for (const raw of raws) {
          if (!raw) continue;
          const letter = JSON.parse(raw) as DeadLetter<unknown>;
          if (opts.channel && letter.lane.channelId !== opts.channel) continue;
          out.push(letter);
          if (++found >= limit) break;
        }
      }
    }
    return out.sort((a, b) => b.failedAt - a.failedAt).slice(0, limit);
  }

  async get(id: string): Promise<DeadLetter<unknown> | undefined> {
    for (const d of DIRECTIONS) {
      const raw = await this.queues[d].store.redis.hget(this.queues[d].store.dlqKey, id);
      if (raw) return JSON.parse(raw) as DeadLetter<unknown>;
    }
    return undefined;
  }

  /** Puts one dead letter back at the end of its lane. False when no such id (or already retried). */
  async retry(id: string, now = Date.now()): Promise<boolean> {
    const letter = await this.get(id);
    if (!letter) return false;
    const q = this.queues[letter.direction];
    const { store } = q;
    const item = { ...letter.item, at: now };
    const res = (await store.redis.eval(
      RETRY,
      4,
      store.dlqKey,
      store.dlqIndexKey,
      store.laneKey(letter.lane),
      store.lanesKey,
      id,
      laneMember(letter.lane),
      serializeItem(item),
    )) as number;
    if (res === -1) return false;
    // Like enqueue: only a lane that just became non-empty needs a job (the keeper repairs a crash here).
    if (res === 1) await q.ensureJob(letter.lane);
    return true;
  }

  /**
   * Retries every dead letter (of a channel/direction when given), oldest first so a conversation's
   * letters go back in the order they failed. Reports progress after each one.
   */
  async retryAll(
    opts: { channel?: string; direction?: Direction; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<{ retried: number; total: number }> {
    const ids: string[] = [];
    for (const d of this.directions(opts.direction)) {
      const { store } = this.queues[d];
      const all = await store.redis.zrange(store.dlqIndexKey, 0, -1);
      if (!opts.channel) {
        ids.push(...all);
        continue;
      }
      for (let i = 0; i < all.length; i += 500) {
        const chunk = all.slice(i, i + 500);
        const raws = await store.redis.hmget(store.dlqKey, ...chunk);
        raws.forEach((raw, k) => {
          if (raw && (JSON.parse(raw) as DeadLetter<unknown>).lane.channelId === opts.channel) ids.push(chunk[k]!);
        });
      }
    }
    let retried = 0;
    opts.onProgress?.(0, ids.length);
    for (const [i, id] of ids.entries()) {
      if (await this.retry(id)) retried++;
      opts.onProgress?.(i + 1, ids.length);
    }
    return { retried, total: ids.length };
  }

  /** Removes dead letters that failed before `before` (ms). Returns how many. */
  async purge(before: number, direction?: Direction): Promise<number> {
    let removed = 0;
    for (const d of this.directions(direction)) {
      const { store } = this.queues[d];
      for (;;) {
        const n = (await store.redis.eval(PURGE, 2, store.dlqKey, store.dlqIndexKey, String(before), '500')) as number;
        removed += n;
        if (n < 500) break;
      }
    }
    return removed;
  }
}
