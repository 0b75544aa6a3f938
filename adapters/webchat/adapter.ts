/**
 * The web chat adapter: the bridge's own end-user chat page as a messenger. Visitors' messages
 * and uploads are queued for Blinger like any messenger's; agents' replies are kept in the
 * visitor's history in Redis (so an offline visitor gets them on the next visit) and pushed live
 * through Redis pub/sub to whichever ingress process holds the visitor's page.
 *
 * With a bot flow (src/flow/) in front of the agents, the web chat tells it what Telegram would:
 * the first visit is a /start (`event.start`), a press of a bot message's button is the text
 * `[button] <label>` with `event.button` (only for buttons really in the visitor's history), a
 * shared phone is Telegram's contact text with `client_phone` and `event.phone`, typed text is
 * `event.text`, and every conversation is one-to-one. A bot reply's keyboard is kept with it in
 * the history, so the page shows its buttons (also after a reload).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type {
  Adapter,
  AdapterContext,
  CheckResult,
  InboundEvent,
  InboundMessage,
  InboundOutcome,
  MediaRef,
  MediaStream,
  OutboundMessage,
  ReplyKeyboard,
} from '../../src/adapter.js';
import { DeliveryError, isInlineImage, redact } from '../../src/toolkit/index.js';
import { SocketHub } from './hub.js';
import {
  contactText,
  infoOf,
  MAX_TEXT,
  PROTOCOL_VERSION,
  type ChatEntry,
  type EntryStatus,
  type VisitorContext,
  type Welcome,
} from './protocol.js';
import { QuotaExceeded, QuotaGuard, SOCKET_RENEW_MS, type Refusal } from './quota.js';
import type { WebchatSettings } from './settings.js';
import { WebchatStore, type StoredEntry } from './store.js';

/** Who is writing: the visitor's conversation id and what the page told about them. */
export interface Visitor {
  clientId: string;
  context: VisitorContext;
  userAgent?: string;
  /** The hub tag of the socket this visitor writes from (absent for uploads over HTTP). */
  origin?: string;
  /** The network address the per-address quotas count (client-ip.ts). */
  ip?: string;
}

export interface Received {
  status: 'queued' | 'duplicate';
  entry: ChatEntry;
}

/** The id of the hidden entry that starts a conversation (page message ids are 8-64 characters). */
const START_ID = 'start';
/** How long a bot's answer waits before asking again whether the visitor's entry is in the history. */
const INFLIGHT_POLL_MS = 10;
/** How long it waits so in the worker before giving the lane back to wait (after a crash, up to INFLIGHT_TTL_MS). */
const INFLIGHT_WAIT_MS = 300;

export class WebchatAdapter implements Adapter {
  readonly type = 'webchat';
  readonly settings: WebchatSettings;
  readonly store: WebchatStore;
  readonly hub = new SocketHub();
  /**
   * Whether a bot flow (or developer middleware) decides what becomes of the visitor's events:
   * then a first visit starts the conversation, and the bot's immediate answers wait until the
   * visitor's entry is in the history (see afterVisitorEntry).
   */
  readonly hasFlow: boolean;
  readonly quotas: QuotaGuard;
  /** This process's open sockets by lease id, with their address: their quota leases are renewed. */
  readonly sockets = new Map<string, string>();
  private sub: Redis | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  /** The correlation id prefix of this channel's visitor entries (see receive). */
  private readonly cidPrefix: string;

  constructor(private readonly ctx: AdapterContext<WebchatSettings>) {
    this.settings = ctx.settings;
    const base = `${ctx.redisPrefix}:webchat:${ctx.channelId}`;
    this.store = new WebchatStore(ctx.redis, base);
    this.quotas = new QuotaGuard(ctx.redis, `${base}:quota`, this.settings.quotas);
    this.hasFlow = ctx.botFlow;
    this.cidPrefix = `wc-${ctx.channelId}-`;
  }

  get channelId(): string {
    return this.ctx.channelId;
  }

  /** Takes page connections only while subscribed to the live push (ingress, started, not stopping). */
  get live(): boolean {
    return this.sub !== undefined;
  }

  get publicUrl(): string {
    return this.ctx.publicUrl;
  }

  get log(): AdapterContext['log'] {
    return this.ctx.log;
  }

