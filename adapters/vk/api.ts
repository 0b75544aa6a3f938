/**
 * A small VK API client: form-encoded POSTs to `<apiRoot>/<method>` with `v` and the community
 * token in `Authorization: Bearer` (never in a URL, so it cannot leak through one), VK's envelope
 * (`{response}` or `{error: {error_code, error_msg}}`, both with HTTP 200) read with zod, our own
 * timeouts, and no retries and no pacing of its own: the bridge's queue retries and its pacer paces
 * (README "Why not vk-io"). Also the two other hosts the adapter talks to: the upload servers
 * (multipart, streamed) and the Bots Long Poll server.
 */
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { keepAliveAgents, multipartBody, type MultipartFile, redact, wellFormedDeep } from '../../src/toolkit/index.js';

/** VK refused the call: `{error: {error_code, error_msg}}`. */
export class VkApiError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly description: string,
  ) {
    super(`VK ${method}: error ${code}: ${description}`);
    this.name = 'VkApiError';
  }
}

/** The call did not get a VK answer: network, timeout, HTTP status, or something that is not VK's JSON. */
export class VkTransportError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'aborted' | 'http' | 'bad_response',
    readonly status?: number,
  ) {
    super(redact(message));
    this.name = 'VkTransportError';
  }
}

export type Params = Record<string, string | number | boolean | undefined>;

export interface VkApiOptions {
  token: string;
  apiRoot: string;
  version: string;
  timeoutMs: number;
}

const errorEnvelope = z.object({
  error: z.object({ error_code: z.number().int(), error_msg: z.string().optional() }),
});

/** Answers are JSON of a few KB; a bigger one is not VK's. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export class VkApi {
  private readonly http: AxiosInstance;

  constructor(readonly o: VkApiOptions) {
    this.http = axios.create({
      ...keepAliveAgents(),
      maxRedirects: 0,
      responseType: 'text',
      transformResponse: (d: unknown) => d,
      validateStatus: () => true,
      maxContentLength: MAX_ANSWER_BYTES,
    });
  }

  /** Calls a method; resolves with `response`, throws VkApiError or VkTransportError. */
  async call(method: string, params: Params = {}, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<unknown> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) form.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    form.set('v', this.o.version);
    const res = await this.send(method, () =>
      this.http.post(`${this.o.apiRoot}/${method}`, form.toString(), {
        headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/x-www-form-urlencoded' },
        timeout: opts.timeoutMs ?? this.o.timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
    );
    const body = readJson(method, res);
    const err = errorEnvelope.safeParse(body);
    if (err.success) throw new VkApiError(method, err.data.error.error_code, redact(err.data.error.error_msg ?? 'no description'));
    if (typeof body !== 'object' || body === null || !('response' in body)) {
      throw new VkTransportError(`VK ${method}: the answer has neither "response" nor "error"`, 'bad_response');
    }
    return (body as { response: unknown }).response;
  }

  /** Calls a method and checks its answer's shape. */
  async callAs<T>(method: string, schema: z.ZodType<T>, params: Params = {}, opts: { signal?: AbortSignal } = {}): Promise<T> {
    const response = await this.call(method, params, opts);
    const parsed = schema.safeParse(response);
    if (!parsed.success) throw new VkTransportError(`VK ${method}: unexpected answer (${parsed.error.issues[0]?.message})`, 'bad_response');
    return parsed.data;
  }

  /** POSTs one file to an upload server VK handed out; resolves with its JSON answer. */
  async upload(url: string, file: MultipartFile, timeoutMs: number): Promise<unknown> {
    const mp = multipartBody(file);
    const res = await this.send('upload', () =>
      this.http.post(url, mp.body, {
        headers: { 'content-type': mp.contentType, ...(mp.length !== undefined ? { 'content-length': String(mp.length) } : {}) },
        timeout: timeoutMs,
        maxBodyLength: Infinity,
      }),
    );
    return readJson('upload', res);
  }

  /** One Bots Long Poll request (`act=a_check`); resolves with its JSON answer. */
  async longPoll(server: string, p: { key: string; ts: string; wait: number }, signal: AbortSignal): Promise<unknown> {
    const base = /^https?:\/\//i.test(server) ? server : `https://${server}`;
    const url = `${base}${base.includes('?') ? '&' : '?'}${new URLSearchParams({ act: 'a_check', key: p.key, ts: p.ts, wait: String(p.wait) })}`;
    // The key is a credential of sorts: the URL is never logged, and errors name the long poll only.
    const res = await this.send('long poll', () => this.http.get(url, { timeout: (p.wait + 15) * 1000, signal }));
    return readJson('long poll', res);
  }

  private async send(what: string, request: () => Promise<AxiosResponse<unknown>>): Promise<AxiosResponse<unknown>> {
    try {
      return await request();
    } catch (err) {
      throw transportError(what, err);
    }
  }
}

