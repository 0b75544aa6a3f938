/**
 * What a Telegram update means for a bot flow (src/flow/), beside the messages normalize.ts makes
 * of it: /start and its deep-link payload, a button press, a shared phone, an edit, the raw text
 * and the kind of chat. Pure, like normalize.ts, and as careful with odd input.
 */
import type { InboundEvent, InboundMessage } from '../../src/adapter.js';
import { buttonLabel, isBusinessOwnerMessage } from './normalize.js';
import { isObj, type ReadUpdate } from './update.js';
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function chatKind(chat: unknown): InboundEvent['chat'] {
  const type = isObj(chat) ? chat.type : undefined;
  if (type === 'private') return 'private';
  if (type === 'channel') return 'channel';
  return 'group';
}

/**
 * `/start`, `/start payload` or `/start@this_bot payload` (t.me/<bot>?start=<payload> sends it).
 * A /start addressed to another bot in a group is not ours.
 */
export function parseStart(text: string, botUsername: string): { payload?: string } | undefined {
  const m = /^\/start(?:@([A-Za-z0-9_]+))?(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) return undefined;
  if (m[1] !== undefined && botUsername !== '' && m[1].toLowerCase() !== botUsername.toLowerCase()) return undefined;
  const payload = m[2]?.trim();
  return payload ? { payload } : {};
}

/** `messages` are normalize.ts's output for the same update (the phone comes from there). */
export function telegramEvent(read: ReadUpdate, messages: InboundMessage[], botUsername: string): InboundEvent {
  if (read.button) {
    const msg = read.button.msg ?? {};
    const data = str(read.button.cb.data) ?? '';
    const label = buttonLabel(msg, data);
    return { button: label !== undefined ? { data, label } : { data }, chat: chatKind(msg.chat) };
  }
  if (!read.message) return {};
  const { msg, edited } = read.message;
  const event: InboundEvent = { chat: chatKind(msg.chat) };
  // The business owner wrote it, not the customer: no text for a bot flow to match or answer, so
  // the flow passes it on to the agents.
  if (isBusinessOwnerMessage(msg)) return event;
  if (edited) {
    event.edit = true;
    return event;
  }
  const text = str(msg.text) ?? str(msg.caption);
  if (text !== undefined) event.text = text;
  const start = str(msg.text) !== undefined ? parseStart(msg.text as string, botUsername) : undefined;
  if (start) event.start = start;
  // normalize.ts sets client_phone only for the sender's own contact in a private chat.
  const phone = isObj(msg.contact) ? messages.find((m) => m.client_phone)?.client_phone : undefined;
  if (phone) event.phone = phone;
  return event;
}
