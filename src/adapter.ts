/**
 * The adapter contract. Everything one messenger needs lives in `adapters/<type>/` and reaches the
 * core only through this module and the toolkit (src/toolkit.ts). Adding a messenger is a folder
 * plus one line in src/adapters.ts: its definition carries its settings schema, its environment
 * variables, routes, CLI commands, sender, media opener and send limits (docs/architecture.md).
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { InboundEvent, InboundMessage, OutboundMessage } from './message.js';
import type { DeliveryError } from './delivery/errors.js';

export type { InboundEvent, InboundMessage, MessageType, OutboundMessage, ReplyButton, ReplyKeyboard } from './message.js';
export { MAX_BUTTON_DATA_BYTES } from './message.js';

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

/** At most `max` requests in any `windowMs` milliseconds: the shape messengers publish. */
export interface RateLimit {
  max: number;
  windowMs: number;
}

/** A messenger's documented send limits. The core's pacer enforces them; no adapter paces itself. */
export interface SendLimits {
  /** The whole account: bot, community, phone number. */
  account?: RateLimit;
  /** One private conversation. */
  conversation?: RateLimit;
  /** One group conversation (applies instead of `conversation`, see Adapter.isGroup). */
  group?: RateLimit;
}

/** What the core hands to Adapter.send besides the message. */
export interface SendContext {
  /**
   * The message's id in the bridge, the same on every attempt: an idempotency key for messengers
   * that take one (VK's random_id, the HTTP channel's webhook-id).
   */
  messageId: string;
  /** Parts of this message that reached the user in earlier attempts: skip them. */
  partsSent: number;
  /** After each part but the last (the message is popped when its last part went out). */
  onPartSent(partsSentSoFar: number): Promise<void>;
  /**
   * Await right before each request that counts against the adapter's `limits` — nothing between
   * it and the call, since the request is counted at that moment (src/delivery/pacer.ts). Throws
   * a rate_limited DeliveryError coded `paced` when the wait is long: let it through, and the lane
   * waits without spending an attempt, then resumes after the parts already sent.
   * 'request' counts against the account limit only (an API call that is not a message).
   */
  pace(kind?: 'message' | 'request'): Promise<void>;
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
  method: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body (every string already well-formed). */
  body: unknown;
  /** The body exactly as received, for signatures computed over the bytes. */
  rawBody?: Buffer;
  query: Record<string, string | undefined>;
  /** The path after /<type>/<channelId> ('' for the channel's own route). */
  subpath: string;
}

