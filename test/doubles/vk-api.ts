/**
 * A test double of the VK API for communities: the method endpoints (/method/<name>), the Bots Long
 * Poll server, the upload servers, the user-content file servers and a Callback API sender, all as
 * real HTTP on 127.0.0.1. Facts it follows, with sources, are in docs/vendors/vk.md.
 *
 * Deliberate deviations from the real service, all in the direction of being usable in tests:
 * - Everything is plain http on one port; VK's hosts (api.vk.ru, lp.vk.com, pu.vk.com, sun*.userapi.com)
 *   become paths: /method/…, /wh<group>, /upload/…, /impg/… and /doc<owner>_<id>.
 * - Callback delivery is explicit (deliverCallback / confirmCallbackServer), so tests decide when it
 *   happens; retries follow at once instead of after VK's (undocumented) back-off.
 * - Where VK documents nothing (the answer to a repeated random_id, error texts for some refusals),
 *   the double picks one behaviour and docs/vendors/vk.md says so.
 * - Users and chats exist on demand: any positive id is a user with generated names, any
 *   2000000000+n is a chat once a message arrives from it (or addChat).
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { MultipartError, parseBoundary, parseMultipart, type MultipartPart } from './multipart.js';
import { HeldResponses, InjectedFaults } from './faults.js';
import { LoopbackServer, jsonWriter, postJson, readBody } from './server.js';
import { DoubleTimers, waitForEvent } from './timers.js';
import { mulberry32 } from '../helpers/random.js';

// ==================================================================== configuration

export interface VkCommunityConfig {
  id: number;
  name: string;
  screen_name: string;
  /** The community access token the adapter uses. */
  token: string;
}

export const DEFAULT_COMMUNITY: VkCommunityConfig = {
  id: 218_000_001,
  name: 'Test Bridge Community',
  screen_name: 'test_bridge',
  token: 'vk1.a.TEST-community-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
};

/** Chat peers are 2000000000 + the chat's local id. */
export const CHAT_PEER_OFFSET = 2_000_000_000;

export interface VkUserConfig {
  id: number;
  first_name: string;
  last_name: string;
  screen_name?: string;
  /** 1 female, 2 male, 0 not set. */
  sex?: 0 | 1 | 2;
}

/** Limits; defaults as docs/vendors/vk.md explains. Tests may lower the byte limits. */
export interface VkLimits {
  /** messages.send `message`, UTF-16 code units (the stricter count). VK: 4096 (ru docs) or 9000 (en docs, schema). */
  textLength: number;
  /** Attachments per message. */
  attachments: number;
  /** Requests per second per community token (enforced only with enforceLimits). */
  requestsPerSecond: number;
  /** photos upload (50 MB per dev.vk.com upload docs). */
  uploadPhotoBytes: number;
  /** docs upload (200 MB). */
  uploadDocumentBytes: number;
  /** random_id dedupe window: the last hour… */
  dedupeWindowMs: number;
  /** …and at most this many of the peer's last messages. */
  dedupeMessages: number;
  /** Long poll `wait` is clamped to this many seconds. */
  maxWaitSeconds: number;
}

const MB = 1024 * 1024;
export const VK_LIMITS: VkLimits = {
  textLength: 4096,
  attachments: 10,
  requestsPerSecond: 20,
  uploadPhotoBytes: 50 * MB,
  uploadDocumentBytes: 200 * MB,
  dedupeWindowMs: 60 * 60 * 1000,
  dedupeMessages: 100,
  maxWaitSeconds: 90,
};

export interface VkDoubleOptions {
  /** Default: one community, DEFAULT_COMMUNITY. The first is the default for every `group?` argument. */
  communities?: VkCommunityConfig[];
  /** Known users (others get generated names). */
  users?: VkUserConfig[];
  /** Enforce 20 requests/s per token (error 6). Default false. */
  enforceLimits?: boolean;
  /**
   * When true, messages.send reaches any user. Default false: like VK, a community may write only to
   * users who wrote to it first (a pushed message_new) or were allowed (allowMessages); others get 901.
   */
  openPeers?: boolean;
  limits?: Partial<VkLimits>;
  /** Seed for setFailureRate's PRNG. */
  seed?: number;
  /** Milliseconds since the epoch; used for dates, the random_id window and rate windows. */
  clock?: () => number;
  /** The version stamped on events (`v`) until setLongPollSettings/setCallbackSettings change it. */
  eventsVersion?: string;
}

// ==================================================================== public records

/** An error the double answers with: VK's error object, or a bare HTTP failure. */
export type VkFault = { error_code: number; error_msg: string } | { http: number };

export interface VkCallRecord {
  /** The method name, or 'longpoll', 'upload', 'download'. */
  method: string;
  /** The community of the token, when it was known. */
  group?: number;
  /** Parameters (access_token removed; files as {filename, contentType, size}). */
  params: Record<string, unknown>;
  at: number;
  /** How the token came: query/body parameter or Authorization header. */
  tokenVia?: 'param' | 'header';
  /** Body content type the double ignored (VK reads only query, form and multipart parameters). */
  ignoredBody?: string;
  error?: { error_code: number; error_msg: string };
  /** HTTP status when not 200. */
  http?: number;
}

/** One message the community sent (messages.send accepted it). */
export interface VkSentRecord {
  group: number;
  peer_id: number;
  message_id: number;
  conversation_message_id: number;
  random_id: number;
  text: string;
  /** The attachment strings as sent, e.g. photo-218000001_457239017. */
  attachments: string[];
  /** The keyboard as parsed JSON. */
  keyboard?: VkKeyboard;
  reply_to?: number;
  forward?: Record<string, unknown>;
  forward_messages?: number[];
  payload?: string;
  dont_parse_links?: boolean;
  disable_mentions?: boolean;
  at: number;
}

export interface VkKeyboardButton {
  action: { type: string; label?: string; payload?: string; link?: string; [k: string]: unknown };
  color?: string;
}
export interface VkKeyboard {
  one_time?: boolean;
  inline?: boolean;
  buttons: VkKeyboardButton[][];
}

export interface VkEventAnswer {
  group: number;
  event_id: string;
  user_id: number;
  peer_id: number;
  event_data?: unknown;
  at: number;
}

/** A community event as VK sends it (long poll `updates[]` item; callback body without `secret`). */
export interface VkEvent {
  type: string;
  event_id: string;
  v: string;
  object: Record<string, unknown>;
  group_id: number;
}

export type VkAttachmentSpec =
  | { type: 'photo'; bytes?: Buffer; width?: number; height?: number; text?: string }
  | { type: 'doc'; bytes?: Buffer; title?: string; ext?: string; mime?: string }
  | { type: 'audio_message'; bytes?: Buffer; duration?: number; transcript?: string }
  | { type: 'video'; title?: string; duration?: number }
  | { type: 'sticker'; sticker_id?: number; product_id?: number }
  | { type: 'wall'; text?: string; owner_id?: number }
  | { type: 'link'; url: string; title?: string; description?: string };

export interface MakeMessageOptions {
  /** The sender (a user id). Default: the peer for private peers, else 100001. */
  from?: number;
  /** The conversation: a user id (private) or 2000000000+n (chat). Default 100001. */
  peer?: number;
  text?: string;
  attachments?: VkAttachmentSpec[];
  /** The message (stored in this peer) this one replies to. */
  reply_to?: VkMessageObject;
  /** Messages forwarded with this one. */
  fwd?: VkMessageObject[];
  /** A keyboard button's payload (JSON string). */
  payload?: string;
  geo?: { latitude: number; longitude: number; title?: string };
  group?: number;
  /** Overrides of client_info (message_new only). */
  client_info?: Record<string, unknown>;
}

export type VkMessageObject = Record<string, unknown> & {
  id: number;
  conversation_message_id: number;
  peer_id: number;
  from_id: number;
  text: string;
  date: number;
};

export interface CallbackAttempt {
  retry: number;
  status?: number;
  body?: string;
  error?: string;
  retryAfter?: string;
}
export interface CallbackDelivery {
  /** The bridge answered `ok` (HTTP 200, body "ok"). */
  ok: boolean;
  /** The bridge asked VK to postpone (410/429/503 with Retry-After): VK stops retrying for now. */
  postponed: boolean;
  attempts: CallbackAttempt[];
}

export interface CallbackServerState {
  id: number;
  title: string;
  url: string;
  secret_key: string;
  status: 'unconfigured' | 'failed' | 'wait' | 'ok';
  api_version: string;
  events: Record<string, boolean>;
}

export interface LongPollSettingsState {
  is_enabled: boolean;
  api_version: string;
  events: Record<string, boolean>;
}

export interface VkStats {
  requests: number;
  tooManyRequests: number;
  /** messages.send calls answered from the random_id dedupe (no new message). */
  deduplicated: number;
}

// ==================================================================== internals

/** VK's error envelope, thrown inside handlers. */
class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
  ) {
    super(msg);
  }
}
class HttpFault extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

const paramError = (what: string) => new ApiError(100, `One of the parameters specified was missing or invalid: ${what}`);

/** The event types a community can subscribe to and that the double generates. */
const EVENT_TYPES = [
  'message_new',
  'message_reply',
  'message_edit',
  'message_allow',
  'message_deny',
  'message_event',
  'message_typing_state',
];
const DEFAULT_SUBSCRIBED = new Set(['message_new', 'message_edit', 'message_allow', 'message_deny', 'message_event']);

const BUTTON_ACTIONS = ['text', 'open_link', 'location', 'vkpay', 'open_app', 'callback'];
const CLIENT_INFO = {
  button_actions: ['text', 'vkpay', 'open_app', 'location', 'open_link', 'callback', 'intent_subscribe', 'intent_unsubscribe'],
  keyboard: true,
  inline_keyboard: true,
  carousel: true,
  lang_id: 0,
};

interface StoredFile {
  bytes: Buffer;
  contentType: string;
}

interface Waiter {
  ts: number;
  finish: (answer: Record<string, unknown>) => void;
}

