/**
 * Pure MAX update → Custom App messages and the bot flow's event (docs/architecture.md, "The Custom App API"). No I/O, no
 * token: files leave only as refs handed to ctx.mediaLink, which signs a /media URL.
 *
 * - client_id is the chat_id, for dialogs and group chats alike (replies go by chat_id).
 * - Files first, then the message's text as a separate text (a caption after its file).
 * - Rich kinds become text: location, contact (the user's own number also sets client_phone in a
 *   dialog), shared links, unknown attachments; stickers are images, video and audio are files.
 * - Context on the first text: who wrote (group chats), forwarded from whom, replying to what.
 * - Edits arrive as one "(edited) …" text; button presses as "[button] <label>"; bot_started as
 *   "/start [payload]" with the flow's start event.
 */
import type { InboundEvent, InboundMessage, MediaRef, MessageType } from '../../src/adapter.js';
import { encodeMediaRef, type MediaKind } from './media.js';
import type { BotStartedUpdate, CallbackUpdate, MaxBody, MaxMessage, MaxUser, MessageUpdate, ParsedUpdate } from './updates.js';

export interface NormalizeContext {
  botUsername: string;
  /** The bot's own user id: its own messages, which MAX may show it, are skipped. */
  botUserId?: number;
  /** Builds the signed /media URL for a MAX file. */
  mediaLink(ref: MediaRef): string;
  /** The title of a group chat, when the adapter knows it (MAX messages do not carry it). */
  chatTitle?(chatId: number): string | undefined;
}

export interface Normalized {
  /** In the order the agent should read them. Empty when the update has nothing for an agent. */
  messages: InboundMessage[];
  event?: InboundEvent;
  /** MAX's own identity of the event, so a redelivery is a no-op. */
  dedupeId?: string;
  /** When messages is empty: a short reason for the debug log. */
  skipped?: string;
  /** A pressed button: answered (POST /answers) once the press is queued. */
  callback?: { id: string; label?: string };
}

