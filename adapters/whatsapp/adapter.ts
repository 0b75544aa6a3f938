/**
 * The WhatsApp Cloud API adapter: Meta's Graph webhook in (handshake, signature over the raw body,
 * one queued event per message), agents' replies out through `/<phone-number-id>/messages`, media
 * served on demand through the bridge's signed links, the 24-hour window handled.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
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
  DeliveryError,
  GraphClient,
  checkGraphWebhook,
  classifyGraphError,
  enqueueGraphBatch,
  redact,
  toGraphError,
} from '../../src/toolkit/index.js';
import { classifyWhatsAppError, describeForAgent } from './errors.js';
import { normalizeWebhook } from './normalize.js';
import { sendTemplate, sendToWhatsApp, type WhatsAppSender } from './send.js';
import type { WhatsAppSettings } from './settings.js';

/**
 * Meta's limits (docs/vendors/meta.md §3.4): 80 messages/s per business number by default
 * (inbound counts too), and about one message per 6 s to one user (the pair rate, 131056).
 */
export const WHATSAPP_LIMITS: Required<Pick<SendLimits, 'account' | 'conversation'>> = {
  account: { max: 80, windowMs: 1000 },
  conversation: { max: 1, windowMs: 6000 },
};

/** A re-opening template goes to a conversation at most once in this time. */
const REOPEN_EVERY_MS = 24 * 3_600_000;

/** What a notification must look like before its messages are read one by one (malformed → 400). */
const notification = z.object({
  object: z.literal('whatsapp_business_account', { error: 'expected "whatsapp_business_account"' }),
  entry: z.array(
    z.object({
      changes: z.array(z.object({ field: z.string(), value: z.record(z.string(), z.unknown()) })),
    }),
  ),
});

