/**
 * Pure WhatsApp Cloud API webhook → Custom App messages (DESIGN.md §10). No I/O, no token: media
 * leave only as media ids handed to ctx.mediaLink, which signs a /media URL (WhatsApp's own media
 * URLs live five minutes and need the token).
 *
 * One POST may batch several entries × changes × messages/statuses (docs/vendors/meta.md §2); each
 * message is its own event with its own dedupe id (the wamid), so a redelivered batch is a no-op.
 *
 * The conversation is the user's business-scoped user ID (BSUID, `from_user_id` / `user_id`):
 * since April 2026 every messages webhook carries it, while the phone number (`from` / `wa_id`)
 * disappears for users with a username who have not been in touch for 30 days. Keying on the
 * phone would split one customer's history in two the day their number stops coming; the BSUID
 * stays (it changes only with the number, and WhatsApp then sends a `system` message, passed on).
 * Payloads without a BSUID (older API versions) fall back to the phone number.
 *
 * Webhooks arrive from the network: everything is read as loose JSON and checked; an odd field
 * becomes a skip with a reason, never an exception.
 */
import type { InboundEvent, InboundMessage, MediaRef, MessageType } from '../../src/adapter.js';
import { extensionFor } from '../../src/toolkit/index.js';

export interface NormalizeContext {
  /** Builds the signed /media URL for a WhatsApp media id. */
  mediaLink(ref: MediaRef): string;
  /** Whether a bot flow greets users: then WhatsApp's `request_welcome` becomes a start. */
  botFlow: boolean;
  /** The template sent to re-open a conversation, for the agent's notice (settings.template). */
  template?: { name: string; language: string };
}

/** One event of a webhook POST: what one message (or failed status) becomes. */
export interface WaEvent {
  dedupeId: string;
  clientId: string;
  messages: InboundMessage[];
  event?: InboundEvent;
  /** A failed send outside the 24-hour window: the conversation may be re-opened with the template. */
  reopen?: boolean;
}

