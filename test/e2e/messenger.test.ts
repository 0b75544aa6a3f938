/**
 * Messenger and Instagram Direct end to end against the Graph double and the Blinger double:
 * handshake and signatures, messages, postbacks and attachments in, agents' replies out (split
 * at each platform's limit, tagged with the bridge's echo marker), the 24-hour window with and
 * without the Human Agent tag, and an unavailable user.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { INSTAGRAM, MESSENGER } from '../../adapters/messenger/platform.js';
import { startMetaStack, VERIFY_TOKEN, type MetaStack, type MetaType } from '../helpers/meta.js';

let stack: MetaStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function start(type: 'messenger' | 'instagram', o: Parameters<typeof startMetaStack>[1] = {}): Promise<MetaStack> {
  stack = await startMetaStack(type, o);
  return stack;
}

const payloads = (s: MetaStack, type: MetaType) => (type === 'messenger' ? s.g.fb : s.g.ig);

async function deadLetters(s: MetaStack): Promise<Array<{ code: string }>> {
  const store = s.tb.bridge.outbound.store;
  return (await store.redis.hvals(store.dlqKey)).map((l) => JSON.parse(l) as { code: string });
}

for (const type of ['messenger', 'instagram'] as const) {
  describe(`${type} webhook and sends`, () => {
    it('verification, then a signed message reaches Blinger once (redelivery deduped); wrong signature 401, wrong object 400', async () => {
      const s = await start(type);
      await s.g.subscribe(s.webhook, VERIFY_TOKEN);
      expect((await s.g.verify(s.webhook, 'wrong')).status).toBe(403);
      const p = payloads(s, type);
      const payload = p.text('Hallo, ist das noch da? 😍', { mid: 'mid.1' });
      expect((await s.g.deliver(s.webhook, payload)).status).toBe(200);
      expect(JSON.parse((await s.g.deliver(s.webhook, payload)).responseBody)).toMatchObject({ duplicate: 1 });
      expect((await s.g.deliver(s.webhook, p.text('forged'), { signature: 'wrong', attempts: 1 })).status).toBe(401);
      const otherObject = await s.g.deliver(s.webhook, s.g.wa.text('whatsapp here'), { attempts: 1 });
      expect(otherObject.status).toBe(400);
      const [m] = await s.blinger.waitFor(1);
      expect(m).toMatchObject({ client_id: p.defaultUser, type: 'text', data: 'Hallo, ist das noch da? 😍' });
      expect(s.blinger.received).toHaveLength(1);
    });

    it('a postback and an attachment: [button] and a signed link that serves the CDN file', async () => {
      const s = await start(type);
      const p = payloads(s, type);
      const bytes = Buffer.from('\xff\xd8\xff image bytes');
      await s.g.deliver(
        s.webhook,
        s.g.batch([p.postback({ title: 'Prices', payload: 'prices' }), p.attachment('image', { content: bytes, mime: 'image/jpeg' })]),
      );
      const [button, image] = await s.blinger.waitFor(2);
      expect(button!.data).toBe('[button] Prices');
      expect(image!.type).toBe('image');
      expect(image!.data.startsWith(`${s.tb.url}/media/`)).toBe(true);
      const res = await fetch(image!.data);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    });

    it('an agent’s text is split at the platform’s limit, sent as RESPONSE with the echo marker', async () => {
      const s = await start(type);
      const p = payloads(s, type);
      s.g.openWindow(p.defaultUser);
      const text = 'Привет, мир! '.repeat(250).trim(); // 3,249 characters, 5,999 bytes
      await s.blinger.sendReply(s.tb.url, { client_id: p.defaultUser, type: 'text', data: text });
      const expected = (type === 'messenger' ? MESSENGER : INSTAGRAM).split(text);
      expect(expected.length).toBeGreaterThan(type === 'messenger' ? 1 : 6);
      const sent = await s.g.waitForSent(expected.length, type);
      expect(
        sent.every((x) => x.body.messaging_type === 'RESPONSE' && (x.body.message as { metadata?: string }).metadata === 'blinger-bridge'),
      ).toBe(true);
      const limit = type === 'messenger' ? (t: string) => t.length <= 2000 : (t: string) => Buffer.byteLength(t) <= 1000;
      expect(sent.every((x) => limit(x.text ?? ''))).toBe(true);
      expect(sent.map((x) => x.text)).toEqual(expected);
      expect(expected.join(' ')).toBe(text);
      await s.blinger.sendReply(s.tb.url, { client_id: p.defaultUser, type: 'image', data: 'https://files.example/photo.jpg' });
      const [, image] = [sent, (await s.g.waitForSent(sent.length + 1, type)).at(-1)!];
      expect(image.body.message).toMatchObject({ attachment: { type: 'image', payload: { url: 'https://files.example/photo.jpg' } } });
    });

    it('outside the 24-hour window: dead letter and the agent is told; with humanAgent the reply goes with the HUMAN_AGENT tag', async () => {
      const s = await start(type);
      const p = payloads(s, type);
      s.g.openWindow(p.defaultUser, s.g.now() - 30 * 3_600_000); // wrote 30 hours ago
      await s.blinger.sendReply(s.tb.url, { client_id: p.defaultUser, type: 'text', data: 'sorry for the wait' });
      const [notice] = await s.blinger.waitFor(1);
      expect(notice).toMatchObject({ client_id: p.defaultUser, echo: true, echo_outgoing: true });
      expect(notice!.data).toMatch(/^Not delivered: .* only within 24 hours/);
      expect(await deadLetters(s)).toEqual([expect.objectContaining({ code: 'window_closed' })]);
      await s.stop();

      const t = await start(type, { adapter: { humanAgent: true } });
      const q = payloads(t, type);
      t.g.openWindow(q.defaultUser, t.g.now() - 30 * 3_600_000);
      await t.blinger.sendReply(t.tb.url, { client_id: q.defaultUser, type: 'text', data: 'sorry for the wait' });
      const [tagged] = await t.g.waitForSent(1, type);
      expect(tagged!.body).toMatchObject({ messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' });
      expect(tagged!.text).toBe('sorry for the wait');
    });

    it('a user who is not available (551): no retry, dead letter, the agent is told', async () => {
      const s = await start(type);
      const p = payloads(s, type);
      s.g.openWindow(p.defaultUser);
      s.g.makeUnreachable(p.defaultUser, 'unavailable');
      await s.blinger.sendReply(s.tb.url, { client_id: p.defaultUser, type: 'text', data: 'hello?' });
      const [notice] = await s.blinger.waitFor(1);
      expect(notice!.data).toMatch(/^Not delivered: this person isn't available/);
      expect(await deadLetters(s)).toEqual([expect.objectContaining({ code: 'unavailable' })]);
    });
  });
}

describe('messenger echoes', () => {
  it('a message written in the Page inbox reaches Blinger as an outgoing echo in the user’s conversation', async () => {
    const s = await start('messenger');
    await s.g.deliver(s.webhook, s.g.fb.echo('We open at 9.'));
    const [echo] = await s.blinger.waitFor(1);
    expect(echo).toMatchObject({ client_id: s.g.fb.defaultUser, data: 'We open at 9.', echo: true, echo_outgoing: true });
  });
});
