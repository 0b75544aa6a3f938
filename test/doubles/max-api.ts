/**
 * A test double of the MAX messenger Bot API (platform-api2.max.ru): a real HTTP server on
 * 127.0.0.1 that speaks MAX's envelopes, error codes and limits for the calls the bridge's MAX
 * adapter makes. Every fact it plays, and where it comes from, is in docs/vendors/max.md.
 *
 * Deliberate deviations from the real service, all for the sake of tests:
 * - One server plays the API host, the upload hosts (iu/fu.oneme.ru, vu.okcdn.ru) under /upload/
 *   and the media hosts (i.oneme.ru, ...) under /media/.
 * - Subscriptions to http:// URLs on any port are accepted when `allowHttpWebhooks` is set
 *   (MAX wants https on 443 since May 2026; the bridge under test listens on plain loopback).
 * - Webhook delivery is explicit (deliverWebhook), so tests decide when it happens and when a
 *   failed delivery is retried; the 8-hour give-up is measured on the injected clock.
 * - Where MAX's answer is not documented (marked n/f in docs/vendors/max.md) the double answers
 *   with MAX's envelope and a code chosen to be plausible; the docs list each choice.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import { MultipartError, parseBoundary, parseMultipart } from './multipart.js';
import { HeldResponses, InjectedFaults } from './faults.js';
import { LoopbackServer, jsonWriter, postJson, readBody } from './server.js';
import { DoubleTimers, waitForEvent } from './timers.js';
import { mulberry32 } from '../helpers/random.js';

export interface MaxBotConfig {
  token: string;
  userId: number;
  name: string;
  username: string;
}

export const DEFAULT_MAX_BOT: MaxBotConfig = {
  token: 'f9LHodD0cOJTestTokenForTheMaxDoubleOnly_aaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  userId: 229229229,
  name: 'Bridge Bot',
  username: 'bridge_test_bot',
};

export type MaxUploadType = 'image' | 'video' | 'audio' | 'file';
export type MaxChatType = 'dialog' | 'chat';
export type Json = Record<string, unknown>;

/** An update as MAX sends it: `update_type`, `timestamp` (ms) and the type's own fields. */
export type MaxUpdate = { update_type: string; timestamp: number } & Json;

/** A MAX user object (`User`). */
export interface MaxUser {
  user_id: number;
  first_name: string;
  last_name?: string;
  username: string | null;
  is_bot: boolean;
  last_activity_time: number;
  name: string;
}

/** What a refused call answers: HTTP status plus MAX's `{code, message}` body. */
export interface MaxFault {
  status: number;
  code: string;
  message: string;
}

export interface MaxLimits {
  /** NewMessageBody.text, counted in UTF-16 units of the raw text including markup. */
  textLength: number;
  /** API requests per bot per second (enforceLimits). */
  requestsPerSecond: number;
  /** Messages plus callback answers per chat per second (enforceLimits). */
  chatMessagesPerSecond: number;
  /** Upload sizes per type. */
  uploadBytes: Record<MaxUploadType, number>;
}

const MB = 1024 * 1024;
export const MAX_LIMITS: MaxLimits = {
  textLength: 4000,
  requestsPerSecond: 30,
  chatMessagesPerSecond: 2,
  uploadBytes: { image: 50 * MB, video: 250 * MB, audio: 256 * MB, file: 4096 * MB },
};

export interface MaxDoubleOptions {
  /** Default: one bot, DEFAULT_MAX_BOT. The first bot is the default for every `bot?` argument. */
  bots?: MaxBotConfig[];
  /** 429 too.many.requests past limits.requestsPerSecond per bot and chatMessagesPerSecond per chat. */
  enforceLimits?: boolean;
  /** Milliseconds for the rate windows and the webhook give-up. Tests may inject a fake clock. */
  clock?: () => number;
  /** Seed for setFailureRate's PRNG. */
  seed?: number;
  limits?: Partial<Omit<MaxLimits, 'uploadBytes'>> & { uploadBytes?: Partial<Record<MaxUploadType, number>> };
  /** Accept http:// and any port in POST /subscriptions (MAX refuses both). Default false. */
  allowHttpWebhooks?: boolean;
  /** How many sends with a fresh upload token answer attachment.not.ready first. Default 0. */
  attachmentNotReadyUses?: number;
  /**
   * GET /updates without a marker: the updates not yet confirmed (older docs) or only the newest
   * one (docs since May 2026). Default 'unconfirmed'.
   */
  markerlessPoll?: 'unconfirmed' | 'latest';
  /** Timeout of one webhook delivery (MAX: an answer within 30 s). */
  webhookTimeoutMs?: number;
}

/** One message the double accepted (POST /messages). */
export interface MaxSentRecord {
  bot: string;
  mid: string;
  chatId: number;
  chatType: MaxChatType;
  /** Set when the call addressed the user (`?user_id=`). */
  userId?: number;
  text: string | null;
  format?: string;
  notify: boolean;
  link?: { type: string; mid: string };
  /** The attachments as requested. */
  attachments: Json[];
  /** The inline keyboard's rows, when there was one. */
  keyboard?: Json[][];
  /** Uploaded files the message carries, with their bytes. */
  files: Array<{ type: MaxUploadType; token: string; filename?: string; bytes: Buffer }>;
  /** The `message` MAX answered with. */
  message: Json;
  at: number;
}

export interface MaxCallRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  bot?: string;
  body?: unknown;
  status?: number;
  code?: string;
  at: number;
}

export interface MaxAnswerRecord {
  callbackId: string;
  notification?: string;
  message?: Json;
  at: number;
}

export interface MaxSubscription {
  url: string;
  secret?: string;
  update_types: string[] | null;
  time: number;
}

export interface MaxDeliveryRecord {
  url: string;
  update: MaxUpdate;
  status: number;
  ok: boolean;
  /** The X-Max-Bot-Api-Secret header sent, if any. */
  secret?: string;
  /** 1 for the first attempt of this update, 2 for its first redelivery, ... */
  attempt: number;
  error?: string;
  at: number;
}

/** What a user sends: text and/or attachments (build those with the double's *Attachment helpers). */
export type MaxUserContent = string | { text?: string; attachments?: Json[]; link?: Json };

export interface PushMessageOptions {
  chatId?: number;
  user?: Partial<MaxUser>;
  chatType?: MaxChatType;
  bot?: string;
}

/** What failNext / setFailureRate / hangNext aim at: an API resource, the upload host or the media host. */
export type MaxRoute = 'me' | 'subscriptions' | 'updates' | 'messages' | 'uploads' | 'answers' | 'chats' | 'videos' | 'upload' | 'media';

interface Upload {
  type: MaxUploadType;
  token: string;
  bytes: Buffer;
  filename?: string;
  mime: string;
  notReadyLeft: number;
  url: string;
  /** Video: the download URL GET /videos/{token} answers. */
  playUrl?: string;
}

