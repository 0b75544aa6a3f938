/**
 * The few MAX Bot API calls the bridge makes, on axios with zod checks of the answers. Not the
 * official @maxhub/max-bot-api client: it retries attachment.not.ready by itself with sleeps
 * inside the call (hidden time in a paced lane), its upload helper bypasses the injected fetch
 * (own http stack, own timeouts), and it is pre-1.0 (adapters/max/README.md "Library").
 *
 * - `Authorization: <token>` (no Bearer; a token in the query is refused by MAX) on API calls only:
 *   upload URLs are another host and get no token.
 * - Every call has a timeout; the long poll its own, longer one. Nothing here retries: failures
 *   are thrown (MaxApiError with MAX's {code, message}, MaxNetworkError) for errors.ts to classify.
 * - JSON answers are parsed by axios: MAX's `seq` (beyond 2^53) is rounded, and never used.
 */
import { Readable } from 'node:stream';
import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { keepAliveAgents, parseJsonWellFormed, redact, retryAfterMs } from '../../src/toolkit/index.js';

/** MAX answered with an error status (or an answer the bridge cannot read). */
export class MaxApiError extends Error {
  constructor(
    /** The HTTP status; 200 for an unreadable success answer. */
    readonly status: number,
    /** MAX's error code (`chat.denied`, `attachment.not.ready`…), or '' when the body had none. */
    readonly code: string,
    /** MAX's message, secrets removed. */
    readonly detail: string,
    /** The call, e.g. "POST /messages". */
    readonly call: string,
    /** Retry-After in ms, when MAX sent one (it normally does not). */
    readonly retryAfterMs?: number,
  ) {
    super(redact(`MAX ${status}${code ? ` ${code}` : ''}: ${detail || 'no details'} (${call})`));
    this.name = 'MaxApiError';
  }
}

/** No answer: connection refused or reset, DNS, timeout, aborted. */
export class MaxNetworkError extends Error {
  constructor(
    message: string,
    /** 'timeout', 'aborted' or 'network'. */
    readonly code: string,
  ) {
    super(redact(message));
    this.name = 'MaxNetworkError';
  }
}

export type UploadType = 'image' | 'video' | 'audio' | 'file';

const ok = z.looseObject({ success: z.boolean() });
const botInfo = z.looseObject({
  user_id: z.int(),
  first_name: z.string().nullish(),
  name: z.string().nullish(),
  username: z.string().nullish(),
});
export type BotInfo = z.output<typeof botInfo>;
const subscriptionList = z.looseObject({
  subscriptions: z.array(z.looseObject({ url: z.string(), time: z.number().nullish(), update_types: z.array(z.string()).nullish() })),
});
export type Subscription = z.output<typeof subscriptionList>['subscriptions'][number];
const updateList = z.looseObject({ updates: z.array(z.unknown()), marker: z.int().nullish() });
const sentMessage = z.looseObject({ message: z.looseObject({ body: z.looseObject({ mid: z.string() }) }) });
const uploadEndpoint = z.looseObject({ url: z.string().url(), token: z.string().nullish() });
const videoDetails = z.looseObject({ urls: z.record(z.string(), z.string().nullish()).nullish() });
const chatInfo = z.looseObject({ chat_id: z.int(), title: z.string().nullish(), type: z.string().nullish() });

export interface NewMessageBody {
  text?: string;
  attachments?: Array<Record<string, unknown>>;
  notify?: boolean;
}

export interface MaxApiOptions {
  token: string;
  apiRoot: string;
  /** Timeout of each call but the long poll and uploads, in ms. */
  timeoutMs: number;
}

export class MaxApi {
  private readonly http: AxiosInstance;
  private readonly uploads: AxiosInstance;

  constructor(private readonly o: MaxApiOptions) {
    const agents = keepAliveAgents({ maxSockets: 64 });
    const common = {
      ...agents,
      maxRedirects: 0,
      validateStatus: () => true,
      headers: { 'user-agent': 'blinger-bridge' },
      // Polled updates are queued as they are: their strings must be well-formed (toolkit parseJsonWellFormed).
      transformResponse: [readJson],
    };
    this.http = axios.create({ ...common, baseURL: o.apiRoot, headers: { ...common.headers, authorization: o.token } });
    this.uploads = axios.create({ ...common, maxBodyLength: Infinity, maxContentLength: 1024 * 1024 });
  }

  me(): Promise<BotInfo> {
    return this.call(botInfo, { method: 'GET', url: '/me' });
  }

  async subscriptions(): Promise<Subscription[]> {
    return (await this.call(subscriptionList, { method: 'GET', url: '/subscriptions' })).subscriptions;
  }

  async subscribe(url: string, secret: string, updateTypes: readonly string[]): Promise<void> {
    await this.call(ok, { method: 'POST', url: '/subscriptions', data: { url, secret, update_types: updateTypes } });
  }

  async unsubscribe(url: string): Promise<void> {
    await this.call(ok, { method: 'DELETE', url: '/subscriptions', params: { url } });
  }

  /** One long poll: waits up to `timeoutS` seconds for updates after `marker`. */
  updates(
    q: { marker?: number; timeoutS: number; limit: number; types: readonly string[] },
    signal?: AbortSignal,
  ): Promise<{ updates: unknown[]; marker?: number | null }> {
    const params: Record<string, string | number> = { timeout: q.timeoutS, limit: q.limit, types: q.types.join(',') };
    if (q.marker !== undefined) params.marker = q.marker;
    return this.call(updateList, { method: 'GET', url: '/updates', params, signal, timeout: (q.timeoutS + 15) * 1000 });
  }

