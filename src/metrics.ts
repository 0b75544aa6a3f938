/**
 * Prometheus metrics for GET /metrics. One registry per bridge (not prom-client's global one), so
 * a process — or a test — can run several bridges.
 *
 * Counters and the latency histogram come from the lane queues' events and the Blinger client's
 * status listener; queue gauges are read from Redis on each scrape (they describe the shared
 * queues, so every process reports the same values: aggregate them with max(), not sum()).
 *
 * Labels are only ever: channel (the Custom App ID, from the configuration), direction, message
 * type, a short failure code, an HTTP status, the messenger type, a queue state. Never a client id,
 * never free text: codes are reduced to [a-z0-9_] and anything that looks like a secret is dropped.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { LaneQueue } from './delivery/lane-queue.js';
import type { Direction, LaneItem } from './delivery/lane-store.js';
import { directionTotals } from './delivery/queue-stats.js';
import { redact } from './redact.js';

const TYPES = new Set(['text', 'image', 'file']);

/** A message type label: one of the three Custom App types, else "other". */
export function typeLabel(item: LaneItem<unknown>): string {
  const t = (item.payload as { type?: unknown } | null)?.type;
  return typeof t === 'string' && TYPES.has(t) ? t : 'other';
}

/** A failure code label: short, [a-z0-9_], and never anything registered as a secret. */
export function codeLabel(code: string | undefined): string {
  if (!code) return 'unknown';
  if (redact(code) !== code) return 'redacted';
  const c = code
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, 40);
  return c || 'unknown';
}

export interface MetricsOptions {
  /** The messenger (adapter type) of a channel, for the messenger rate-limit counter. */
  messengerOf(channelId: string): string | undefined;
  log: Logger;
  /** Default process metrics (CPU, memory, event loop, GC). */
  processMetrics?: boolean;
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600];

export class BridgeMetrics {
  readonly registry = new Registry();
  private readonly received: Counter<'channel' | 'direction' | 'type'>;
  private readonly delivered: Counter<'channel' | 'direction' | 'type'>;
  private readonly failed: Counter<'channel' | 'direction' | 'type' | 'reason'>;
  private readonly retries: Counter<'channel' | 'direction' | 'reason'>;
  private readonly latency: Histogram<'channel' | 'direction'>;
  private readonly messenger429: Counter<'channel' | 'messenger'>;
  private readonly blingerResponses: Counter<'channel' | 'code'>;
  private readonly queueDepth: Gauge<'direction' | 'state'>;
  private readonly oldestAge: Gauge<'direction'>;
  private readonly scrapeErrors: Counter;
  private readonly queues: LaneQueue<unknown>[] = [];

