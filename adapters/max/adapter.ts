/**
 * The MAX adapter: receives updates (long polling or webhook), normalizes them into Custom App
 * messages, sends agents' replies within MAX's declared limits and serves users' files.
 */
import type {
  Adapter,
  AdapterContext,
  CheckResult,
  MediaRef,
  MediaStream,
  OutboundMessage,
  SendContext,
  SendLimits,
  WebhookReply,
  WebhookRequest,
} from '../../src/adapter.js';
import {
  cleanFileName,
  DeliveryError,
  type Download,
  DownloadFailed,
  DownloadRefused,
  openDownload,
  redact,
  safeEqual,
  servableType,
} from '../../src/toolkit/index.js';
import { MaxApi, type BotInfo } from './api.js';
import { ChatTitles } from './chat-titles.js';
import { classifyMaxError, describeForAgent } from './errors.js';
import { isGroupChat, MAX_LIMITS } from './limits.js';
import { decodeMediaRef } from './media.js';
import { normalizeUpdate } from './normalize.js';
import { MaxPoller } from './polling.js';
import { sendToMax } from './send.js';
import { sendLimits, UPDATE_TYPES, type MaxSettings } from './settings.js';
import { parseUpdate, type MaxMessage, type ParsedUpdate } from './updates.js';

/** MAX's largest file (4 GB): the bridge serves whatever MAX holds. */
const MAX_MEDIA_BYTES = 4 * 1024 ** 3;
/** Video download URLs from GET /videos/{token}, best first. */
const VIDEO_QUALITIES = ['mp4_1080', 'mp4_720', 'mp4_480', 'mp4_360', 'mp4_240', 'mp4_144'];

