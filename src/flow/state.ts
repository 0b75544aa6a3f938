/**
 * Per-conversation bot-flow state in Redis, and the one atomic step that records a decision.
 *
 * Keys (prefix p, channel c, client id k URI-encoded):
 *   p:flow:c:k:handover  "until" ms timestamp; PX a little past it (hand-over ends when idle that long)
 *   p:flow:c:k:closed    "until" ms: the off-hours message was sent for the closed period ending then
 *   p:flow:c:k:facts     hash: start_payload, phone (30 days after the last change)
 *   p:flow:c:k:history   list of bot-handled exchanges not yet shown to the agents (mirror: after-handover)
 * Timestamps are compared with the flow's clock (injectable), the PX only cleans up.
 *
 * commit() appends to the inbound lane and the outbound lane, writes the state and takes the
 * source event's dedupe mark in one Lua script: a redelivered update finds the mark and changes
 * nothing, and a crash never leaves the bot's answer without the user's message or the other way
 * round. The lane layout is lane-store.ts's (RPUSH LaneItem JSON, SADD the lane to the recovery
 * index; SADD answering 1 = the lane needs a job).
 */
import type { Redis } from 'ioredis';
import type { ConversationFacts } from './middleware.js';

export const FACTS_TTL_MS = 30 * 86_400_000;
export const HISTORY_TTL_MS = 86_400_000;
/** How long a state key outlives its "until", so a slightly fast clock elsewhere still sees it. */
const KEY_MARGIN_MS = 60_000;

export interface FlowState {
  handoverUntil?: number;
  closedUntil?: number;
  facts: ConversationFacts;
  /** The dedupe mark of this source event exists already. */
  seen: boolean;
}

export interface LaneAppend {
  laneKey: string;
  lanesKey: string;
  member: string;
  /** LaneItem JSON strings. */
  items: string[];
}

export interface CommitPlan {
  clientId: string;
  /** Dedupe mark of the source event; absent = no dedupe. */
  seen?: { key: string; ttlS: number };
  inbound: LaneAppend;
  outbound: LaneAppend;
  /** Entries `{"cid":…,"payload":…}` kept back for the agents (mirror: after-handover). */
  historyAppend: string[];
  /** Move the kept-back history into the inbound lane first (the agents now see the conversation). */
  flushHistory: boolean;
  historyCap: number;
  /** Id prefix and timestamp for the history items moved into the lane. */
  flush: { idPrefix: string; at: number };
  handoverUntil?: number;
  closedUntil?: number;
  facts?: Partial<Record<'start_payload' | 'phone', string>>;
  /** The flow's clock, for the keys' expiry. */
  now: number;
}

export interface CommitResult {
  duplicate: boolean;
  inboundNewLane: boolean;
  outboundNewLane: boolean;
  /** LaneItem JSON of the history moved into the inbound lane. */
  flushed: string[];
}

const COMMIT = `
-- KEYS: 1 seen, 2 in lane, 3 in lanes set, 4 out lane, 5 out lanes set, 6 history, 7 handover, 8 closed, 9 facts
-- ARGV: 1 seen ttl s (0 = none), 2 in member, 3 out member, 4 #in, 5 #out, 6 #history, 7 flush (1/0),
--       8 history cap, 9 history ttl ms, 10 flush id prefix, 11 flush at, 12 handover until ('' = keep),
--       13 handover px, 14 closed until ('' = keep), 15 closed px, 16 #fact pairs, 17 facts ttl ms,
--       then the in items, out items, history entries, fact field/value pairs
if tonumber(ARGV[1]) > 0 then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return {-1} end
end
local i = 18
local flushed = {}
local inCount = 0
if ARGV[7] == '1' then
  local entries = redis.call('LRANGE', KEYS[6], 0, -1)
  for j, e in ipairs(entries) do
    local item = '{"id":"' .. ARGV[10] .. '-' .. j .. '","at":' .. ARGV[11] .. ',' .. string.sub(e, 2)
    redis.call('RPUSH', KEYS[2], item)
    flushed[#flushed + 1] = item
    inCount = inCount + 1
  end
  redis.call('DEL', KEYS[6])
end
for j = 1, tonumber(ARGV[4]) do
  redis.call('RPUSH', KEYS[2], ARGV[i]); i = i + 1; inCount = inCount + 1
end
local outCount = tonumber(ARGV[5])
for j = 1, outCount do
  redis.call('RPUSH', KEYS[4], ARGV[i]); i = i + 1
end
local nHist = tonumber(ARGV[6])
if nHist > 0 then
  for j = 1, nHist do redis.call('RPUSH', KEYS[6], ARGV[i]); i = i + 1 end
  redis.call('LTRIM', KEYS[6], -tonumber(ARGV[8]), -1)
  redis.call('PEXPIRE', KEYS[6], ARGV[9])
end
if ARGV[12] ~= '' then redis.call('SET', KEYS[7], ARGV[12], 'PX', ARGV[13]) end
if ARGV[14] ~= '' then redis.call('SET', KEYS[8], ARGV[14], 'PX', ARGV[15]) end
local nFacts = tonumber(ARGV[16])
if nFacts > 0 then
  for j = 1, nFacts do redis.call('HSET', KEYS[9], ARGV[i], ARGV[i + 1]); i = i + 2 end
  redis.call('PEXPIRE', KEYS[9], ARGV[17])
end
local inNew = 0
local outNew = 0
if inCount > 0 then inNew = redis.call('SADD', KEYS[3], ARGV[2]) end
if outCount > 0 then outNew = redis.call('SADD', KEYS[5], ARGV[3]) end
local result = {inNew, outNew}
for _, item in ipairs(flushed) do result[#result + 1] = item end
return result
`;

