/**
 * The HTTP channel (docs/architecture.md, "The HTTP channel"): an in-house app, a mobile app's backend, or a messenger without
 * an adapter posts its users' messages to the bridge, and gets agents' replies POSTed back, both
 * ways signed with Standard Webhooks. Built only from the adapter contract and the toolkit.
 */
import axios, { type AxiosResponse } from 'axios';
import type {
  Adapter,
  AdapterContext,
  CheckResult,
  OutboundMessage,
  SendContext,
  WebhookReply,
  WebhookRequest,
} from '../../src/adapter.js';
import {
  DeliveryError,
  keepAliveAgents,
  redact,
  retryAfterMs,
  verifyWebhook,
  webhookHeaders,
  webhookHeadersProblem,
} from '../../src/toolkit/index.js';
import { describeIssues, inboundSchema, toInbound } from './message.js';
import type { HttpSettings } from './settings.js';

const USER_GONE = 'user_gone';

export class HttpChannelAdapter implements Adapter {
  readonly type = 'http';
  readonly settings: HttpSettings;
  /** Every reply is a POST to the same app: keep its connections. */
  private readonly agents = keepAliveAgents();

  constructor(private readonly ctx: AdapterContext<HttpSettings>) {
    this.settings = ctx.settings;
  }

  // Nothing to start: the app posts to the bridge.
  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Before the body: the three signature headers must be there and the timestamp recent. */
  authorizeWebhook(headers: WebhookRequest['headers']): WebhookReply | undefined {
    const problem = webhookHeadersProblem(headers);
    return problem ? { status: 401, body: { error: 'unauthorized', message: problem } } : undefined;
  }

  /** POST /http/:channelId/messages: signature on the raw body first, then the fields. */
  async handleWebhook(req: WebhookRequest): Promise<WebhookReply> {
    const verified = verifyWebhook(this.settings.secret, req.headers, req.rawBody ?? Buffer.alloc(0));
    if (!verified.ok) return { status: 401, body: { error: 'unauthorized', message: verified.problem } };
    if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      return { status: 400, body: { error: 'bad_request', message: 'body: expected a JSON object' } };
    }
    const parsed = inboundSchema.safeParse(req.body);
    if (!parsed.success) return { status: 400, body: { error: 'bad_request', message: describeIssues(parsed.error) } };
    const { messages, event } = toInbound(parsed.data);
    const correlationId = `http-${this.ctx.channelId}-${verified.id}`;
    // A repeated webhook-id (the app retried) is acknowledged and not delivered again.
    await this.ctx.inbound.enqueue(messages, { dedupeId: `http:${verified.id}`, correlationId, event });
    return { status: 200, body: { id: verified.id } };
  }

  async send(message: OutboundMessage, ctx: SendContext): Promise<void> {
    const body = JSON.stringify({
      type: 'message',
      channel: this.ctx.channelId,
      user_id: message.client_id,
      message: {
        type: message.type,
        ...(message.type === 'text' ? { text: message.data } : { url: message.data }),
        ...(message.keyboard ? { keyboard: message.keyboard } : {}),
      },
    });
    // The id is the message's across retries (the app dedupes on it); the timestamp is fresh.
    const headers = { 'content-type': 'application/json', ...webhookHeaders(this.settings.secret, `msg_${ctx.messageId}`, body) };
    await ctx.pace();
    let res: AxiosResponse;
    try {
      res = await axios.post(this.settings.deliveryUrl, body, {
        headers,
        ...this.agents,
        timeout: this.settings.timeout,
        maxRedirects: 0,
        validateStatus: () => true,
        transformRequest: [(data: unknown) => data],
        responseType: 'text',
      });
    } catch (err) {
      throw DeliveryError.transient(
        redact(`the app did not answer: ${(err as Error).message}`),
        (err as { code?: string }).code === 'ECONNABORTED' ? 'timeout' : 'network',
      );
    }
    throwForStatus(res);
  }

  explainFailure(error: DeliveryError): string | undefined {
    return error.code === USER_GONE ? 'Not delivered: the app says this user can no longer be reached (410 Gone).' : undefined;
  }

  async check(): Promise<CheckResult[]> {
    const name = `http ${this.ctx.channelId}: delivery URL`;
    try {
      const res = await axios.get(this.settings.deliveryUrl, {
        timeout: Math.min(this.settings.timeout, 5000),
        maxRedirects: 0,
        validateStatus: () => true,
      });
      return [
        { ok: true, name, detail: `${originOf(this.settings.deliveryUrl)} answers (HTTP ${res.status} to a GET; replies are POSTed)` },
      ];
    } catch (err) {
      return [
        {
          ok: false,
          name,
          detail: `${originOf(this.settings.deliveryUrl)} unreachable: ${redact((err as Error).message)}`,
          fix: 'check deliveryUrl and that this host can reach your app (DNS, firewall, TLS)',
        },
      ];
    }
  }
}

/** §9: 2xx delivered; 429 wait; 410 the user is gone; other 4xx refused; 5xx retried. */
function throwForStatus(res: AxiosResponse): void {
  const status = res.status;
  if (status >= 200 && status < 300) return;
  if (status === 429) {
    throw DeliveryError.rateLimited('the app asked to slow down (429)', retryAfterMs(res.headers['retry-after']) ?? 5000);
  }
  if (status === 410) throw DeliveryError.permanent('the app says the user cannot be reached (410 Gone)', USER_GONE);
  const answer = typeof res.data === 'string' ? res.data.slice(0, 200) : '';
  if (status >= 400 && status < 500)
    throw DeliveryError.permanent(redact(`the app refused the reply: HTTP ${status} ${answer}`.trim()), `http_${status}`);
  throw DeliveryError.transient(redact(`the app failed: HTTP ${status}`), `http_${status}`);
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
