/**
 * What the web chat keeps in Redis, per channel c (prefix p):
 *   p:webchat:c:history:<client_id>   list of entry JSON, oldest first, at most 500, expires 7 days
 *                                     after the conversation's last message
 *   p:webchat:c:file:<file id>        hash {data, mime, name} of an upload, expires with its media link
 *   p:webchat:c:push                  pub/sub channel: {v: client_id, e: entry} for the live push
 *   p:webchat:c:inflight:<client_id>  set of the visitor's entry ids that are queued for a bot flow but
 *                                     not yet in the history (expires after 5 s): the bot's answer waits
 *                                     for them, so the history reads question, then answer
 *
 * The history list is the durable part: an agent reply is delivered once it is in the list, and
 * the page gets the list on every (re)connect. The publish only makes it live for open pages, in
 * whichever process holds the socket. Append + trim + expire + publish is one script, so the push
 * never announces an entry that is not stored.
 */
import type { Redis } from 'ioredis';
import type { MediaRef } from '../../src/adapter.js';
import type { ReplyKeyboard } from '../../src/message.js';
import { stringifyWellFormed } from '../../src/text.js';

export const HISTORY_MAX = 500;
export const HISTORY_TTL_MS = 7 * 86_400_000;
/** How long a visitor's entry may be "in flight" before a bot's answer stops waiting for it (a crash). */
export const INFLIGHT_TTL_MS = 5_000;

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
}

const APPEND = `
-- KEYS: history, in-flight set; ARGV: entry JSON, entry id, max, ttl ms, push channel, push JSON,
-- must exist (1/0), in-flight member to clear ('' = none)
if ARGV[8] ~= '' then redis.call('SREM', KEYS[2], ARGV[8]) end
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local recent = redis.call('LRANGE', KEYS[1], -20, -1)
for _, e in ipairs(recent) do
  -- pcall: an entry cjson cannot decode (a lone surrogate, stored before entries were made
  -- well-formed) must not block every later reply to this visitor.
  local ok, old = pcall(cjson.decode, e)
  if ok and type(old) == 'table' and old.id == ARGV[2] then return 0 end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;

const MARK = `
-- KEYS: in-flight set; ARGV: entry id, ttl ms
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

export type AppendResult = 'appended' | 'present' | 'no_conversation';

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
    const json = stringifyWellFormed(entry);
    const push = stringifyWellFormed({ v: clientId, e: entry, o: opts.origin });
    const r = (await this.redis.eval(
      APPEND,
      2,
      this.historyKey(clientId),
      this.inflightKey(clientId),
      json,
      entry.id,
      HISTORY_MAX,
      HISTORY_TTL_MS,
      this.pushChannel,
      push,
      opts.mustExist ? '1' : '0',
      opts.inflight ? entry.id : '',
    )) as number;
    return r === 1 ? 'appended' : r === 0 ? 'present' : 'no_conversation';
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

  async getFile(fileId: string): Promise<{ data: Buffer; mime: string; name: string } | undefined> {
    const h = await this.redis.hgetallBuffer(this.fileKey(fileId));
    if (!h.data) return undefined;
    return { data: h.data, mime: h.mime?.toString() ?? 'application/octet-stream', name: h.name?.toString() ?? 'file' };
  }
}
