/**
 * Pure VK community event → Custom App messages (adapters/vk/README.md "VK → Blinger") and what a
 * bot flow needs to know of it. No I/O: names come in through `names` (the adapter looked them up
 * with users.get), files leave only as MediaRefs handed to `mediaLink` (a signed /media URL) plus
 * the VK URL each one stands for, which the adapter stores for openMedia.
 *
 * Events arrive from the network (or from whoever found the callback URL, before the secret was
 * checked elsewhere): every field is read loosely and checked, and anything odd becomes a skip
 * with a reason, never an exception.
 */
import type { InboundEvent, InboundMessage, MediaRef, MessageType } from '../../src/adapter.js';
import { clip } from './text.js';

export interface NormalizeContext {
  /** Builds the signed /media URL for a file (ref.id names it in the adapter's media store). */
  mediaLink(ref: MediaRef): string;
  /** "First Last" of a VK user, when known. */
  names?: ReadonlyMap<number, string>;
  /** The bot asked this conversation for a phone number (a bot flow's askPhone) and waits for it. */
  phoneAsked?: boolean;
}

export interface Normalized {
  /** In the order the agent should read them. Empty when the event has nothing for an agent. */
  messages: InboundMessage[];
  /** What a bot flow is told. */
  event?: InboundEvent;
  /** When messages is empty: a short reason for the debug log. */
  skipped?: string;
  /** Where each linked file really is: stored (ref id → VK's URL) before the messages are queued. */
  files: Array<{ id: string; url: string }>;
  /** A callback button press to acknowledge (messages.sendMessageEventAnswer) once it is queued. */
  answer?: { event_id: string; user_id: number; peer_id: number };
}

/** Chat conversations are 2000000000 + the chat's number. */
export const CHAT_PEER_OFFSET = 2_000_000_000;
/** How many files of one event become links (the rest are named in text). */
const MAX_FILES = 20;
/** Forwarded messages shown (nested ones included) and how deep. */
const MAX_FORWARDED = 20;
const MAX_FORWARD_DEPTH = 3;

