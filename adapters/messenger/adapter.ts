/**
 * Messenger and Instagram Direct through Meta's Messenger Platform: the Graph webhook in
 * (handshake, signature over the raw body, one queued event per `messaging[]` item), agents'
 * replies out through the Send API, attachments served through the bridge's signed links.
 */
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
  DownloadFailed,
  DownloadRefused,
  GraphClient,
  checkGraphWebhook,
  enqueueGraphBatch,
  isRetryableStatus,
  openDownload,
} from '../../src/toolkit/index.js';
import { classifyMessagingError, describeForAgent } from './errors.js';
import { normalizeWebhook } from './normalize.js';
import type { Platform } from './platform.js';
import { sendMessaging, type MessagingSender } from './send.js';
import type { MessagingSettings } from './settings.js';

/**
 * The Send API allows 300 calls/s per Page or Instagram account for text (10/s for audio and
 * video); Meta documents no per-conversation number (docs/vendors/meta.md §4).
 */
export const MESSAGING_LIMITS: SendLimits = { account: { max: 300, windowMs: 1000 } };

/** Attachments a user sent are fetched from Meta's CDN on demand, at most this big. */
const MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024;

export class MessagingAdapter implements Adapter {
  readonly type: Platform['type'];
  readonly limits: SendLimits;
  readonly settings: MessagingSettings;
  private readonly graph: GraphClient;
  private readonly sender: MessagingSender;
  private readonly notification: z.ZodType;

  constructor(
    private readonly ctx: AdapterContext<MessagingSettings>,
    private readonly platform: Platform,
  ) {
    const s = (this.settings = ctx.settings);
    this.type = platform.type;
    this.graph = new GraphClient({ apiRoot: s.apiRoot, apiVersion: s.apiVersion, accessToken: s.accessToken, timeoutMs: s.requestTimeout });
    this.sender = { graph: this.graph, platform, pageId: s.pageId, humanAgent: s.humanAgent };
    this.limits = {
      account: s.limits?.account ?? MESSAGING_LIMITS.account!,
      ...(s.limits?.conversation ? { conversation: s.limits.conversation } : {}),
    };
    this.notification = z.object({
      object: z.literal(platform.object, { error: `expected "${platform.object}"` }),
      entry: z.array(z.object({ messaging: z.array(z.record(z.string(), z.unknown())).optional() })),
    });
  }

  get webhookUrl(): string {
    return `${this.ctx.publicUrl}/${this.platform.type}/${encodeURIComponent(this.ctx.channelId)}`;
  }

  private get accountId(): string {
    const s = this.settings;
    return s.type === 'instagram' ? (s.accountId ?? s.pageId) : s.pageId;
  }

  async start(): Promise<void> {
    this.ctx.log.info({ url: this.webhookUrl, account: this.accountId }, `${this.platform.name} webhook ready`);
  }

  async stop(): Promise<void> {}

  async handleWebhook(req: WebhookRequest): Promise<WebhookReply> {
    const refused = checkGraphWebhook(req, this.settings, this.notification);
    if (refused) return refused;
    const s = this.settings;
    const { events, skipped } = normalizeWebhook(req.body as Record<string, unknown>, {
      platform: this.platform,
      mediaLink: (ref) => this.ctx.media.link(ref),
      accountId: this.accountId,
      getStartedPayload: s.getStartedPayload,
      ...(s.appId ? { appId: s.appId } : {}),
    });
    for (const x of skipped) this.ctx.log.debug({ id: x.id, reason: x.reason }, `${this.platform.name} webhook item skipped`);
    const counts = await enqueueGraphBatch(events, {
      inbound: this.ctx.inbound,
      log: this.ctx.log,
      channelId: this.ctx.channelId,
      prefix: this.platform.prefix,
      name: this.platform.name,
    });
    return { status: 200, body: { ok: true, ...counts, skipped: skipped.length } };
  }

  send(message: OutboundMessage, ctx: SendContext): Promise<void> {
    return sendMessaging(this.sender, message, ctx);
  }

  explainFailure(error: DeliveryError): string | undefined {
    return describeForAgent(error, this.platform, this.settings.humanAgent);
  }

  /** An attachment the user sent: its CDN URL (no token), fetched like any untrusted URL. */
  async openMedia(ref: MediaRef): Promise<MediaStream> {
    try {
      const d = await openDownload(ref.id, {
        maxBytes: MAX_ATTACHMENT_BYTES,
        allowPrivate: this.ctx.allowPrivateUrls,
        timeoutMs: this.settings.requestTimeout,
      });
      const type = ref.mime ?? d.contentType;
      const name = ref.name ?? d.fileName;
      return {
        stream: d.stream,
        ...(type ? { contentType: type } : {}),
        ...(name ? { fileName: name } : {}),
        ...(d.size !== undefined ? { size: d.size } : {}),
      };
    } catch (err) {
      if (err instanceof DownloadRefused) throw DeliveryError.permanent(err.message, `download_${err.code}`);
      if (err instanceof DownloadFailed && err.status !== undefined && !isRetryableStatus(err.status)) {
        // Meta's attachment links expire: gone is gone.
        throw DeliveryError.permanent(`${this.platform.name} attachment: ${err.message}`, 'download_http');
      }
      throw DeliveryError.transient(
        `${this.platform.name} attachment: ${err instanceof Error ? err.message : String(err)}`,
        'download_failed',
      );
    }
  }

  async check(): Promise<CheckResult[]> {
    const name = `${this.platform.type} ${this.ctx.channelId}`;
    const results: CheckResult[] = [];
    const fields = this.platform.type === 'messenger' ? 'name' : 'username';
    try {
      const info = await this.graph.get<Record<string, unknown>>(this.settings.pageId, { fields }, `${this.platform.name} account`);
      results.push({ ok: true, name: `${name}: account`, detail: `${String(info[fields] ?? '?')} (${this.settings.pageId})` });
    } catch (err) {
      const e = classifyMessagingError(err, this.platform, `${this.platform.name} account`);
      const fix =
        e.code === 'token'
          ? `renew the ${this.platform.type === 'messenger' ? 'Page' : 'Instagram'} access token (adapter setting accessToken)`
          : e.code === 'bad_response' || e.code === 'network' || e.code === 'timeout'
            ? 'check apiRoot and that the bridge can reach the Graph API'
            : 'check pageId and that the token belongs to that account with the messaging permission';
      results.push({ ok: false, name: `${name}: account`, detail: e.message, fix });
    }
    const https = this.webhookUrl.startsWith('https://');
    results.push({
      ok: true,
      warning: !https,
      name: `${name}: webhook`,
      detail: `Meta calls ${this.webhookUrl} (subscribe the "messages" and "messaging_postbacks" fields)`,
      ...(https ? {} : { fix: "Meta accepts only https callback URLs: set PUBLIC_URL to the bridge's public https address" }),
    });
    return results;
  }
}
