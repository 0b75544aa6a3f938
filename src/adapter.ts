/**
 * The adapter contract: everything one messenger needs lives in `adapters/<type>/` and reaches
 * the core only through these types. Adding a messenger = a folder + one line in src/adapters.ts.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { InboundEvent, InboundMessage, OutboundMessage } from './message.js';
import type { DeliveryError } from './delivery/errors.js';

/** Where an adapter puts normalized messages. Resolves only once they are durable in Redis. */
export interface InboundSink {
  /**
   * Queues the messages of one source event (e.g. a Telegram update: media + caption) atomically.
   * `dedupeId` (e.g. the update_id) makes a redelivered event a no-op: it resolves 'duplicate'.
   * `correlationId` links the source event to its deliveries in logs.
   * `event` tells a channel's bot flow (src/flow/) what the user did: /start, a button, a phone…
   * With a bot flow, the bot's answers are queued in the same step, and 'queued' also covers an
   * event the flow deliberately dropped.
   */
  enqueue(
    messages: InboundMessage[],
    opts?: { dedupeId?: string; correlationId?: string; event?: InboundEvent },
  ): Promise<'queued' | 'duplicate'>;
}

export interface SendProgress {
  partsSent: number;
  /** After each part but the last (the message is popped when its last part went out). */
  onPartSent(partsSentSoFar: number): Promise<void>;
}

/** A file the messenger holds, described enough to serve it later through GET /media/:signed. */
export interface MediaRef {
  /** Adapter-specific handle, e.g. a Telegram file_id. */
  id: string;
  name?: string;
  mime?: string;
  size?: number;
}

export interface MediaLinks {
  /** An absolute, signed, expiring URL under PUBLIC_URL/media/ for this channel's file. */
  link(ref: MediaRef): string;
  /** How long a link stays valid (MEDIA_LINK_TTL): files an adapter keeps itself need live no longer. */
  readonly ttlMs: number;
}

export interface MediaStream {
  stream: Readable;
  contentType?: string;
  fileName?: string;
  size?: number;
}

/** A webhook request as the core hands it to an adapter (fastify-free, so adapters stay small). */
export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface WebhookReply {
  status: number;
  body?: unknown;
}

export interface CheckResult {
  ok: boolean;
  name: string;
  detail: string;
  /** What to do about it, for a failed check. */
  fix?: string;
}

export interface AdapterContext {
  channelId: string;
  /** The adapter's own section of the channel config (validated by the adapter). */
  settings: Record<string, unknown>;
  publicUrl: string;
  log: Logger;
  redis: Redis;
  /** Key prefix for any Redis keys the adapter keeps (leader locks, rate limits). */
  redisPrefix: string;
  inbound: InboundSink;
  media: MediaLinks;
  /** Whether outbound file downloads may reach loopback/private addresses (sandbox, tests). */
  allowPrivateUrls: boolean;
  /**
   * The channel's opening hours (its bot flow's `schedule`), when it has them: whether agents
   * answer now, and if not, when they next do (ms). A chat page can tell its visitors.
   */
  openingHours?: () => { open: boolean; opensAt?: number };
}

/** What became of one end-user message an adapter queued for Blinger (see Adapter.onInboundOutcome). */
export interface InboundOutcome {
  clientId: string;
  /** The `correlationId` the adapter passed to `inbound.enqueue`: names its source event. */
  correlationId: string;
  message: InboundMessage;
  /** Blinger accepted it, or it was dead-lettered (`reason` says why). */
  outcome: 'delivered' | 'dead_lettered';
  reason?: string;
}

export interface Adapter {
  readonly type: string;
  /** Begin receiving (polling loop, setWebhook). */
  start(): Promise<void>;
  /** Stop receiving; in-flight work is the queue's business. */
  stop(): Promise<void>;
  /** Handles POST /<type>/:channelId. Must answer 2xx only after `inbound.enqueue` resolved. */
  handleWebhook?(req: WebhookRequest): Promise<WebhookReply>;
  /**
   * Delivers one agent message to the end-user. Throws DeliveryError to say how it failed.
   * A message sent in several parts (long text) reports each part through `progress`, and a retry
   * starts after `progress.partsSent`, so no part reaches the user twice.
   */
  send(message: OutboundMessage, progress?: SendProgress): Promise<void>;
  /**
   * Pacing, asked before each send: 0 means go (and a slot was taken), otherwise the ms to wait.
   * Shared through Redis, so several worker processes stay within the messenger's limits together.
   * `opts.id` names this message across attempts (the lane item id): a slot reserved for it during
   * one call is found and used by the next call with the same id.
   */
  reserve?(message: OutboundMessage, opts?: { id?: string }): Promise<number>;
  /** Opens a file named by a MediaRef this adapter created, for GET /media/:signed. */
  openMedia?(ref: MediaRef): Promise<MediaStream>;
  /**
   * The sentence an agent should read in Blinger when a reply was dead-lettered because of the
   * end-user's side (blocked the bot, account deleted); undefined when the agent needn't know.
   */
  explainFailure?(error: DeliveryError): string | undefined;
  /** For `blinger-bridge check`. */
  check?(): Promise<CheckResult[]>;
  /**
   * Told, in the process that delivered it, what became of each message this adapter queued for
   * Blinger (a chat page shows "delivered" ticks, or "not delivered" with a resend). Optional;
   * a rejection is logged and changes nothing about the delivery.
   */
  onInboundOutcome?(outcome: InboundOutcome): Promise<void>;
}

/** What an adapter type's own routes get besides the server (see AdapterDefinition.registerRoutes). */
export interface AdapterRouteDeps {
  log: Logger;
  /** The ids of the channels that use this adapter type. */
  channelIds: string[];
}

export interface AdapterDefinition {
  type: string;
  create(ctx: AdapterContext): Adapter;
  /**
   * Optional routes of the adapter type's own — e.g. the web chat's page, socket and uploads —
   * for messengers that are more than one webhook. Called once per adapter type in use, before
   * the server listens. `lookup` returns the channel's adapter when the channel exists and is of
   * this type, else undefined (answer 404). Register inside `app.register(...)` so plugins and
   * content-type parsers stay encapsulated and the other routes keep their behaviour.
   */
  registerRoutes?(app: FastifyInstance, lookup: (channelId: string) => Adapter | undefined, deps: AdapterRouteDeps): void;
}