export class WhatsAppAdapter implements Adapter {
  readonly type = 'whatsapp';
  readonly limits: SendLimits;
  readonly settings: WhatsAppSettings;
  private readonly graph: GraphClient;
  private readonly sender: WhatsAppSender;
  /** Re-opening templates sent after a failed-status webhook, awaited by stop(). */
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly ctx: AdapterContext<WhatsAppSettings>) {
    const s = (this.settings = ctx.settings);
    this.graph = new GraphClient({ apiRoot: s.apiRoot, apiVersion: s.apiVersion, accessToken: s.accessToken, timeoutMs: s.requestTimeout });
    this.sender = {
      graph: this.graph,
      phoneNumberId: s.phoneNumberId,
      mediaBy: s.mediaBy,
      allowPrivateUrls: ctx.allowPrivateUrls,
      timeoutMs: s.requestTimeout,
      log: ctx.log,
    };
    this.limits = {
      account: s.limits?.account ?? WHATSAPP_LIMITS.account,
      conversation: s.limits?.conversation ?? WHATSAPP_LIMITS.conversation,
    };
  }

  get webhookUrl(): string {
    return `${this.ctx.publicUrl}/whatsapp/${encodeURIComponent(this.ctx.channelId)}`;
  }

  async start(): Promise<void> {
    // Webhook only: Meta calls us. Nothing to register from here (the callback URL is set in the Meta app).
    this.ctx.log.info({ url: this.webhookUrl, phoneNumberId: this.settings.phoneNumberId }, 'WhatsApp webhook ready');
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.background]);
  }

  async handleWebhook(req: WebhookRequest): Promise<WebhookReply> {
    const refused = checkGraphWebhook(req, this.settings, notification);
    if (refused) return refused;
    const { events, skipped } = normalizeWebhook(req.body as Record<string, unknown>, this.settings.phoneNumberId, {
      mediaLink: (ref) => this.ctx.media.link(ref),
      botFlow: this.ctx.botFlow,
      ...(this.settings.template ? { template: this.settings.template } : {}),
    });
    for (const s of skipped) this.ctx.log.debug({ id: s.id, reason: s.reason }, 'WhatsApp webhook item skipped');
    const counts = await enqueueGraphBatch(events, {
      inbound: this.ctx.inbound,
      log: this.ctx.log,
      channelId: this.ctx.channelId,
      prefix: 'wa',
      name: 'WhatsApp',
    });
    for (const e of events) if (e.reopen) this.inBackground(this.reopen(e.clientId, async () => undefined));
    // Meta counts only 200 as delivered.
    return { status: 200, body: { ok: true, ...counts, skipped: skipped.length } };
  }

  async send(message: OutboundMessage, ctx: SendContext): Promise<void> {
    try {
      await sendToWhatsApp(this.sender, message, ctx);
    } catch (err) {
      if (err instanceof DeliveryError && err.code === 'window_closed') await this.reopen(message.client_id, (kind) => ctx.pace(kind));
      throw err;
    }
  }

  /**
   * Sends the configured re-opening template to a conversation outside the 24-hour window, at
   * most once a day per conversation (a Redis mark, so several refused replies send one template).
   * Best effort: a failure is logged, and the mark removed so a later refusal tries again.
   */
  private async reopen(clientId: string, pace: (kind?: 'message' | 'request') => Promise<void>): Promise<void> {
    const template = this.settings.template;
    if (!template) return;
    const key = `${this.ctx.redisPrefix}:wa-reopen:${this.ctx.channelId}:${clientId}`;
    const redis: Redis = this.ctx.redis;
    try {
      if ((await redis.set(key, '1', 'PX', REOPEN_EVERY_MS, 'NX')) !== 'OK') return;
    } catch (err) {
      this.ctx.log.warn({ client: clientId, err: redact(String(err)) }, 'could not mark the re-opening template; not sending it');
      return;
    }
    try {
      await sendTemplate(this.sender, clientId, template, () => pace());
      this.ctx.log.info({ client: clientId, template: template.name }, 'WhatsApp re-opening template sent');
    } catch (err) {
      this.ctx.log.warn(
        { client: clientId, template: template.name, err: redact(String((err as Error).message)) },
        'WhatsApp re-opening template not sent',
      );
      await redis.del(key).catch(() => undefined);
    }
  }

  private inBackground(job: Promise<void>): void {
    this.background.add(job);
    void job.finally(() => this.background.delete(job));
  }

  explainFailure(error: DeliveryError): string | undefined {
    return describeForAgent(error, this.settings.template);
  }

  /**
   * A user's file: `GET /<media-id>` for a URL that lives five minutes, then that URL with the
   * token, streamed to the agent. A URL that expired in between is fetched anew once.
   */
  async openMedia(ref: MediaRef): Promise<MediaStream> {
    for (let attempt = 1; ; attempt++) {
      let info: { url?: unknown; mime_type?: unknown; file_size?: unknown };
      try {
        info = await this.graph.get(encodeURIComponent(ref.id), { phone_number_id: this.settings.phoneNumberId }, 'WhatsApp media');
      } catch (err) {
        throw classifyWhatsAppError(err, 'WhatsApp media');
      }
      if (typeof info.url !== 'string') throw DeliveryError.permanent('WhatsApp returned no URL for this media', 'no_media_url');
      try {
        const file = await this.graph.download(info.url, 'WhatsApp media download');
        const mime = ref.mime ?? file.contentType ?? (typeof info.mime_type === 'string' ? info.mime_type : undefined);
        const size = file.size ?? (typeof info.file_size === 'number' ? info.file_size : undefined);
        return {
          stream: file.stream,
          ...(mime ? { contentType: mime } : {}),
          ...(ref.name ? { fileName: ref.name } : {}),
          ...(size !== undefined ? { size } : {}),
        };
      } catch (err) {
        const e = toGraphError(err, 'WhatsApp media download');
        if (e.status === 404 && attempt < 2) continue;
        throw classifyGraphError(e, 'WhatsApp media download');
      }
    }
  }

  async check(): Promise<CheckResult[]> {
    const name = `whatsapp ${this.ctx.channelId}`;
    const results: CheckResult[] = [];
    try {
      const info = await this.graph.get<Record<string, unknown>>(
        this.settings.phoneNumberId,
        { fields: 'verified_name,display_phone_number,quality_rating' },
        'WhatsApp phone number',
      );
      const quality = typeof info.quality_rating === 'string' ? `, quality ${info.quality_rating}` : '';
      results.push({
        ok: true,
        name: `${name}: phone number`,
        detail: `+${String(info.display_phone_number ?? '?')} "${String(info.verified_name ?? '')}"${quality}`,
      });
    } catch (err) {
      const e = classifyWhatsAppError(err, 'WhatsApp phone number');
      results.push({ ok: false, name: `${name}: phone number`, detail: e.message, fix: fixFor(e) });
    }
    const https = this.webhookUrl.startsWith('https://');
    results.push({
      ok: true,
      warning: !https,
      name: `${name}: webhook`,
      detail: `Meta calls ${this.webhookUrl} (GET verification, POST messages; subscribe the "messages" field)`,
      ...(https ? {} : { fix: "Meta accepts only https callback URLs: set PUBLIC_URL to the bridge's public https address" }),
    });
    return results;
  }
}

function fixFor(e: DeliveryError): string {
  if (e.code === 'token')
    return 'renew the access token (WHATSAPP_ACCESS_TOKEN): a system user token from Meta Business Settings → System users';
  if (e.code === 'permission' || e.code === 'invalid_request' || e.code.startsWith('graph_'))
    return "check WHATSAPP_PHONE_NUMBER_ID (WhatsApp Manager → API Setup) and that the token's system user has the WhatsApp account with whatsapp_business_messaging and whatsapp_business_management";
  return 'check WHATSAPP_API_ROOT and that the bridge can reach graph.facebook.com';
}
