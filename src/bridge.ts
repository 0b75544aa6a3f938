/**
 * The composition root: builds the channels' adapters, the two lane queues (inbound: end-user →
 * Blinger; outbound: agent → end-user), their workers and the HTTP server, and starts and stops
 * them in the right order. `role` splits one deployment into ingress and worker processes.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AdapterDefinition, InboundSink } from './adapter.js';
import type { BridgeConfig, ChannelConfig } from './config/schema.js';
import type { InboundMessage, OutboundMessage } from './message.js';
import { builtInAdapters } from './adapters.js';
import { BlingerClient } from './blinger/client.js';
import { LaneQueue } from './delivery/lane-queue.js';
import type { BackoffPolicy } from './delivery/backoff.js';
import { MediaSigner } from './media/links.js';
import { buildServer, type ChannelRuntime } from './http/server.js';
import { connectRedis, waitForReady } from './redis.js';
import { createLogger } from './log.js';
import { redact } from './redact.js';

export type Role = 'all' | 'ingress' | 'worker';

export interface BridgeOptions {
  config: BridgeConfig;
  log?: Logger;
  role?: Role;
  adapters?: AdapterDefinition[];
  /** Knobs for tests and benchmarks; production uses the defaults. */
  tuning?: {
    lockDurationMs?: number;
    stalledIntervalMs?: number;
    keeperIntervalMs?: number;
    backoff?: BackoffPolicy;
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
  /** Connects, starts adapters and workers per role, listens. Resolves with the bound URL. */
  start(): Promise<string>;
  /** Stops receiving, lets running deliveries finish, closes connections. */
  stop(): Promise<void>;
}

export function createBridge(opts: BridgeOptions): Bridge {
  const { config } = opts;
  const role = opts.role ?? 'all';
  const log = opts.log ?? createLogger(config.logLevel);
  const producer = connectRedis(config.redisUrl, 'producer', log);
  // Each BullMQ worker gets its own connection: a blocked worker must not stall the other.
  const workerConn = connectRedis(config.redisUrl, 'worker', log);
  const outboundConn = connectRedis(config.redisUrl, 'worker', log);
  const media = new MediaSigner(config.mediaSecret, config.publicUrl, config.mediaTtlMs);
  const blinger = new BlingerClient();
  const backoff = opts.tuning?.backoff;
  const inbound = new LaneQueue<InboundMessage>({ direction: 'inbound', prefix: config.redisPrefix, producer, log, retryMaxAgeMs: config.retryMaxAgeMs, backoff });
  const outbound = new LaneQueue<OutboundMessage>({ direction: 'outbound', prefix: config.redisPrefix, producer, log, retryMaxAgeMs: config.retryMaxAgeMs, backoff });

  const registry = new Map((opts.adapters ?? builtInAdapters).map((d) => [d.type, d]));
  const channels = new Map<string, ChannelRuntime>();
  for (const channel of config.channels) {
    const def = registry.get(channel.adapter.type);
    if (!def) throw new Error(`channel ${channel.id}: unknown adapter type "${channel.adapter.type}" (known: ${[...registry.keys()].join(', ')})`);
    const adapter = def.create({
      channelId: channel.id,
      settings: channel.adapter,
      publicUrl: config.publicUrl,
      log: log.child({ channel: channel.id, adapter: def.type }),
      redis: producer,
      redisPrefix: config.redisPrefix,
      inbound: inboundSink(inbound, channel.id),
      media: { link: (ref) => media.link(channel.id, ref) },
      allowPrivateUrls: channel.allowPrivateUrls,
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
    inbound.enqueue(letter.lane, [echo], { correlationId: letter.item.cid }).catch((err) => log.error({ err: redact(String(err)) }, 'could not tell the agent about an undelivered reply'));
  });

  let started = false;
  let stopping = false;
  const adapterStarted = new Set<string>();
  const retryTimers = new Set<NodeJS.Timeout>();

  const app = buildServer({
    channels,
    media,
    log,
    enqueueReply: async (channelId, reply) => {
      await outbound.enqueue({ channelId, clientId: reply.client_id }, [reply]);
    },
    readiness: () => {
      const checks: Record<string, boolean> = { redis: producer.status === 'ready', started: started && !stopping };
      if (role !== 'worker') for (const id of channels.keys()) checks[`adapter:${id}`] = adapterStarted.has(id);
      return { ready: Object.values(checks).every(Boolean), checks };
    },
  });

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
    async start() {
      await Promise.all([producer, workerConn, outboundConn].map((r) => waitForReady(r, 30_000)));
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
          reserve: async (lane, item) => (await channelOf(lane.channelId).adapter.reserve?.(item.payload)) ?? 0,
          deliver: async ({ lane, item, markPartsSent }) =>
            channelOf(lane.channelId).adapter.send(item.payload, { partsSent: item.sent ?? 0, onPartSent: markPartsSent }),
        });
      }
      if (role !== 'worker') {
        for (const [id, runtime] of channels) await startAdapter(id, runtime);
      }
      const address = await app.listen({ port: config.port, host: config.host });
      started = true;
      log.info({ address, role, channels: [...channels.keys()] }, 'blinger-bridge started');
      return address;
    },
    async stop() {
      stopping = true;
      for (const t of retryTimers) clearTimeout(t);
      await Promise.all([...channels.values()].map((c) => c.adapter.stop().catch(() => undefined)));
      await app.close();
      await Promise.all([inbound.close(), outbound.close()]);
      await Promise.all([producer, workerConn, outboundConn].map((r) => r.quit().catch(() => r.disconnect())));
      log.info('blinger-bridge stopped');
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
