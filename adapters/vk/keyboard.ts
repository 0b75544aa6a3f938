/**
 * A bot reply's keyboard (ReplyKeyboard) as VK's `keyboard` parameter
 * (dev.vk.com/en/api/bots/development/keyboard; docs/vendors/vk.md §6):
 *
 * - buttons → an inline keyboard under the message (5 per row, 6 rows, 10 buttons) of callback
 *   buttons: a press comes back as a message_event with the payload, and nothing is written into
 *   the chat. A user's app that cannot show callback buttons (client_info) gets text buttons,
 *   whose press comes back as a message with the label as text; one that cannot show inline
 *   keyboards — or a menu too big for one — gets a one-time keyboard of text buttons (10 rows, 40
 *   buttons) instead.
 * - requestPhone → nothing to show: VK has no "share my phone number" button. The question goes as
 *   text and the adapter takes the next message that is a phone number as the answer.
 * - remove → an empty keyboard, which hides the one shown.
 *
 * Every button's payload is `{"b": <data>, "l": <label>}` (the label only for callback buttons,
 * whose press carries no text).
 */
import type { ReplyButton, ReplyKeyboard } from '../../src/adapter.js';
import type { Caps } from './store.js';

const INLINE = { rows: 6, perRow: 5, total: 10 };
const STANDARD = { rows: 10, perRow: 5, total: 40 };
/** Limits the bridge keeps to (VK's current pages do not state them; older ones said so). */
export const MAX_LABEL = 40;
export const MAX_PAYLOAD = 255;

interface VkButton {
  action: { type: 'callback' | 'text'; label: string; payload: string };
}
export interface VkKeyboard {
  inline?: boolean;
  one_time?: boolean;
  buttons: VkButton[][];
}

/** The keyboard JSON for messages.send, or undefined when the reply shows none. */
export function renderKeyboard(k: ReplyKeyboard | undefined, caps: Caps): string | undefined {
  if (k?.buttons && k.buttons.length > 0) return JSON.stringify(buttonsKeyboard(k.buttons, caps));
  if (k?.remove) return JSON.stringify({ one_time: true, buttons: [] } satisfies VkKeyboard);
  return undefined;
}

function fits(rows: ReplyButton[][], limit: typeof INLINE): boolean {
  const total = rows.reduce((n, r) => n + r.length, 0);
  return rows.length <= limit.rows && rows.every((r) => r.length <= limit.perRow) && total <= limit.total;
}

function buttonsKeyboard(rows: ReplyButton[][], caps: Caps): VkKeyboard {
  const nonEmpty = rows.filter((r) => r.length > 0);
  if (caps.inline && fits(nonEmpty, INLINE)) {
    const type = caps.callback ? 'callback' : 'text';
    return { inline: true, buttons: nonEmpty.map((r) => r.map((b) => button(b, type))) };
  }
  // Too many for an inline keyboard, or an app without them: a one-time keyboard, cut to VK's size.
  const cut: ReplyButton[][] = [];
  let total = 0;
  for (const row of nonEmpty.flatMap((r) => chunk(r, STANDARD.perRow))) {
    if (cut.length >= STANDARD.rows || total >= STANDARD.total) break;
    const take = row.slice(0, STANDARD.total - total);
    cut.push(take);
    total += take.length;
  }
  return { one_time: true, buttons: cut.map((r) => r.map((b) => button(b, 'text'))) };
}

function button(b: ReplyButton, type: 'callback' | 'text'): VkButton {
  const label = cutUtf16(b.label, MAX_LABEL);
  let payload = JSON.stringify(type === 'callback' ? { b: b.data, l: label } : { b: b.data });
  // A label full of characters JSON escapes could push it over: the data matters, the label is shown.
  if (payload.length > MAX_PAYLOAD) payload = JSON.stringify({ b: b.data });
  return { action: { type, label, payload } };
}

function chunk<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** At most `max` UTF-16 code units (an ellipsis included when cut), never cutting a surrogate pair in two. */
export function cutUtf16(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1; // room for the ellipsis
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
