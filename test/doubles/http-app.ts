/**
 * A test double of an app on the HTTP channel (docs/architecture.md, "The HTTP channel"): a real HTTP server on 127.0.0.1 that
 * receives agents' replies at its deliveryUrl — checking the Standard Webhooks signature over the
 * raw bytes, deduplicating by webhook-id as the contract suggests — and posts its users' messages
 * to the bridge, signed. Faults: the next answers, or a seeded share of them, can be 5xx, 429 with
 * Retry-After, or 410 (the user is gone).
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { verifyWebhook, webhookHeaders } from '../../src/toolkit/standard-webhooks.js';
import { mulberry32 } from '../helpers/random.js';

export interface AppDelivery {
  webhookId: string;
  body: {
    type: string;
    channel: string;
    user_id: string;
    message: { type: 'text' | 'image' | 'file'; text?: string; url?: string; keyboard?: unknown };
  };
}

export interface AppFault {
  status: number;
  retryAfterS?: number;
}

export interface HttpAppDouble {
  /** Where the bridge delivers (the channel's deliveryUrl). */
  deliveryUrl: string;
  secret: string;
  /** Replies accepted (2xx), each webhook-id once, in arrival order. */
  delivered: AppDelivery[];
  /** Deliveries whose webhook-id had been accepted before (answered 200 again, not recorded twice). */
  duplicates: number;
  /** The webhook-id of every correctly signed request, accepted or not, in arrival order. */
  attempts: string[];
  /** Requests refused for their signature, with the reason. */
  badSignatures: string[];
  failNext(fault: AppFault, times?: number): void;
  /** Each delivery fails with `status` with probability `p` (seeded). */
  setFailureRate(p: number, status?: number): void;
  waitForDelivered(count: number, timeoutMs?: number): Promise<AppDelivery[]>;
  /** Posts a user's message to the bridge, signed; `id` is the webhook-id (random by default). */
  send(
    bridgeUrl: string,
    channelId: string,
    body: unknown,
    opts?: { id?: string; secret?: string; nowMs?: number; headers?: Record<string, string> },
  ): Promise<{ status: number; body: Record<string, unknown>; id: string }>;
  close(): Promise<void>;
}

export async function startHttpAppDouble(o: { secret: string; seed?: number }): Promise<HttpAppDouble> {
  const events = new EventEmitter();
  const seen = new Set<string>();
  const faults: AppFault[] = [];
  const rng = mulberry32(o.seed ?? 1);
  let failureRate = 0;
  let failureStatus = 503;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const verified = verifyWebhook(o.secret, req.headers, raw);
      if (!verified.ok) {
        app.badSignatures.push(verified.problem);
        return res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: verified.problem }));
      }
      app.attempts.push(verified.id);
      const fault = faults.shift() ?? (failureRate > 0 && rng() < failureRate ? { status: failureStatus } : undefined);
      if (fault) {
        const headers: Record<string, string> = fault.retryAfterS !== undefined ? { 'retry-after': String(fault.retryAfterS) } : {};
        return res.writeHead(fault.status, headers).end();
      }
      if (seen.has(verified.id)) app.duplicates++;
      else {
        seen.add(verified.id);
        app.delivered.push({ webhookId: verified.id, body: JSON.parse(raw.toString('utf8')) as AppDelivery['body'] });
        events.emit('delivered');
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const app: HttpAppDouble = {
    deliveryUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bridge`,
    secret: o.secret,
    delivered: [],
    duplicates: 0,
    attempts: [],
    badSignatures: [],
    failNext(fault, times = 1) {
      for (let i = 0; i < times; i++) faults.push(fault);
    },
    setFailureRate(p, status = 503) {
      failureRate = p;
      failureStatus = status;
    },
    waitForDelivered(count, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (app.delivered.length < count) return false;
          clearTimeout(timer);
          events.off('delivered', check);
          resolve(app.delivered);
          return true;
        };
        const timer = setTimeout(() => {
          events.off('delivered', check);
          reject(
            new Error(`waitForDelivered: expected ${count}, got ${app.delivered.length} (${app.badSignatures.length} bad signatures)`),
          );
        }, timeoutMs);
        if (!check()) events.on('delivered', check);
      });
    },
    async send(bridgeUrl, channelId, body, opts = {}) {
      const id = opts.id ?? `msg_${randomUUID()}`;
      const raw = JSON.stringify(body);
      const res = await fetch(`${bridgeUrl}/http/${encodeURIComponent(channelId)}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...webhookHeaders(opts.secret ?? o.secret, id, raw, opts.nowMs), ...opts.headers },
        body: raw,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, id };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return app;
}