interface LongPollState {
  settings: LongPollSettingsState;
  keys: Set<string>;
  /** Events kept for polling; history[i].ts increases by one. */
  history: Array<{ ts: number; event: VkEvent }>;
  /** The ts the next event gets. */
  nextTs: number;
  /** The oldest ts still in history (older ones answer failed:1). */
  historyStart: number;
  waiters: Set<Waiter>;
  forced: Array<1 | 2 | 3>;
}

interface CommunityState {
  config: VkCommunityConfig;
  lp: LongPollState;
  confirmationCode: string;
  servers: CallbackServerState[];
  nextServerId: number;
  /** Message ids are per community (private dialogs). */
  nextMessageId: number;
}

interface PeerState {
  nextCmid: number;
  /** Messages of this peer by conversation_message_id. */
  byCmid: Map<number, VkMessageObject>;
  /** The community's last sends here, for random_id dedupe. */
  recentSends: Array<{ random_id: number; message_id: number; at: number }>;
}

interface SavedMedia {
  kind: 'photo' | 'doc' | 'audio_message' | 'video' | 'wall' | 'sticker';
  owner_id: number;
  id: number;
  access_key?: string;
  object: Record<string, unknown>;
}

interface PendingUpload {
  group: number;
  kind: 'photo' | 'doc' | 'audio_message' | 'graffiti';
  peer?: number;
}

interface UploadedFile {
  group: number;
  kind: PendingUpload['kind'];
  bytes: Buffer;
  filename: string;
  contentType: string;
  server: number;
  hash: string;
}

interface CallContext {
  community: CommunityState;
  params: Record<string, string>;
}

const METHODS = [
  'groups.getById',
  'groups.getLongPollServer',
  'groups.getLongPollSettings',
  'groups.setLongPollSettings',
  'groups.getCallbackConfirmationCode',
  'groups.getCallbackServers',
  'groups.addCallbackServer',
  'groups.editCallbackServer',
  'groups.deleteCallbackServer',
  'groups.getCallbackSettings',
  'groups.setCallbackSettings',
  'messages.send',
  'messages.sendMessageEventAnswer',
  'users.get',
  'photos.getMessagesUploadServer',
  'photos.saveMessagesPhoto',
  'docs.getMessagesUploadServer',
  'docs.save',
] as const;
type MethodName = (typeof METHODS)[number];
const METHOD_SET = new Set<string>(METHODS);

/** A 1x1 PNG: the default bytes of photos users send. */
const PNG_1X1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

// ==================================================================== the double

export class VkDouble {
  /** Accepted messages.send calls (deduplicated repeats are not added). */
  readonly sent: VkSentRecord[] = [];
  /** Every request, including refused ones. */
  readonly calls: VkCallRecord[] = [];
  /** messages.sendMessageEventAnswer calls accepted. */
  readonly eventAnswers: VkEventAnswer[] = [];
  readonly stats: VkStats = { requests: 0, tooManyRequests: 0, deduplicated: 0 };

  private readonly server: LoopbackServer;
  private readonly events = new EventEmitter();
  private readonly communities: CommunityState[];
  private readonly limits: VkLimits;
  private readonly clock: () => number;
  private readonly rng: () => number;
  private enforceLimits: boolean;
  private latencyMs = 0;
  private readonly users = new Map<number, VkUserConfig & { deactivated?: string }>();
  private readonly peers = new Map<string, PeerState>();
  /** `${group}:${user}`: the community may write to the user. */
  private readonly allowed = new Set<string>();
  /** Chats (peer ids) the community is a member of, per community. */
  private readonly chats = new Set<string>();
  /** peer id → the error messages.send to it gets. */
  private readonly peerErrors = new Map<number, ApiError>();
  private readonly media = new Map<string, SavedMedia>();
  private readonly files = new Map<string, StoredFile>();
  private readonly uploads = new Map<string, PendingUpload>();
  private readonly uploaded = new Map<string, UploadedFile>();
  /** Open message_event ids → who may answer them. */
  private readonly openEvents = new Map<string, { group: number; user_id: number; peer_id: number }>();
  /** Keyed by method name, 'longpoll', 'upload', 'download' or '*'. */
  private readonly faults: InjectedFaults<VkFault>;
  private readonly tokenWindows = new Map<string, number[]>();
  private readonly hanging = new HeldResponses();
  private readonly timers = new DoubleTimers();
  private nextMediaId = 457_239_017;
  private nextVersion = 10_000_001;

  /** @internal use startVkDouble */
  constructor(private readonly opts: VkDoubleOptions = {}) {
    const configs = opts.communities && opts.communities.length > 0 ? opts.communities : [DEFAULT_COMMUNITY];
    this.communities = configs.map((config) => this.newCommunity(config));
    this.limits = { ...VK_LIMITS, ...opts.limits };
    this.clock = opts.clock ?? (() => Date.now());
    this.rng = mulberry32(opts.seed ?? Date.now() >>> 0);
    // One PRNG for faults and generated values, so a seed replays both.
    this.faults = new InjectedFaults(this.rng);
    this.enforceLimits = opts.enforceLimits ?? false;
    for (const u of opts.users ?? []) this.users.set(u.id, { ...u });
    this.events.setMaxListeners(0);
    this.server = new LoopbackServer(
      (req, res) => this.handleRequest(req, res),
      (res, err) => writeJson(res, 500, { error: { error_code: 0, error_msg: `double crashed: ${String(err)}` } }),
    );
  }

  /** @internal */
  listen(): Promise<void> {
    return this.server.listen();
  }

  /** `http://127.0.0.1:<port>` */
  get origin(): string {
    return this.server.origin;
  }

  /** `http://127.0.0.1:<port>/method`: what api.vk.ru/method is for the adapter. */
  get apiRoot(): string {
    return `${this.origin}/method`;
  }

  /** The default community's config. */
  get community(): VkCommunityConfig {
    return this.state().config;
  }

  // ---------------------------------------------------------------- users, peers, chats

  addUser(user: VkUserConfig): void {
    this.users.set(user.id, { ...user });
  }

  /** users.get then shows the user as deleted, and messages.send to them answers 901. */
  deleteUser(userId: number): void {
    this.users.set(userId, { ...this.user(userId), first_name: 'DELETED', last_name: '', deactivated: 'deleted' });
    this.peerErrors.set(userId, new ApiError(901, "Can't send messages for users without permission"));
  }

  /** The user allowed the community to write (as after message_allow). */
  allowMessages(userId: number, group?: number): void {
    this.allowed.add(`${this.state(group).config.id}:${userId}`);
    this.peerErrors.delete(userId);
  }

  /** The user denied messages from the community (message_deny): sends answer 901. */
  denyMessages(userId: number, group?: number): void {
    this.allowed.delete(`${this.state(group).config.id}:${userId}`);
    this.peerErrors.set(userId, new ApiError(901, "Can't send messages for users without permission"));
  }

  /** The user's privacy settings forbid the message: sends answer 902. */
  restrictPrivacy(userId: number): void {
    this.peerErrors.set(userId, new ApiError(902, "Can't send messages to this user due to their privacy settings"));
  }

  /** The user is in the community's blacklist: sends answer 900. */
  blacklist(userId: number): void {
    this.peerErrors.set(userId, new ApiError(900, "Can't send messages for users from blacklist"));
  }

  /** Any other refusal for sends to this peer. */
  setPeerError(peerId: number, code: number, msg: string): void {
    this.peerErrors.set(peerId, new ApiError(code, msg));
  }

  restorePeer(peerId: number): void {
    this.peerErrors.delete(peerId);
  }

  /** The community is a member of chat 2000000000+n (or of the given peer id). */
  addChat(chat: number, group?: number): number {
    const peer = chat >= CHAT_PEER_OFFSET ? chat : CHAT_PEER_OFFSET + chat;
    this.chats.add(`${this.state(group).config.id}:${peer}`);
    this.peerErrors.delete(peer);
    return peer;
  }

  /** The community was removed from the chat: sends answer 917. */
  kickFromChat(peer: number, group?: number): void {
    this.chats.delete(`${this.state(group).config.id}:${peer}`);
    this.peerErrors.set(peer, new ApiError(917, "You don't have access to this chat"));
  }

  setEnforceLimits(enabled: boolean): void {
    this.enforceLimits = enabled;
  }

  /** A message stored in the peer's history (sent by a user or by the community). */
  messageOf(peer: number, conversationMessageId: number, group?: number): VkMessageObject | undefined {
    return this.peer(this.state(group).config.id, peer).byCmid.get(conversationMessageId);
  }

  // ---------------------------------------------------------------- faults

  /** The next `times` requests of `method` ('*', 'longpoll', 'upload', 'download') fail with `fault`. */
  failNext(method: string, fault: VkFault, times = 1): void {
    this.faults.failNext(method, fault, times);
  }

  /** Each request of `method` ('*' = any) fails with `fault` with this probability (seeded PRNG). */
  setFailureRate(method: string, probability: number, fault: VkFault = { error_code: 10, error_msg: 'Internal server error' }): void {
    this.faults.setFailureRate(method, probability, fault);
  }

  /** The next `times` requests of `method` ('*' = any) are never answered. */
  hangNext(method: string, times = 1): void {
    this.faults.hangNext(method, times);
  }

  /** Every request waits this long before being handled. */
  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  // ---------------------------------------------------------------- long poll knobs

  /** The next long poll request(s) answer `{failed: code}` (1: ts outdated, 2: key expired, 3: information lost). */
  failNextPoll(code: 1 | 2 | 3, times = 1, group?: number): void {
    const lp = this.state(group).lp;
    for (let i = 0; i < times; i++) lp.forced.push(code);
  }

  /** Every key handed out so far expires: polls with them answer failed:2 until a new key is fetched. */
  expireKeys(group?: number): void {
    this.state(group).lp.keys.clear();
  }

  /** VK forgets the events queued so far: polls from an older ts answer failed:1 with the current ts. */
  dropHistory(group?: number): void {
    const lp = this.state(group).lp;
    lp.history = [];
    lp.historyStart = lp.nextTs;
  }

