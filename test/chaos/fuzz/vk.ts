/**
 * POST /vk/:channelId (VK's Callback API): mangled community events — messages with attachments
 * and button payloads, callback button presses, edits, confirmation requests — with the `secret`
 * field mostly right, and X-Retry-Counter now and then.
 */
import { BLINGER_TOKEN } from '../support/harness.js';
import { startVkDouble, type VkDouble } from '../../doubles/vk-api.js';
import { chance, channelSegment, commonHeaders, pick, randomBody, type FuzzRoute } from './kit.js';

const CHANNEL = 'chaos-vk';
const SECRET = 'chaosVkSecret42';
/** Private conversations and community chats the garbage goes to. */
const PEERS = [100001, 100002, 100003, 2_000_000_001, 2_000_000_002];

let vk: VkDouble | undefined;

function vkEvent(): Record<string, unknown> {
  const double = vk!;
  const peer = pick(PEERS);
  const event = pick<() => object>([
    () => double.makeMessageNew({ peer, text: 'fuzz' }),
    () => double.makeMessageNew({ peer, text: 'fuzz', attachments: [{ type: 'photo' }, { type: 'doc' }], payload: '{"b":"x"}' }),
    () => double.makeEvent('message_event', { user_id: 100001, peer_id: peer, event_id: 'e1', payload: { b: 'm:0', l: 'Menu' } }),
    () => double.makeEvent('message_edit', { peer_id: peer, from_id: 100001, id: 5, text: 'fuzz' }),
    () => ({ type: 'confirmation', group_id: double.community.id }),
  ])() as Record<string, unknown>;
  const secret = pick([SECRET, SECRET, SECRET, '', 'wrong', SECRET.toUpperCase(), `${SECRET} `, 'x'.repeat(8000), undefined, 7]);
  if (secret !== undefined) event.secret = secret;
  return event;
}

export const vkRoute: FuzzRoute = {
  name: 'vk',
  async channels(w) {
    const double = (vk = await startVkDouble({ seed: 13 }));
    w.cleanups.push(() => double.close());
    return [
      {
        id: CHANNEL,
        blinger: { url: w.blinger.url, token: BLINGER_TOKEN, timeoutMs: 2000 },
        adapter: {
          type: 'vk',
          token: double.community.token,
          groupId: double.community.id,
          apiRoot: double.apiRoot,
          mode: 'callback',
          secret: SECRET,
          confirmation: double.confirmationCode(),
          requestTimeout: 1000,
        },
        allowPrivateUrls: true,
      },
    ];
  },
  request() {
    const headers = commonHeaders();
    if (chance(0.2)) headers['x-retry-counter'] = pick(['1', '2', '-1', 'abc', 'x'.repeat(3000)]);
    return { path: `/vk/${channelSegment(CHANNEL)}`, headers, body: randomBody(vkEvent) };
  },
};