export interface WaSkip {
  id: string;
  reason: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj | undefined => (isObj(v) ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
/** A table lookup that never reaches Object.prototype (`constructor`, `__proto__` come from the network). */
const own = <T>(table: Record<string, T>, key: string): T | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v)
    ? v
    : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
      ? Number(v)
      : undefined;

/** `CC.` + up to 128 alphanumerics (parent BSUIDs: `CC.ENT.…`). */
export const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;
const PHONE_DIGITS = /^\d{5,20}$/;

/** Whether a client_id names a WhatsApp user this adapter can send to. */
export function isWhatsAppClientId(id: string): boolean {
  return BSUID.test(id) || PHONE_DIGITS.test(id);
}

/** Every message and failed status of a webhook body, in order, and what was skipped and why. */
export function normalizeWebhook(
  body: Obj,
  phoneNumberId: string | undefined,
  ctx: NormalizeContext,
): { events: WaEvent[]; skipped: WaSkip[] } {
  const events: WaEvent[] = [];
  const skipped: WaSkip[] = [];
  for (const entry of arr(body.entry)) {
    for (const change of arr(obj(entry)?.changes)) {
      const c = obj(change);
      const value = obj(c?.value);
      if (!c || !value) continue;
      if (c.field !== 'messages') {
        skipped.push({ id: String(c.field ?? '?'), reason: `"${String(c.field)}" field (the bridge reads "messages")` });
        continue;
      }
      const number = str(obj(value.metadata)?.phone_number_id);
      if (phoneNumberId !== undefined && number !== undefined && number !== phoneNumberId) {
        skipped.push({ id: number, reason: `for phone number id ${number}, not this channel's` });
        continue;
      }
      for (const m of arr(value.messages)) {
        const r = normalizeMessage(obj(m) ?? {}, arr(value.contacts), ctx);
        if ('reason' in r) skipped.push(r);
        else events.push(r);
      }
      for (const s of arr(value.statuses)) {
        const r = normalizeStatus(obj(s) ?? {}, ctx);
        if ('reason' in r) skipped.push(r);
        else events.push(r);
      }
    }
  }
  return { events, skipped };
}

// ---------------------------------------------------------------------------------------------
// Messages

interface Part {
  type: MessageType;
  data: string;
}

interface Content {
  parts: Part[];
  event: InboundEvent;
  /** The sender's own phone number, shared as a contact card. */
  phone?: string;
}

/** One user message → its messages for Blinger and its event for a bot flow, or why it is skipped. */
export function normalizeMessage(msg: Obj, contacts: unknown[], ctx: NormalizeContext): WaEvent | WaSkip {
  const id = str(msg.id);
  if (!id) return { id: '?', reason: 'message without an id' };
  if (str(msg.group_id)) return { id, reason: 'group message (the bridge connects one-to-one chats)' };
  const waId = str(msg.from);
  const contact = findContact(contacts, str(msg.from_user_id), waId);
  const userId = str(msg.from_user_id) ?? str(contact?.user_id);
  const phoneDigits = waId ?? str(contact?.wa_id);
  const clientId = userId ?? phoneDigits;
  if (!clientId || !isWhatsAppClientId(clientId)) return { id, reason: 'message without a sender (from_user_id or from)' };

  let content: Content | string;
  try {
    content = readContent(msg, ctx, phoneDigits);
  } catch (err) {
    // Belt and braces: the checks should make this unreachable; one odd message must not fail a batch.
    content = `could not normalize: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (typeof content === 'string') return { id, reason: content };

  const { parts, event } = content;
  const prefix = contextLines(msg);
  if (prefix) {
    const first = parts.find((p) => p.type === 'text');
    if (first) first.data = prefix + first.data;
    else parts.push({ type: 'text', data: prefix + describe(msg) });
  }
  const profile = obj(contact?.profile);
  const username = str(profile?.username);
  const info = clean({
    wa_id: phoneDigits,
    user_id: userId,
    username,
    message_id: id,
    reply_to: msg.type !== 'interactive' && msg.type !== 'button' ? str(obj(msg.context)?.id) : undefined,
    referral: referralOf(msg),
  });
  const phone = content.phone ?? (phoneDigits ? `+${phoneDigits}` : undefined);
  const name = str(profile?.name) ?? (username ? `@${username}` : undefined);
  const messages = parts.map(
    (p) =>
      clean({
        client_id: clientId,
        client_name: name,
        client_phone: phone,
        info: { ...info },
        type: p.type,
        data: p.data,
      }) as unknown as InboundMessage,
  );
  return { dedupeId: `wa:${id}`, clientId, messages, event: { chat: 'private', ...event } };
}

function findContact(contacts: unknown[], userId: string | undefined, waId: string | undefined): Obj | undefined {
  const list = contacts.map(obj).filter((c): c is Obj => c !== undefined);
  return (
    list.find((c) => (userId !== undefined && c.user_id === userId) || (waId !== undefined && c.wa_id === waId)) ??
    (list.length === 1 ? list[0] : undefined)
  );
}

/** Media kinds: the Custom App type and the label for agents. */
const MEDIA: Record<string, { type: MessageType; label: string }> = {
  image: { type: 'image', label: 'photo' },
  sticker: { type: 'image', label: 'sticker' },
  video: { type: 'file', label: 'video' },
  audio: { type: 'file', label: 'audio' },
  document: { type: 'file', label: 'file' },
};

function readContent(msg: Obj, ctx: NormalizeContext, senderPhone: string | undefined): Content | string {
  const type = str(msg.type) ?? 'unknown';
  const body = Object.hasOwn(msg, type) ? obj(msg[type]) : undefined;
  switch (type) {
    case 'text': {
      const text = str(body?.body);
      if (!text) return 'text message without a body';
      // "/start <payload>" — what a wa.me link with ?text=/start%20<payload> makes the user send:
      // a start for a bot flow, like Telegram's deep links.
      const start = /^\/start(?:\s+(\S[\s\S]*))?$/.exec(text.trim());
      const payload = start?.[1]?.trim();
      return { parts: [{ type: 'text', data: text }], event: { text, ...(start ? { start: payload ? { payload } : {} } : {}) } };
    }
    case 'image':
    case 'sticker':
    case 'video':
    case 'audio':
    case 'document':
      return mediaContent(type, body, ctx);
    case 'location':
      return locationContent(body);
    case 'contacts':
      return contactsContent(arr(msg.contacts), senderPhone);
    case 'interactive':
      return interactiveContent(body);
    case 'button': {
      // A quick-reply button of a template message.
      const label = str(body?.text);
      const data = str(body?.payload) ?? label;
      if (!data) return 'template button without a payload';
      return { parts: [{ type: 'text', data: `[button] ${label ?? data}` }], event: { button: label ? { data, label } : { data } } };
    }
    case 'reaction': {
      const emoji = str(body?.emoji);
      if (!emoji) return 'reaction removed';
      // Shown to agents; a bot flow keeps it in the transcript without answering (like an edit).
      return { parts: [{ type: 'text', data: `[reaction ${emoji}]` }], event: { edit: true } };
    }
    case 'request_welcome':
      // The user opened the chat for the first time (Welcome messages, WhatsApp Manager → Automations).
      if (!ctx.botFlow) return 'request_welcome (no bot flow to greet the user)';
      return { parts: [{ type: 'text', data: '[opened the chat]' }], event: { start: {} } };
    case 'system': {
      const text = str(body?.body) ?? str(body?.type) ?? 'account change';
      return { parts: [{ type: 'text', data: `[WhatsApp: ${text}]` }], event: { edit: true } };
    }
    case 'unsupported':
    default:
      return unsupportedContent(type, msg);
  }
}

function mediaContent(kind: string, media: Obj | undefined, ctx: NormalizeContext): Content | string {
  const id = str(media?.id);
  if (!media || !id) return `${kind} without a media id`;
  const m = MEDIA[kind]!;
  const mime = (str(media.mime_type) ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
  const voice = kind === 'audio' && media.voice === true;
  const name = str(media.filename) ?? `${voice ? 'voice' : kind}_${id}${extensionFor(mime)}`;
  const parts: Part[] = [{ type: m.type, data: ctx.mediaLink({ id, mime, name }) }];
  const caption = str(media.caption);
  if (caption) parts.push({ type: 'text', data: caption });
  return { parts, event: caption ? { text: caption } : {} };
}

function locationContent(loc: Obj | undefined): Content | string {
  const lat = num(loc?.latitude);
  const lon = num(loc?.longitude);
  if (lat === undefined || lon === undefined) return 'location without coordinates';
  const lines = [
    str(loc!.name) ? `Location: ${str(loc!.name)}` : 'Location',
    str(loc!.address),
    `${lat}, ${lon} — https://maps.google.com/?q=${lat},${lon}`,
  ];
  return { parts: [{ type: 'text', data: lines.filter(Boolean).join('\n') }], event: {} };
}

/**
 * Shared contact cards as text. A card is the sender's own number when WhatsApp says it answers
 * the business's request for it (`origin: contact_request`, 2026) or its wa_id is the sender's.
 */
function contactsContent(cards: unknown[], senderPhone: string | undefined): Content | string {
  const lines: string[] = [];
  let own: string | undefined;
  for (const raw of cards) {
    const card = obj(raw);
    if (!card) continue;
    const name = str(obj(card.name)?.formatted_name);
    const phones = arr(card.phones)
      .map(obj)
      .filter((p): p is Obj => p !== undefined);
    const numbers = phones.map((p) => str(p.phone) ?? (str(p.wa_id) ? `+${str(p.wa_id)}` : undefined)).filter((p): p is string => !!p);
    lines.push(`Contact: ${[name, ...numbers].filter(Boolean).join(', ') || 'no details'}`);
    const requested = card.origin === 'contact_request';
    for (const p of phones) {
      const waId = str(p.wa_id);
      if (own === undefined && (requested || (waId !== undefined && waId === senderPhone))) {
        own = waId ? `+${waId}` : international(str(p.phone));
      }
    }
  }
  if (lines.length === 0) return 'contacts message without cards';
  return { parts: [{ type: 'text', data: lines.join('\n') }], event: own ? { phone: own } : {}, ...(own ? { phone: own } : {}) };
}

function international(phone: string | undefined): string | undefined {
  const digits = phone?.replace(/[^\d]/g, '');
  return digits && digits.length >= 5 ? `+${digits}` : undefined;
}

/** A tap on a reply button or a list row the bot sent: `[button] <title>`, and the id for a bot flow. */
function interactiveContent(i: Obj | undefined): Content | string {
  const kind = str(i?.type);
  const reply = obj(i?.button_reply) ?? obj(i?.list_reply);
  if ((kind === 'button_reply' || kind === 'list_reply') && reply) {
    const data = str(reply.id);
    const label = str(reply.title);
    if (!data) return `${kind} without an id`;
    return { parts: [{ type: 'text', data: `[button] ${label ?? data}` }], event: { button: label ? { data, label } : { data } } };
  }
  if (kind === 'nfm_reply') {
    const form = obj(i?.nfm_reply);
    return { parts: [{ type: 'text', data: `[form submitted] ${str(form?.body) ?? str(form?.response_json) ?? ''}`.trim() }], event: {} };
  }
  return `interactive reply of type ${kind ?? 'unknown'}`;
}

/** Messages WhatsApp does not pass to businesses (polls, edits…): the agent should know one came. */
function unsupportedContent(type: string, msg: Obj): Content {
  const error = obj(arr(msg.errors)[0]);
  const code = num(error?.code);
  const named = str(obj(msg.unsupported)?.type) ?? (type === 'unsupported' ? undefined : type);
  const kind = named !== undefined && /^[a-z][a-z0-9_]{0,40}$/.test(named) ? named : undefined;
  if (code === 131060) {
    return { parts: [{ type: 'text', data: '[a message WhatsApp cannot show yet; ask the user to send it again]' }], event: {} };
  }
  const what = kind ? ` (${kind.replace(/_/g, ' ')})` : '';
  return {
    parts: [{ type: 'text', data: `[a message WhatsApp does not pass on to businesses${what}]` }],
    event: kind === 'edit' ? { edit: true } : {},
  };
}

/** `[forwarded]` and `[reply to an earlier message]` markers, each on its own line. */
function contextLines(msg: Obj): string {
  const c = obj(msg.context);
  if (!c) return '';
  let lines = '';
  if (c.frequently_forwarded === true) lines += '[forwarded many times]\n';
  else if (c.forwarded === true) lines += '[forwarded]\n';
  // A button tap carries the context of the bot's message: not a reply the agent needs to see.
  if (str(c.id) && msg.type !== 'interactive' && msg.type !== 'button') lines += '[reply to an earlier message]\n';
  return lines;
}

function describe(msg: Obj): string {
  const type = str(msg.type) ?? 'message';
  return `[${own(MEDIA, type)?.label ?? type}]`;
}

/** A Click-to-WhatsApp ad the user came from. */
function referralOf(msg: Obj): Obj | undefined {
  const r = obj(msg.referral);
  if (!r) return undefined;
  const out = clean({
    source_type: str(r.source_type),
    source_id: str(r.source_id),
    source_url: str(r.source_url),
    headline: str(r.headline),
    ctwa_clid: str(r.ctwa_clid),
  });
  return Object.keys(out).length > 0 ? out : undefined;
}

// ---------------------------------------------------------------------------------------------
// Statuses

/**
 * A `failed` status of something the business sent (an agent's reply, a bot answer) becomes a
 * notice to the agent in that conversation (an outgoing echo). Other statuses are not messages.
 */
export function normalizeStatus(s: Obj, ctx: NormalizeContext): WaEvent | WaSkip {
  const id = str(s.id) ?? '?';
  const status = str(s.status) ?? 'unknown';
  if (status !== 'failed') return { id, reason: `${status} status` };
  const clientId = str(s.recipient_user_id) ?? str(s.recipient_id);
  if (!clientId || !isWhatsAppClientId(clientId)) return { id, reason: 'failed status without a recipient' };
  const error = obj(arr(s.errors)[0]);
  const code = num(error?.code);
  const detail = str(obj(error?.error_data)?.details) ?? str(error?.message) ?? str(error?.title);
  const data = describeFailure(code, detail, ctx.template);
  return {
    dedupeId: `wa:failed:${id}`,
    clientId,
    messages: [
      { client_id: clientId, type: 'text', data, echo: true, echo_outgoing: true, info: clean({ message_id: id, error_code: code }) },
    ],
    // Not the user's doing: a bot flow keeps it in the transcript without answering.
    event: { chat: 'private', edit: true },
    ...(code === 131047 ? { reopen: true } : {}),
  };
}

/** The sentence an agent reads about a send WhatsApp refused (also used for refusals at send time). */
export function describeFailure(code: number | undefined, detail: string | undefined, template?: { name: string }): string {
  switch (code) {
    case 131047:
      return (
        'Not delivered: more than 24 hours have passed since the customer last wrote, and WhatsApp then ' +
        'delivers only approved templates' +
        (template
          ? `. The bridge sends the template "${template.name}" (at most once a day per conversation); write again once the customer answers.`
          : '. Ask the customer to write first, or configure a re-opening template (adapter setting "template").')
      );
    case 131026:
      return "Not delivered: WhatsApp could not deliver to this user (not on WhatsApp, an outdated app, or WhatsApp's terms not accepted).";
    case 131050:
      return 'Not delivered: the user stopped marketing messages from this business.';
    case 130403:
    case 131021:
      return 'Not delivered: WhatsApp does not allow messages to this user from this number.';
    case 131052:
    case 131053:
      return `Not delivered: WhatsApp could not take the file${detail ? ` (${detail})` : ''}. Try another format or a smaller file.`;
    default:
      return `Not delivered: WhatsApp refused the message${code !== undefined ? ` (error ${code}${detail ? `: ${detail}` : ''})` : ''}.`;
  }
}

/** JSON-clean copy: no undefined-valued keys. */
function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