interface Slot {
  type: MaxUploadType;
  token?: string;
  used: boolean;
}

interface Chat {
  chatId: number;
  type: MaxChatType;
  title?: string;
  user?: MaxUser;
}

interface PendingDelivery {
  update: MaxUpdate;
  attempts: number;
  firstFailedAt?: number;
}

interface BotState {
  config: MaxBotConfig;
  /** Long-poll log: each update with its marker, oldest first. */
  log: Array<{ marker: number; update: MaxUpdate }>;
  nextMarker: number;
  confirmed: number;
  poll?: { from: number; limit: number; types?: string[]; finish: (r: Json) => void };
  subscriptions: MaxSubscription[];
  pending: Map<string, PendingDelivery[]>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const payloadError = (message: string) => new ApiError(400, 'proto.payload', message);
const notFound = (what: string) => new ApiError(404, 'not.found', what);

const UPDATE_TYPES = [
  'message_created',
  'message_edited',
  'message_removed',
  'message_callback',
  'message_chat_created',
  'bot_started',
  'bot_stopped',
  'bot_added',
  'bot_removed',
  'user_added',
  'user_removed',
  'chat_title_changed',
  'dialog_muted',
  'dialog_unmuted',
  'dialog_cleared',
  'dialog_removed',
];
const BUTTON_TYPES = ['callback', 'link', 'request_contact', 'request_geo_location', 'chat', 'open_app', 'message', 'clipboard'];
const KEYBOARD_LIMITS = { rows: 30, perRow: 7, total: 210 };
const EIGHT_HOURS = 8 * 3600_000;
/** 2^53 + a realistic offset: MAX's seq values do not fit a JS number. */
const SEQ_BASE = 116_327_994_376_978_687n;

export class MaxDouble {
  readonly sent: MaxSentRecord[] = [];
  readonly calls: MaxCallRecord[] = [];
  readonly answers: MaxAnswerRecord[] = [];
  readonly deliveries: MaxDeliveryRecord[] = [];
  /** Sends refused with attachment.not.ready, per token. */
  readonly notReadyRefusals: string[] = [];
  readonly stats = { requests: 0, tooManyRequests: 0 };

  private readonly server: LoopbackServer;
  private readonly events = new EventEmitter();
  private readonly bots: BotState[];
  private readonly limits: MaxLimits;
  private readonly clock: () => number;
  private enforceLimits: boolean;
  private notReadyUses: number;
  private latencyMs = 0;
  private nextSeq = SEQ_BASE;
  private nextId = 1;
  private readonly uploads = new Map<string, Upload>();
  private readonly slots = new Map<string, Slot>();
  private readonly media = new Map<string, { bytes: Buffer; mime: string; filename?: string }>();
  private readonly chats = new Map<number, Chat>();
  private readonly dialogs = new Map<string, number>();
  private readonly chatStates = new Map<number, ApiError>();
  private readonly messages = new Map<string, Json>();
  private readonly openCallbacks = new Map<string, { bot: string; chatId: number }>();
  /** Keyed by route, or '*'. */
  private readonly faults: InjectedFaults<MaxFault>;
  private readonly windows = new Map<string, number[]>();
  private readonly hanging = new HeldResponses();
  private readonly timers = new DoubleTimers();

  /** @internal use startMaxDouble */
  constructor(private readonly opts: MaxDoubleOptions = {}) {
    const configs = opts.bots?.length ? opts.bots : [DEFAULT_MAX_BOT];
    this.bots = configs.map((config) => ({
      config,
      log: [],
      nextMarker: 25_493_970,
      confirmed: 25_493_970,
      subscriptions: [],
      pending: new Map(),
    }));
    this.limits = { ...MAX_LIMITS, ...opts.limits, uploadBytes: { ...MAX_LIMITS.uploadBytes, ...opts.limits?.uploadBytes } };
    this.clock = opts.clock ?? (() => performance.now());
    this.faults = new InjectedFaults(mulberry32(opts.seed ?? Date.now() >>> 0));
    this.enforceLimits = opts.enforceLimits ?? false;
    this.notReadyUses = opts.attachmentNotReadyUses ?? 0;
    this.events.setMaxListeners(0);
    this.server = new LoopbackServer(
      (req, res) => this.handle(req, res),
      (res, err) => writeJson(res, 500, { code: 'double.crashed', message: String(err) }),
    );
  }

  /** @internal */
  listen(): Promise<void> {
    return this.server.listen();
  }

  /** `http://127.0.0.1:<port>`: the adapter's API root (in production https://platform-api2.max.ru). */
  get apiRoot(): string {
    return this.server.origin;
  }

  /** The bot's user object, as GET /me and the sender of its messages show it. */
  botUser(bot?: string): MaxUser {
    const { userId, name, username } = this.bot(bot).config;
    return { user_id: userId, first_name: name, username, is_bot: true, last_activity_time: Date.now(), name };
  }

  subscriptions(bot?: string): MaxSubscription[] {
    return this.bot(bot).subscriptions.map((s) => ({ ...s }));
  }

  /** The highest marker the bot's poller has confirmed by passing it back. */
  confirmedMarker(bot?: string): number {
    return this.bot(bot).confirmed;
  }

  /** Updates waiting for a poll (not yet confirmed) or, under a subscription, for delivery. */
  pendingUpdates(bot?: string): MaxUpdate[] {
    const state = this.bot(bot);
    const queued = [...state.pending.values()].flat().map((p) => p.update);
    return [...state.log.filter((e) => e.marker >= state.confirmed).map((e) => e.update), ...queued];
  }

  // ---------------------------------------------------------------- knobs

  setEnforceLimits(enabled: boolean): void {
    this.enforceLimits = enabled;
  }

  /** Tokens uploaded from now on answer attachment.not.ready for their first `uses` sends. */
  setAttachmentNotReadyUses(uses: number): void {
    this.notReadyUses = Math.max(0, uses);
  }

  /** The user blocked the bot (or the dialog is suspended): sends get 403 chat.denied. */
  blockChat(chatId: number): void {
    this.chatStates.set(chatId, new ApiError(403, 'chat.denied', `Key: error.dialog.suspended, args: [${chatId},].`));
  }

  /** The chat is gone: sends and GET /chats/{id} get 404 chat.not.found. */
  forgetChat(chatId: number): void {
    this.chatStates.set(chatId, new ApiError(404, 'chat.not.found', `Chat ${chatId} not found`));
  }

  restoreChat(chatId: number): void {
    this.chatStates.delete(chatId);
  }

  /**
   * A dialog of a user with the bot, as if they had opened it earlier (dialogs otherwise appear when
   * a user writes); returns its chat_id.
   */
  addDialog(user: Partial<MaxUser> = {}, chatId?: number, bot?: string): number {
    return this.chatFor({ chatType: 'dialog', ...(chatId !== undefined ? { chatId } : {}), ...(bot ? { bot } : {}) }, this.makeUser(user))
      .chatId;
  }

