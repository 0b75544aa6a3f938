/**
 * A test double of the Telegram Bot API: a real HTTP server on 127.0.0.1 that speaks the Bot API's
 * envelopes, errors and limits closely enough that telegraf (and the bridge) cannot tell it from
 * api.telegram.org for the methods the bridge uses.
 *
 * Deliberate deviations from the real service, all in the direction of being usable in tests:
 * - setWebhook accepts http:// URLs and any port (Telegram wants https on 443/80/88/8443), because
 *   the bridge under test listens on plain http on a random loopback port.
 * - Webhook delivery is explicit (deliverWebhook / deliverPending), so tests decide when it happens.
 * - Files and chat states (blocked, not found, ...) are shared by all bots of one double.
 * - Forum topics exist unless deleted or closed (deleteTopic / closeTopic); a business chat
 *   (addBusinessChat) refuses any send without its business_connection_id alike, missing or wrong.
 * - update_id is one counter for all bots (still strictly increasing per bot, as Telegram promises).
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Update } from 'telegraf/types';
import { MultipartError, parseBoundary, parseMultipart, type MultipartPart } from './multipart.js';
import { HeldResponses, InjectedFaults } from './faults.js';
import { LoopbackServer, jsonWriter, postJson, readBody } from './server.js';
import { DoubleTimers, waitForEvent } from './timers.js';
import { mulberry32 } from '../helpers/random.js';

export interface TelegramBotConfig {
  token: string;
  username: string;
  id: number;
}

export const DEFAULT_BOT: TelegramBotConfig = {
  token: '123456:TEST-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  username: 'test_bridge_bot',
  id: 123456,
};

/** An error the double answers with (the Bot API's error envelope, flattened). */
export interface TelegramApiError {
  error_code: number;
  description: string;
  retry_after?: number;
  migrate_to_chat_id?: number;
}

/** Byte and length limits; defaults are Telegram's. Tests may lower them to avoid 50 MB buffers. */
export interface TelegramLimits {
  /** multipart upload, sendPhoto (10 MB) */
  uploadPhotoBytes: number;
  /** multipart upload, sendDocument (50 MB) */
  uploadDocumentBytes: number;
  /** photo sent by URL (5 MB) */
  urlPhotoBytes: number;
  /** document sent by URL (20 MB) */
  urlDocumentBytes: number;
  /** getFile / download (20 MB) */
  downloadBytes: number;
  /** sendMessage text, UTF-16 code units after entity parsing */
  textLength: number;
  /** media caption, UTF-16 code units after entity parsing */
  captionLength: number;
}

const MB = 1024 * 1024;
export const TELEGRAM_LIMITS: TelegramLimits = {
  uploadPhotoBytes: 10 * MB,
  uploadDocumentBytes: 50 * MB,
  urlPhotoBytes: 5 * MB,
  urlDocumentBytes: 20 * MB,
  downloadBytes: 20 * MB,
  textLength: 4096,
  captionLength: 1024,
};

export interface TelegramDoubleOptions {
  /** Default: one bot, DEFAULT_BOT. The first bot is the default for every `bot?` argument. */
  bots?: TelegramBotConfig[];
  /** Enforce Telegram's flood limits (429 with retry_after). Default false. */
  enforceLimits?: boolean;
  /** Seed for setFailureRate's PRNG, for reproducible runs. */
  seed?: number;
  /** Monotonic milliseconds used for the flood-limit windows. Tests may inject a fake clock. */
  clock?: () => number;
  limits?: Partial<TelegramLimits>;
  /**
   * The Bot API documents that sendDocument by URL only works for GIF, PDF and ZIP files. Off by
   * default (in practice Telegram is laxer); on, other types get "wrong type of the web page content".
   */
  strictDocumentUrls?: boolean;
  /** How long the double waits for a URL it fetches for sendPhoto/sendDocument. Default 10 s. */
  urlFetchTimeoutMs?: number;
  /** Decides whether sendPhoto content is an image. Default: its content type is image/*. */
  isImage?: (file: { bytes: Buffer; contentType: string; filename?: string }) => boolean;
}

export type TelegramVia = 'text' | 'url' | 'file_id' | 'upload';

/** One accepted send* call. */
export interface SentRecord {
  method: string;
  /** The bot's username. */
  bot: string;
  chat_id: string;
  message_id: number;
  text?: string;
  caption?: string;
  parse_mode?: string;
  reply_markup?: unknown;
  /** The forum topic the message went to (absent: General, or no topics). */
  message_thread_id?: number;
  /** The business connection it was sent through. */
  business_connection_id?: string;
  via: TelegramVia;
  url?: string;
  /** The file_id sent (via 'file_id') or the new one Telegram assigned (url/upload). */
  file_id?: string;
  filename?: string;
  contentType?: string;
  size?: number;
  /** The uploaded bytes (via 'upload'). */
  bytes?: Buffer;
  /** Date.now() at acceptance. */
  at: number;
}

/** Every API call, including refused ones. Files in params appear as {filename, contentType, size}. */
export interface CallRecord {
  method: string;
  /** The bot's username, or undefined when the token was unknown. */
  bot?: string;
  params: Record<string, unknown>;
  at: number;
  /** HTTP status answered; undefined while pending or when the call hangs. */
  status?: number;
  /** The error description, for refused calls. */
  description?: string;
}

export interface WebhookState {
  url: string;
  secret_token?: string;
  allowed_updates?: string[];
  max_connections: number;
  last_error_date?: number;
  last_error_message?: string;
}

/** A Telegram update as the double stores it: any update object with its id. */
export type TgUpdate = { update_id: number } & Record<string, unknown>;
/** What pushUpdate / deliverWebhook take: a typegram Update, or any update-shaped object (update_id optional). */
export type PartialUpdate = Update | ({ update_id?: number } & Record<string, unknown>);

export interface MakeMessageUpdateOptions {
  chat_id: number;
  text?: string;
  /** Overrides of the sender (a realistic user is generated). */
  from?: Record<string, unknown>;
  /** Overrides of the chat object. */
  chat?: Record<string, unknown>;
  /** Extra message fields (photo, document, caption, reply_to_message, ...). */
  extra?: Record<string, unknown>;
  /** Username or token of the receiving bot (for message_id numbering). */
  bot?: string;
  date?: number;
}

export interface TelegramStats {
  /** Requests received (API calls and file downloads). */
  requests: number;
  /** 429 answers (flood limits and injected). */
  tooManyRequests: number;
}

interface StoredFile {
  file_id: string;
  file_unique_id: string;
  file_size: number;
  file_path: string;
  /** Undefined for addFileWithSize records: downloads produce zeros. */
  content?: Buffer;
  mime?: string;
  file_name?: string;
}

