/**
 * A lane is the ordered list of one conversation's messages in one direction, kept in Redis.
 * Messages wait in the lane until delivered; only the head is ever worked on, which is what
 * keeps a conversation in order through retries (docs/architecture.md, "Delivery guarantees").
 *
 * Keys (prefix p, direction d):
 *   p:lane:d:<channel>:<client>   list of LaneItem JSON, head = next to deliver
 *   p:lanes:d                     set of non-empty lanes ("<channel>|<client>") — the recovery index
 *   p:seen:<channel>:<dedupeId>   marks a source event already queued (e.g. a Telegram update_id)
 *   p:dlq:d                       hash id → DeadLetter JSON;  p:dlq:d:index  zset id by time
 * Every multi-key change is one Lua script, so a crash never leaves half of one.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export type Direction = 'inbound' | 'outbound';

export interface LaneRef {
  channelId: string;
  clientId: string;
}

export interface LaneItem<T> {
  id: string;
  /** When the bridge received it (ms); retries stop once it is older than the retry age. */
  at: number;
  /** Correlation id linking the source event, the job and the delivery in logs. */
  cid: string;
  payload: T;
  /** How many parts of a split message already went out, so a retry resumes after them. */
  sent?: number;
}

/** The BullMQ lock of the job whose turn is working on a lane: its key and this worker's token. */
export interface TurnLock {
  key: string;
  token: string;
}

export interface DeadLetter<T> {
  id: string;
  direction: Direction;
  lane: LaneRef;
  item: LaneItem<T>;
  reason: string;
  code: string;
  failedAt: number;
  attempts: number;
}

const ENQUEUE = `
-- KEYS: lane list, lanes set, [seen key]; ARGV: lane member, seen ttl s, items...
if #KEYS == 3 then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then return -1 end
end
for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
return redis.call('SADD', KEYS[2], ARGV[1])
`;

const POP_HEAD = `
-- KEYS: lane list; ARGV: expected head id. Pops only that item: a late worker can't pop a newer one.
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return 0 end
if cjson.decode(head).id ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[1])
return 1
`;

const POP_NEXT = `
-- KEYS: lane list, lanes set, [turn lock]; ARGV: expected head id, lane member, [lock token].
-- POP_HEAD, then the new head in the same round trip; when there is none, the lane leaves the
-- recovery index as in MARK_DRAINED. Returns {popped, lost} when the lane is empty or the turn's
-- lock is no longer this worker's, else {popped, 0, head}.
local popped = 0
local head = redis.call('LINDEX', KEYS[1], 0)
if head and cjson.decode(head).id == ARGV[1] then
  redis.call('LPOP', KEYS[1])
  popped = 1
  head = redis.call('LINDEX', KEYS[1], 0)
end
-- The delivered message is popped either way; the next one is for whoever holds the lock now.
if KEYS[3] and redis.call('GET', KEYS[3]) ~= ARGV[3] then return {popped, 1} end
if not head then
  redis.call('SREM', KEYS[2], ARGV[2])
  return {popped, 0}
end
return {popped, 0, head}
`;

const HEAD = `
-- KEYS: lane list, turn lock; ARGV: lock token. The head, or {lost} when the lock is not ours.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {1} end
return {0, redis.call('LINDEX', KEYS[1], 0)}
`;

const UPDATE_HEAD = `
-- KEYS: lane list; ARGV: head id, new JSON
local head = redis.call('LINDEX', KEYS[1], 0)
if not head or cjson.decode(head).id ~= ARGV[1] then return 0 end
redis.call('LSET', KEYS[1], 0, ARGV[2])
return 1
`;

const DEAD_LETTER = `
-- KEYS: lane list, dlq hash, dlq index; ARGV: head id, dead letter JSON, failedAt
local head = redis.call('LINDEX', KEYS[1], 0)
if not head or cjson.decode(head).id ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
-- Index order = dead-letter order, even within one millisecond (a conversation's letters must go
-- back in the order they failed): the score is failedAt, nudged past the newest one if needed.
local score = tonumber(ARGV[3])
local newest = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= score then score = tonumber(newest[2]) + 0.001 end
redis.call('ZADD', KEYS[3], score, ARGV[1])
return 1
`;

const MARK_DRAINED = `
-- KEYS: lane list, lanes set; ARGV: lane member. Leaves the recovery index only when truly empty.
if redis.call('LLEN', KEYS[1]) > 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`;

/** Lane members and job ids join channel and client with "|"; the client id is URI-encoded. */
export function laneMember(lane: LaneRef): string {
  return `${lane.channelId}|${encodeURIComponent(lane.clientId)}`;
}

export function parseLaneMember(member: string): LaneRef {
  const i = member.indexOf('|');
  return { channelId: member.slice(0, i), clientId: decodeURIComponent(member.slice(i + 1)) };
}

