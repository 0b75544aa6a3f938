/**
 * The composition root: builds the channels' adapters, the two lane queues (inbound: end-user →
 * Blinger; outbound: agent → end-user), their workers and the HTTP server, and starts and stops
 * them in the right order. `role` splits one deployment into ingress and worker processes.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
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
  const redis = connectAll(config, log);
  const metrics = new BridgeMetrics({ log, messengerOf: (id) => channels.get(id)?.adapter.type });
  const blinger = new BlingerClient(metrics.blingerStatus);
  const { inbound, outbound } = createQueues(config, redis.producer, log, opts.tuning?.backoff);
  metrics.attach(inbound, 'inbound');
  metrics.attach(outbound, 'outbound');
  const media = new MediaSigner(config.mediaSecret, config.publicUrl, config.mediaTtlMs);
  // No channel configured: one built-in channel between the web chat and a Custom App stand-in.
  const sandbox = config.sandbox
    ? createSandbox({ publicUrl: config.publicUrl, redis: redis.producer, redisPrefix: config.redisPrefix, log })
    : undefined;
  const { channels, flows } = buildChannels({ opts, log, producer: redis.producer, inbound, outbound, media, sandbox });
  tellAgentsOfUndelivered(outbound, inbound, channels, log);
  tellAdaptersOfOutcomes(inbound, channels, log);

  const state = { started: false, stopping: false };
  const adapters = new AdapterStarter(channels, log, () => state.stopping);
  const app = buildServer({
    channels,
    media,
    log,
    enqueueReply: (channelId, reply) => enqueueAgentReply({ outbound, flows, log }, channelId, reply),
    readiness: () => {
      const checks: Record<string, boolean> = { redis: redis.producer.status === 'ready', started: state.started && !state.stopping };
      if (role !== 'worker') for (const id of channels.keys()) checks[`adapter:${id}`] = adapters.isStarted(id);
      return { ready: Object.values(checks).every(Boolean), checks };
    },
    definitions: [...registryOf(opts).values()],
    ...(config.requestTimeoutMs ? { timeouts: { requestMs: config.requestTimeoutMs } } : {}),
  });
  sandbox?.register(app);
  registerMetricsRoute(app, metrics);
  if (config.admin) registerAdmin(app, { ...config.admin, lanes: { inbound, outbound } });

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
      await waitForRedis(redis, config, log, () => state.stopping);
      if (role !== 'ingress') startWorkers({ config, tuning: opts.tuning ?? {}, redis, inbound, outbound, channels, blinger });
      if (role !== 'worker') await adapters.startAll();
      const address = await listen(app, config);
      state.started = true;
      log.info({ address, role, channels: [...channels.keys()] }, 'blinger-bridge started');
      return address;
    },
    async stop(stopOpts = {}) {
      // /readyz answers 503 from here on; the server keeps answering until the workers are done.
      state.stopping = true;
      await adapters.stopAll();
      const graceMs = stopOpts.graceMs ?? 30_000;
      const outcomes = await Promise.all([inbound.close({ graceMs }), outbound.close({ graceMs })]);
      await app.close();
      await Promise.all(redis.all.map((r) => r.quit().catch(() => r.disconnect())));
      log.info({ inFlight: outcomes.includes('timed-out') ? 'left to other workers' : 'finished' }, 'blinger-bridge stopped');
    },
  };
}

// ------------------------------------------------------------------ building

interface Connections {
  /** Fail-fast connection for HTTP routes, adapters and the pacer. */
  producer: Redis;
  /** Each BullMQ worker gets its own connection: a blocked worker must not stall the other. */
  inboundWorker: Redis;
  outboundWorker: Redis;
  all: Redis[];
}

function connectAll(config: BridgeConfig, log: Logger): Connections {
  const opts = { cluster: config.redisCluster === true };
  const producer = connectRedis(config.redisUrl, 'producer', log, opts);
  const inboundWorker = connectRedis(config.redisUrl, 'worker', log, opts);
  const outboundWorker = connectRedis(config.redisUrl, 'worker', log, opts);
  return { producer, inboundWorker, outboundWorker, all: [producer, inboundWorker, outboundWorker] };
}

function createQueues(config: BridgeConfig, producer: Redis, log: Logger, backoff: BackoffPolicy | undefined) {
  const common = { prefix: config.redisPrefix, producer, log, retryMaxAgeMs: config.retryMaxAgeMs, backoff };
  return {
    inbound: new LaneQueue<InboundMessage>({ direction: 'inbound', ...common }),
    outbound: new LaneQueue<OutboundMessage>({ direction: 'outbound', ...common }),
  };
}

function registryOf(opts: BridgeOptions): Map<string, AdapterDefinition> {
  return new Map((opts.adapters ?? builtInAdapters).map((d) => [d.type, d]));
}

