/**
 * What the web chat keeps in Redis, per channel c (prefix p):
 *   p:webchat:c:history:<client_id>   list of entry JSON, oldest first, at most 500, expires 7 days
 *                                     after the conversation's last message
 *   p:webchat:c:file:<file id>        hash {data, mime, name} of an upload, expires with its media link
 *   p:webchat:c:push                  pub/sub channel: {v: client_id, e: entry} for the live push
 *   p:webchat:c:inflight:<client_id>  set of the visitor's entry ids that are queued for a bot flow but
 *                                     not yet in the history (expires after 5 s): the bot's answer waits
 *                                     for them, so the history reads question, then answer
 *   p:webchat:c:early:<client_id>     hash entry id → status: an outcome that came before its entry was
 *                                     appended (a fast delivery); the append applies it (expires after 60 s)
 *   p:webchat:c:quota:…               the quotas (quota.ts)
 *
 * The history list is the durable part: an agent reply is delivered once it is in the list, and
 * the page gets the list on every (re)connect. The publish only makes it live for open pages, in
 * whichever process holds the socket. Append + trim + expire + publish is one script, so the push
 * never announces an entry that is not stored. A visitor entry's status (delivered, failed,
 * resent) is written into the entry in the list, and announced the same way.
 */
import type { Redis } from 'ioredis';
import type { MediaRef, ReplyKeyboard } from '../../src/adapter.js';
import type { EntryStatus } from './protocol.js';

export const HISTORY_MAX = 500;
export const HISTORY_TTL_MS = 7 * 86_400_000;
/** How long a visitor's entry may be "in flight" before a bot's answer stops waiting for it (a crash). */
export const INFLIGHT_TTL_MS = 5_000;
/** How long an outcome waits for its entry to be appended. */
const EARLY_TTL_MS = 60_000;

/** A history entry as stored: visitor files by reference (links are signed when shown). */
export interface StoredEntry {
  id: string;
  from: 'visitor' | 'agent';
  type: 'text' | 'image' | 'file';
  /** Text, or the URL of an agent's image/file. */
  data?: string;
  /** A visitor's upload. */
  file?: MediaRef;
  at: number;
  /** A bot reply's buttons or phone keyboard (src/message.ts). */
  keyboard?: ReplyKeyboard;
  /**
   * A visitor entry that is not typed text: a button press (data: the label), a shared phone, or
   * the conversation's start (never shown: it only makes the conversation exist for the greeting).
   */
  kind?: 'start' | 'button' | 'phone';
  /** What a button press or shared phone was made of (the button's data, the phone): a resend sends it again. */
  source?: string;
  /** What became of a visitor entry, once known. */
  status?: EntryStatus;
}

const APPEND = `
-- KEYS: history, in-flight set, early outcomes; ARGV: entry JSON, entry id, max, ttl ms, push
-- channel, push JSON, must exist (1/0), in-flight member to clear ('' = none), client id.
-- Returns {1, status} appended (with the status an early outcome gave it, or ''), {0} present,
-- {-1} no conversation.
if ARGV[8] ~= '' then redis.call('SREM', KEYS[2], ARGV[8]) end
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local recent = redis.call('LRANGE', KEYS[1], -20, -1)
for _, e in ipairs(recent) do
  if cjson.decode(e).id == ARGV[2] then return {0} end
end
local entry = ARGV[1]
local status = redis.call('HGET', KEYS[3], ARGV[2])
if status then
  redis.call('HDEL', KEYS[3], ARGV[2])
  -- The entry is a JSON object without a status: add it before the closing brace.
  entry = string.sub(entry, 1, -2) .. ',"status":' .. cjson.encode(status) .. '}'
else
  status = ''
end
redis.call('RPUSH', KEYS[1], entry)
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
if status ~= '' then
  redis.call('PUBLISH', ARGV[5], cjson.encode({v = ARGV[9], s = {id = ARGV[2], status = status}}))
end
return {1, status}
`;

const SET_STATUS = `
-- KEYS: history, early outcomes; ARGV: entry id, status, push channel, push JSON, early ttl ms.
-- Sets a visitor entry's status (a delivered entry never becomes failed; resent is final) and
-- announces it. An entry not (yet) in the history: the outcome waits for its append.
-- Returns 1 set, 0 unchanged, 2 kept for the append.
local head = '{"id":' .. cjson.encode(ARGV[1]) .. ','
local n = redis.call('LLEN', KEYS[1])
local from = n
while from > 0 do
  local start = math.max(0, from - 50)
  local items = redis.call('LRANGE', KEYS[1], start, from - 1)
  for i = #items, 1, -1 do
    if string.sub(items[i], 1, #head) == head then
      local e = cjson.decode(items[i])
      if e.from ~= 'visitor' or e.status == ARGV[2] or e.status == 'resent' then return 0 end
      if e.status == 'delivered' and ARGV[2] == 'failed' then return 0 end
      -- The status is the entry's last field (only these scripts write it): replace or add it as
      -- text, so the rest of the entry stays byte for byte as stored (id first, numbers exact).
      local body = string.sub(items[i], 1, -2)
      if e.status then body = string.sub(body, 1, -(#(',"status":' .. cjson.encode(e.status)) + 1)) end
      redis.call('LSET', KEYS[1], start + i - 1, body .. ',"status":' .. cjson.encode(ARGV[2]) .. '}')
      redis.call('PUBLISH', ARGV[3], ARGV[4])
      return 1
    end
  end
  from = start
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 2
`;

