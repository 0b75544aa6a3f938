/**
 * Sends end-user messages to a Blinger Custom App (docs/architecture.md, "The Custom App API") and says how each attempt went,
 * as the delivery queue needs it: 2xx delivered; network errors, timeouts, 408, 429 and 5xx
 * transient; other 4xx permanent with Blinger's answer. Secrets never appear in a reason.
 */
import axios, { type AxiosInstance, isAxiosError } from 'axios';
import type { InboundMessage } from '../message.js';
import { DeliveryError, isRetryableStatus } from '../delivery/errors.js';
import { redact } from '../redact.js';
import { truncate } from '../text.js';
import { keepAliveAgents } from '../net/keep-alive.js';

export interface BlingerTarget {
  url: string;
  token: string;
  channelId: string;
  timeoutMs: number;
}

/** The exact §1 body: credentials first, then only the fields that have a value. */
export function customAppBody(target: BlingerTarget, m: InboundMessage): Record<string, unknown> {
  const body: Record<string, unknown> = {
    token: target.token,
    custom_channel_id: target.channelId,
    client_id: m.client_id,
    type: m.type,
    data: m.data,
  };
  if (m.client_name) body.client_name = m.client_name;
  if (m.client_phone) body.client_phone = m.client_phone;
  if (m.info && Object.keys(m.info).length > 0) body.info = m.info;
  if (m.echo) body.echo = true;
  if (m.echo && m.echo_outgoing) body.echo_outgoing = true;
  return body;
}

export type BlingerStatusListener = (channelId: string, status: number | 'error') => void;

export class BlingerClient {
  private readonly http: AxiosInstance;

  constructor(private readonly onStatus?: BlingerStatusListener) {
    // Keep-alive: every message is one POST to the same host.
    this.http = axios.create({
      ...keepAliveAgents({ maxSockets: 256 }),
      maxRedirects: 0,
      validateStatus: () => true,
      headers: { 'content-type': 'application/json', 'user-agent': 'blinger-bridge' },
    });
  }

  async send(target: BlingerTarget, message: InboundMessage): Promise<void> {
    let status: number;
    let answer: unknown;
    try {
      const res = await this.http.post(target.url, customAppBody(target, message), {
        headers: { authorization: `Bearer ${target.token}` },
        // axios' own timeout only: an AbortSignal.timeout per request costs ~15 % of throughput
        // on this hot path (measured in a micro-benchmark; see the issue #6 note).
        timeout: target.timeoutMs,
      });
      status = res.status;
      answer = res.data;
    } catch (err) {
      this.onStatus?.(target.channelId, 'error');
      throw DeliveryError.transient(redact(`Blinger unreachable: ${describeNetworkError(err, target.timeoutMs)}`), networkCode(err));
    }
    this.onStatus?.(target.channelId, status);
    if (status >= 200 && status < 300) return;
    const reason = redact(`Blinger answered ${status}: ${summarize(answer)}`);
    if (status === 429) {
      throw DeliveryError.rateLimited(reason, retryAfterMs(answer) ?? 5000);
    }
    if (isRetryableStatus(status)) throw DeliveryError.transient(reason, `http_${status}`);
    throw DeliveryError.permanent(reason, `http_${status}`);
  }

  /** For `check`: can we reach the incoming URL at all? (Any HTTP answer counts as reachable.) */
  async probe(url: string, timeoutMs: number): Promise<{ reachable: boolean; detail: string }> {
    try {
      const res = await this.http.request({ method: 'OPTIONS', url, timeout: timeoutMs });
      return { reachable: true, detail: `HTTP ${res.status}` };
    } catch (err) {
      return { reachable: false, detail: redact(describeNetworkError(err, timeoutMs)) };
    }
  }
}

function summarize(answer: unknown): string {
  if (answer === undefined || answer === null || answer === '') return '(empty body)';
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
  return truncate(text, 301, '…');
}

function retryAfterMs(answer: unknown): number | undefined {
  if (answer && typeof answer === 'object') {
    const a = answer as Record<string, unknown>;
    const v = a.retry_after ?? (a.parameters as Record<string, unknown> | undefined)?.retry_after;
    if (typeof v === 'number' && v >= 0) return v * 1000;
  }
  return undefined;
}

function networkCode(err: unknown): string {
  if (isAxiosError(err)) {
    if (err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT' || err.code === 'ERR_CANCELED') return 'timeout';
    return err.code ? err.code.toLowerCase() : 'network';
  }
  return 'network';
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  if (networkCode(err) === 'timeout') return `no answer within ${timeoutMs} ms`;
  if (isAxiosError(err)) return err.code ? `${err.code} (${err.message})` : err.message;
  return String(err);
}