export interface WebhookReply {
  status: number;
  /** JSON (an object) or a plain string answered as text/plain (e.g. VK's "ok"). */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface CheckResult {
  ok: boolean;
  name: string;
  detail: string;
  /** What to do about it, for a failed check. */
  fix?: string;
  /** Works, but the operator should read the advice. */
  warning?: boolean;
}

/** Parsed adapter settings: always carry the type. */
export interface AdapterSettings {
  type: string;
}

export interface AdapterContext<S extends AdapterSettings = AdapterSettings> {
  channelId: string;
  /** The channel's `adapter` section, parsed by the definition's `settings` schema. */
  settings: S;
  publicUrl: string;
  log: Logger;
  redis: Redis;
  /** Key prefix for any Redis keys the adapter keeps (leader locks, routes, stores). */
  redisPrefix: string;
  inbound: InboundSink;
  media: MediaLinks;
  /** Whether outbound file downloads may reach loopback/private addresses (sandbox, tests). */
  allowPrivateUrls: boolean;
  /** A bot flow or developer middleware decides what becomes of this channel's events. */
  botFlow: boolean;
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
  /** Begin receiving (polling loop, webhook registration). */
  start(): Promise<void>;
  /** Stop receiving; in-flight work is the queue's business. */
  stop(): Promise<void>;
  /**
   * Handles the adapter's webhook routes (see AdapterDefinition.webhook). Must answer 2xx only
   * after `inbound.enqueue` resolved; a thrown error is answered 503 so the sender redelivers.
   */
  handleWebhook?(req: WebhookRequest): Promise<WebhookReply>;
  /**
   * Optional: a check of a webhook request's headers alone (a secret header), run before its body
   * is read, so a forged request is refused without the bridge reading what it sends. Returns the
   * refusal (its body's `message` is sent), or undefined to go on.
   */
  authorizeWebhook?(headers: WebhookRequest['headers']): WebhookReply | undefined;
  /**
   * Delivers one agent message to the end-user. Throws DeliveryError to say how it failed.
   * A message sent in several parts (long text) reports each part through `ctx.onPartSent`, and a
   * retry starts after `ctx.partsSent`, so no part reaches the user twice.
   */
  send(message: OutboundMessage, ctx: SendContext): Promise<void>;
  /** The messenger's send limits, which the core's pacer enforces. */
  readonly limits?: SendLimits;
  /** Whether a conversation is a group chat (its `group` limit applies). */
  isGroup?(clientId: string): boolean;
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

/**
 * One channel from environment variables (the quick way to run one bot). The adapter whose
 * `enabledBy` variable is set is the channel's messenger; BLINGER_URL, BLINGER_TOKEN and
 * BLINGER_CHANNEL_ID give its Blinger side.
 */
export interface AdapterEnv {
  /** The variable whose presence selects this adapter, e.g. TELEGRAM_BOT_TOKEN. */
  enabledBy: string;
  /** Settings key → environment variable. Values arrive as strings; the schema coerces. */
  vars: Record<string, string>;
}

/** A channel of this type, built to be asked things by a CLI command (never started). */
export interface InspectedChannel {
  id: string;
  adapter?: Adapter;
  /** Why the adapter could not be built. */
  error?: string;
}

/** What the core gives an adapter's CLI command. */
export interface CliContext {
  /** The configured channels of this adapter type (loads the configuration on first use). */
  channels(): InspectedChannel[];
  /**
   * Parses options with `--help`/`-h` (prints `help` and returns undefined); unknown options and
   * missing values are a usage error naming `command`. Positional arguments only when allowed.
   */
  parse(
    command: string,
    help: string,
    argv: string[],
    options: Record<string, { type: 'string' | 'boolean' }>,
    allowPositionals?: boolean,
  ): { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined;
  /** Prints to stdout / stderr with control characters of message data made visible. */
  out(line: string): void;
  err(line: string): void;
}

/** `blinger-bridge <type> …`: commands of an adapter type (e.g. `telegram webhook set`). */
export interface AdapterCli {
  /** Lines for `blinger-bridge --help`, after the type, e.g. "webhook set|info|delete   the bots' webhooks". */
  summary: string[];
  /** Full help of `blinger-bridge <type> --help`. */
  help: string;
  /** Runs `blinger-bridge <type> …argv`; resolves with the exit status. Throw UsageError for misuse. */
  run(argv: string[], cli: CliContext): Promise<number>;
}

// The schema's input is whatever an operator may write (strings from the environment included).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnySchema<S> = z.ZodType<S, any>;

export interface AdapterDefinition<S extends AdapterSettings = AdapterSettings> {
  /** The `type` of a channel's `adapter` section, and the first segment of its routes. */
  type: string;
  /** What it connects, for `--help` and the docs ("Telegram bots", "the bridge's web chat"). */
  title: string;
  /**
   * Validates a channel's `adapter` section. Parsing its own output must give the same output
   * (the core validates at start and again when it builds the adapter).
   */
  settings: AnySchema<S>;
  /** Settings keys that hold secrets; the core keeps them out of logs from the start. */
  secrets?: readonly string[];
  /** Optional one-channel configuration from environment variables. */
  env?: AdapterEnv;
  create(ctx: AdapterContext<S>): Adapter;
  /**
   * Webhook routes answered by Adapter.handleWebhook: `POST /<type>/:channelId` by default;
   * `methods` adds e.g. GET (a verification handshake), `subpaths` routes under the channel
   * (e.g. ['messages'] for POST /<type>/:channelId/messages); `bodyLimit` raises the server's
   * 1 MiB body limit for a messenger that documents bigger webhooks (Meta: up to 3 MB).
   */
  webhook?: { methods?: ('GET' | 'POST')[]; subpaths?: string[]; bodyLimit?: number };
  /**
   * Optional routes of the adapter type's own — e.g. the web chat's page, socket and uploads —
   * for messengers that are more than one webhook. Called once per adapter type in use, before
   * the server listens. `lookup` returns the channel's adapter when the channel exists and is of
   * this type, else undefined (answer 404). Register inside `app.register(...)` so plugins and
   * content-type parsers stay encapsulated and the other routes keep their behaviour.
   */
  registerRoutes?(app: FastifyInstance, lookup: (channelId: string) => Adapter | undefined, deps: AdapterRouteDeps): void;
  /** `blinger-bridge <type> …` commands. */
  cli?: AdapterCli;
}

/** Identity with type inference: `export const fooAdapter = defineAdapter({ … })`. */
export function defineAdapter<S extends AdapterSettings>(def: AdapterDefinition<S>): AdapterDefinition<S> {
  return def;
}