const MARK = `
-- KEYS: in-flight set; ARGV: entry id, ttl ms
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

export type AppendResult = { result: 'appended'; status?: EntryStatus } | { result: 'present' } | { result: 'no_conversation' };

export class WebchatStore {
  constructor(
    private readonly redis: Redis,
    private readonly base: string,
  ) {}

  get pushChannel(): string {
    return `${this.base}:push`;
  }

  private historyKey(clientId: string): string {
    return `${this.base}:history:${clientId}`;
  }

  private inflightKey(clientId: string): string {
    return `${this.base}:inflight:${clientId}`;
  }

  private earlyKey(clientId: string): string {
    return `${this.base}:early:${clientId}`;
  }

  private fileKey(fileId: string): string {
    return `${this.base}:file:${fileId}`;
  }

  /**
   * Appends an entry and announces it. An id already among the latest entries is not added twice
   * (a page re-sending after a lost ack). `mustExist`: only into a conversation that exists.
   * `origin`: the hub tag of the tab that sent it, which gets an ack instead of the push.
   * `inflight`: the entry was marked in flight (markInflight); it no longer is.
   */
  async append(
    clientId: string,
    entry: StoredEntry,
    opts: { mustExist?: boolean; origin?: string; inflight?: boolean } = {},
  ): Promise<AppendResult> {
    const json = JSON.stringify(entry);
    const push = JSON.stringify({ v: clientId, e: entry, o: opts.origin });
    const [r, status] = (await this.redis.eval(
      APPEND,
      3,
      this.historyKey(clientId),
      this.inflightKey(clientId),
      this.earlyKey(clientId),
      json,
      entry.id,
      HISTORY_MAX,
      HISTORY_TTL_MS,
      this.pushChannel,
      push,
      opts.mustExist ? '1' : '0',
      opts.inflight ? entry.id : '',
      clientId,
    )) as [number, string?];
    if (r === 1) return status ? { result: 'appended', status: status as EntryStatus } : { result: 'appended' };
    return { result: r === 0 ? 'present' : 'no_conversation' };
  }

  /**
   * Records what became of a visitor's entry and announces it to their open pages. Before the
   * entry is appended (it was delivered that fast), the append applies and announces it.
   */
  async setStatus(clientId: string, entryId: string, status: EntryStatus): Promise<void> {
    const push = JSON.stringify({ v: clientId, s: { id: entryId, status } });
    await this.redis.eval(
      SET_STATUS,
      2,
      this.historyKey(clientId),
      this.earlyKey(clientId),
      entryId,
      status,
      this.pushChannel,
      push,
      EARLY_TTL_MS,
    );
  }

  /** Whether the visitor has a conversation (any history). */
  async exists(clientId: string): Promise<boolean> {
    return (await this.redis.exists(this.historyKey(clientId))) === 1;
  }

  /** The visitor's entry is being queued (a bot may answer it at once) and will be appended next. */
  async markInflight(clientId: string, entryId: string): Promise<void> {
    await this.redis.eval(MARK, 1, this.inflightKey(clientId), entryId, INFLIGHT_TTL_MS);
  }

  /** The entry will not be appended after all (it could not be queued). */
  async clearInflight(clientId: string, entryId: string): Promise<void> {
    await this.redis.srem(this.inflightKey(clientId), entryId);
  }

  /** Whether some entry of the visitor is queued but not yet in the history. */
  async hasInflight(clientId: string): Promise<boolean> {
    return (await this.redis.exists(this.inflightKey(clientId))) === 1;
  }

  async history(clientId: string): Promise<StoredEntry[]> {
    const items = await this.redis.lrange(this.historyKey(clientId), 0, -1);
    const out: StoredEntry[] = [];
    for (const item of items) {
      try {
        out.push(JSON.parse(item) as StoredEntry);
      } catch {
        /* a corrupt entry must not hide the rest */
      }
    }
    return out;
  }

  /** Stores an upload unless that id is stored already (a retry must not change a sent file). */
  async putFile(fileId: string, file: { data: Buffer; mime: string; name: string }, ttlMs: number): Promise<void> {
    const key = this.fileKey(fileId);
    if (await this.redis.exists(key)) return;
    const results = await this.redis.multi().hset(key, { data: file.data, mime: file.mime, name: file.name }).pexpire(key, ttlMs).exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('Redis transaction aborted');
  }

  async hasFile(fileId: string): Promise<boolean> {
    return (await this.redis.exists(this.fileKey(fileId))) === 1;
  }

  async getFile(fileId: string): Promise<{ data: Buffer; mime: string; name: string } | undefined> {
    const h = await this.redis.hgetallBuffer(this.fileKey(fileId));
    if (!h.data) return undefined;
    return { data: h.data, mime: h.mime?.toString() ?? 'application/octet-stream', name: h.name?.toString() ?? 'file' };
  }
}
