/**
 * A test double of Blinger's Custom App API: a real HTTP server on 127.0.0.1 that plays the
 * incoming URL (bridge → Blinger) with strict validation of docs/architecture.md, "The Custom App API", records what it
 * accepted, injects faults, and can call the bridge's webhook the way Blinger sends agent replies.
 *
 * Blinger's own error bodies are not documented; the double answers `{error: "<what is wrong>"}`
 * so a failing test says which rule the bridge broke.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { mulberry32 } from '../helpers/random.js';
import { HeldResponses, InjectedFaults } from './faults.js';
import { LoopbackServer, jsonWriter, postJson, readBody } from './server.js';
import { DoubleTimers, waitForEvent } from './timers.js';

export interface BlingerDoubleOptions {
  /** The Custom App token. */
  token: string;
  /** The Custom App ID (`custom_channel_id`). */
  channelId: string;
  /** The incoming URL's path. Default '/custom-app/incoming'. */
  path?: string;
  /** Seed for setFailureRate / setHangRate, for reproducible runs. */
  seed?: number;
}

export type BlingerMessageType = 'text' | 'image' | 'file';

/** A body the double accepted, as sent, plus when. */
export interface ReceivedMessage {
  token: string;
  custom_channel_id: string | number;
  client_id: string;
  client_name?: string;
  client_phone?: string;
  info?: Record<string, unknown>;
  type: BlingerMessageType;
  data: string;
  echo?: boolean;
  echo_outgoing?: boolean;
  /** Date.now() at acceptance. */
  at: number;
}

export interface RejectedMessage {
  /** The parsed body, or the raw text when it was not JSON. */
  body: unknown;
  status: number;
  error: string;
  /** True when the refusal was an injected fault rather than a validation failure. */
  injected: boolean;
  at: number;
}

/** What a custom handler sees. */
export interface BlingerRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  body: unknown;
}

/** Return a response to short-circuit the double, or undefined to let it handle the request. */
export type BlingerHandler = (
  req: BlingerRequest,
) => { status: number; body?: unknown } | undefined | Promise<{ status: number; body?: unknown } | undefined>;

export interface BlingerReplyBody {
  client_id: string;
  type: BlingerMessageType | string;
  data: string;
}

const KNOWN_FIELDS = new Set([
  'token',
  'custom_channel_id',
  'client_id',
  'client_name',
  'client_phone',
  'info',
  'type',
  'data',
  'echo',
  'echo_outgoing',
]);
const TYPES = new Set(['text', 'image', 'file']);
const MAX_BODY = 10 * 1024 * 1024;
/** The fault key of the incoming URL. */
const INCOMING = 'incoming';

/** A validation failure: HTTP status and the message for `{error}`. */
class Violation extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class BlingerDouble {
  readonly received: ReceivedMessage[] = [];
  readonly rejected: RejectedMessage[] = [];
  /** Bodies of the requests held unanswered (setHangRate): never accepted. */
  readonly hung: unknown[] = [];
  /** Every request that reached the incoming URL, whatever the outcome. */
  requests = 0;

  private readonly server: LoopbackServer;
  private readonly events = new EventEmitter();
  private readonly path: string;
  private readonly rng: () => number;
  /** Statuses to answer with; one key, as every request goes to the one incoming URL. */
  private readonly faults: InjectedFaults<number>;
  private hangRate = 0;
  private latencyMs = 0;
  private handler: BlingerHandler | undefined;
  private readonly hanging = new HeldResponses();
  private readonly timers = new DoubleTimers();

  /** @internal use startBlingerDouble */
  constructor(private readonly opts: BlingerDoubleOptions) {
    this.path = opts.path ?? '/custom-app/incoming';
    this.rng = mulberry32(opts.seed ?? Date.now() >>> 0);
    // One PRNG for hangs and failures, so a seed replays both.
    this.faults = new InjectedFaults(this.rng);
    this.events.setMaxListeners(0);
    this.server = new LoopbackServer(
      (req, res) => this.handleRequest(req, res),
      (res, err) => writeJson(res, 500, { error: `double crashed: ${String(err)}` }),
    );
  }

  /** @internal */
  listen(): Promise<void> {
    return this.server.listen();
  }

  /** The incoming URL (what BLINGER_URL points at). */
  get url(): string {
    return `${this.server.origin}${this.path}`;
  }

  get channelId(): string {
    return this.opts.channelId;
  }

  get token(): string {
    return this.opts.token;
  }

