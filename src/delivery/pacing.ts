/**
 * Shared pacing for a messenger's send limits, kept in Redis so every worker process counts
 * against the same budget. Each limit is a sliding window ("at most N sends in any W ms"), the
 * shape messengers publish; a send takes a slot in all of its windows at once or waits for the
 * earliest moment every window has room. Redis' clock is used, so processes needn't agree on time.
 */
import type { Redis } from 'ioredis';

export interface Window {
  key: string;
  max: number;
  windowMs: number;
}

const TAKE = `
-- KEYS: window zsets; ARGV: member, count, then max, windowMs pairs. Returns 0 (taken) or ms to wait.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = tonumber(ARGV[2])
local wait = 0
for i = 1, #KEYS do
  local max = tonumber(ARGV[i * 2 + 1])
  local win = tonumber(ARGV[i * 2 + 2])
  local need = math.min(count, max)
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - win)
  local used = redis.call('ZCARD', KEYS[i])
  if used + need > max then
    -- wait until enough of the oldest sends leave the window
    local nth = redis.call('ZRANGE', KEYS[i], used + need - max - 1, used + need - max - 1, 'WITHSCORES')
    local w = tonumber(nth[2]) + win - now + 1
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  local need = math.min(count, tonumber(ARGV[i * 2 + 1]))
  for j = 1, need do redis.call('ZADD', KEYS[i], now, ARGV[1] .. ':' .. j) end
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[i * 2 + 2]) + 1000)
end
return 0
`;

let seq = 0;

/**
 * Takes `count` slots (capped at each window's size) in every window, or returns how long to
 * wait before asking again.
 */
export async function takeSlot(redis: Redis, windows: Window[], count = 1): Promise<number> {
  const member = `${process.pid}-${Date.now()}-${seq++}`;
  const args: (string | number)[] = [member, count];
  for (const w of windows) args.push(w.max, w.windowMs);
  return (await redis.eval(TAKE, windows.length, ...windows.map((w) => w.key), ...args)) as number;
}