  constructor(private readonly opts: MetricsOptions) {
    const r = this.registry;
    const p = 'blinger_bridge_';
    this.received = new Counter({
      name: `${p}messages_received_total`,
      help: 'Messages durably queued (inbound: from end-users; outbound: agent replies), by channel, direction and type',
      labelNames: ['channel', 'direction', 'type'],
      registers: [r],
    });
    this.delivered = new Counter({
      name: `${p}messages_delivered_total`,
      help: 'Messages delivered (inbound: accepted by Blinger; outbound: accepted by the messenger)',
      labelNames: ['channel', 'direction', 'type'],
      registers: [r],
    });
    this.failed = new Counter({
      name: `${p}messages_failed_total`,
      help: 'Messages given up on (dead-lettered), by failure reason code',
      labelNames: ['channel', 'direction', 'type', 'reason'],
      registers: [r],
    });
    this.retries = new Counter({
      name: `${p}delivery_retries_total`,
      help: 'Failed delivery attempts that will be retried (including rate-limit waits), by reason code',
      labelNames: ['channel', 'direction', 'reason'],
      registers: [r],
    });
    this.latency = new Histogram({
      name: `${p}delivery_latency_seconds`,
      help: 'Time from receiving a message to delivering it',
      labelNames: ['channel', 'direction'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.messenger429 = new Counter({
      name: `${p}messenger_429_total`,
      help: '429 Too Many Requests answers from the messenger (e.g. Telegram) to agent replies',
      labelNames: ['channel', 'messenger'],
      registers: [r],
    });
    this.blingerResponses = new Counter({
      name: `${p}blinger_responses_total`,
      help: 'Answers of Blinger to delivery requests, by HTTP status ("error" = no answer: network error or timeout)',
      labelNames: ['channel', 'code'],
      registers: [r],
    });
    this.queueDepth = new Gauge({
      name: `${p}queue_messages`,
      help: 'Undelivered messages in Redis by direction and state (waiting, active = in flight, delayed = waiting out a retry or rate limit, failed = dead letters); the same in every process',
      labelNames: ['direction', 'state'],
      registers: [r],
    });
    this.oldestAge = new Gauge({
      name: `${p}queue_oldest_message_age_seconds`,
      help: 'Age of the oldest undelivered message by direction (0 when none)',
      labelNames: ['direction'],
      registers: [r],
    });
    this.scrapeErrors = new Counter({
      name: `${p}queue_scrape_errors_total`,
      help: 'Scrapes whose queue gauges could not be read from Redis',
      registers: [r],
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: r });
  }

  /** Counts a queue's lifecycle events. */
  attach<T>(queue: LaneQueue<T>, direction: Direction): void {
    this.queues.push(queue as unknown as LaneQueue<unknown>);
    queue.on('queued', ({ lane, items }) => {
      for (const item of items) this.received.inc({ channel: lane.channelId, direction, type: typeLabel(item) });
    });
    queue.on('delivered', ({ lane, item }) => {
      this.delivered.inc({ channel: lane.channelId, direction, type: typeLabel(item) });
      this.latency.observe({ channel: lane.channelId, direction }, Math.max(0, Date.now() - item.at) / 1000);
    });
    queue.on('retrying', ({ lane, error }) => {
      this.retries.inc({ channel: lane.channelId, direction, reason: codeLabel(error.code) });
      if (direction === 'outbound' && error.kind === 'rate_limited') {
        this.messenger429.inc({ channel: lane.channelId, messenger: codeLabel(this.opts.messengerOf(lane.channelId) ?? 'unknown') });
      }
    });
    queue.on('deadLettered', (letter, error) => {
      this.failed.inc({ channel: letter.lane.channelId, direction, type: typeLabel(letter.item), reason: codeLabel(error.code) });
    });
  }

  /** For BlingerClient's onStatus. */
  blingerStatus = (channelId: string, status: number | 'error'): void => {
    this.blingerResponses.inc({ channel: channelId, code: String(status) });
  };

  /** The exposition text, with queue gauges freshly read from Redis. */
  async render(): Promise<{ contentType: string; body: string }> {
    await this.collectQueues();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private async collectQueues(): Promise<void> {
    try {
      const now = Date.now();
      const totals = await Promise.all(this.queues.map(async (q) => ({ q, t: await directionTotals(q) })));
      for (const { q, t } of totals) {
        const direction = q.store.direction;
        for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) this.queueDepth.set({ direction, state }, t[state]);
        this.oldestAge.set({ direction }, t.oldestAt === undefined ? 0 : Math.max(0, now - t.oldestAt) / 1000);
      }
    } catch (err) {
      // Redis away: the scrape still answers (process and counter metrics), without queue gauges.
      this.scrapeErrors.inc();
      this.queueDepth.reset();
      this.oldestAge.reset();
      this.opts.log.debug({ err: redact(String(err)) }, 'queue gauges not collected');
    }
  }
}

/** GET /metrics on the bridge's HTTP server. */
export function registerMetricsRoute(app: FastifyInstance, metrics: BridgeMetrics): void {
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.header('content-type', contentType).send(body);
  });
}