  /** Resolves with `received` once at least `count` messages were accepted. */
  waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedMessage[]> {
    return waitForEvent(
      this.events,
      'received',
      () => this.received.length >= count,
      timeoutMs,
      () => {
        const last = this.rejected.at(-1);
        return (
          `waitFor: expected ${count} messages, got ${this.received.length} after ${timeoutMs} ms` +
          ` (${this.rejected.length} rejected${last ? `, last: ${last.status} ${last.error}` : ''})`
        );
      },
    ).then(() => this.received);
  }

  /** Resolves with the accepted messages (of `clientId`, if given) as lines (lineOf) once at least `count` were accepted. */
  async waitForLines(count: number, clientId?: string, timeoutMs = 10_000): Promise<string[]> {
    await this.waitFor(count, timeoutMs);
    return this.received.filter((m) => clientId === undefined || m.client_id === clientId).map(lineOf);
  }

  /** Accepted messages grouped by client_id, each group in arrival order. */
  byClient(): Map<string, ReceivedMessage[]> {
    const groups = new Map<string, ReceivedMessage[]>();
    for (const m of this.received) {
      const group = groups.get(m.client_id) ?? [];
      group.push(m);
      groups.set(m.client_id, group);
    }
    return groups;
  }

  /** The next `times` requests are answered with `status` (before validation, like an outage). */
  failNext(status: number, times = 1): void {
    this.faults.failNext(INCOMING, status, times);
  }

  /** Each request fails with `status` with probability `p` (seeded PRNG). */
  setFailureRate(p: number, status = 503): void {
    this.faults.setFailureRate(INCOMING, p, status);
  }

  /** Requests being held open right now (hang faults). */
  get hangingCount(): number {
    return this.hanging.size;
  }

  /** Each request is never answered with probability `p`; the client's timeout must handle it. */
  setHangRate(p: number): void {
    this.hangRate = p;
  }

  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  /** Escape hatch: sees every request first; returning undefined falls through to the double. */
  setHandler(fn: BlingerHandler | undefined): void {
    this.handler = fn;
  }