  /** The current ts of the community's long poll (the one the next event gets). */
  currentTs(group?: number): number {
    return this.state(group).lp.nextTs;
  }

  longPollSettings(group?: number): LongPollSettingsState {
    const s = this.state(group).lp.settings;
    return { ...s, events: { ...s.events } };
  }

  /** Resolves once a long poll request of the community is waiting. */
  waitForPoll(group?: number, timeoutMs = 10_000): Promise<void> {
    const lp = this.state(group).lp;
    return waitForEvent(
      this.events,
      'poll',
      () => lp.waiters.size > 0,
      timeoutMs,
      () => `waitForPoll: no long poll within ${timeoutMs} ms`,
    );
  }

  // ---------------------------------------------------------------- events

  /**
   * A realistic message as VK stores it, kept in the peer's history (so reply_to / forward can
   * point at it). Chat messages get id 0 (bots see only conversation_message_id there).
   */
  makeMessage(o: MakeMessageOptions = {}): VkMessageObject {
    const community = this.state(o.group);
    const peer = o.peer ?? 100_001;
    const isChat = peer >= CHAT_PEER_OFFSET;
    const from = o.from ?? (isChat ? 100_001 : peer);
    const peerState = this.peer(community.config.id, peer);
    const message: VkMessageObject = {
      date: Math.floor(this.clock() / 1000),
      from_id: from,
      id: isChat ? 0 : community.nextMessageId++,
      version: this.nextVersion++,
      out: 0,
      fwd_messages: (o.fwd ?? []).map(foreign),
      important: false,
      is_hidden: false,
      attachments: (o.attachments ?? []).map((a) => this.makeAttachment(a, from)),
      conversation_message_id: peerState.nextCmid++,
      text: o.text ?? '',
      peer_id: peer,
      random_id: 0,
    };
    if (o.reply_to) message.reply_message = foreign(o.reply_to);
    if (o.payload !== undefined) message.payload = o.payload;
    if (o.geo) {
      message.geo = {
        type: 'point',
        coordinates: { latitude: o.geo.latitude, longitude: o.geo.longitude },
        ...(o.geo.title ? { place: { title: o.geo.title, country: 'Russia', city: 'Moscow' } } : {}),
      };
    }
    peerState.byCmid.set(message.conversation_message_id, message);
    return message;
  }

  /** A message_new event ({message, client_info}, since API 5.103). Registers the sender as allowed. */
  makeMessageNew(o: MakeMessageOptions = {}): VkEvent {
    const community = this.state(o.group);
    const message = this.makeMessage(o);
    if (message.peer_id >= CHAT_PEER_OFFSET) this.chats.add(`${community.config.id}:${message.peer_id}`);
    else this.allowed.add(`${community.config.id}:${message.from_id}`);
    return this.makeEvent('message_new', { message, client_info: { ...CLIENT_INFO, ...o.client_info } }, community);
  }

  /** message_edit: the bare message object (not wrapped), with update_time. */
  makeMessageEdit(message: VkMessageObject, text: string, group?: number): VkEvent {
    const community = this.state(group);
    const edited: VkMessageObject = { ...message, text, update_time: Math.floor(this.clock() / 1000), version: this.nextVersion++ };
    this.peer(community.config.id, message.peer_id).byCmid.set(message.conversation_message_id, edited);
    return this.makeEvent('message_edit', edited, community);
  }

  /** message_allow / message_deny: the user switched messages from the community on or off. */
  makeMessageAllow(userId: number, allow: boolean, group?: number): VkEvent {
    const community = this.state(group);
    if (allow) this.allowMessages(userId, group);
    else this.denyMessages(userId, group);
    return allow
      ? this.makeEvent('message_allow', { user_id: userId, key: 'bridge' }, community)
      : this.makeEvent('message_deny', { user_id: userId }, community);
  }

  /**
   * What VK sends when the user presses the button labelled `label` of a keyboard the community
   * sent: message_event for a callback button (answer it with sendMessageEventAnswer), message_new
   * with the label as text and the button's payload for a text button. Throws when there is no such button.
   */
  pressButton(sent: VkSentRecord, label: string, o: { from?: number } = {}): VkEvent {
    const button = sent.keyboard?.buttons.flat().find((b) => b.action.label === label);
    if (!button) throw new Error(`pressButton: no button "${label}" in message ${sent.conversation_message_id} to ${sent.peer_id}`);
    const from = o.from ?? (sent.peer_id >= CHAT_PEER_OFFSET ? 100_001 : sent.peer_id);
    const community = this.state(sent.group);
    if (button.action.type === 'callback') {
      const eventId = randomBytes(6).toString('hex');
      this.openEvents.set(eventId, { group: sent.group, user_id: from, peer_id: sent.peer_id });
      return this.makeEvent(
        'message_event',
        {
          user_id: from,
          peer_id: sent.peer_id,
          event_id: eventId,
          payload: parsePayload(button.action.payload),
          conversation_message_id: sent.conversation_message_id,
        },
        community,
      );
    }
    if (button.action.type !== 'text')
      throw new Error(`pressButton: "${label}" is a ${button.action.type} button; VK sends no event for it`);
    return this.makeMessageNew({
      group: sent.group,
      peer: sent.peer_id,
      from,
      text: label,
      ...(button.action.payload !== undefined ? { payload: button.action.payload } : {}),
    });
  }

  /** Any event object wrapped like VK wraps it (type, event_id, v, object, group_id). */
  makeEvent(type: string, object: Record<string, unknown>, group?: CommunityState | number): VkEvent {
    const community = typeof group === 'object' ? group : this.state(group);
    return {
      type,
      event_id: randomBytes(20).toString('hex'),
      v: community.lp.settings.api_version,
      object,
      group_id: community.config.id,
    };
  }

  /**
   * Queues the event on the community's long poll (when its type is subscribed there) and wakes
   * waiting polls. Returns the ts it got, or undefined when the settings filter it out.
   */
  pushEvent(event: VkEvent): number | undefined {
    const community = this.state(event.group_id);
    const lp = community.lp;
    if (!lp.settings.is_enabled || !lp.settings.events[event.type]) return undefined;
    const ts = lp.nextTs++;
    lp.history.push({ ts, event: { ...event, v: lp.settings.api_version } });
    for (const waiter of [...lp.waiters]) this.answerPoll(community, waiter);
    return ts;
  }

  /** makeMessageNew + pushEvent. */
  pushMessageNew(o: MakeMessageOptions = {}): VkEvent {
    const event = this.makeMessageNew(o);
    this.pushEvent(event);
    return event;
  }

  /** Stored bytes behind a URL the double serves (attachment URLs of pushed messages). */
  fileAt(url: string): StoredFile | undefined {
    const u = new URL(url);
    return this.files.get(u.pathname);
  }

  // ---------------------------------------------------------------- Callback API

  /** Adds a callback server like groups.addCallbackServer (status 'unconfigured' until confirmed). */
  addCallbackServer(o: { url: string; title?: string; secret?: string; group?: number; events?: string[]; api_version?: string }): number {
    const community = this.state(o.group);
    const server = this.newServer(community, o.url, o.title ?? 'bridge', o.secret ?? '');
    if (o.events) server.events = Object.fromEntries(EVENT_TYPES.map((t) => [t, o.events!.includes(t)]));
    if (o.api_version) server.api_version = o.api_version;
    return server.id;
  }

  callbackServers(group?: number): CallbackServerState[] {
    return this.state(group).servers.map((s) => ({ ...s, events: { ...s.events } }));
  }

  confirmationCode(group?: number): string {
    return this.state(group).confirmationCode;
  }

  /** VK changes the confirmation string "from time to time". */
  rotateConfirmationCode(group?: number): string {
    const community = this.state(group);
    community.confirmationCode = randomBytes(4).toString('hex');
    return community.confirmationCode;
  }

  /**
   * The "confirm" button: POSTs {type: confirmation, group_id, event_id, v, secret} to the server's
   * URL; the server is confirmed when it answers exactly the confirmation string.
   */
  async confirmCallbackServer(
    serverId: number,
    o: { group?: number; timeoutMs?: number } = {},
  ): Promise<{ confirmed: boolean; status?: number; body?: string }> {
    const community = this.state(o.group);
    const server = this.serverOf(community, serverId);
    const body: Record<string, unknown> = {
      type: 'confirmation',
      event_id: randomBytes(20).toString('hex'),
      v: server.api_version,
      group_id: community.config.id,
    };
    if (server.secret_key) body.secret = server.secret_key;
    server.status = 'wait';
    try {
      const answer = await postJson(server.url, JSON.stringify(body), {}, o.timeoutMs ?? 10_000);
      const confirmed = answer.status === 200 && answer.body.trim() === community.confirmationCode;
      server.status = confirmed ? 'ok' : 'failed';
      return { confirmed, status: answer.status, body: answer.body };
    } catch {
      server.status = 'failed';
      return { confirmed: false };
    }
  }

  /**
   * POSTs the event to the confirmed callback server (the first one subscribed to its type, or
   * `server`), with the server's secret and API version. VK counts only HTTP 200 with body "ok" as
   * delivered; until then it re-sends with X-Retry-Counter (here at once, up to maxAttempts). A
   * 410/429/503 answer with Retry-After postpones the event: VK stops for now.
   */
  async deliverCallback(event: VkEvent, o: { server?: number; maxAttempts?: number; timeoutMs?: number } = {}): Promise<CallbackDelivery> {
    const community = this.state(event.group_id);
    const server =
      o.server !== undefined
        ? this.serverOf(community, o.server)
        : community.servers.find((s) => s.status === 'ok' && s.events[event.type]);
    if (!server) throw new Error(`deliverCallback: no confirmed callback server of group ${community.config.id} takes ${event.type}`);
    if (server.status !== 'ok') throw new Error(`deliverCallback: callback server ${server.id} is ${server.status}, not confirmed`);
    const body: Record<string, unknown> = { ...event, v: server.api_version };
    if (server.secret_key) body.secret = server.secret_key;
    const delivery: CallbackDelivery = { ok: false, postponed: false, attempts: [] };
    const maxAttempts = o.maxAttempts ?? 1;
    for (let retry = 0; retry < maxAttempts; retry++) {
      const attempt: CallbackAttempt = { retry };
      delivery.attempts.push(attempt);
      try {
        const headers: Record<string, string> = retry > 0 ? { 'X-Retry-Counter': String(retry) } : {};
        const answer = await postJson(server.url, JSON.stringify(body), headers, o.timeoutMs ?? 10_000);
        attempt.status = answer.status;
        attempt.body = answer.body;
        const retryAfter = answer.headers['retry-after'];
        if (retryAfter !== undefined) attempt.retryAfter = retryAfter;
      } catch (err) {
        attempt.error = (err as Error).message;
        continue;
      }
      if (attempt.status === 200 && attempt.body?.trim() === 'ok') {
        delivery.ok = true;
        break;
      }
      if ([410, 429, 503].includes(attempt.status!) && attempt.retryAfter !== undefined) {
        delivery.postponed = true;
        break;
      }
    }
    return delivery;
  }