  /** Subscribes to the live push of agent replies (ingress processes only). */
  async start(): Promise<void> {
    if (this.sub) return;
    // A subscriber needs its own connection; unlike the fail-fast producer it waits and resumes.
    const sub = this.ctx.redis.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      connectionName: 'blinger-bridge:webchat',
    });
    let connected = false;
    let down = false;
    sub.on('error', (err: Error) => {
      if (down) return;
      down = true;
      this.ctx.log.warn({ err: redact(err.message) }, 'web chat live push disconnected from Redis; reconnecting');
    });
    sub.on('ready', () => {
      down = false;
      // Pushes published while disconnected were missed: give every open page its history again.
      if (connected) void this.resyncAll();
      connected = true;
    });
    sub.on('message', (_channel: string, message: string) => this.onPush(message));
    try {
      await sub.subscribe(this.store.pushChannel);
    } catch (err) {
      sub.disconnect();
      throw err;
    }
    this.sub = sub;
    this.hub.startHeartbeat();
    this.renewTimer = setInterval(() => void this.renewSockets(), SOCKET_RENEW_MS);
    this.renewTimer.unref();
    this.ctx.log.info({ url: `${this.ctx.publicUrl}/chat/${encodeURIComponent(this.ctx.channelId)}` }, 'web chat ready');
  }

  async stop(): Promise<void> {
    this.hub.stopHeartbeat();
    clearInterval(this.renewTimer);
    // 1012 "service restart": the pages reconnect, to another process if there is one.
    this.hub.closeAll(1012, 'server restarting');
    const sub = this.sub;
    this.sub = undefined;
    await sub?.quit().catch(() => sub.disconnect());
  }

  /** A visitor's text: durable in the inbound queue before the page is told it was sent. */
  async receiveText(visitor: Visitor, id: string, text: string): Promise<Received> {
    const entry: StoredEntry = { id, from: 'visitor', type: 'text', data: text, at: Date.now() };
    return this.receive(visitor, entry, text, { chat: 'private', text });
  }

  /**
   * A press of a button of a bot message: queued as `[button] <label>` with `event.button`, like
   * Telegram's callback_query. Undefined when no message in the visitor's history has a button
   * with this data (the page is never trusted with what a button means).
   */
  async receiveButton(visitor: Visitor, id: string, data: string): Promise<Received | undefined> {
    const label = await this.buttonLabel(visitor.clientId, data);
    if (label === undefined) return undefined;
    const entry: StoredEntry = { id, from: 'visitor', type: 'text', data: label, kind: 'button', source: data, at: Date.now() };
    return this.receive(visitor, entry, `[button] ${label}`, { chat: 'private', button: { data, label } });
  }

  /**
   * The visitor shared their phone (the page's answer to a phone keyboard, or on its own): like
   * Telegram's own contact, the contact text with `client_phone` and `event.phone`. The caller
   * has made it the visitor's phone (`visitor.context.phone`) first, as a filled form would.
   */
  async receivePhone(visitor: Visitor, id: string, phone: string): Promise<Received> {
    const text = contactText(phone, visitor.context.name);
    const entry: StoredEntry = { id, from: 'visitor', type: 'text', data: text, kind: 'phone', source: phone, at: Date.now() };
    const withPhone: Visitor = { ...visitor, context: { ...visitor.context, phone } };
    return this.receive(withPhone, entry, text, { chat: 'private', phone });
  }

  /**
   * A visitor opened a chat that has no history yet (see open): with a bot flow, that is the
   * conversation's /start, and the bot's greeting and menu follow. Nothing is shown for it in the
   * page; the dedupe id makes a second tab's (or a retried) start a no-op.
   */
  async startConversation(visitor: Visitor): Promise<'queued' | 'duplicate' | 'skipped'> {
    if (!this.hasFlow) return 'skipped';
    const entry: StoredEntry = { id: START_ID, from: 'visitor', type: 'text', data: '/start', kind: 'start', at: Date.now() };
    const r = await this.receive(visitor, entry, '/start', { chat: 'private', start: {}, text: '/start' }, { free: true });
    return r.status;
  }

  /**
   * A visitor's upload: kept in Redis for as long as its media link lives, then queued as a link.
   * Within the visitor's and the address's upload quotas (QuotaExceeded: nothing stored).
   */
  async receiveFile(visitor: Visitor, id: string, file: { data: Buffer; mime: string; name: string }): Promise<Received> {
    const refusal = await this.quotas.upload(visitor.clientId, visitor.ip ?? 'unknown', file.data.length);
    if (refusal) throw new QuotaExceeded(refusal);
    // The same message id (a page retrying) names the same file: a retry stores nothing new.
    const fileId = createHash('sha256').update(`${visitor.clientId}\n${id}`).digest('base64url').slice(0, 32);
    await this.store.putFile(fileId, file, this.ctx.media.ttlMs);
    const ref: MediaRef = { id: fileId, name: file.name, mime: file.mime, size: file.data.length };
    return this.receiveStoredFile(visitor, id, ref, { free: true });
  }

  private receiveStoredFile(visitor: Visitor, id: string, ref: MediaRef, opts: { free?: boolean } = {}): Promise<Received> {
    const entry: StoredEntry = { id, from: 'visitor', type: isInlineImage(ref.mime) ? 'image' : 'file', file: ref, at: Date.now() };
    return this.receive(visitor, entry, this.ctx.media.link(ref), { chat: 'private' }, opts);
  }

  /**
   * Sends a visitor's undelivered entry (status failed) again, as a new entry `id`; the old one
   * becomes "resent". Undefined when `of` is no failed entry of this visitor (or its file expired).
   */
  async resend(visitor: Visitor, id: string, of: string): Promise<Received | undefined> {
    const history = await this.store.history(visitor.clientId);
    // Sent again after a lost ack: it is there already.
    const done = history.find((e) => e.id === id && e.from === 'visitor');
    if (done) return { status: 'duplicate', entry: this.toClient(done) };
    const old = history.find((e) => e.id === of);
    if (!old || old.from !== 'visitor' || old.status !== 'failed') return undefined;
    let r: Received | undefined;
    if (old.file) {
      if (!(await this.store.hasFile(old.file.id))) return undefined;
      r = await this.receiveStoredFile(visitor, id, old.file);
    } else if (old.kind === 'button' && old.source !== undefined) {
      r = await this.receiveButton(visitor, id, old.source);
    } else if (old.kind === 'phone' && old.source !== undefined) {
      r = await this.receivePhone(visitor, id, old.source);
    } else if (old.kind === undefined && old.data) {
      r = await this.receiveText(visitor, id, old.data);
    }
    if (r) await this.store.setStatus(visitor.clientId, of, 'resent');
    return r;
  }

  /**
   * Queues a visitor's entry, within their message quota (`free`: the conversation's start, and
   * uploads, which counted theirs before storing the file). QuotaExceeded: nothing was queued.
   */
  private async receive(
    visitor: Visitor,
    entry: StoredEntry,
    data: string,
    event: InboundEvent,
    opts: { free?: boolean } = {},
  ): Promise<Received> {
    if (!opts.free) {
      const refusal = await this.quotas.message(visitor.clientId);
      if (refusal) throw new QuotaExceeded(refusal);
    }
    const message: InboundMessage = {
      client_id: visitor.clientId,
      type: entry.type,
      data,
      info: infoOf(visitor.context, visitor.userAgent),
    };
    if (visitor.context.name) message.client_name = visitor.context.name;
    if (visitor.context.phone) message.client_phone = visitor.context.phone;
    // A bot may answer in the same step: its answer waits (afterVisitorEntry) until this entry is stored, so
    // it never lands in the history before the message it answers, nor in a history not yet there.
    const guard = this.hasFlow;
    if (guard) await this.store.markInflight(visitor.clientId, entry.id);
    let status: Received['status'];
    try {
      status = await this.ctx.inbound.enqueue([message], {
        dedupeId: `webchat:${visitor.clientId}:${entry.id}`,
        correlationId: `wc-${this.ctx.channelId}-${entry.id}`,
        event,
      });
    } catch (err) {
      if (guard) await this.store.clearInflight(visitor.clientId, entry.id).catch(() => undefined);
      throw err;
    }
    // After the message is durable. Idempotent, so a page re-sending after a lost ack is harmless.
    const appended = await this.store.append(visitor.clientId, entry, { origin: visitor.origin, inflight: guard });
    // Delivered before it was appended: the append gave it its status.
    if (appended.result === 'appended' && appended.status) entry.status = appended.status;
    return { status, entry: this.toClient(entry) };
  }

  /**
   * What became of a message this adapter queued: the visitor's entry it came from shows it
   * (delivered ✓✓, or failed with a resend). Bot replies mirrored to Blinger share the entry's
   * correlation id; they are not the visitor's and are skipped.
   */
  async onInboundOutcome(o: InboundOutcome): Promise<void> {
    if (!o.correlationId.startsWith(this.cidPrefix) || o.message.echo_outgoing) return;
    const entryId = o.correlationId.slice(this.cidPrefix.length);
    if (entryId === START_ID) return;
    await this.store.setStatus(o.clientId, entryId, o.outcome === 'delivered' ? 'delivered' : 'failed');
  }

  /** The first frame a page gets: its history, what it may send, and the opening hours. */
  async welcome(clientId: string, history?: ChatEntry[]): Promise<Welcome> {
    const q = this.settings.quotas;
    const frame: Welcome = {
      type: 'welcome',
      version: PROTOCOL_VERSION,
      clientId,
      history: history ?? (await this.history(clientId)),
      limits: {
        maxTextChars: MAX_TEXT,
        maxUploadBytes: this.settings.maxUploadBytes,
        messagesPerMinute: q.messagesPerMinute,
        uploadBytesPerDay: q.uploadBytesPerDay,
      },
    };
    const hours = this.ctx.openingHours?.();
    if (hours) frame.hours = hours;
    return frame;
  }

  /** Counts a new socket of `ip` (`lease`: the socket's own id); a refusal when the address has too many. */
  async admitSocket(ip: string, lease: string): Promise<Refusal | undefined> {
    const refusal = await this.quotas.openSocket(ip, lease);
    if (!refusal) this.sockets.set(lease, ip);
    return refusal;
  }

  releaseSocket(lease: string): void {
    const ip = this.sockets.get(lease);
    if (ip === undefined) return;
    this.sockets.delete(lease);
    this.quotas.closeSocket(ip, lease).catch(() => undefined /* the lease runs out */);
  }

  private async renewSockets(): Promise<void> {
    try {
      await this.quotas.renewSockets([...this.sockets].map(([tag, ip]) => ({ tag, ip })));
    } catch (err) {
      this.ctx.log.debug({ err: redact(String(err)) }, 'could not renew the socket leases');
    }
  }

  /** What the page shows: the history without its hidden entries. */
  async history(clientId: string): Promise<ChatEntry[]> {
    return (await this.store.history(clientId)).filter(visible).map((e) => this.toClient(e));
  }

  /** The history for a page that says hello, and whether the conversation is new (nothing stored yet: start it). */
  async open(clientId: string): Promise<{ history: ChatEntry[]; isNew: boolean }> {
    const stored = await this.store.history(clientId);
    return { history: stored.filter(visible).map((e) => this.toClient(e)), isNew: stored.length === 0 };
  }

  /**
   * The label of the button with this data on a bot message of the visitor's history (the latest
   * such message: older messages' buttons stay pressable, as in Telegram), or undefined.
   */
  async buttonLabel(clientId: string, data: string): Promise<string | undefined> {
    const stored = await this.store.history(clientId);
    for (let i = stored.length - 1; i >= 0; i--) {
      const e = stored[i]!;
      if (e.from !== 'agent' || !e.keyboard?.buttons) continue;
      for (const row of e.keyboard.buttons) for (const b of row) if (b.data === data) return b.label;
    }
    return undefined;
  }

  /**
   * A bot's answer waits while the visitor's entry it answers is queued but not yet in the
   * history (a few ms); longer than INFLIGHT_WAIT_MS (a crash left the mark), the lane waits.
   */
  private async afterVisitorEntry(clientId: string): Promise<void> {
    if (!this.hasFlow) return;
    const since = performance.now();
    try {
      while (await this.store.hasInflight(clientId)) {
        if (performance.now() - since > INFLIGHT_WAIT_MS)
          throw DeliveryError.notYet("the visitor's message is not stored yet", INFLIGHT_POLL_MS * 10);
        await new Promise((resolve) => setTimeout(resolve, INFLIGHT_POLL_MS));
      }
    } catch (err) {
      if (err instanceof DeliveryError) throw err;
      // Redis is away: storing the reply fails next and says so, with the usual retries.
    }
  }

  /** An agent's (or the bot's) reply: stored in the visitor's history (delivered), then pushed to open pages. */
  async send(message: OutboundMessage): Promise<void> {
    await this.afterVisitorEntry(message.client_id);
    const entry: StoredEntry = { id: randomUUID(), from: 'agent', type: message.type, data: message.data, at: Date.now() };
    const keyboard = keyboardOf(message.keyboard);
    if (keyboard) entry.keyboard = keyboard;
    let result;
    try {
      result = await this.store.append(message.client_id, entry, { mustExist: true });
    } catch (err) {
      throw DeliveryError.transient(redact(`could not store the reply in Redis: ${(err as Error).message}`), 'redis');
    }
    if (result.result === 'no_conversation') {
      throw DeliveryError.permanent(
        `no web chat conversation "${message.client_id}" (it never started, or had no activity for 7 days)`,
        'no_conversation',
      );
    }
  }

  explainFailure(error: DeliveryError): string | undefined {
    if (error.code === 'no_conversation') {
      return "This reply was not delivered: the visitor's web chat no longer exists (no activity for 7 days, or an unknown client_id).";
    }
    return undefined;
  }

  async openMedia(ref: MediaRef): Promise<MediaStream> {
    let file;
    try {
      file = await this.store.openFile(ref.id);
    } catch (err) {
      throw DeliveryError.transient(redact(`Redis: ${(err as Error).message}`), 'redis');
    }
    if (!file) throw DeliveryError.permanent('the upload expired', 'expired');
    // The type as uploaded: the /media route decides how it may be served.
    return { stream: file.stream, contentType: file.mime, fileName: file.name, size: file.size };
  }

  async check(): Promise<CheckResult[]> {
    return [
      {
        ok: true,
        name: `webchat ${this.ctx.channelId}`,
        detail: `chat page at ${this.ctx.publicUrl}/chat/${encodeURIComponent(this.ctx.channelId)}`,
      },
    ];
  }

  /** The entry as the page shows it: a visitor's file becomes a freshly signed link. */
  toClient(e: StoredEntry): ChatEntry {
    const out: ChatEntry = { id: e.id, from: e.from, type: e.type, data: e.file ? this.ctx.media.link(e.file) : (e.data ?? ''), at: e.at };
    if (e.file?.name) out.name = e.file.name;
    if (e.file?.size !== undefined) out.size = e.file.size;
    if (e.keyboard) out.keyboard = e.keyboard;
    if (e.kind === 'button' || e.kind === 'phone') out.kind = e.kind;
    if (e.status) out.status = e.status;
    return out;
  }

  private onPush(message: string): void {
    let push: { v?: unknown; e?: StoredEntry; o?: unknown; s?: { id?: unknown; status?: unknown } };
    try {
      push = JSON.parse(message) as typeof push;
    } catch {
      return;
    }
    if (typeof push.v !== 'string') return;
    if (push.s && typeof push.s.id === 'string' && isStatus(push.s.status)) {
      this.hub.send(push.v, { type: 'status', id: push.s.id, status: push.s.status });
      return;
    }
    if (!push.e || !visible(push.e)) return;
    this.hub.send(push.v, { type: 'message', entry: this.toClient(push.e) }, typeof push.o === 'string' ? push.o : undefined);
  }

  private async resyncAll(): Promise<void> {
    for (const clientId of this.hub.visitors()) {
      try {
        this.hub.send(clientId, await this.welcome(clientId));
      } catch (err) {
        this.ctx.log.debug({ err: redact(String(err)) }, 'history resync failed');
      }
    }
  }
}

const visible = (e: StoredEntry): boolean => e.kind !== 'start';
const isStatus = (s: unknown): s is EntryStatus => s === 'delivered' || s === 'failed' || s === 'resent';

/** The parts of a bot reply's keyboard the page can show (one of buttons, requestPhone, remove). */
function keyboardOf(k: ReplyKeyboard | undefined): ReplyKeyboard | undefined {
  if (!k) return undefined;
  const rows = (k.buttons ?? [])
    .map((row) =>
      row.filter((b) => typeof b?.label === 'string' && typeof b.data === 'string').map((b) => ({ label: b.label, data: b.data })),
    )
    .filter((row) => row.length > 0);
  if (rows.length > 0) return { buttons: rows };
  if (typeof k.requestPhone === 'string' && k.requestPhone !== '') return { requestPhone: k.requestPhone };
  if (k.remove === true) return { remove: true };
  return undefined;
}