interface PendingPoll {
  offset: number;
  limit: number;
  finish: (result: TgUpdate[] | ApiError) => void;
}

interface BotState {
  config: TelegramBotConfig;
  /** Unconfirmed updates, sorted by update_id. */
  queue: TgUpdate[];
  confirmedOffset: number;
  allowedUpdates?: string[];
  webhook?: WebhookState;
  poll?: PendingPoll;
}

/** Thrown inside handlers; becomes the Bot API error envelope. */
class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: Record<string, number>,
  ) {
    super(description);
  }
}

const badRequest = (what: string) => new ApiError(400, `Bad Request: ${what}`);

/** Canonical names of the implemented methods (Telegram matches method names case-insensitively). */
const METHODS = [
  'getMe',
  'getUpdates',
  'setWebhook',
  'deleteWebhook',
  'getWebhookInfo',
  'getFile',
  'sendMessage',
  'sendPhoto',
  'sendDocument',
  'answerCallbackQuery',
] as const;
type MethodName = (typeof METHODS)[number];
const METHOD_BY_LOWER = new Map<string, MethodName>(METHODS.map((m) => [m.toLowerCase(), m]));

/** Update types Telegram leaves out unless explicitly listed in allowed_updates. */
const OPT_IN_UPDATES = new Set(['chat_member', 'message_reaction', 'message_reaction_count']);

interface CallContext {
  bot: BotState;
  params: Record<string, unknown>;
  files: Map<string, MultipartPart>;
  res: http.ServerResponse;
}

interface ResolvedMedia {
  via: Exclude<TelegramVia, 'text'>;
  file: StoredFile;
  url?: string;
  bytes?: Buffer;
  contentType: string;
  filename?: string;
}

export class TelegramDouble {
  /** Accepted send* calls, in order of acceptance. */
  readonly sent: SentRecord[] = [];
  /** Every call, including refused ones. */
  readonly calls: CallRecord[] = [];
  readonly stats: TelegramStats = { requests: 0, tooManyRequests: 0 };
  /** Ids of callback queries answered (answerCallbackQuery), in order. */
  readonly answeredCallbackQueries: string[] = [];
  private readonly openCallbackQueries = new Set<string>();

  private readonly server: LoopbackServer;
  private readonly events = new EventEmitter();
  private readonly bots: BotState[];
  private readonly limits: TelegramLimits;
  private readonly clock: () => number;
  private enforceLimits: boolean;
  private latencyMs = 0;
  private nextUpdateId = 1;
  private nextFileNumber = 1;
  private readonly files = new Map<string, StoredFile>();
  private readonly filesByPath = new Map<string, StoredFile>();
  private readonly messageIds = new Map<string, number>();
  private readonly chatStates = new Map<string, ApiError>();
  /** `<chat>:<thread>` → the error sends into that topic get. */
  private readonly topicStates = new Map<string, ApiError>();
  /** Business chats: chat id → the business_connection_id sends there must carry. */
  private readonly businessChats = new Map<string, string>();
  /** Keyed by lower-cased method name, 'download' or '*'. */
  private readonly faults: InjectedFaults<TelegramApiError>;
  /** Timestamps (clock()) of accepted sends: per bot, and per bot+chat. */
  private readonly botWindows = new Map<string, number[]>();
  private readonly chatWindows = new Map<string, number[]>();
  private readonly hanging = new HeldResponses();
  private readonly timers = new DoubleTimers();

  /** @internal use startTelegramDouble */
  constructor(private readonly opts: TelegramDoubleOptions = {}) {
    const configs = opts.bots && opts.bots.length > 0 ? opts.bots : [DEFAULT_BOT];
    this.bots = configs.map((config) => ({ config, queue: [], confirmedOffset: 0 }));
    this.limits = { ...TELEGRAM_LIMITS, ...opts.limits };
    this.clock = opts.clock ?? (() => performance.now());
    this.faults = new InjectedFaults(mulberry32(opts.seed ?? Date.now() >>> 0));
    this.enforceLimits = opts.enforceLimits ?? false;
    this.events.setMaxListeners(0);
    this.server = new LoopbackServer(
      (req, res) => this.handleRequest(req, res),
      (res, err) => writeJson(res, 500, { ok: false, error_code: 500, description: `double crashed: ${String(err)}` }),
    );
  }

  /** @internal */
  listen(): Promise<void> {
    return this.server.listen();
  }

  /** `http://127.0.0.1:<port>`: telegraf's apiRoot. */
  get apiRoot(): string {
    return this.server.origin;
  }

  /** The default bot's webhook, or undefined. */
  get webhook(): WebhookState | undefined {
    return this.webhookOf();
  }

  webhookOf(bot?: string): WebhookState | undefined {
    const w = this.bot(bot).webhook;
    return w ? { ...w } : undefined;
  }

  /** The highest getUpdates offset the default bot's client confirmed (0 if none). */
  get confirmedOffset(): number {
    return this.confirmedOffsetOf();
  }

  confirmedOffsetOf(bot?: string): number {
    return this.bot(bot).confirmedOffset;
  }

  /** Updates still waiting to be confirmed (getUpdates) or delivered (webhook). */
  pendingUpdates(bot?: string): TgUpdate[] {
    return [...this.bot(bot).queue];
  }

  // ---------------------------------------------------------------- chats and limits

  blockChat(chatId: number | string): void {
    this.chatStates.set(String(chatId), new ApiError(403, 'Forbidden: bot was blocked by the user'));
  }

  forgetChat(chatId: number | string): void {
    this.chatStates.set(String(chatId), badRequest('chat not found'));
  }

  deactivateChat(chatId: number | string): void {
    this.chatStates.set(String(chatId), new ApiError(403, 'Forbidden: user is deactivated'));
  }

  /** Undo blockChat / forgetChat / deactivateChat. */
  restoreChat(chatId: number | string): void {
    this.chatStates.delete(String(chatId));
  }

  /** The forum topic is deleted: sends with its message_thread_id get 400 "message thread not found". */
  deleteTopic(chatId: number | string, threadId: number): void {
    this.topicStates.set(`${chatId}:${threadId}`, badRequest('message thread not found'));
  }

  /** The forum topic is closed (the bot is no admin): sends into it get 400 TOPIC_CLOSED. */
  closeTopic(chatId: number | string, threadId: number): void {
    this.topicStates.set(`${chatId}:${threadId}`, badRequest('TOPIC_CLOSED'));
  }

  /**
   * The chat is a customer's chat with a business account the bot is connected to: Telegram lets
   * the bot write there only on behalf of that business, i.e. with its business_connection_id.
   */
  addBusinessChat(chatId: number | string, businessConnectionId: string): void {
    this.businessChats.set(String(chatId), businessConnectionId);
  }

