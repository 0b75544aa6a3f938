/**
 * Meta's Graph API, the parts every Graph-based messenger shares (WhatsApp Cloud, Messenger,
 * Instagram): the webhook handshake and X-Hub-Signature-256 check, a small HTTP client with
 * Bearer auth and a timeout on every call, Graph's error envelope, and how its generic error codes
 * map to delivery failures. Nothing here knows a messenger; facts and sources: docs/vendors/meta.md.
 */
import { createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import type { z } from 'zod';
import type { WebhookReply, WebhookRequest } from '../adapter.js';
import { DeliveryError } from '../delivery/errors.js';
import { redact } from '../redact.js';
import { safeEqual } from './crypto.js';
import { keepAliveAgents } from '../net/keep-alive.js';

/** The Graph version adapters call unless configured otherwise (v26.0, 29 Jul 2026; docs/vendors/meta.md §1). */
export const DEFAULT_GRAPH_API_VERSION = 'v26.0';

// ------------------------------------------------------------------------------------- webhooks

/** Meta's webhook payloads may be up to 3 MB (docs/vendors/meta.md §2): the routes' body limit. */
export const GRAPH_WEBHOOK_BODY_LIMIT = 3 * 1024 * 1024;

/** Meta's challenges are digits; anything long or unprintable is not echoed back. */
const CHALLENGE = /^[\x21-\x7e]{1,256}$/;

/**
 * The GET handshake Meta makes when a callback URL is configured: `hub.mode=subscribe`, the
 * verify token (compared in constant time) and a challenge, answered as plain text.
 */
export function answerGraphChallenge(query: WebhookRequest['query'], verifyToken: string): WebhookReply {
  const q = query as Record<string, unknown>;
  const mode = q['hub.mode'];
  const token = q['hub.verify_token'];
  const challenge = q['hub.challenge'];
  if (mode !== 'subscribe' || typeof challenge !== 'string' || !CHALLENGE.test(challenge)) {
    return {
      status: 400,
      body: {
        error: 'bad_request',
        message: 'expected hub.mode=subscribe, hub.verify_token and hub.challenge (Meta webhook verification)',
      },
    };
  }
  if (typeof token !== 'string' || !safeEqual(token, verifyToken)) {
    return { status: 403, body: { error: 'forbidden', message: 'hub.verify_token does not match the configured verify token' } };
  }
  return { status: 200, body: challenge };
}

/** `sha256=<hex HMAC-SHA256 of the raw bytes, keyed with the app secret>`, checked in constant time. */
export function hasValidHubSignature(headers: WebhookRequest['headers'], rawBody: Buffer | undefined, appSecret: string): boolean {
  const given = headers['x-hub-signature-256'];
  if (typeof given !== 'string' || !given.startsWith('sha256=')) return false;
  const expected = `sha256=${createHmac('sha256', appSecret)
    .update(rawBody ?? Buffer.alloc(0))
    .digest('hex')}`;
  return safeEqual(given.toLowerCase(), expected);
}

/**
 * Authenticates a Graph webhook request before anything is read from it: the GET handshake is
 * answered here; a POST must carry a valid signature over the raw bytes (else 401) and be a JSON
 * object (else 400) of the `notification` shape, if given (else 400 naming the first problem).
 * Returns the answer to give, or undefined for an authentic POST to process.
 */
export function checkGraphWebhook(
  req: WebhookRequest,
  secrets: { appSecret: string; verifyToken: string },
  notification?: z.ZodType,
): WebhookReply | undefined {
  if (req.method === 'GET') return answerGraphChallenge(req.query, secrets.verifyToken);
  if (!hasValidHubSignature(req.headers, req.rawBody, secrets.appSecret)) {
    return {
      status: 401,
      body: { error: 'unauthorized', message: 'missing or wrong X-Hub-Signature-256 (HMAC-SHA256 of the body with the app secret)' },
    };
  }
  const body = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { status: 400, body: { error: 'bad_request', message: 'expected a JSON object (a Graph webhook notification)' } };
  }
  const shape = notification?.safeParse(body);
  if (shape && !shape.success) {
    const issue = shape.error.issues[0]!;
    return { status: 400, body: { error: 'bad_request', message: `${issue.path.map(String).join('.') || 'body'}: ${issue.message}` } };
  }
  return undefined;
}

