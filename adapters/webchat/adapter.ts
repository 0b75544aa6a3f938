/**
 * The web chat adapter: the bridge's own end-user chat page as a messenger. Visitors' messages
 * and uploads are queued for Blinger like any messenger's; agents' replies are kept in the
 * visitor's history in Redis (so an offline visitor gets them on the next visit) and pushed live
 * through Redis pub/sub to whichever ingress process holds the visitor's page.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Adapter, AdapterContext, CheckResult, MediaRef, MediaStream } from '../../src/adapter.js';
import type { InboundMessage, OutboundMessage } from '../../src/message.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { isInlineImage, servableType } from '../../src/media/safe-type.js';
import { redact } from '../../src/redact.js';
import { SocketHub } from './hub.js';
import { infoOf, type ChatEntry, type VisitorContext } from './protocol.js';
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

export class WebchatAdapter implements Adapter {
  readonly type = 'webchat';
  readonly settings: WebchatSettings;
  readonly store: WebchatStore;
  readonly hub = new SocketHub();
  private sub: Redis | undefined;

  constructor(private readonly ctx: AdapterContext) {
    this.settings = parseWebchatSettings(ctx.settings, ctx.channelId);
    this.store = new WebchatStore(ctx.redis, `${ctx.redisPrefix}:webchat:${ctx.channelId}`);
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
    const sub = this.ctx.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: 'blinger-bridge:webchat' });
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
    return this.receive(visitor, entry, text);
  }

  /** A visitor's upload: kept in Redis for as long as its media link lives, then queued as a link. */
  async receiveFile(visitor: Visitor, id: string, file: { data: Buffer; mime: string; name: string }): Promise<Received> {
    // The same message id (a page retrying) names the same file: a retry stores nothing new.
    const fileId = createHash('sha256').update(`${visitor.clientId}\n${id}`).digest('base64url').slice(0, 32);
    await this.store.putFile(fileId, file, this.ctx.media.ttlMs);
    const ref: MediaRef = { id: fileId, name: file.name, mime: file.mime, size: file.data.length };
    const entry: StoredEntry = { id, from: 'visitor', type: isInlineImage(file.mime) ? 'image' : 'file', file: ref, at: Date.now() };
    return this.receive(visitor, entry, this.ctx.media.link(ref));
  }

  private async receive(visitor: Visitor, entry: StoredEntry, data: string): Promise<Received> {
    const message: InboundMessage = { client_id: visitor.clientId, type: entry.type, data, info: infoOf(visitor.context, visitor.userAgent) };
    if (visitor.context.name) message.client_name = visitor.context.name;
    if (visitor.context.phone) message.client_phone = visitor.context.phone;
    const status = await this.ctx.inbound.enqueue([message], {
      dedupeId: `webchat:${visitor.clientId}:${entry.id}`,
      correlationId: `wc-${this.ctx.channelId}-${entry.id}`,
    });
    // After the message is durable. Idempotent, so a page re-sending after a lost ack is harmless.
    await this.store.append(visitor.clientId, entry, { origin: visitor.origin });
    return { status, entry: this.toClient(entry) };
  }

  async history(clientId: string): Promise<ChatEntry[]> {
    return (await this.store.history(clientId)).map((e) => this.toClient(e));
  }

  /** An agent's reply: stored in the visitor's history (delivered), then pushed to open pages. */
  async send(message: OutboundMessage): Promise<void> {
    const entry: StoredEntry = { id: randomUUID(), from: 'agent', type: message.type, data: message.data, at: Date.now() };
    let result;
    try {
      result = await this.store.append(message.client_id, entry, { mustExist: true });
    } catch (err) {
      throw DeliveryError.transient(redact(`could not store the reply in Redis: ${(err as Error).message}`), 'redis');
    }
    if (result === 'no_conversation') {
      throw DeliveryError.permanent(`no web chat conversation "${message.client_id}" (it never started, or had no activity for 7 days)`, 'no_conversation');
    }
  }

  explainFailure(error: DeliveryError): string | undefined {
    if (error.code === 'no_conversation') {
      return 'This reply was not delivered: the visitor\'s web chat no longer exists (no activity for 7 days, or an unknown client_id).';
    }
    return undefined;
  }

  async openMedia(ref: MediaRef): Promise<MediaStream> {
    let file;
    try {
      file = await this.store.getFile(ref.id);
    } catch (err) {
      throw DeliveryError.transient(redact(`Redis: ${(err as Error).message}`), 'redis');
    }
    if (!file) throw DeliveryError.permanent('the upload expired', 'expired');
    return { stream: Readable.from(file.data), contentType: servableType(file.mime), fileName: file.name, size: file.data.length };
  }

  async check(): Promise<CheckResult[]> {
    return [{ ok: true, name: `webchat ${this.ctx.channelId}`, detail: `chat page at ${this.ctx.publicUrl}/chat/${encodeURIComponent(this.ctx.channelId)}` }];
  }

  /** The entry as the page shows it: a visitor's file becomes a freshly signed link. */
  toClient(e: StoredEntry): ChatEntry {
    const out: ChatEntry = { id: e.id, from: e.from, type: e.type, data: e.file ? this.ctx.media.link(e.file) : (e.data ?? ''), at: e.at };
    if (e.file?.name) out.name = e.file.name;
    if (e.file?.size !== undefined) out.size = e.file.size;
    return out;
  }

  private onPush(message: string): void {
    let push: { v?: unknown; e?: StoredEntry; o?: unknown };
    try {
      push = JSON.parse(message) as typeof push;
    } catch {
      return;
    }
    if (typeof push.v !== 'string' || !push.e) return;
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