  setEnforceLimits(enabled: boolean): void {
    this.enforceLimits = enabled;
  }

  // ---------------------------------------------------------------- faults

  /** The next `times` calls of `method` ('*' = any method, 'download' = file downloads) fail with `error`. */
  failNext(method: string, error: TelegramApiError, times = 1): void {
    this.faults.failNext(method.toLowerCase(), error, times);
  }

  /** Each call of `method` ('*' = any) fails with `error` with this probability (seeded PRNG). */
  setFailureRate(
    method: string,
    probability: number,
    error: TelegramApiError = { error_code: 500, description: 'Internal Server Error' },
  ): void {
    this.faults.setFailureRate(method.toLowerCase(), probability, error);
  }

  /** The next `times` calls of `method` ('*' = any) are never answered. */
  hangNext(method: string, times = 1): void {
    this.faults.hangNext(method.toLowerCase(), times);
  }

  /** Every request waits this long before being handled. */
  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  // ---------------------------------------------------------------- waiting

  /** Resolves with `sent` once at least `count` sends were accepted. */
  waitForSent(count: number, timeoutMs = 10_000): Promise<SentRecord[]> {
    return waitForEvent(
      this.events,
      'sent',
      () => this.sent.length >= count,
      timeoutMs,
      () => {
        const refused = this.calls
          .filter((c) => c.status !== undefined && c.status !== 200)
          .slice(-5)
          .map((c) => `${c.method} ${c.status} ${c.description ?? ''}`.trim());
        return (
          `waitForSent: expected ${count} sent messages, got ${this.sent.length} after ${timeoutMs} ms` +
          (refused.length ? `; last refused calls: ${refused.join('; ')}` : '')
        );
      },
    ).then(() => this.sent);
  }

  /** Resolves once a long poll (getUpdates with a timeout) of the bot is waiting for updates. */
  waitForPoll(bot?: string, timeoutMs = 10_000): Promise<void> {
    const state = this.bot(bot);
    return waitForEvent(
      this.events,
      'poll',
      () => state.poll !== undefined,
      timeoutMs,
      () => `waitForPoll: no long poll of @${state.config.username} within ${timeoutMs} ms`,
    );
  }

  // ---------------------------------------------------------------- updates and files

  /** Queues an update for getUpdates (assigning update_id when missing) and wakes a long poll. */
  pushUpdate(update: PartialUpdate, bot?: string): TgUpdate {
    const state = this.bot(bot);
    const full = this.withUpdateId(update);
    // Keep the queue sorted: getUpdates returns updates in update_id order.
    const at = state.queue.findIndex((u) => u.update_id > full.update_id);
    if (at < 0) state.queue.push(full);
    else state.queue.splice(at, 0, full);
    this.wakePoll(state);
    return full;
  }

  /** A realistic message update (with a fresh update_id), ready for pushUpdate or deliverWebhook. */
  makeMessageUpdate(o: MakeMessageUpdateOptions): Update.MessageUpdate {
    const state = this.bot(o.bot);
    const isPrivate = o.chat_id > 0;
    const from = userIn(o.chat_id, o.from);
    const chat = isPrivate
      ? { id: o.chat_id, first_name: from.first_name, last_name: from.last_name, username: from.username, type: 'private', ...o.chat }
      : { id: o.chat_id, title: 'Test group', type: o.chat_id <= -1_000_000_000_000 ? 'supergroup' : 'group', ...o.chat };
    const message: Record<string, unknown> = {
      message_id: this.nextMessageId(state, String(o.chat_id)),
      from,
      chat,
      date: o.date ?? Math.floor(Date.now() / 1000),
      ...(o.text !== undefined ? { text: o.text } : {}),
      ...o.extra,
    };
    return { update_id: this.nextUpdateId++, message } as unknown as Update.MessageUpdate;
  }

  /**
   * The update Telegram sends when the user presses the inline button labelled `label` under a
   * message the bot sent (`sent`, from `sent`/`waitForSent`): a callback_query with the button's
   * callback_data and the message with its keyboard. Throws when there is no such button.
   */
  makeCallbackQueryUpdate(sent: SentRecord, label: string, o: { from?: Record<string, unknown> } = {}): Update.CallbackQueryUpdate {
    const markup = sent.reply_markup as { inline_keyboard?: Array<Array<{ text: string; callback_data?: string }>> } | undefined;
    const button = markup?.inline_keyboard?.flat().find((b) => b.text === label);
    if (!button?.callback_data) throw new Error(`makeCallbackQueryUpdate: no inline button "${label}" under message ${sent.message_id}`);
    const state = this.bot(sent.bot);
    const numeric = Number(sent.chat_id);
    const id = String(BigInt(state.config.id) * 1_000_000n + BigInt(this.nextUpdateId));
    this.openCallbackQueries.add(id);
    const from = userIn(numeric, o.from);
    const message = {
      ...this.messageBase(state, numeric, sent),
      ...(sent.text !== undefined ? { text: sent.text } : {}),
      reply_markup: { inline_keyboard: markup!.inline_keyboard },
    };
    const callback_query = { id, from, chat_instance: `ci-${sent.chat_id}`, message, data: button.callback_data };
    return { update_id: this.nextUpdateId++, callback_query } as unknown as Update.CallbackQueryUpdate;
  }

  /** A file the double can serve through getFile and the download route. */
  addFile(o: { content: Buffer; file_path?: string; mime?: string; file_name?: string }): {
    file_id: string;
    file_unique_id: string;
    file_size: number;
  } {
    const file = this.storeFile({
      content: o.content,
      size: o.content.length,
      kind: 'document',
      ...(o.file_path !== undefined ? { path: o.file_path } : {}),
      ...(o.mime !== undefined ? { mime: o.mime } : {}),
      ...(o.file_name !== undefined ? { file_name: o.file_name } : {}),
    });
    return { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.file_size };
  }

  /** A file record of the given size without content (e.g. an over-20 MB file for "file is too big"). */
  addFileWithSize(size: number): { file_id: string; file_unique_id: string; file_size: number } {
    const file = this.storeFile({ size, kind: 'document' });
    return { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.file_size };
  }

