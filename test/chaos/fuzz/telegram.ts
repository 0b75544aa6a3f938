/** POST /telegram/:channelId: mangled updates, with the secret header mostly right. */
import { CHANNEL_ID, WEBHOOK_SECRET, type World } from '../support/harness.js';
import { chance, channelSegment, commonHeaders, FUZZ_CHATS, pick, randomBody, randomString, randomValue, type FuzzRoute } from './kit.js';

function telegramUpdate(w: World): Record<string, unknown> {
  const u = w.tg.makeMessageUpdate({ chat_id: pick(FUZZ_CHATS), text: 'fuzz' }) as unknown as Record<string, unknown>;
  if (chance(0.2)) {
    const m = u.message as Record<string, unknown>;
    delete m.text;
    Object.assign(
      m,
      pick([
        { photo: [{ file_id: 'f', file_unique_id: 'u', width: 1, height: 1 }] },
        { document: { file_id: 'f', file_unique_id: 'u', file_name: randomString() } },
        { location: { latitude: 91, longitude: 'x' } },
        { contact: { phone_number: randomValue(), first_name: randomValue() } },
        { poll: { question: randomValue(), options: randomValue() } },
        { caption: randomValue(), video: {} },
      ]),
    );
  }
  if (chance(0.15)) {
    u[pick(['edited_message', 'channel_post', 'callback_query', 'my_chat_member', 'business_message', 'unknown_kind'])] = u.message;
    if (chance(0.5)) delete u.message;
  }
  return u;
}

export const telegramRoute: FuzzRoute = {
  name: 'telegram',
  request(w) {
    const headers = commonHeaders();
    const secret = pick([
      WEBHOOK_SECRET,
      WEBHOOK_SECRET,
      WEBHOOK_SECRET,
      '',
      'wrong',
      WEBHOOK_SECRET.toUpperCase(),
      `${WEBHOOK_SECRET} `,
      'x'.repeat(8000),
      undefined,
    ]);
    if (secret !== undefined) headers['x-telegram-bot-api-secret-token'] = secret;
    return { path: `/telegram/${channelSegment(CHANNEL_ID)}`, headers, body: randomBody(() => telegramUpdate(w)) };
  },
};