interface ChannelDeps {
  opts: BridgeOptions;
  log: Logger;
  producer: Redis;
  inbound: LaneQueue<InboundMessage>;
  outbound: LaneQueue<OutboundMessage>;
  media: MediaSigner;
  sandbox: ReturnType<typeof createSandbox> | undefined;
}

/** Each configured channel's adapter, and the bot flow of those that have one (or middleware). */
function buildChannels(deps: ChannelDeps): { channels: Map<string, ChannelRuntime>; flows: Map<string, FlowRunner> } {
  const { opts, log, producer, sandbox } = deps;
  const { config } = opts;
  const registry = registryOf(opts);
  const channels = new Map<string, ChannelRuntime>();
  // Channels with a bot flow or developer middleware: their events go through it to the lanes.
  const flows = new Map<string, FlowRunner>();
  for (const channel of sandbox ? [sandbox.channel] : config.channels) {
    const def = registry.get(channel.adapter.type);
    if (!def)
      throw new Error(`channel ${channel.id}: unknown adapter type "${channel.adapter.type}" (known: ${[...registry.keys()].join(', ')})`);
    if (channel.bot || opts.middleware?.length) flows.set(channel.id, flowOf(deps, channel));
    const schedule = channel.bot?.schedule;
    const adapter = def.create({
      channelId: channel.id,
      settings: channelSettings(def, channel),
      publicUrl: config.publicUrl,
      log: log.child({ channel: channel.id, adapter: def.type }),
      redis: producer,
      redisPrefix: config.redisPrefix,
      inbound: flows.get(channel.id) ?? inboundSink(deps.inbound, channel.id),
      media: { link: (ref) => deps.media.link(channel.id, ref), ttlMs: config.mediaTtlMs },
      allowPrivateUrls: channel.allowPrivateUrls,
      botFlow: flows.has(channel.id),
      ...(schedule ? { openingHours: () => openingStatus(schedule, (opts.tuning?.now ?? Date.now)()) } : {}),
    });
    channels.set(channel.id, { config: channel, adapter });
  }
  return { channels, flows };
}

function flowOf(deps: ChannelDeps, channel: ChannelConfig): FlowRunner {
  const { opts } = deps;
  return new FlowRunner({
    channelId: channel.id,
    bot: channel.bot,
    middleware: opts.middleware,
    inbound: deps.inbound,
    outbound: deps.outbound,
    redis: deps.producer,
    prefix: opts.config.redisPrefix,
    log: deps.log,
    now: opts.tuning?.now,
  });
}

/** A lane of a channel that was removed from the config stays for the operator; its turns fail. */
function channelOf(channels: Map<string, ChannelRuntime>, id: string): ChannelRuntime {
  const c = channels.get(id);
  if (!c) throw new Error(`channel ${id} is not configured in this process`);
  return c;
}

// ------------------------------------------------------------------ reactions to outcomes

/** An agent whose reply could not reach the user (blocked the bot…) is told so in Blinger. */
function tellAgentsOfUndelivered(
  outbound: LaneQueue<OutboundMessage>,
  inbound: LaneQueue<InboundMessage>,
  channels: Map<string, ChannelRuntime>,
  log: Logger,
): void {
  outbound.on('deadLettered', (letter, error) => {
    const text = channels.get(letter.lane.channelId)?.adapter.explainFailure?.(error);
    if (!text) return;
    const echo: InboundMessage = { client_id: letter.lane.clientId, type: 'text', data: text, echo: true, echo_outgoing: true };
    inbound
      .enqueue(letter.lane, [echo], { correlationId: letter.item.cid })
      .catch((err) => log.error({ err: redact(String(err)) }, 'could not tell the agent about an undelivered reply'));
  });
}

/** An adapter that shows its users what became of their messages (the web chat's ticks) is told. */
function tellAdaptersOfOutcomes(inbound: LaneQueue<InboundMessage>, channels: Map<string, ChannelRuntime>, log: Logger): void {
  const tell = (lane: LaneRef, item: LaneItem<InboundMessage>, outcome: InboundOutcome['outcome'], reason?: string) =>
    channels
      .get(lane.channelId)
      ?.adapter.onInboundOutcome?.({ clientId: lane.clientId, correlationId: item.cid, message: item.payload, outcome, reason })
      .catch((err) => log.warn({ channel: lane.channelId, err: redact(String(err)) }, 'adapter could not note a message outcome'));
  inbound.on('delivered', ({ lane, item }) => void tell(lane, item, 'delivered'));
  inbound.on('deadLettered', (letter) => void tell(letter.lane, letter.item, 'dead_lettered', letter.reason));
}