  /**
   * POSTs the update to the bot's webhook like Telegram: JSON body, and the
   * X-Telegram-Bot-Api-Secret-Token header when a secret is set. A 2xx answer removes the update
   * from the pending queue; anything else is recorded as the webhook's last error.
   */
  async deliverWebhook(update: PartialUpdate, bot?: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
    const state = this.bot(bot);
    const webhook = state.webhook;
    if (!webhook) throw new Error(`deliverWebhook: no webhook is set for @${state.config.username}`);
    const full = this.withUpdateId(update);
    const headers: Record<string, string> = {};
    if (webhook.secret_token !== undefined) headers['X-Telegram-Bot-Api-Secret-Token'] = webhook.secret_token;
    let answer: { status: number; body: string; statusText: string };
    try {
      answer = await postJson(webhook.url, JSON.stringify(full), headers, timeoutMs);
    } catch (err) {
      webhook.last_error_date = Math.floor(Date.now() / 1000);
      webhook.last_error_message = (err as Error).message;
      throw err;
    }
    if (answer.status >= 200 && answer.status < 300) {
      state.queue = state.queue.filter((u) => u.update_id !== full.update_id);
    } else {
      webhook.last_error_date = Math.floor(Date.now() / 1000);
      webhook.last_error_message = `Wrong response from the webhook: ${answer.status} ${answer.statusText}`;
    }
    return { status: answer.status, body: answer.body };
  }

