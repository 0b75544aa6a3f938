/**
 * The Telegram adapter: receives updates (long polling or webhook), normalizes them into Custom
 * App messages, sends agents' replies within Telegram's limits (declared for the core's pacer) and serves files.
 */
import { basename } from 'node:path';
import axios from 'axios';
import type { Telegram } from 'telegraf';
import type { Update, UserFromGetMe } from 'telegraf/types';
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
import { DeliveryError, redact, safeEqual } from '../../src/toolkit/index.js';
import { callWithTimeout, createTelegram } from './api.js';
import { interpretUpdate } from './interpret.js';
import { ReplyRoutes } from './reply-route.js';
import { TelegramPoller } from './polling.js';
import { sendToTelegram } from './send.js';
import { classifyTelegramError, describeForAgent } from './errors.js';
import { ALLOWED_UPDATES, type TelegramSettings } from './settings.js';
import { isGroupChat, sendLimits } from './limits.js';

export class TelegramAdapter implements Adapter {
  readonly type = 'telegram';
  readonly settings: TelegramSettings;
  readonly telegram: Telegram;
  readonly limits: SendLimits;
  /** Forum topic and business connection of the chats that have one (reply-route.ts). */
  private readonly routes: ReplyRoutes;
  private me: UserFromGetMe | undefined;
  private poller: TelegramPoller | undefined;

  constructor(private readonly ctx: AdapterContext<TelegramSettings>) {
    this.settings = ctx.settings;
    this.telegram = createTelegram(this.settings.token, this.settings.apiRoot);
    this.limits = sendLimits(this.settings.limits);
    this.routes = new ReplyRoutes(ctx.redis, `${ctx.redisPrefix}:tg-route:${ctx.channelId}`);
  }

  get webhookUrl(): string {
    return `${this.ctx.publicUrl}/telegram/${encodeURIComponent(this.ctx.channelId)}`;
  }

  get botUsername(): string {
    return this.me?.username ?? '';
  }

  async start(): Promise<void> {
    this.me = (await callWithTimeout(this.telegram, 'getMe', {} as never, this.settings.requestTimeout)) as unknown as UserFromGetMe;
    if (this.settings.mode === 'webhook') {
      await this.setWebhook();
      this.ctx.log.info({ bot: this.me.username, url: this.webhookUrl }, 'Telegram webhook set');
      return;
    }
    // getUpdates answers 409 while a webhook is set; pending updates stay queued at Telegram.
    await callWithTimeout(this.telegram, 'deleteWebhook', { drop_pending_updates: false } as never, this.settings.requestTimeout);
    this.poller = new TelegramPoller({
      telegram: this.telegram,
      redis: this.ctx.redis,
      leaseKey: `${this.ctx.redisPrefix}:poller:${this.ctx.channelId}`,
      log: this.ctx.log,
      pollTimeoutS: this.settings.pollTimeout,
      leaseMs: this.settings.pollLease,
      handle: (u) => this.receive(u).then(() => undefined),
    });
    this.poller.start();
    this.ctx.log.info({ bot: this.me.username }, 'Telegram polling started');
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
  }

  setWebhook(): Promise<unknown> {
    return callWithTimeout(
      this.telegram,
      'setWebhook',
      { url: this.webhookUrl, secret_token: this.settings.webhookSecret, allowed_updates: [...ALLOWED_UPDATES] } as never,
      this.settings.requestTimeout,
    );
  }

  /** Normalizes and durably queues one update; 'skipped' when it has nothing for an agent. */
  async receive(update: Update): Promise<'queued' | 'duplicate' | 'skipped'> {
    const seen = interpretUpdate(update, { botUsername: this.botUsername, mediaLink: (ref) => this.ctx.media.link(ref) });
    if (seen.messages.length === 0) {
      this.ctx.log.debug({ updateId: update.update_id, reason: seen.skipped }, 'update skipped');
      await this.answerButton(update);
      return 'skipped';
    }
    const correlationId = `tg-${this.ctx.channelId}-${update.update_id}`;
    this.ctx.log.info({ cid: correlationId, event: 'received', count: seen.messages.length }, 'update received');
    // Before queuing, so even a bot flow's immediate answer to this message finds its topic.
    if (seen.route) await this.routes.remember(seen.route.chatId, seen.route.route);
    const result = await this.ctx.inbound.enqueue(seen.messages, { dedupeId: `tg:${update.update_id}`, correlationId, event: seen.event });
    await this.answerButton(update);
    return result;
  }

  /**
   * A pressed inline button shows a spinner until the bot answers the callback query. Answered
   * once the press is queued (so the user's tap is never acknowledged and lost); best effort —
   * a failure only leaves the spinner until Telegram gives up on it.
   */
  private async answerButton(update: Update): Promise<void> {
    const id = 'callback_query' in update ? update.callback_query.id : undefined;
    if (!id) return;
    try {
      await callWithTimeout(
        this.telegram,
        'answerCallbackQuery',
        { callback_query_id: id } as never,
        Math.min(this.settings.requestTimeout, 5000),
      );
    } catch (err) {
      this.ctx.log.debug({ updateId: update.update_id, err: redact(String((err as Error)?.message ?? err)) }, 'answerCallbackQuery failed');
    }
  }

