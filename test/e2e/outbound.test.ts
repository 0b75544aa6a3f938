/**
 * Agent → end-user, end to end: Blinger's webhook → outbound lanes → Telegram Bot API double.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TelegramDouble } from '../doubles/telegram-api.js';
import type { BlingerDouble } from '../doubles/blinger.js';
import { splitText } from '../../src/toolkit/split-text.js';
import { MediaSigner } from '../../src/media/links.js';
import { BLINGER_TOKEN, CHANNEL_ID, startTelegramStack, stopTelegramStack, type TestBridge } from '../helpers/bridge.js';

let tg: TelegramDouble;
let blinger: BlingerDouble;
let tb: TestBridge | undefined;

const RELAXED = {
  limits: { bot: { max: 10_000, windowMs: 1000 }, privateChat: { max: 10_000, windowMs: 1000 }, group: { max: 10_000, windowMs: 1000 } },
};

async function setup(opts: { telegram?: Record<string, unknown>; enforceLimits?: boolean; seed?: number } = {}): Promise<TestBridge> {
  ({ tg, blinger, tb } = await startTelegramStack({
    double: { enforceLimits: opts.enforceLimits ?? false, seed: opts.seed ?? 7 },
    mode: 'webhook',
    telegram: opts.telegram,
  }));
  return tb;
}

afterEach(async () => {
  await stopTelegramStack({ tg, blinger, tb });
  tb = undefined;
});

const reply = (client_id: string, data: string, type: 'text' | 'image' | 'file' = 'text') =>
  blinger.sendReply(tb!.url, { client_id, type, data });

describe('POST /blinger/:channelId', () => {
  it('delivers an agent text as typed (no markup parsing) and answers 200 once queued', async () => {
    await setup();
    const res = await reply('5001', 'Hi <b>there</b> *friend* & _you_');
    expect(res.status).toBe(200);
    const [sent] = await tg.waitForSent(1);
    expect(sent).toMatchObject({ method: 'sendMessage', chat_id: '5001', text: 'Hi <b>there</b> *friend* & _you_' });
    expect(sent!.parse_mode).toBeUndefined();
  });

  it('splits a long text into ordered parts of at most 4096 characters', async () => {
    await setup({ telegram: RELAXED });
    const words = Array.from({ length: 1500 }, (_, i) => `word${i}`).join(' ');
    expect((await reply('77', words)).status).toBe(200);
    const expectedParts = splitText(words).length;
    expect(expectedParts).toBeGreaterThan(2);
    await tg.waitForSent(expectedParts);
    const parts = tg.sent.map((s) => s.text!);
    expect(parts.every((p) => p.length <= 4096)).toBe(true);
    expect(parts.join(' ')).toBe(words);
  });

  it('rejects unauthenticated, unknown, malformed and oversized requests with the right 4xx and queues nothing', async () => {
    const b = await setup();
    const url = `${b.url}/blinger/${CHANNEL_ID}`;
    const good = { token: BLINGER_TOKEN, custom_channel_id: CHANNEL_ID, client_id: '1', type: 'text', data: 'hi' };
    const post = (
      body: unknown,
      headers: Record<string, string> = { authorization: `Bearer ${BLINGER_TOKEN}` },
      path = url,
      contentType = 'application/json',
    ) =>
      fetch(path, {
        method: 'POST',
        headers: { 'content-type': contentType, ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const message = async (r: Response) => ((await r.json()) as { message: string }).message;

    const { token: _token, ...untokened } = good;
    expect((await post(untokened, {})).status).toBe(401);
    expect((await post(good, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post({ ...good, token: 'other' })).status).toBe(401);
    expect((await post(good, undefined, `${b.url}/blinger/unknown`)).status).toBe(404);

    const cases: [unknown, RegExp][] = [
      [{ ...good, client_id: '' }, /^client_id: must not be empty/],
      [{ ...good, client_id: ' ' }, /^client_id: must not be blank/],
      [{ ...good, client_id: '\t\n' }, /^client_id: must not be blank; client_id: must not contain control characters/],
      [{ ...good, client_id: 'web-1\u0000' }, /^client_id: must not contain control characters/],
      [{ ...good, client_id: 'web-1\u001b[31m' }, /^client_id: must not contain control characters/],
      [{ ...good, client_id: 'web\u0085' }, /^client_id: must not contain control characters/],
      [{ ...good, type: 'video' }, /^type: must be one of text, image, file/],
      [{ ...good, data: '' }, /^data: must not be empty/],
      [{ ...good, type: 'image', data: 'not a url' }, /^data: must be an http\(s\) URL/],
      [{ ...good, custom_channel_id: '999' }, /^custom_channel_id: "999" does not match/],
      [{ token: BLINGER_TOKEN, custom_channel_id: CHANNEL_ID, type: 'text', data: 'x' }, /^client_id: is required/],
      [{ token: BLINGER_TOKEN, custom_channel_id: CHANNEL_ID, client_id: '1', data: 'x' }, /^type: is required/],
      [{ ...good, client_id: { id: 1 } }, /^client_id: must be a string or a number/],
      [[1, 2], /^body: expected a JSON object/],
    ];
    for (const [body, expected] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await message(res)).toMatch(expected);
    }
    const broken = await post('{"client_id":');
    expect(broken.status).toBe(400);
    expect((await post('x', undefined, url, 'text/plain')).status).toBe(415);
    expect((await post({ ...good, data: 'x'.repeat(1024 * 1024) })).status).toBe(413);

    expect(await b.bridge.outbound.store.redis.scard(b.bridge.outbound.store.lanesKey)).toBe(0);
    expect(tg.sent).toHaveLength(0);
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
  });

  it('20 conversations × 50 replies under random 5xx: all delivered, each conversation in order, no duplicates', async () => {
    await setup({ telegram: RELAXED, seed: 11 });
    tg.setFailureRate('sendMessage', 0.2, { error_code: 502, description: 'Bad Gateway' });
    const chats = 20;
    const per = 50;
    // As Blinger does: one conversation's replies one after another, the conversations side by side.
    const statuses = await Promise.all(
      Array.from({ length: chats }, async (_, c) => {
        const got: number[] = [];
        for (let n = 0; n < per; n++) got.push((await reply(String(1000 + c), `reply ${n}`)).status);
        return got;
      }),
    );
    expect(statuses.flat().every((status) => status === 200)).toBe(true);
    await tg.waitForSent(chats * per, 60_000);
    const byChat = new Map<string, string[]>();
    for (const s of tg.sent) byChat.set(s.chat_id, [...(byChat.get(s.chat_id) ?? []), s.text!]);
    for (let c = 0; c < chats; c++) expect(byChat.get(String(1000 + c))).toEqual([...Array(per)].map((_, n) => `reply ${n}`));
    expect(tg.sent).toHaveLength(chats * per);
    expect(tg.calls.filter((c) => c.method === 'sendMessage').length).toBeGreaterThan(chats * per);
    // 1,000 paced sends with retries: 3 s alone, up to 18 s seen while the browser tests load CI's two cores.
  }, 60_000);

  it('a user who blocked the bot: no retry, dead-letter with the reason, and the agent is told in Blinger', async () => {
    const b = await setup();
    tg.blockChat('666');
    expect((await reply('666', 'are you there?')).status).toBe(200);
    const [echo] = await blinger.waitFor(1);
    expect(echo).toMatchObject({ client_id: '666', type: 'text', echo: true, echo_outgoing: true });
    expect(echo!.data).toMatch(/^Not delivered: the user blocked the bot/);
    expect(tg.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(1);
    const letters = await b.bridge.outbound.store.redis.hvals(b.bridge.outbound.store.dlqKey);
    expect(letters.map((l) => JSON.parse(l) as { reason: string; code: string })).toEqual([
      expect.objectContaining({ code: 'blocked', reason: expect.stringMatching(/blocked/) }),
    ]);
  });

  it('429: waits retry_after for that chat while other chats keep going, then delivers in order', async () => {
    await setup({ telegram: RELAXED });
    tg.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', retry_after: 1 });
    await reply('1', 'first');
    await expect.poll(() => tg.calls.filter((c) => c.method === 'sendMessage').length).toBe(1);
    await reply('1', 'second');
    await reply('2', 'other chat');
    const sent = await tg.waitForSent(3);
    expect(sent.filter((s) => s.chat_id === '1').map((s) => s.text)).toEqual(['first', 'second']);
    // The other chat was not held behind the rate-limited one.
    expect(sent[0]).toMatchObject({ chat_id: '2', text: 'other chat' });
  });

  it('within Telegram limits: a burst over many chats is paced with no 429', async () => {
    // Telegram's own limits on both sides: the double counts each send when it arrives, and the
    // bridge's pacer records it no earlier than that, however loaded the machine is.
    await setup({ enforceLimits: true });
    const chats = 12;
    for (let c = 0; c < chats; c++) for (let n = 0; n < 4; n++) await reply(String(2000 + c), `m${n}`);
    await tg.waitForSent(chats * 4, 30_000);
    expect(tg.stats.tooManyRequests).toBe(0);
    for (let c = 0; c < chats; c++)
      expect(tg.sent.filter((s) => s.chat_id === String(2000 + c)).map((s) => s.text)).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('sends an image by URL, and uploads it when Telegram cannot fetch the URL', async () => {
    const b = await setup();
    const file = tg.addFile({
      content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]),
      file_path: 'docs/pic.png',
      mime: 'image/png',
    });
    // A URL the double can fetch: a signed media link of the bridge itself.
    const link = new MediaSigner(b.bridge.config.mediaSecret, b.url, 60_000).link(CHANNEL_ID, {
      id: file.file_id,
      name: 'pic.png',
      mime: 'image/png',
    });
    expect((await reply('42', link, 'image')).status).toBe(200);
    const [byUrl] = await tg.waitForSent(1);
    expect(byUrl).toMatchObject({ method: 'sendPhoto', chat_id: '42', via: 'url' });

    tg.failNext('sendPhoto', { error_code: 400, description: 'Bad Request: failed to get HTTP URL content' });
    expect((await reply('42', link, 'image')).status).toBe(200);
    const sent = await tg.waitForSent(2);
    expect(sent[1]).toMatchObject({ method: 'sendPhoto', chat_id: '42', via: 'upload', filename: 'pic.png' });
    expect(sent[1]!.size).toBe(11);
  });
});