/** POST /blinger/:channelId: the agent's reply into its lane, and the bot flow steps aside. */
async function enqueueAgentReply(
  deps: { outbound: LaneQueue<OutboundMessage>; flows: Map<string, FlowRunner>; log: Logger },
  channelId: string,
  reply: OutboundMessage,
): Promise<void> {
  const { log } = deps;
  // Correlation id of an agent reply: links this line to its queued/delivered lines.
  const correlationId = `bl-${channelId}-${randomUUID()}`;
  log.info({ channel: channelId, cid: correlationId, event: 'received', direction: 'outbound', type: reply.type }, 'agent reply received');
  await deps.outbound.enqueue({ channelId, clientId: reply.client_id }, [reply], { correlationId });
  // The agent is in the conversation: the bot flow leaves it to them until it is idle.
  await deps.flows
    .get(channelId)
    ?.agentReplied(reply.client_id)
    .catch((err) => log.warn({ channel: channelId, err: redact(String(err)) }, 'could not extend the hand-over'));
}

// ------------------------------------------------------------------ starting

/** Redis may come up after the bridge (compose, reboots): wait for it rather than exit. */
async function waitForRedis(redis: Connections, config: BridgeConfig, log: Logger, stopping: () => boolean): Promise<void> {
  for (;;) {
    try {
      await Promise.all(redis.all.map((r) => waitForReady(r, 30_000)));
      return;
    } catch {
      if (stopping()) throw new Error('stopped while waiting for Redis');
      log.warn({ redis: redact(config.redisUrl) }, 'still waiting for Redis');
    }
  }
}

interface WorkerDeps {
  config: BridgeConfig;
  tuning: NonNullable<BridgeOptions['tuning']>;
  redis: Connections;
  inbound: LaneQueue<InboundMessage>;
  outbound: LaneQueue<OutboundMessage>;
  channels: Map<string, ChannelRuntime>;
  blinger: BlingerClient;
}

/** The inbound worker delivers to Blinger; the outbound one sends through the adapters, paced. */
function startWorkers(deps: WorkerDeps): void {
  const { config, tuning, redis, channels, blinger } = deps;
  const common = {
    concurrency: config.concurrency,
    lockDurationMs: tuning.lockDurationMs,
    stalledIntervalMs: tuning.stalledIntervalMs,
    keeperIntervalMs: tuning.keeperIntervalMs,
  };
  const target = (c: ChannelConfig) => ({ url: c.blinger.url, token: c.blinger.token, channelId: c.id, timeoutMs: c.blinger.timeoutMs });
  deps.inbound.startWorker({
    ...common,
    connection: redis.inboundWorker,
    deliver: async ({ lane, item }) => blinger.send(target(channelOf(channels, lane.channelId).config), item.payload),
  });
  // Agents' replies leave within each messenger's limits, counted in Redis for every process.
  const pacer = new Pacer(redis.producer, config.redisPrefix);
  deps.outbound.startWorker({
    ...common,
    connection: redis.outboundWorker,
    deliver: async ({ lane, item, markPartsSent }) => {
      const { adapter } = channelOf(channels, lane.channelId);
      const partsSent = item.sent ?? 0;
      const pacing = pacer.attempt(lane.channelId, adapter, lane.clientId, `${item.id}:${partsSent}`);
      try {
        await adapter.send(item.payload, { messageId: item.id, partsSent, onPartSent: markPartsSent, pace: (kind) => pacing.pace(kind) });
      } finally {
        void pacing.done();
      }
    },
  });
}

/** Starts the channels' adapters; one whose messenger is unreachable keeps trying in the background. */
class AdapterStarter {
  private readonly started = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly channels: Map<string, ChannelRuntime>,
    private readonly log: Logger,
    private readonly stopping: () => boolean,
  ) {}

  isStarted(id: string): boolean {
    return this.started.has(id);
  }

  async startAll(): Promise<void> {
    for (const [id, runtime] of this.channels) await this.start(id, runtime);
  }

  async stopAll(): Promise<void> {
    for (const t of this.retryTimers) clearTimeout(t);
    await Promise.all([...this.channels.values()].map((c) => c.adapter.stop().catch(() => undefined)));
  }

  private async start(id: string, runtime: ChannelRuntime, attempt = 1): Promise<void> {
    if (this.stopping()) return;
    try {
      await runtime.adapter.start();
      this.started.add(id);
    } catch (err) {
      const delay = Math.min(1000 * 2 ** Math.min(attempt, 5), 30_000);
      this.log.error({ channel: id, err: redact(String((err as Error).message)), retryInMs: delay }, 'adapter could not start; retrying');
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        void this.start(id, runtime, attempt + 1);
      }, delay);
      this.retryTimers.add(t);
    }
  }
}

async function listen(app: FastifyInstance, config: BridgeConfig): Promise<string> {
  return app.listen({ port: config.port, host: config.host }).catch((err: NodeJS.ErrnoException) => {
    // The code stays on the error: the CLI turns the ones an operator can fix into advice.
    throw Object.assign(new Error(`cannot listen on ${config.host}:${config.port} (HOST, PORT): ${err.code ?? err.message}`), {
      code: err.code,
    });
  });
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