  // ---------------------------------------------------------------- waiting

  /** Resolves with `sent` once at least `count` messages were accepted. */
  waitForSent(count: number, timeoutMs = 10_000): Promise<VkSentRecord[]> {
    return waitForEvent(
      this.events,
      'sent',
      () => this.sent.length >= count,
      timeoutMs,
      () => {
        const refused = this.calls
          .filter((c) => c.error || c.http)
          .slice(-5)
          .map((c) => `${c.method} ${c.error ? `${c.error.error_code} ${c.error.error_msg}` : `HTTP ${c.http}`}`);
        return (
          `waitForSent: expected ${count} sent messages, got ${this.sent.length} after ${timeoutMs} ms` +
          (refused.length ? `; last refused calls: ${refused.join('; ')}` : '')
        );
      },
    ).then(() => this.sent);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Clears records, faults, latency, peer states, rate windows, long poll histories and callback
   * servers. Keeps communities, users, files and the id counters (ids never go back).
   */
  reset(): void {
    this.sent.length = 0;
    this.calls.length = 0;
    this.eventAnswers.length = 0;
    this.stats.requests = 0;
    this.stats.tooManyRequests = 0;
    this.stats.deduplicated = 0;
    this.faults.clear();
    this.latencyMs = 0;
    this.peerErrors.clear();
    this.allowed.clear();
    this.chats.clear();
    this.openEvents.clear();
    this.tokenWindows.clear();
    // Conversation message ids keep counting; histories and random_id memory start afresh.
    for (const peer of this.peers.values()) {
      peer.byCmid.clear();
      peer.recentSends = [];
    }
    this.enforceLimits = this.opts.enforceLimits ?? false;
    for (const community of this.communities) {
      for (const waiter of [...community.lp.waiters]) waiter.finish({ ts: String(community.lp.nextTs), updates: [] });
      const fresh = this.newCommunity(community.config, community.lp.nextTs);
      fresh.nextMessageId = community.nextMessageId;
      Object.assign(community, fresh);
    }
    this.hanging.dropAll();
  }

  /** Closes the server at once, dropping long polls, hanging calls and keep-alive sockets. */
  async close(): Promise<void> {
    this.timers.cancelAll();
    await this.server.close();
  }

  // ================================================================ internals

  private newCommunity(config: VkCommunityConfig, startTs = 1): CommunityState {
    const version = this.opts.eventsVersion ?? '5.199';
    return {
      config,
      lp: {
        settings: {
          is_enabled: true,
          api_version: version,
          events: Object.fromEntries(EVENT_TYPES.map((t) => [t, DEFAULT_SUBSCRIBED.has(t)])),
        },
        keys: new Set(),
        history: [],
        nextTs: startTs,
        historyStart: startTs,
        waiters: new Set(),
        forced: [],
      },
      confirmationCode: randomBytes(4).toString('hex'),
      servers: [],
      nextServerId: 1,
      nextMessageId: 1,
    };
  }

  private newServer(community: CommunityState, url: string, title: string, secret: string): CallbackServerState {
    const server: CallbackServerState = {
      id: community.nextServerId++,
      title,
      url,
      secret_key: secret,
      status: 'unconfigured',
      api_version: community.lp.settings.api_version,
      events: Object.fromEntries(EVENT_TYPES.map((t) => [t, DEFAULT_SUBSCRIBED.has(t)])),
    };
    community.servers.push(server);
    return server;
  }

  private serverOf(community: CommunityState, serverId: number): CallbackServerState {
    const server = community.servers.find((s) => s.id === serverId);
    if (!server) throw new Error(`no callback server ${serverId} in group ${community.config.id}`);
    return server;
  }

  private state(ref?: number): CommunityState {
    if (ref === undefined) return this.communities[0]!;
    const found = this.communities.find((c) => c.config.id === ref);
    if (!found) throw new Error(`unknown community ${ref}`);
    return found;
  }

  private peer(group: number, peer: number): PeerState {
    const key = `${group}:${peer}`;
    let state = this.peers.get(key);
    if (!state) {
      state = { nextCmid: 1, byCmid: new Map(), recentSends: [] };
      this.peers.set(key, state);
    }
    return state;
  }

  private user(id: number): VkUserConfig & { deactivated?: string } {
    const known = this.users.get(id);
    if (known) return known;
    // Deterministic names, so a test can predict them without configuring users.
    const first = ['Alice', 'Boris', 'Vera', 'Gleb', 'Daria', 'Egor'][id % 6]!;
    return { id, first_name: first, last_name: `Test${id}`, screen_name: `id${id}`, sex: 0 };
  }

  // ---------------------------------------------------------------- attachments users send

  private makeAttachment(spec: VkAttachmentSpec, owner: number): Record<string, unknown> {
    const id = this.nextMediaId++;
    const accessKey = randomBytes(9).toString('hex');
    const date = Math.floor(this.clock() / 1000);
    switch (spec.type) {
      case 'photo': {
        const photo = this.photoObject(owner, id, accessKey, spec.bytes ?? PNG_1X1, spec.width ?? 1280, spec.height ?? 960, 'image/png');
        if (spec.text) photo.text = spec.text;
        return { type: 'photo', photo };
      }
      case 'doc': {
        const ext = spec.ext ?? 'pdf';
        const doc = this.docObject(
          owner,
          id,
          accessKey,
          spec.bytes ?? Buffer.from('%PDF-1.4\n%test\n'),
          `${spec.title ?? 'document'}.${ext}`,
          ext,
          spec.mime ?? 'application/pdf',
        );
        return { type: 'doc', doc };
      }
      case 'audio_message': {
        const bytes = spec.bytes ?? Buffer.from('OggS\0test-voice');
        const base = `/u${owner}/audiomsg/${randomBytes(5).toString('hex')}`;
        this.files.set(`${base}.ogg`, { bytes, contentType: 'audio/ogg' });
        this.files.set(`${base}.mp3`, { bytes, contentType: 'audio/mpeg' });
        const audio: Record<string, unknown> = {
          id,
          owner_id: owner,
          duration: spec.duration ?? 3,
          waveform: [0, 5, 12, 31, 20, 8, 0],
          link_ogg: `${this.origin}${base}.ogg`,
          link_mp3: `${this.origin}${base}.mp3`,
          access_key: accessKey,
        };
        if (spec.transcript !== undefined) Object.assign(audio, { transcript: spec.transcript, transcript_state: 'done' });
        this.media.set(`audio_message${owner}_${id}`, { kind: 'audio_message', owner_id: owner, id, access_key: accessKey, object: audio });
        return { type: 'audio_message', audio_message: audio };
      }
      case 'video': {
        // VK gives bots no file URL for videos: only previews and the page.
        const video = {
          id,
          owner_id: owner,
          title: spec.title ?? 'Video',
          duration: spec.duration ?? 12,
          date,
          access_key: accessKey,
          image: [{ url: this.storeImage(PNG_1X1, 'image/png'), width: 320, height: 240, with_padding: 1 }],
          type: 'video',
        };
        this.media.set(`video${owner}_${id}`, { kind: 'video', owner_id: owner, id, access_key: accessKey, object: video });
        return { type: 'video', video };
      }
      case 'sticker': {
        const url = this.storeImage(PNG_1X1, 'image/png');
        const sticker = {
          sticker_id: spec.sticker_id ?? 163,
          product_id: spec.product_id ?? 4,
          inner_type: 'base_sticker_new',
          is_allowed: true,
          images: [64, 128, 256, 352, 512].map((w) => ({ url, width: w, height: w })),
          images_with_background: [64, 128, 256, 352, 512].map((w) => ({ url, width: w, height: w })),
        };
        return { type: 'sticker', sticker };
      }
      case 'wall': {
        const wallOwner = spec.owner_id ?? -this.communities[0]!.config.id;
        const wall = {
          id,
          owner_id: wallOwner,
          from_id: wallOwner,
          date,
          text: spec.text ?? 'A wall post',
          post_type: 'post',
          attachments: [],
        };
        this.media.set(`wall${wallOwner}_${id}`, { kind: 'wall', owner_id: wallOwner, id, object: wall });
        return { type: 'wall', wall };
      }
      case 'link':
        return {
          type: 'link',
          link: { url: spec.url, title: spec.title ?? spec.url, caption: new URL(spec.url).host, description: spec.description ?? '' },
        };
    }
  }

  /** A photo object with sizes like VK's (s, m, x, y, z… ; here all point at the same bytes). */
  private photoObject(
    owner: number,
    id: number,
    accessKey: string,
    bytes: Buffer,
    width: number,
    height: number,
    contentType: string,
  ): Record<string, unknown> {
    const url = this.storeImage(bytes, contentType);
    const sizes = [
      ['s', 75],
      ['m', 130],
      ['x', 604],
      ['y', 807],
      ['z', 1280],
      ['w', 2560],
    ]
      .filter(([, max]) => (max as number) <= Math.max(width, height) || max === 75)
      .map(([type, max]) => {
        const scale = Math.min(1, (max as number) / Math.max(width, height));
        const w = Math.max(1, Math.round(width * scale));
        const h = Math.max(1, Math.round(height * scale));
        return { type, width: w, height: h, url: `${url}&size=${w}x${h}` };
      });
    const photo: Record<string, unknown> = {
      album_id: -3,
      date: Math.floor(this.clock() / 1000),
      id,
      owner_id: owner,
      access_key: accessKey,
      sizes,
      text: '',
      has_tags: false,
      orig_photo: { type: 'base', width, height, url },
    };
    this.media.set(`photo${owner}_${id}`, { kind: 'photo', owner_id: owner, id, access_key: accessKey, object: photo });
    return photo;
  }

  /** A doc object; its url redirects (302) to the file, like vk.com/doc…?dl=… does. */
  private docObject(
    owner: number,
    id: number,
    accessKey: string,
    bytes: Buffer,
    title: string,
    ext: string,
    contentType: string,
  ): Record<string, unknown> {
    const hash = randomBytes(9).toString('hex');
    const filePath = `/files/doc/${randomBytes(8).toString('hex')}/${encodeURIComponent(title)}`;
    this.files.set(filePath, { bytes, contentType });
    this.files.set(`/doc${owner}_${id}`, { bytes: Buffer.from(filePath), contentType: 'redirect' });
    const doc: Record<string, unknown> = {
      id,
      owner_id: owner,
      title,
      size: bytes.length,
      ext,
      date: Math.floor(this.clock() / 1000),
      type: docType(ext),
      url: `${this.origin}/doc${owner}_${id}?hash=${hash}&dl=${randomBytes(12).toString('hex')}&api=1&no_preview=1`,
      access_key: accessKey,
    };
    this.media.set(`doc${owner}_${id}`, { kind: 'doc', owner_id: owner, id, access_key: accessKey, object: doc });
    return doc;
  }

  /** Stores image bytes at a sun*.userapi.com-like URL. */
  private storeImage(bytes: Buffer, contentType: string): string {
    const path = `/impg/${randomBytes(12).toString('base64url')}.${contentType === 'image/png' ? 'png' : 'jpg'}`;
    this.files.set(path, { bytes, contentType });
    return `${this.origin}${path}?quality=95&sign=${randomBytes(16).toString('hex')}&type=album`;
  }

  // ---------------------------------------------------------------- HTTP plumbing

  private async handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.stats.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (this.latencyMs > 0) await this.timers.sleep(this.latencyMs);

    const api = /^\/method\/([^/]+)$/.exec(url.pathname);
    if (api) return this.handleApi(decodeURIComponent(api[1]!), req, res, url);
    const lp = /^\/wh(\d+)$/.exec(url.pathname);
    if (lp) {
      req.resume();
      return this.handleLongPoll(Number(lp[1]), url, res);
    }
    const upload = /^\/upload\/(photo|doc)\/([0-9a-f]+)$/.exec(url.pathname);
    if (upload) return this.handleUpload(upload[2]!, req, res);
    req.resume();
    return this.handleDownload(url.pathname, res);
  }