  /** A group chat the bot is a member of (dialogs appear by themselves when a user writes). */
  addGroupChat(chatId: number, title = 'Test group'): void {
    this.chats.set(chatId, { chatId, type: 'chat', title });
  }

  /** The next `times` calls of `route` ('*' = any) fail with `fault`. */
  failNext(route: MaxRoute | '*', fault: MaxFault, times = 1): void {
    this.faults.failNext(route, fault, times);
  }

  /** Each call of `route` fails with this probability (seeded PRNG); default a 503. */
  setFailureRate(route: MaxRoute | '*', probability: number, fault: MaxFault = UNAVAILABLE): void {
    this.faults.setFailureRate(route, probability, fault);
  }

  /** The next `times` calls of `route` are never answered. */
  hangNext(route: MaxRoute | '*', times = 1): void {
    this.faults.hangNext(route, times);
  }

  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  /** The media URL stops working (MAX's URL lifetime is not documented). */
  expireMedia(url: string): void {
    this.media.delete(new URL(url).pathname.slice('/media/'.length));
  }

  // ---------------------------------------------------------------- waiting

  waitForSent(count: number, timeoutMs = 10_000): Promise<MaxSentRecord[]> {
    return this.waitFor(
      'sent',
      () => this.sent.length,
      count,
      timeoutMs,
      () => this.sent,
    );
  }

  waitForAnswers(count: number, timeoutMs = 10_000): Promise<MaxAnswerRecord[]> {
    return this.waitFor(
      'answer',
      () => this.answers.length,
      count,
      timeoutMs,
      () => this.answers,
    );
  }

  /** Resolves once a long poll (GET /updates with a timeout) of the bot is waiting. */
  waitForPoll(bot?: string, timeoutMs = 10_000): Promise<void> {
    const state = this.bot(bot);
    return this.waitFor(
      'poll',
      () => (state.poll ? 1 : 0),
      1,
      timeoutMs,
      () => undefined,
    );
  }

  // ---------------------------------------------------------------- updates users cause

  /** Queues an update (long poll) or holds it for webhook delivery when the bot has a subscription. */
  pushUpdate(update: MaxUpdate, bot?: string): MaxUpdate {
    const state = this.bot(bot);
    if (state.subscriptions.length > 0) {
      for (const sub of state.subscriptions) {
        if (sub.update_types?.length && !sub.update_types.includes(update.update_type)) continue;
        const queue = state.pending.get(sub.url) ?? [];
        queue.push({ update, attempts: 0 });
        state.pending.set(sub.url, queue);
      }
      return update;
    }
    state.log.push({ marker: state.nextMarker++, update });
    this.wakePoll(state);
    return update;
  }

  /** A user writes to the bot: message_created in a dialog (default) or a group chat. */
  pushMessage(content: MaxUserContent, o: PushMessageOptions = {}): MaxUpdate {
    const c = typeof content === 'string' ? { text: content } : content;
    const user = this.makeUser(o.user);
    const chat = this.chatFor(o, user);
    const body: Json = { mid: newMid(), seq: this.nextSeq++, text: c.text ?? '' };
    if (c.attachments?.length) body.attachments = c.attachments;
    const message: Json = {
      sender: user,
      recipient: this.recipient(chat, o.bot),
      timestamp: Date.now(),
      body,
    };
    if (c.link) message.link = c.link;
    this.messages.set(body.mid as string, message);
    const update: MaxUpdate = { update_type: 'message_created', timestamp: Date.now(), message };
    if (chat.type === 'dialog') update.user_locale = 'ru';
    return this.pushUpdate(update, o.bot);
  }

  /** The user edits a message they sent: message_edited keeps the message's mid. */
  pushEdit(original: MaxUpdate, text: string, bot?: string): MaxUpdate {
    const message = structuredClone(original.message) as Json;
    message.body = { ...(message.body as Json), text };
    return this.pushUpdate({ update_type: 'message_edited', timestamp: Date.now(), message }, bot);
  }

  /** The user deletes a message they sent. */
  pushRemoved(original: MaxUpdate, bot?: string): MaxUpdate {
    const message = original.message as Json;
    const sender = message.sender as MaxUser;
    const recipient = message.recipient as Json;
    return this.pushUpdate(
      {
        update_type: 'message_removed',
        timestamp: Date.now(),
        message_id: (message.body as Json).mid,
        chat_id: recipient.chat_id,
        user_id: sender.user_id,
      },
      bot,
    );
  }

  /**
   * The user presses the callback button labelled `label` under a message the bot sent:
   * message_callback with a fresh callback_id (open for POST /answers) and the message itself.
   */
  pushCallback(sent: MaxSentRecord, label: string, o: { user?: Partial<MaxUser> } = {}): MaxUpdate {
    const button = sent.keyboard?.flat().find((b) => b.text === label && b.type === 'callback');
    if (!button) throw new Error(`pushCallback: no callback button "${label}" under ${sent.mid}`);
    const chat = this.chats.get(sent.chatId);
    const user = this.makeUser(o.user ?? chat?.user);
    const callbackId = randomBytes(90).toString('base64url');
    this.openCallbacks.set(callbackId, { bot: sent.bot, chatId: sent.chatId });
    const callback = { timestamp: Date.now(), callback_id: callbackId, payload: button.payload, user };
    const update: MaxUpdate = { update_type: 'message_callback', timestamp: Date.now(), callback, message: sent.message };
    if (sent.chatType === 'dialog') update.user_locale = 'ru';
    return this.pushUpdate(update, sent.bot);
  }

  /** The user opens the dialog with the bot (Start button or a deep link carrying `payload`). */
  pushBotStarted(o: { user?: Partial<MaxUser>; chatId?: number; payload?: string; bot?: string } = {}): MaxUpdate {
    const user = this.makeUser(o.user);
    const chat = this.chatFor({ ...o, chatType: 'dialog' }, user);
    const update: MaxUpdate = {
      update_type: 'bot_started',
      timestamp: Date.now(),
      chat_id: chat.chatId,
      user,
      user_locale: 'ru',
      user_id: user.user_id,
    };
    if (o.payload !== undefined) update.payload = o.payload;
    return this.pushUpdate(update, o.bot);
  }

  /** Any other chat event (bot_stopped, bot_added, user_added, dialog_removed, ...) with its extra fields. */
  pushChatEvent(type: string, o: { chatId: number; user?: Partial<MaxUser>; bot?: string; extra?: Json }): MaxUpdate {
    if (!UPDATE_TYPES.includes(type)) throw new Error(`pushChatEvent: unknown update type ${type}`);
    const update: MaxUpdate = { update_type: type, timestamp: Date.now(), chat_id: o.chatId, user: this.makeUser(o.user) };
    if (['bot_added', 'bot_removed', 'user_added', 'user_removed'].includes(type)) update.is_channel = false;
    return this.pushUpdate({ ...update, ...o.extra }, o.bot);
  }

