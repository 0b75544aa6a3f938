/**
 * The sandbox inbox in Redis (prefix p), so it survives a restart like the visitor's history:
 *   p:sandbox:convs            zset client_id → last activity (ms)
 *   p:sandbox:conv:<client>    list of event JSON, oldest first, at most 500
 *   p:sandbox:meta:<client>    hash: latest client_name, client_phone, info; counts
 *   p:sandbox:rejected         list of requests that named no conversation, newest first, at most 50
 *   p:sandbox:file:<id>        hash {data, mime, name}: a file an agent attached to a reply
 * Everything expires 7 days after it was last touched.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const TTL_MS = 7 * 86_400_000;
const MAX_EVENTS = 500;

export interface LinkCheck {
  ok: boolean;
  detail: string;
  /** The file's name, as the link serves it (Content-Disposition). */
  name?: string;
}

/** A request the bridge sent to the incoming URL, as checked. */
export interface IncomingEvent {
  id: string;
  at: number;
  dir: 'in';
  status: number;
  violations: string[];
  warnings: string[];
  body: Record<string, unknown> | string;
  link?: LinkCheck;
}

/** A reply the inbox page sent to the bridge's webhook, and what the bridge answered. */
export interface ReplyEvent {
  id: string;
  at: number;
  dir: 'out';
  type: string;
  data: string;
  status: number;
  answer: unknown;
}

export type InboxEvent = IncomingEvent | ReplyEvent;

export interface ConversationSummary {
  clientId: string;
  at: number;
  client_name?: string;
  client_phone?: string;
  info?: Record<string, unknown>;
  count: number;
  violations: number;
  last?: string;
}

export class SandboxInbox {
  constructor(
    private readonly redis: Redis,
    private readonly base: string,
  ) {}

  private key(...parts: string[]): string {
    return [this.base, ...parts].join(':');
  }

  static newId(): string {
    return randomUUID();
  }

  async record(clientId: string, event: InboxEvent): Promise<void> {
    const list = this.key('conv', clientId);
    const meta = this.key('meta', clientId);
    const m = this.redis.multi();
    m.rpush(list, JSON.stringify(event)).ltrim(list, -MAX_EVENTS, -1).pexpire(list, TTL_MS);
    m.zadd(this.key('convs'), event.at, clientId).pexpire(this.key('convs'), TTL_MS);
    m.hincrby(meta, 'count', 1);
    if (event.dir === 'in') {
      if (event.violations.length) m.hincrby(meta, 'violations', event.violations.length);
      const b = typeof event.body === 'object' ? event.body : {};
      if (typeof b.client_name === 'string') m.hset(meta, 'client_name', b.client_name);
      if (typeof b.client_phone === 'string') m.hset(meta, 'client_phone', b.client_phone);
      if (b.info && typeof b.info === 'object') m.hset(meta, 'info', JSON.stringify(b.info));
      m.hset(meta, 'last', preview(typeof b.type === 'string' ? b.type : '?', typeof b.data === 'string' ? b.data : ''));
    } else {
      m.hset(meta, 'last', `↩ ${preview(event.type, event.data)}`);
    }
    m.pexpire(meta, TTL_MS);
    await exec(m);
  }

  async reject(event: IncomingEvent): Promise<void> {
    const key = this.key('rejected');
    await exec(this.redis.multi().lpush(key, JSON.stringify(event)).ltrim(key, 0, 49).pexpire(key, TTL_MS));
  }

  async conversations(limit = 100): Promise<ConversationSummary[]> {
    const ids = await this.redis.zrevrange(this.key('convs'), 0, limit - 1, 'WITHSCORES');
    const out: ConversationSummary[] = [];
    for (let i = 0; i < ids.length; i += 2) {
      const clientId = ids[i]!;
      const meta = await this.redis.hgetall(this.key('meta', clientId));
      out.push(summaryOf(clientId, Number(ids[i + 1]), meta));
    }
    return out;
  }

  async conversation(clientId: string): Promise<{ summary: ConversationSummary; events: InboxEvent[] } | undefined> {
    const [score, meta, items] = await Promise.all([
      this.redis.zscore(this.key('convs'), clientId),
      this.redis.hgetall(this.key('meta', clientId)),
      this.redis.lrange(this.key('conv', clientId), 0, -1),
    ]);
    if (score === null) return undefined;
    return { summary: summaryOf(clientId, Number(score), meta), events: items.map((i) => JSON.parse(i) as InboxEvent) };
  }

  async rejected(): Promise<IncomingEvent[]> {
    return (await this.redis.lrange(this.key('rejected'), 0, -1)).map((i) => JSON.parse(i) as IncomingEvent);
  }

  async putFile(id: string, file: { data: Buffer; mime: string; name: string }): Promise<void> {
    const key = this.key('file', id);
    await exec(this.redis.multi().hset(key, file).pexpire(key, TTL_MS));
  }

  async getFile(id: string): Promise<{ data: Buffer; mime: string; name: string } | undefined> {
    const h = await this.redis.hgetallBuffer(this.key('file', id));
    if (!h.data) return undefined;
    return { data: h.data, mime: h.mime?.toString() ?? 'application/octet-stream', name: h.name?.toString() ?? 'file' };
  }
}

function preview(type: string, data: string): string {
  if (type === 'text') return data.length > 80 ? `${data.slice(0, 80)}…` : data;
  return `[${type}]`;
}

function summaryOf(clientId: string, at: number, meta: Record<string, string>): ConversationSummary {
  const s: ConversationSummary = { clientId, at, count: Number(meta.count ?? 0), violations: Number(meta.violations ?? 0) };
  if (meta.client_name) s.client_name = meta.client_name;
  if (meta.client_phone) s.client_phone = meta.client_phone;
  if (meta.last) s.last = meta.last;
  if (meta.info) {
    try {
      s.info = JSON.parse(meta.info) as Record<string, unknown>;
    } catch {
      /* shown without it */
    }
  }
  return s;
}

async function exec(m: ReturnType<Redis['multi']>): Promise<void> {
  const results = await m.exec();
  const failed = results?.find(([err]) => err);
  if (!results || failed) throw failed?.[0] ?? new Error('Redis transaction aborted');
}
