/**
 * The composition root: builds the channels' adapters, the two lane queues (inbound: end-user →
 * Blinger; outbound: agent → end-user), their workers and the HTTP server, and starts and stops
 * them in the right order. `role` splits one deployment into ingress and worker processes.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AdapterDefinition, InboundOutcome, InboundSink } from './adapter.js';
import type { BridgeConfig, ChannelConfig } from './config/schema.js';
import type { InboundMessage, OutboundMessage } from './message.js';
import { builtInAdapters, channelSettings } from './adapters.js';
import { BlingerClient } from './blinger/client.js';
import { LaneQueue } from './delivery/lane-queue.js';
import { Pacer } from './delivery/pacer.js';
import type { LaneItem, LaneRef } from './delivery/lane-store.js';
import type { BackoffPolicy } from './delivery/backoff.js';
import { MediaSigner } from './media/links.js';
import { buildServer, type ChannelRuntime } from './http/server.js';
import { connectRedis, waitForReady } from './redis.js';
import { createLogger } from './log.js';
import { redact } from './redact.js';
import { BridgeMetrics, registerMetricsRoute } from './metrics.js';
import { registerAdmin } from './http/admin.js';
import { FlowRunner } from './flow/runner.js';
import { openingStatus } from './flow/schedule.js';
import type { Middleware } from './flow/middleware.js';
import { createSandbox } from './sandbox/index.js';

export type Role = 'all' | 'ingress' | 'worker';

export interface BridgeOptions {
  config: BridgeConfig;
  log?: Logger;
  role?: Role;
  adapters?: readonly AdapterDefinition[];
  /**
   * The chat-bot in the middle: middleware run on every end-user event of every channel, before
   * the channel's built-in bot flow (its `bot` config). See src/flow/middleware.ts.
   */
  middleware?: Middleware[];
  /** Knobs for tests and benchmarks; production uses the defaults. */
  tuning?: {
    lockDurationMs?: number;
    stalledIntervalMs?: number;
    keeperIntervalMs?: number;
    backoff?: BackoffPolicy;
    /** The bot flow's clock (hand-over idle time, opening hours). */
    now?: () => number;
  };
}