function readJson(what: string, res: AxiosResponse<unknown>): unknown {
  if (res.status !== 200) throw new VkTransportError(`VK ${what}: HTTP ${res.status}`, 'http', res.status);
  try {
    return wellFormedDeep(JSON.parse(String(res.data)));
  } catch {
    throw new VkTransportError(`VK ${what}: the answer is not JSON`, 'bad_response');
  }
}

function transportError(what: string, err: unknown): VkTransportError {
  const e = (err ?? {}) as { code?: string; message?: string; name?: string };
  const message = e.message ?? String(err);
  if (e.code === 'ERR_CANCELED' || e.name === 'CanceledError') return new VkTransportError(`VK ${what}: aborted`, 'aborted');
  if (e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return new VkTransportError(`VK ${what}: no answer in time`, 'timeout');
  }
  if (e.code === 'ERR_FR_MAX_BODY_LENGTH_EXCEEDED' || /maxContentLength/i.test(message)) {
    return new VkTransportError(`VK ${what}: the answer is too large`, 'bad_response');
  }
  return new VkTransportError(`VK ${what}: ${e.code ?? 'network error'}: ${message}`, 'network');
}

// ------------------------------------------------------------------ answers the adapter reads

const id = z.number().int();
/** `ts` is a string in normal answers and a number in `{failed: 1, ts}`. */
const tsValue = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()]).transform(String);

export const longPollServerSchema = z.object({ key: z.string().min(1), server: z.string().min(1), ts: tsValue });
export type LongPollServer = z.output<typeof longPollServerSchema>;

export const longPollAnswerSchema = z.union([
  z.object({ failed: z.number().int(), ts: tsValue.optional() }),
  z.object({ ts: tsValue, updates: z.array(z.unknown()) }),
]);

export const userSchema = z.object({
  id,
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  screen_name: z.string().optional(),
  deactivated: z.string().optional(),
});
export const usersSchema = z.array(userSchema);

const group = z.object({ id, name: z.string(), screen_name: z.string().optional() });
/** 5.199 answers `{groups, profiles}`; versions before it a bare array. */
export const groupsSchema = z.union([z.object({ groups: z.array(group) }), z.array(group).transform((groups) => ({ groups }))]);

export const uploadServerSchema = z.object({ upload_url: z.string().url() });
export const photoUploadSchema = z.object({ server: z.union([z.number(), z.string()]), photo: z.string(), hash: z.string() });
export const docUploadSchema = z.union([z.object({ file: z.string().min(1) }), z.object({ error: z.string() })]);
const ownedMedia = z.object({ id, owner_id: id, access_key: z.string().optional() });
export const savedPhotosSchema = z.array(ownedMedia).min(1);
export const savedDocSchema = z.looseObject({ type: z.string() });
export const ownedMediaSchema = ownedMedia;
export const messageIdSchema = z.union([id, z.array(z.unknown())]);

export const callbackServersSchema = z.object({
  count: z.number().int(),
  items: z.array(z.object({ id, title: z.string().optional(), url: z.string(), secret_key: z.string().optional(), status: z.string() })),
});
export type CallbackServer = z.output<typeof callbackServersSchema>['items'][number];
export const confirmationCodeSchema = z.object({ code: z.string().min(1) });
export const addServerSchema = z.object({ server_id: id });
export const longPollSettingsSchema = z.object({
  is_enabled: z.union([z.boolean(), z.number()]).transform(Boolean),
  api_version: z.string().optional(),
  events: z.record(z.string(), z.union([z.number(), z.boolean()])).optional(),
});
