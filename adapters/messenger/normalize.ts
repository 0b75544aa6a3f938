/**
 * Pure Messenger / Instagram webhook → Custom App messages (DESIGN.md §10). One POST may batch
 * several entries and `messaging[]` events; each is its own event, deduped on the message's `mid`.
 * The conversation is the user's page-scoped id (PSID) or Instagram-scoped id (IGSID).
 *
 * Attachment URLs are Meta CDN links without a token that expire; they reach Blinger only through
 * the bridge's signed /media links (the ref id is the CDN URL, fetched on demand).
 *
 * Loose JSON everywhere: an odd field becomes a skip with a reason, never an exception.
 */
import type { InboundEvent, InboundMessage, MediaRef, MessageType } from '../../src/adapter.js';
import type { Platform } from './platform.js';

/** Our sends carry this `metadata`; Messenger echoes it back, so our own messages are recognised. */
export const ECHO_MARKER = 'blinger-bridge';

export interface NormalizeContext {
  platform: Platform;
  mediaLink(ref: MediaRef): string;
  /** Only entries of this account are read (one Meta app may serve several Pages). */
  accountId: string;
  /** Echoes from this Meta app (app_id) are ours too. */
  appId?: string;
  /** The "Get Started" postback payload: a start for a bot flow. */
  getStartedPayload: string;
}

export interface MsgEvent {
  dedupeId: string;
  clientId: string;
  messages: InboundMessage[];
  event: InboundEvent;
}