type Obj = Record<string, unknown>;
interface Part {
  type: MessageType;
  data: string;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj | undefined => (isObj(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export const isChatPeer = (peer: number): boolean => peer >= CHAT_PEER_OFFSET;

/** A conversation the community can be in: a user (private) or a chat. */
function validPeer(peer: number | undefined): peer is number {
  return peer !== undefined && peer > 0 && peer < CHAT_PEER_OFFSET + 100_000_000_000;
}

/** The message object of message_new (5.103+: `{message, client_info}`; older: the message itself) or of an edit. */
export function messageOf(event: Obj): Obj | undefined {
  const object = obj(event.object);
  if (!object) return undefined;
  return event.type === 'message_new' && isObj(object.message) ? object.message : object;
}

/** Which users' names the event mentions (the sender, the replied and forwarded authors): for users.get. */
export function userIdsOf(event: unknown): number[] {
  const e = obj(event);
  if (!e) return [];
  const ids = new Set<number>();
  const add = (v: unknown) => {
    const id = int(v);
    if (id !== undefined && id > 0 && id < CHAT_PEER_OFFSET) ids.add(id);
  };
  if (e.type === 'message_event') {
    add(obj(e.object)?.user_id);
    add(obj(e.object)?.peer_id);
  } else {
    const msg = messageOf(e);
    add(msg?.from_id);
    add(msg?.peer_id);
    add(obj(msg?.reply_message)?.from_id);
    for (const f of arr(msg?.fwd_messages).slice(0, MAX_FORWARDED)) add(obj(f)?.from_id);
  }
  return [...ids];
}

export function normalizeEvent(event: unknown, ctx: NormalizeContext): Normalized {
  const skip = (skipped: string): Normalized => ({ messages: [], skipped, files: [] });
  const e = obj(event);
  if (!e) return skip('not an event object');
  const type = str(e.type) ?? '(no type)';
  try {
    switch (type) {
      case 'message_new':
      case 'message_edit': {
        const msg = messageOf(e);
        return msg ? normalizeMessage(msg, type === 'message_edit', e, ctx) : skip(`${type} without a message`);
      }
      case 'message_event':
        return normalizeButtonEvent(obj(e.object) ?? {}, ctx);
      case 'message_reply':
        return skip("the community's own message (message_reply)");
      default:
        return skip(`${type} event`);
    }
  } catch (err) {
    // The checks above should make this unreachable; one odd event must never stop the poller.
    return skip(`could not normalize: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Messages

function normalizeMessage(msg: Obj, edited: boolean, e: Obj, ctx: NormalizeContext): Normalized {
  const skip = (skipped: string): Normalized => ({ messages: [], skipped, files: [] });
  const kind = edited ? 'message_edit' : 'message_new';
  const peer = int(msg.peer_id);
  const from = int(msg.from_id);
  if (!validPeer(peer) || from === undefined) return skip(`${kind}: no valid peer_id or from_id`);
  if (from < 0 && !isChatPeer(peer)) return skip(`${kind}: written by a community in a private conversation`);
  const chat = isChatPeer(peer);
  const files = new Files(ctx);
  const author = chat ? `${nameOf(from, ctx)}: ` : '';

  let parts: Part[];
  let phone: string | undefined;
  const event: InboundEvent = { chat: chat ? 'group' : 'private' };
  if (edited) {
    parts = [{ type: 'text', data: `(edited) ${author}${describe(msg)}` }];
    event.edit = true;
  } else {
    const action = str(obj(msg.action)?.type);
    const text = str(msg.text);
    const content = contentParts(msg, files);
    if (!text && content.media.length === 0 && content.texts.length === 0 && arr(msg.fwd_messages).length === 0) {
      return skip(action ? `${kind}: service message (${action})` : `${kind}: no content`);
    }
    const press = buttonPress(msg.payload, text);
    if (press?.start) event.start = {};
    if (press?.button) event.button = press.button;
    if (text) event.text = text;
    phone = ctx.phoneAsked && !chat && text ? phoneIn(text) : undefined;
    if (phone) event.phone = phone;

    const lines: string[] = [];
    const reply = obj(msg.reply_message);
    if (reply) lines.push(`[reply to "${clip(describe(reply), 100)}"]`);
    if (text) lines.push(press?.button ? `[button] ${text}` : text);
    lines.push(...content.texts);
    const forwarded = forwardedBlock(msg, ctx);
    if (forwarded) lines.push(forwarded);
    const body = lines.join('\n');
    parts = [...content.media, ...(body ? [{ type: 'text' as const, data: author + body }] : [])];
    // Files of forwarded messages follow their text (the agent reads "[forwarded from …]" first).
    for (const f of arr(msg.fwd_messages)) {
      const fm = obj(f);
      if (fm) parts.push(...contentParts(fm, files).media);
    }
  }
  return finish(parts, msg, peer, from, e, ctx, event, files, phone);
}

function finish(
  parts: Part[],
  msg: Obj,
  peer: number,
  from: number,
  e: Obj,
  ctx: NormalizeContext,
  event: InboundEvent,
  files: Files,
  phone?: string,
): Normalized {
  const chat = isChatPeer(peer);
  const info = clean({
    user_id: from > 0 ? from : undefined,
    profile: from > 0 ? `https://vk.com/id${from}` : undefined,
    community_id: from < 0 ? -from : undefined,
    peer_id: peer,
    chat_type: chat ? 'chat' : 'private',
    message_id: int(msg.id) || undefined,
    conversation_message_id: int(msg.conversation_message_id),
    group_id: int(e.group_id),
    edited: event.edit ? true : undefined,
    payload: str(msg.payload) ? clip(String(msg.payload), 256) : undefined,
    lang_id: int(obj(obj(e.object)?.client_info)?.lang_id),
  });
  const clientName = chat ? `VK chat ${peer - CHAT_PEER_OFFSET}` : ctx.names?.get(peer);
  const messages = parts.map(
    (p) =>
      clean({
        client_id: String(peer),
        client_name: clientName,
        client_phone: phone,
        info: { ...info },
        type: p.type,
        data: p.data,
      }) as unknown as InboundMessage,
  );
  return { messages, event, files: files.list };
}

/**
 * A keyboard button's payload (a JSON string): VK's own "Start" button sends `{"command":"start"}`;
 * the bridge's buttons carry `{"b": data}`; any other payload is another bot's button, passed on
 * as it is. Undefined when the message came from no button.
 */
export function buttonPress(
  payload: unknown,
  label: string | undefined,
): { start?: true; button?: { data: string; label?: string } } | undefined {
  const raw = str(payload);
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const p = obj(parsed);
  if (p?.command === 'start') return { start: true };
  const data = str(p?.b) ?? raw;
  return { button: label ? { data, label } : { data } };
}

/** What the bridge puts in a button's payload, read back from a press. */
export function ownButtonData(payload: unknown): { data: string; label?: string } | undefined {
  const p = obj(payload) ?? obj(tryJson(payload));
  const data = str(p?.b);
  if (!data) return undefined;
  const label = str(p?.l);
  return label ? { data, label } : { data };
}

function tryJson(v: unknown): unknown {
  if (typeof v !== 'string') return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

/** A phone number typed as the whole message: `+7 900 123-45-67`, `89001234567`, `(495) 123 45 67`… */
export function phoneIn(text: string): string | undefined {
  const t = text.trim();
  if (!/^\+?[\d\s().-]{7,24}$/.test(t)) return undefined;
  const digits = t.replace(/\D/g, '');
  if (digits.length < 10 || digits.length > 15) return undefined;
  if (t.startsWith('+')) return `+${digits}`;
  // A Russian number written the domestic way: 8 900 … is +7 900 …
  if (digits.length === 11 && digits.startsWith('8')) return `+7${digits.slice(1)}`;
  return digits.length >= 11 ? `+${digits}` : digits;
}

// ---------------------------------------------------------------------------------------------
// Callback buttons

function normalizeButtonEvent(o: Obj, ctx: NormalizeContext): Normalized {
  const skip = (skipped: string): Normalized => ({ messages: [], skipped, files: [] });
  const peer = int(o.peer_id);
  const user = int(o.user_id);
  const eventId = str(o.event_id);
  if (!validPeer(peer) || user === undefined || user <= 0 || !eventId) return skip('message_event: no valid peer_id, user_id or event_id');
  const chat = isChatPeer(peer);
  const own = ownButtonData(o.payload);
  const data = own?.data ?? clip(typeof o.payload === 'string' ? o.payload : JSON.stringify(o.payload ?? null), 200);
  const label = own?.label;
  const author = chat ? `${nameOf(user, ctx)}: ` : '';
  const info = clean({
    user_id: user,
    profile: `https://vk.com/id${user}`,
    peer_id: peer,
    chat_type: chat ? 'chat' : 'private',
    conversation_message_id: int(o.conversation_message_id),
  });
  const message = clean({
    client_id: String(peer),
    client_name: chat ? `VK chat ${peer - CHAT_PEER_OFFSET}` : ctx.names?.get(peer),
    info,
    type: 'text',
    data: `${author}[button] ${label ?? data}`,
  }) as unknown as InboundMessage;
  return {
    messages: [message],
    event: { button: label ? { data, label } : { data }, chat: chat ? 'group' : 'private' },
    files: [],
    answer: { event_id: eventId, user_id: user, peer_id: peer },
  };
}

// ---------------------------------------------------------------------------------------------
// Attachments

/** The links an event's files become, and the VK URL behind each. */
class Files {
  readonly list: Array<{ id: string; url: string }> = [];
  constructor(private readonly ctx: NormalizeContext) {}

  get full(): boolean {
    return this.list.length >= MAX_FILES;
  }

  link(ref: MediaRef, url: string): string {
    if (!this.list.some((f) => f.id === ref.id)) this.list.push({ id: ref.id, url });
    return this.ctx.mediaLink(ref);
  }
}

interface Content {
  /** Files as links, in the message's order. */
  media: Part[];
  /** Attachments an agent reads as text (videos, posts, links, places…). */
  texts: string[];
}

function contentParts(msg: Obj, files: Files): Content {
  const media: Part[] = [];
  const texts: string[] = [];
  const text = str(msg.text) ?? '';
  for (const a of arr(msg.attachments)) {
    const att = obj(a);
    const type = str(att?.type);
    if (!att || !type) continue;
    const body = obj(att[type]);
    const file = !files.full && body ? fileOf(type, body) : undefined;
    if (file) {
      media.push({ type: file.type, data: files.link(file.ref, file.url) });
      if (file.caption) texts.push(file.caption);
      continue;
    }
    const readable = body ? readableAttachment(type, body, text) : undefined;
    if (readable) texts.push(readable);
    else if (readable === undefined) texts.push(`[${type.replace(/_/g, ' ')}]`);
  }
  const geo = geoText(obj(msg.geo));
  if (geo) texts.push(geo);
  return { media, texts };
}

interface FileAttachment {
  type: MessageType;
  ref: MediaRef;
  url: string;
  /** Text that goes with the file (a voice message's transcript). */
  caption?: string;
}

const httpUrl = (v: unknown): string | undefined => {
  const s = str(v);
  return s && /^https?:\/\//i.test(s) ? s : undefined;
};

function fileOf(type: string, a: Obj): FileAttachment | undefined {
  const handle = `${int(a.owner_id) ?? 0}_${int(a.id) ?? 0}`;
  switch (type) {
    case 'photo': {
      const url = largest(arr(a.sizes)) ?? httpUrl(obj(a.orig_photo)?.url);
      return url ? { type: 'image', ref: { id: `photo${handle}`, name: `photo${handle}.jpg` }, url } : undefined;
    }
    case 'graffiti': {
      const url = httpUrl(a.url) ?? largest(arr(a.sizes));
      return url ? { type: 'image', ref: { id: `graffiti${handle}`, name: `graffiti${handle}.png` }, url } : undefined;
    }
    case 'sticker': {
      const sticker = int(a.sticker_id) ?? 0;
      const url = largest(arr(a.images)) ?? largest(arr(a.images_with_background));
      return url ? { type: 'image', ref: { id: `sticker${sticker}`, name: `sticker${sticker}.png`, mime: 'image/png' }, url } : undefined;
    }
    case 'doc': {
      const url = httpUrl(a.url);
      if (!url) return undefined;
      const ext = str(a.ext)
        ?.toLowerCase()
        .replace(/[^a-z0-9]/g, '');
      const title = str(a.title) ?? `document${handle}`;
      const name = ext && !title.toLowerCase().endsWith(`.${ext}`) ? `${title}.${ext}` : title;
      const size = int(a.size);
      const ref: MediaRef = { id: `doc${handle}`, name, ...(size !== undefined && size >= 0 ? { size } : {}) };
      return { type: 'file', ref, url };
    }
    case 'audio_message': {
      const mp3 = httpUrl(a.link_mp3);
      const url = mp3 ?? httpUrl(a.link_ogg);
      if (!url) return undefined;
      const transcript = str(a.transcript);
      return {
        type: 'file',
        ref: { id: `audio_message${handle}`, name: `voice${handle}.${mp3 ? 'mp3' : 'ogg'}`, mime: mp3 ? 'audio/mpeg' : 'audio/ogg' },
        url,
        ...(transcript ? { caption: `[voice message, transcript] ${transcript}` } : {}),
      };
    }
    default:
      return undefined;
  }
}

/** The URL of the biggest image among VK's sizes (photo sizes, sticker images). */
function largest(sizes: unknown[]): string | undefined {
  let best: { url: string; area: number } | undefined;
  for (const s of sizes) {
    const size = obj(s);
    const url = httpUrl(size?.url) ?? httpUrl(size?.src);
    if (!url) continue;
    const area = (int(size?.width) ?? 0) * (int(size?.height) ?? 0);
    if (!best || area > best.area) best = { url, area };
  }
  return best?.url;
}

const vkUrl = (kind: string, a: Obj) => `https://vk.com/${kind}${int(a.owner_id) ?? 0}_${int(a.id) ?? 0}`;

function duration(seconds: number | undefined): string {
  if (seconds === undefined || seconds < 0) return '';
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return `, ${m}:${s}`;
}

/** An attachment as text; '' when the message text already says it all (a link the user typed). */
function readableAttachment(type: string, a: Obj, messageText: string): string | undefined {
  switch (type) {
    case 'video':
      // Bots get no file for a video, only its page.
      return `[video "${clip(str(a.title) ?? 'video', 100)}"${duration(int(a.duration))}] ${vkUrl('video', a)}`;
    case 'audio':
      return `[audio "${clip([str(a.artist), str(a.title)].filter(Boolean).join(' — ') || 'audio', 100)}"${duration(int(a.duration))}]`;
    case 'wall': {
      const text = str(a.text);
      return `[wall post] ${vkUrl('wall', a)}${text ? `\n${clip(text, 500)}` : ''}`;
    }
    case 'wall_reply': {
      const text = str(a.text);
      return `[comment]${text ? ` ${clip(text, 500)}` : ''}`;
    }
    case 'link': {
      const url = httpUrl(a.url);
      if (!url) return '[link]';
      if (messageText.includes(url)) return '';
      const title = str(a.title);
      return `[link${title ? ` "${clip(title, 100)}"` : ''}] ${url}`;
    }
    case 'market':
      return `[product "${clip(str(a.title) ?? 'product', 100)}"] ${vkUrl('product', a)}`;
    case 'poll': {
      const answers = arr(a.answers).map((x, i) => `${i + 1}. ${clip(str(obj(x)?.text) ?? '', 100)}`);
      return [`[poll] ${clip(str(a.question) ?? '', 200)}`, ...answers].join('\n');
    }
    case 'article': {
      const url = httpUrl(a.url);
      return `[article "${clip(str(a.title) ?? 'article', 100)}"]${url ? ` ${url}` : ''}`;
    }
    case 'story':
      return `[story] ${vkUrl('story', a)}`;
    case 'gift':
      return '[gift]';
    case 'call':
      return '[call]';
    default:
      return undefined;
  }
}

function geoText(geo: Obj | undefined): string | undefined {
  const c = obj(geo?.coordinates);
  const lat = typeof c?.latitude === 'number' ? c.latitude : Number(c?.latitude);
  const lon = typeof c?.longitude === 'number' ? c.longitude : Number(c?.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return undefined;
  const place = str(obj(geo?.place)?.title);
  return `Location${place ? ` (${clip(place, 100)})` : ''}: ${lat}, ${lon} — https://maps.google.com/?q=${lat},${lon}`;
}

// ---------------------------------------------------------------------------------------------
// Context: forwarded messages, replies, names

function nameOf(id: number, ctx: NormalizeContext): string {
  if (id < 0) return `community ${-id}`;
  return ctx.names?.get(id) ?? `id${id}`;
}

/** `[forwarded from Name]` blocks, nested ones indented by `»`, at most MAX_FORWARDED in all. */
function forwardedBlock(msg: Obj, ctx: NormalizeContext): string | undefined {
  const lines: string[] = [];
  let shown = 0;
  let total = 0;
  const walk = (list: unknown[], depth: number) => {
    for (const f of list) {
      const fm = obj(f);
      if (!fm) continue;
      total++;
      if (shown >= MAX_FORWARDED) continue;
      shown++;
      const indent = '» '.repeat(depth);
      const from = int(fm.from_id);
      lines.push(`${indent}[forwarded from ${from === undefined ? 'someone' : nameOf(from, ctx)}]`);
      const text = describe(fm);
      for (const line of clip(text, 1000).split('\n')) lines.push(`${indent}${line}`);
      const nested = arr(fm.fwd_messages);
      if (nested.length > 0 && depth + 1 < MAX_FORWARD_DEPTH) walk(nested, depth + 1);
      else total += countDeep(nested);
    }
  };
  walk(arr(msg.fwd_messages), 0);
  if (lines.length === 0) return undefined;
  if (total > shown) lines.push(`[… ${total - shown} more forwarded]`);
  return lines.join('\n');
}

function countDeep(list: unknown[]): number {
  return list.reduce<number>((n, f) => n + 1 + countDeep(arr(obj(f)?.fwd_messages)), 0);
}

/** A short text for a message: its text, else what it holds. For edits, replies and forwards. */
function describe(msg: Obj): string {
  const text = str(msg.text);
  const kinds = arr(msg.attachments)
    .map((a) => str(obj(a)?.type))
    .filter((t): t is string => t !== undefined)
    .map((t) => `[${ATTACHMENT_LABEL[t] ?? t.replace(/_/g, ' ')}]`);
  if (isObj(msg.geo)) kinds.push('[location]');
  const fwd = arr(msg.fwd_messages).length;
  if (fwd > 0 && !text) kinds.push(`[${fwd} forwarded]`);
  return [text, ...kinds].filter(Boolean).join(' ') || '[message]';
}

const ATTACHMENT_LABEL: Record<string, string> = {
  photo: 'photo',
  doc: 'file',
  audio_message: 'voice message',
  video: 'video',
  sticker: 'sticker',
  wall: 'wall post',
  link: 'link',
  graffiti: 'graffiti',
};

/** JSON-clean copy: no undefined-valued keys. */
function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