  /** Fault injection shared by every route. Returns true when the request was answered (or left hanging). */
  private injectFault(key: string, res: http.ServerResponse, call: VkCallRecord, params: Record<string, unknown>): boolean {
    if (this.faults.takeHang([key])) {
      this.hanging.hold(res);
      return true;
    }
    const fault = this.faults.takeFault([key]);
    if (!fault) return false;
    if ('http' in fault) {
      call.http = fault.http;
      res.writeHead(fault.http, { 'content-type': 'text/html' });
      res.end(`<html><body><h1>${fault.http}</h1></body></html>`);
    } else {
      this.answerError(res, call, new ApiError(fault.error_code, fault.error_msg), params);
    }
    return true;
  }

  private async handleApi(method: string, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const call: VkCallRecord = { method, params: {}, at: this.clock() };
    this.calls.push(call);
    let parsed: { params: Record<string, string>; files: Map<string, MultipartPart>; ignored?: string };
    try {
      parsed = await readParams(req, url, Math.max(this.limits.uploadDocumentBytes, this.limits.uploadPhotoBytes) + MB);
    } catch (err) {
      if (err instanceof HttpFault) {
        call.http = err.status;
        res.writeHead(err.status);
        res.end();
        return;
      }
      return this.answerError(res, call, err instanceof ApiError ? err : paramError(String(err)), {});
    }
    if (parsed.ignored) call.ignoredBody = parsed.ignored;
    const { access_token: paramToken, ...rest } = parsed.params;
    call.params = rest;
    const header = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const token = paramToken ?? header?.[1];
    call.tokenVia = paramToken !== undefined ? 'param' : header ? 'header' : undefined;
    if (call.tokenVia === undefined) delete call.tokenVia;
    const community = this.communities.find((c) => c.config.token === token);
    if (community) call.group = community.config.id;
    const requestParams = { method, ...rest };

    if (this.injectFault(method, res, call, requestParams) || this.injectFault('*', res, call, requestParams)) return;
    if (!METHOD_SET.has(method)) return this.answerError(res, call, new ApiError(3, 'Unknown method passed'), requestParams);
    if (token === undefined || token === '') {
      return this.answerError(res, call, new ApiError(5, 'User authorization failed: no access_token passed.'), requestParams);
    }
    if (!community)
      return this.answerError(res, call, new ApiError(5, 'User authorization failed: invalid access_token (4).'), requestParams);
    if (!rest.v) return this.answerError(res, call, new ApiError(8, 'Invalid request: v (version) is required'), requestParams);
    if (this.enforceLimits && !this.withinRate(community.config.token)) {
      this.stats.tooManyRequests++;
      return this.answerError(res, call, new ApiError(6, 'Too many requests per second'), requestParams);
    }
    try {
      const response = this.dispatch(method as MethodName, { community, params: rest }, parsed.files);
      writeJson(res, 200, { response });
    } catch (err) {
      if (err instanceof ApiError) return this.answerError(res, call, err, requestParams);
      throw err;
    }
  }

  /** VK answers errors with HTTP 200 and {error:{error_code, error_msg, request_params}}. */
  private answerError(res: http.ServerResponse, call: VkCallRecord, err: ApiError, params: Record<string, unknown>): void {
    call.error = { error_code: err.code, error_msg: err.msg };
    const request_params = [
      { key: 'method', value: String(params.method ?? call.method) },
      { key: 'oauth', value: '1' },
      ...Object.entries(params)
        .filter(([k]) => k !== 'method')
        .map(([key, value]) => ({ key, value: String(value) })),
    ];
    writeJson(res, 200, { error: { error_code: err.code, error_msg: err.msg, request_params } });
  }

  private withinRate(token: string): boolean {
    const now = this.clock();
    const times = (this.tokenWindows.get(token) ?? []).filter((t) => t > now - 1000);
    this.tokenWindows.set(token, times);
    if (times.length >= this.limits.requestsPerSecond) return false;
    times.push(now);
    return true;
  }

  // ---------------------------------------------------------------- long poll server

  private handleLongPoll(groupId: number, url: URL, res: http.ServerResponse): void {
    const call: VkCallRecord = { method: 'longpoll', group: groupId, params: Object.fromEntries(url.searchParams), at: this.clock() };
    this.calls.push(call);
    if (this.injectFault('longpoll', res, call, {})) return;
    const community = this.communities.find((c) => c.config.id === groupId);
    const lp = community?.lp;
    const answer = (body: Record<string, unknown>) => {
      if (typeof body.failed === 'number') call.error = { error_code: body.failed, error_msg: `failed ${body.failed}` };
      writeJson(res, 200, body);
    };
    if (!community || !lp) return answer({ failed: 2 });
    const forced = lp.forced.shift();
    if (forced === 1) return answer({ failed: 1, ts: lp.nextTs });
    if (forced) return answer({ failed: forced });
    // An unknown act is not documented; VK's servers answer failed:2 to requests they cannot place.
    if (url.searchParams.get('act') !== 'a_check' || !lp.keys.has(url.searchParams.get('key') ?? '')) return answer({ failed: 2 });
    const tsText = url.searchParams.get('ts') ?? '';
    if (!/^\d+$/.test(tsText)) return answer({ failed: 1, ts: lp.nextTs });
    const ts = Number(tsText);
    if (ts < lp.historyStart) return answer({ failed: 1, ts: lp.nextTs });
    const wait = Math.min(this.limits.maxWaitSeconds, Math.max(0, Number(url.searchParams.get('wait') ?? 0) || 0));

    const waiter: Waiter = { ts, finish: () => undefined };
    const timer = this.timers.after(wait * 1000, () => waiter.finish({ ts: String(Math.max(ts, lp.nextTs)), updates: [] }));
    let done = false;
    waiter.finish = (body) => {
      if (done) return;
      done = true;
      lp.waiters.delete(waiter);
      this.timers.cancel(timer);
      answer(body);
    };
    lp.waiters.add(waiter);
    // The client gave up: forget the poll.
    res.once('close', () => {
      lp.waiters.delete(waiter);
      this.timers.cancel(timer);
    });
    if (!this.answerPoll(community, waiter)) this.events.emit('poll', groupId);
  }

  /** Answers the waiter when events from its ts exist. */
  private answerPoll(community: CommunityState, waiter: Waiter): boolean {
    const ready = community.lp.history.filter((h) => h.ts >= waiter.ts);
    if (ready.length === 0) return false;
    waiter.finish({ ts: String(ready[ready.length - 1]!.ts + 1), updates: ready.map((h) => h.event) });
    return true;
  }

  // ---------------------------------------------------------------- uploads and downloads

