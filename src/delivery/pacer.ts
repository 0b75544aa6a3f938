/**
 * The pacer: keeps every channel's sends within the limits its adapter declares (SendLimits), for
 * all worker processes at once (the counts live in Redis, on Redis' clock).
 *
 * A limit is a sliding window, "at most `max` requests in any `windowMs`", which the messenger
 * counts when a request *reaches* it. The pacer cannot see that moment, only bound it: a request
 * reaches the messenger after it left and before its answer comes back. So an adapter awaits
 * `pace()` right before its HTTP call — the slot is taken then, not ahead of it — and the request
 * holds its place in the window as "in flight" until its answer is confirmed; from then on it
 * counts at the moment of that confirmation. A new request may go when the window counted that way
 * has room, so no window at the messenger can hold more than `max`, whatever a busy machine does
 * to the requests in between (late timers, a stalled event loop, a slow network). The price is the
 * round trip: a slot is used again a window after the answer, not after the request, so a backlog
 * goes out at `max` per (window + round trip) — 29.7 msg/s of Telegram's 30 with a 10 ms trip.
 *
 * Waiting senders of one account (many conversations) queue for its slots in the order they
 * asked: each is told the moment the slot for its place in the line frees, so they do not all wake
 * when one slot frees and race for it. A sender that does not come back soon after its moment
 * (its process died, its lane was handed over) loses its place. A conversation's own window has
 * one sender at a time (its lane), so it has no line.
 */
import type { Redis } from 'ioredis';
import type { RateLimit, SendLimits } from '../adapter.js';
import { DeliveryError } from './errors.js';

/** A request whose answer is never confirmed (its process died) holds its slot this long. */
export const IN_FLIGHT_MAX_MS = 60_000;
/** A sender whose slot waits for a request in flight asks again this often. */
export const IN_FLIGHT_RECHECK_MS = 25;
/** A waiting sender keeps its place in the line this long after the moment it was told. */
const PLACE_KEPT_MS = 500;
/** Waits up to this long are slept in the worker; longer ones give the lane back (a paced wait). */
export const PACING_SLEEP_MS = 300;

const GRANT = `
-- KEYS: account window, line, line deadlines, [conversation window]
-- ARGV: ticket, inFlightMax, recheck, placeKept, accountMax, accountWindow, [conversationMax, conversationWindow]
-- Returns {0, member} (go: the request is counted) or {wait ms}.
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(nowUs / 1000)
local ticket, inFlightMax, recheck, placeKept = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local member = ticket .. '@' .. t[1] .. '.' .. t[2]
local acct, line, deadlines, conv = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

-- The entries of a window that still count (requests in flight lie ahead, at now + inFlightMax).
local function occupied(key, span)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span - 1)
  return redis.call('ZCARD', key)
end
-- When the k-th (0-based) oldest entry leaves the window, a request may go; while that entry is
-- in flight nobody knows when, so ask again soon.
local function freesAt(key, span, k)
  local at = tonumber(redis.call('ZRANGE', key, k, k, 'WITHSCORES')[2])
  if at > now then return now + recheck end
  return at + span + 1
end
local function count(key, span)
  redis.call('ZADD', key, now + inFlightMax, member)
  redis.call('PEXPIRE', key, span + inFlightMax + 1000)
end

if conv then
  local max, span = tonumber(ARGV[7]), tonumber(ARGV[8])
  local n = occupied(conv, span)
  if n >= max then
    -- The conversation's own limit: wait without holding a place in the account's line.
    redis.call('ZREM', line, ticket)
    redis.call('ZREM', deadlines, ticket)
    return {math.max(freesAt(conv, span, n - max) - now, 1)}
  end
end

local max, span = tonumber(ARGV[5]), tonumber(ARGV[6])
-- Senders that did not come back in time lose their place.
local gone = redis.call('ZRANGEBYSCORE', deadlines, '-inf', now)
if #gone > 0 then
  redis.call('ZREM', line, unpack(gone))
  redis.call('ZREMRANGEBYSCORE', deadlines, '-inf', now)
end
local n = occupied(acct, span)
local place = redis.call('ZRANK', line, ticket) or redis.call('ZCARD', line)
if place < max - n then
  redis.call('ZREM', line, ticket)
  redis.call('ZREM', deadlines, ticket)
  count(acct, span)
  if conv then count(conv, tonumber(ARGV[8])) end
  return {0, member}
end
-- The slot for this place in the line, the j-th to free from now: the j-th oldest entry leaving
-- the window; past the entries there are, the turn, a window later, of a slot j - max before it
-- (a slot free now is taken now).
local j = place - (max - n)
local turns = 0
while j >= n do
  j = j - max
  turns = turns + 1
end
local at = now
if j >= 0 then at = freesAt(acct, span, j) end
local wait = at + turns * (span + 1) - now
wait = math.max(wait, 1)
if not redis.call('ZSCORE', line, ticket) then redis.call('ZADD', line, nowUs, ticket) end
redis.call('ZADD', deadlines, now + wait + placeKept, ticket)
redis.call('PEXPIRE', line, wait + placeKept + 1000)
redis.call('PEXPIRE', deadlines, wait + placeKept + 1000)
return {wait}
`;