export class LaneStore {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
    readonly direction: Direction,
  ) {}

  laneKey(lane: LaneRef): string {
    return `${this.prefix}:lane:${this.direction}:${lane.channelId}:${encodeURIComponent(lane.clientId)}`;
  }

  get lanesKey(): string {
    return `${this.prefix}:lanes:${this.direction}`;
  }

  get dlqKey(): string {
    return `${this.prefix}:dlq:${this.direction}`;
  }

  get dlqIndexKey(): string {
    return `${this.prefix}:dlq:${this.direction}:index`;
  }

  seenKey(channelId: string, dedupeId: string): string {
    return `${this.prefix}:seen:${channelId}:${dedupeId}`;
  }

  static newItem<T>(payload: T, cid?: string, at = Date.now()): LaneItem<T> {
    return { id: randomUUID(), at, cid: cid ?? randomUUID(), payload };
  }

  /**
   * Appends items atomically. Returns 'duplicate' when the dedupe id was seen within `seenTtlS`,
   * else whether the lane just became non-empty (then the caller must make sure a job exists).
   */
  async enqueue<T>(
    lane: LaneRef,
    items: LaneItem<T>[],
    dedupe?: { id: string; ttlS: number },
  ): Promise<'duplicate' | 'new-lane' | 'queued'> {
    const keys = [this.laneKey(lane), this.lanesKey];
    if (dedupe) keys.push(this.seenKey(lane.channelId, dedupe.id));
    const res = (await this.redis.eval(
      ENQUEUE,
      keys.length,
      ...keys,
      laneMember(lane),
      String(dedupe?.ttlS ?? 0),
      ...items.map((i) => JSON.stringify(i)),
    )) as number;
    return res === -1 ? 'duplicate' : res === 1 ? 'new-lane' : 'queued';
  }

  async head<T>(lane: LaneRef): Promise<LaneItem<T> | undefined> {
    const raw = await this.redis.lindex(this.laneKey(lane), 0);
    return raw ? (JSON.parse(raw) as LaneItem<T>) : undefined;
  }

  /** The head, for a worker whose turn holds `lock`; `lost` once the lock is someone else's. */
  async headIfLocked<T>(lane: LaneRef, lock: TurnLock): Promise<{ lost: true } | { lost: false; item?: LaneItem<T> }> {
    const [lost, raw] = (await this.redis.eval(HEAD, 2, this.laneKey(lane), lock.key, lock.token)) as [number, (string | null)?];
    if (lost === 1) return { lost: true };
    return raw ? { lost: false, item: JSON.parse(raw) as LaneItem<T> } : { lost: false };
  }

  async length(lane: LaneRef): Promise<number> {
    return this.redis.llen(this.laneKey(lane));
  }

  async popHead(lane: LaneRef, id: string): Promise<boolean> {
    return (await this.redis.eval(POP_HEAD, 1, this.laneKey(lane), id)) === 1;
  }

  /**
   * popHead, then what the worker needs next in the same round trip: the new head, or `drained`
   * when the lane is empty and left the recovery index (as markDrained). With `lock`, `lost` says
   * the turn's lock lapsed (e.g. Redis was away longer than it) and another worker may hold the
   * lane: the caller must stop, so two workers never deliver one conversation side by side.
   */
  async popHeadAndPeek<T>(
    lane: LaneRef,
    id: string,
    lock?: TurnLock,
  ): Promise<{ popped: boolean; next?: LaneItem<T>; drained: boolean; lost: boolean }> {
    const keys = lock ? [this.laneKey(lane), this.lanesKey, lock.key] : [this.laneKey(lane), this.lanesKey];
    const args = lock ? [id, laneMember(lane), lock.token] : [id, laneMember(lane)];
    const [popped, lost, raw] = (await this.redis.eval(POP_NEXT, keys.length, ...keys, ...args)) as [number, number, string?];
    if (lost === 1) return { popped: popped === 1, drained: false, lost: true };
    return raw === undefined
      ? { popped: popped === 1, drained: true, lost: false }
      : { popped: popped === 1, next: JSON.parse(raw) as LaneItem<T>, drained: false, lost: false };
  }

  async updateHead<T>(lane: LaneRef, item: LaneItem<T>): Promise<boolean> {
    return (await this.redis.eval(UPDATE_HEAD, 1, this.laneKey(lane), item.id, JSON.stringify(item))) === 1;
  }

  async deadLetter<T>(letter: DeadLetter<T>): Promise<boolean> {
    const res = await this.redis.eval(
      DEAD_LETTER,
      3,
      this.laneKey(letter.lane),
      this.dlqKey,
      this.dlqIndexKey,
      letter.item.id,
      JSON.stringify(letter),
      String(letter.failedAt),
    );
    return res === 1;
  }

  /** True when the lane is empty and left the recovery index. */
  async markDrained(lane: LaneRef): Promise<boolean> {
    return (await this.redis.eval(MARK_DRAINED, 2, this.laneKey(lane), this.lanesKey, laneMember(lane))) === 1;
  }

  /** Non-empty lanes, for the keeper that makes sure each has a job. */
  async *activeLanes(batch = 500): AsyncGenerator<LaneRef[]> {
    let cursor = '0';
    do {
      const [next, members] = await this.redis.sscan(this.lanesKey, cursor, 'COUNT', batch);
      cursor = next;
      if (members.length) yield members.map(parseLaneMember);
    } while (cursor !== '0');
  }
}
