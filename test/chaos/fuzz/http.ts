/**
 * POST /http/:channelId/messages: app messages with mangled fields, signed — mostly correctly, over
 * the very bytes sent — or with stale, foreign or broken signatures.
 */
import { randomUUID } from 'node:crypto';
import { BLINGER_TOKEN } from '../support/harness.js';
import { signWebhook } from '../../../src/toolkit/standard-webhooks.js';
import { chance, channelSegment, commonHeaders, FUZZ_CLIENTS, LOCAL_FILE, pick, randomBody, type FuzzRoute } from './kit.js';

const CHANNEL = 'chaos-http';
const SECRET = 'whsec_Y2hhb3MtaHR0cC1jaGFubmVsLXNlY3JldC0zMi1ieXRl';

function appMessage(): Record<string, unknown> {
  return pick([
    () => ({ user: { id: pick(FUZZ_CLIENTS), name: 'Fuzz' }, type: 'text', text: 'fuzz' }),
    () => ({
      user: { id: pick(FUZZ_CLIENTS) },
      type: pick(['image', 'file']),
      url: `${LOCAL_FILE}/f.png`,
      file_name: 'f.png',
      text: 'cap',
    }),
    () => ({ user: { id: pick(FUZZ_CLIENTS) }, type: 'text', text: 'press', button: { data: 'bb:x' } }),
  ])();
}

export const httpRoute: FuzzRoute = {
  name: 'http',
  channels: (w) => [
    {
      id: CHANNEL,
      blinger: { url: w.blinger.url, token: BLINGER_TOKEN, timeoutMs: 2000 },
      // Replies to the app fail at once (404), like the other garbage that got queued.
      adapter: { type: 'http', secret: SECRET, deliveryUrl: `${LOCAL_FILE}/app`, timeout: 2000 },
      allowPrivateUrls: true,
    },
  ],
  request() {
    const headers = commonHeaders();
    const body = randomBody(appMessage);
    const id = chance(0.9) ? `msg_${randomUUID()}` : pick(['', ' ', 'x'.repeat(300), 'msg_same']);
    const now = Math.floor(Date.now() / 1000);
    const ts = chance(0.85) ? now : pick([now - 301, now + 301, 0, -1, 1e12]);
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(chance(0.95) ? ts : pick(['soon', '', '1.5']));
    const good = signWebhook(SECRET, id, Number.isFinite(ts) ? ts : 0, body);
    const signature = pick([
      good,
      good,
      good,
      `v2,x ${good}`,
      'v1,',
      'v1,AAAA',
      signWebhook(`whsec_${Buffer.from('another-secret-of-enough-bytes!!').toString('base64')}`, id, ts, body),
      undefined,
    ]);
    if (signature !== undefined) headers['webhook-signature'] = signature;
    return { path: `/http/${channelSegment(CHANNEL)}/messages`, headers, body };
  },
};