  /** Delivers the queued updates in order, stopping at the first non-2xx answer (as Telegram retries it). */
  async deliverPending(bot?: string): Promise<Array<{ update_id: number; status: number; body: string }>> {
    const state = this.bot(bot);
    const results: Array<{ update_id: number; status: number; body: string }> = [];
    for (const update of [...state.queue]) {
      const r = await this.deliverWebhook(update, bot);
      results.push({ update_id: update.update_id, ...r });
      if (r.status < 200 || r.status >= 300) break;
    }
    return results;
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Clears records, faults, latency, chat states, flood windows, pending updates and webhooks.
   * Keeps the bots, the files and the update_id / message_id counters (ids never go back, so a
   * bridge that deduplicates by update_id is not confused across tests).
   */
  reset(): void {
    this.sent.length = 0;
    this.calls.length = 0;
    this.answeredCallbackQueries.length = 0;
    this.openCallbackQueries.clear();
    this.stats.requests = 0;
    this.stats.tooManyRequests = 0;
    this.faults.clear();
    this.latencyMs = 0;
    this.chatStates.clear();
    this.topicStates.clear();
    this.businessChats.clear();
    this.botWindows.clear();
    this.chatWindows.clear();
    this.enforceLimits = this.opts.enforceLimits ?? false;
    for (const state of this.bots) {
      state.poll?.finish([]);
      state.queue = [];
      state.confirmedOffset = 0;
      delete state.allowedUpdates;
      delete state.webhook;
    }
    this.hanging.dropAll();
  }

  /** Closes the server at once, dropping long polls, hanging calls and keep-alive sockets. */
  async close(): Promise<void> {
    this.timers.cancelAll();
    await this.server.close();
  }

  // ================================================================ internals

  private bot(ref?: string): BotState {
    if (ref === undefined) return this.bots[0]!;
    const found = this.bots.find((b) => b.config.username === ref || b.config.token === ref);
    if (!found) throw new Error(`unknown bot ${ref}`);
    return found;
  }

  private withUpdateId(input: PartialUpdate): TgUpdate {
    const update = input as { update_id?: number } & Record<string, unknown>;
    if (typeof update.update_id === 'number') {
      this.nextUpdateId = Math.max(this.nextUpdateId, update.update_id + 1);
      return update as TgUpdate;
    }
    return { ...update, update_id: this.nextUpdateId++ };
  }

  private nextMessageId(state: BotState, chatId: string): number {
    const key = `${state.config.username}:${chatId}`;
    const id = (this.messageIds.get(key) ?? 0) + 1;
    this.messageIds.set(key, id);
    return id;
  }

  private storeFile(o: {
    content?: Buffer;
    size: number;
    kind: 'photo' | 'document';
    path?: string;
    mime?: string;
    file_name?: string;
  }): StoredFile {
    const n = this.nextFileNumber++;
    // Shaped like real ids (base64url, type-dependent prefix); only their uniqueness matters.
    const file: StoredFile = {
      file_id: `${o.kind === 'photo' ? 'AgACAgIAAxkBAAI' : 'BQACAgIAAxkBAAI'}${n}_${randomBytes(18).toString('base64url')}`,
      file_unique_id: `AQAD${n}${randomBytes(6).toString('base64url')}`,
      file_size: o.size,
      file_path: o.path ?? `${o.kind === 'photo' ? 'photos' : 'documents'}/file_${n}.${extensionFor(o.mime, o.file_name, o.kind)}`,
    };
    if (o.content !== undefined) file.content = o.content;
    if (o.mime !== undefined) file.mime = o.mime;
    if (o.file_name !== undefined) file.file_name = o.file_name;
    this.files.set(file.file_id, file);
    this.filesByPath.set(file.file_path, file);
    return file;
  }

  // ---------------------------------------------------------------- HTTP plumbing

  private async handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.stats.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');

    const download = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (download) {
      req.resume();
      return this.handleDownload(decodeURIComponent(download[1]!), decodeURIComponent(download[2]!), res);
    }

    const api = /^\/bot([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (!api) {
      req.resume();
      return writeJson(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    }
    const token = decodeURIComponent(api[1]!);
    const rawMethod = api[2]!;
    const state = this.bots.find((b) => b.config.token === token);
    const method = METHOD_BY_LOWER.get(rawMethod.toLowerCase());
    const call: CallRecord = { method: method ?? rawMethod, params: {}, at: Date.now() };
    if (state) call.bot = state.config.username;
    this.calls.push(call);

    // Parse parameters first so refused calls are recorded with what they asked for.
    let parsed: { params: Record<string, unknown>; files: Map<string, MultipartPart> };
    try {
      parsed = await this.readParams(req, url);
    } catch (err) {
      return this.answer(res, call, err instanceof ApiError ? err : badRequest(String(err)));
    }
    call.params = describeParams(parsed.params, parsed.files);

    if (!state) return this.answer(res, call, new ApiError(401, 'Unauthorized'));
    if (!method) return this.answer(res, call, new ApiError(404, 'Not Found'));

    if (this.latencyMs > 0) await this.timers.sleep(this.latencyMs);
    const keys = [method.toLowerCase(), '*'];
    if (this.faults.takeHang(keys)) return this.hanging.hold(res);
    const injected = this.faults.takeFault(keys);
    if (injected) return this.answer(res, call, toApiError(injected));

    try {
      const result = await this.dispatch(method, { bot: state, params: parsed.params, files: parsed.files, res });
      this.answer(res, call, result);
    } catch (err) {
      if (err instanceof ApiError) return this.answer(res, call, err);
      throw err;
    }
  }

  private async handleDownload(token: string, filePath: string, res: http.ServerResponse): Promise<void> {
    const call: CallRecord = { method: 'download', params: { file_path: filePath }, at: Date.now() };
    const state = this.bots.find((b) => b.config.token === token);
    if (state) call.bot = state.config.username;
    this.calls.push(call);
    if (!state) return this.answer(res, call, new ApiError(401, 'Unauthorized'));
    if (this.latencyMs > 0) await this.timers.sleep(this.latencyMs);
    if (this.faults.takeHang(['download', '*'])) return this.hanging.hold(res);
    const injected = this.faults.takeFault(['download', '*']);
    if (injected) return this.answer(res, call, toApiError(injected));

    const file = this.filesByPath.get(filePath);
    if (!file || file.file_size > this.limits.downloadBytes) return this.answer(res, call, new ApiError(404, 'Not Found'));
    const body = file.content ?? Buffer.alloc(file.file_size);
    call.status = 200;
    res.writeHead(200, {
      'content-type': file.mime ?? 'application/octet-stream',
      'content-length': body.length,
    });
    res.end(body);
  }

  /** Query string, then the body (JSON, urlencoded or multipart) on top, like the Bot API. */
  private async readParams(
    req: http.IncomingMessage,
    url: URL,
  ): Promise<{ params: Record<string, unknown>; files: Map<string, MultipartPart> }> {
    const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const files = new Map<string, MultipartPart>();
    const maxBody = Math.max(this.limits.uploadPhotoBytes, this.limits.uploadDocumentBytes) + MB;
    const { body, tooLarge } = await readBody(req, maxBody);
    if (tooLarge) throw new ApiError(413, 'Request Entity Too Large');
    if (body.length === 0) return { params, files };

    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType === 'application/json') {
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw badRequest('invalid JSON in request body');
      }
      if (!isPlainObject(json)) throw badRequest('request body must be a JSON object');
      Object.assign(params, json);
    } else if (contentType === 'application/x-www-form-urlencoded') {
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    } else if (contentType === 'multipart/form-data') {
      const boundary = parseBoundary(req.headers['content-type']);
      if (!boundary) throw badRequest('multipart/form-data without a boundary');
      let parts: MultipartPart[];
      try {
        parts = parseMultipart(body, boundary);
      } catch (err) {
        if (err instanceof MultipartError) throw badRequest(`invalid multipart/form-data: ${err.message}`);
        throw err;
      }
      for (const part of parts) {
        if (part.filename !== undefined) files.set(part.name, part);
        else params[part.name] = part.data.toString('utf8');
      }
    }
    return { params, files };
  }

  private answer(res: http.ServerResponse, call: CallRecord, outcome: ApiError | { result: unknown; description?: string }): void {
    if (outcome instanceof ApiError) {
      call.status = outcome.code;
      call.description = outcome.description;
      if (outcome.code === 429) this.stats.tooManyRequests++;
      const payload: Record<string, unknown> = { ok: false, error_code: outcome.code, description: outcome.description };
      if (outcome.parameters) payload.parameters = outcome.parameters;
      return writeJson(res, outcome.code, payload);
    }
    call.status = 200;
    writeJson(res, 200, { ok: true, result: outcome.result, ...(outcome.description ? { description: outcome.description } : {}) });
  }

  // ---------------------------------------------------------------- methods

  private dispatch(
    method: MethodName,
    ctx: CallContext,
  ): Promise<{ result: unknown; description?: string }> | { result: unknown; description?: string } {
    switch (method) {
      case 'getMe':
        return { result: this.botUser(ctx.bot, true) };
      case 'getUpdates':
        return this.getUpdates(ctx).then((result) => ({ result }));
      case 'setWebhook':
        return this.setWebhook(ctx);
      case 'deleteWebhook':
        return this.deleteWebhook(ctx);
      case 'getWebhookInfo':
        return { result: this.webhookInfo(ctx.bot) };
      case 'getFile':
        return { result: this.getFile(ctx) };
      case 'sendMessage':
        return { result: this.sendMessage(ctx) };
      case 'sendPhoto':
        return this.sendMedia(ctx, 'photo').then((result) => ({ result }));
      case 'sendDocument':
        return this.sendMedia(ctx, 'document').then((result) => ({ result }));
      case 'answerCallbackQuery':
        return { result: this.answerCallbackQuery(ctx) };
    }
  }

  private botUser(state: BotState, full = false): Record<string, unknown> {
    const { id, username } = state.config;
    const user: Record<string, unknown> = { id, is_bot: true, first_name: 'Test Bridge Bot', username };
    if (full) {
      // getMe adds the bot's capabilities to the User object.
      Object.assign(user, {
        can_join_groups: true,
        can_read_all_group_messages: false,
        supports_inline_queries: false,
        can_connect_to_business: false,
        has_main_web_app: false,
      });
    }
    return user;
  }

  private async getUpdates(ctx: CallContext): Promise<TgUpdate[]> {
    const { bot, params } = ctx;
    if (bot.webhook) throw webhookConflict();
    const offset = toInt(params.offset) ?? 0;
    const limit = Math.min(100, Math.max(1, toInt(params.limit) ?? 100));
    const timeout = Math.max(0, toInt(params.timeout) ?? 0);
    if (params.allowed_updates !== undefined) {
      const list = parseJsonish(params.allowed_updates);
      if (!Array.isArray(list)) throw badRequest("can't parse allowed_updates");
      bot.allowedUpdates = list.map(String);
    }

    // The offset confirms (and forgets) everything before it, even if this call then waits.
    if (offset > 0) {
      bot.queue = bot.queue.filter((u) => u.update_id >= offset);
      bot.confirmedOffset = Math.max(bot.confirmedOffset, offset);
    } else if (offset < 0) {
      bot.queue = bot.queue.slice(offset);
    }

    // Only one getUpdates per bot: the older waiting request is terminated.
    bot.poll?.finish(
      new ApiError(409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running'),
    );

    const ready = this.takeUpdates(bot, limit);
    if (ready.length > 0 || timeout === 0) return ready;

    return new Promise<TgUpdate[]>((resolve, reject) => {
      const poll: PendingPoll = {
        offset,
        limit,
        finish: (result) => {
          if (bot.poll !== poll) return;
          delete bot.poll;
          this.timers.cancel(timer);
          if (result instanceof ApiError) reject(result);
          else resolve(result);
        },
      };
      const timer = this.timers.after(timeout * 1000, () => poll.finish([]));
      bot.poll = poll;
      this.events.emit('poll', bot.config.username);
      // The client gave up (aborted, timed out): forget the poll so it does not swallow updates.
      ctx.res.once('close', () => poll.finish([]));
    });
  }

  private wakePoll(bot: BotState): void {
    const poll = bot.poll;
    if (!poll) return;
    const ready = this.takeUpdates(bot, poll.limit);
    if (ready.length > 0) poll.finish(ready);
  }

  /** Updates to hand out, after dropping those the bot did not subscribe to (Telegram never creates them). */
  private takeUpdates(bot: BotState, limit: number): TgUpdate[] {
    bot.queue = bot.queue.filter((u) => isAllowed(u, bot.allowedUpdates));
    return bot.queue.slice(0, limit);
  }

  private setWebhook(ctx: CallContext): { result: true; description: string } {
    const { bot, params } = ctx;
    const url = toStr(params.url) ?? '';
    if (url === '') return this.deleteWebhook(ctx);

    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw badRequest('invalid webhook URL specified');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw badRequest('bad webhook: HTTPS url must be provided for webhook');

    const secret = toStr(params.secret_token);
    if (secret !== undefined && secret !== '' && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) {
      throw badRequest('secret token contains unallowed characters');
    }
    const maxConnections = toInt(params.max_connections) ?? 40;
    if (maxConnections < 1 || maxConnections > 100) throw badRequest('bad webhook: max_connections must be between 1 and 100');
    let allowed: string[] | undefined;
    if (params.allowed_updates !== undefined) {
      const list = parseJsonish(params.allowed_updates);
      if (!Array.isArray(list)) throw badRequest("can't parse allowed_updates");
      allowed = list.map(String);
    }
    if (toBool(params.drop_pending_updates)) bot.queue = [];

    const webhook: WebhookState = { url, max_connections: maxConnections };
    if (secret) webhook.secret_token = secret;
    if (allowed) {
      webhook.allowed_updates = allowed;
      bot.allowedUpdates = allowed;
    }
    bot.webhook = webhook;
    // A waiting getUpdates cannot continue once a webhook exists.
    bot.poll?.finish(webhookConflict());
    return { result: true, description: 'Webhook was set' };
  }

  private deleteWebhook(ctx: CallContext): { result: true; description: string } {
    const { bot, params } = ctx;
    if (toBool(params.drop_pending_updates)) bot.queue = [];
    const had = bot.webhook !== undefined;
    delete bot.webhook;
    return { result: true, description: had ? 'Webhook was deleted' : 'Webhook is already deleted' };
  }

  private webhookInfo(bot: BotState): Record<string, unknown> {
    const pending = bot.queue.filter((u) => isAllowed(u, bot.allowedUpdates)).length;
    const w = bot.webhook;
    if (!w) return { url: '', has_custom_certificate: false, pending_update_count: pending };
    const info: Record<string, unknown> = {
      url: w.url,
      has_custom_certificate: false,
      pending_update_count: pending,
      max_connections: w.max_connections,
      ip_address: '127.0.0.1',
    };
    if (w.last_error_date !== undefined) info.last_error_date = w.last_error_date;
    if (w.last_error_message !== undefined) info.last_error_message = w.last_error_message;
    if (w.allowed_updates) info.allowed_updates = w.allowed_updates;
    return info;
  }

  private getFile(ctx: CallContext): Record<string, unknown> {
    const fileId = toStr(ctx.params.file_id);
    if (!fileId) throw badRequest('file_id is empty');
    const file = this.files.get(fileId);
    if (!file) throw badRequest('invalid file_id');
    if (file.file_size > this.limits.downloadBytes) throw badRequest('file is too big');
    return { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.file_size, file_path: file.file_path };
  }

  /** Validates chat_id and the chat's state; returns it as the string Telegram would echo. */
  private checkChat(raw: unknown): { chatId: string; numeric: number } {
    const chatId = toStr(raw);
    if (chatId === undefined || chatId === '') throw badRequest('chat_id is empty');
    // Only numeric ids are known to the double; @channelusername resolves to nothing.
    if (!/^-?\d+$/.test(chatId)) throw badRequest('chat not found');
    const numeric = Number(chatId);
    const state = this.chatStates.get(chatId);
    if (state) throw state;
    return { chatId, numeric };
  }

  /**
   * Where in the chat a send* goes: its forum topic and business connection, refused like
   * Telegram does for a deleted or closed topic and for a business chat without its connection.
   */
  private checkPlacement(
    chatId: string,
    params: Record<string, unknown>,
  ): Pick<SentRecord, 'message_thread_id' | 'business_connection_id'> {
    const placement: Pick<SentRecord, 'message_thread_id' | 'business_connection_id'> = {};
    const thread = toInt(params.message_thread_id);
    if (thread !== undefined) {
      const state = this.topicStates.get(`${chatId}:${thread}`);
      if (state) throw state;
      placement.message_thread_id = thread;
    }
    const connection = toStr(params.business_connection_id);
    const required = this.businessChats.get(chatId);
    if (required !== undefined && connection !== required)
      throw new ApiError(403, "Forbidden: bot can't initiate conversation with a user");
    if (connection !== undefined && connection !== '') placement.business_connection_id = connection;
    return placement;
  }

  private chatObject(numeric: number): Record<string, unknown> {
    if (numeric > 0) return { id: numeric, first_name: 'Alice', last_name: 'Smith', username: 'alice_smith', type: 'private' };
    return { id: numeric, title: 'Test group', type: numeric <= -1_000_000_000_000 ? 'supergroup' : 'group' };
  }

  /** Accepts the id of a callback query made by makeCallbackQueryUpdate, once. */
  private answerCallbackQuery(ctx: CallContext): true {
    const id = toStr(ctx.params.callback_query_id);
    if (!id) throw badRequest('parameter "callback_query_id" is required');
    if (!this.openCallbackQueries.delete(id)) throw badRequest('query is too old and response timeout expired or query ID is invalid');
    this.answeredCallbackQueries.push(id);
    return true;
  }

  private sendMessage(ctx: CallContext): Record<string, unknown> {
    const { bot, params } = ctx;
    const { chatId, numeric } = this.checkChat(params.chat_id);
    const placement = this.checkPlacement(chatId, params);
    const text = toStr(params.text) ?? '';
    const parseMode = toStr(params.parse_mode);
    const visible = visibleText(text, parseMode);
    if (visible.trim() === '') throw badRequest('message text is empty');
    // Telegram counts UTF-16 code units, which is exactly what String.length is.
    if (visible.length > this.limits.textLength) throw badRequest('message is too long');
    const replyMarkup = parseReplyMarkup(params.reply_markup);

    const record: Omit<SentRecord, 'message_id' | 'at'> = {
      method: 'sendMessage',
      bot: bot.config.username,
      chat_id: chatId,
      ...placement,
      text,
      via: 'text',
    };
    if (parseMode) record.parse_mode = parseMode;
    if (replyMarkup !== undefined) record.reply_markup = replyMarkup;
    const accepted = this.accept(bot, numeric, record);
    return { ...this.messageBase(bot, numeric, accepted), text: visible, ...inlineMarkup(replyMarkup) };
  }

  private async sendMedia(ctx: CallContext, kind: 'photo' | 'document'): Promise<Record<string, unknown>> {
    const { bot, params } = ctx;
    const method = kind === 'photo' ? 'sendPhoto' : 'sendDocument';
    const { chatId, numeric } = this.checkChat(params.chat_id);
    const placement = this.checkPlacement(chatId, params);
    const caption = toStr(params.caption);
    const parseMode = toStr(params.parse_mode);
    const visibleCaption = caption !== undefined ? visibleText(caption, parseMode) : undefined;
    if (visibleCaption !== undefined && visibleCaption.length > this.limits.captionLength) throw badRequest('message caption is too long');
    const replyMarkup = parseReplyMarkup(params.reply_markup);

    const media = await this.resolveMedia(kind, params[kind], ctx.files);

    const record: Omit<SentRecord, 'message_id' | 'at'> = {
      method,
      bot: bot.config.username,
      chat_id: chatId,
      ...placement,
      via: media.via,
      file_id: media.file.file_id,
      contentType: media.contentType,
      size: media.file.file_size,
    };
    if (caption !== undefined) record.caption = caption;
    if (parseMode) record.parse_mode = parseMode;
    if (replyMarkup !== undefined) record.reply_markup = replyMarkup;
    if (media.url !== undefined) record.url = media.url;
    if (media.filename !== undefined) record.filename = media.filename;
    if (media.bytes !== undefined) record.bytes = media.bytes;
    const accepted = this.accept(bot, numeric, record);

    const message = this.messageBase(bot, numeric, accepted);
    const { file } = media;
    if (kind === 'photo') {
      message.photo = [{ file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.file_size, width: 800, height: 600 }];
    } else {
      message.document = {
        file_id: file.file_id,
        file_unique_id: file.file_unique_id,
        file_size: file.file_size,
        mime_type: media.contentType,
        ...(media.filename !== undefined ? { file_name: media.filename } : {}),
      };
    }
    if (visibleCaption !== undefined && visibleCaption !== '') message.caption = visibleCaption;
    return { ...message, ...inlineMarkup(replyMarkup) };
  }

  /** Finds the file a send* call refers to: an upload, an attach:// name, a URL or a file_id. */
  private async resolveMedia(kind: 'photo' | 'document', value: unknown, files: Map<string, MultipartPart>): Promise<ResolvedMedia> {
    let upload = files.get(kind);
    const ref = toStr(value);
    if (!upload && ref?.startsWith('attach://')) upload = files.get(ref.slice('attach://'.length));
    if (upload) {
      const limit = kind === 'photo' ? this.limits.uploadPhotoBytes : this.limits.uploadDocumentBytes;
      if (upload.data.length > limit) throw new ApiError(413, 'Request Entity Too Large');
      const contentType = detectContentType(upload.data, upload.contentType, upload.filename);
      if (kind === 'photo') this.checkImage(upload.data, contentType, upload.filename);
      const file = this.storeFile({
        content: upload.data,
        size: upload.data.length,
        kind,
        mime: contentType,
        ...(upload.filename ? { file_name: upload.filename } : {}),
      });
      return {
        via: 'upload',
        file,
        bytes: upload.data,
        contentType,
        ...(upload.filename !== undefined ? { filename: upload.filename } : {}),
      };
    }

    if (ref === undefined || ref === '') throw badRequest(`there is no ${kind} in the request`);
    if (/^https?:\/\//i.test(ref)) return this.fetchUrlMedia(kind, ref);
    const known = this.files.get(ref);
    if (!known) throw badRequest('wrong file identifier/HTTP URL specified');
    const contentType = known.mime ?? 'application/octet-stream';
    return { via: 'file_id', file: known, contentType, ...(known.file_name !== undefined ? { filename: known.file_name } : {}) };
  }

  /** Telegram downloads URL media itself; any failure to do so is the same terse 400. */
  private async fetchUrlMedia(kind: 'photo' | 'document', url: string): Promise<ResolvedMedia> {
    const failed = () => badRequest('failed to get HTTP URL content');
    const limit = kind === 'photo' ? this.limits.urlPhotoBytes : this.limits.urlDocumentBytes;
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.opts.urlFetchTimeoutMs ?? 10_000) });
    } catch {
      throw failed();
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw failed();
    }
    const declaredLength = Number(response.headers.get('content-length') ?? NaN);
    if (declaredLength > limit) {
      await response.body?.cancel().catch(() => undefined);
      throw failed();
    }
    let bytes: Buffer;
    try {
      bytes = await readCapped(response, limit);
    } catch {
      throw failed();
    }