export interface Bridge {
  config: BridgeConfig;
  log: Logger;
  app: FastifyInstance;
  channels: Map<string, ChannelRuntime>;
  inbound: LaneQueue<InboundMessage>;
  outbound: LaneQueue<OutboundMessage>;
  blinger: BlingerClient;
  metrics: BridgeMetrics;
  /** Sandbox mode (no channel configured): the web chat's and the agents' inbox's URLs. */
  sandbox?: { chatUrl: string; inboxUrl: string };
  /** Connects, starts adapters and workers per role, listens. Resolves with the bound URL. */
  start(): Promise<string>;
  /**
   * Stops receiving (readiness turns 503 at once, polling stops), lets the deliveries in flight
   * finish for up to `graceMs` (default 30 s), then closes the HTTP server and Redis.
   */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

export function createBridge(opts: BridgeOptions): Bridge {
  const { config } = opts;
  const role = opts.role ?? 'all';
  const log = opts.log ?? createLogger(config.logLevel, { format: config.logFormat });
  const redisOpts = { cluster: config.redisCluster === true };
  const producer = connectRedis(config.redisUrl, 'producer', log, redisOpts);
  // Each BullMQ worker gets its own connection: a blocked worker must not stall the other.
  const workerConn = connectRedis(config.redisUrl, 'worker', log, redisOpts);
  const outboundConn = connectRedis(config.redisUrl, 'worker', log, redisOpts);
  const media = new MediaSigner(config.mediaSecret, config.publicUrl, config.mediaTtlMs);
  const metrics = new BridgeMetrics({ log, messengerOf: (id) => channels.get(id)?.adapter.type });
  const blinger = new BlingerClient(metrics.blingerStatus);
  const backoff = opts.tuning?.backoff;
  const inbound = new LaneQueue<InboundMessage>({
    direction: 'inbound',
    prefix: config.redisPrefix,
    producer,
    log,
    retryMaxAgeMs: config.retryMaxAgeMs,
    backoff,
  });
  const outbound = new LaneQueue<OutboundMessage>({
    direction: 'outbound',
    prefix: config.redisPrefix,
    producer,
    log,
    retryMaxAgeMs: config.retryMaxAgeMs,
    backoff,
  });
  // Agents' replies leave within each messenger's limits, counted in Redis for every process.
  const pacer = new Pacer(producer, config.redisPrefix);
  metrics.attach(inbound, 'inbound');
  metrics.attach(outbound, 'outbound');

  const registry = new Map((opts.adapters ?? builtInAdapters).map((d) => [d.type, d]));
  // No channel configured: one built-in channel between the web chat and a Custom App stand-in.
  const sandbox = config.sandbox
    ? createSandbox({ publicUrl: config.publicUrl, redis: producer, redisPrefix: config.redisPrefix, log })
    : undefined;
  const channels = new Map<string, ChannelRuntime>();
  // Channels with a bot flow or developer middleware: their events go through it to the lanes.
  const flows = new Map<string, FlowRunner>();
  for (const channel of sandbox ? [sandbox.channel] : config.channels) {
    const def = registry.get(channel.adapter.type);
    if (!def)
      throw new Error(`channel ${channel.id}: unknown adapter type "${channel.adapter.type}" (known: ${[...registry.keys()].join(', ')})`);
    if (channel.bot || opts.middleware?.length) {
      flows.set(
        channel.id,
        new FlowRunner({
          channelId: channel.id,
          bot: channel.bot,
          middleware: opts.middleware,
          inbound,
          outbound,
          redis: producer,
          prefix: config.redisPrefix,
          log,
          now: opts.tuning?.now,
        }),
      );
    }
    const schedule = channel.bot?.schedule;
    const adapter = def.create({
      channelId: channel.id,
      settings: channelSettings(def, channel),
      publicUrl: config.publicUrl,
      log: log.child({ channel: channel.id, adapter: def.type }),
      redis: producer,
      redisPrefix: config.redisPrefix,
      inbound: flows.get(channel.id) ?? inboundSink(inbound, channel.id),
      media: { link: (ref) => media.link(channel.id, ref), ttlMs: config.mediaTtlMs },
      allowPrivateUrls: channel.allowPrivateUrls,
      botFlow: flows.has(channel.id),
      ...(schedule ? { openingHours: () => openingStatus(schedule, (opts.tuning?.now ?? Date.now)()) } : {}),
    });
    channels.set(channel.id, { config: channel, adapter });
  }

  const target = (c: ChannelConfig) => ({ url: c.blinger.url, token: c.blinger.token, channelId: c.id, timeoutMs: c.blinger.timeoutMs });
  const channelOf = (id: string): ChannelRuntime => {
    const c = channels.get(id);
    // A lane of a channel that was removed from the config: keep it for the operator, don't spin.
    if (!c) throw new Error(`channel ${id} is not configured in this process`);
    return c;
  };

  // An agent whose reply could not reach the user (blocked the bot…) is told so in Blinger.
  outbound.on('deadLettered', (letter, error) => {
    const text = channels.get(letter.lane.channelId)?.adapter.explainFailure?.(error);
    if (!text) return;
    const echo: InboundMessage = { client_id: letter.lane.clientId, type: 'text', data: text, echo: true, echo_outgoing: true };
    inbound
      .enqueue(letter.lane, [echo], { correlationId: letter.item.cid })
      .catch((err) => log.error({ err: redact(String(err)) }, 'could not tell the agent about an undelivered reply'));
  });

  // An adapter that shows its users what became of their messages (the web chat's ticks) is told.
  const tellAdapter = (lane: LaneRef, item: LaneItem<InboundMessage>, outcome: InboundOutcome['outcome'], reason?: string) =>
    channels
      .get(lane.channelId)
      ?.adapter.onInboundOutcome?.({ clientId: lane.clientId, correlationId: item.cid, message: item.payload, outcome, reason })
      .catch((err) => log.warn({ channel: lane.channelId, err: redact(String(err)) }, 'adapter could not note a message outcome'));
  inbound.on('delivered', ({ lane, item }) => void tellAdapter(lane, item, 'delivered'));
  inbound.on('deadLettered', (letter) => void tellAdapter(letter.lane, letter.item, 'dead_lettered', letter.reason));

  let started = false;
  let stopping = false;
  const adapterStarted = new Set<string>();
  const retryTimers = new Set<NodeJS.Timeout>();

  const app = buildServer({
    channels,
    media,
    log,
    enqueueReply: async (channelId, reply) => {
      // Correlation id of an agent reply: links this line to its queued/delivered lines.
      const correlationId = `bl-${channelId}-${randomUUID()}`;
      log.info(
        { channel: channelId, cid: correlationId, event: 'received', direction: 'outbound', type: reply.type },
        'agent reply received',
      );
      await outbound.enqueue({ channelId, clientId: reply.client_id }, [reply], { correlationId });
      // The agent is in the conversation: the bot flow leaves it to them until it is idle.
      await flows
        .get(channelId)
        ?.agentReplied(reply.client_id)
        .catch((err) => log.warn({ channel: channelId, err: redact(String(err)) }, 'could not extend the hand-over'));
    },
    readiness: () => {
      const checks: Record<string, boolean> = { redis: producer.status === 'ready', started: started && !stopping };
      if (role !== 'worker') for (const id of channels.keys()) checks[`adapter:${id}`] = adapterStarted.has(id);
      return { ready: Object.values(checks).every(Boolean), checks };
    },
    definitions: [...registry.values()],
    ...(config.requestTimeoutMs ? { timeouts: { requestMs: config.requestTimeoutMs } } : {}),
  });
  sandbox?.register(app);
  registerMetricsRoute(app, metrics);
  if (config.admin) registerAdmin(app, { ...config.admin, lanes: { inbound, outbound } });

  /** Starts one adapter; if the messenger is unreachable, keeps trying in the background. */
  const startAdapter = async (id: string, runtime: ChannelRuntime, attempt = 1): Promise<void> => {
    if (stopping) return;
    try {
      await runtime.adapter.start();
      adapterStarted.add(id);
    } catch (err) {
      const delay = Math.min(1000 * 2 ** Math.min(attempt, 5), 30_000);
      log.error({ channel: id, err: redact(String((err as Error).message)), retryInMs: delay }, 'adapter could not start; retrying');
      const t = setTimeout(() => {
        retryTimers.delete(t);
        void startAdapter(id, runtime, attempt + 1);
      }, delay);
      retryTimers.add(t);
    }
  };

  return {
    config,
    log,
    app,
    channels,
    inbound,
    outbound,
    blinger,
    metrics,
    ...(sandbox ? { sandbox: { chatUrl: sandbox.chatUrl, inboxUrl: sandbox.inboxUrl } } : {}),
    async start() {
      // Redis may come up after the bridge (compose, reboots): wait for it rather than exit.
      for (;;) {
        try {
          await Promise.all([producer, workerConn, outboundConn].map((r) => waitForReady(r, 30_000)));
          break;
        } catch {
          if (stopping) throw new Error('stopped while waiting for Redis');
          log.warn({ redis: redact(config.redisUrl) }, 'still waiting for Redis');
        }
      }
      if (role !== 'ingress') {
        const tuning = opts.tuning ?? {};
        inbound.startWorker({
          connection: workerConn,
          concurrency: config.concurrency,
          lockDurationMs: tuning.lockDurationMs,
          stalledIntervalMs: tuning.stalledIntervalMs,
          keeperIntervalMs: tuning.keeperIntervalMs,
          deliver: async ({ lane, item }) => blinger.send(target(channelOf(lane.channelId).config), item.payload),
        });
        outbound.startWorker({
          connection: outboundConn,
          concurrency: config.concurrency,
          lockDurationMs: tuning.lockDurationMs,
          stalledIntervalMs: tuning.stalledIntervalMs,
          keeperIntervalMs: tuning.keeperIntervalMs,
          deliver: async ({ lane, item, markPartsSent }) => {
            const { adapter } = channelOf(lane.channelId);
            const partsSent = item.sent ?? 0;
            const pacing = pacer.attempt(lane.channelId, adapter, lane.clientId, `${item.id}:${partsSent}`);
            try {
              await adapter.send(item.payload, {
                messageId: item.id,
                partsSent,
                onPartSent: markPartsSent,
                pace: (kind) => pacing.pace(kind),
              });
            } finally {
              void pacing.done();
            }
          },
        });
      }
      if (role !== 'worker') {
        for (const [id, runtime] of channels) await startAdapter(id, runtime);
      }
      const address = await app.listen({ port: config.port, host: config.host }).catch((err: NodeJS.ErrnoException) => {
        // The code stays on the error: the CLI turns the ones an operator can fix into advice.
        throw Object.assign(new Error(`cannot listen on ${config.host}:${config.port} (HOST, PORT): ${err.code ?? err.message}`), {
          code: err.code,
        });
      });
      started = true;
      log.info({ address, role, channels: [...channels.keys()] }, 'blinger-bridge started');
      return address;
    },
    async stop(stopOpts = {}) {
      // /readyz answers 503 from here on; the server keeps answering until the workers are done.
      stopping = true;
      for (const t of retryTimers) clearTimeout(t);
      await Promise.all([...channels.values()].map((c) => c.adapter.stop().catch(() => undefined)));
      const graceMs = stopOpts.graceMs ?? 30_000;
      const outcomes = await Promise.all([inbound.close({ graceMs }), outbound.close({ graceMs })]);
      await app.close();
      await Promise.all([producer, workerConn, outboundConn].map((r) => r.quit().catch(() => r.disconnect())));
      log.info({ inFlight: outcomes.includes('timed-out') ? 'left to other workers' : 'finished' }, 'blinger-bridge stopped');
    },
  };
}

function inboundSink(queue: LaneQueue<InboundMessage>, channelId: string): InboundSink {
  return {
    async enqueue(messages, opts) {
      const clientId = messages[0]?.client_id;
      if (!clientId) return 'queued';
      if (messages.some((m) => m.client_id !== clientId)) throw new Error('one source event must belong to one conversation');
      return queue.enqueue({ channelId, clientId }, messages, opts);
    },
  };
}
