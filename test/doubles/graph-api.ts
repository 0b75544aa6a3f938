/**
 * A test double of Meta's Graph API for WhatsApp Cloud, Messenger and Instagram messaging: real
 * HTTP servers on 127.0.0.1 that speak Graph's envelopes, errors and limits for the calls the
 * bridge's Meta adapters make, plus a webhook sender that signs and encodes bodies like Meta.
 * Facts and their sources: docs/vendors/meta.md.
 *
 * Deliberate deviations from the real service, all in the direction of being usable in tests:
 * - One server plays graph.facebook.com and graph.instagram.com (same paths, same envelope); a
 *   second server on another port plays lookaside.fbsbx.com (media downloads, attachment CDN), so
 *   an adapter that builds media URLs from apiRoot instead of using the returned URL fails.
 * - Time is `clock()` (default Date.now) plus `advanceClock(ms)`: windows, pair rate, throughput,
 *   media URL and media id lifetimes all follow it, so tests never sleep.
 * - The customer service window opens when the double sends the user's inbound webhook
 *   (deliver) or when a test calls openWindow; Meta opens it when the user writes.
 * - Webhook redelivery is immediate-ish (retryDelaysMs) instead of Meta's hours-to-days backoff.
 * - Where Meta's docs give no exact text or HTTP status (media size refusals, lookaside failures,
 *   code 1/2 statuses), the double picks one and docs/vendors/meta.md says so.
 */
import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { MultipartError, parseBoundary, parseMultipart, type MultipartPart } from './multipart.js';
import { HeldResponses, InjectedFaults } from './faults.js';
import { LoopbackServer, jsonWriter } from './server.js';
import { DoubleTimers, waitForEvent } from './timers.js';
import { mulberry32 } from '../helpers/random.js';

// ================================================================ configuration

export type GraphChannel = 'whatsapp' | 'messenger' | 'instagram';

export interface GraphAccounts {
  whatsapp: { phoneNumberId: string; displayPhoneNumber: string; wabaId: string; accessToken: string };
  messenger: { pageId: string; accessToken: string };
  instagram: { accountId: string; accessToken: string };
}

/** Ids shaped like Meta's examples; tokens shaped like system-user / page / Instagram-login tokens. */
export const DEFAULT_GRAPH_ACCOUNTS: GraphAccounts = {
  whatsapp: {
    phoneNumberId: '106540352242922',
    displayPhoneNumber: '15550783881',
    wabaId: '102290129340398',
    accessToken: 'EAAJBwhatsappTestToken0123456789abcdefZZ',
  },
  messenger: { pageId: '682498302938465', accessToken: 'EAAJBpageTestToken0123456789abcdefZZZZZ' },
  instagram: { accountId: '17841405822304914', accessToken: 'IGAAJinstagramTestToken0123456789abcdef' },
};

export const DEFAULT_APP_SECRET = 'graph-double-app-secret-0123456789';

const KB = 1024;
const MB = 1024 * 1024;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Limits from Meta's docs (docs/vendors/meta.md). Tests may lower byte limits to keep buffers small. */
export interface GraphLimits {
  textLength: number;
  captionLength: number;
  interactiveBody: number;
  interactiveHeaderText: number;
  interactiveFooter: number;
  buttonTitle: number;
  buttonId: number;
  maxButtons: number;
  listButton: number;
  listRows: number;
  listSections: number;
  rowTitle: number;
  rowDescription: number;
  rowId: number;
  messengerTextLength: number;
  instagramTextBytes: number;
  quickReplies: number;
  quickReplyTitle: number;
  /** Messages per second per business number (130429). */
  throughputPerSecond: number;
  /** Pair rate: at most `pairRateBurst` messages to one user per `pairRateWindowMs` (131056). */
  pairRateWindowMs: number;
  pairRateBurst: number;
  customerServiceWindowMs: number;
  humanAgentWindowMs: number;
  mediaUrlTtlMs: number;
  webhookMediaTtlMs: number;
  uploadedMediaTtlMs: number;
  uploadBytes: { image: number; sticker: number; audio: number; video: number; document: number };
}

export const GRAPH_LIMITS: GraphLimits = {
  textLength: 4096,
  captionLength: 1024,
  interactiveBody: 1024,
  interactiveHeaderText: 60,
  interactiveFooter: 60,
  buttonTitle: 20,
  buttonId: 256,
  maxButtons: 3,
  listButton: 20,
  listRows: 10,
  listSections: 10,
  rowTitle: 24,
  rowDescription: 72,
  rowId: 200,
  messengerTextLength: 2000,
  instagramTextBytes: 1000,
  quickReplies: 13,
  quickReplyTitle: 20,
  throughputPerSecond: 80,
  pairRateWindowMs: 6000,
  pairRateBurst: 1,
  customerServiceWindowMs: DAY,
  humanAgentWindowMs: 7 * DAY,
  mediaUrlTtlMs: 5 * 60_000,
  webhookMediaTtlMs: 7 * DAY,
  uploadedMediaTtlMs: 30 * DAY,
  uploadBytes: { image: 5 * MB, sticker: 500 * KB, audio: 16 * MB, video: 16 * MB, document: 100 * MB },
};

/** What Media Upload accepts, compared with the file part's whole Content-Type (parameters included). */
export const WHATSAPP_UPLOAD_TYPES: Record<string, keyof GraphLimits['uploadBytes']> = {
  'text/plain': 'document',
  'video/mp4': 'video',
  'video/3gpp': 'video',
  'image/jpeg': 'image',
  'image/png': 'image',
  'image/webp': 'sticker',
  'audio/aac': 'audio',
  'audio/mp4': 'audio',
  'audio/mpeg': 'audio',
  'audio/amr': 'audio',
  'audio/ogg': 'audio',
  'audio/opus': 'audio',
  'application/vnd.ms-powerpoint': 'document',
  'application/msword': 'document',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'document',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'document',
  'application/pdf': 'document',
  'application/vnd.ms-excel': 'document',
};

export type WindowMode = 'refuse' | 'accept-then-fail';

export interface GraphDoubleOptions {
  accounts?: Partial<{ [K in keyof GraphAccounts]: Partial<GraphAccounts[K]> }>;
  /** The app secret the webhook sender signs with. */
  appSecret?: string;
  /** Wall-clock milliseconds; advanceClock() adds to it. Default Date.now. */
  clock?: () => number;
  /**
   * How a free-form WhatsApp send outside the 24 h window fails: at once with 131047 ('refuse',
   * default), or accepted with a message id and followed by a `failed` status webhook with 131047.
   */
  windowMode?: WindowMode;
  /** Enforce the pair rate (131056) and the per-number throughput (130429). Default false. */
  enforcePairRate?: boolean;
  enforceThroughput?: boolean;
  /** HTTP status of the throttling errors (4, 80007, 130429, 131056). Meta's docs say "classify by code". Default 400. */
  rateLimitStatus?: 400 | 429;
  /** HTTP status of token errors (104, 190). Seen as both 400 and 401 in the wild. Default 401. */
  authErrorStatus?: 400 | 401;
  /** Default redelivery of deliver() and scheduled status webhooks. Default 3 attempts, 25/100/250 ms apart. */
  webhookRetry?: { attempts?: number; delaysMs?: number[] };
  /** When set, only these WhatsApp template names are known; others get 132001. */
  templates?: string[];
  seed?: number;
  limits?: Partial<Omit<GraphLimits, 'uploadBytes'>> & { uploadBytes?: Partial<GraphLimits['uploadBytes']> };
}

/** An error the double answers with, as Graph's envelope fields plus the HTTP status. */
export interface GraphApiError {
  status: number;
  code: number;
  message: string;
  type?: string;
  subcode?: number;
  details?: string;
}

/** Faults for failNext / setFailureRate. Statuses of codes 1 and 2 are the double's choice. */
export const GRAPH_ERRORS = {
  unknown: {
    status: 500,
    code: 1,
    message: 'An unknown error occurred',
    type: 'OAuthException',
    details: 'Invalid request or possible server error.',
  },
  temporary: {
    status: 503,
    code: 2,
    message: 'An unexpected error has occurred. Please retry your request later.',
    type: 'OAuthException',
    details: 'Temporary due to downtime or due to being overloaded.',
  },
  appRateLimit: { status: 400, code: 4, message: '(#4) Application request limit reached', type: 'OAuthException' },
  userRateLimit: { status: 400, code: 17, message: '(#17) User request limit reached', type: 'OAuthException' },
  callsRateLimit: { status: 400, code: 613, message: '(#613) Calls to this api have exceeded the rate limit.', type: 'OAuthException' },
  wabaRateLimit: {
    status: 400,
    code: 80007,
    message: '(#80007) Rate limit issues',
    type: 'OAuthException',
    details: 'The WhatsApp Business Account has reached its rate limit.',
  },
  spamRateLimit: {
    status: 400,
    code: 131048,
    message: '(#131048) Spam rate limit hit',
    type: 'OAuthException',
    details: 'Message failed to send because there are restrictions on how many messages can be sent from this phone number.',
  },
  undeliverable: {
    status: 400,
    code: 131026,
    message: '(#131026) Message Undeliverable.',
    type: 'OAuthException',
    details: 'Message Undeliverable.',
  },
  serviceUnavailable: {
    status: 503,
    code: 131016,
    message: '(#131016) Service unavailable',
    type: 'OAuthException',
    details: 'A service is temporarily unavailable.',
  },
} satisfies Record<string, GraphApiError>;

// ================================================================ records