export interface MsgSkip {
  id: string;
  reason: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj | undefined => (isObj(v) ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
/** Graph ids arrive as strings; be lenient with numbers. */
const id = (v: unknown): string | undefined => str(v) ?? (num(v) !== undefined && Number.isSafeInteger(v) ? String(v) : undefined);

export const SCOPED_ID = /^\d{5,30}$/;

export function normalizeWebhook(body: Obj, ctx: NormalizeContext): { events: MsgEvent[]; skipped: MsgSkip[] } {
  const events: MsgEvent[] = [];
  const skipped: MsgSkip[] = [];
  for (const raw of arr(body.entry)) {
    const entry = obj(raw);
    if (!entry) continue;
    const entryId = id(entry.id);
    if (entryId !== undefined && entryId !== ctx.accountId) {
      skipped.push({ id: entryId, reason: `for account ${entryId}, not this channel's` });
      continue;
    }
    // `standby` holds events for another app that has the conversation (handover protocol): not ours.
    for (const ev of arr(entry.messaging)) {
      const r = normalizeEvent(obj(ev) ?? {}, ctx);
      if ('reason' in r) skipped.push(r);
      else events.push(r);
    }
  }
  return { events, skipped };
}

interface Part {
  type: MessageType;
  data: string;
}

/** One `messaging[]` event → messages and a bot-flow event, or why it is skipped. */
export function normalizeEvent(ev: Obj, ctx: NormalizeContext): MsgEvent | MsgSkip {
  const p = ctx.platform;
  const sender = id(obj(ev.sender)?.id);
  const recipient = id(obj(ev.recipient)?.id);
  const message = obj(ev.message);
  const echo = message?.is_echo === true;
  const clientId = echo ? recipient : sender;
  const mid = str(message?.mid) ?? str(obj(ev.postback)?.mid) ?? str(obj(ev.reaction)?.mid);
  const label = mid ?? '?';
  if (!clientId || !SCOPED_ID.test(clientId)) return { id: label, reason: 'event without a user id' };

  let result: { parts: Part[]; event: InboundEvent; dedupe: string; phone?: string } | string;
  try {
    if (message && echo) result = echoOf(message, ctx);
    else if (message) result = messageOf(message, ctx);
    else if (obj(ev.postback)) result = postbackOf(obj(ev.postback)!, ev, ctx);
    else if (obj(ev.reaction)) result = reactionOf(obj(ev.reaction)!, ev);
    else result = `${Object.keys(ev).find((k) => !['sender', 'recipient', 'timestamp'].includes(k)) ?? 'empty'} event`;
  } catch (err) {
    result = `could not normalize: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (typeof result === 'string') return { id: label, reason: result };

  const idKey = p.type === 'messenger' ? 'psid' : 'igsid';
  const info = clean({
    [idKey]: clientId,
    message_id: mid,
    reply_to: str(obj(message?.reply_to)?.mid),
  });
  const messages = result.parts.map(
    (part) =>
      clean({
        client_id: clientId,
        client_phone: result.phone,
        info: { ...info },
        type: part.type,
        data: part.data,
        echo: echo ? true : undefined,
        echo_outgoing: echo ? true : undefined,
      }) as unknown as InboundMessage,
  );
  return { dedupeId: `${p.prefix}:${result.dedupe}`, clientId, messages, event: { chat: 'private', ...result.event } };
}

/** A message the Page / account sent: ours (skipped) or written elsewhere (an echo for Blinger). */
function echoOf(message: Obj, ctx: NormalizeContext): { parts: Part[]; event: InboundEvent; dedupe: string } | string {
  const mid = str(message.mid);
  if (!mid) return 'echo without a mid';
  if (message.metadata === ECHO_MARKER) return 'echo of a message the bridge sent';
  if (ctx.appId !== undefined && id(message.app_id) === ctx.appId) return 'echo of a message this app sent';
  const parts = contentParts(message, ctx);
  if (parts.length === 0) return 'echo with no content';
  // Written in the Page inbox (or by another app): the agents' side; a bot flow leaves it to them.
  return { parts, event: {}, dedupe: mid };
}

function messageOf(message: Obj, ctx: NormalizeContext): { parts: Part[]; event: InboundEvent; dedupe: string; phone?: string } | string {
  const mid = str(message.mid);
  if (!mid) return 'message without a mid';
  if (message.is_deleted === true) return 'message deleted by the user';
  if (message.is_unsupported === true) {
    return { parts: [{ type: 'text', data: `[a message ${ctx.platform.name} does not pass on to businesses]` }], event: {}, dedupe: mid };
  }
  const text = str(message.text);
  const quick = obj(message.quick_reply);
  const payload = str(quick?.payload);
  if (payload !== undefined) {
    const phone = phoneOf(payload, text);
    if (phone) return { parts: [{ type: 'text', data: `Phone: ${phone}` }], event: { phone }, dedupe: mid, phone };
    const label = text ?? payload;
    return {
      parts: [{ type: 'text', data: `[button] ${label}` }],
      event: { button: text ? { data: payload, label: text } : { data: payload } },
      dedupe: mid,
    };
  }
  const parts = contentParts(message, ctx);
  if (parts.length === 0) return 'message with no supported content';
  const replyTo = obj(message.reply_to);
  if (replyTo && (str(replyTo.mid) || obj(replyTo.story))) {
    const marker = obj(replyTo.story) ? '[reply to a story]\n' : '[reply to an earlier message]\n';
    const first = parts.find((p) => p.type === 'text');
    if (first) first.data = marker + first.data;
    else parts.push({ type: 'text', data: marker.trim() });
  }
  return { parts, event: text ? { text } : {}, dedupe: mid };
}

/** The quick reply of content_type user_phone_number sends the number as its payload and text. */
function phoneOf(payload: string, text: string | undefined): string | undefined {
  if (!/^\+?[\d\s().-]{6,24}$/.test(payload)) return undefined;
  const digits = payload.replace(/\D/g, '');
  if (digits.length < 6 || (text !== undefined && text.replace(/\D/g, '') !== digits)) return undefined;
  return `+${digits}`;
}

/** Text, then each attachment: images as `image`, other files as `file` (signed links), the rest as text. */
function contentParts(message: Obj, ctx: NormalizeContext): Part[] {
  const parts: Part[] = [];
  const text = str(message.text);
  if (text) parts.push({ type: 'text', data: text });
  arr(message.attachments).forEach((raw, i) => {
    const a = obj(raw);
    if (!a) return;
    const part = attachmentPart(a, i, str(message.mid) ?? 'message', ctx);
    if (part) parts.push(part);
  });
  return parts;
}

const FILE_KINDS: Record<string, { type: MessageType; label: string; ext?: string }> = {
  image: { type: 'image', label: 'image', ext: 'jpg' },
  sticker: { type: 'image', label: 'sticker', ext: 'png' },
  video: { type: 'file', label: 'video', ext: 'mp4' },
  audio: { type: 'file', label: 'audio', ext: 'mp4' },
  file: { type: 'file', label: 'file' },
  ig_reel: { type: 'file', label: 'reel', ext: 'mp4' },
  reel: { type: 'file', label: 'reel', ext: 'mp4' },
  story_mention: { type: 'file', label: 'story mention' },
};

function attachmentPart(a: Obj, index: number, mid: string, ctx: NormalizeContext): Part | undefined {
  const type = str(a.type) ?? 'attachment';
  const payload = obj(a.payload);
  const url = str(payload?.url);
  const kind = Object.hasOwn(FILE_KINDS, type) ? FILE_KINDS[type] : undefined;
  if (kind && url && /^https?:\/\//i.test(url)) {
    const name = fileName(url) ?? `${type}_${mid.slice(-8).replace(/[^A-Za-z0-9]/g, '')}_${index + 1}${kind.ext ? `.${kind.ext}` : ''}`;
    return { type: kind.type, data: ctx.mediaLink({ id: url, name }) };
  }
  const coords = obj(payload?.coordinates);
  if (type === 'location' && num(coords?.lat) !== undefined && num(coords?.long) !== undefined) {
    const lat = num(coords!.lat)!;
    const lon = num(coords!.long)!;
    return { type: 'text', data: `Location: ${lat}, ${lon} — https://maps.google.com/?q=${lat},${lon}` };
  }
  const title = str(a.title) ?? str(payload?.title);
  const link = type === 'fallback' || type === 'share' || type === 'template' ? (str(a.url) ?? url) : undefined;
  return { type: 'text', data: [`[${(kind?.label ?? type).replace(/_/g, ' ')}]`, title, link].filter(Boolean).join(' ') };
}

function fileName(url: string): string | undefined {
  try {
    const last = new URL(url).pathname.split('/').pop() ?? '';
    return /^[\w.-]{1,120}\.[A-Za-z0-9]{2,5}$/.test(last) ? last : undefined;
  } catch {
    return undefined;
  }
}

/** A tap on a button: `[button] <title>`; the Page's "Get Started" is the conversation's start. */
function postbackOf(pb: Obj, ev: Obj, ctx: NormalizeContext): { parts: Part[]; event: InboundEvent; dedupe: string } | string {
  const payload = str(pb.payload);
  const title = str(pb.title);
  if (!payload) return 'postback without a payload';
  const dedupe = str(pb.mid) ?? `postback:${id(obj(ev.sender)?.id)}:${num(ev.timestamp) ?? 0}`;
  if (payload === ctx.getStartedPayload) {
    const ref = str(obj(pb.referral)?.ref);
    return { parts: [{ type: 'text', data: `[${title ?? 'Get Started'}]` }], event: { start: ref ? { payload: ref } : {} }, dedupe };
  }
  return {
    parts: [{ type: 'text', data: `[button] ${title ?? payload}` }],
    event: { button: title ? { data: payload, label: title } : { data: payload } },
    dedupe,
  };
}

/** A reaction to a message: shown to agents; a bot flow keeps it without answering (like an edit). */
function reactionOf(r: Obj, ev: Obj): { parts: Part[]; event: InboundEvent; dedupe: string } | string {
  if (r.action !== 'react') return 'reaction removed';
  const emoji = str(r.emoji) ?? str(r.reaction);
  if (!emoji) return 'reaction without an emoji';
  const dedupe = `reaction:${str(r.mid) ?? '?'}:${id(obj(ev.sender)?.id)}:${num(ev.timestamp) ?? 0}`;
  return { parts: [{ type: 'text', data: `[reaction ${emoji}]` }], event: { edit: true }, dedupe };
}

function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
