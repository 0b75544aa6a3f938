/**
 * The web chat's wire protocol — the client API that the chat page and mobile apps speak
 * (docs/client-api.md is its reference): JSON text frames over one WebSocket per page, plus one
 * HTTP POST per uploaded file.
 *
 * Page → bridge:
 *   {type:"hello", version?, key, name?, phone?, page?, referrer?, language?}   first frame, once
 *   {type:"profile", name?, phone?}                                    the visitor filled the form
 *   {type:"message", id, text}                                         id: the page's message id
 *   {type:"button", id, data}                                          the visitor pressed a button of a bot message
 *                                                                      (data must be on a keyboard in their history)
 *   {type:"phone", id, phone, name?}                                   the visitor shared their phone (a bot asked, or not)
 *   {type:"resend", id, of}                                            send an undelivered message of theirs again, as `id`
 *   {type:"ping"}
 * Bridge → page:
 *   {type:"welcome", version, clientId, history:[entry…], limits, hours?}   also after a Redis reconnect
 *   {type:"ack", id, status:"queued"|"duplicate", entry}              the message, press or phone is durable ("sent")
 *   {type:"message", entry}                                            agent or bot reply, or own message from another tab (never the sending tab)
 *   {type:"status", id, status:"delivered"|"failed"|"resent"}          what became of a visitor's message
 *   {type:"error", code, message, id?, limit?, retryAfterMs?}          this frame was refused; the socket stays
 *       code: bad_frame (names the problem), hello_first, unknown_button (not a button of this chat),
 *       not_resendable, rate_limited (limit names the quota), unavailable (try again)
 *   {type:"pong"}
 * An entry: {id, from:"visitor"|"agent", type, data, name?, size?, at, keyboard?, kind?, status?}; a
 * bot reply's `keyboard` is {buttons:[[{label, data}…]…]} | {requestPhone: label} | {remove: true}
 * (src/message.ts ReplyKeyboard); a visitor entry's `kind` is "button" (data: the label) or
 * "phone" (data: "Contact: <name>, <phone>"), its `status` what became of it once known.
 * In a channel with a bot flow (or middleware), the first hello of a visitor with no history
 * starts the conversation — the web chat's Telegram /start: the bot's greeting and menu arrive
 * as `message` frames.
 * Close codes: 4403 origin not allowed, 4404 unknown chat, 4408 no hello in time, 4426 protocol
 * version not supported, 4429 too many tabs or a quota, 1008 too many bad frames.
 *
 * The visitor's `key` is a random secret kept in the page's localStorage. The conversation id
 * Blinger sees (`client_id`) is derived from it by hashing, so knowing a client_id — agents,
 * logs, Redis keys — does not let anyone read or write that visitor's chat.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MAX_BUTTON_DATA_BYTES, type ReplyKeyboard } from '../../src/adapter.js';

/** The protocol version this server speaks: a client of another major version is refused. */
export const PROTOCOL_VERSION = '1.0';
export const PROTOCOL_MAJOR = 1;

export const MAX_TEXT = 5000;
/** Larger frames close the socket (1009) before they are parsed. */
export const MAX_FRAME_BYTES = 64 * 1024;

export const visitorKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{22,128}$/, 'expected 22-128 characters of A-Z, a-z, 0-9, _ and - (the key the page keeps in localStorage)');
export const messageId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'expected 8-64 characters of A-Z, a-z, 0-9, _ and -');

const optionalText = (max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z.string().trim().max(max, `must be at most ${max} characters`).optional(),
  );

const name = optionalText(100);
/**
 * The one phone rule, for the server and the page (its input's `pattern`, and its own check):
 * every special character escaped, so the source is valid both as a plain RegExp and in the `v`
 * mode browsers compile `pattern` attributes in.
 */
export const PHONE_PATTERN = '\\+?[0-9][0-9 \\(\\)\\.\\-]{2,30}';
const PHONE_RE = new RegExp(`^(?:${PHONE_PATTERN})$`);
const PHONE_MESSAGE = 'expected a phone number: digits, spaces, +, -, ( and )';
const phone = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
  z.string().trim().regex(PHONE_RE, PHONE_MESSAGE).optional(),
);
/** The phone a visitor shares (a `phone` frame): required. */
const sharedPhone = z.string({ error: 'expected a string' }).trim().regex(PHONE_RE, PHONE_MESSAGE);

/** A button's data: what the bot put on it (at most 64 bytes, Telegram's callback_data limit, as src/flow checks). */
const buttonData = z
  .string({ error: 'expected a string' })
  .min(1, 'must not be empty')
  .refine(
    (v) => Buffer.byteLength(v) <= MAX_BUTTON_DATA_BYTES,
    `must be at most ${MAX_BUTTON_DATA_BYTES} bytes (the data of a button the bot sent)`,
  );

/** Where the visitor is: sent with the hello and with each upload, forwarded to Blinger in `info`. */
export const visitorContext = z.object({
  name,
  phone,
  page: optionalText(2000),
  referrer: optionalText(2000),
  language: optionalText(35),
});

