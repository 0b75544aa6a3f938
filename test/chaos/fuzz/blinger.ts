/** POST /blinger/:channelId: agents' replies with every field mangled and the bearer token mostly right. */
import { BLINGER_TOKEN, CHANNEL_ID } from '../support/harness.js';
import { channelSegment, commonHeaders, FUZZ_CLIENTS, LOCAL_FILE, pick, randomBody, type FuzzRoute } from './kit.js';

function agentReply(): Record<string, unknown> {
  return {
    token: BLINGER_TOKEN,
    custom_channel_id: CHANNEL_ID,
    client_id: pick(FUZZ_CLIENTS),
    type: pick(['text', 'image', 'file']),
    data: `${LOCAL_FILE}/fuzz.png`,
  };
}

export const blingerRoute: FuzzRoute = {
  name: 'blinger',
  request() {
    const headers = commonHeaders();
    const auth = pick([
      `Bearer ${BLINGER_TOKEN}`,
      `Bearer ${BLINGER_TOKEN}`,
      `Bearer ${BLINGER_TOKEN}`,
      `bearer ${BLINGER_TOKEN}`,
      'Bearer wrong',
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      'Bearer',
      `Bearer  ${BLINGER_TOKEN}`,
      'x'.repeat(8000),
      undefined,
    ]);
    if (auth !== undefined) headers.authorization = auth;
    return { path: `/blinger/${channelSegment(CHANNEL_ID)}`, headers, body: randomBody(agentReply) };
  },
};