const CONFIRM = `
-- KEYS: the windows the request was counted in; ARGV: member, and each window's span
-- Its answer is in: the request reached the messenger by now.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[i + 1]) + 1000)
end
return 0
`;

interface PacerCommands {
  paceGrant(...args: (string | number)[]): Promise<[number, string?]>;
  paceConfirm(...args: (string | number)[]): Promise<number>;
}

/** What a channel's pacing needs to know of its adapter. */
export interface PacedChannel {
  limits?: SendLimits;
  isGroup?(clientId: string): boolean;
}

export class Pacer {
  private readonly redis: Redis & PacerCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('paceGrant' in redis)) {
      redis.defineCommand('paceGrant', { lua: GRANT });
      redis.defineCommand('paceConfirm', { lua: CONFIRM });
    }
    this.redis = redis as Redis & PacerCommands;
  }

  /**
   * The pacing of one delivery attempt of one message: `pace()` before each request, `done()`
   * once the attempt is over. `ticket` names the attempt's place in the line, the same on every
   * attempt that starts at the same point (message id and parts sent), so that a lane that went
   * back to the queue to wait keeps its place.
   */
  attempt(channelId: string, channel: PacedChannel, clientId: string, ticket: string): PacedAttempt {
    return new PacedAttempt(this.redis, `${this.prefix}:pace:${channelId}`, channel, clientId, ticket);
  }
}

export class PacedAttempt {
  private calls = 0;
  /** The request counted last, until its answer is confirmed. */
  private inFlight: { member: string; keys: string[]; spans: number[] } | undefined;

  constructor(
    private readonly redis: Redis & PacerCommands,
    private readonly base: string,
    private readonly channel: PacedChannel,
    private readonly clientId: string,
    private readonly ticket: string,
  ) {}

  /**
   * Resolves once the next request may leave, and counts it. Short waits are slept; a long one
   * throws a rate_limited DeliveryError coded `paced`, for the lane to wait without an attempt.
   */
  async pace(kind: 'message' | 'request' = 'message'): Promise<void> {
    void this.confirm();
    const { account, conversation, group } = this.channel.limits ?? {};
    const own = kind === 'message' ? (this.channel.isGroup?.(this.clientId) ? (group ?? conversation) : conversation) : undefined;
    if (!account && !own) return;
    const ticket = `${this.ticket}:${this.calls++}`;
    for (;;) {
      const [wait, member] = await this.grant(ticket, account ?? UNLIMITED, own);
      if (wait === 0 && member) {
        const keys = [this.accountKey, ...(own ? [this.conversationKey] : [])];
        const spans = [(account ?? UNLIMITED).windowMs, ...(own ? [own.windowMs] : [])];
        this.inFlight = { member, keys, spans };
        return;
      }
      if (wait > PACING_SLEEP_MS) throw pacedWait(wait - PACING_SLEEP_MS / 2);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /**
   * The attempt is over: its last request's answer is in (or it failed). Needn't be awaited; the
   * promise says when the confirmation landed (it never rejects).
   */
  done(): Promise<void> {
    return this.confirm();
  }

  private get accountKey(): string {
    return `${this.base}:account`;
  }

  private get conversationKey(): string {
    return `${this.base}:conversation:${this.clientId}`;
  }

  private grant(ticket: string, account: RateLimit, own: RateLimit | undefined): Promise<[number, string?]> {
    const keys = [this.accountKey, `${this.base}:line`, `${this.base}:line-deadlines`, ...(own ? [this.conversationKey] : [])];
    const args = [
      ticket,
      IN_FLIGHT_MAX_MS,
      IN_FLIGHT_RECHECK_MS,
      PLACE_KEPT_MS,
      account.max,
      account.windowMs,
      ...(own ? [own.max, own.windowMs] : []),
    ];
    return this.redis.paceGrant(keys.length, ...keys, ...args);
  }

  /**
   * The request in flight has its answer: it counts from now on at this moment. Needn't be
   * awaited: a lost confirmation leaves the request in flight, holding its slot a while longer.
   */
  private async confirm(): Promise<void> {
    const sent = this.inFlight;
    if (!sent) return;
    this.inFlight = undefined;
    await this.redis.paceConfirm(sent.keys.length, ...sent.keys, sent.member, ...sent.spans).catch(() => undefined);
  }
}

const UNLIMITED: RateLimit = { max: Number.MAX_SAFE_INTEGER, windowMs: 1000 };

/** A long wait for a slot: the lane waits `ms` without spending an attempt, then asks again. */
function pacedWait(ms: number): DeliveryError {
  return DeliveryError.notYet(`waiting ${Math.round(ms)} ms for a slot within the messenger's limits`, ms);
}
