/**
 * VK → Blinger end to end: a real bridge with a VK channel between the VK API double (methods,
 * Bots Long Poll server, user-content files, Callback API sender) and the Blinger double.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PNG_2X1, startVkBridge, startVkStack, stopVkStack, VK_CHANNEL, type VkBridge } from '../helpers/vk.js';
import { startVkDouble, type VkDouble } from '../doubles/vk-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN } from '../helpers/bridge.js';
import { uniquePrefix } from '../helpers/redis.js';

let vk: VkDouble | undefined;
let blinger: BlingerDouble | undefined;
const bridges: VkBridge[] = [];

afterEach(async () => {
  for (const b of bridges.splice(0)) await b.stop();
  await stopVkStack({ vk, blinger });
  vk = undefined;
  blinger = undefined;
});

async function stack(o: Parameters<typeof startVkStack>[0] = {}) {
  const s = await startVkStack(o);
  ({ vk, blinger } = s);
  bridges.push(s.tb);
  return s;
}

/** The POST VK's Callback API would make, to the bridge's route. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/vk/${VK_CHANNEL}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

describe('Bots Long Poll', () => {
  it('a text reaches Blinger under the peer_id with the user’s name; users.get is asked once per user', async () => {
    const s = await stack();
    await s.vk.waitForPoll();
    s.vk.pushMessageNew({ peer: 100001, text: 'Hello, where is my order?' });
    s.vk.pushMessageNew({ peer: 100001, text: 'It is #4411' });
    const got = await s.blinger.waitFor(2);
    expect(got.map((m) => [m.client_id, m.client_name, m.type, m.data])).toEqual([
      ['100001', 'Alice Smith', 'text', 'Hello, where is my order?'],
      ['100001', 'Alice Smith', 'text', 'It is #4411'],
    ]);
    expect(got[0]!.info).toMatchObject({ user_id: 100001, peer_id: 100001, chat_type: 'private', group_id: s.vk.community.id });
    expect(s.vk.calls.filter((c) => c.method === 'users.get')).toHaveLength(1);
    // The bridge switched Long Poll on with its events at start (the token may manage the community).
    expect(s.vk.longPollSettings().events).toMatchObject({
      message_new: true,
      message_edit: true,
      message_event: true,
      message_reply: false,
    });
    // The token travels in the Authorization header, never in a URL or a body.
    const methods = s.vk.calls.filter((c) => c.method.includes('.'));
    expect(methods.length).toBeGreaterThan(0);
    expect(methods.filter((c) => c.tokenVia !== 'header')).toEqual([]);
  });

  it('photos, documents and voice messages arrive as signed /media links that serve VK’s bytes, never VK’s URLs', async () => {
    const s = await stack();
    await s.vk.waitForPoll();
    const pdf = Buffer.from('%PDF-1.4\nthe invoice\n');
    const voice = Buffer.from('ID3-voice-bytes');
    s.vk.pushMessageNew({
      peer: 100002,
      text: 'see attached',
      attachments: [
        { type: 'photo', bytes: PNG_2X1 },
        { type: 'doc', bytes: pdf, title: 'invoice', ext: 'pdf' },
        { type: 'audio_message', bytes: voice },
      ],
    });
    const got = await s.blinger.waitFor(4);
    expect(got.map((m) => m.type)).toEqual(['image', 'file', 'file', 'text']);
    expect(got[3]!.data).toBe('see attached');
    for (const m of got.slice(0, 3)) {
      expect(m.data.startsWith(`${s.tb.url}/media/`)).toBe(true);
      expect(m.data).not.toContain(s.vk.origin.replace('http://', ''));
    }
    const fetched = await Promise.all(got.slice(0, 3).map(async (m) => Buffer.from(await (await fetch(m.data)).arrayBuffer())));
    expect(fetched[0]!.equals(PNG_2X1)).toBe(true);
    expect(fetched[1]!.equals(pdf)).toBe(true); // through VK's 302 to the file
    expect(fetched[2]!.equals(voice)).toBe(true);
    const doc = await fetch(got[1]!.data);
    expect(doc.headers.get('content-disposition')).toContain('invoice.pdf');
  });

  it('keeps its cursor in Redis: events sent while no bridge runs arrive when the next starts, each exactly once', async () => {
    vk = await startVkDouble({ users: [{ id: 100001, first_name: 'Alice', last_name: 'Smith' }] });
    blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: VK_CHANNEL });
    const prefix = uniquePrefix();
    const first = await startVkBridge({ vk, blingerUrl: blinger.url, prefix, keepKeys: true });
    await vk.waitForPoll();
    vk.pushMessageNew({ peer: 100001, text: 'one' });
    vk.pushMessageNew({ peer: 100001, text: 'two' });
    await blinger.waitFor(2);
    await first.stop();
    vk.pushMessageNew({ peer: 100001, text: 'three' });
    vk.pushMessageNew({ peer: 100001, text: 'four' });
    bridges.push(await startVkBridge({ vk, blingerUrl: blinger.url, prefix }));
    await blinger.waitFor(4);
    vk.pushMessageNew({ peer: 100001, text: 'five' });
    await blinger.waitFor(5);
    expect(blinger.received.map((m) => m.data)).toEqual(['one', 'two', 'three', 'four', 'five']);
  });

  it('failed: 2 → a new key and the same ts: events queued before and after the key expired all arrive, once', async () => {
    const s = await stack();
    await s.vk.waitForPoll();
    s.vk.pushMessageNew({ peer: 100001, text: 'before' });
    await s.blinger.waitFor(1);
    s.vk.expireKeys();
    s.vk.pushMessageNew({ peer: 100001, text: 'while expired' });
    s.vk.pushMessageNew({ peer: 100001, text: 'after' });
    await s.blinger.waitFor(3);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['before', 'while expired', 'after']);
    expect(s.vk.calls.filter((c) => c.method === 'groups.getLongPollServer').length).toBeGreaterThanOrEqual(2);
  });

  it('failed: 1 → on from the ts VK gives (the lost events are named in a warning); failed: 3 → a new key and ts; polling goes on', async () => {
    const s = await stack();
    await s.vk.waitForPoll();
    s.vk.failNextPoll(1);
    s.vk.failNextPoll(3);
    // Ends the waiting poll; the next two answer failed: 1 and failed: 3, then one waits again.
    s.vk.pushMessageNew({ peer: 100001, text: 'before the failures' });
    await s.blinger.waitFor(1);
    await s.vk.waitForPoll();
    s.vk.pushMessageNew({ peer: 100001, text: 'after the failures' });
    await s.blinger.waitFor(2);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['before the failures', 'after the failures']);
    expect(s.tb.logs.some((l) => l.includes('failed: 1'))).toBe(true);
    expect(s.tb.logs.some((l) => l.includes('failed: 3'))).toBe(true);
  });

  it('an edit arrives as "(edited) …"; the community’s own messages and typing are not sent to Blinger', async () => {
    const s = await stack();
    await s.vk.waitForPoll();
    const first = s.vk.pushMessageNew({ peer: 100001, text: 'my adress is Main St 1' });
    s.vk.pushEvent(s.vk.makeMessageEdit((first.object as { message: never }).message, 'my address is Main St 1'));
    s.vk.pushEvent(s.vk.makeEvent('message_typing_state', { state: 'typing', from_id: 100001, to_id: -s.vk.community.id }));
    s.vk.pushMessageNew({ peer: 100001, text: 'sentinel' });
    await s.blinger.waitFor(3);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['my adress is Main St 1', '(edited) my address is Main St 1', 'sentinel']);
  });
});

describe('Callback API', () => {
  const CALLBACK = { mode: 'callback', secret: 'Sup3rSecretKey', confirmation: '4a1b2c3d' };

  async function callbackStack(adapter: Record<string, unknown> = CALLBACK) {
    const s = await stack({ adapter });
    const server = s.vk.addCallbackServer({ url: `${s.tb.url}/vk/${VK_CHANNEL}`, secret: String(adapter.secret ?? '') });
    return { ...s, server };
  }

  it('confirms the address with the configured string', async () => {
    vk = await startVkDouble();
    blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: VK_CHANNEL });
    const tb = await startVkBridge({ vk, blingerUrl: blinger.url, adapter: { ...CALLBACK, confirmation: vk.confirmationCode() } });
    bridges.push(tb);
    const server = vk.addCallbackServer({ url: `${tb.url}/vk/${VK_CHANNEL}`, secret: CALLBACK.secret });
    expect(await vk.confirmCallbackServer(server)).toMatchObject({ confirmed: true, body: vk.confirmationCode() });
    expect(vk.calls.some((c) => c.method === 'groups.getCallbackConfirmationCode')).toBe(false);
  });

  it('without a configured string, answers the one VK gives (groups.getCallbackConfirmationCode)', async () => {
    const s = await callbackStack({ ...CALLBACK, confirmation: undefined });
    expect((await s.vk.confirmCallbackServer(s.server)).confirmed).toBe(true);
    expect(s.vk.calls.some((c) => c.method === 'groups.getCallbackConfirmationCode')).toBe(true);
  });

  it('a stale configured string is answered as configured, and VK does not confirm the server', async () => {
    const s = await callbackStack();
    expect(await s.vk.confirmCallbackServer(s.server)).toMatchObject({ confirmed: false, body: '4a1b2c3d' });
    expect(s.vk.callbackServers()[0]!.status).toBe('failed');
  });

  it('answers "ok" once the event is queued; a redelivery (X-Retry-Counter) is acknowledged and not delivered twice', async () => {
    const s = await callbackStack({ ...CALLBACK, confirmation: undefined });
    await s.vk.confirmCallbackServer(s.server);
    const event = s.vk.makeMessageNew({ peer: 100001, text: 'via callback' });
    expect(await s.vk.deliverCallback(event)).toMatchObject({ ok: true, attempts: [{ status: 200, body: 'ok' }] });
    const again = await post(s.tb.url, { ...event, secret: CALLBACK.secret }, { 'X-Retry-Counter': '1' });
    expect(again).toEqual({ status: 200, text: 'ok' });
    await s.vk.deliverCallback(s.vk.makeMessageNew({ peer: 100001, text: 'sentinel' }));
    await s.blinger.waitFor(2);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['via callback', 'sentinel']);
  });

  it('refuses a wrong or missing secret (403, nothing queued, VK keeps the event), another community and malformed events (400)', async () => {
    const s = await callbackStack();
    const event = s.vk.makeMessageNew({ peer: 100001, text: 'forged' });
    for (const secret of [undefined, '', 'wrong', `${CALLBACK.secret} `, CALLBACK.secret.toLowerCase(), 42]) {
      const r = await post(s.tb.url, { ...event, secret });
      expect(r.status, String(secret)).toBe(403);
      expect(r.text).not.toBe('ok');
    }
    // The confirmation string is never given away without the secret.
    expect((await post(s.tb.url, { type: 'confirmation', group_id: s.vk.community.id })).status).toBe(403);
    expect((await post(s.tb.url, { ...event, group_id: 1, secret: CALLBACK.secret })).status).toBe(400);
    expect((await post(s.tb.url, { type: 'message_new', group_id: s.vk.community.id, secret: CALLBACK.secret })).status).toBe(400);
    expect((await post(s.tb.url, { ...event, event_id: 'a b', secret: CALLBACK.secret })).status).toBe(400);
    expect((await post(s.tb.url, [event])).status).toBe(400);
    expect((await post(s.tb.url, '{"type":')).status).toBe(400);
    // Well-formed but nothing for an agent: acknowledged and ignored, so VK does not retry it forever.
    const broken = { ...event, object: { message: { peer_id: 'x' } }, secret: CALLBACK.secret };
    expect(await post(s.tb.url, broken)).toEqual({ status: 200, text: 'ok' });
    expect(await post(s.tb.url, { ...s.vk.makeEvent('group_join', { user_id: 5 }), secret: CALLBACK.secret })).toEqual({
      status: 200,
      text: 'ok',
    });
    expect(await post(s.tb.url, { ...s.vk.makeMessageNew({ peer: 100001, text: 'real' }), secret: CALLBACK.secret })).toEqual({
      status: 200,
      text: 'ok',
    });
    await s.blinger.waitFor(1);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['real']);
    expect(s.tb.logs.some((l) => l.includes('wrong or missing secret'))).toBe(true);
    expect(s.tb.logs.join('\n')).not.toContain(CALLBACK.secret);
  });

  it('a channel that polls refuses callbacks (409), so two receive paths never run at once', async () => {
    const s = await stack({ adapter: { secret: CALLBACK.secret } });
    const r = await post(s.tb.url, { ...s.vk.makeMessageNew({ peer: 100001, text: 'x' }), secret: CALLBACK.secret });
    expect(r.status).toBe(409);
    expect(r.text).toContain('Long Poll');
  });
});