/** One accepted send (WhatsApp message, Messenger/Instagram message or sender action). */
export interface GraphSent {
  channel: GraphChannel;
  /** wamid / mid. */
  id: string;
  /** Who it went to: WhatsApp digits or BSUID, PSID or IGSID. */
  to: string;
  /** Which request field named the recipient. */
  via: 'to' | 'recipient' | 'recipient.id';
  /** WhatsApp `type`, or Messenger 'text' | attachment type | 'sender_action'. */
  type: string;
  /** The text, caption, interactive body, reaction emoji or template name. */
  text?: string;
  /** The request body as parsed. */
  body: Record<string, unknown>;
  /** Graph version in the path (e.g. 'v25.0'), or undefined when the path had none. */
  version?: string;
  /** True when Meta would fail it later (WhatsApp window, 'accept-then-fail'). */
  failsLater?: boolean;
  /** clock() at acceptance. */
  at: number;
}

/** Every HTTP call to the API servers, refused ones included. */
export interface GraphCall {
  method: string;
  path: string;
  version?: string;
  endpoint: string;
  status?: number;
  code?: number;
  at: number;
}

export interface DeliveryAttempt {
  url: string;
  /** The exact bytes posted. */
  rawBody: Buffer;
  headers: Record<string, string>;
  attempt: number;
  /** 0 when the connection failed or timed out. */
  status: number;
  responseBody: string;
  error?: string;
  at: number;
}

export interface DeliveryResult {
  /** Meta counts only 200 as delivered (anything else is retried). */
  delivered: boolean;
  status: number;
  responseBody: string;
  rawBody: Buffer;
  attempts: DeliveryAttempt[];
}

export type MetaEncoding = 'meta' | 'legacy' | 'plain';

export interface DeliverOptions {
  /** Signing key; default the double's app secret. */
  secret?: string;
  /** 'wrong' signs with another key; 'missing' sends no signature headers. */
  signature?: 'valid' | 'wrong' | 'missing';
  encoding?: MetaEncoding;
  /** Total POSTs while the answer is not 200. Default 3. */
  attempts?: number;
  retryDelaysMs?: number[];
  timeoutMs?: number;
}

interface StoredMedia {
  id: string;
  content: Buffer;
  mime: string;
  sha256: string;
  filename?: string;
  expiresAt: number;
  origin: 'user' | 'upload';
}

interface CallContext {
  call: GraphCall;
  method: string;
  segments: string[];
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  files: Map<string, MultipartPart>;
  token?: string;
  res: http.ServerResponse;
}

/** Thrown inside handlers; becomes Graph's error envelope. */
class GraphError extends Error {
  constructor(readonly e: GraphApiError) {
    super(e.message);
  }
}

// ================================================================ encoding and signing

/**
 * JSON the way Meta serialises webhook bodies: compact, non-ASCII as lowercase \uXXXX (UTF-16
 * units, so emoji become surrogate pairs) and `/` as `\/`. 'legacy' also escapes < % @ as the old
 * Messenger docs describe. Only string contents can hold these characters, so replacing them in
 * the serialised text is safe.
 */