export type VisitorContext = z.output<typeof visitorContext>;

export const clientFrame = z.discriminatedUnion(
  'type',
  [
    visitorContext.extend({
      type: z.literal('hello'),
      key: visitorKey,
      version: z
        .string({ error: 'expected a string such as "1.0"' })
        .regex(/^\d{1,4}(\.\d{1,4})?$/, 'expected "<major>.<minor>" such as "1.0"')
        .optional(),
    }),
    z.object({ type: z.literal('profile'), name, phone }),
    z.object({
      type: z.literal('message'),
      id: messageId,
      text: z
        .string({ error: 'expected a string' })
        .trim()
        .min(1, 'must not be empty')
        .max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`),
    }),
    z.object({ type: z.literal('button'), id: messageId, data: buttonData }),
    z.object({ type: z.literal('phone'), id: messageId, phone: sharedPhone, name }),
    z.object({ type: z.literal('resend'), id: messageId, of: messageId }),
    z.object({ type: z.literal('ping') }),
  ],
  { error: 'expected type to be one of hello, profile, message, button, phone, resend, ping' },
);

export type ClientFrame = z.output<typeof clientFrame>;

/** A chat entry as the page shows it. */
export interface ChatEntry {
  id: string;
  from: 'visitor' | 'agent';
  type: 'text' | 'image' | 'file';
  /** The text, or the URL of the image/file. */
  data: string;
  /** File name and size of a visitor's upload. */
  name?: string;
  size?: number;
  at: number;
  /** A bot reply's buttons, phone request, or "hide the phone request". */
  keyboard?: ReplyKeyboard;
  /** A visitor entry that is not typed text: a button press (data: its label) or a shared phone. */
  kind?: 'button' | 'phone';
  /** A visitor entry's fate, once known (no status: sent, i.e. durable in the bridge). */
  status?: EntryStatus;
}

/** Delivered: Blinger accepted it. Failed: it could not be delivered. Resent: failed, and sent again as a new entry. */
export type EntryStatus = 'delivered' | 'failed' | 'resent';

/** What a client may send, told in the welcome so an app needn't hard-code it. */
export interface ClientLimits {
  maxTextChars: number;
  maxUploadBytes: number;
  messagesPerMinute: number;
  uploadBytesPerDay: number;
}

export interface Welcome {
  type: 'welcome';
  version: string;
  clientId: string;
  history: ChatEntry[];
  limits: ClientLimits;
  /** Only when the channel has opening hours: whether agents answer now, else when they next do (ms). */
  hours?: { open: boolean; opensAt?: number };
}

export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  id?: string;
  /** rate_limited: the quota's name, as in the channel's settings. */
  limit?: string;
  retryAfterMs?: number;
}

export type ServerFrame =
  | Welcome
  | { type: 'ack'; id: string; status: 'queued' | 'duplicate'; entry: ChatEntry }
  | { type: 'message'; entry: ChatEntry }
  | { type: 'status'; id: string; status: EntryStatus }
  | ErrorFrame
  | { type: 'pong' };

/** The major version of a hello's `version` (absent: 1, the pages from before it was sent). */
export function majorOf(version: string | undefined): number {
  return version === undefined ? 1 : Number(version.split('.')[0]);
}

/** The client_id Blinger sees for a visitor key. */
export function clientIdOf(key: string): string {
  return `web-${createHash('sha256').update(`blinger-bridge/webchat:${key}`).digest('base64url').slice(0, 22)}`;
}

/** Parses a frame; issues carry their input, so "missing" and "wrong type" read differently. */
export function parseClientFrame(json: unknown): ReturnType<typeof clientFrame.safeParse> {
  return clientFrame.safeParse(json, { reportInput: true });
}

/** One readable line per problem, naming the field (parse with `reportInput`, as parseClientFrame does). */
export function describeFrameIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const field = i.path.map(String).join('.');
      if (!field && i.code === 'invalid_type')
        return 'expected a JSON object with a "type": hello, profile, message, button, phone, resend or ping';
      const msg = i.code === 'invalid_type' && i.input === undefined ? 'is required' : i.message;
      return field ? `${field}: ${msg}` : msg;
    })
    .join('; ');
}

/** The text a shared phone reaches Blinger as (and the visitor's history shows): Telegram's contact text. */
export function contactText(phone: string, name?: string): string {
  return `Contact: ${name ? `${name}, ` : ''}${phone}`;
}

/** The extra end-user facts for Blinger's `info`: only what is known. */
export function infoOf(ctx: VisitorContext, userAgent: string | undefined): Record<string, unknown> {
  const info: Record<string, unknown> = { source: 'web chat' };
  if (ctx.page) info.page = ctx.page;
  if (ctx.referrer) info.referrer = ctx.referrer;
  if (userAgent) info.user_agent = userAgent.slice(0, 500);
  if (ctx.language) info.language = ctx.language;
  return info;
}