  // ---------------------------------------------------------------- attachments users send

  /** A photo the user sent, served by the double at its payload.url. */
  imageAttachment(bytes: Buffer, mime = 'image/jpeg'): Json {
    const upload = this.storeUpload('image', bytes, mime);
    return { type: 'image', payload: { photo_id: this.nextPhotoId(), url: upload.url, token: upload.token } };
  }

  fileAttachment(bytes: Buffer, filename: string, mime = 'application/octet-stream'): Json {
    const upload = this.storeUpload('file', bytes, mime, filename);
    return { type: 'file', payload: { url: upload.url, token: upload.token }, filename, size: bytes.length };
  }

  videoAttachment(bytes: Buffer, mime = 'video/mp4'): Json {
    const upload = this.storeUpload('video', bytes, mime);
    return {
      type: 'video',
      payload: { url: upload.url, token: upload.token },
      thumbnail: { url: `${this.apiRoot}/media/thumb-${this.nextId++}` },
      width: 1280,
      height: 720,
      duration: 12,
    };
  }

  /** A voice message or audio file. */
  audioAttachment(bytes: Buffer, mime = 'audio/ogg'): Json {
    const upload = this.storeUpload('audio', bytes, mime);
    return { type: 'audio', payload: { url: upload.url, token: upload.token }, transcription: null };
  }

  stickerAttachment(code = 'sticker_7f3a'): Json {
    return { type: 'sticker', payload: { url: `${this.apiRoot}/media/sticker-${code}`, code }, width: 256, height: 256 };
  }

  /** A shared contact; `user` fills max_info when the contact is a MAX user. */
  contactAttachment(o: { name: string; phone: string; user?: Partial<MaxUser> }): Json {
    const vcf = `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:${o.name}\r\nTEL;TYPE=cell:${o.phone}\r\nEND:VCARD\r\n`;
    const payload: Json = { vcf_info: vcf, max_info: o.user ? this.makeUser(o.user) : null };
    return { type: 'contact', payload };
  }

  locationAttachment(latitude: number, longitude: number): Json {
    return { type: 'location', latitude, longitude };
  }

  shareAttachment(url: string): Json {
    return { type: 'share', payload: { url }, title: 'Shared page', description: 'A link preview', image_url: null };
  }

  // ---------------------------------------------------------------- webhook delivery

  /**
   * POSTs every pending update to each subscription like MAX: one Update per request, JSON body,
   * X-Max-Bot-Api-Secret when a secret was set. Only 200 counts as delivered; anything else
   * (201, 204, 5xx, timeout) keeps the update pending for the next call. A subscription failing
   * for more than 8 hours (on the injected clock) is dropped, as MAX unsubscribes it.
   */
  async deliverWebhook(bot?: string): Promise<MaxDeliveryRecord[]> {
    const state = this.bot(bot);
    const results: MaxDeliveryRecord[] = [];
    for (const sub of [...state.subscriptions]) {
      const queue = state.pending.get(sub.url) ?? [];
      for (const item of [...queue]) {
        const record = await this.deliverOne(sub, item);
        results.push(record);
        if (record.ok) queue.splice(queue.indexOf(item), 1);
        else item.firstFailedAt ??= this.clock();
        if (!record.ok && this.clock() - item.firstFailedAt! > EIGHT_HOURS) {
          state.subscriptions = state.subscriptions.filter((s) => s !== sub);
          state.pending.delete(sub.url);
          break;
        }
      }
    }
    return results;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Clears records, faults, knobs, chat states, subscriptions and queues; ids keep growing. */
  reset(): void {
    this.sent.length = 0;
    this.calls.length = 0;
    this.answers.length = 0;
    this.deliveries.length = 0;
    this.notReadyRefusals.length = 0;
    this.stats.requests = 0;
    this.stats.tooManyRequests = 0;
    this.faults.clear();
    this.windows.clear();
    this.chatStates.clear();
    this.openCallbacks.clear();
    this.latencyMs = 0;
    this.enforceLimits = this.opts.enforceLimits ?? false;
    this.notReadyUses = this.opts.attachmentNotReadyUses ?? 0;
    for (const state of this.bots) {
      state.poll?.finish({ updates: [], marker: state.nextMarker });
      state.log = [];
      state.confirmed = state.nextMarker;
      state.subscriptions = [];
      state.pending.clear();
    }
    this.hanging.dropAll();
  }

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

  private makeUser(o: Partial<MaxUser> = {}): MaxUser {
    const first = o.first_name ?? 'Ivan';
    const last = o.last_name ?? 'Petrov';
    return {
      user_id: o.user_id ?? 123456789,
      first_name: first,
      last_name: last,
      username: o.username ?? null,
      is_bot: false,
      last_activity_time: Date.now() - 5000,
      name: `${first} ${last}`,
      ...o,
    };
  }

  /** The conversation a user event happens in; a dialog's chat_id is distinct from the user's id. */
  private chatFor(o: PushMessageOptions, user: MaxUser): Chat {
    const bot = this.bot(o.bot).config.username;
    if ((o.chatType ?? 'dialog') === 'chat') {
      const chatId = o.chatId ?? -70_801_090_403_050;
      const chat = this.chats.get(chatId) ?? { chatId, type: 'chat' as const, title: 'Test group' };
      this.chats.set(chatId, chat);
      return chat;
    }
    const key = `${bot}:${user.user_id}`;
    const chatId = o.chatId ?? this.dialogs.get(key) ?? 182_182_000 + this.nextId++;
    this.dialogs.set(key, chatId);
    const chat: Chat = { chatId, type: 'dialog', user };
    this.chats.set(chatId, chat);
    return chat;
  }

  /** In a dialog the recipient carries the *other* side's user_id; in a group chat none. */
  private recipient(chat: Chat, bot?: string, fromBot = false): Json {
    if (chat.type === 'chat') return { chat_id: chat.chatId, chat_type: 'chat' };
    const userId = fromBot ? chat.user!.user_id : this.bot(bot).config.userId;
    return { chat_id: chat.chatId, chat_type: 'dialog', user_id: userId };
  }

  private nextPhotoId(): number {
    return 30_856_840_265 + this.nextId++;
  }

  /** Stores a file MAX holds; `fresh` uploads (the bot's) may answer attachment.not.ready at first. */
  private storeUpload(type: MaxUploadType, bytes: Buffer, mime: string, filename?: string, token = newToken(), fresh = false): Upload {
    const url = this.storeMedia(bytes, mime, filename);
    const upload: Upload = { type, token, bytes, mime, notReadyLeft: fresh ? this.notReadyUses : 0, url };
    if (filename !== undefined) upload.filename = filename;
    this.uploads.set(token, upload);
    return upload;
  }

  /** Serves bytes at a fresh media URL (no Authorization, like MAX's CDN). */
  private storeMedia(bytes: Buffer, mime: string, filename?: string): string {
    const ref = randomBytes(24).toString('base64url');
    const media: { bytes: Buffer; mime: string; filename?: string } = { bytes, mime };
    if (filename !== undefined) media.filename = filename;
    this.media.set(ref, media);
    return `${this.apiRoot}/media/${ref}`;
  }

  private wakePoll(state: BotState): void {
    const poll = state.poll;
    if (!poll) return;
    const ready = this.takeUpdates(state, poll.from, poll.limit, poll.types);
    if (ready.updates.length > 0) poll.finish(ready);
  }

  /** Updates from `from` on (filtered by `types`), and the marker that confirms them. */
  private takeUpdates(state: BotState, from: number, limit: number, types?: string[]): { updates: MaxUpdate[]; marker: number } {
    const after = state.log.filter((e) => e.marker >= from && (!types || types.includes(e.update.update_type)));
    const taken = after.slice(0, limit);
    const last = taken.at(-1);
    // Updates a `types` filter skips are passed over: the marker moves beyond them.
    const marker = last ? last.marker + 1 : types ? state.nextMarker : from;
    return { updates: taken.map((e) => e.update), marker };
  }

  private async deliverOne(sub: MaxSubscription, item: PendingDelivery): Promise<MaxDeliveryRecord> {
    item.attempts++;
    const headers: Record<string, string> = {};
    if (sub.secret) headers['X-Max-Bot-Api-Secret'] = sub.secret;
    const record: MaxDeliveryRecord = { url: sub.url, update: item.update, status: 0, ok: false, attempt: item.attempts, at: Date.now() };
    if (sub.secret) record.secret = sub.secret;
    try {
      const answer = await postJson(
        sub.url,
        toJson(item.update),
        { 'content-type': 'application/json; charset=utf-8', ...headers },
        this.opts.webhookTimeoutMs ?? 30_000,
      );
      record.status = answer.status;
      record.ok = record.status === 200;
    } catch (err) {
      record.error = (err as Error).message;
    }
    this.deliveries.push(record);
    this.events.emit('delivery');
    return record;
  }

  private waitFor<T>(event: string, current: () => number, count: number, timeoutMs: number, result: () => T): Promise<T> {
    return waitForEvent(
      this.events,
      event,
      () => current() >= count,
      timeoutMs,
      () => {
        const refused = this.calls.filter((c) => c.status !== undefined && c.status !== 200).slice(-5);
        const last = refused.map((c) => `${c.method} ${c.path} ${c.status} ${c.code ?? ''}`).join('; ');
        return `waitFor ${event}: expected ${count}, got ${current()} after ${timeoutMs} ms${last ? `; last refused: ${last}` : ''}`;
      },
    ).then(result);
  }

  // ---------------------------------------------------------------- HTTP plumbing

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.stats.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/upload/')) return this.handleUploadHost(req, res, url);
    if (url.pathname.startsWith('/media/')) return this.handleMedia(req, res, url);

    const call: MaxCallRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      at: Date.now(),
    };
    delete call.query.access_token;
    this.calls.push(call);
    const { body, tooLarge } = await readBody(req, 4 * MB);
    try {
      if (tooLarge) throw new ApiError(413, 'proto.payload', 'Request entity too large');
      const state = this.authenticate(req, url);
      call.bot = state.config.username;
      const route = routeOf(url.pathname);
      if (!route) throw notFound(`Path ${url.pathname} not found`);
      if (body.length > 0) call.body = parseJsonBody(body);
      if (this.enforceLimits) this.takeSlot(`bot:${call.bot}`, this.limits.requestsPerSecond);
      if (await this.injectFault(route, res)) return;
      const result = await this.dispatch(route, req.method ?? 'GET', url, call.body, state, res);
      call.status = 200;
      writeJson(res, 200, result);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      call.status = err.status;
      call.code = err.code;
      if (err.status === 429) this.stats.tooManyRequests++;
      writeJson(res, err.status, { code: err.code, message: err.message });
    }
  }