type Obj = Record<string, unknown>;
interface Part {
  type: MessageType;
  data: string;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Longer file URLs would not fit a signed /media link's path (2048 characters). */
const MAX_MEDIA_URL = 1200;

export function normalizeUpdate(update: ParsedUpdate, ctx: NormalizeContext): Normalized {
  try {
    switch (update.update_type) {
      case 'message_created':
      case 'message_edited':
        return normalizeMessage(update as MessageUpdate, update.update_type === 'message_edited', ctx);
      case 'message_callback':
        return normalizeCallback(update as CallbackUpdate, ctx);
      case 'bot_started':
        return normalizeBotStarted(update as BotStartedUpdate, ctx);
      default:
        return { messages: [], skipped: `${update.update_type} update` };
    }
  } catch (err) {
    // Belt and braces: the schemas make this unreachable, but one odd update must never stop the
    // polling loop or fail a webhook.
    return { messages: [], skipped: `could not normalize: ${err instanceof Error ? err.message : String(err)}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Conversations

type ChatKind = NonNullable<InboundEvent['chat']>;

function chatKind(chatType: string | null | undefined, chatId: number): ChatKind {
  if (chatType === 'dialog') return 'private';
  if (chatType === 'channel') return 'channel';
  if (chatType === 'chat') return 'group';
  return chatId < 0 ? 'group' : 'private';
}

/** Dialogs: the person; group chats and channels: the chat's title (stable per conversation). */
function clientName(kind: ChatKind, person: MaxUser | null | undefined, chatId: number, ctx: NormalizeContext): string | undefined {
  return kind === 'private' ? personName(person) : ctx.chatTitle?.(chatId);
}

function message(clientId: number, name: string | undefined, info: Obj, part: Part, phone?: string): InboundMessage {
  return clean({
    client_id: String(clientId),
    client_name: name,
    client_phone: phone,
    info: { ...info },
    type: part.type,
    data: part.data,
  }) as unknown as InboundMessage;
}

// ---------------------------------------------------------------------------------------------
// Messages

function normalizeMessage(update: MessageUpdate, edited: boolean, ctx: NormalizeContext): Normalized {
  const msg = update.message;
  const chatId = msg.recipient.chat_id;
  const mid = msg.body.mid;
  const dedupeId = edited ? `max:e:${mid}:${update.timestamp}` : `max:m:${mid}`;
  const sender = msg.sender ?? undefined;
  if (sender && ctx.botUserId !== undefined && sender.user_id === ctx.botUserId) {
    return { messages: [], skipped: 'sent by this bot', dedupeId };
  }
  const kind = chatKind(msg.recipient.chat_type, chatId);
  const isGroup = kind !== 'private';
  const event: InboundEvent = { chat: kind };

  let parts: Part[];
  let phone: string | undefined;
  if (edited) {
    parts = [{ type: 'text', data: `(edited) ${authorPrefix(isGroup, sender)}${describe(msg.body)}` }];
    event.edit = true;
  } else {
    const content = readContent(msg, ctx);
    if (content.parts.length === 0) return { messages: [], skipped: 'message with no supported content', dedupeId };
    parts = content.parts;
    // The group is the conversation, so a member's phone must not become the client's.
    if (!isGroup && content.contact && sender && content.contact.userId === sender.user_id) phone = content.contact.phone;
    const prefix = authorPrefix(isGroup, sender) + contextLines(msg);
    const forwarded = msg.link?.type === 'forward' ? msg.link.message : undefined;
    const first = parts.find((p) => p.type === 'text');
    if (first) first.data = prefix + first.data;
    else if (prefix) parts.push({ type: 'text', data: prefix + describe(str(msg.body.text) || !forwarded ? msg.body : forwarded) });
    const typed = str(msg.body.text) ?? str(forwarded?.text);
    if (typed !== undefined) event.text = typed;
    if (phone) event.phone = phone;
  }

  const info = clean({
    user_id: sender?.user_id,
    username: str(sender?.username),
    language: str(update.user_locale),
    chat_type: msg.recipient.chat_type ?? undefined,
    chat_title: isGroup ? ctx.chatTitle?.(chatId) : undefined,
    message_id: mid,
    bot_username: ctx.botUsername || undefined,
    edited: edited ? true : undefined,
  });
  const name = clientName(kind, sender, chatId, ctx);
  return { messages: parts.map((p) => message(chatId, name, info, p, phone)), event, dedupeId };
}

interface Content {
  parts: Part[];
  contact?: { phone: string; userId?: number };
}

/** The message's files and rich attachments, then its text; a forward's content after its own. */
function readContent(msg: MaxMessage, ctx: NormalizeContext): Content {
  const content: Content = { parts: [] };
  const bodies: Array<Pick<MaxBody, 'text' | 'attachments'>> = [msg.body];
  if (msg.link?.type === 'forward' && msg.link.message) bodies.push(msg.link.message);
  for (const body of bodies) {
    const text = str(body.text);
    for (const raw of body.attachments ?? []) {
      const part = attachmentPart(raw, ctx, text);
      if (!part) continue;
      content.parts.push(...part.parts);
      if (part.contact) content.contact ??= part.contact;
    }
    if (text) content.parts.push({ type: 'text', data: text });
  }
  return content;
}

const MEDIA: Record<string, { kind: MediaKind; type: MessageType }> = {
  image: { kind: 'image', type: 'image' },
  sticker: { kind: 'sticker', type: 'image' },
  video: { kind: 'video', type: 'file' },
  audio: { kind: 'audio', type: 'file' },
  file: { kind: 'file', type: 'file' },
};

const LABEL: Record<string, string> = {
  image: 'photo',
  sticker: 'sticker',
  video: 'video',
  audio: 'voice message',
  file: 'file',
  location: 'location',
  contact: 'contact',
  share: 'link',
};

/** One attachment as parts (nothing for a keyboard); `text` is the message's own text. */
function attachmentPart(raw: unknown, ctx: NormalizeContext, text: string | undefined): Content | undefined {
  if (!isObj(raw)) return undefined;
  const type = str(raw.type);
  const payload = isObj(raw.payload) ? raw.payload : {};
  if (type === 'inline_keyboard') return undefined;
  if (type !== undefined && type in MEDIA) return { parts: mediaParts(type, raw, payload, ctx) };
  switch (type) {
    case 'location': {
      const where = place(raw.latitude, raw.longitude);
      return { parts: [{ type: 'text', data: where ? `Location: ${where}` : '[location]' }] };
    }
    case 'contact':
      return contactPart(payload);
    case 'share': {
      const url = str(payload.url);
      // A preview of a link the user typed: the text has it already.
      if (url && text?.includes(url)) return undefined;
      const title = str(raw.title);
      return { parts: [{ type: 'text', data: `[link] ${[title, url].filter(Boolean).join(' — ') || 'shared link'}` }] };
    }
    default:
      return { parts: [{ type: 'text', data: type && /^[a-z_]{1,32}$/.test(type) ? `[${type}]` : '[attachment]' }] };
  }
}

function mediaParts(type: string, raw: Obj, payload: Obj, ctx: NormalizeContext): Part[] {
  const { kind, type: messageType } = MEDIA[type]!;
  const url = str(payload.url);
  const label = LABEL[type]!;
  const name = kind === 'file' ? str(raw.filename) : undefined;
  if (!url || !/^https?:\/\//i.test(url)) return [{ type: 'text', data: `[${label}${name ? ` "${name}"` : ''}]` }];
  if (url.length > MAX_MEDIA_URL) return [{ type: 'text', data: `[${label}: its link is too long to pass on]` }];
  const token = kind === 'video' ? str(payload.token) : undefined;
  const ref: MediaRef = { id: encodeMediaRef(token && /^[\w-]+$/.test(token) ? { kind, url, token } : { kind, url }) };
  if (name) ref.name = name;
  const size = num(raw.size);
  if (size !== undefined && size >= 0) ref.size = size;
  const parts: Part[] = [{ type: messageType, data: ctx.mediaLink(ref) }];
  const transcription = kind === 'audio' ? str(raw.transcription) : undefined;
  if (transcription) parts.push({ type: 'text', data: `[transcription] ${transcription}` });
  return parts;
}

function place(lat: unknown, lon: unknown): string | undefined {
  const la = num(lat);
  const lo = num(lon);
  if (la === undefined || lo === undefined || Math.abs(la) > 90 || Math.abs(lo) > 180) return undefined;
  return `${la}, ${lo} — https://maps.google.com/?q=${la},${lo}`;
}

/** A shared contact: its vCard's name and number; `userId` is the MAX user it belongs to, if any. */
function contactPart(payload: Obj): Content {
  const vcf = str(payload.vcf_info) ?? '';
  const owner = isObj(payload.max_info) ? payload.max_info : undefined;
  const name = vcardField(vcf, 'FN') ?? personName(owner as MaxUser | undefined);
  const phone = internationalPhone(vcardField(vcf, 'TEL'));
  const text = phone ? `Contact: ${name ? `${name}, ` : ''}${phone}` : `Contact: ${name ?? 'no number shared'}`;
  const content: Content = { parts: [{ type: 'text', data: text }] };
  const userId = num(owner?.user_id);
  if (phone) content.contact = userId === undefined ? { phone } : { phone, userId };
  return content;
}

/** The value of a vCard property (`TEL;TYPE=cell:+7…`), unfolded; undefined when absent. */
function vcardField(vcf: string, name: string): string | undefined {
  const unfolded = vcf.replace(/\r?\n[ \t]/g, '');
  const m = new RegExp(`^${name}(?:;[^:\\r\\n]*)?:(.*)$`, 'im').exec(unfolded);
  return str(m?.[1]?.trim());
}

/** "+7 (900) 123-45-67" → "+79001234567"; digits only get the "+"; undefined when not a number. */
function internationalPhone(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const digits = raw.replace(/^tel:/i, '').replace(/[\s().-]/g, '');
  if (!/^\+?\d{5,15}$/.test(digits)) return undefined;
  return digits.startsWith('+') ? digits : `+${digits}`;
}

/** A short text for a message: its text, else what it holds. For edits, replies and media-only context. */
function describe(body: Pick<MaxBody, 'text' | 'attachments'> | null | undefined): string {
  const text = str(body?.text);
  if (text) return text;
  for (const raw of body?.attachments ?? []) {
    if (!isObj(raw) || raw.type === 'inline_keyboard') continue;
    const type = str(raw.type) ?? '';
    const label = LABEL[type] ?? 'attachment';
    const name = type === 'file' ? str(raw.filename) : undefined;
    return `[${label}${name ? ` "${name}"` : ''}]`;
  }
  return '[message]';
}

// ---------------------------------------------------------------------------------------------
// Context: author, forward, reply

/** In groups, several people share one conversation: the agent needs to see who wrote. */
function authorPrefix(isGroup: boolean, sender: MaxUser | null | undefined): string {
  const name = isGroup ? personName(sender) : undefined;
  return name ? `${name}: ` : '';
}

function contextLines(msg: MaxMessage): string {
  const link = msg.link;
  if (link?.type === 'forward') {
    const from = personName(link.sender);
    return from ? `[forwarded from ${from}]\n` : '[forwarded]\n';
  }
  if (link?.type === 'reply') return `[reply to "${clip(describe(link.message), 100)}"]\n`;
  return '';
}

// ---------------------------------------------------------------------------------------------
// Buttons and /start

/**
 * A press of a callback button the bot sent (a bot flow's menu): one readable text naming the
 * button, `[button] <label>`, from the user who pressed it, in the chat of the bot's message.
 */
function normalizeCallback(update: CallbackUpdate, ctx: NormalizeContext): Normalized {
  const cb = update.callback;
  const data = cb.payload ?? '';
  const label = update.message ? buttonLabel(update.message.body, data) : undefined;
  const callback = label === undefined ? { id: cb.callback_id } : { id: cb.callback_id, label };
  const dedupeId = `max:cb:${cb.callback_id}`;
  if (!update.message) return { messages: [], skipped: 'button under a deleted message', callback, dedupeId };
  if (data === '') return { messages: [], skipped: 'button without payload', callback, dedupeId };
  const chatId = update.message.recipient.chat_id;
  const kind = chatKind(update.message.recipient.chat_type, chatId);
  const info = clean({
    user_id: cb.user.user_id,
    username: str(cb.user.username),
    language: str(update.user_locale),
    chat_type: update.message.recipient.chat_type ?? undefined,
    chat_title: kind !== 'private' ? ctx.chatTitle?.(chatId) : undefined,
    message_id: update.message.body.mid,
    bot_username: ctx.botUsername || undefined,
  });
  const text = `${authorPrefix(kind !== 'private', cb.user)}[button] ${label ?? data}`;
  return {
    messages: [message(chatId, clientName(kind, cb.user, chatId, ctx), info, { type: 'text', data: text })],
    event: { button: label !== undefined ? { data, label } : { data }, chat: kind },
    dedupeId,
    callback,
  };
}

/** The label of the callback button with this payload (MAX sends the message back with its keyboard). */
export function buttonLabel(body: Pick<MaxBody, 'attachments'>, data: string): string | undefined {
  for (const a of body.attachments ?? []) {
    if (!isObj(a) || a.type !== 'inline_keyboard' || !isObj(a.payload) || !Array.isArray(a.payload.buttons)) continue;
    for (const row of a.payload.buttons) {
      if (!Array.isArray(row)) continue;
      for (const b of row) if (isObj(b) && b.type === 'callback' && b.payload === data) return str(b.text);
    }
  }
  return undefined;
}

/** The user opened the dialog (Start, or a deep link with a payload): the flow's /start. */
function normalizeBotStarted(update: BotStartedUpdate, ctx: NormalizeContext): Normalized {
  const payload = str(update.payload)?.trim();
  const text = payload ? `/start ${payload}` : '/start';
  const info = clean({
    user_id: update.user.user_id,
    username: str(update.user.username),
    language: str(update.user_locale),
    chat_type: 'dialog',
    bot_username: ctx.botUsername || undefined,
  });
  return {
    messages: [message(update.chat_id, personName(update.user), info, { type: 'text', data: text })],
    event: { start: payload ? { payload } : {}, text, chat: 'private' },
    dedupeId: `max:s:${update.chat_id}:${update.timestamp}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function personName(p: Pick<MaxUser, 'first_name' | 'last_name' | 'name' | 'username'> | null | undefined): string | undefined {
  const full = [str(p?.first_name), str(p?.last_name)].filter(Boolean).join(' ').trim();
  const username = str(p?.username);
  return full || str(p?.name) || (username ? `@${username}` : undefined);
}

/** First `max` characters on one line, without splitting a surrogate pair (code points, not UTF-16). */
function clip(text: string, max: number): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : chars.join('');
}

/** JSON-clean copy: no undefined-valued keys. */
function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