export class MaxAdapter implements Adapter {
  readonly type = 'max';
  readonly settings: MaxSettings;
  readonly api: MaxApi;
  readonly limits: SendLimits;
  private readonly titles: ChatTitles;
  private me: BotInfo | undefined;
  private poller: MaxPoller | undefined;
  private watch: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: AdapterContext<MaxSettings>) {
    this.settings = ctx.settings;
    this.api = new MaxApi({ token: this.settings.token, apiRoot: this.settings.apiRoot, timeoutMs: this.settings.requestTimeout });
    this.limits = sendLimits(this.settings, MAX_LIMITS);
    this.titles = new ChatTitles(ctx.redis, `${ctx.redisPrefix}:max-chat:${ctx.channelId}`, this.api, ctx.log);
  }

  get webhookUrl(): string {
    return `${this.ctx.publicUrl}/max/${encodeURIComponent(this.ctx.channelId)}`;
  }

  isGroup(clientId: string): boolean {
    return isGroupChat(clientId);
  }

  async start(): Promise<void> {
    this.me = await this.api.me();
    if (this.settings.mode === 'webhook') {
      await this.subscribe();
      this.ctx.log.info({ bot: this.me.username, url: this.webhookUrl }, 'MAX webhook subscription set');
      if (this.settings.subscriptionCheck > 0) {
        this.watch = setInterval(() => void this.keepSubscribed(), this.settings.subscriptionCheck);
        this.watch.unref();
      }
      return;
    }
    // GET /updates is refused while a subscription exists; what MAX holds stays for the poll.
    for (const sub of await this.api.subscriptions()) {
      await this.api.unsubscribe(sub.url);
      this.ctx.log.warn({ url: sub.url }, 'removed a MAX webhook subscription: it blocks long polling');
    }
    this.poller = new MaxPoller({
      api: this.api,
      redis: this.ctx.redis,
      leaseKey: `${this.ctx.redisPrefix}:poller:${this.ctx.channelId}`,
      markerKey: `${this.ctx.redisPrefix}:max-marker:${this.ctx.channelId}`,
      log: this.ctx.log,
      pollTimeoutS: this.settings.pollTimeout,
      leaseMs: this.settings.pollLease,
      handle: (raw) => this.receivePolled(raw),
    });
    this.poller.start();
    this.ctx.log.info({ bot: this.me.username }, 'MAX polling started');
  }

  async stop(): Promise<void> {
    if (this.watch) clearInterval(this.watch);
    this.watch = undefined;
    await this.poller?.stop();
  }

  subscribe(): Promise<void> {
    return this.api.subscribe(this.webhookUrl, this.settings.webhookSecret, UPDATE_TYPES);
  }

  /** MAX drops a subscription after 8 hours of failed deliveries: put it back, loudly. */
  async keepSubscribed(): Promise<void> {
    try {
      const subs = await this.api.subscriptions();
      if (subs.some((s) => s.url === this.webhookUrl)) return;
      this.ctx.log.error(
        { url: this.webhookUrl },
        'MAX has no webhook subscription for this bridge (it drops one after 8 hours of failed deliveries); subscribing again',
      );
      await this.subscribe();
    } catch (err) {
      this.ctx.log.warn({ err: classifyMaxError(err).message }, 'could not check the MAX webhook subscription');
    }
  }

  private get botUsername(): string {
    return this.me?.username ?? '';
  }

  /** Polled updates: a malformed one is logged and passed over (refusing it would stop the poll). */
  private async receivePolled(raw: unknown): Promise<void> {
    const parsed = parseUpdate(raw);
    if ('problem' in parsed) {
      this.ctx.log.warn({ problem: parsed.problem }, 'malformed MAX update skipped');
      return;
    }
    await this.receive(parsed.update);
  }

  /** Normalizes and durably queues one update; 'skipped' when it has nothing for an agent. */
  async receive(update: ParsedUpdate): Promise<'queued' | 'duplicate' | 'skipped'> {
    if (update.update_type === 'chat_title_changed' && 'title' in update) {
      await this.titles.remember(update.chat_id, update.title);
      return 'skipped';
    }
    const groupChat = groupChatOf(update);
    const title = groupChat === undefined ? undefined : await this.titles.lookup(groupChat);
    const n = normalizeUpdate(update, {
      botUsername: this.botUsername,
      botUserId: this.me?.user_id,
      mediaLink: (ref) => this.ctx.media.link(ref),
      chatTitle: (id) => (id === groupChat ? title : undefined),
    });
    if (n.messages.length === 0) {
      this.ctx.log.debug({ type: update.update_type, reason: n.skipped }, 'update skipped');
      await this.answerButton(n.callback);
      return 'skipped';
    }
    const correlationId = `max-${this.ctx.channelId}-${n.dedupeId}`;
    this.ctx.log.info({ cid: correlationId, event: 'received', count: n.messages.length }, 'update received');
    const result = await this.ctx.inbound.enqueue(n.messages, { dedupeId: n.dedupeId, correlationId, event: n.event });
    await this.answerButton(n.callback);
    return result;
  }

  /**
   * A pressed button waits for the bot's answer (POST /answers, which needs a notification or a
   * message: the button's label is the notification). Answered once the press is queued, so a tap
   * is never acknowledged and lost; best effort.
   */
  private async answerButton(callback: { id: string; label?: string } | undefined): Promise<void> {
    if (!callback) return;
    try {
      // The webhook waits for this answer, and MAX waits at most 30 s for the webhook's.
      await this.api.answer(callback.id, callback.label ?? '✓', Math.min(this.settings.requestTimeout, 5000));
    } catch (err) {
      this.ctx.log.debug({ err: classifyMaxError(err).message }, 'answering the MAX button press failed');
    }
  }

  /** The secret header, checked before the body is read (the core asks this first). */
  authorizeWebhook(headers: WebhookRequest['headers']): WebhookReply | undefined {
    const given = headers['x-max-bot-api-secret'];
    if (typeof given === 'string' && safeEqual(given, this.settings.webhookSecret)) return undefined;
    return { status: 401, body: { error: 'unauthorized', message: 'missing or wrong X-Max-Bot-Api-Secret header' } };
  }

  async handleWebhook(req: WebhookRequest): Promise<WebhookReply> {
    const refused = this.authorizeWebhook(req.headers);
    if (refused) return refused;
    const parsed = parseUpdate(req.body);
    if ('problem' in parsed) return { status: 400, body: { error: 'bad_request', message: parsed.problem } };
    // MAX counts only 200 as delivered (201 or 204 would be retried).
    return { status: 200, body: { ok: true, result: await this.receive(parsed.update) } };
  }

  async send(message: OutboundMessage, ctx: SendContext): Promise<void> {
    return sendToMax(
      {
        api: this.api,
        redis: this.ctx.redis,
        uploadKeyPrefix: `${this.ctx.redisPrefix}:max-upload:${this.ctx.channelId}`,
        allowPrivateUrls: this.ctx.allowPrivateUrls,
        timeoutMs: this.settings.requestTimeout,
        log: this.ctx.log,
      },
      message,
      ctx,
    );
  }

  explainFailure(error: DeliveryError): string | undefined {
    return describeForAgent(error);
  }

  async openMedia(ref: MediaRef): Promise<MediaStream> {
    const media = decodeMediaRef(ref.id);
    if (!media) throw DeliveryError.permanent('not a MAX file reference', 'bad_ref');
    let url = media.url;
    if (media.kind === 'video' && media.token) {
      // A video's attachment URL may be a player page; GET /videos/{token} has the files.
      const urls = await this.api.videoUrls(media.token).catch(() => ({}) as Record<string, string>);
      url = VIDEO_QUALITIES.map((q) => urls[q]).find((u): u is string => typeof u === 'string' && /^https?:\/\//.test(u)) ?? url;
    }
    let download: Download;
    try {
      download = await openDownload(url, {
        maxBytes: MAX_MEDIA_BYTES,
        allowPrivate: this.ctx.allowPrivateUrls,
        timeoutMs: this.settings.requestTimeout,
      });
    } catch (err) {
      throw mediaError(err);
    }
    return {
      stream: download.stream,
      contentType: servableType(ref.mime ?? download.contentType),
      fileName: cleanFileName(ref.name ?? download.fileName, media.kind),
      size: download.size ?? ref.size,
    };
  }

  async check(): Promise<CheckResult[]> {
    const name = `max ${this.ctx.channelId}`;
    let me: BotInfo;
    try {
      me = await this.api.me();
    } catch (err) {
      return [{ ok: false, name: `${name}: /me`, detail: classifyMaxError(err).message, fix: 'check MAX_BOT_TOKEN and MAX_API_ROOT' }];
    }
    const results: CheckResult[] = [
      { ok: true, name: `${name}: /me`, detail: `${me.first_name ?? me.name ?? ''} @${me.username ?? ''}`.trim() },
    ];
    try {
      results.push(this.subscriptionCheck(await this.api.subscriptions()));
    } catch (err) {
      results.push({ ok: false, name: `${name}: webhook`, detail: classifyMaxError(err).message, fix: 'check MAX_API_ROOT' });
    }
    return results;
  }

  private subscriptionCheck(subs: Array<{ url: string; time?: number | null }>): CheckResult {
    const name = `max ${this.ctx.channelId}: webhook`;
    const urls = subs.map((s) => s.url).join(', ');
    if (this.settings.mode === 'polling') {
      return subs.length === 0
        ? {
            ok: true,
            warning: true,
            name,
            detail: 'no subscription: long polling works',
            fix: 'MAX recommends a webhook in production: MAX_MODE=webhook with an https PUBLIC_URL on port 443',
          }
        : {
            ok: false,
            name,
            detail: `subscribed to ${urls}, which blocks long polling`,
            fix: 'run "blinger-bridge max webhook delete" (a polling bridge also removes it when it starts)',
          };
    }
    const ours = subs.find((s) => s.url === this.webhookUrl);
    if (ours) {
      const since = typeof ours.time === 'number' ? ` since ${new Date(ours.time).toISOString()}` : '';
      return { ok: true, name, detail: `subscribed to ${ours.url}${since}` };
    }
    return {
      ok: false,
      name,
      detail: subs.length ? `subscribed to ${urls}, not to ${this.webhookUrl}` : 'no subscription',
      fix: 'run "blinger-bridge max webhook set"; MAX drops a subscription after 8 hours of failed deliveries, so check that PUBLIC_URL answers over https on port 443',
    };
  }
}

/** The group chat of an update whose conversation needs a title (undefined for dialogs). */
function groupChatOf(update: ParsedUpdate): number | undefined {
  const message = 'message' in update ? (update.message as MaxMessage | null | undefined) : undefined;
  if (!message) return undefined;
  const { chat_id, chat_type } = message.recipient;
  return chat_type === 'chat' || chat_type === 'channel' || (chat_type == null && chat_id < 0) ? chat_id : undefined;
}

function mediaError(err: unknown): DeliveryError {
  if (err instanceof DownloadRefused) return DeliveryError.permanent(`MAX's file: ${err.message}`, `download_${err.code}`);
  if (
    err instanceof DownloadFailed &&
    err.status !== undefined &&
    err.status >= 400 &&
    err.status < 500 &&
    err.status !== 408 &&
    err.status !== 429
  ) {
    return DeliveryError.permanent(`MAX no longer serves this file (${err.status})`, 'media_gone');
  }
  return DeliveryError.transient(redact(`MAX's file could not be fetched: ${(err as Error)?.message ?? String(err)}`), 'download_failed');
}