  /** `Authorization: <token>` only: no Bearer prefix, no token in the query. */
  private authenticate(req: http.IncomingMessage, url: URL): BotState {
    if (url.searchParams.has('access_token')) {
      throw new ApiError(401, 'verify.token', 'Token in query parameters is no longer supported. Use the Authorization header');
    }
    const header = req.headers.authorization;
    if (!header) throw new ApiError(401, 'verify.token', 'Empty access_token');
    const state = this.bots.find((b) => b.config.token === header);
    if (!state) throw new ApiError(401, 'verify.token', 'Invalid access_token');
    return state;
  }

  /** Latency, hangs and injected faults; true when the response is taken care of. */
  private async injectFault(route: MaxRoute, res: http.ServerResponse): Promise<boolean> {
    if (this.latencyMs > 0) await this.timers.sleep(this.latencyMs);
    const keys = [route, '*'];
    if (this.faults.takeHang(keys)) {
      this.hanging.hold(res);
      return true;
    }
    const fault = this.faults.takeFault(keys);
    if (fault) throw new ApiError(fault.status, fault.code, fault.message);
    return false;
  }

  /** injectFault for the upload and media hosts, which answer outside the API's call records. */
  private async faultAnswered(route: MaxRoute, res: http.ServerResponse): Promise<boolean> {
    try {
      return await this.injectFault(route, res);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      writeJson(res, err.status, { code: err.code, message: err.message });
      return true;
    }
  }

  /** A sliding one-second window on the (injected) clock; 429 when it is full. */
  private takeSlot(key: string, max: number): void {
    const now = this.clock();
    const times = (this.windows.get(key) ?? []).filter((t) => t > now - 1000);
    this.windows.set(key, times);
    if (times.length >= max) throw new ApiError(429, 'too.many.requests', `Too many requests. Limit is: ${max} calls per second.`);
    times.push(now);
  }

  // ---------------------------------------------------------------- API methods

  private dispatch(
    route: MaxRoute,
    method: string,
    url: URL,
    body: unknown,
    state: BotState,
    res: http.ServerResponse,
  ): Promise<unknown> | unknown {
    const q = url.searchParams;
    const key = `${method} ${route}`;
    switch (key) {
      case 'GET me':
        return { ...this.botUser(state.config.username), description: 'Bridge test bot', commands: null };
      case 'GET subscriptions':
        return { subscriptions: state.subscriptions.map(({ url: u, time, update_types }) => ({ url: u, time, update_types })) };
      case 'POST subscriptions':
        return this.subscribe(state, body);
      case 'DELETE subscriptions':
        return this.unsubscribe(state, q.get('url'));
      case 'GET updates':
        return this.getUpdates(state, q, res);
      case 'POST messages':
        return this.sendMessage(state, q, body);
      case 'POST uploads':
        return this.uploadEndpoint(q.get('type'));
      case 'POST answers':
        return this.answer(state, q.get('callback_id'), body);
      case 'GET chats':
        return this.getChat(url.pathname);
      case 'GET videos':
        return this.videoDetails(url.pathname.split('/')[2] ?? '');
      default:
        throw new ApiError(405, 'method.not.allowed', `Method ${method} is not allowed for ${url.pathname}`);
    }
  }