  /**
   * Sends an agent reply to the bridge the way Blinger calls a Custom App's Webhook URL:
   * `POST ${bridgeBaseUrl}/blinger/${channelId}`, Bearer token, JSON body with token and channel.
   * `opts.token` replaces the token in both places (to test a wrong token); `opts.headers` are added
   * (or override) on top.
   */
  async sendReply(
    bridgeBaseUrl: string,
    body: BlingerReplyBody,
    opts: { token?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<{ status: number; body: string }> {
    const token = opts.token ?? this.opts.token;
    const url = `${bridgeBaseUrl.replace(/\/+$/, '')}/blinger/${encodeURIComponent(this.opts.channelId)}`;
    const payload = { token, custom_channel_id: this.opts.channelId, ...body };
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const headers = { authorization: `Bearer ${token}`, ...opts.headers };
    const answer = await postJson(url, JSON.stringify(payload), headers, timeoutMs, `sendReply: no answer after ${timeoutMs} ms`);
    return { status: answer.status, body: answer.body };
  }

  /** Clears records and faults (keeps token, channel and port). */
  reset(): void {
    this.received.length = 0;
    this.rejected.length = 0;
    this.hung.length = 0;
    this.requests = 0;
    this.faults.clear();
    this.hangRate = 0;
    this.latencyMs = 0;
    this.handler = undefined;
    this.hanging.dropAll();
  }

  /** Closes at once, dropping hanging requests and keep-alive sockets. */
  async close(): Promise<void> {
    this.timers.cancelAll();
    await this.server.close();
  }

  // ---------------------------------------------------------------- internals

  private async handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { body: raw, tooLarge } = await readBody(req, MAX_BODY);
    const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const rawBody = raw.toString('utf8');
    let parsed: unknown;
    try {
      parsed = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      parsed = undefined;
    }

    if (this.handler) {
      const custom = await this.handler({ method: req.method ?? 'GET', path: pathname, headers: req.headers, rawBody, body: parsed });
      if (custom) return writeJson(res, custom.status, custom.body ?? {});
    }
    if (pathname !== this.path) return writeJson(res, 404, { error: `no route ${req.method ?? ''} ${pathname}` });
    if (req.method !== 'POST') return writeJson(res, 405, { error: 'method not allowed: use POST' });

    this.requests++;
    if (this.latencyMs > 0) await this.timers.sleep(this.latencyMs);

    // Faults come before validation: an outage does not look at the request.
    if (this.hangRate > 0 && this.rng() < this.hangRate) {
      this.hung.push(parsed ?? rawBody);
      return this.hanging.hold(res);
    }
    const injected = this.faults.takeFault([INCOMING]);
    if (injected !== undefined) return this.refuse(res, parsed ?? rawBody, injected, 'injected failure', true);

    if (tooLarge) return this.refuse(res, undefined, 413, `body over ${MAX_BODY} bytes`, false);
    try {
      const message = this.validate(req.headers, rawBody, parsed);
      this.received.push(message);
      this.events.emit('received', message);
      writeJson(res, 200, { success: true });
    } catch (err) {
      if (!(err instanceof Violation)) throw err;
      this.refuse(res, parsed ?? rawBody, err.status, err.message, false);
    }
  }

  private refuse(res: http.ServerResponse, body: unknown, status: number, error: string, injected: boolean): void {
    this.rejected.push({ body, status, error, injected, at: Date.now() });
    writeJson(res, status, { error });
  }

  /** docs/architecture.md, "The Custom App API", strictly. */
  private validate(headers: http.IncomingHttpHeaders, rawBody: string, parsed: unknown): ReceivedMessage {
    const auth = headers.authorization;
    if (auth === undefined) throw new Violation(401, 'missing Authorization header');
    const bearer = /^Bearer (\S+)$/.exec(auth);
    if (!bearer) throw new Violation(401, 'Authorization header must be "Bearer <token>"');
    if (bearer[1] !== this.opts.token) throw new Violation(401, 'invalid token in Authorization header');

    const contentType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json') throw new Violation(415, `content-type must be application/json, got "${contentType}"`);
    if (parsed === undefined) throw new Violation(400, rawBody === '' ? 'empty body' : 'body is not valid JSON');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Violation(400, 'body must be a JSON object');
    const body = parsed as Record<string, unknown>;

    if (body.token === undefined) throw new Violation(401, 'token is missing from the body');
    if (body.token !== bearer[1]) throw new Violation(401, 'body token does not match the Authorization header');

    for (const key of Object.keys(body)) {
      if (!KNOWN_FIELDS.has(key)) throw new Violation(400, `unknown field "${key}"`);
    }

    if (body.custom_channel_id === undefined) throw new Violation(400, 'custom_channel_id is required');
    // The Custom App ID may be sent as a number or a string; it is the same ID either way.
    if (
      (typeof body.custom_channel_id !== 'string' && typeof body.custom_channel_id !== 'number') ||
      String(body.custom_channel_id) !== this.opts.channelId
    ) {
      throw new Violation(
        400,
        `custom_channel_id ${JSON.stringify(body.custom_channel_id)} is not this Custom App (${this.opts.channelId})`,
      );
    }

    if (typeof body.client_id !== 'string' || body.client_id === '') throw new Violation(400, 'client_id must be a non-empty string');
    if (typeof body.type !== 'string' || !TYPES.has(body.type)) throw new Violation(400, 'type must be one of text, image, file');
    if (typeof body.data !== 'string' || body.data === '') throw new Violation(400, 'data must be a non-empty string');
    if (body.type !== 'text' && !isHttpUrl(body.data))
      throw new Violation(400, `data must be an absolute http(s) URL for type ${body.type}`);

    for (const key of ['client_name', 'client_phone'] as const) {
      if (body[key] !== undefined && typeof body[key] !== 'string') throw new Violation(400, `${key} must be a string`);
    }
    if (body.info !== undefined && (typeof body.info !== 'object' || body.info === null || Array.isArray(body.info))) {
      throw new Violation(400, 'info must be a JSON object');
    }
    for (const key of ['echo', 'echo_outgoing'] as const) {
      if (body[key] !== undefined && typeof body[key] !== 'boolean') throw new Violation(400, `${key} must be a boolean`);
    }
    if (body.echo_outgoing === true && body.echo !== true) throw new Violation(400, 'echo_outgoing requires echo: true');

    return { ...(body as unknown as Omit<ReceivedMessage, 'at'>), at: Date.now() };
  }
}

/** A message as a line of the conversation: "user: …" ordinary, "echo: …" a user message the bot handled, "bot: …" the bot's own. */
export function lineOf(m: ReceivedMessage): string {
  const who = m.echo ? (m.echo_outgoing ? 'bot' : 'echo') : 'user';
  return `${who}: ${m.data}`;
}

/** Starts a Blinger Custom App double on 127.0.0.1 on a free port. */
export async function startBlingerDouble(opts: BlingerDoubleOptions): Promise<BlingerDouble> {
  const double = new BlingerDouble(opts);
  await double.listen();
  return double;
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const writeJson = jsonWriter('application/json');