  private async handleUpload(token: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const call: VkCallRecord = { method: 'upload', params: {}, at: this.clock() };
    this.calls.push(call);
    const pending = this.uploads.get(token);
    const limit = pending?.kind === 'photo' ? this.limits.uploadPhotoBytes : this.limits.uploadDocumentBytes;
    const { body, tooLarge } = await readBody(req, limit + MB);
    if (this.injectFault('upload', res, call, {})) return;
    if (!pending) {
      call.http = 404;
      res.writeHead(404);
      res.end();
      return;
    }
    if (tooLarge) {
      call.http = 413;
      res.writeHead(413);
      res.end();
      return;
    }
    call.group = pending.group;
    const field = pending.kind === 'photo' ? 'photo' : 'file';
    const boundary = parseBoundary(req.headers['content-type']);
    let part: MultipartPart | undefined;
    try {
      part = boundary ? parseMultipart(body, boundary).find((p) => p.name === field && p.filename !== undefined) : undefined;
    } catch (err) {
      if (!(err instanceof MultipartError)) throw err;
    }
    call.params = part ? { [field]: { filename: part.filename, contentType: part.contentType, size: part.data.length } } : {};
    if (part && part.data.length > limit) {
      call.http = 413;
      res.writeHead(413);
      res.end();
      return;
    }
    const server = 800_000 + Math.floor(this.rng() * 100_000);
    if (pending.kind === 'photo') {
      const isImage = part !== undefined && sniffImage(part.data) !== undefined;
      if (!isImage) return writeJson(res, 200, { server, photo: '[]', hash: randomBytes(16).toString('hex') });
      const ref = randomBytes(16).toString('hex');
      const hash = createHash('md5').update(ref).digest('hex');
      this.uploaded.set(ref, upload(pending, part!, server, hash));
      // `photo` is a JSON string in a JSON answer, as VK's upload servers send it.
      return writeJson(res, 200, { server, photo: JSON.stringify([{ photo: ref, sizes: [], kid: randomBytes(8).toString('hex') }]), hash });
    }
    if (!part) return writeJson(res, 200, { error: 'no_file' });
    const ref = `${server}|0|0|${randomBytes(6).toString('hex')}|${randomBytes(16).toString('hex')}`;
    this.uploaded.set(ref, upload(pending, part, server, ''));
    return writeJson(res, 200, { file: ref });
  }

  private handleDownload(pathname: string, res: http.ServerResponse): void {
    const call: VkCallRecord = { method: 'download', params: { path: pathname }, at: this.clock() };
    this.calls.push(call);
    if (this.injectFault('download', res, call, {})) return;
    const file = this.files.get(pathname);
    if (!file) {
      call.http = 404;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    if (file.contentType === 'redirect') {
      call.http = 302;
      res.writeHead(302, { location: `${this.origin}${file.bytes.toString()}` });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length });
    res.end(file.bytes);
  }

  // ---------------------------------------------------------------- methods

  private dispatch(method: MethodName, ctx: CallContext, _files: Map<string, MultipartPart>): unknown {
    switch (method) {
      case 'groups.getById':
        return this.groupsGetById(ctx);
      case 'groups.getLongPollServer':
        return this.getLongPollServer(ctx);
      case 'groups.getLongPollSettings':
        return this.getLongPollSettings(ctx);
      case 'groups.setLongPollSettings':
        return this.setLongPollSettings(ctx);
      case 'groups.getCallbackConfirmationCode':
        this.ownGroup(ctx);
        return { code: ctx.community.confirmationCode };
      case 'groups.getCallbackServers':
        return this.getCallbackServers(ctx);
      case 'groups.addCallbackServer':
        return this.addCallbackServerMethod(ctx);
      case 'groups.editCallbackServer':
        return this.editCallbackServer(ctx);
      case 'groups.deleteCallbackServer':
        return this.deleteCallbackServer(ctx);
      case 'groups.getCallbackSettings':
        return this.getCallbackSettings(ctx);
      case 'groups.setCallbackSettings':
        return this.setCallbackSettings(ctx);
      case 'messages.send':
        return this.messagesSend(ctx);
      case 'messages.sendMessageEventAnswer':
        return this.sendMessageEventAnswer(ctx);
      case 'users.get':
        return this.usersGet(ctx);
      case 'photos.getMessagesUploadServer':
        return this.getMessagesUploadServer(ctx, 'photo');
      case 'photos.saveMessagesPhoto':
        return this.saveMessagesPhoto(ctx);
      case 'docs.getMessagesUploadServer':
        return this.getMessagesUploadServer(ctx, 'doc');
      case 'docs.save':
        return this.docsSave(ctx);
    }
  }

  /** group_id must be given and be the token's own community. */
  private ownGroup(ctx: CallContext): void {
    const raw = ctx.params.group_id;
    if (raw === undefined || raw === '') throw paramError('group_id is undefined');
    if (!/^\d+$/.test(raw)) throw paramError('group_id not integer');
    if (Number(raw) !== ctx.community.config.id) throw new ApiError(15, 'Access denied: no access to this group');
  }

  private groupsGetById(ctx: CallContext): unknown {
    const wanted = splitList(ctx.params.group_ids ?? ctx.params.group_id ?? String(ctx.community.config.id));
    const groups = wanted.map((ref) => {
      const found = this.communities.find((c) => String(c.config.id) === ref || c.config.screen_name === ref);
      if (!found) throw paramError('group_ids is invalid');
      return groupObject(found.config, this.origin);
    });
    // In 5.199 the answer is an object with groups (and profiles), no longer a bare array.
    return { groups, profiles: [] };
  }

  private getLongPollServer(ctx: CallContext): unknown {
    this.ownGroup(ctx);
    const lp = ctx.community.lp;
    if (!lp.settings.is_enabled) throw paramError('Long Poll is disabled for this community');
    const key = randomBytes(20).toString('hex');
    lp.keys.add(key);
    return { key, server: `${this.origin}/wh${ctx.community.config.id}`, ts: String(lp.nextTs) };
  }

  private getLongPollSettings(ctx: CallContext): unknown {
    this.ownGroup(ctx);
    const s = ctx.community.lp.settings;
    return { is_enabled: s.is_enabled, api_version: s.api_version, events: boolInts(s.events) };
  }

  private setLongPollSettings(ctx: CallContext): number {
    this.ownGroup(ctx);
    const s = ctx.community.lp.settings;
    if (ctx.params.enabled !== undefined) s.is_enabled = toBool(ctx.params.enabled);
    if (ctx.params.api_version) s.api_version = ctx.params.api_version;
    applyEventFlags(s.events, ctx.params);
    return 1;
  }

  private getCallbackServers(ctx: CallContext): unknown {
    this.ownGroup(ctx);
    const ids = ctx.params.server_ids ? splitList(ctx.params.server_ids).map(Number) : undefined;
    const items = ctx.community.servers
      .filter((s) => !ids || ids.includes(s.id))
      .map((s) => ({ id: s.id, title: s.title, creator_id: 0, url: s.url, secret_key: s.secret_key, status: s.status }));
    return { count: items.length, items };
  }

  private addCallbackServerMethod(ctx: CallContext): unknown {
    this.ownGroup(ctx);
    const { url, title, secret_key } = ctx.params;
    if (!url) throw paramError('url is undefined');
    if (!title) throw paramError('title is undefined');
    if (title.length > 14) throw paramError('title is too long');
    if ((secret_key ?? '').length > 50) throw paramError('secret_key is too long');
    if (ctx.community.servers.length >= 10) throw new ApiError(2000, 'Servers number limit is reached');
    return { server_id: this.newServer(ctx.community, url, title, secret_key ?? '').id };
  }

  private editCallbackServer(ctx: CallContext): number {
    this.ownGroup(ctx);
    const server = ctx.community.servers.find((s) => String(s.id) === ctx.params.server_id);
    if (!server) throw new ApiError(104, 'Not found');
    if (ctx.params.url && ctx.params.url !== server.url) {
      server.url = ctx.params.url;
      server.status = 'unconfigured';
    }
    if (ctx.params.title) server.title = ctx.params.title;
    if (ctx.params.secret_key !== undefined) server.secret_key = ctx.params.secret_key;
    return 1;
  }

  private deleteCallbackServer(ctx: CallContext): number {
    this.ownGroup(ctx);
    const before = ctx.community.servers.length;
    ctx.community.servers = ctx.community.servers.filter((s) => String(s.id) !== ctx.params.server_id);
    if (ctx.community.servers.length === before) throw new ApiError(104, 'Not found');
    return 1;
  }

  private callbackServerParam(ctx: CallContext): CallbackServerState {
    const server =
      ctx.community.servers.find((s) => String(s.id) === ctx.params.server_id) ??
      (ctx.params.server_id ? undefined : ctx.community.servers[0]);
    if (!server) throw new ApiError(104, 'Not found');
    return server;
  }

  private getCallbackSettings(ctx: CallContext): unknown {
    this.ownGroup(ctx);
    const server = this.callbackServerParam(ctx);
    return { api_version: server.api_version, events: boolInts(server.events) };
  }

  private setCallbackSettings(ctx: CallContext): number {
    this.ownGroup(ctx);
    const server = this.callbackServerParam(ctx);
    if (ctx.params.api_version) server.api_version = ctx.params.api_version;
    applyEventFlags(server.events, ctx.params);
    return 1;
  }

  private usersGet(ctx: CallContext): unknown {
    const ids = splitList(ctx.params.user_ids ?? ctx.params.user_id ?? '');
    if (ids.length === 0) throw paramError('user_ids is undefined');
    const fields = new Set(splitList(ctx.params.fields ?? ''));
    return ids.map((ref) => {
      const byName = [...this.users.values()].find((u) => u.screen_name === ref);
      if (!byName && !/^\d+$/.test(ref)) throw new ApiError(113, 'Invalid user id');
      const user = byName ?? this.user(Number(ref));
      const out: Record<string, unknown> = { id: user.id, first_name: user.first_name, last_name: user.last_name };
      if (user.deactivated) out.deactivated = user.deactivated;
      else Object.assign(out, { can_access_closed: true, is_closed: false });
      if (fields.has('screen_name')) out.screen_name = user.screen_name ?? `id${user.id}`;
      if (fields.has('sex')) out.sex = user.sex ?? 0;
      if (fields.has('photo_100')) out.photo_100 = `${this.origin}/impg/camera_100.png`;
      if (fields.has('domain')) out.domain = user.screen_name ?? `id${user.id}`;
      return out;
    });
  }

  // ---------------------------------------------------------------- messages.send