// ------------------------------------------------------------------------------------- errors

/** A Graph call that failed: Graph's error envelope when there was one, else what went wrong. */
export class GraphError extends Error {
  override readonly name = 'GraphError';
  /** HTTP status, when an answer came. */
  readonly status: number | undefined;
  /** Graph's `error.code` (the one to build on), `error_subcode`, `error.type`, `error_data.details`. */
  readonly code: number | undefined;
  readonly subcode: number | undefined;
  readonly type: string | undefined;
  readonly details: string | undefined;
  /** 'timeout' | 'network' | 'bad_response' when no Graph error came back. */
  readonly failure: 'graph' | 'timeout' | 'network' | 'bad_response';

  constructor(
    message: string,
    o: { status?: number; code?: number; subcode?: number; type?: string; details?: string; failure: GraphError['failure'] },
  ) {
    super(redact(message));
    this.status = o.status;
    this.code = o.code;
    this.subcode = o.subcode;
    this.type = o.type;
    this.details = o.details === undefined ? undefined : redact(o.details);
    this.failure = o.failure;
  }

  /** "(#131047) Re-engagement message — More than 24 hours…" for logs and dead letters. */
  get description(): string {
    return this.details && !this.message.includes(this.details) ? `${this.message} — ${this.details}` : this.message;
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Graph's `{error: {message, type, code, error_subcode, error_data: {details}}}`, or undefined. */
export function graphErrorFromBody(status: number, body: unknown): GraphError | undefined {
  const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as Record<string, unknown>;
  const data = typeof e.error_data === 'object' && e.error_data !== null ? (e.error_data as Record<string, unknown>) : {};
  const code = num(e.code);
  const message = str(e.message) ?? `Graph error${code === undefined ? '' : ` ${code}`}`;
  return new GraphError(message, {
    status,
    code,
    subcode: num(e.error_subcode),
    type: str(e.type),
    details: str(data.details) ?? (typeof e.error_data === 'string' ? e.error_data : undefined),
    failure: 'graph',
  });
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
]);

/** What axios threw, as a GraphError (never with the request's headers: they hold the token). */
export function toGraphError(err: unknown, what: string): GraphError {
  if (err instanceof GraphError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (
    code === 'ECONNABORTED' ||
    code === 'ETIMEDOUT' ||
    e.name === 'AbortError' ||
    e.name === 'CanceledError' ||
    /timeout/i.test(message)
  ) {
    return new GraphError(`${what}: no answer in time (${message})`, { failure: 'timeout' });
  }
  if (NETWORK_CODES.has(code) || code.startsWith('ERR_') || code.startsWith('UND_ERR_')) {
    return new GraphError(`${what}: could not reach the Graph API (${code || 'network error'}: ${message})`, { failure: 'network' });
  }
  return new GraphError(`${what}: ${message}`, { failure: 'network' });
}

/** Graph codes that mean "the token is bad": an operator problem for every conversation. */
const TOKEN_CODES = new Set([102, 104, 190]);
/** Graph codes that mean "the app or token lacks a permission": also the operator's. */
const isPermissionCode = (code: number) => code === 3 || code === 10 || (code >= 200 && code <= 299);
/** App- and user-level request limits, counted over an hour: wait long. */
const HOURLY_THROTTLES = new Set([4, 17, 32]);
/** "Calls to this api have exceeded the rate limit" (613) and Business use-case throttles (80001–80009). */
const THROTTLE_CODES = new Set([613, 80001, 80002, 80003, 80004, 80005, 80006, 80007, 80008, 80009]);

/** How long to wait on a Graph throttle, which never says how long: per-call limits, and the hourly ones. */
export const GRAPH_THROTTLE_WAIT_MS = 5_000;
export const GRAPH_HOURLY_THROTTLE_WAIT_MS = 60_000;

/**
 * The generic part of classifying a failed Graph call (DESIGN.md §4). Adapters classify their
 * product's own codes first (a WhatsApp window, a Messenger subcode) and fall back to this:
 * - timeouts, network errors, 5xx, codes 1 and 2 ("retry later") → transient;
 * - token (102/104/190) and permission (3, 10, 200–299) errors → transient, code `token` /
 *   `permission`: the operator must fix them, and no reply is lost meanwhile (`check` shows it);
 * - throttles → rate limited for the whole account: 5 s for 613 and 80001–80009, a minute for
 *   the hourly app and user limits (4, 17, 32);
 * - 368 (temporarily blocked for a policy) → transient, code `restricted`;
 * - an answer that is not Graph's (wrong apiRoot, a proxy's page) → transient, code `bad_response`;
 * - any other Graph error → permanent, code `graph_<code>`.
 */
export function classifyGraphError(error: unknown, what = 'Graph API'): DeliveryError {
  if (error instanceof DeliveryError) return error;
  const e = toGraphError(error, what);
  const reason = `${what}: ${e.description}`;
  if (e.failure === 'timeout') return DeliveryError.transient(e.message, 'timeout');
  if (e.failure === 'network') return DeliveryError.transient(e.message, 'network');
  if (e.code === undefined) {
    const status = e.status === undefined ? 'no status' : `HTTP ${e.status}`;
    return DeliveryError.transient(`${what}: unreadable answer (${status}): ${e.message}`, 'bad_response');
  }
  if (TOKEN_CODES.has(e.code)) {
    return DeliveryError.transient(`${reason} (the access token is invalid or expired: renew it)`, 'token');
  }
  if (HOURLY_THROTTLES.has(e.code)) return DeliveryError.rateLimited(reason, GRAPH_HOURLY_THROTTLE_WAIT_MS, 'account');
  if (THROTTLE_CODES.has(e.code)) return DeliveryError.rateLimited(reason, GRAPH_THROTTLE_WAIT_MS, 'account');
  if (e.code === 1 || e.code === 2 || (e.status ?? 0) >= 500) return DeliveryError.transient(reason, `graph_${e.code}`);
  if (e.code === 368) return DeliveryError.transient(`${reason} (the account is temporarily restricted)`, 'restricted');
  if (isPermissionCode(e.code)) {
    return DeliveryError.transient(`${reason} (the token lacks a permission this call needs)`, 'permission');
  }
  return DeliveryError.permanent(reason, `graph_${e.code}`);
}

// ------------------------------------------------------------------------------------- client

export interface GraphClientOptions {
  /** e.g. https://graph.facebook.com (no trailing slash). */
  apiRoot: string;
  /** e.g. v26.0. */
  apiVersion: string;
  accessToken: string;
  /** Per call, and the wait for a download's response headers. */
  timeoutMs: number;
}

/** A file streamed from a URL Graph handed out (WhatsApp media). */
export interface GraphDownload {
  stream: Readable;
  contentType?: string;
  size?: number;
}

/** One multipart/form-data part: a field, or a file streamed from `data`. */
export type MultipartPart =
  { name: string; value: string } | { name: string; filename: string; contentType: string; data: Readable; size?: number };

/**
 * Graph over axios: `<apiRoot>/<version>/<path>`, the token as a Bearer header (never in a URL),
 * JSON in and out, and a GraphError for every failure — Graph's envelope when it sent one.
 */
export class GraphClient {
  readonly base: string;
  private readonly http: AxiosInstance;

  constructor(private readonly o: GraphClientOptions) {
    this.base = `${o.apiRoot}/${o.apiVersion}`;
    this.http = axios.create({
      timeout: o.timeoutMs,
      proxy: false,
      maxRedirects: 0,
      // Graph answers errors with 4xx/5xx and a JSON envelope: read it instead of throwing.
      validateStatus: () => true,
      maxContentLength: 10 * 1024 * 1024,
      ...keepAliveAgents({ maxSockets: 64 }),
    });
  }

  private get auth(): Record<string, string> {
    return { authorization: `Bearer ${this.o.accessToken}` };
  }

  /** GET <base>/<path>. */
  get<T>(path: string, params?: Record<string, string>, what = `GET ${path}`): Promise<T> {
    return this.call<T>(what, () => this.http.get(`${this.base}/${path}`, { params, headers: this.auth }));
  }

  /** POST <base>/<path> with a JSON body. */
  post<T>(path: string, body: object, what = `POST ${path}`): Promise<T> {
    return this.call<T>(what, () => this.http.post(`${this.base}/${path}`, body, { headers: this.auth }));
  }

  /**
   * POST <base>/<path> as multipart/form-data, files streamed (never buffered whole). Each file
   * part carries its own Content-Type, which Graph checks (WhatsApp media upload).
   */
  postMultipart<T>(path: string, parts: MultipartPart[], timeoutMs: number, what = `POST ${path}`): Promise<T> {
    const boundary = `----blinger-bridge-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
    const body = Readable.from(multipartChunks(parts, boundary));
    return this.call<T>(what, () =>
      this.http.post(`${this.base}/${path}`, body, {
        headers: { ...this.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
        timeout: timeoutMs,
        maxBodyLength: Infinity,
      }),
    );
  }

  /**
   * Streams a URL that Graph handed out and that wants the token too (WhatsApp's lookaside media
   * URLs). Redirects are not followed: the token must not travel to another host.
   */
  async download(url: string, what = 'media download'): Promise<GraphDownload> {
    let res: AxiosResponse<Readable>;
    try {
      res = await this.http.get<Readable>(url, { responseType: 'stream', headers: this.auth, maxContentLength: Infinity });
    } catch (err) {
      throw toGraphError(err, what);
    }
    if (res.status !== 200) {
      res.data.resume();
      throw new GraphError(`${what}: HTTP ${res.status}`, { status: res.status, failure: 'bad_response' });
    }
    const len = Number(res.headers['content-length']);
    const type = res.headers['content-type'];
    return {
      stream: res.data,
      ...(typeof type === 'string' ? { contentType: type } : {}),
      ...(Number.isSafeInteger(len) && len >= 0 ? { size: len } : {}),
    };
  }

  private async call<T>(what: string, request: () => Promise<AxiosResponse>): Promise<T> {
    let res: AxiosResponse;
    try {
      res = await request();
    } catch (err) {
      throw toGraphError(err, what);
    }
    const body: unknown = typeof res.data === 'string' ? parseJson(res.data) : res.data;
    if (res.status >= 200 && res.status < 300 && typeof body === 'object' && body !== null) return body as T;
    const graph = graphErrorFromBody(res.status, body);
    if (graph) throw graph;
    throw new GraphError(`${what}: HTTP ${res.status} without a Graph answer`, { status: res.status, failure: 'bad_response' });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Quotes a multipart header parameter (names and file names come from our code or are sanitized). */
const quoted = (s: string) => `"${s.replace(/["\\\r\n]/g, '_')}"`;

async function* multipartChunks(parts: MultipartPart[], boundary: string): AsyncGenerator<Buffer> {
  for (const part of parts) {
    if ('value' in part) {
      yield Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name=${quoted(part.name)}\r\n\r\n${part.value}\r\n`);
      continue;
    }
    yield Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name=${quoted(part.name)}; filename=${quoted(part.filename)}\r\n` +
        `content-type: ${part.contentType}\r\n\r\n`,
    );
    for await (const chunk of part.data) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${boundary}--\r\n`);
}
