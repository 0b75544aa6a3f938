/**
 * A test double of an app on the HTTP channel (docs/architecture.md, "The HTTP channel"): a real HTTP server on 127.0.0.1 that
 * receives agents' replies at its deliveryUrl — checking the Standard Webhooks signature over the
 * raw bytes, deduplicating by webhook-id as the contract suggests — and posts its users' messages
 * to the bridge, signed. Faults: the next answers, or a seeded share of them, can be 5xx, 429 with
 * Retry-After, or 410 (the user is gone).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { verifyWebhook, webhookHeaders } from '../../src/toolkit/standard-webhooks.js';
import { mulberry32 } from '../helpers/random.js';
import { InjectedFaults } from './faults.js';
import { LoopbackServer, readBody } from './server.js';
import { waitForEvent } from './timers.js';

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

/** The one fault key: every delivery goes to the one deliveryUrl. */
const DELIVERY = 'delivery';

export async function startHttpAppDouble(o: { secret: string; seed?: number }): Promise<HttpAppDouble> {
  const events = new EventEmitter();
  const seen = new Set<string>();
  const faults = new InjectedFaults<AppFault>(mulberry32(o.seed ?? 1));

  const server = new LoopbackServer(
    async (req, res) => {
      const { body: raw } = await readBody(req, Infinity);
      const verified = verifyWebhook(o.secret, req.headers, raw);
      if (!verified.ok) {
        app.badSignatures.push(verified.problem);
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: verified.problem }));
        return;
      }
      app.attempts.push(verified.id);
      const fault = faults.takeFault([DELIVERY]);
      if (fault) {
        const headers: Record<string, string> = fault.retryAfterS !== undefined ? { 'retry-after': String(fault.retryAfterS) } : {};
        res.writeHead(fault.status, headers).end();
        return;
      }
      if (seen.has(verified.id)) app.duplicates++;
      else {
        seen.add(verified.id);
        app.delivered.push({ webhookId: verified.id, body: JSON.parse(raw.toString('utf8')) as AppDelivery['body'] });
        events.emit('delivered');
      }
      res.writeHead(200).end();
    },
    (res, err) =>
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `double crashed: ${String(err)}` })),
  );
  await server.listen();

  const app: HttpAppDouble = {
    deliveryUrl: `${server.origin}/bridge`,
    secret: o.secret,
    delivered: [],
    duplicates: 0,
    attempts: [],
    badSignatures: [],
    failNext(fault, times = 1) {
      faults.failNext(DELIVERY, fault, times);
    },
    setFailureRate(p, status = 503) {
      faults.setFailureRate(DELIVERY, p, { status });
    },
    waitForDelivered(count, timeoutMs = 20_000) {
      return waitForEvent(
        events,
        'delivered',
        () => app.delivered.length >= count,
        timeoutMs,
        () => `waitForDelivered: expected ${count}, got ${app.delivered.length} (${app.badSignatures.length} bad signatures)`,
      ).then(() => app.delivered);
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
    close() {
      return server.close();
    },
  };
  return app;
}