  /** The peer a send goes to: peer_id, or user_id. */
  private sendPeer(ctx: CallContext): number {
    const raw = ctx.params.peer_id ?? ctx.params.user_id;
    if (raw === undefined || raw === '') throw paramError('peer_id is undefined');
    if (!/^-?\d+$/.test(raw)) throw paramError('peer_id not integer');
    return Number(raw);
  }

  /** Whether the community may write to the peer; throws VK's refusal otherwise. */
  private checkPeer(community: CommunityState, peer: number): void {
    const preset = this.peerErrors.get(peer);
    if (preset) throw preset;
    const group = community.config.id;
    if (peer >= CHAT_PEER_OFFSET) {
      if (!this.chats.has(`${group}:${peer}`)) throw new ApiError(917, "You don't have access to this chat");
      return;
    }
    if (peer < 0) throw new ApiError(932, "Your community can't interact with this peer");
    if (peer === 0) throw paramError('peer_id is invalid');
    if (!this.opts.openPeers && !this.allowed.has(`${group}:${peer}`)) {
      throw new ApiError(901, "Can't send messages for users without permission");
    }
  }

  private messagesSend(ctx: CallContext): unknown {
    if (ctx.params.peer_ids !== undefined) return this.sendToMany(ctx);
    return this.sendOne(ctx, this.sendPeer(ctx)).message_id;
  }

  /** peer_ids: one answer object per peer (errors per peer, as VK documents). */
  private sendToMany(ctx: CallContext): unknown {
    const peers = splitList(ctx.params.peer_ids!).map(Number);
    if (peers.length === 0 || peers.length > 100 || peers.some((p) => !Number.isInteger(p))) throw paramError('peer_ids is invalid');
    return peers.map((peer) => {
      try {
        const sent = this.sendOne(ctx, peer);
        return { peer_id: peer, message_id: sent.message_id, conversation_message_id: sent.conversation_message_id };
      } catch (err) {
        if (!(err instanceof ApiError) || peers.length === 1) throw err;
        return { peer_id: peer, error: { code: err.code, description: err.msg } };
      }
    });
  }

  private sendOne(ctx: CallContext, peer: number): VkSentRecord {
    const { community, params } = ctx;
    const group = community.config.id;
    if (params.random_id === undefined || params.random_id === '') throw paramError('random_id is a required parameter');
    if (!/^-?\d+$/.test(params.random_id)) throw paramError('random_id not integer');
    const randomId = Number(params.random_id);
    this.checkPeer(community, peer);

    const text = params.message ?? '';
    if (text.length > this.limits.textLength) throw new ApiError(914, 'Message is too long');
    const attachments = splitList(params.attachment ?? '');
    if (attachments.length > this.limits.attachments) throw paramError(`attachment: too many attachments (max ${this.limits.attachments})`);
    const attachmentObjects = attachments.map((a) => this.resolveAttachment(a));
    const keyboard = params.keyboard !== undefined && params.keyboard !== '' ? parseKeyboard(params.keyboard) : undefined;
    const peerState = this.peer(group, peer);
    const replyTo = this.resolveReplyTo(params.reply_to, peerState, peer);
    const forward = this.resolveForward(params.forward, group, peer);
    const forwardIds = params.forward_messages ? splitList(params.forward_messages).map(Number) : undefined;
    if (forwardIds?.some((id) => !Number.isInteger(id))) throw paramError('forward_messages is invalid');
    if (params.payload !== undefined && params.payload.length > 1000) throw paramError('payload is too long');
    if (text.trim() === '' && attachments.length === 0 && !forward && !forwardIds?.length && !params.sticker_id) {
      throw paramError('message is empty or invalid');
    }

    // random_id: a repeat within the window answers the first message's id and sends nothing.
    const now = this.clock();
    if (randomId !== 0) {
      const recent = peerState.recentSends.filter((s) => s.at > now - this.limits.dedupeWindowMs).slice(-this.limits.dedupeMessages);
      const repeat = recent.find((s) => s.random_id === randomId);
      if (repeat) {
        this.stats.deduplicated++;
        return (
          this.sent.find((s) => s.group === group && s.peer_id === peer && s.message_id === repeat.message_id) ??
          this.dedupeStub(group, peer, repeat)
        );
      }
    }

    const isChat = peer >= CHAT_PEER_OFFSET;
    const messageId = isChat ? 0 : community.nextMessageId++;
    const message: VkMessageObject = {
      date: Math.floor(now / 1000),
      from_id: -group,
      id: messageId,
      version: this.nextVersion++,
      out: 1,
      fwd_messages: [],
      important: false,
      is_hidden: false,
      attachments: attachmentObjects,
      conversation_message_id: peerState.nextCmid++,
      text,
      peer_id: peer,
      random_id: randomId,
    };
    if (replyTo) message.reply_message = foreign(replyTo);
    if (keyboard) message.keyboard = { ...keyboard, author_id: -group };
    if (params.payload !== undefined) message.payload = params.payload;
    peerState.byCmid.set(message.conversation_message_id, message);
    peerState.recentSends.push({ random_id: randomId, message_id: messageId, at: now });
    if (peerState.recentSends.length > this.limits.dedupeMessages) peerState.recentSends.shift();

    const record: VkSentRecord = {
      group,
      peer_id: peer,
      message_id: messageId,
      conversation_message_id: message.conversation_message_id,
      random_id: randomId,
      text,
      attachments,
      at: now,
    };
    if (keyboard) record.keyboard = keyboard;
    if (replyTo) record.reply_to = Number(params.reply_to);
    if (forward) record.forward = forward;
    if (forwardIds) record.forward_messages = forwardIds;
    if (params.payload !== undefined) record.payload = params.payload;
    if (params.dont_parse_links !== undefined) record.dont_parse_links = toBool(params.dont_parse_links);
    if (params.disable_mentions !== undefined) record.disable_mentions = toBool(params.disable_mentions);
    this.sent.push(record);
    this.events.emit('sent', record);
    // The community's own messages come back as message_reply where subscribed.
    this.pushEvent(this.makeEvent('message_reply', message, community));
    return record;
  }

  private dedupeStub(group: number, peer: number, repeat: { random_id: number; message_id: number; at: number }): VkSentRecord {
    return {
      group,
      peer_id: peer,
      message_id: repeat.message_id,
      conversation_message_id: 0,
      random_id: repeat.random_id,
      text: '',
      attachments: [],
      at: repeat.at,
    };
  }

  /** `type{owner}_{id}` or `type{owner}_{id}_{access_key}`; the object must exist (and the key match). */
  private resolveAttachment(ref: string): Record<string, unknown> {
    const m = /^(photo|doc|video|audio|wall|market|audio_message)(-?\d+)_(\d+)(?:_([0-9a-zA-Z]+))?$/.exec(ref);
    if (!m) throw paramError(`attachment is invalid: ${ref}`);
    const [, kind, owner, id, key] = m;
    const media = this.media.get(`${kind}${owner}_${id}`);
    if (!media) throw paramError(`attachment not found: ${ref}`);
    if (key !== undefined && media.access_key !== undefined && key !== media.access_key)
      throw new ApiError(15, 'Access denied: attachment access key is invalid');
    return { type: media.kind, [media.kind]: media.object };
  }

  private resolveReplyTo(raw: string | undefined, peerState: PeerState, peer: number): VkMessageObject | undefined {
    if (raw === undefined || raw === '') return undefined;
    if (!/^\d+$/.test(raw)) throw paramError('reply_to not integer');
    const id = Number(raw);
    // reply_to takes a message id; in chats bots see id 0, so replies there need `forward`.
    const found = [...peerState.byCmid.values()].find((m) => m.id === id && id !== 0);
    if (!found) throw paramError(`reply_to: message ${id} not found in peer ${peer}`);
    return found;
  }

