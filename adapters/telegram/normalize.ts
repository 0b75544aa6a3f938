/**
 * Pure Telegram update → Custom App messages (adapters/telegram/README.md). No I/O, no token: files leave only
 * as file_ids handed to ctx.mediaLink, which signs a /media URL.
 *
 * Updates arrive from the network, so the code reads them as loose JSON (`Obj`) and checks every
 * field it uses: a missing or odd field turns into a skip with a reason, never an exception.
 */
import type { InboundMessage, MediaRef, MessageType } from '../../src/adapter.js';
import { extensionFor } from '../../src/toolkit/index.js';
import { isObj, readUpdate, type Obj, type ReadUpdate } from './update.js';

export interface NormalizeContext {
  botUsername: string;
  /** Builds the signed /media URL for a Telegram file (ref.id = file_id). */
  mediaLink(ref: MediaRef): string;
}

export interface Normalized {
  updateId: number;
  /** In the order the agent should read them. Empty when the update has nothing for an agent. */
  messages: InboundMessage[];
  /** When messages is empty: a short reason for the debug log, e.g. "my_chat_member update". */
  skipped?: string;
}

export const TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024; // Bot API getFile limit

interface Part {
  type: MessageType;
  data: string;
}

const obj = (v: unknown): Obj | undefined => (isObj(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** normalizeRead on a raw update (tests and tools; the adapter reads an update once, see interpret.ts). */
export function normalizeUpdate(update: unknown, ctx: NormalizeContext): Normalized {
  return normalizeRead(readUpdate(update), ctx);
}

export function normalizeRead(read: ReadUpdate, ctx: NormalizeContext): Normalized {
  const { updateId } = read;
  const skip = (skipped: string): Normalized => ({ updateId, messages: [], skipped });
  try {
    if (read.button) {
      const pressed = normalizeCallbackQuery(read.button.cb, ctx);
      return typeof pressed === 'string' ? skip(`callback_query: ${pressed}`) : { updateId, messages: pressed };
    }
    if (!read.message) return skip(read.other ?? 'empty update');
    const { key, msg, edited } = read.message;
    const result = normalizeMessage(msg, edited, ctx);
    return typeof result === 'string' ? skip(`${key}: ${result}`) : { updateId, messages: result };
  } catch (err) {
    // Belt and braces: the checks above should make this unreachable, but one odd update must
    // never stop the polling loop or fail a webhook.
    return skip(`could not normalize: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The messages for one Telegram Message, or the reason it has nothing for an agent. */
function normalizeMessage(msg: Obj, edited: boolean, ctx: NormalizeContext): InboundMessage[] | string {
  const chat = obj(msg.chat);
  const chatId = num(chat?.id);
  const messageId = num(msg.message_id);
  if (!chat || chatId === undefined || messageId === undefined) return 'message without chat or message_id';

  const service = SERVICE_KEYS.find((k) => k in msg);
  if (service) return `service message (${service})`;

  const chatType = str(chat.type) ?? 'unknown';
  const isGroup = chatType === 'group' || chatType === 'supergroup';
  const isPrivate = chatType === 'private';
  // Anonymous admins and linked channels write "as a chat"; `from` then holds a placeholder user.
  const senderChat = obj(msg.sender_chat);
  const from = senderChat ? undefined : obj(msg.from);
  // Telegram shows the bot its own sends on behalf of a business too: the agent has them already.
  if (isOwnBusinessSend(msg, ctx.botUsername)) return 'sent by this bot on behalf of the business';
  // The owner writing from their own app: the agents' side of the conversation, not the client.
  const byOwner = isBusinessOwnerMessage(msg);
  const client = byOwner ? chat : from;

  let parts: Part[];
  let phone: string | undefined;
  if (edited) {
    // A live location moving sends an edit every few seconds: noise for an agent.
    if (isObj(msg.location) && !isObj(msg.venue)) return 'live location update';
    parts = [{ type: 'text', data: `(edited) ${authorPrefix(isGroup, from, senderChat)}${describe(msg)}` }];
  } else {
    const content = readContent(msg, messageId, ctx);
    if (!content) return 'message with no supported content';
    parts = content.parts;
    // The group is the conversation, so a member's phone must not become the client's.
    if (isPrivate && content.contactUserId !== undefined && content.contactUserId === num(client?.id)) {
      phone = content.phone;
    }
    // Who wrote, forwarded from whom, replying to what: shown on the first text. A media-only
    // message gets a short text after it when there is such context, so it is not lost.
    const prefix = authorPrefix(isGroup, from, senderChat) + contextLines(msg);
    const first = parts.find((p) => p.type === 'text');
    if (first) first.data = prefix + first.data;
    else if (prefix) parts.push({ type: 'text', data: prefix + describe(msg) });
  }

  const info = clean({
    username: str(client?.username),
    user_id: num(client?.id),
    language: str(client?.language_code),
    chat_type: chatType,
    chat_title: str(chat.title),
    message_id: messageId,
    bot_username: ctx.botUsername,
    thread_id: msg.is_topic_message === true ? num(msg.message_thread_id) : undefined,
    edited: edited ? true : undefined,
    media_group_id: str(msg.media_group_id),
    // The business account the chat belongs to (replies go through it: reply-route.ts).
    business_connection_id: str(msg.business_connection_id),
  });
  // Private chats: the person; groups and channels: the conversation's title (stable per client).
  const clientName = isPrivate ? (personName(client) ?? personName(chat)) : str(chat.title);
  return parts.map(
    (p) =>
      clean({
        client_id: String(chatId),
        client_name: clientName,
        client_phone: phone,
        info: { ...info },
        type: p.type,
        data: p.data,
        // docs/architecture.md, "The Custom App API": "agent answered elsewhere", an echo that went to the end-user.
        echo: byOwner ? true : undefined,
        echo_outgoing: byOwner ? true : undefined,
      }) as unknown as InboundMessage,
  );
}

/**
 * In a business chat the chat is the customer, so a message from anyone else was written by the
 * business owner (or sent on their behalf). Shared with events.ts: not the customer's input.
 */
export function isBusinessOwnerMessage(msg: Obj): boolean {
  const from = num(obj(msg.from)?.id);
  const chatId = num(obj(msg.chat)?.id);
  return str(msg.business_connection_id) !== undefined && from !== undefined && chatId !== undefined && from !== chatId;
}

/** A business message this very bot sent (an agent's reply or a bot flow's answer) coming back. */
function isOwnBusinessSend(msg: Obj, botUsername: string): boolean {
  const via = str(obj(msg.sender_business_bot)?.username);
  return via !== undefined && botUsername !== '' && via.toLowerCase() === botUsername.toLowerCase();
}

/**
 * A press of an inline button the bot sent (a bot flow's menu): one readable text naming the
 * button, `[button] <label>`, from the user who pressed it, in the chat of the bot's message.
 */
function normalizeCallbackQuery(cb: Obj, ctx: NormalizeContext): InboundMessage[] | string {
  const msg = obj(cb.message);
  const chat = obj(msg?.chat);
  const chatId = num(chat?.id);
  // Buttons under inline-mode messages have no chat: nobody to route them to.
  if (!msg || !chat || chatId === undefined) return 'button without a chat (inline message)';
  const data = str(cb.data);
  if (!data) return 'button without callback_data (game)';
  const from = obj(cb.from);
  const chatType = str(chat.type) ?? 'unknown';
  const isPrivate = chatType === 'private';
  const label = buttonLabel(msg, data);
  const info = clean({
    username: str(from?.username),
    user_id: num(from?.id),
    language: str(from?.language_code),
    chat_type: chatType,
    chat_title: str(chat.title),
    message_id: num(msg.message_id),
    bot_username: ctx.botUsername,
  });
  return [
    clean({
      client_id: String(chatId),
      client_name: isPrivate ? (personName(from) ?? personName(chat)) : str(chat.title),
      info,
      type: 'text',
      data: `${authorPrefix(chatType === 'group' || chatType === 'supergroup', from, undefined)}[button] ${label ?? data}`,
    }) as unknown as InboundMessage,
  ];
}

/** The label of the inline button with this callback_data (Telegram sends the message back with its keyboard). */
export function buttonLabel(msg: Obj, data: string): string | undefined {
  const rows = obj(msg.reply_markup)?.inline_keyboard;
  if (!Array.isArray(rows)) return undefined;
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    for (const b of row) if (obj(b)?.callback_data === data) return str(obj(b)?.text);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Content

interface Content {
  parts: Part[];
  phone?: string;
  contactUserId?: number;
}

/** Media kinds, checked in this order: an animation also carries `document` for old clients. */
const MEDIA_KINDS = ['photo', 'sticker', 'animation', 'video', 'video_note', 'voice', 'audio', 'document'] as const;
type MediaKind = (typeof MEDIA_KINDS)[number];

const DEFAULT_MIME: Record<MediaKind, string> = {
  photo: 'image/jpeg', // Telegram re-encodes every photo to JPEG
  sticker: 'image/webp',
  animation: 'video/mp4', // GIFs are converted to silent MP4
  video: 'video/mp4',
  video_note: 'video/mp4',
  voice: 'audio/ogg', // OGG/Opus
  audio: 'audio/mpeg',
  document: 'application/octet-stream',
};

const MEDIA_LABEL: Record<MediaKind, string> = {
  photo: 'photo',
  sticker: 'sticker',
  animation: 'GIF',
  video: 'video',
  video_note: 'video message',
  voice: 'voice message',
  audio: 'audio',
  document: 'file',
};

function readContent(msg: Obj, messageId: number, ctx: NormalizeContext): Content | undefined {
  const text = str(msg.text);
  if (text) return { parts: [{ type: 'text', data: text }] }; // commands (/start) included

  const media = mediaPart(msg, messageId, ctx);
  if (media) {
    const caption = str(msg.caption);
    return { parts: caption ? [media, { type: 'text', data: caption }] : [media] };
  }

  const contact = obj(msg.contact);
  const phone = str(contact?.phone_number);
  if (contact && phone) {
    const name = personName(contact);
    return {
      parts: [{ type: 'text', data: `Contact: ${name ? `${name}, ` : ''}${phone}` }],
      // Own numbers come from Telegram in international form, sometimes without the "+".
      phone: /^\d+$/.test(phone) ? `+${phone}` : phone,
      contactUserId: num(contact.user_id),
    };
  }

  const readable = readableText(msg);
  return readable ? { parts: [{ type: 'text', data: readable }] } : undefined;
}

/** The file of a media message as a link (or as a text when Telegram will not let us fetch it). */
function mediaPart(msg: Obj, messageId: number, ctx: NormalizeContext): Part | undefined {
  for (const kind of MEDIA_KINDS) {
    const raw = msg[kind];
    // Photo sizes come smallest → largest; the agent gets the largest.
    const file = kind === 'photo' ? (Array.isArray(raw) ? obj(raw[raw.length - 1]) : undefined) : obj(raw);
    const id = str(file?.file_id);
    if (!file || !id) continue;

    let mime = str(file.mime_type) ?? DEFAULT_MIME[kind];
    if (kind === 'photo') mime = 'image/jpeg';
    if (kind === 'sticker')
      mime = file.is_video === true ? 'video/webm' : file.is_animated === true ? 'application/x-tgsticker' : 'image/webp';
    const name = str(file.file_name) ?? `${kind}_${messageId}${extensionFor(mime)}`;
    const size = num(file.file_size);

    if (size !== undefined && size > TELEGRAM_DOWNLOAD_LIMIT) {
      const mb = (size / (1024 * 1024)).toFixed(1);
      return {
        type: 'text',
        data: `[${MEDIA_LABEL[kind]} "${name}", ${mb} MB — over Telegram's 20 MB bot download limit; ask the user to send it another way]`,
      };
    }
    const ref: MediaRef = size === undefined ? { id, mime, name } : { id, mime, size, name };
    return { type: kind === 'photo' || kind === 'sticker' ? 'image' : 'file', data: ctx.mediaLink(ref) };
  }
  return undefined;
}

/** Non-file content an agent can read as text; undefined when the message has none. */
function readableText(msg: Obj): string | undefined {
  const venue = obj(msg.venue);
  const location = obj(venue?.location) ?? obj(msg.location);
  const lat = num(location?.latitude);
  const lon = num(location?.longitude);
  const where = lat !== undefined && lon !== undefined ? `${lat}, ${lon} — https://maps.google.com/?q=${lat},${lon}` : undefined;
  if (venue && where) {
    const lines = [`Venue: ${str(venue.title) ?? 'unnamed'}`, str(venue.address), where];
    return lines.filter(Boolean).join('\n');
  }
  if (location && where) {
    // live_period is present only while the location is being shared live.
    return `${num(location.live_period) !== undefined ? 'Live location' : 'Location'}: ${where}`;
  }

  const poll = obj(msg.poll);
  const question = str(poll?.question);
  if (poll && question) {
    const flags = [
      poll.is_anonymous === false ? 'public' : 'anonymous',
      poll.allows_multiple_answers === true ? 'multiple answers' : undefined,
      poll.is_closed === true ? 'closed' : undefined,
    ].filter(Boolean);
    const options = (Array.isArray(poll.options) ? poll.options : []).map((o, i) => `${i + 1}. ${str(obj(o)?.text) ?? ''}`);
    return [`${poll.type === 'quiz' ? 'Quiz' : 'Poll'} (${flags.join(', ')}): ${question}`, ...options].join('\n');
  }

  const dice = obj(msg.dice);
  if (dice && num(dice.value) !== undefined) return `Dice ${str(dice.emoji) ?? '🎲'}: ${num(dice.value)}`;

  // Content a user can only forward or get from a bot: a one-line mention is enough.
  const story = obj(msg.story);
  if (story) return `[story from ${chatName(obj(story.chat)) ?? 'a chat'}]`;
  const game = obj(msg.game);
  if (game) return `[game "${str(game.title) ?? ''}"]`;
  const invoice = obj(msg.invoice);
  if (invoice) return `[invoice "${str(invoice.title) ?? ''}"]`;
  return undefined;
}

/** A short text for a message: its text or caption, else what it holds. For edits and replies. */
function describe(msg: Obj): string {
  const text = str(msg.text) ?? str(msg.caption);
  if (text) return text;
  for (const kind of MEDIA_KINDS) {
    const file = obj(msg[kind]);
    if (!file && !(kind === 'photo' && Array.isArray(msg.photo))) continue;
    const detail = kind === 'sticker' ? str(file?.emoji) : str(file?.file_name) && `"${str(file?.file_name)}"`;
    return `[${MEDIA_LABEL[kind]}${detail ? ` ${detail}` : ''}]`;
  }
  if (isObj(msg.contact)) return '[contact]';
  const readable = readableText(msg);
  return readable ? readable.replace(/\n.*/s, '') : '[message]';
}

// ---------------------------------------------------------------------------------------------
// Context: author, forward, reply

/** In groups, several people share one conversation: the agent needs to see who wrote. */
function authorPrefix(isGroup: boolean, from: Obj | undefined, senderChat: Obj | undefined): string {
  if (!isGroup) return '';
  const author = senderChat ? chatName(senderChat) : personName(from);
  return author ? `${author}: ` : '';
}

/** `[forwarded from …]` and `[reply to "…"]` markers, each on its own line. */
function contextLines(msg: Obj): string {
  let lines = '';
  if (isObj(msg.forward_origin) || msg.forward_date !== undefined) {
    const from = forwardedFrom(msg);
    lines += from ? `[forwarded from ${from}]\n` : '[forwarded]\n';
  }
  const replied = repliedText(msg);
  if (replied) lines += `[reply to "${clip(replied, 100)}"]\n`;
  return lines;
}

function forwardedFrom(msg: Obj): string | undefined {
  const origin = obj(msg.forward_origin); // Bot API 7.0+
  if (origin) {
    switch (origin.type) {
      case 'user':
        return personName(obj(origin.sender_user));
      case 'hidden_user':
        return str(origin.sender_user_name);
      case 'chat':
        return chatName(obj(origin.sender_chat));
      case 'channel':
        return chatName(obj(origin.chat));
    }
  }
  // Older servers and stored updates.
  return personName(obj(msg.forward_from)) ?? chatName(obj(msg.forward_from_chat)) ?? str(msg.forward_sender_name);
}

function repliedText(msg: Obj): string | undefined {
  // A quote is the part the user chose to answer: more telling than the whole message.
  const quote = str(obj(msg.quote)?.text);
  if (quote) return quote;
  const replied = obj(msg.reply_to_message);
  // In forum topics every message "replies" to the topic's creation message: not a real reply.
  const topicRoot = msg.is_topic_message === true && replied?.message_id === msg.message_thread_id;
  if (replied && !topicRoot) return describe(replied);
  const external = obj(msg.external_reply); // a reply to a message in another chat
  return external ? describe(external) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function personName(p: Obj | undefined): string | undefined {
  const name = [str(p?.first_name), str(p?.last_name)].filter(Boolean).join(' ').trim();
  return name || undefined;
}

function chatName(c: Obj | undefined): string | undefined {
  const username = str(c?.username);
  return str(c?.title) ?? personName(c) ?? (username ? `@${username}` : undefined);
}

/** First `max` characters on one line, without splitting an emoji (code points, not UTF-16). */
function clip(text: string, max: number): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : chars.join('');
}

/** JSON-clean copy: no undefined-valued keys. */
function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Message fields that mark a service message (nothing an end-user said to the agent). */
const SERVICE_KEYS = [
  'new_chat_members',
  'left_chat_member',
  'new_chat_title',
  'new_chat_photo',
  'delete_chat_photo',
  'group_chat_created',
  'supergroup_chat_created',
  'channel_chat_created',
  'message_auto_delete_timer_changed',
  'migrate_to_chat_id',
  'migrate_from_chat_id',
  'pinned_message',
  'successful_payment',
  'users_shared',
  'user_shared',
  'chat_shared',
  'connected_website',
  'write_access_allowed',
  'passport_data',
  'proximity_alert_triggered',
  'boost_added',
  'chat_background_set',
  'forum_topic_created',
  'forum_topic_edited',
  'forum_topic_closed',
  'forum_topic_reopened',
  'general_forum_topic_hidden',
  'general_forum_topic_unhidden',
  'giveaway_created',
  'giveaway_completed',
  'video_chat_scheduled',
  'video_chat_started',
  'video_chat_ended',
  'video_chat_participants_invited',
  'web_app_data',
];
