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
import type { Adapter, AdapterContext, CheckResult, MediaRef, MediaStream } from '../../src/adapter.js';
import type { InboundEvent, InboundMessage, OutboundMessage, ReplyKeyboard } from '../../src/message.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { FlowRunner } from '../../src/flow/runner.js';
import { isInlineImage } from '../../src/media/safe-type.js';
import { redact } from '../../src/redact.js';
import { SocketHub } from './hub.js';
import { contactText, infoOf, type ChatEntry, type VisitorContext } from './protocol.js';
import { parseWebchatSettings, type WebchatSettings } from './settings.js';
import { WebchatStore, type StoredEntry } from './store.js';

/** Who is writing: the visitor's conversation id and what the page told about them. */
export interface Visitor {
  clientId: string;
  context: VisitorContext;
  userAgent?: string;
  /** The hub tag of the socket this visitor writes from (absent for uploads over HTTP). */
  origin?: string;
}

export interface Received {
  status: 'queued' | 'duplicate';
  entry: ChatEntry;
}

/** The id of the hidden entry that starts a conversation (page message ids are 8-64 characters). */
const START_ID = 'start';
/** How long a bot's answer waits before asking again whether the visitor's entry is in the history. */
const INFLIGHT_POLL_MS = 10;

export class WebchatAdapter implements Adapter {
  readonly type = 'webchat';
  readonly settings: WebchatSettings;
  readonly store: WebchatStore;
  readonly hub = new SocketHub();
  /**
   * Whether a bot flow (or developer middleware) decides what becomes of the visitor's events:
   * then a first visit starts the conversation, and the bot's immediate answers wait until the
   * visitor's entry is in the history (see reserve).
   */
  readonly hasFlow: boolean;
  private sub: Redis | undefined;

  constructor(private readonly ctx: AdapterContext) {
    this.settings = parseWebchatSettings(ctx.settings, ctx.channelId);
    this.store = new WebchatStore(ctx.redis, `${ctx.redisPrefix}:webchat:${ctx.channelId}`);
    this.hasFlow = ctx.inbound instanceof FlowRunner;
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
    this.ctx.log.info({ url: `${this.ctx.publicUrl}/chat/${encodeURIComponent(this.ctx.channelId)}` }, 'web chat ready');
  }

  async stop(): Promise<void> {
    this.hub.stopHeartbeat();
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
    const entry: StoredEntry = { id, from: 'visitor', type: 'text', data: label, kind: 'button', at: Date.now() };
    return this.receive(visitor, entry, `[button] ${label}`, { chat: 'private', button: { data, label } });
  }

  /**
   * The visitor shared their phone (the page's answer to a phone keyboard, or on its own): like
   * Telegram's own contact, the contact text with `client_phone` and `event.phone`. The caller
   * has made it the visitor's phone (`visitor.context.phone`) first, as a filled form would.
   */
  async receivePhone(visitor: Visitor, id: string, phone: string): Promise<Received> {
    const text = contactText(phone, visitor.context.name);
    const entry: StoredEntry = { id, from: 'visitor', type: 'text', data: text, kind: 'phone', at: Date.now() };
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
    const r = await this.receive(visitor, entry, '/start', { chat: 'private', start: {}, text: '/start' });
    return r.status;
  }

  /** A visitor's upload: kept in Redis for as long as its media link lives, then queued as a link. */
  async receiveFile(visitor: Visitor, id: string, file: { data: Buffer; mime: string; name: string }): Promise<Received> {
    // The same message id (a page retrying) names the same file: a retry stores nothing new.
    const fileId = createHash('sha256').update(`${visitor.clientId}\n${id}`).digest('base64url').slice(0, 32);
    await this.store.putFile(fileId, file, this.ctx.media.ttlMs);
    const ref: MediaRef = { id: fileId, name: file.name, mime: file.mime, size: file.data.length };
    const entry: StoredEntry = { id, from: 'visitor', type: isInlineImage(file.mime) ? 'image' : 'file', file: ref, at: Date.now() };
    return this.receive(visitor, entry, this.ctx.media.link(ref), { chat: 'private' });
  }

  private async receive(visitor: Visitor, entry: StoredEntry, data: string, event: InboundEvent): Promise<Received> {
    const message: InboundMessage = {
      client_id: visitor.clientId,
      type: entry.type,
      data,
      info: infoOf(visitor.context, visitor.userAgent),
    };
    if (visitor.context.name) message.client_name = visitor.context.name;
    if (visitor.context.phone) message.client_phone = visitor.context.phone;
    // A bot may answer in the same step: its answer waits (reserve) until this entry is stored, so
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
    await this.store.append(visitor.clientId, entry, { origin: visitor.origin, inflight: guard });
    return { status, entry: this.toClient(entry) };
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
   * Asked by the worker before each reply: a bot's answer waits while the visitor's entry it
   * answers is queued but not yet in the history (a few ms; at most INFLIGHT_TTL_MS after a crash).
   */
  async reserve(message: OutboundMessage): Promise<number> {
    if (!this.hasFlow) return 0;
    try {
      return (await this.store.hasInflight(message.client_id)) ? INFLIGHT_POLL_MS : 0;
    } catch {
      // Redis is away: send() fails and says so, with the usual retries.
      return 0;
    }
  }

  /** An agent's (or the bot's) reply: stored in the visitor's history (delivered), then pushed to open pages. */
  async send(message: OutboundMessage): Promise<void> {
    const entry: StoredEntry = { id: randomUUID(), from: 'agent', type: message.type, data: message.data, at: Date.now() };
    const keyboard = keyboardOf(message.keyboard);
    if (keyboard) entry.keyboard = keyboard;
    let result;
    try {
      result = await this.store.append(message.client_id, entry, { mustExist: true });
    } catch (err) {
      throw DeliveryError.transient(redact(`could not store the reply in Redis: ${(err as Error).message}`), 'redis');
    }
    if (result === 'no_conversation') {
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
    return out;
  }

  private onPush(message: string): void {
    let push: { v?: unknown; e?: StoredEntry; o?: unknown };
    try {
      push = JSON.parse(message) as typeof push;
    } catch {
      return;
    }
    if (typeof push.v !== 'string' || !push.e || !visible(push.e)) return;
    this.hub.send(push.v, { type: 'message', entry: this.toClient(push.e) }, typeof push.o === 'string' ? push.o : undefined);
  }

  private async resyncAll(): Promise<void> {
    for (const clientId of this.hub.visitors()) {
      try {
        this.hub.send(clientId, { type: 'welcome', clientId, history: await this.history(clientId) });
      } catch (err) {
        this.ctx.log.debug({ err: redact(String(err)) }, 'history resync failed');
      }
    }
  }
}

const visible = (e: StoredEntry): boolean => e.kind !== 'start';

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