  /** POST /messages to a chat; resolves with the sent message's mid. */
  async send(chatId: string, body: NewMessageBody): Promise<string> {
    const answer = await this.call(sentMessage, { method: 'POST', url: '/messages', params: { chat_id: chatId }, data: body });
    return answer.message.body.mid;
  }

  /** Step 1 of an upload: a single-use URL (and, for video and audio, the token already). */
  uploadEndpoint(type: UploadType): Promise<{ url: string; token?: string | null }> {
    return this.call(uploadEndpoint, { method: 'POST', url: '/uploads', params: { type } });
  }

  /**
   * Step 2: the file as multipart/form-data in field `data`, to the upload URL (no token). Resolves
   * with MAX's JSON answer (image: {photos}, file: {token}), or undefined for video/audio's XML.
   */
  async uploadFile(
    uploadUrl: string,
    file: { stream: Readable; name: string; contentType: string; size?: number },
    timeoutMs: number,
  ): Promise<Record<string, unknown> | undefined> {
    const boundary = `----blinger-bridge-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="data"; filename="${quoted(file.name)}"; filename*=UTF-8''${encodeURIComponent(file.name)}\r\n` +
        `Content-Type: ${file.contentType}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
    if (file.size !== undefined) headers['content-length'] = String(head.length + file.size + tail.length);
    const host = safeHost(uploadUrl);
    let res: AxiosResponse;
    try {
      res = await this.uploads.post(uploadUrl, Readable.from(multipart(head, file.stream, tail)), { headers, timeout: timeoutMs });
    } catch (err) {
      throw networkError(err, `POST upload URL at ${host}`, timeoutMs);
    }
    if (res.status !== 200) throw apiError(res, `POST upload URL at ${host}`);
    return isRecord(res.data) ? res.data : undefined;
  }

  /** POST /answers: stops the pressed button's spinner with a one-time notification. */
  async answer(callbackId: string, notification: string, timeoutMs?: number): Promise<void> {
    await this.call(ok, {
      method: 'POST',
      url: '/answers',
      params: { callback_id: callbackId },
      data: { notification },
      timeout: timeoutMs,
    });
  }

  /** GET /videos/{token}: the video's download URLs (mp4_1080 … mp4_144, hls). */
  async videoUrls(token: string): Promise<Record<string, string>> {
    const details = await this.call(videoDetails, { method: 'GET', url: `/videos/${encodeURIComponent(token)}` });
    return Object.fromEntries(Object.entries(details.urls ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }

  /** GET /chats/{chatId}: a group chat's title. */
  chat(chatId: number, timeoutMs?: number): Promise<{ title?: string | null; type?: string | null }> {
    return this.call(chatInfo, { method: 'GET', url: `/chats/${chatId}`, timeout: timeoutMs });
  }

  private async call<T>(schema: z.ZodType<T>, config: AxiosRequestConfig): Promise<T> {
    const name = `${config.method} ${config.url}`;
    const timeout = config.timeout ?? this.o.timeoutMs;
    let res: AxiosResponse;
    try {
      res = await this.http.request({ ...config, timeout });
    } catch (err) {
      throw networkError(err, name, timeout);
    }
    if (res.status !== 200) throw apiError(res, name);
    const parsed = schema.safeParse(res.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new MaxApiError(200, 'bad_response', `unexpected answer: ${issue?.path.join('.') || 'body'}: ${issue?.message}`, name);
    }
    return parsed.data;
  }
}

/** A JSON answer with well-formed strings; anything else (the upload host's XML) as it came. */
function readJson(data: unknown): unknown {
  if (typeof data !== 'string' || data.trim() === '') return data;
  try {
    return parseJsonWellFormed(data);
  } catch {
    return data;
  }
}

/** The multipart body as one stream: the file is never held in memory. */
async function* multipart(head: Buffer, file: Readable, tail: Buffer): AsyncGenerator<Buffer> {
  yield head;
  for await (const chunk of file) yield chunk as Buffer;
  yield tail;
}

function quoted(name: string): string {
  return name.replace(/["\\\r\n]/g, '_');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The host of an upload URL: its path and query carry a signature, never logged. */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}

function apiError(res: AxiosResponse, call: string): MaxApiError {
  const body: unknown = res.data;
  let code = '';
  let detail: string;
  if (isRecord(body)) {
    code = typeof body.code === 'string' ? body.code.slice(0, 100) : '';
    detail = typeof body.message === 'string' ? body.message : JSON.stringify(body);
  } else {
    detail = typeof body === 'string' ? body : '';
  }
  const wait = retryAfterMs(res.headers['retry-after'] as string | undefined);
  return new MaxApiError(res.status, code, detail.replace(/\s+/g, ' ').trim().slice(0, 300), call, wait || undefined);
}

function networkError(err: unknown, call: string, timeoutMs: number): MaxNetworkError {
  if (axios.isCancel(err) || (err as { name?: string })?.name === 'CanceledError')
    return new MaxNetworkError(`${call}: aborted`, 'aborted');
  const code = (err as { code?: string })?.code;
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') return new MaxNetworkError(`${call}: no answer within ${timeoutMs} ms`, 'timeout');
  const message = (err as Error)?.message ?? String(err);
  return new MaxNetworkError(`${call}: ${code ? `${code} ` : ''}${message}`, 'network');
}