  private subscribe(state: BotState, body: unknown): Json {
    const b = asObject(body);
    const url = typeof b.url === 'string' ? b.url : '';
    if (!url) throw payloadError("Missing required field 'url'");
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw payloadError(`Invalid url: ${url}`);
    }
    if (!this.opts.allowHttpWebhooks && (parsed.protocol !== 'https:' || (parsed.port !== '' && parsed.port !== '443'))) {
      throw payloadError('Only HTTPS URLs on port 443 are supported');
    }
    if (b.secret !== undefined && b.secret !== null && (typeof b.secret !== 'string' || !/^[a-zA-Z0-9_-]{5,256}$/.test(b.secret))) {
      throw payloadError('secret does not match pattern ^[a-zA-Z0-9_-]{5,256}$');
    }
    let types: string[] | null = null;
    if (b.update_types !== undefined && b.update_types !== null) {
      if (!Array.isArray(b.update_types) || b.update_types.some((t) => !UPDATE_TYPES.includes(t as string))) {
        throw payloadError(`Invalid update_types: ${JSON.stringify(b.update_types)}`);
      }
      types = b.update_types as string[];
    }
    // The same URL again replaces that subscription's settings.
    const sub: MaxSubscription = { url, update_types: types, time: Date.now() };
    if (typeof b.secret === 'string') sub.secret = b.secret;
    state.subscriptions = [...state.subscriptions.filter((s) => s.url !== url), sub];
    // A waiting long poll cannot continue once a subscription exists.
    state.poll?.finish({ updates: [], marker: state.nextMarker });
    return { success: true };
  }

  private unsubscribe(state: BotState, url: string | null): Json {
    if (!url) throw payloadError('Missing required parameter: url');
    state.subscriptions = state.subscriptions.filter((s) => s.url !== url);
    state.pending.delete(url);
    return { success: true };
  }

  private async getUpdates(state: BotState, q: URLSearchParams, res: http.ServerResponse): Promise<Json> {
    if (state.subscriptions.length > 0) {
      throw new ApiError(405, 'method.not.allowed', 'Long polling is not available while the bot has a webhook subscription');
    }
    const limit = intParam(q, 'limit', 100, 1, 1000);
    const timeout = intParam(q, 'timeout', 30, 0, 90);
    const rawMarker = q.get('marker');
    const types = q
      .getAll('types')
      .flatMap((t) => t.split(','))
      .filter(Boolean);
    let from: number;
    if (rawMarker !== null && rawMarker !== '' && rawMarker !== 'null') {
      from = intParam(q, 'marker', 0, 0, Number.MAX_SAFE_INTEGER);
      state.confirmed = Math.max(state.confirmed, from);
    } else if (this.opts.markerlessPoll === 'latest') {
      from = state.log.at(-1)?.marker ?? state.nextMarker;
    } else {
      from = state.confirmed;
    }
    const typeFilter = types.length ? types : undefined;
    const ready = this.takeUpdates(state, from, limit, typeFilter);
    if (ready.updates.length > 0 || timeout === 0) return ready;

    // A newer poll of the same bot ends the older one with an empty answer (n/f).
    state.poll?.finish({ updates: [], marker: from });
    return new Promise<Json>((resolve) => {
      const poll = {
        from,
        limit,
        ...(typeFilter ? { types: typeFilter } : {}),
        finish: (result: Json) => {
          if (state.poll !== poll) return;
          delete state.poll;
          this.timers.cancel(timer);
          resolve(result);
        },
      };
      const timer = this.timers.after(timeout * 1000, () => poll.finish(this.takeUpdates(state, from, limit, typeFilter)));
      state.poll = poll;
      this.events.emit('poll');
      res.once('close', () => poll.finish({ updates: [], marker: from }));
    });
  }

  private sendMessage(state: BotState, q: URLSearchParams, body: unknown): Json {
    const chat = this.resolveTarget(state, q);
    const b = asObject(body);
    const text = b.text === undefined || b.text === null ? null : b.text;
    if (text !== null && typeof text !== 'string') throw payloadError("Field 'text' must be a string");
    if (text !== null && text.length > this.limits.textLength) {
      throw payloadError(`Field 'text' size (${text.length}) must be at most ${this.limits.textLength}`);
    }
    if (b.format !== undefined && b.format !== null && b.format !== 'markdown' && b.format !== 'html') {
      throw payloadError(`Invalid format: ${String(b.format)}`);
    }
    const attachments = b.attachments === undefined || b.attachments === null ? [] : b.attachments;
    if (!Array.isArray(attachments)) throw payloadError("Field 'attachments' must be an array");
    if (!text && attachments.length === 0) throw payloadError('Message must contain text or attachments');
    const link = this.checkLink(b.link);
    const rendered = this.checkAttachments(attachments as unknown[]);
    if (this.enforceLimits) this.takeSlot(`chat:${chat.chatId}`, this.limits.chatMessagesPerSecond);

    const mid = newMid();
    const messageBody: Json = { mid, seq: this.nextSeq++, text: text ?? '' };
    if (rendered.json.length) messageBody.attachments = rendered.json;
    const toUser = q.has('user_id');
    const message: Json = {
      sender: this.botUser(state.config.username),
      recipient: this.recipient(chat, state.config.username, true),
      timestamp: Date.now(),
      body: messageBody,
    };
    if (link) message.link = { type: link.type, ...this.linked(link.mid) };
    this.messages.set(mid, message);

    const record: MaxSentRecord = {
      bot: state.config.username,
      mid,
      chatId: chat.chatId,
      chatType: chat.type,
      text,
      notify: b.notify !== false,
      attachments: attachments as Json[],
      files: rendered.uploads.map((u) => ({
        type: u.type,
        token: u.token,
        bytes: u.bytes,
        ...(u.filename ? { filename: u.filename } : {}),
      })),
      message,
      at: Date.now(),
    };
    if (toUser) record.userId = chat.user!.user_id;
    if (typeof b.format === 'string') record.format = b.format;
    if (link) record.link = link;
    if (rendered.keyboard) record.keyboard = rendered.keyboard;
    this.sent.push(record);
    this.events.emit('sent');
    return { message };
  }

  /** `chat_id` or `user_id` (a user's dialog with this bot). */
  private resolveTarget(state: BotState, q: URLSearchParams): Chat {
    const chatId = q.get('chat_id');
    const userId = q.get('user_id');
    if (!chatId && !userId) throw payloadError('Missing required parameter: chat_id or user_id');
    const id = Number(chatId ?? userId);
    if (!Number.isSafeInteger(id)) throw payloadError(`Invalid ${chatId ? 'chat_id' : 'user_id'}: ${chatId ?? userId}`);
    const dialog = userId ? this.dialogs.get(`${state.config.username}:${id}`) : id;
    const chat = dialog === undefined ? undefined : this.chats.get(dialog);
    if (!chat) throw new ApiError(404, 'chat.not.found', `Chat ${id} not found`);
    const refusal = this.chatStates.get(chat.chatId);
    if (refusal) throw refusal;
    return chat;
  }

  private checkLink(raw: unknown): { type: string; mid: string } | undefined {
    if (raw === undefined || raw === null) return undefined;
    const link = asObject(raw);
    if ((link.type !== 'reply' && link.type !== 'forward') || typeof link.mid !== 'string') {
      throw payloadError("Field 'link' must be {type: reply|forward, mid}");
    }
    if (!this.messages.has(link.mid)) throw new ApiError(404, 'not.found', `Message ${link.mid} not found`);
    return { type: link.type, mid: link.mid };
  }

  /** The linked message as MAX shows it under `link`. */
  private linked(mid: string): Json {
    const original = this.messages.get(mid)!;
    return { sender: original.sender, chat_id: (original.recipient as Json).chat_id, message: original.body };
  }

  /** Validates attachment requests and renders them as the sent message shows them. */
  private checkAttachments(list: unknown[]): { json: Json[]; uploads: Upload[]; keyboard?: Json[][] } {
    const json: Json[] = [];
    const uploads: Upload[] = [];
    let keyboard: Json[][] | undefined;
    const kinds = list.map((a) => asObject(a).type);
    if (kinds.includes('file') && kinds.some((k) => k !== 'inline_keyboard' && k !== 'file')) {
      throw payloadError('Must be only one file attachment in message');
    }
    if (kinds.filter((k) => k === 'file').length > 1) throw payloadError('Must be only one file attachment in message');
    for (const raw of list) {
      const a = asObject(raw);
      const payload = a.payload === undefined ? {} : asObject(a.payload);
      switch (a.type) {
        case 'image':
        case 'video':
        case 'audio':
        case 'file': {
          if (a.type === 'image' && typeof payload.url === 'string' && payload.token === undefined && payload.photos === undefined) {
            json.push({ type: 'image', payload: { photo_id: this.nextPhotoId(), url: payload.url, token: newToken() } });
            break;
          }
          const upload = this.uploadFor(a.type, payload);
          uploads.push(upload);
          json.push(this.renderUpload(upload));
          break;
        }
        case 'inline_keyboard':
          keyboard = checkKeyboard(payload.buttons);
          json.push({ type: 'inline_keyboard', payload: { buttons: keyboard } });
          break;
        case 'sticker':
        case 'contact':
        case 'share':
          json.push({ type: a.type, payload });
          break;
        case 'location':
          if (typeof a.latitude !== 'number' || typeof a.longitude !== 'number')
            throw payloadError('location needs latitude and longitude');
          json.push({ type: 'location', latitude: a.latitude, longitude: a.longitude });
          break;
        default:
          throw payloadError(`Unknown attachment type: ${String(a.type)}`);
      }
    }
    // Not-ready is checked after the whole body is valid, as a retry must be able to succeed.
    const early = uploads.find((u) => u.notReadyLeft > 0);
    if (early) {
      early.notReadyLeft--;
      this.notReadyRefusals.push(early.token);
      throw new ApiError(400, 'attachment.not.ready', `Key: errors.process.attachment.${early.type}.not.processed`);
    }
    return keyboard ? { json, uploads, keyboard } : { json, uploads };
  }

  private uploadFor(type: MaxUploadType, payload: Json): Upload {
    let token = payload.token;
    if (type === 'image' && token === undefined && payload.photos !== undefined) {
      const first = Object.values(asObject(payload.photos))[0];
      token = first === undefined ? undefined : asObject(first).token;
    }
    const upload = typeof token === 'string' ? this.uploads.get(token) : undefined;
    if (!upload || upload.type !== type) {
      throw payloadError(
        type === 'image' ? `Invalid photo token provided: ${String(token)}` : `Invalid ${type} token provided: ${String(token)}`,
      );
    }
    return upload;
  }

  private renderUpload(u: Upload): Json {
    switch (u.type) {
      case 'image':
        return { type: 'image', payload: { photo_id: this.nextPhotoId(), url: u.url, token: u.token } };
      case 'file':
        return { type: 'file', payload: { url: u.url, token: u.token }, filename: u.filename ?? 'file', size: u.bytes.length };
      default:
        return { type: u.type, payload: { url: u.url, token: u.token } };
    }
  }

  /** POST /uploads: a single-use upload URL; video and audio get their token already here. */
  private uploadEndpoint(type: string | null): Json {
    if (!type) throw payloadError('Missing required parameter: type');
    if (type === 'photo') throw payloadError('Upload type photo is no longer supported, use image');
    if (!['image', 'video', 'audio', 'file'].includes(type)) throw payloadError(`Invalid upload type: ${type}`);
    const slot = randomBytes(16).toString('hex');
    const entry: Slot = { type: type as MaxUploadType, used: false };
    if (type === 'video' || type === 'audio') entry.token = newToken();
    this.slots.set(slot, entry);
    const url = `${this.apiRoot}/upload/${type}/${slot}?sig=${randomBytes(12).toString('hex')}`;
    return entry.token ? { url, token: entry.token } : { url };
  }

  private answer(state: BotState, callbackId: string | null, body: unknown): Json {
    if (!callbackId || !callbackId.trim()) throw payloadError('Missing required parameter: callback_id');
    const b = asObject(body);
    const hasMessage = b.message !== undefined && b.message !== null;
    if (!hasMessage && (typeof b.notification !== 'string' || b.notification === '')) {
      throw payloadError('Invalid request. `message` or `notification` required');
    }
    const open = this.openCallbacks.get(callbackId);
    if (!open || open.bot !== state.config.username) throw new ApiError(404, 'not.found', `Callback ${callbackId} not found`);
    if (hasMessage) this.checkAttachments((asObject(b.message).attachments as unknown[] | undefined) ?? []);
    if (this.enforceLimits) this.takeSlot(`chat:${open.chatId}`, this.limits.chatMessagesPerSecond);
    const record: MaxAnswerRecord = { callbackId, at: Date.now() };
    if (typeof b.notification === 'string') record.notification = b.notification;
    if (hasMessage) record.message = asObject(b.message);
    this.answers.push(record);
    this.events.emit('answer');
    return { success: true };
  }

  private getChat(pathname: string): Json {
    const id = Number(pathname.split('/')[2]);
    const chat = this.chats.get(id);
    const refusal = this.chatStates.get(id);
    if (!chat || refusal?.code === 'chat.not.found') throw new ApiError(404, 'chat.not.found', `Chat ${pathname.split('/')[2]} not found`);
    const base = { chat_id: chat.chatId, type: chat.type, status: 'active', last_event_time: Date.now(), is_public: false };
    if (chat.type === 'dialog') return { ...base, title: null, icon: null, participants_count: 2, dialog_with_user: chat.user };
    return { ...base, title: chat.title, icon: null, participants_count: 3, description: null };
  }

  /**
   * GET /videos/{token}: the video's download URLs (OAS VideoAttachmentDetails). The double serves
   * the bytes at a media URL of their own (mp4_720), distinct from the attachment's payload.url.
   */
  private videoDetails(token: string): Json {
    const upload = this.uploads.get(token);
    if (!upload || upload.type !== 'video') throw notFound(`Video ${token} not found`);
    upload.playUrl ??= this.storeMedia(upload.bytes, upload.mime);
    return {
      token,
      urls: { mp4_720: upload.playUrl, hls: `${this.apiRoot}/media/hls-${token}.m3u8` },
      thumbnail: null,
      width: 1280,
      height: 720,
      duration: 12,
    };
  }

  // ---------------------------------------------------------------- upload and media hosts

  /** The upload URL: multipart field `data`, once; image → {photos}, file → {token}, video/audio → <retval>. */
  private async handleUploadHost(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const [, , type, slotId] = url.pathname.split('/');
    const slot = this.slots.get(slotId ?? '');
    const limit = slot ? this.limits.uploadBytes[slot.type] : MB;
    const { body, tooLarge } = await readBody(req, limit + MB);
    const plain = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    };
    if (await this.faultAnswered('upload', res)) return;
    if (!slot || slot.type !== type || req.method !== 'POST') return plain(404, 'Upload URL not found');
    if (slot.used) return plain(400, 'Upload URL was already used');
    if (tooLarge) return plain(413, 'File is too large');
    const boundary = parseBoundary(req.headers['content-type']);
    if (!boundary) return plain(400, 'Expected multipart/form-data with the file in field "data"');
    let part;
    try {
      part = parseMultipart(body, boundary).find((p) => p.name === 'data');
    } catch (err) {
      if (err instanceof MultipartError) return plain(400, `Malformed multipart body: ${err.message}`);
      throw err;
    }
    if (!part || part.data.length === 0) return plain(400, 'No file in field "data"');
    if (part.data.length > limit) return plain(413, 'File is too large');
    const mime = part.contentType && part.contentType !== 'application/octet-stream' ? part.contentType : sniff(part.data);
    if (slot.type === 'image' && !mime.startsWith('image/')) {
      return writeJson(res, 400, { code: 'proto.payload', message: 'File extension is forbidden' });
    }
    slot.used = true;
    const upload = this.storeUpload(slot.type, part.data, mime, part.filename, slot.token ?? newToken(), true);
    if (slot.type === 'image') return writeJson(res, 200, { photos: { [randomBytes(8).toString('base64')]: { token: upload.token } } });
    if (slot.type === 'file') return writeJson(res, 200, { token: upload.token });
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<retval>1</retval>');
  }

  /** Media URLs need no Authorization (they are signed URLs on MAX's CDN). */
  private async handleMedia(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    req.resume();
    if (await this.faultAnswered('media', res)) return;
    const item = this.media.get(url.pathname.slice('/media/'.length));
    if (!item) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    const headers: Record<string, string | number> = { 'content-type': item.mime, 'content-length': item.bytes.length };
    if (item.filename) headers['content-disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(item.filename)}`;
    res.writeHead(200, headers);
    res.end(item.bytes);
  }
}

