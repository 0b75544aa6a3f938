/**
 * The web chat's quotas (settings `quotas`), counted in Redis so every process of a deployment
 * counts together. Keys, per channel c (prefix p):
 *   p:webchat:c:quota:<limit>:<subject>   a rate: the "theoretical arrival time" of GCRA (ms)
 *   p:webchat:c:quota:seen:<ip>:<client>  a visitor key this address already brought this hour
 *   p:webchat:c:quota:sockets:<ip>        zset socket tag → lease end: the address's open sockets
 *
 * Rates are a generic cell rate algorithm: "N per window" allows a burst of N, then refills
 * evenly (one message every 2 s at 30 a minute), so there is no window edge at which a script gets
 * twice the rate. A refusal counts nothing and says when to try again. Sockets are leases renewed
 * by their process every 30 s, so a crashed process's sockets stop counting after 90 s.
 */
import type { Redis } from 'ioredis';
import type { Quotas } from './settings.js';

export type QuotaName = keyof Quotas;

/** Why a request was refused: the limit's name (as in the settings), a sentence, and when to try again. */
export interface Refusal {
  limit: QuotaName;
  message: string;
  retryAfterMs?: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** How long an open socket counts without its process renewing it. */
export const SOCKET_LEASE_MS = 90_000;
export const SOCKET_RENEW_MS = 30_000;

const TAKE = `
-- KEYS: one rate key per limit; ARGV: now ms, then per key: cost, ms per unit, window ms.
-- All or nothing: returns 0 when every limit had room (and takes it), else the 1-based index
-- of the first limit without room, and how many ms until it has room.
local now = tonumber(ARGV[1])
local tats = {}
for i = 1, #KEYS do
  local cost, per, window = tonumber(ARGV[i * 3 - 1]), tonumber(ARGV[i * 3]), tonumber(ARGV[i * 3 + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local new = tat + cost * per
  if new - now > window then return {i, math.ceil(new - window - now)} end
  tats[i] = new
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
return {0, 0}
`;

const OPEN_SOCKET = `
-- KEYS: the address's sockets; ARGV: socket tag, limit, now ms, lease end ms
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) - tonumber(ARGV[3]))
return 1
`;

interface Take {
  limit: 'messagesPerMinute' | 'uploadBytesPerDay' | 'uploadBytesPerIpPerDay' | 'newVisitorsPerIpPerHour';
  subject: string;
  cost: number;
}

const WINDOWS: Record<Take['limit'], number> = {
  messagesPerMinute: MINUTE,
  uploadBytesPerDay: DAY,
  uploadBytesPerIpPerDay: DAY,
  newVisitorsPerIpPerHour: HOUR,
};

export class QuotaGuard {
  constructor(
    private readonly redis: Redis,
    private readonly base: string,
    readonly limits: Quotas,
    private readonly now: () => number = Date.now,
  ) {}

  /** One message of a visitor (typed, a button, a phone, a resend). */
  message(clientId: string): Promise<Refusal | undefined> {
    return this.take([{ limit: 'messagesPerMinute', subject: clientId, cost: 1 }]);
  }

  /** An upload: one message, and its bytes for the visitor and for the address. */
  upload(clientId: string, ip: string, bytes: number): Promise<Refusal | undefined> {
    return this.take([
      { limit: 'messagesPerMinute', subject: clientId, cost: 1 },
      { limit: 'uploadBytesPerDay', subject: clientId, cost: bytes },
      { limit: 'uploadBytesPerIpPerDay', subject: ip, cost: bytes },
    ]);
  }

  /** A visitor key with no conversation yet, from this address: counted once per key and hour. */
  async newVisitor(clientId: string, ip: string): Promise<Refusal | undefined> {
    const seen = `${this.base}:seen:${ip}:${clientId}`;
    if (await this.redis.exists(seen)) return undefined;
    const refusal = await this.take([{ limit: 'newVisitorsPerIpPerHour', subject: ip, cost: 1 }]);
    if (!refusal) await this.redis.set(seen, '1', 'PX', HOUR);
    return refusal;
  }

  /** Counts a socket of this address; a refusal when the address has the most open already. */
  async openSocket(ip: string, tag: string): Promise<Refusal | undefined> {
    const now = this.now();
    const limit = this.limits.socketsPerIp;
    const ok = await this.redis.eval(OPEN_SOCKET, 1, this.socketsKey(ip), tag, limit, now, now + SOCKET_LEASE_MS);
    if (ok === 1) return undefined;
    return {
      limit: 'socketsPerIp',
      message: `too many open chats from your network address (this chat allows ${limit}); close some tabs and reload`,
    };
  }

  async closeSocket(ip: string, tag: string): Promise<void> {
    await this.redis.zrem(this.socketsKey(ip), tag);
  }

  /** Renews the leases of this process's open sockets. */
  async renewSockets(sockets: Iterable<{ ip: string; tag: string }>): Promise<void> {
    const end = this.now() + SOCKET_LEASE_MS;
    const pipe = this.redis.pipeline();
    let n = 0;
    for (const s of sockets) {
      pipe.zadd(this.socketsKey(s.ip), end, s.tag).pexpire(this.socketsKey(s.ip), SOCKET_LEASE_MS);
      n++;
    }
    if (n > 0) await pipe.exec();
  }

  private socketsKey(ip: string): string {
    return `${this.base}:sockets:${ip}`;
  }

  private async take(takes: Take[]): Promise<Refusal | undefined> {
    const args: Array<string | number> = [this.now()];
    for (const t of takes) {
      const window = WINDOWS[t.limit];
      args.push(t.cost, window / this.limits[t.limit], window);
    }
    const keys = takes.map((t) => `${this.base}:${t.limit}:${t.subject}`);
    const [index, waitMs] = (await this.redis.eval(TAKE, keys.length, ...keys, ...args)) as [number, number];
    if (index === 0) return undefined;
    const t = takes[index - 1]!;
    const limit = this.limits[t.limit];
    // More than the whole allowance at once never fits: no point in trying again.
    const refusal: Refusal = { limit: t.limit, message: describe(t, limit, waitMs) };
    if (t.cost <= limit) refusal.retryAfterMs = waitMs;
    return refusal;
  }
}

function describe(t: Take, limit: number, waitMs: number): string {
  const later = `try again in ${formatWait(waitMs)}`;
  switch (t.limit) {
    case 'messagesPerMinute':
      return `too many messages: this chat takes at most ${limit} a minute from one visitor; ${later}`;
    case 'uploadBytesPerDay':
      return `too many uploads: this chat takes at most ${formatBytes(limit)} a day from one visitor${t.cost > limit ? '' : `; ${later}`}`;
    case 'uploadBytesPerIpPerDay':
      return `too many uploads from your network address: this chat takes at most ${formatBytes(limit)} a day from one address${t.cost > limit ? '' : `; ${later}`}`;
    case 'newVisitorsPerIpPerHour':
      return `too many new chats from your network address: this chat allows ${limit} an hour; ${later}`;
  }
}

export function formatWait(ms: number): string {
  if (ms < 90_000) return `${Math.max(1, Math.ceil(ms / 1000))} s`;
  if (ms < 90 * MINUTE) return `${Math.ceil(ms / MINUTE)} min`;
  return `${Math.ceil(ms / HOUR)} h`;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${+(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${+(n / 1024 ** 2).toFixed(1)} MiB`;
  return n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

/** Thrown where a quota refuses a visitor's message: nothing was queued. */
export class QuotaExceeded extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
    this.name = 'QuotaExceeded';
  }
}
