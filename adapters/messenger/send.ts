/**
 * Delivers one agent reply (or bot answer) through the Send API, `POST /<page-id>/messages`
 * (docs/vendors/meta.md §4):
 * - `text` → text messages within the platform's limit (Messenger 2000 characters, Instagram 1000
 *   bytes), split on line or word boundaries; a retry resumes after the parts already sent;
 * - a bot reply's buttons → quick replies (≤ 13, titles ≤ 20) under the last part; "share my phone"
 *   → the `user_phone_number` quick reply, which sends back the number from the user's profile;
 * - `image` / `file` → an attachment by URL (Meta fetches it).
 * Every message carries `metadata` so its echo is recognised. Messages go as RESPONSE; with
 * `humanAgent`, one refused because the 24-hour window closed goes again with the HUMAN_AGENT tag.
 */
import type { OutboundMessage, ReplyKeyboard, SendContext } from '../../src/adapter.js';
import { DeliveryError, splitText, type GraphClient } from '../../src/toolkit/index.js';
import { classifyMessagingError } from './errors.js';
import { ECHO_MARKER, SCOPED_ID } from './normalize.js';
import type { Platform } from './platform.js';

const MAX_QUICK_REPLIES = 13;
const QUICK_REPLY_TITLE = 20;

export interface MessagingSender {
  graph: GraphClient;
  platform: Platform;
  /** The id in the send path (the Page, or the Instagram account). */
  pageId: string;
  humanAgent: boolean;
}

export async function sendMessaging(s: MessagingSender, msg: OutboundMessage, ctx: SendContext): Promise<void> {
  if (!SCOPED_ID.test(msg.client_id)) {
    throw DeliveryError.permanent(`"${msg.client_id.slice(0, 80)}" is not a ${s.platform.name} user id`, 'bad_client_id');
  }
  if (msg.type === 'text') return sendText(s, msg, ctx);
  if (msg.type === 'image' || msg.type === 'file') {
    await sendOne(s, msg.client_id, { attachment: { type: msg.type, payload: { url: msg.data, is_reusable: false } } }, ctx);
    return;
  }
  throw DeliveryError.permanent(`Unsupported message type "${String((msg as { type: unknown }).type)}"`, 'unsupported_type');
}

async function sendText(s: MessagingSender, msg: OutboundMessage, ctx: SendContext): Promise<void> {
  if (msg.data.trim() === '')
    throw DeliveryError.permanent(`The reply is empty: ${s.platform.name} does not send empty messages`, 'empty_text');
  const parts = s.platform.split(msg.data);
  const quick = quickReplies(msg.keyboard);
  const already = Math.min(Math.max(Math.trunc(ctx.partsSent), 0), parts.length);
  for (let i = already; i < parts.length; i++) {
    const last = i === parts.length - 1;
    await sendOne(s, msg.client_id, { text: parts[i], ...(last && quick ? { quick_replies: quick } : {}) }, ctx);
    if (!last) await ctx.onPartSent(i + 1);
  }
}

/** One message, as RESPONSE; again with the HUMAN_AGENT tag when allowed and the window closed. */
async function sendOne(s: MessagingSender, to: string, message: Record<string, unknown>, ctx: SendContext): Promise<void> {
  const body = { recipient: { id: to }, messaging_type: 'RESPONSE', message: { ...message, metadata: ECHO_MARKER } };
  await ctx.pace();
  try {
    await post(s, body);
  } catch (err) {
    if (!(s.humanAgent && err instanceof DeliveryError && err.code === 'window_closed')) throw err;
    await ctx.pace();
    await post(s, { ...body, messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' });
  }
}

async function post(s: MessagingSender, body: object): Promise<void> {
  try {
    await s.graph.post(`${s.pageId}/messages`, body, `${s.platform.name} send`);
  } catch (err) {
    throw classifyMessagingError(err, s.platform);
  }
}

/** A bot reply's keyboard as quick replies (undefined: none). */
export function quickReplies(k: ReplyKeyboard | undefined): Record<string, string>[] | undefined {
  const buttons = k?.buttons?.flat() ?? [];
  if (buttons.length > 0) {
    return buttons
      .slice(0, MAX_QUICK_REPLIES)
      .map((b) => ({ content_type: 'text', title: clip(b.label, QUICK_REPLY_TITLE), payload: b.data }));
  }
  if (k?.requestPhone) return [{ content_type: 'user_phone_number' }];
  return undefined;
}

/** The first `max` characters on a word or character boundary, with an ellipsis when cut. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${splitText(text, max - 1)[0] ?? ''}…`;
}