/** Starts a MAX Bot API double on 127.0.0.1 on a free port. */
export async function startMaxDouble(opts?: MaxDoubleOptions): Promise<MaxDouble> {
  const double = new MaxDouble(opts);
  await double.listen();
  return double;
}

// ==================================================================== helpers

const UNAVAILABLE: MaxFault = { status: 503, code: 'service.unavailable', message: 'Service temporarily unavailable' };

function routeOf(pathname: string): MaxRoute | undefined {
  const first = pathname.split('/')[1] ?? '';
  if (first === 'chats' && /^\/chats\/-?\d+$/.test(pathname)) return 'chats';
  if (first === 'videos' && /^\/videos\/[\w-]+$/.test(pathname)) return 'videos';
  const routes: MaxRoute[] = ['me', 'subscriptions', 'updates', 'messages', 'uploads', 'answers'];
  return routes.find((r) => pathname === `/${r}`);
}

/** MAX-style serialisation: bigint values (seq) are written as exact JSON numbers. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000big${v}` : v)).replace(/"\\u0000big(-?\d+)"/g, '$1');
}

const writeJson = jsonWriter('application/json; charset=utf-8', toJson);

function newMid(): string {
  return `mid.${randomBytes(16).toString('hex')}`;
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function asObject(v: unknown): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw payloadError('Invalid request payload: object expected');
  return v as Json;
}

function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw payloadError('Invalid JSON in request body');
  }
}

function intParam(q: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw)) throw payloadError(`Field '${name}' must be an integer`);
  const n = Number(raw);
  if (n < min) throw payloadError(`Field '${name}' value (${raw}) must be at least ${min}`);
  if (n > max) throw payloadError(`Field '${name}' value (${raw}) must be at most ${max}`);
  return n;
}

/** The inline keyboard rules of MAX's schema (text 1..128, callback payload ≤ 1024, link http(s) ≤ 2048). */
function checkKeyboard(raw: unknown): Json[][] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.some((row) => !Array.isArray(row) || row.length === 0)) {
    throw payloadError("Field 'buttons' must be a non-empty array of rows");
  }
  const rows = raw as unknown[][];
  if (
    rows.length > KEYBOARD_LIMITS.rows ||
    rows.some((r) => r.length > KEYBOARD_LIMITS.perRow) ||
    rows.flat().length > KEYBOARD_LIMITS.total
  ) {
    throw payloadError(`Keyboard is too large: at most ${KEYBOARD_LIMITS.rows} rows, ${KEYBOARD_LIMITS.perRow} per row`);
  }
  return rows.map((row) =>
    row.map((raw) => {
      const b = asObject(raw);
      if (!BUTTON_TYPES.includes(b.type as string)) throw payloadError(`Unknown button type: ${String(b.type)}`);
      const text = typeof b.text === 'string' ? b.text : '';
      if (text.length < 1) throw payloadError(`Field 'text' size (0) must be at least 1`);
      if (text.length > 128) throw payloadError(`Field 'text' size (${text.length}) must be at most 128`);
      if (b.type === 'callback' && (typeof b.payload !== 'string' || b.payload.length > 1024)) {
        throw payloadError("Field 'payload' of a callback button is required, at most 1024");
      }
      if (b.type === 'link' && (typeof b.url !== 'string' || !/^https?:\/\//.test(b.url) || b.url.length > 2048)) {
        throw payloadError('Must have only http/https links format in buttons');
      }
      return b;
    }),
  );
}

function sniff(b: Buffer): string {
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.subarray(0, 4).toString('latin1') === '\x89PNG') return 'image/png';
  if (b.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (b.subarray(0, 2).toString('latin1') === 'BM') return 'image/bmp';
  if (b.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  return 'application/octet-stream';
}
