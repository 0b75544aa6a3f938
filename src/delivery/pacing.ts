/**
 * Shared pacing for a messenger's send limits, kept in Redis so every worker process counts
 * against the same budget. Each limit is a sliding window ("at most N sends in any W ms"), the
 * shape messengers publish. Redis' clock is used, so processes needn't agree on time.
 *
 * The first window is the one many conversations compete for (a bot's overall limit). When it is
 * full, a sender with a reservation id gets a slot *reserved* in it — the earliest free one after
 * those already handed out — and is told how long to wait for it; asking again with the same id
 * then finds the slot (and, once its time has come, uses it). So waiting senders queue up for the
 * slots in order instead of all waking when the oldest send leaves the window and racing for the
 * one slot that freed (which costs each cycle the time of that herd, about 7 % of the budget at
 * Telegram's 30/s). The other windows (a chat's own limit) belong to one conversation, whose
 * messages go one at a time: while one of them is full the sender just waits, reserving nothing.
 */
import type { Redis } from 'ioredis';

export interface Window {
  key: string;
  max: number;
  windowMs: number;
}

const TAKE = `
-- KEYS: window zsets (the first is shared); ARGV: member, count, reserve (1/0), then max, windowMs
-- pairs. Returns 0 (go: the slots are taken) or the ms to wait (with reserve=1 and only the first
-- window full, slots are reserved for the member at the end of that wait).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]
local count = tonumber(ARGV[2])
local reserve = ARGV[3] == '1'
local function limit(i) return tonumber(ARGV[i * 2 + 2]) end
local function span(i) return tonumber(ARGV[i * 2 + 3]) end
local function mark(at, suffix)
  for i = 1, #KEYS do
    for j = 1, math.min(count, limit(i)) do redis.call('ZADD', KEYS[i], at, member .. ':' .. j .. suffix) end
    redis.call('PEXPIRE', KEYS[i], math.max(at - now, 0) + span(i) + 1000)
  end
end

if reserve then
  local at = redis.call('ZSCORE', KEYS[1], member .. ':1')
  if at then
    at = tonumber(at)
    if at > now then return at - now end
    -- The reserved time has come. Check the windows against the sends that really went out (a
    -- sender may have woken late), leaving this member's own slots aside.
    for i = 1, #KEYS do
      for j = 1, math.min(count, limit(i)) do redis.call('ZREM', KEYS[i], member .. ':' .. j) end
    end
    local wait = 0
    for i = 1, #KEYS do
      local max, win = limit(i), span(i)
      local need = math.min(count, max)
      redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - win)
      local used = redis.call('ZCOUNT', KEYS[i], '-inf', now)
      if used + need > max then
        local nth = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now, 'WITHSCORES', 'LIMIT', used + need - max - 1, 1)
        local w = tonumber(nth[2]) + win + 1 - now
        if w > wait then wait = w end
      end
    end
    if wait > 0 then
      -- Not yet: keep the place in the queue and come back.
      mark(at, '')
      return wait
    end
    mark(now, ':used')
    return 0
  end
end

-- The earliest moment each window has room, after its last entry (entries may lie in the future:
-- reservations), so that slots are handed out in order.
local at = now
local ownWait = 0
for i = 1, #KEYS do
  local max, win = limit(i), span(i)
  local need = math.min(count, max)
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - win)
  local used = redis.call('ZCARD', KEYS[i])
  local ti = now
  if used > 0 then
    local last = tonumber(redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')[2])
    if last > ti then ti = last end
    if used + need > max then
      -- wait until enough of the oldest sends leave the window
      local nth = redis.call('ZRANGE', KEYS[i], used + need - max - 1, used + need - max - 1, 'WITHSCORES')
      local free = tonumber(nth[2]) + win + 1
      if free > ti then ti = free end
    end
    -- Reservations are spread evenly over the window rather than bunched on one millisecond, so
    -- that the senders do not all wake at once.
    if i == 1 and ti > now and last + math.floor(win / max) > ti then ti = last + math.floor(win / max) end
  end
  if i > 1 and ti - now > ownWait then ownWait = ti - now end
  if ti > at then at = ti end
end
if ownWait > 0 then return ownWait end
if at > now and not reserve then return at - now end
if at > now then mark(at, '') else mark(now, ':used') end
return at - now
`;

let seq = 0;

/**
 * Takes `count` slots (capped at each window's size) in every window, or returns how long to
 * wait before asking again. With a `reservation` id (stable across the attempts of one message),
 * a wait caused by the first window alone comes with the slots reserved for that id: asking again
 * with it after the wait takes them.
 */
export async function takeSlot(redis: Redis, windows: Window[], count = 1, reservation?: string): Promise<number> {
  const member = reservation ?? `${process.pid}-${Date.now()}-${seq++}`;
  const args: (string | number)[] = [member, count, reservation ? 1 : 0];
  for (const w of windows) args.push(w.max, w.windowMs);
  return (await redis.eval(TAKE, windows.length, ...windows.map((w) => w.key), ...args)) as number;
}