    const declared = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const filename = filenameFrom(response.headers.get('content-disposition'), url);
    const contentType = detectContentType(bytes, declared, filename);
    // Telegram refuses web pages outright, before trying to process them as media.
    if (declared === 'text/html') throw badRequest('wrong type of the web page content');
    if (kind === 'photo') this.checkImage(bytes, contentType, filename);
    if (kind === 'document' && this.opts.strictDocumentUrls && !['application/pdf', 'application/zip', 'image/gif'].includes(contentType)) {
      throw badRequest('wrong type of the web page content');
    }
    const file = this.storeFile({
      content: bytes,
      size: bytes.length,
      kind,
      mime: contentType,
      ...(filename ? { file_name: filename } : {}),
    });
    return { via: 'url', url, file, contentType, ...(filename !== undefined ? { filename } : {}) };
  }

  private checkImage(bytes: Buffer, contentType: string, filename: string | undefined): void {
    const isImage = this.opts.isImage
      ? this.opts.isImage({ bytes, contentType, ...(filename !== undefined ? { filename } : {}) })
      : contentType.startsWith('image/');
    if (!isImage) throw badRequest('IMAGE_PROCESS_FAILED');
  }

  /**
   * The last gate of every send*: flood limits, then recording. Synchronous, so the window check
   * and the acceptance cannot interleave with another request.
   */
  private accept(bot: BotState, chat: number, record: Omit<SentRecord, 'message_id' | 'at'>): SentRecord {
    const botKey = bot.config.username;
    const chatKey = `${botKey}:${chat}`;
    const now = this.clock();
    if (this.enforceLimits) {
      const windows: Array<{ times: number[]; max: number; span: number }> = [
        { times: this.window(this.botWindows, botKey, now, 1000), max: 30, span: 1000 },
        chat > 0
          ? { times: this.window(this.chatWindows, chatKey, now, 3000), max: 3, span: 3000 }
          : { times: this.window(this.chatWindows, chatKey, now, 60_000), max: 20, span: 60_000 },
      ];
      const full = windows.filter((w) => w.times.length >= w.max);
      if (full.length > 0) {
        // A window frees when the oldest of its last `max` sends leaves it; wait for the slowest.
        const waitMs = Math.max(...full.map((w) => w.times[w.times.length - w.max]! + w.span - now));
        const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
        throw new ApiError(429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter });
      }
    }
    this.window(this.botWindows, botKey, now, 1000).push(now);
    this.window(this.chatWindows, chatKey, now, chat > 0 ? 3000 : 60_000).push(now);

    const sent: SentRecord = { ...record, message_id: this.nextMessageId(bot, String(chat)), at: Date.now() };
    this.sent.push(sent);
    this.events.emit('sent', sent);
    return sent;
  }

  /** The timestamps of a sliding window, pruned of those older than `span`. */
  private window(map: Map<string, number[]>, key: string, now: number, span: number): number[] {
    const times = (map.get(key) ?? []).filter((t) => t > now - span);
    map.set(key, times);
    return times;
  }

  private messageBase(bot: BotState, chat: number, sent: SentRecord): Record<string, unknown> {
    return {
      message_id: sent.message_id,
      ...(sent.message_thread_id !== undefined ? { message_thread_id: sent.message_thread_id, is_topic_message: true } : {}),
      from: this.botUser(bot),
      chat: this.chatObject(chat),
      date: Math.floor(sent.at / 1000),
      ...(sent.business_connection_id !== undefined ? { business_connection_id: sent.business_connection_id } : {}),
    };
  }
}