  /** The secret header, checked before the body is read (the core asks this first). */
  authorizeWebhook(headers: WebhookRequest['headers']): WebhookReply | undefined {
    const given = headers['x-telegram-bot-api-secret-token'];
    if (typeof given === 'string' && safeEqual(given, this.settings.webhookSecret)) return undefined;
    return { status: 401, body: { error: 'unauthorized', message: 'missing or wrong X-Telegram-Bot-Api-Secret-Token header' } };
  }

  async handleWebhook(req: WebhookRequest): Promise<WebhookReply> {
    const refused = this.authorizeWebhook(req.headers);
    if (refused) return refused;
    const body = req.body as { update_id?: unknown } | null;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return { status: 400, body: { error: 'bad_request', message: 'expected a JSON object (a Telegram Update)' } };
    }
    if (!Number.isSafeInteger(body.update_id) || (body.update_id as number) < 0) {
      return { status: 400, body: { error: 'bad_request', message: 'update_id: expected a non-negative integer' } };
    }
    const result = await this.receive(body as Update);
    return { status: 200, body: { ok: true, result } };
  }

  isGroup(clientId: string): boolean {
    return isGroupChat(clientId);
  }

  async send(message: OutboundMessage, progress?: SendContext): Promise<void> {
    const route = await this.routes.lookup(message.client_id);
    const opts = {
      pace: progress?.pace,
      telegram: this.telegram,
      allowPrivateUrls: this.ctx.allowPrivateUrls,
      timeoutMs: this.settings.requestTimeout,
      log: this.ctx.log,
      onTopicGone: () => this.routes.forgetTopic(message.client_id, route),
    };
    return sendToTelegram(opts, message, progress, route);
  }

  explainFailure(error: DeliveryError): string | undefined {
    return describeForAgent(error);
  }

  async openMedia(ref: MediaRef): Promise<MediaStream> {
    let filePath: string | undefined;
    try {
      const file = (await callWithTimeout(
        this.telegram,
        'getFile',
        { file_id: ref.id } as never,
        this.settings.requestTimeout,
      )) as unknown as { file_path?: string; file_size?: number };
      filePath = file.file_path;
    } catch (err) {
      throw classifyTelegramError(err);
    }
    if (!filePath) throw DeliveryError.permanent('Telegram returned no file_path for this file', 'no_file_path');
    // This URL embeds the bot token: it is used here only and never logged or returned.
    const url = `${this.settings.apiRoot}/file/bot${this.settings.token}/${filePath}`;
    try {
      const res = await axios.get(url, { responseType: 'stream', timeout: this.settings.requestTimeout, validateStatus: (s) => s === 200 });
      const len = Number(res.headers['content-length']);
      return {
        stream: res.data,
        contentType: ref.mime ?? (res.headers['content-type'] as string | undefined),
        fileName: ref.name ?? basename(filePath),
        size: Number.isFinite(len) ? len : ref.size,
      };
    } catch (err) {
      throw DeliveryError.transient(redact(`file download from Telegram failed: ${(err as Error).message}`), 'download_failed');
    }
  }

  async check(): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    try {
      const me = (await callWithTimeout(this.telegram, 'getMe', {} as never, this.settings.requestTimeout)) as unknown as UserFromGetMe;
      results.push({ ok: true, name: `telegram ${this.ctx.channelId}: getMe`, detail: `@${me.username}` });
      const info = (await callWithTimeout(this.telegram, 'getWebhookInfo', {} as never, this.settings.requestTimeout)) as unknown as {
        url: string;
        pending_update_count: number;
        last_error_message?: string;
      };
      const wrongUrl = this.settings.mode === 'webhook' && info.url !== this.webhookUrl;
      results.push({
        ok: !info.last_error_message && !wrongUrl,
        name: `telegram ${this.ctx.channelId}: webhook`,
        detail: `${info.url ? `set to ${info.url}` : 'not set'}, ${info.pending_update_count} pending${info.last_error_message ? `, last error: ${info.last_error_message}` : ''}`,
        fix: wrongUrl
          ? `run "blinger-bridge telegram webhook set" (expected ${this.webhookUrl})`
          : 'check that PUBLIC_URL is reachable from the internet over https',
      });
    } catch (err) {
      results.push({
        ok: false,
        name: `telegram ${this.ctx.channelId}: getMe`,
        detail: classifyTelegramError(err).message,
        fix: 'check TELEGRAM_BOT_TOKEN and TELEGRAM_API_ROOT',
      });
    }
    return results;
  }
}
