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
  checkGraphWebhook,
  DeliveryError,
  DownloadFailed,
  DownloadRefused,
  GraphClient,
  isRetryableStatus,
  openDownload,
} from '../../src/toolkit/index.js';
import { classifyMessagingError, describeForAgent } from './errors.js';
import { normalizeWebhook, type MsgEvent } from './normalize.js';
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
    const refused = checkGraphWebhook(req, this.settings);
    if (refused) return refused;
    const shape = this.notification.safeParse(req.body);
    if (!shape.success) {
      const issue = shape.error.issues[0]!;
      return { status: 400, body: { error: 'bad_request', message: `${issue.path.map(String).join('.') || 'body'}: ${issue.message}` } };
    }
    const s = this.settings;
    const { events, skipped } = normalizeWebhook(req.body as Record<string, unknown>, {
      platform: this.platform,
      mediaLink: (ref) => this.ctx.media.link(ref),
      accountId: this.accountId,
      getStartedPayload: s.getStartedPayload,
      ...(s.appId ? { appId: s.appId } : {}),
    });
    for (const x of skipped) this.ctx.log.debug({ id: x.id, reason: x.reason }, `${this.platform.name} webhook item skipped`);
    const counts = await this.enqueueAll(events);
    return { status: 200, body: { ok: true, ...counts, skipped: skipped.length } };
  }

  /**
   * Each event with its own dedupe id, in order within a conversation, conversations side by
   * side; any failure answers 503 and Meta redelivers the batch, whose queued part is a duplicate.
   */
  private async enqueueAll(events: MsgEvent[]): Promise<{ queued: number; duplicate: number }> {
    const byConversation = new Map<string, MsgEvent[]>();
    for (const e of events) byConversation.set(e.clientId, [...(byConversation.get(e.clientId) ?? []), e]);
    const counts = { queued: 0, duplicate: 0 };
    const results = await Promise.allSettled(
      [...byConversation.values()].map(async (list) => {
        for (const e of list) {
          const correlationId = `${this.platform.prefix}-${this.ctx.channelId}-${e.dedupeId.slice(this.platform.prefix.length + 1)}`;
          this.ctx.log.info({ cid: correlationId, event: 'received', count: e.messages.length }, `${this.platform.name} message received`);
          counts[await this.ctx.inbound.enqueue(e.messages, { dedupeId: e.dedupeId, correlationId, event: e.event })] += 1;
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return counts;
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