/** Starts a Telegram Bot API double on 127.0.0.1 on a free port. */
export async function startTelegramDouble(opts?: TelegramDoubleOptions): Promise<TelegramDouble> {
  const double = new TelegramDouble(opts);
  await double.listen();
  return double;
}

// ==================================================================== helpers

const writeJson = jsonWriter('application/json');

/** The user who writes in a chat: in a private chat the chat's own id, in a group a fixed member; `overrides` on top. */
function userIn(chatId: number, overrides?: Record<string, unknown>) {
  return {
    id: chatId > 0 ? chatId : 777000111,
    is_bot: false,
    first_name: 'Alice',
    last_name: 'Smith',
    username: 'alice_smith',
    language_code: 'en',
    ...overrides,
  };
}

function webhookConflict(): ApiError {
  return new ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
}

function toApiError(e: TelegramApiError): ApiError {
  const parameters: Record<string, number> = {};
  if (e.retry_after !== undefined) parameters.retry_after = e.retry_after;
  if (e.migrate_to_chat_id !== undefined) parameters.migrate_to_chat_id = e.migrate_to_chat_id;
  return new ApiError(e.error_code, e.description, Object.keys(parameters).length ? parameters : undefined);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toStr(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

function toInt(v: unknown): number | undefined {
  const s = toStr(v);
  if (s === undefined || !/^\s*-?\d+\s*$/.test(s)) return undefined;
  return Number.parseInt(s, 10);
}

function toBool(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}

/** Form and query parameters carry arrays and objects as JSON strings. */
function parseJsonish(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function parseReplyMarkup(v: unknown): unknown {
  if (v === undefined || v === '') return undefined;
  const parsed = parseJsonish(v);
  if (!isPlainObject(parsed)) throw badRequest("can't parse reply keyboard markup JSON object");
  return parsed;
}

/** Telegram echoes inline keyboards (only) in the sent Message. */
function inlineMarkup(markup: unknown): Record<string, unknown> {
  return isPlainObject(markup) && Array.isArray(markup.inline_keyboard)
    ? { reply_markup: { inline_keyboard: markup.inline_keyboard } }
    : {};
}

function isAllowed(update: TgUpdate, allowed: string[] | undefined): boolean {
  const type = Object.keys(update).find((k) => k !== 'update_id');
  if (type === undefined) return false;
  if (!allowed || allowed.length === 0) return !OPT_IN_UPDATES.has(type);
  return allowed.includes(type);
}

/**
 * The text as the user will see it after entity parsing (what Telegram's length limits apply to).
 * An approximation: tags and markup characters are removed, escapes resolved.
 */
function visibleText(text: string, parseMode: string | undefined): string {
  if (parseMode === undefined || parseMode === '') return text;
  switch (parseMode.toLowerCase()) {
    case 'html':
      return text
        .replace(/<[^>]*>/g, '')
        .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
        .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&');
    case 'markdown':
    case 'markdownv2':
      return text.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/\\(.)|[*_~`|]/g, (_, escaped: string | undefined) => escaped ?? '');
    default:
      throw badRequest('unsupported parse_mode');
  }
}

const EXTENSION_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  pdf: 'application/pdf',
  zip: 'application/zip',
  txt: 'text/plain',
  mp4: 'video/mp4',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
};

/** A declared type wins; otherwise sniff the bytes (telegraf sends no part Content-Type); then the extension. */
function detectContentType(bytes: Buffer, declared: string | undefined, filename: string | undefined): string {
  if (declared && declared !== 'application/octet-stream') return declared;
  const sniffed = sniff(bytes);
  if (sniffed) return sniffed;
  const ext = filename?.split('.').pop()?.toLowerCase();
  return (ext && EXTENSION_TYPES[ext]) || 'application/octet-stream';
}

function sniff(b: Buffer): string | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (b.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  if (b.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) return 'application/zip';
  return undefined;
}

function extensionFor(mime: string | undefined, fileName: string | undefined, kind: 'photo' | 'document'): string {
  const fromName = fileName?.includes('.') ? fileName.split('.').pop() : undefined;
  if (fromName) return fromName;
  const fromMime = Object.entries(EXTENSION_TYPES).find(([, type]) => type === mime)?.[0];
  return fromMime ?? (kind === 'photo' ? 'jpg' : 'dat');
}

function filenameFrom(disposition: string | null, url: string): string | undefined {
  const quoted = disposition ? /filename="?([^";]+)"?/i.exec(disposition) : null;
  if (quoted) return quoted[1];
  const last = new URL(url).pathname.split('/').pop();
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** Replaces file parts by a description, so call records stay small and printable. */
function describeParams(params: Record<string, unknown>, files: Map<string, MultipartPart>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...params };
  for (const [name, part] of files) {
    out[name] = { filename: part.filename, contentType: part.contentType, size: part.data.length };
  }
  return out;
}

async function readCapped(response: Response, limit: number): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new Error('too big');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
