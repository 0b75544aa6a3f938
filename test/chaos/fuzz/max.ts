/**
 * POST /max/:channelId: MAX updates of every kind the adapter reads (messages with odd attachments
 * and links, edits, button presses, bot_started, other types), mangled, with the
 * X-Max-Bot-Api-Secret header mostly right. The channel is in webhook mode against a MAX double.
 */
import { deriveWebhookSecret } from '../../../adapters/max/settings.js';
import { DEFAULT_MAX_BOT, startMaxDouble } from '../../doubles/max-api.js';
import { BLINGER_TOKEN } from '../support/harness.js';
import {
  chance,
  channelSegment,
  commonHeaders,
  int,
  LOCAL_FILE,
  pick,
  randomBody,
  randomString,
  randomValue,
  type FuzzRoute,
} from './kit.js';

const CHANNEL = 'chaos-max';
const SECRET = deriveWebhookSecret(DEFAULT_MAX_BOT.token);
/** Dialogs and a group chat (negative id). */
const CHATS = [4000, 4001, 4002, -4003];

function attachment(sender: Record<string, unknown>): Record<string, unknown> {
  return pick([
    () => ({ type: 'image', payload: { url: randomValue(), token: 't' } }),
    () => ({ type: 'file', payload: { url: `${LOCAL_FILE}/f.pdf` }, filename: randomValue(), size: randomValue() }),
    () => ({ type: 'video', payload: { url: randomString(), token: randomValue() } }),
    () => ({ type: 'contact', payload: { vcf_info: randomValue(), max_info: pick([sender, randomValue()]) } }),
    () => ({ type: 'location', latitude: randomValue(), longitude: randomValue() }),
    () => ({ type: 'inline_keyboard', payload: { buttons: randomValue() } }),
    () => ({ type: randomValue(), payload: randomValue() }),
  ])();
}

function maxUpdate(): Record<string, unknown> {
  const chat = pick(CHATS);
  const sender = { user_id: 77 + int(3), first_name: 'Fuzz', name: 'Fuzz' };
  const body: Record<string, unknown> = { mid: `mid.fuzz${int(1e9)}`, seq: 1, text: 'fuzz' };
  if (chance(0.3)) body.attachments = [attachment(sender)];
  const message: Record<string, unknown> = {
    sender,
    recipient: { chat_id: chat, chat_type: chat < 0 ? 'chat' : 'dialog' },
    timestamp: 1,
    body,
  };
  if (chance(0.1))
    message.link = { type: pick(['reply', 'forward', randomValue()]), sender: randomValue(), message: { text: randomValue() } };
  const timestamp = Date.now() + int(1e6);
  return pick<() => Record<string, unknown>>([
    () => ({ update_type: 'message_created', timestamp, message, user_locale: 'ru' }),
    () => ({ update_type: 'message_created', timestamp, message }),
    () => ({ update_type: 'message_edited', timestamp, message }),
    () => ({
      update_type: 'message_callback',
      timestamp,
      callback: { callback_id: `cb${int(1e9)}`, payload: randomValue(), user: sender },
      message,
    }),
    () => ({ update_type: 'bot_started', timestamp, chat_id: chat, user: sender, payload: randomValue() }),
    () => ({
      update_type: pick(['bot_stopped', 'dialog_muted', 'message_removed', 'chat_title_changed', randomString()]),
      timestamp,
      chat_id: chat,
      title: randomValue(),
    }),
  ])();
}

export const maxRoute: FuzzRoute = {
  name: 'max',
  async channels(w) {
    // The bridge listens on plain loopback: the double takes its http webhook URL.
    const max = await startMaxDouble({ allowHttpWebhooks: true, seed: 13 });
    w.cleanups.push(() => max.close());
    return [
      {
        id: CHANNEL,
        blinger: { url: w.blinger.url, token: BLINGER_TOKEN, timeoutMs: 2000 },
        adapter: { type: 'max', token: DEFAULT_MAX_BOT.token, mode: 'webhook', apiRoot: max.apiRoot, requestTimeout: 1000 },
        allowPrivateUrls: true,
      },
    ];
  },
  request() {
    const headers = commonHeaders();
    const secret = pick([SECRET, SECRET, SECRET, '', 'wrong', SECRET.toUpperCase(), SECRET.slice(1), 'x'.repeat(8000), undefined]);
    if (secret !== undefined) headers['x-max-bot-api-secret'] = secret;
    return { path: `/max/${channelSegment(CHANNEL)}`, headers, body: randomBody(maxUpdate) };
  },
};