  /** forward={"peer_id":…,"conversation_message_ids":[…],"is_reply":true} */
  private resolveForward(raw: string | undefined, group: number, peer: number): Record<string, unknown> | undefined {
    if (raw === undefined || raw === '') return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw paramError('forward is invalid JSON');
    }
    if (!isPlainObject(parsed)) throw paramError('forward must be an object');
    const from = parsed.peer_id === undefined ? peer : Number(parsed.peer_id);
    const cmids = (parsed.conversation_message_ids ?? parsed.cmids) as unknown;
    const ids = parsed.message_ids as unknown;
    const state = this.peer(group, from);
    if (Array.isArray(cmids)) {
      if (cmids.length === 0 || cmids.some((c) => !state.byCmid.has(Number(c)))) throw paramError('forward: message not found');
    } else if (Array.isArray(ids)) {
      const known = new Set([...state.byCmid.values()].map((m) => m.id));
      if (ids.length === 0 || ids.some((i) => !known.has(Number(i)))) throw paramError('forward: message not found');
    } else {
      throw paramError('forward needs conversation_message_ids or message_ids');
    }
    return parsed;
  }

  private sendMessageEventAnswer(ctx: CallContext): number {
    const { event_id, user_id, peer_id, event_data } = ctx.params;
    if (!event_id) throw paramError('event_id is undefined');
    if (!user_id) throw paramError('user_id is undefined');
    if (!peer_id) throw paramError('peer_id is undefined');
    const open = this.openEvents.get(event_id);
    if (!open || open.group !== ctx.community.config.id || String(open.user_id) !== user_id || String(open.peer_id) !== peer_id) {
      throw paramError('event_id is invalid or expired');
    }
    let data: unknown;
    if (event_data !== undefined && event_data !== '') {
      if (event_data.length > 1000) throw paramError('event_data is too long');
      try {
        data = JSON.parse(event_data);
      } catch {
        throw paramError('event_data is invalid JSON');
      }
      const type = isPlainObject(data) ? data.type : undefined;
      if (!['show_snackbar', 'open_link', 'open_app'].includes(String(type))) throw paramError('event_data.type is invalid');
    }
    this.openEvents.delete(event_id);
    this.eventAnswers.push({
      group: open.group,
      event_id,
      user_id: open.user_id,
      peer_id: open.peer_id,
      ...(data !== undefined ? { event_data: data } : {}),
      at: this.clock(),
    });
    return 1;
  }

  // ---------------------------------------------------------------- upload methods

  private getMessagesUploadServer(ctx: CallContext, family: 'photo' | 'doc'): unknown {
    const peer = ctx.params.peer_id ? Number(ctx.params.peer_id) : undefined;
    if (peer !== undefined) this.checkPeer(ctx.community, peer);
    const type = family === 'photo' ? 'photo' : (ctx.params.type ?? 'doc');
    if (!['photo', 'doc', 'audio_message', 'graffiti'].includes(type)) throw paramError('type is invalid');
    const token = randomBytes(16).toString('hex');
    this.uploads.set(token, {
      group: ctx.community.config.id,
      kind: type as PendingUpload['kind'],
      ...(peer !== undefined ? { peer } : {}),
    });
    const upload_url = `${this.origin}/upload/${family}/${token}`;
    if (family === 'doc') return { upload_url };
    return { album_id: -64, upload_url, user_id: 0, group_id: ctx.community.config.id };
  }

  private saveMessagesPhoto(ctx: CallContext): unknown {
    const { photo, server, hash } = ctx.params;
    if (photo === undefined || photo === '') throw paramError('photo is undefined');
    let list: unknown;
    try {
      list = JSON.parse(photo);
    } catch {
      throw paramError('photos_list is invalid');
    }
    const ref = Array.isArray(list) && isPlainObject(list[0]) ? String(list[0].photo) : undefined;
    const file = ref !== undefined ? this.uploaded.get(ref) : undefined;
    if (!file || file.kind !== 'photo' || file.group !== ctx.community.config.id) throw paramError('photos_list is invalid');
    if (String(file.server) !== server) throw new ApiError(118, 'Invalid server');
    if (file.hash !== hash) throw new ApiError(121, 'Invalid hash');
    this.uploaded.delete(ref!);
    const image = sniffImage(file.bytes) ?? { type: file.contentType, width: 800, height: 600 };
    const owner = -ctx.community.config.id;
    return [this.photoObject(owner, this.nextMediaId++, randomBytes(9).toString('hex'), file.bytes, image.width, image.height, image.type)];
  }

  private docsSave(ctx: CallContext): unknown {
    const { file: ref, title } = ctx.params;
    if (ref === undefined || ref === '') throw paramError('file is undefined');
    const file = this.uploaded.get(ref);
    if (!file || file.kind === 'photo' || file.group !== ctx.community.config.id) throw new ApiError(105, "Couldn't save file");
    this.uploaded.delete(ref);
    const owner = -ctx.community.config.id;
    const id = this.nextMediaId++;
    const key = randomBytes(9).toString('hex');
    const name = title || file.filename;
    const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : 'dat';
    if (file.kind === 'audio_message') {
      const base = `/u${owner}/audiomsg/${randomBytes(5).toString('hex')}`;
      this.files.set(`${base}.ogg`, { bytes: file.bytes, contentType: 'audio/ogg' });
      const audio = {
        id,
        owner_id: owner,
        duration: 1,
        waveform: [0, 10, 0],
        link_ogg: `${this.origin}${base}.ogg`,
        link_mp3: `${this.origin}${base}.ogg`,
        access_key: key,
      };
      this.media.set(`audio_message${owner}_${id}`, { kind: 'audio_message', owner_id: owner, id, access_key: key, object: audio });
      // VK saves voice messages as docs too: doc{owner}_{id} sends them.
      this.media.set(`doc${owner}_${id}`, { kind: 'audio_message', owner_id: owner, id, access_key: key, object: audio });
      return { type: 'audio_message', audio_message: audio };
    }
    return { type: 'doc', doc: this.docObject(owner, id, key, file.bytes, name, ext, file.contentType) };
  }
}

/** Starts a VK API double on 127.0.0.1 on a free port. */
export async function startVkDouble(opts?: VkDoubleOptions): Promise<VkDouble> {
  const double = new VkDouble(opts);
  await double.listen();
  return double;
}

// ==================================================================== helpers

function upload(pending: PendingUpload, part: MultipartPart, server: number, hash: string): UploadedFile {
  return {
    group: pending.group,
    kind: pending.kind,
    bytes: part.data,
    filename: part.filename ?? 'file',
    contentType: part.contentType ?? 'application/octet-stream',
    server,
    hash,
  };
}

function groupObject(c: VkCommunityConfig, origin: string): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    screen_name: c.screen_name,
    is_closed: 0,
    type: 'group',
    photo_50: `${origin}/impg/community_50.png`,
    photo_100: `${origin}/impg/community_100.png`,
    photo_200: `${origin}/impg/community_200.png`,
  };
}

/** A message as it appears inside another (reply_message, fwd_messages). */
function foreign(m: VkMessageObject): Record<string, unknown> {
  const out: Record<string, unknown> = {
    date: m.date,
    from_id: m.from_id,
    text: m.text,
    attachments: m.attachments ?? [],
    conversation_message_id: m.conversation_message_id,
    peer_id: m.peer_id,
    id: m.id,
  };
  if (Array.isArray(m.fwd_messages) && m.fwd_messages.length > 0) out.fwd_messages = m.fwd_messages;
  return out;
}

/** Callback buttons carry their payload as a JSON string; message_event hands it over parsed. */
function parsePayload(payload: string | undefined): unknown {
  if (payload === undefined) return {};
  try {
    return JSON.parse(payload);
  } catch {
    return payload;
  }
}

/** Validates a keyboard like VK (error 911 "Keyboard format is invalid" with the reason). */
function parseKeyboard(raw: string): VkKeyboard {
  const invalid = (why: string) => new ApiError(911, `Keyboard format is invalid: ${why}`);
  let k: unknown;
  try {
    k = JSON.parse(raw);
  } catch {
    throw invalid('not a JSON object');
  }
  if (!isPlainObject(k) || !Array.isArray(k.buttons)) throw invalid('buttons is required');
  const inline = toBool(k.inline);
  if (inline && toBool(k.one_time)) throw invalid('one_time is not supported for inline keyboards');
  const [maxRows, maxTotal] = inline ? [6, 10] : [10, 40];
  const rows = k.buttons as unknown[];
  if (rows.length > maxRows) throw invalid(`too many rows (max ${maxRows})`);
  let total = 0;
  rows.forEach((row, r) => {
    if (!Array.isArray(row)) throw invalid(`buttons[${r}] is not an array`);
    if (row.length > 5) throw invalid(`buttons[${r}] has more than 5 buttons`);
    row.forEach((button: unknown, c) => {
      total++;
      const at = `buttons[${r}][${c}]`;
      if (!isPlainObject(button) || !isPlainObject(button.action)) throw invalid(`${at}.action is required`);
      const action = button.action;
      if (!BUTTON_ACTIONS.includes(String(action.type))) throw invalid(`${at}.action.type is invalid`);
      if (
        ['text', 'callback', 'open_link', 'open_app'].includes(String(action.type)) &&
        (typeof action.label !== 'string' || action.label === '')
      ) {
        throw invalid(`${at}.action.label is required`);
      }
      if (typeof action.label === 'string' && action.label.length > 40) throw invalid(`${at}.action.label is too long`);
      if (action.payload !== undefined && (typeof action.payload !== 'string' || action.payload.length > 255)) {
        throw invalid(`${at}.action.payload must be a JSON string of at most 255 characters`);
      }
      if (action.type === 'open_link' && typeof action.link !== 'string') throw invalid(`${at}.action.link is required`);
    });
  });
  if (total > maxTotal) throw invalid(`too many buttons (max ${maxTotal})`);
  return k as unknown as VkKeyboard;
}

function applyEventFlags(events: Record<string, boolean>, params: Record<string, string>): void {
  for (const type of EVENT_TYPES) if (params[type] !== undefined) events[type] = toBool(params[type]);
}

function boolInts(events: Record<string, boolean>): Record<string, number> {
  return Object.fromEntries(Object.entries(events).map(([k, v]) => [k, v ? 1 : 0]));
}

function docType(ext: string): number {
  // VK's doc types: 1 text, 2 archive, 3 gif, 4 image, 5 audio, 6 video, 7 e-book, 8 unknown.
  const types: Record<string, number> = {
    txt: 1,
    pdf: 1,
    doc: 1,
    docx: 1,
    zip: 2,
    rar: 2,
    gif: 3,
    jpg: 4,
    png: 4,
    mp3: 5,
    ogg: 5,
    mp4: 6,
    epub: 7,
  };
  return types[ext] ?? 8;
}

function sniffImage(b: Buffer): { type: string; width: number; height: number } | undefined {
  if (b.length >= 24 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { type: 'image/png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { type: 'image/jpeg', width: 800, height: 600 };
  if (b.length >= 10 && b.subarray(0, 4).toString('latin1') === 'GIF8')
    return { type: 'image/gif', width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  return undefined;
}

function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toBool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 'true';
}

/** Query string, then a form or multipart body on top. Other bodies (JSON) are not read, as VK does. */
async function readParams(
  req: http.IncomingMessage,
  url: URL,
  limit: number,
): Promise<{ params: Record<string, string>; files: Map<string, MultipartPart>; ignored?: string }> {
  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  const files = new Map<string, MultipartPart>();
  const { body, tooLarge } = await readBody(req, limit);
  if (tooLarge) throw new HttpFault(413);
  if (body.length === 0) return { params, files };
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType === 'application/x-www-form-urlencoded') {
    Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  } else if (contentType === 'multipart/form-data') {
    const boundary = parseBoundary(req.headers['content-type']);
    if (!boundary) throw paramError('multipart/form-data without a boundary');
    try {
      for (const part of parseMultipart(body, boundary)) {
        if (part.filename !== undefined) files.set(part.name, part);
        else params[part.name] = part.data.toString('utf8');
      }
    } catch (err) {
      if (err instanceof MultipartError) throw paramError(`invalid multipart/form-data: ${err.message}`);
      throw err;
    }
  } else {
    return { params, files, ignored: contentType || 'unknown' };
  }
  return { params, files };
}

const writeJson = jsonWriter('application/json; charset=utf-8');