const EXTEND_HANDOVER = `
-- KEYS: handover; ARGV: until, px. Never shortens a running hand-over.
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

export class FlowStore {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
    readonly channelId: string,
  ) {}

  private key(clientId: string, what: 'handover' | 'closed' | 'facts' | 'history'): string {
    return `${this.prefix}:flow:${this.channelId}:${encodeURIComponent(clientId)}:${what}`;
  }

  async read(clientId: string, seenKey?: string): Promise<FlowState> {
    const p = this.redis.pipeline();
    p.get(this.key(clientId, 'handover'));
    p.get(this.key(clientId, 'closed'));
    p.hgetall(this.key(clientId, 'facts'));
    if (seenKey) p.exists(seenKey);
    const res = (await p.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
    const handover = Number(res[0]?.[1] ?? NaN);
    const closed = Number(res[1]?.[1] ?? NaN);
    const facts = (res[2]?.[1] ?? {}) as Record<string, string>;
    const state: FlowState = { facts: {}, seen: seenKey ? res[3]?.[1] === 1 : false };
    if (Number.isFinite(handover)) state.handoverUntil = handover;
    if (Number.isFinite(closed)) state.closedUntil = closed;
    if (facts.start_payload !== undefined) state.facts.startPayload = facts.start_payload;
    if (facts.phone !== undefined) state.facts.phone = facts.phone;
    return state;
  }

  async commit(plan: CommitPlan): Promise<CommitResult> {
    const c = plan.clientId;
    const keys = [
      plan.seen?.key ?? this.key(c, 'handover'), // a placeholder when no dedupe (never touched then)
      plan.inbound.laneKey,
      plan.inbound.lanesKey,
      plan.outbound.laneKey,
      plan.outbound.lanesKey,
      this.key(c, 'history'),
      this.key(c, 'handover'),
      this.key(c, 'closed'),
      this.key(c, 'facts'),
    ];
    const factPairs = Object.entries(plan.facts ?? {}).filter((e): e is [string, string] => e[1] !== undefined);
    const ttl = (until: number | undefined) => String(Math.max(1, (until ?? plan.now) - plan.now) + KEY_MARGIN_MS);
    const args = [
      String(plan.seen?.ttlS ?? 0),
      plan.inbound.member,
      plan.outbound.member,
      String(plan.inbound.items.length),
      String(plan.outbound.items.length),
      String(plan.historyAppend.length),
      plan.flushHistory ? '1' : '0',
      String(Math.max(1, plan.historyCap)),
      String(HISTORY_TTL_MS),
      plan.flush.idPrefix,
      String(plan.flush.at),
      plan.handoverUntil === undefined ? '' : String(plan.handoverUntil),
      ttl(plan.handoverUntil),
      plan.closedUntil === undefined ? '' : String(plan.closedUntil),
      ttl(plan.closedUntil),
      String(factPairs.length),
      String(FACTS_TTL_MS),
      ...plan.inbound.items,
      ...plan.outbound.items,
      ...plan.historyAppend,
      ...factPairs.flat(),
    ];
    const res = (await this.redis.eval(COMMIT, keys.length, ...keys, ...args)) as Array<number | string>;
    if (res[0] === -1) return { duplicate: true, inboundNewLane: false, outboundNewLane: false, flushed: [] };
    return { duplicate: false, inboundNewLane: res[0] === 1, outboundNewLane: res[1] === 1, flushed: res.slice(2).map(String) };
  }

  /** An agent wrote to the user: the conversation is (still) with the agents until idle. */
  async extendHandover(clientId: string, until: number, now: number): Promise<void> {
    await this.redis.eval(
      EXTEND_HANDOVER,
      1,
      this.key(clientId, 'handover'),
      String(until),
      String(Math.max(1, until - now) + KEY_MARGIN_MS),
    );
  }
}