export function encodeMetaJson(value: unknown, encoding: MetaEncoding = 'meta'): string {
  const json = JSON.stringify(value);
  if (encoding === 'plain') return json;
  const pattern = encoding === 'legacy' ? /[^\x20-\x7e]|[/<%@]/g : /[^\x20-\x7e]|\//g;
  return json.replace(pattern, (ch) => (ch === '/' ? '\\/' : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** `sha256=<hex HMAC-SHA256 of the raw bytes, keyed with the app secret>`. */
export function signMetaBody(rawBody: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

// ================================================================ the double

export class GraphDouble {
  /** Accepted sends, in order. */
  readonly sent: GraphSent[] = [];
  readonly calls: GraphCall[] = [];
  /** Every webhook POST the sender made, with the bridge's answers. */
  readonly deliveries: DeliveryAttempt[] = [];
  readonly accounts: GraphAccounts;
  readonly appSecret: string;
  readonly limits: GraphLimits;
  /** Payload builders. */
  readonly wa: WhatsAppPayloads;
  readonly fb: MessagingPayloads;
  readonly ig: MessagingPayloads;

  private readonly api: LoopbackServer;
  private readonly lookaside: LoopbackServer;
  private readonly events = new EventEmitter();
  private readonly baseClock: () => number;
  private clockOffset = 0;
  private windowMode: WindowMode;
  private enforcePairRate: boolean;
  private enforceThroughput: boolean;
  private latencyMs = 0;
  private webhookUrl?: string;
  private readonly media = new Map<string, StoredMedia>();
  private readonly cdn = new Map<string, { content: Buffer; mime: string }>();
  private readonly lastInbound = new Map<string, number>();
  private readonly unreachable = new Map<string, GraphApiError>();
  private readonly expiredTokens = new Set<string>();
  private readonly sendTimes = new Map<string, number[]>();
  /** Keyed by endpoint (see GraphCall.endpoint), or '*'. */
  private readonly faults: InjectedFaults<GraphApiError>;
  private readonly hanging = new HeldResponses();
  private readonly timers = new DoubleTimers();
  private closed = false;
  private readonly outgoing = new Set<http.ClientRequest>();
  private readonly background = new Set<Promise<unknown>>();

  /** @internal use startGraphDouble */
  constructor(private readonly opts: GraphDoubleOptions = {}) {
    const a = opts.accounts ?? {};
    this.accounts = {
      whatsapp: { ...DEFAULT_GRAPH_ACCOUNTS.whatsapp, ...a.whatsapp },
      messenger: { ...DEFAULT_GRAPH_ACCOUNTS.messenger, ...a.messenger },
      instagram: { ...DEFAULT_GRAPH_ACCOUNTS.instagram, ...a.instagram },
    };
    this.appSecret = opts.appSecret ?? DEFAULT_APP_SECRET;
    this.limits = { ...GRAPH_LIMITS, ...opts.limits, uploadBytes: { ...GRAPH_LIMITS.uploadBytes, ...opts.limits?.uploadBytes } };
    this.baseClock = opts.clock ?? Date.now;
    this.faults = new InjectedFaults(mulberry32(opts.seed ?? Date.now() >>> 0));
    this.windowMode = opts.windowMode ?? 'refuse';
    this.enforcePairRate = opts.enforcePairRate ?? false;
    this.enforceThroughput = opts.enforceThroughput ?? false;
    this.events.setMaxListeners(0);
    this.api = new LoopbackServer((req, res) => this.handleApi(req, res), crashed);
    this.lookaside = new LoopbackServer((req, res) => this.handleLookaside(req, res), crashed);
    this.wa = new WhatsAppPayloads(this);
    this.fb = new MessagingPayloads(this, 'messenger');
    this.ig = new MessagingPayloads(this, 'instagram');
  }

  /** @internal */
  async listen(): Promise<void> {
    for (const server of [this.api, this.lookaside]) await server.listen();
  }

  /** `http://127.0.0.1:<port>`: the adapters' apiRoot (graph.facebook.com / graph.instagram.com). */
  get apiRoot(): string {
    return this.api.origin;
  }

  /** Where media URLs point (lookaside.fbsbx.com's stand-in). */
  get lookasideRoot(): string {
    return this.lookaside.origin;
  }

  /** The callback URL set by subscribe(), if any. */
  get subscribedUrl(): string | undefined {
    return this.webhookUrl;
  }

  // ---------------------------------------------------------------- clock, window, users

  now(): number {
    return this.baseClock() + this.clockOffset;
  }

  advanceClock(ms: number): void {
    this.clockOffset += ms;
  }

  /** The user wrote now (or at `at`): opens the customer service window for each of their ids. */
  openWindow(userIds: string | string[], at = this.now()): void {
    for (const id of [userIds].flat()) this.lastInbound.set(normalizeUser(id), at);
  }

  closeWindow(userIds: string | string[]): void {
    for (const id of [userIds].flat()) this.lastInbound.delete(normalizeUser(id));
  }

  isWindowOpen(userId: string, spanMs = this.limits.customerServiceWindowMs): boolean {
    const last = this.lastInbound.get(normalizeUser(userId));
    return last !== undefined && this.now() - last < spanMs;
  }

  setWindowMode(mode: WindowMode): void {
    this.windowMode = mode;
  }

  setEnforcePairRate(on: boolean): void {
    this.enforcePairRate = on;
  }

  setEnforceThroughput(on: boolean): void {
    this.enforceThroughput = on;
  }

  /** Sends to this user fail: 'undeliverable' (WhatsApp 131026) or 'unavailable' (Messenger/IG 551). */
  makeUnreachable(userId: string, kind: 'undeliverable' | 'unavailable' = 'undeliverable'): void {
    const error: GraphApiError =
      kind === 'undeliverable'
        ? GRAPH_ERRORS.undeliverable
        : { status: 400, code: 551, subcode: 1545041, message: "(#551) This person isn't available right now.", type: 'OAuthException' };
    this.unreachable.set(normalizeUser(userId), error);
  }

  /** Calls with this token (default: all three accounts' tokens) get 190 "Session has expired". */
  expireToken(token?: string): void {
    const tokens = token ? [token] : Object.values(this.accounts).map((a) => a.accessToken);
    for (const t of tokens) this.expiredTokens.add(t);
  }

  // ---------------------------------------------------------------- faults

  /** The next `times` calls of `endpoint` ('*' = any; see GraphCall.endpoint) fail with `error`. */
  failNext(endpoint: string, error: GraphApiError, times = 1): void {
    this.faults.failNext(endpoint, error, times);
  }

  /** Each call of `endpoint` ('*' = any) fails with this probability (seeded PRNG). */
  setFailureRate(endpoint: string, probability: number, error: GraphApiError = GRAPH_ERRORS.unknown): void {
    this.faults.setFailureRate(endpoint, probability, error);
  }

  /** The next `times` calls of `endpoint` ('*' = any) are never answered. */
  hangNext(endpoint: string, times = 1): void {
    this.faults.hangNext(endpoint, times);
  }

  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  // ---------------------------------------------------------------- waiting

  /** Resolves with the accepted sends (of `channel`, if given) once there are at least `count`. */
  waitForSent(count: number, channel?: GraphChannel, timeoutMs = 10_000): Promise<GraphSent[]> {
    const pick = () => (channel ? this.sent.filter((s) => s.channel === channel) : this.sent);
    return waitForEvent(
      this.events,
      'sent',
      () => pick().length >= count,
      timeoutMs,
      () => {
        const refused = this.calls.filter((c) => c.status !== undefined && c.status !== 200).slice(-5);
        const last = refused.map((c) => `${c.method} ${c.path} ${c.status} #${c.code ?? ''}`).join('; ');
        return `waitForSent: expected ${count} sends, got ${pick().length} after ${timeoutMs} ms${last ? `; last refused: ${last}` : ''}`;
      },
    ).then(pick);
  }

  /** Resolves once the sender made at least `count` webhook POSTs (scheduled ones included). */
  waitForDeliveries(count: number, timeoutMs = 10_000): Promise<DeliveryAttempt[]> {
    return waitForEvent(
      this.events,
      'delivery',
      () => this.deliveries.length >= count,
      timeoutMs,
      () => `waitForDeliveries: expected ${count} webhook POSTs, got ${this.deliveries.length} after ${timeoutMs} ms`,
    ).then(() => this.deliveries);
  }

  /** Resolves once at least `count` calls are hanging (hangNext), unanswered. */
  waitForHanging(count = 1, timeoutMs = 10_000): Promise<void> {
    const n = () => this.hanging.size;
    return waitForEvent(
      this.events,
      'hang',
      () => n() >= count,
      timeoutMs,
      () => `waitForHanging: ${n()} of ${count} calls hanging`,
    );
  }

  // ---------------------------------------------------------------- media

  /**
   * Media a user sent (held by id, like Meta holds it for 7 days). Returns what webhook media
   * objects carry. Used by the wa.* builders; tests may call it directly.
   */
  addUserMedia(o: { content: Buffer; mime: string; filename?: string }): { id: string; mime_type: string; sha256: string; url: string } {
    const m = this.storeMedia({ ...o, origin: 'user', ttl: this.limits.webhookMediaTtlMs });
    return { id: m.id, mime_type: m.mime, sha256: m.sha256, url: this.mediaUrl(m) };
  }

  /** A media item as stored (uploads included), or undefined. */
  getMedia(id: string): { content: Buffer; mime: string; filename?: string; origin: 'user' | 'upload' } | undefined {
    const m = this.media.get(id);
    return m && { content: m.content, mime: m.mime, ...(m.filename !== undefined ? { filename: m.filename } : {}), origin: m.origin };
  }

  /** A Messenger/Instagram attachment URL on the CDN stand-in (no token needed, like Meta's CDN links). */
  addCdnFile(content: Buffer, mime: string): string {
    const id = randomDigits(16);
    this.cdn.set(id, { content, mime });
    return `${this.lookasideRoot}/messaging_cdn/${id}`;
  }

  // ---------------------------------------------------------------- webhook sender

  /** The GET handshake Meta makes when a callback URL is configured. */
  async verify(
    url: string,
    verifyToken: string,
    o: { challenge?: string; mode?: string; timeoutMs?: number } = {},
  ): Promise<{ ok: boolean; status: number; body: string; challenge: string }> {
    const challenge = o.challenge ?? String(randomInt(1_000_000_000, 2_000_000_000));
    const target = new URL(url);
    target.searchParams.set('hub.mode', o.mode ?? 'subscribe');
    target.searchParams.set('hub.challenge', challenge);
    target.searchParams.set('hub.verify_token', verifyToken);
    const answer = await this.request(target.toString(), 'GET', undefined, {}, o.timeoutMs ?? 10_000);
    return { ok: answer.status === 200 && answer.body === challenge, status: answer.status, body: answer.body, challenge };
  }

  /** Verifies the callback URL like Meta's dashboard does, then uses it for scheduled status webhooks. */
  async subscribe(url: string, verifyToken: string): Promise<void> {
    const r = await this.verify(url, verifyToken);
    if (!r.ok) throw new Error(`subscribe: verification of ${url} failed (${r.status} ${r.body.slice(0, 200)})`);
    this.webhookUrl = url;
  }

  /**
   * POSTs `payload` (one webhook object, or several merged with batch()) like Meta: encoded with
   * \uXXXX and \/ escapes, signed over the exact bytes (X-Hub-Signature-256, plus the legacy sha1
   * X-Hub-Signature), retried while the answer is not 200. Senders of inbound messages in the
   * payload get their customer service window opened first, as the user wrote.
   */
  async deliver(url: string, payload: object, o: DeliverOptions = {}): Promise<DeliveryResult> {
    this.recordInbound(payload);
    const rawBody = Buffer.from(encodeMetaJson(payload, o.encoding ?? 'meta'));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'facebookexternalua' };
    const signature = o.signature ?? 'valid';
    if (signature !== 'missing') {
      const key = signature === 'wrong' ? `${o.secret ?? this.appSecret}-wrong` : (o.secret ?? this.appSecret);
      headers['x-hub-signature-256'] = signMetaBody(rawBody, key);
      headers['x-hub-signature'] = `sha1=${createHmac('sha1', key).update(rawBody).digest('hex')}`;
    }
    const attempts: DeliveryAttempt[] = [];
    const maxAttempts = Math.max(1, o.attempts ?? this.opts.webhookRetry?.attempts ?? 3);
    const delays = o.retryDelaysMs ?? this.opts.webhookRetry?.delaysMs ?? [25, 100, 250];
    for (let n = 1; n <= maxAttempts; n++) {
      if (n > 1) await this.timers.sleep(delays[Math.min(n - 2, delays.length - 1)] ?? 0);
      if (n > 1 && this.closed) break;
      const attempt: DeliveryAttempt = { url, rawBody, headers, attempt: n, status: 0, responseBody: '', at: this.now() };
      try {
        const answer = await this.request(url, 'POST', rawBody, headers, o.timeoutMs ?? 10_000);
        attempt.status = answer.status;
        attempt.responseBody = answer.body;
      } catch (err) {
        attempt.error = (err as Error).message;
      }
      attempts.push(attempt);
      this.deliveries.push(attempt);
      this.events.emit('delivery', attempt);
      if (attempt.status === 200) break;
    }
    const last = attempts[attempts.length - 1]!;
    return { delivered: last.status === 200, status: last.status, responseBody: last.responseBody, rawBody, attempts };
  }

  /**
   * Several webhook payloads as Meta batches them into one POST: 'messages' merges WhatsApp
   * messages/statuses/contacts into one change (Messenger/Instagram: events into one entry's
   * messaging[]), 'changes' keeps one change each in one entry, 'entries' one entry each.
   */
  batch(payloads: object[], shape: 'messages' | 'changes' | 'entries' = 'messages'): object {
    type Entry = { id: string; time?: number; changes?: Array<{ value: Record<string, unknown[]>; field: string }>; messaging?: unknown[] };
    const list = payloads.map((p) => structuredClone(p) as { object: string; entry: Entry[] });
    const first = list[0];
    if (!first) throw new Error('batch: no payloads');
    if (list.some((p) => p.object !== first.object)) throw new Error('batch: payloads of different objects');
    const entries = list.flatMap((p) => p.entry);
    if (shape === 'entries') return { object: first.object, entry: entries };
    const head = entries[0]!;
    if (first.object !== 'whatsapp_business_account') {
      head.messaging = entries.flatMap((e) => e.messaging ?? []);
      return { object: first.object, entry: [head] };
    }
    const changes = entries.flatMap((e) => e.changes ?? []);
    if (shape === 'changes') return { object: first.object, entry: [{ ...head, changes }] };
    const value = changes[0]!.value;
    for (const change of changes.slice(1)) {
      for (const key of ['contacts', 'messages', 'statuses'] as const) {
        const more = change.value[key];
        if (more) value[key] = [...(value[key] ?? []), ...more];
      }
    }
    return { object: first.object, entry: [{ ...head, changes: [changes[0]] }] };
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Clears records, faults, windows, user states, rate windows, expired tokens, latency and the
   * subscription; keeps media (ids stay valid until they expire) and the clock offset.
   */
  reset(): void {
    this.sent.length = 0;
    this.calls.length = 0;
    this.deliveries.length = 0;
    this.lastInbound.clear();
    this.unreachable.clear();
    this.expiredTokens.clear();
    this.sendTimes.clear();
    this.faults.clear();
    this.latencyMs = 0;
    delete this.webhookUrl;
    this.windowMode = this.opts.windowMode ?? 'refuse';
    this.enforcePairRate = this.opts.enforcePairRate ?? false;
    this.enforceThroughput = this.opts.enforceThroughput ?? false;
    this.hanging.dropAll();
  }

  async close(): Promise<void> {
    this.closed = true;
    // Waits end early (not cancelled), so deliveries in the background finish and nothing waits on a closed double.
    this.timers.wakeAll();
    for (const req of this.outgoing) req.destroy(new Error('double closed'));
    await Promise.allSettled([...this.background]);
    await Promise.all([this.api.close(), this.lookaside.close()]);
  }

  // ================================================================ internals: plumbing

  private async handleApi(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const version = /^v\d+\.\d+$/.test(segments[0] ?? '') ? segments.shift() : undefined;
    const method = req.method ?? 'GET';
    const call: GraphCall = { method, path: url.pathname, endpoint: 'unknown', at: this.now(), ...(version ? { version } : {}) };
    this.calls.push(call);

    let parsed: { body: Record<string, unknown>; files: Map<string, MultipartPart> };
    try {
      parsed = await readParams(req);
    } catch (err) {
      return this.answer(res, call, err instanceof GraphError ? err : invalid('request body', String(err)));
    }
    const query = url.searchParams;
    const token = bearer(req.headers.authorization) ?? query.get('access_token') ?? stringOr(parsed.body.access_token);
    const ctx: CallContext = { call, method, segments, query, headers: req.headers, body: parsed.body, files: parsed.files, res };
    if (token) ctx.token = token;
    try {
      const owner = this.authenticate(ctx);
      const route = this.route(ctx, owner);
      call.endpoint = route.endpoint;
      if (route.channel !== owner) throw new GraphError(noSuchObject(segments[0] ?? '', method));
      if (this.latencyMs > 0) await this.timers.sleep(this.latencyMs);
      if (this.faults.takeHang([route.endpoint, '*'])) return this.hang(res);
      const fault = this.faults.takeFault([route.endpoint, '*']);
      if (fault) throw new GraphError(fault);
      const result = route.handle();
      this.answer(res, call, result);
      result.after?.();
    } catch (err) {
      if (err instanceof GraphError) return this.answer(res, call, err);
      throw err;
    }
  }

  /** Which handler serves this path, and for which account (`me` is the token's own account). */
  private route(ctx: CallContext, owner: GraphChannel): { endpoint: string; channel: GraphChannel; handle: () => Answer } {
    const { segments, method } = ctx;
    const [rawId, edge, ...extra] = segments;
    if (rawId === undefined || extra.length > 0) throw new GraphError(unknownPath(ctx.call.path));
    const { whatsapp, messenger, instagram } = this.accounts;
    const id = rawId === 'me' ? this.ownId(owner) : rawId;
    const account: GraphChannel | undefined =
      id === whatsapp.phoneNumberId
        ? 'whatsapp'
        : id === messenger.pageId
          ? 'messenger'
          : id === instagram.accountId
            ? 'instagram'
            : undefined;
    if (edge === undefined && method === 'GET') {
      if (account) return { endpoint: 'account.get', channel: account, handle: () => this.accountInfo(account) };
      return { endpoint: 'media.get', channel: 'whatsapp', handle: () => this.mediaInfo(id, ctx) };
    }
    if (edge === undefined && method === 'DELETE')
      return { endpoint: 'media.delete', channel: 'whatsapp', handle: () => this.mediaDelete(id, ctx) };
    if (method === 'POST' && edge === 'messages' && account) {
      if (account === 'whatsapp') return { endpoint: 'whatsapp.messages', channel: account, handle: () => this.waSend(ctx) };
      return { endpoint: `${account}.messages`, channel: account, handle: () => this.messagingSend(account, ctx) };
    }
    if (method === 'POST' && edge === 'media' && account === 'whatsapp') {
      return { endpoint: 'whatsapp.media', channel: account, handle: () => this.upload(ctx) };
    }
    if (edge === undefined || ['messages', 'media'].includes(edge)) throw new GraphError(noSuchObject(rawId, method));
    throw new GraphError(unknownPath(ctx.call.path));
  }

  private ownId(channel: GraphChannel): string {
    const { whatsapp, messenger, instagram } = this.accounts;
    return channel === 'whatsapp' ? whatsapp.phoneNumberId : channel === 'messenger' ? messenger.pageId : instagram.accountId;
  }

  /** The account a token belongs to: 104 without one, 190 when unknown or expired. */
  private authenticate(ctx: CallContext): GraphChannel {
    const status = this.opts.authErrorStatus ?? 401;
    if (!ctx.token)
      throw new GraphError({ status, code: 104, message: 'An access token is required to request this resource.', type: 'OAuthException' });
    if (this.expiredTokens.has(ctx.token)) {
      const when = new Date(this.now() - HOUR).toUTCString();
      throw new GraphError({
        status,
        code: 190,
        subcode: 463,
        type: 'OAuthException',
        message: `Error validating access token: Session has expired on ${when}. The current time is ${new Date(this.now()).toUTCString()}.`,
      });
    }
    const owner = (Object.keys(this.accounts) as GraphChannel[]).find((c) => this.accounts[c].accessToken === ctx.token);
    if (!owner)
      throw new GraphError({
        status,
        code: 190,
        message: 'Invalid OAuth access token - Cannot parse access token',
        type: 'OAuthException',
      });
    return owner;
  }

  /** GET /{phone-number-id}, /{page-id}, /{ig-id} or /me: what a `check` command reads. */
  private accountInfo(channel: GraphChannel): Answer {
    const { whatsapp, messenger, instagram } = this.accounts;
    if (channel === 'whatsapp') {
      return {
        body: {
          verified_name: 'Test Business',
          display_phone_number: whatsapp.displayPhoneNumber,
          id: whatsapp.phoneNumberId,
          quality_rating: 'GREEN',
        },
      };
    }
    if (channel === 'messenger') return { body: { name: 'Test Page', id: messenger.pageId } };
    return { body: { user_id: instagram.accountId, username: 'test_business', id: instagram.accountId } };
  }

  private answer(res: http.ServerResponse, call: GraphCall, outcome: GraphError | Answer): void {
    if (outcome instanceof GraphError) {
      const e = outcome.e;
      call.status = e.status;
      call.code = e.code;
      const error: Record<string, unknown> = { message: e.message, type: e.type ?? 'OAuthException', code: e.code };
      const messaging = call.endpoint.startsWith('messenger') || call.endpoint.startsWith('instagram');
      if (e.details !== undefined && !messaging) error.error_data = { messaging_product: 'whatsapp', details: e.details };
      if (e.subcode !== undefined) error.error_subcode = e.subcode;
      error.fbtrace_id = randomBytes(12).toString('base64url');
      return writeJson(res, e.status, { error });
    }
    call.status = 200;
    writeJson(res, 200, outcome.body);
  }

  private hang(res: http.ServerResponse): void {
    this.hanging.hold(res);
    this.events.emit('hang');
  }

  /** An HTTP request on a fresh connection, tracked so close() can cut it. */
  private request(
    url: string,
    method: string,
    body: Buffer | undefined,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        { method, agent: false, timeout: timeoutMs, headers: body ? { ...headers, 'content-length': String(body.length) } : headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      this.outgoing.add(req);
      req.on('close', () => this.outgoing.delete(req));
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The senders of inbound messages in a webhook payload wrote now. */
  private recordInbound(payload: object): void {
    const p = payload as { object?: string; entry?: Array<Record<string, unknown>> };
    for (const entry of p.entry ?? []) {
      for (const change of (entry.changes as Array<{ value?: { messages?: Array<Record<string, unknown>> } }>) ?? []) {
        for (const m of change.value?.messages ?? []) {
          this.openWindow([m.from, m.from_user_id].filter((x): x is string => typeof x === 'string'));
        }
      }
      for (const event of (entry.messaging as Array<Record<string, unknown>>) ?? []) {
        const sender = (event.sender as { id?: string } | undefined)?.id;
        const echo = (event.message as { is_echo?: boolean } | undefined)?.is_echo === true;
        if (sender && sender !== entry.id && !echo) this.openWindow(sender);
      }
    }
  }

  // ================================================================ internals: WhatsApp sends

  private waSend(ctx: CallContext): Answer {
    const body = ctx.body;
    const check = new Validator();
    if (body.messaging_product === undefined) throw check.required('messaging_product');
    if (body.messaging_product !== 'whatsapp') throw check.invalid('messaging_product', "must be 'whatsapp'");
    if (body.recipient_type !== undefined && body.recipient_type !== 'individual') {
      throw check.invalid('recipient_type', "must be 'individual' (the double has no groups)");
    }
    const recipient = this.waRecipient(body, check);
    const type = body.type === undefined ? 'text' : body.type;
    if (typeof type !== 'string' || !WA_TYPES.includes(type)) {
      throw check.invalid('type', `must be one of {${WA_TYPES.join(', ')}}`);
    }
    if (body.context !== undefined && !isObject(body.context, 'message_id'))
      throw check.invalid("context['message_id']", 'must be a message id');
    const text = this.validateWaContent(type, body, check);

    const refused = this.unreachable.get(recipient.key);
    if (refused) throw new GraphError(refused);
    const now = this.now();
    this.checkWaRates(recipient.key, now);
    const windowClosed = type !== 'template' && !this.isWindowOpen(recipient.key);
    if (windowClosed && this.windowMode === 'refuse') throw new GraphError(reEngagement());

    const sent = this.accept({
      channel: 'whatsapp',
      id: `wamid.${randomBytes(24).toString('base64')}`,
      to: recipient.key,
      via: recipient.via,
      type,
      body,
      ...(text !== undefined ? { text } : {}),
      ...(ctx.call.version ? { version: ctx.call.version } : {}),
      ...(windowClosed ? { failsLater: true } : {}),
      at: now,
    });
    this.pushTimes(`pair:${recipient.key}`, now);
    this.pushTimes('throughput', now);
    const contact =
      recipient.via === 'to' ? { input: recipient.input, wa_id: recipient.key } : { input: recipient.input, user_id: recipient.key };
    return {
      body: { messaging_product: 'whatsapp', contacts: [contact], messages: [{ id: sent.id }] },
      after: windowClosed ? () => this.scheduleStatus(this.wa.status(sent, 'failed', { errors: [reEngagementStatusError()] })) : undefined,
    };
  }

  /** `to` (phone) wins over `recipient` (BSUID), as Meta documents. */
  private waRecipient(body: Record<string, unknown>, check: Validator): { key: string; input: string; via: 'to' | 'recipient' } {
    if (body.to !== undefined) {
      if (typeof body.to !== 'string' || !/^\+?[\d\s().-]{5,}$/.test(body.to)) throw check.invalid('to', 'must be a phone number');
      return { key: body.to.replace(/\D/g, ''), input: body.to, via: 'to' };
    }
    if (body.recipient !== undefined) {
      if (typeof body.recipient !== 'string' || !BSUID.test(body.recipient)) {
        throw check.invalid('recipient', 'must be a business-scoped user ID (CC.alphanumeric)');
      }
      return { key: body.recipient, input: body.recipient, via: 'recipient' };
    }
    throw check.required('to');
  }

  /** Validates the type's object as Meta does; returns the text to record, if any. */
  private validateWaContent(type: string, body: Record<string, unknown>, check: Validator): string | undefined {
    const L = this.limits;
    const content = body[type];
    if (type === 'contacts') {
      if (!Array.isArray(content) || content.length === 0) throw check.required('contacts');
      content.forEach((card: Record<string, unknown>, i) => {
        if (!isObject(card?.name, 'formatted_name')) throw check.required(`contacts[${i}]['name']['formatted_name']`);
      });
      return undefined;
    }
    if (!isObject(content)) throw check.required(type);
    const c = content as Record<string, unknown>;
    switch (type) {
      case 'text': {
        check.text(c.body, `text['body']`, L.textLength);
        if (c.preview_url !== undefined && typeof c.preview_url !== 'boolean')
          throw check.invalid(`text['preview_url']`, 'must be a boolean');
        return c.body as string;
      }
      case 'image':
      case 'video':
      case 'audio':
      case 'document':
      case 'sticker':
        return this.validateWaMedia(type, c, check);
      case 'location':
        for (const k of ['latitude', 'longitude']) {
          if (c[k] === undefined) throw check.required(`location['${k}']`);
          if (!Number.isFinite(Number(c[k]))) throw check.invalid(`location['${k}']`, 'must be a number');
        }
        return undefined;
      case 'reaction':
        check.text(c.message_id, `reaction['message_id']`, 512);
        if (c.emoji !== undefined && typeof c.emoji !== 'string') throw check.invalid(`reaction['emoji']`, 'must be a string');
        return typeof c.emoji === 'string' ? c.emoji : undefined;
      case 'template':
        return this.validateWaTemplate(c, check);
      case 'interactive':
        return this.validateWaInteractive(c, check);
      default:
        throw new GraphError({
          status: 400,
          code: 131051,
          message: '(#131051) Unsupported message type',
          details: 'Unsupported message type.',
        });
    }
  }

  private validateWaMedia(type: string, c: Record<string, unknown>, check: Validator): string | undefined {
    const hasId = c.id !== undefined;
    const hasLink = c.link !== undefined;
    if (hasId === hasLink) throw check.invalid(`${type}`, "must have exactly one of 'id' or 'link'");
    if (hasId) {
      const m = typeof c.id === 'string' ? this.media.get(c.id) : undefined;
      if (!m || m.expiresAt <= this.now()) throw check.invalid(`${type}['id']`, 'is not a valid media id (unknown or expired)');
    } else if (typeof c.link !== 'string' || !/^https?:\/\/\S+$/i.test(c.link)) {
      throw check.invalid(`${type}['link']`, 'must be an http(s) URL');
    }
    if (c.caption !== undefined) {
      if (type === 'audio' || type === 'sticker') throw check.invalid(`${type}['caption']`, `is not supported for ${type}`);
      check.text(c.caption, `${type}['caption']`, this.limits.captionLength);
    }
    if (c.filename !== undefined) {
      if (type !== 'document') throw check.invalid(`${type}['filename']`, 'is only supported for document');
      check.text(c.filename, `document['filename']`, 240);
    }
    return typeof c.caption === 'string' ? c.caption : undefined;
  }

  private validateWaTemplate(c: Record<string, unknown>, check: Validator): string {
    check.text(c.name, `template['name']`, 512);
    if (!isObject(c.language, 'code')) throw check.required(`template['language']['code']`);
    if (c.components !== undefined && !Array.isArray(c.components)) throw check.invalid(`template['components']`, 'must be an array');
    const known = this.opts.templates;
    if (known && !known.includes(c.name as string)) {
      throw new GraphError({
        status: 404,
        code: 132001,
        message: '(#132001) Template name does not exist in the translation',
        details: `template name (${String(c.name)}) does not exist in ${String((c.language as Record<string, unknown>).code)}`,
      });
    }
    return c.name as string;
  }

  private validateWaInteractive(c: Record<string, unknown>, check: Validator): string {
    const L = this.limits;
    const kind = c.type;
    if (kind !== 'button' && kind !== 'list' && kind !== 'cta_url' && kind !== 'request_contact_info')
      throw check.invalid(`interactive['type']`, 'must be one of {button, list, cta_url, request_contact_info}');
    if (!isObject(c.body, 'text')) throw check.required(`interactive['body']['text']`);
    check.text((c.body as Record<string, unknown>).text, `interactive['body']['text']`, L.interactiveBody);
    if (c.footer !== undefined)
      check.text((c.footer as Record<string, unknown>)?.text, `interactive['footer']['text']`, L.interactiveFooter);
    const header = c.header as Record<string, unknown> | undefined;
    if (header?.type === 'text') check.text(header.text, `interactive['header']['text']`, L.interactiveHeaderText);
    const action = c.action as Record<string, unknown> | undefined;
    if (!isObject(action)) throw check.required(`interactive['action']`);
    if (kind === 'button') {
      const buttons = action!.buttons;
      if (!Array.isArray(buttons) || buttons.length === 0) throw check.required(`interactive['action']['buttons']`);
      if (buttons.length > L.maxButtons)
        throw check.invalid(`interactive['action']['buttons']`, `must have at most ${L.maxButtons} elements`);
      const titles = new Set<string>();
      buttons.forEach((b: Record<string, unknown>, i) => {
        const at = `interactive['action']['buttons'][${i}]`;
        if (b?.type !== 'reply') throw check.invalid(`${at}['type']`, "must be 'reply'");
        const reply = b.reply as Record<string, unknown> | undefined;
        check.text(reply?.id, `${at}['reply']['id']`, L.buttonId);
        check.text(reply?.title, `${at}['reply']['title']`, L.buttonTitle);
        if (titles.has(reply!.title as string)) throw check.invalid(`${at}['reply']['title']`, 'must be unique');
        titles.add(reply!.title as string);
      });
    } else if (kind === 'list') {
      check.text(action!.button, `interactive['action']['button']`, L.listButton);
      const sections = action!.sections;
      if (!Array.isArray(sections) || sections.length === 0) throw check.required(`interactive['action']['sections']`);
      if (sections.length > L.listSections)
        throw check.invalid(`interactive['action']['sections']`, `must have at most ${L.listSections} elements`);
      let rows = 0;
      sections.forEach((s: Record<string, unknown>, i) => {
        const list = s?.rows;
        if (!Array.isArray(list) || list.length === 0) throw check.required(`interactive['action']['sections'][${i}]['rows']`);
        list.forEach((r: Record<string, unknown>, j) => {
          const at = `interactive['action']['sections'][${i}]['rows'][${j}]`;
          check.text(r?.id, `${at}['id']`, L.rowId);
          check.text(r?.title, `${at}['title']`, L.rowTitle);
          if (r.description !== undefined) check.text(r.description, `${at}['description']`, L.rowDescription);
          rows++;
        });
      });
      if (rows > L.listRows) throw check.invalid(`interactive['action']['sections']`, `must have at most ${L.listRows} rows in total`);
    } else if (kind === 'request_contact_info') {
      // WhatsApp draws the button itself (fixed text); the user's answer is a contacts message
      // with origin 'contact_request' (contactShare()). Meta's page n/f; shape from BSUID partners' docs.
      if (action!.name !== 'request_contact_info') throw check.invalid(`interactive['action']['name']`, "must be 'request_contact_info'");
    } else {
      const params = action!.parameters as Record<string, unknown> | undefined;
      if (action!.name !== 'cta_url') throw check.invalid(`interactive['action']['name']`, "must be 'cta_url'");
      check.text(params?.display_text, `interactive['action']['parameters']['display_text']`, L.buttonTitle);
      if (typeof params?.url !== 'string' || !/^https?:\/\//i.test(params.url)) {
        throw check.invalid(`interactive['action']['parameters']['url']`, 'must be an http(s) URL');
      }
    }
    return (c.body as Record<string, unknown>).text as string;
  }

  /** Throughput (130429) before the pair rate (131056); only accepted sends count. */
  private checkWaRates(user: string, now: number): void {
    const status = this.opts.rateLimitStatus ?? 400;
    if (this.enforceThroughput && this.times('throughput', now, 1000).length >= this.limits.throughputPerSecond) {
      throw new GraphError({
        status,
        code: 130429,
        subcode: 2494055,
        message: '(#130429) Rate limit hit',
        details: 'Cloud API message throughput has been reached.',
      });
    }
    const pair = this.times(`pair:${user}`, now, this.limits.pairRateWindowMs);
    if (this.enforcePairRate && pair.length >= this.limits.pairRateBurst) {
      throw new GraphError({
        status,
        code: 131056,
        message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
        details: 'Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.',
      });
    }
  }

  private times(key: string, now: number, span: number): number[] {
    const kept = (this.sendTimes.get(key) ?? []).filter((t) => t > now - span && t <= now);
    this.sendTimes.set(key, kept);
    return kept;
  }

  private pushTimes(key: string, now: number): void {
    const list = this.sendTimes.get(key) ?? [];
    list.push(now);
    this.sendTimes.set(key, list);
  }

  private accept(sent: GraphSent): GraphSent {
    this.sent.push(sent);
    this.events.emit('sent', sent);
    return sent;
  }

  /** A status webhook to the subscribed URL after the response went out (Meta's async failure path). */
  private scheduleStatus(payload: object): void {
    const url = this.webhookUrl;
    if (!url) return;
    const job = this.deliver(url, payload).catch(() => undefined);
    this.background.add(job);
    void job.finally(() => this.background.delete(job));
  }

  // ================================================================ internals: Messenger / Instagram sends

  private messagingSend(channel: 'messenger' | 'instagram', ctx: CallContext): Answer {
    const L = this.limits;
    const body = ctx.body;
    const check = new Validator(false);
    const recipient = parseJsonish(body.recipient) as Record<string, unknown> | undefined;
    if (!isObject(recipient)) throw check.required('recipient');
    if (typeof recipient!.id !== 'string' || !/^\d+$/.test(recipient!.id)) throw check.invalid('recipient[id]', 'must be a PSID/IGSID');
    const psid = recipient!.id;
    const senderAction = body.sender_action;
    const message = parseJsonish(body.message) as Record<string, unknown> | undefined;
    let type: string;
    let text: string | undefined;
    if (senderAction !== undefined) {
      if (!['typing_on', 'typing_off', 'mark_seen', 'react', 'unreact'].includes(String(senderAction))) {
        throw check.invalid('sender_action', 'must be one of {typing_on, typing_off, mark_seen}');
      }
      type = 'sender_action';
    } else {
      const mtype = body.messaging_type;
      if (mtype === undefined) throw check.required('messaging_type');
      if (!['RESPONSE', 'UPDATE', 'MESSAGE_TAG'].includes(String(mtype)))
        throw check.invalid('messaging_type', 'must be one of {RESPONSE, UPDATE, MESSAGE_TAG}');
      if (mtype === 'MESSAGE_TAG' && !MESSAGE_TAGS.includes(String(body.tag)))
        throw check.invalid('tag', `must be one of {${MESSAGE_TAGS.join(', ')}}`);
      if (!isObject(message)) throw check.required('message');
      ({ type, text } = this.validateMessagingMessage(channel, message!, check, L));
    }
    const refused = this.unreachable.get(psid);
    if (refused) throw new GraphError(refused);
    const humanAgent = body.tag === 'HUMAN_AGENT';
    if (!this.isWindowOpen(psid) && !(humanAgent && this.isWindowOpen(psid, L.humanAgentWindowMs))) {
      throw new GraphError({
        status: 400,
        code: 10,
        subcode: channel === 'messenger' ? 2018278 : 2534022,
        type: 'OAuthException',
        message:
          '(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview',
      });
    }
    const mid = channel === 'messenger' ? `m_${randomBytes(30).toString('base64url')}` : `aWdf${randomBytes(40).toString('base64url')}`;
    this.accept({
      channel,
      id: mid,
      to: psid,
      via: 'recipient.id',
      type,
      body,
      ...(text !== undefined ? { text } : {}),
      ...(ctx.call.version ? { version: ctx.call.version } : {}),
      at: this.now(),
    });
    return { body: type === 'sender_action' ? { recipient_id: psid } : { recipient_id: psid, message_id: mid } };
  }

  private validateMessagingMessage(
    channel: 'messenger' | 'instagram',
    m: Record<string, unknown>,
    check: Validator,
    L: GraphLimits,
  ): { type: string; text?: string } {
    if ((m.text === undefined) === (m.attachment === undefined))
      throw check.invalid('message', "must have exactly one of 'text' or 'attachment'");
    if (m.quick_replies !== undefined) {
      if (!Array.isArray(m.quick_replies) || m.quick_replies.length > L.quickReplies) {
        throw check.invalid('message[quick_replies]', `must be an array of at most ${L.quickReplies}`);
      }
      m.quick_replies.forEach((q: Record<string, unknown>, i) => {
        if (q?.content_type === 'text') check.text(q.title, `message[quick_replies][${i}][title]`, L.quickReplyTitle);
      });
    }
    if (m.text !== undefined) {
      if (channel === 'instagram') {
        check.text(m.text, 'message[text]', Number.MAX_SAFE_INTEGER);
        if (Buffer.byteLength(m.text as string) > L.instagramTextBytes)
          throw check.invalid('message[text]', `must be at most ${L.instagramTextBytes} bytes`);
      } else {
        check.text(m.text, 'message[text]', L.messengerTextLength);
      }
      return { type: 'text', text: m.text as string };
    }
    const a = m.attachment as Record<string, unknown>;
    if (!isObject(a)) throw check.invalid('message[attachment]', 'must be an object');
    const types =
      channel === 'messenger'
        ? ['image', 'audio', 'video', 'file', 'template']
        : ['image', 'audio', 'video', 'file', 'template', 'like_heart'];
    if (!types.includes(String(a.type))) throw check.invalid('message[attachment][type]', `must be one of {${types.join(', ')}}`);
    const payload = a.payload as Record<string, unknown> | undefined;
    if (a.type !== 'template' && a.type !== 'like_heart') {
      if (!isObject(payload)) throw check.required('message[attachment][payload]');
      const byUrl = typeof payload!.url === 'string' && /^https?:\/\/\S+$/i.test(payload!.url);
      if (!byUrl && payload!.attachment_id === undefined)
        throw check.invalid('message[attachment][payload][url]', 'must be an http(s) URL');
    }
    return { type: String(a.type) };
  }

  // ================================================================ internals: media

  private storeMedia(o: { content: Buffer; mime: string; filename?: string; origin: 'user' | 'upload'; ttl: number }): StoredMedia {
    const m: StoredMedia = {
      id: randomDigits(16),
      content: o.content,
      mime: o.mime,
      sha256: createHash('sha256').update(o.content).digest('base64'),
      expiresAt: this.now() + o.ttl,
      origin: o.origin,
      ...(o.filename !== undefined ? { filename: o.filename } : {}),
    };
    this.media.set(m.id, m);
    return m;
  }

  /** A lookaside-like URL: valid for mediaUrlTtlMs, only with the Bearer token. */
  private mediaUrl(m: StoredMedia): string {
    const ext = Math.floor((this.now() + this.limits.mediaUrlTtlMs) / 1000);
    const hash = createHmac('sha256', this.appSecret).update(`${m.id}:${ext}`).digest('base64url').slice(0, 22);
    return `${this.lookasideRoot}/whatsapp_business/attachments/?mid=${m.id}&ext=${ext}&hash=${hash}`;
  }

  private liveMedia(id: string, ctx: CallContext): StoredMedia {
    const m = this.media.get(id);
    const phone = ctx.query.get('phone_number_id');
    if (!m || m.expiresAt <= this.now() || (phone !== null && phone !== this.accounts.whatsapp.phoneNumberId)) {
      throw new GraphError(noSuchObject(id, ctx.method));
    }
    return m;
  }

  private mediaInfo(id: string, ctx: CallContext): Answer {
    const m = this.liveMedia(id, ctx);
    return {
      body: {
        messaging_product: 'whatsapp',
        url: this.mediaUrl(m),
        mime_type: m.mime,
        sha256: m.sha256,
        file_size: m.content.length,
        id: m.id,
      },
    };
  }

  private mediaDelete(id: string, ctx: CallContext): Answer {
    this.liveMedia(id, ctx);
    this.media.delete(id);
    return { body: { success: true } };
  }

  /** Media Upload: multipart `messaging_product` + `file`; the part's own Content-Type decides. */
  private upload(ctx: CallContext): Answer {
    const check = new Validator();
    if (ctx.body.messaging_product === undefined) throw check.required('messaging_product');
    if (ctx.body.messaging_product !== 'whatsapp') throw check.invalid('messaging_product', "must be 'whatsapp'");
    const file = ctx.files.get('file');
    if (!file) throw check.required('file');
    const declared = (file.headers['content-type'] ?? 'application/octet-stream').trim();
    const kind = WHATSAPP_UPLOAD_TYPES[declared];
    if (!kind) {
      const message = `(#100) Param file must be a file with one of the following types: ${Object.keys(WHATSAPP_UPLOAD_TYPES).join(', ')}. Received file of type '${declared}'.`;
      throw new GraphError({ status: 400, code: 100, message, type: 'OAuthException', details: message.slice(7) });
    }
    const max = this.limits.uploadBytes[kind];
    if (file.data.length > max) {
      throw new GraphError({
        status: 400,
        code: 100,
        message: '(#100) Invalid parameter',
        details: `Param file must be at most ${max} bytes for ${declared}.`,
      });
    }
    const m = this.storeMedia({
      content: file.data,
      mime: declared,
      origin: 'upload',
      ttl: this.limits.uploadedMediaTtlMs,
      ...(file.filename !== undefined ? { filename: file.filename } : {}),
    });
    return { body: { id: m.id } };
  }

  /** lookaside: media downloads (Bearer, 5-minute URLs) and the Messenger/Instagram CDN stand-in. */
  private async handleLookaside(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const call: GraphCall = { method: req.method ?? 'GET', path: url.pathname, endpoint: 'media.download', at: this.now() };
    this.calls.push(call);
    const fail = (status: number, text: string) => {
      call.status = status;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    };
    const cdn = /^\/messaging_cdn\/(\d+)$/.exec(url.pathname);
    if (cdn) {
      call.endpoint = 'cdn.download';
      const file = this.cdn.get(cdn[1]!);
      if (!file) return fail(404, 'Not Found');
      call.status = 200;
      res.writeHead(200, { 'content-type': file.mime, 'content-length': file.content.length }).end(file.content);
      return;
    }
    if (url.pathname !== '/whatsapp_business/attachments/') return fail(404, 'Not Found');
    if (this.latencyMs > 0) await this.timers.sleep(this.latencyMs);
    if (this.faults.takeHang(['media.download', '*'])) return this.hang(res);
    const fault = this.faults.takeFault(['media.download', '*']);
    if (fault) return fail(fault.status, fault.message);
    const token = bearer(req.headers.authorization);
    if (!token || this.expiredTokens.has(token) || token !== this.accounts.whatsapp.accessToken) return fail(401, 'Unauthorized');
    const id = url.searchParams.get('mid') ?? '';
    const ext = Number(url.searchParams.get('ext'));
    const m = this.media.get(id);
    const hash = createHmac('sha256', this.appSecret).update(`${id}:${ext}`).digest('base64url').slice(0, 22);
    if (!m || url.searchParams.get('hash') !== hash || ext * 1000 <= this.now() || m.expiresAt <= this.now()) return fail(404, 'Not Found');
    call.status = 200;
    res.writeHead(200, { 'content-type': m.mime, 'content-length': m.content.length }).end(m.content);
  }
}

interface Answer {
  body: unknown;
  after?: (() => void) | undefined;
}

/** Starts a Graph API double (API server and lookaside server) on 127.0.0.1, free ports. */
export async function startGraphDouble(opts?: GraphDoubleOptions): Promise<GraphDouble> {
  const double = new GraphDouble(opts);
  await double.listen();
  return double;
}

// ================================================================ payload builders

/** A WhatsApp user as webhooks show them; `waId: null` = phone hidden (username, no recent contact). */
export interface WaUser {
  waId: string | null;
  userId: string;
  name: string;
  username?: string;
}

export const DEFAULT_WA_USER: WaUser = { waId: '16505551234', userId: 'US.13491208655302741918', name: 'Sheena Nelson' };

export interface WaMessageOptions {
  user?: Partial<WaUser>;
  id?: string;
  /** Unix seconds; default the double's clock. */
  timestamp?: number;
  /** A reply: the wamid replied to (context.from is the business number). */
  replyTo?: string;
  forwarded?: boolean;
}

type Json = Record<string, unknown>;

/** Realistic WhatsApp `messages` webhook payloads (one entry, one change, one message each). */
export class WhatsAppPayloads {
  constructor(private readonly double: GraphDouble) {}

  text(body: string, o: WaMessageOptions = {}): Json {
    return this.message('text', { body }, o);
  }

  image(m: { content?: Buffer; mime?: string; caption?: string } = {}, o: WaMessageOptions = {}): Json {
    return this.message('image', this.mediaObject(m.content ?? TINY_JPEG, m.mime ?? 'image/jpeg', { caption: m.caption }), o);
  }

  video(m: { content?: Buffer; mime?: string; caption?: string } = {}, o: WaMessageOptions = {}): Json {
    return this.message('video', this.mediaObject(m.content ?? Buffer.from('video'), m.mime ?? 'video/mp4', { caption: m.caption }), o);
  }

  /** A voice note (voice: true, audio/ogg; codecs=opus) or an audio file. */
  audio(m: { content?: Buffer; mime?: string; voice?: boolean } = {}, o: WaMessageOptions = {}): Json {
    const voice = m.voice ?? true;
    const mime = m.mime ?? (voice ? 'audio/ogg; codecs=opus' : 'audio/mpeg');
    return this.message('audio', { ...this.mediaObject(m.content ?? Buffer.from('OggS-voice'), mime, {}), voice }, o);
  }

  document(m: { content?: Buffer; mime?: string; filename?: string; caption?: string } = {}, o: WaMessageOptions = {}): Json {
    const filename = m.filename ?? 'invoice.pdf';
    const media = this.mediaObject(m.content ?? Buffer.from('%PDF-1.4 test'), m.mime ?? 'application/pdf', {
      caption: m.caption,
      filename,
    });
    return this.message('document', media, o);
  }

  sticker(m: { content?: Buffer; animated?: boolean } = {}, o: WaMessageOptions = {}): Json {
    return this.message(
      'sticker',
      { ...this.mediaObject(m.content ?? Buffer.from('RIFF0000WEBP'), 'image/webp', {}), animated: m.animated ?? false },
      o,
    );
  }

  location(l: { latitude: number; longitude: number; name?: string; address?: string; url?: string }, o: WaMessageOptions = {}): Json {
    return this.message('location', { ...l }, o);
  }

  /** Shared contact cards (a user sharing their own number sends their own card). */
  contacts(cards: Array<{ name: string; phone?: string; waId?: string }>, o: WaMessageOptions = {}): Json {
    const contacts = cards.map((c) => {
      const [first, ...rest] = c.name.split(' ');
      const name = { formatted_name: c.name, first_name: first, ...(rest.length ? { last_name: rest.join(' ') } : {}) };
      const phones = c.phone ? [{ phone: c.phone, ...(c.waId ? { wa_id: c.waId } : {}), type: 'CELL' }] : [];
      return { name, phones };
    });
    return this.message('contacts', contacts, o);
  }

  /**
   * The user tapped the button of a `request_contact_info` message: their own card, marked
   * `origin: contact_request`, with the number even when WhatsApp otherwise hides it (2026).
   */
  contactShare(phone: string, o: WaMessageOptions = {}): Json {
    const user = { ...DEFAULT_WA_USER, ...o.user };
    const [first, ...rest] = user.name.split(' ');
    const card = {
      name: { formatted_name: user.name, first_name: first, ...(rest.length ? { last_name: rest.join(' ') } : {}) },
      origin: 'contact_request',
      phones: [{ phone, wa_id: phone.replace(/\D/g, ''), type: 'CELL' }],
    };
    return this.message('contacts', [card], o);
  }

  /** The user tapped a reply button of interactive message `context` (a wamid the business sent). */
  buttonReply(reply: { id: string; title: string }, context: string, o: WaMessageOptions = {}): Json {
    return this.message('interactive', { type: 'button_reply', button_reply: reply }, { replyTo: context, ...o });
  }

  listReply(reply: { id: string; title: string; description?: string }, context: string, o: WaMessageOptions = {}): Json {
    return this.message('interactive', { type: 'list_reply', list_reply: reply }, { replyTo: context, ...o });
  }

  /** A quick-reply button of a template message (type `button`). */
  templateButton(button: { text: string; payload: string }, context: string, o: WaMessageOptions = {}): Json {
    return this.message('button', { payload: button.payload, text: button.text }, { replyTo: context, ...o });
  }

  /** A reaction to `messageId`; no emoji = the reaction was removed. */
  reaction(messageId: string, emoji?: string, o: WaMessageOptions = {}): Json {
    return this.message('reaction', { message_id: messageId, ...(emoji ? { emoji } : {}) }, o);
  }

  /** A message type Cloud API does not support (errors[] with 131051). */
  unsupported(kind = 'poll_creation', o: WaMessageOptions = {}): Json {
    const errors = [
      {
        code: 131051,
        title: 'Message type unknown',
        message: 'Message type unknown',
        error_data: { details: 'Message type is currently not supported.' },
      },
    ];
    const payload = this.message('unsupported', { type: kind }, o);
    (firstMessage(payload) as Json).errors = errors;
    return payload;
  }

  /**
   * A status webhook for a send: sent/delivered/read carry contacts (BSUID, name, username) as in
   * 2026; failed carries errors[] and no contacts.
   */
  status(
    sent: { id: string; to: string; via?: string },
    status: 'sent' | 'delivered' | 'read' | 'failed',
    o: { errors?: Json[]; user?: Partial<WaUser> } = {},
  ): Json {
    const user = { ...DEFAULT_WA_USER, ...o.user };
    const byPhone = sent.via !== 'recipient';
    const s: Json = { id: sent.id, status, timestamp: this.seconds() };
    if (byPhone) s.recipient_id = sent.to;
    if (!(status === 'failed' && byPhone)) s.recipient_user_id = byPhone ? user.userId : sent.to;
    if (status === 'failed') s.errors = o.errors ?? [reEngagementStatusError()];
    else if (status !== 'read') s.pricing = { billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'service' };
    const value: Json = { messaging_product: 'whatsapp', metadata: this.metadata() };
    if (status !== 'failed') {
      const profile: Json = { name: user.name, ...(user.username && status !== 'sent' ? { username: user.username } : {}) };
      value.contacts = [{ profile, ...(byPhone ? { wa_id: sent.to } : {}), user_id: byPhone ? user.userId : sent.to }];
    }
    value.statuses = [s];
    return this.envelope(value);
  }

  private message(type: string, content: unknown, o: WaMessageOptions): Json {
    const user = { ...DEFAULT_WA_USER, ...o.user };
    const msg: Json = {};
    if (o.replyTo) msg.context = { from: this.double.accounts.whatsapp.displayPhoneNumber, id: o.replyTo };
    else if (o.forwarded) msg.context = { forwarded: true };
    if (user.waId) msg.from = user.waId;
    msg.from_user_id = user.userId;
    msg.id = o.id ?? `wamid.${randomBytes(24).toString('base64')}`;
    msg.timestamp = String(o.timestamp ?? this.seconds());
    msg.type = type;
    msg[type] = content;
    const profile: Json = { name: user.name, ...(user.username ? { username: user.username } : {}) };
    const contact: Json = { profile, ...(user.waId ? { wa_id: user.waId } : {}), user_id: user.userId };
    return this.envelope({ messaging_product: 'whatsapp', metadata: this.metadata(), contacts: [contact], messages: [msg] });
  }

  private mediaObject(content: Buffer, mime: string, extra: { caption?: string | undefined; filename?: string }): Json {
    const m = this.double.addUserMedia({ content, mime, ...(extra.filename ? { filename: extra.filename } : {}) });
    return {
      ...(extra.caption !== undefined ? { caption: extra.caption } : {}),
      ...(extra.filename !== undefined ? { filename: extra.filename } : {}),
      mime_type: m.mime_type,
      sha256: m.sha256,
      id: m.id,
      url: m.url,
    };
  }

  private metadata(): Json {
    const { displayPhoneNumber, phoneNumberId } = this.double.accounts.whatsapp;
    return { display_phone_number: displayPhoneNumber, phone_number_id: phoneNumberId };
  }

  private envelope(value: Json): Json {
    return {
      object: 'whatsapp_business_account',
      entry: [{ id: this.double.accounts.whatsapp.wabaId, changes: [{ value, field: 'messages' }] }],
    };
  }

  private seconds(): string {
    return String(Math.floor(this.double.now() / 1000));
  }
}

export interface MessagingOptions {
  /** The user's PSID / IGSID. */
  user?: string;
  mid?: string;
  /** Milliseconds; default the double's clock. */
  timestamp?: number;
}

/** Realistic Messenger (`object: page`) or Instagram (`object: instagram`) webhook payloads. */
export class MessagingPayloads {
  constructor(
    private readonly double: GraphDouble,
    private readonly channel: 'messenger' | 'instagram',
  ) {}

  get defaultUser(): string {
    return this.channel === 'messenger' ? '24680246802468024' : '1357913579135791';
  }

  text(text: string, o: MessagingOptions & { quickReply?: string; replyTo?: string } = {}): Json {
    return this.event(
      {
        message: {
          mid: o.mid ?? this.mid(),
          text,
          ...(o.quickReply !== undefined ? { quick_reply: { payload: o.quickReply } } : {}),
          ...(o.replyTo ? { reply_to: { mid: o.replyTo } } : {}),
        },
      },
      o,
    );
  }

  /** An attachment; with `content` the file is hosted on the double's CDN stand-in. */
  attachment(
    type: 'image' | 'video' | 'audio' | 'file',
    a: { url?: string; content?: Buffer; mime?: string } = {},
    o: MessagingOptions = {},
  ): Json {
    const url = a.url ?? this.double.addCdnFile(a.content ?? TINY_JPEG, a.mime ?? 'image/jpeg');
    return this.event({ message: { mid: o.mid ?? this.mid(), attachments: [{ type, payload: { url } }] } }, o);
  }

  /** A message the Page / account itself sent (is_echo), e.g. from the inbox. */
  echo(text: string, o: MessagingOptions = {}): Json {
    const own = this.ownId();
    const user = o.user ?? this.defaultUser;
    const event: Json = { sender: { id: own }, recipient: { id: user }, timestamp: o.timestamp ?? this.double.now() };
    event.message = { mid: o.mid ?? this.mid(), is_echo: true, app_id: 1517776481860111, text };
    return this.envelope([event]);
  }

  postback(p: { title: string; payload: string }, o: MessagingOptions = {}): Json {
    return this.event({ postback: { title: p.title, payload: p.payload, mid: o.mid ?? this.mid() } }, o);
  }

  private event(body: Json, o: MessagingOptions): Json {
    const event: Json = {
      sender: { id: o.user ?? this.defaultUser },
      recipient: { id: this.ownId() },
      timestamp: o.timestamp ?? this.double.now(),
      ...body,
    };
    return this.envelope([event]);
  }

  private envelope(messaging: Json[]): Json {
    return {
      object: this.channel === 'messenger' ? 'page' : 'instagram',
      entry: [{ id: this.ownId(), time: this.double.now(), messaging }],
    };
  }

  private ownId(): string {
    return this.channel === 'messenger' ? this.double.accounts.messenger.pageId : this.double.accounts.instagram.accountId;
  }

  private mid(): string {
    return this.channel === 'messenger' ? `m_${randomBytes(30).toString('base64url')}` : `aWdf${randomBytes(40).toString('base64url')}`;
  }
}

// ================================================================ helpers

const WA_TYPES = ['audio', 'contacts', 'document', 'image', 'interactive', 'location', 'reaction', 'sticker', 'template', 'text', 'video'];
const MESSAGE_TAGS = ['HUMAN_AGENT', 'ACCOUNT_UPDATE', 'CONFIRMED_EVENT_UPDATE', 'POST_PURCHASE_UPDATE'];
/** `CC.` + up to 128 alphanumerics, optionally `ENT.` for parent BSUIDs. */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;
/** A 1x1 JPEG-ish header, enough for type sniffing. */
const TINY_JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9]);

/** Graph's validation errors: code 100, details naming the param (Meta's `param['key']` style). */
class Validator {
  constructor(private readonly whatsapp = true) {}

  required(param: string): GraphError {
    const message = `(#100) The parameter ${param} is required.`;
    return this.error(message, `The parameter ${param} is required.`);
  }

  invalid(param: string, why: string): GraphError {
    return this.error('(#100) Invalid parameter', `Param ${param} ${why}.`);
  }

  /** A required non-empty string of at most `max` characters (UTF-16 units). */
  text(value: unknown, param: string, max: number): void {
    if (value === undefined || value === null) throw this.required(param);
    if (typeof value !== 'string') throw this.invalid(param, 'must be a string');
    if (value.trim() === '') throw this.invalid(param, 'must not be empty');
    if (value.length > max) throw this.invalid(param, `must be at most ${max} characters long`);
  }

  private error(message: string, details: string): GraphError {
    // Messenger's envelope has no error_data; its message carries the detail instead.
    return this.whatsapp
      ? new GraphError({ status: 400, code: 100, message, type: 'OAuthException', details })
      : new GraphError({ status: 400, code: 100, message: `(#100) ${details}`, type: 'OAuthException' });
  }
}

function reEngagement(): GraphApiError {
  return {
    status: 400,
    code: 131047,
    type: 'OAuthException',
    message: '(#131047) Re-engagement message',
    details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
  };
}

function reEngagementStatusError(): Json {
  return {
    code: 131047,
    title: 'Re-engagement message',
    message: 'Re-engagement message',
    error_data: { details: 'More than 24 hours have passed since the recipient last replied to the sender number.' },
    href: '/documentation/business-messaging/whatsapp/support/error-codes',
  };
}

function noSuchObject(id: string, method: string): GraphApiError {
  return {
    status: 400,
    code: 100,
    subcode: 33,
    type: 'GraphMethodException',
    message: `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
  };
}

function unknownPath(path: string): GraphApiError {
  return { status: 400, code: 2500, type: 'OAuthException', message: `Unknown path components: ${path}` };
}

function invalid(param: string, why: string): GraphError {
  return new Validator().invalid(param, why);
}

function firstMessage(payload: Json): unknown {
  const entry = (payload.entry as Array<{ changes: Array<{ value: { messages: unknown[] } }> }>)[0]!;
  return entry.changes[0]!.value.messages[0];
}

function normalizeUser(id: string): string {
  return BSUID.test(id) ? id : id.replace(/\D/g, '') || id;
}

function isObject(v: unknown, key?: string): boolean {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && (key === undefined || (v as Record<string, unknown>)[key] !== undefined)
  );
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}

/** Form and query values carry objects as JSON strings (Meta's curl examples). */
function parseJsonish(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  for (const text of [v, v.replace(/'/g, '"')]) {
    try {
      return JSON.parse(text);
    } catch {
      // Meta's curl examples write `recipient={'id':'PSID'}`; Graph accepts the single quotes.
    }
  }
  return v;
}

function randomDigits(n: number): string {
  let s = String(randomInt(1, 10));
  while (s.length < n) s += String(randomInt(0, 10));
  return s;
}

/** JSON body, urlencoded form or multipart; Graph takes parameters from any of them. */
async function readParams(req: http.IncomingMessage): Promise<{ body: Record<string, unknown>; files: Map<string, MultipartPart> }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const files = new Map<string, MultipartPart>();
  if (raw.length === 0) return { body: {}, files };
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') {
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw invalid('request body', 'must be valid JSON');
    }
    if (!isObject(json)) throw invalid('request body', 'must be a JSON object');
    return { body: json as Record<string, unknown>, files };
  }
  if (type === 'multipart/form-data') {
    const boundary = parseBoundary(req.headers['content-type']);
    if (!boundary) throw invalid('request body', 'is multipart/form-data without a boundary');
    let parts: MultipartPart[];
    try {
      parts = parseMultipart(raw, boundary);
    } catch (err) {
      if (err instanceof MultipartError) throw invalid('request body', `is not valid multipart/form-data (${err.message})`);
      throw err;
    }
    const body: Record<string, unknown> = {};
    for (const part of parts) {
      if (part.filename !== undefined) files.set(part.name, part);
      else body[part.name] = part.data.toString('utf8');
    }
    return { body, files };
  }
  return { body: Object.fromEntries(new URLSearchParams(raw.toString('utf8'))), files };
}

// Graph's responses escape slashes and non-ASCII like its webhooks do.
const writeJson = jsonWriter('application/json; charset=UTF-8', (payload) => encodeMetaJson(payload));

function crashed(res: http.ServerResponse, err: unknown): void {
  writeJson(res, 500, { error: { message: `double crashed: ${String(err)}`, code: 1 } });
}
