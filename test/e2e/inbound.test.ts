/**
 * End-user → Blinger, end to end: a real bridge (HTTP server, Telegram adapter, workers, Redis)
 * between the Telegram Bot API double and the Blinger Custom App double.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TelegramDouble } from '../doubles/telegram-api.js';
import type { BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, startTelegramStack, stopTelegramStack, type TestBridge } from '../helpers/bridge.js';
import { deriveWebhookSecret } from '../../adapters/telegram/settings.js';

let tg: TelegramDouble;
let blinger: BlingerDouble;
let tb: TestBridge | undefined;

async function setup(mode: 'polling' | 'webhook'): Promise<TestBridge> {
  ({ tg, blinger, tb } = await startTelegramStack({ mode }));
  return tb;
}

afterEach(async () => {
  await stopTelegramStack({ tg, blinger, tb });
  tb = undefined;
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('polling mode', () => {
  it('forwards a text message with the exact Custom App body and confirms the offset afterwards', async () => {
    await setup('polling');
    const update = tg.makeMessageUpdate({ chat_id: 5001, text: 'Hello, I need help' });
    tg.pushUpdate(update);
    const [got] = await blinger.waitFor(1);
    expect(got).toMatchObject({
      token: BLINGER_TOKEN,
      custom_channel_id: CHANNEL_ID,
      client_id: '5001',
      type: 'text',
      data: 'Hello, I need help',
    });
    expect(got!.client_name).toBeTruthy();
    expect(got!.info).toMatchObject({ bot_username: 'test_bridge_bot', chat_type: 'private' });
    expect(blinger.rejected).toEqual([]);
    // The next getUpdates confirms it: the offset moves past the update only after it was queued.
    await expect.poll(() => tg.confirmedOffset).toBeGreaterThan(update.update_id);
  });

  it('keeps a conversation in order while Blinger answers 503 for a while, then recovers', async () => {
    await setup('polling');
    blinger.failNext(503, 6);
    for (let i = 1; i <= 10; i++) tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 7, text: `m${i}` }));
    for (let i = 1; i <= 5; i++) tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 8, text: `n${i}` }));
    await blinger.waitFor(15);
    const byClient = blinger.byClient();
    expect(byClient.get('7')!.map((m) => m.data)).toEqual([...Array(10)].map((_, i) => `m${i + 1}`));
    expect(byClient.get('8')!.map((m) => m.data)).toEqual([...Array(5)].map((_, i) => `n${i + 1}`));
    expect(blinger.received).toHaveLength(15);
  });

  it('turns a photo into a signed /media link that serves the file, and the bot token appears nowhere', async () => {
    await setup('polling');
    const content = Buffer.from('\xff\xd8\xff fake jpeg bytes', 'binary');
    const file = tg.addFile({ content, file_path: 'photos/file_1.jpg', mime: 'image/jpeg' });
    const update = tg.makeMessageUpdate({ chat_id: 5002, text: 'x' });
    const message = update.message as unknown as Record<string, unknown>;
    delete message.text;
    message.photo = [
      { file_id: 'small-id', file_unique_id: 'small', width: 90, height: 90, file_size: 10 },
      { file_id: file.file_id, file_unique_id: file.file_unique_id, width: 800, height: 800, file_size: file.file_size },
    ];
    message.caption = 'my receipt';
    tg.pushUpdate(update);
    const [image, caption] = await blinger.waitFor(2);
    expect(image).toMatchObject({ type: 'image', client_id: '5002' });
    expect(image!.data.startsWith(`${tb!.url}/media/`)).toBe(true);
    expect(caption).toMatchObject({ type: 'text', data: 'my receipt' });

    const res = await fetch(image!.data);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(content);

    const tampered = await fetch(image!.data.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    expect(tampered.status).toBe(403);

    const everything = JSON.stringify(blinger.received) + tb!.logs.join('\n');
    expect(everything).not.toContain(BOT_TOKEN);
    expect(everything).not.toContain(BOT_TOKEN.split(':')[1]);
  });
});

describe('webhook mode', () => {
  it('registers the webhook with a secret and allowed_updates, queues before answering 200, and ignores redelivery', async () => {
    await setup('webhook');
    expect(tg.webhook).toMatchObject({ url: `${tb!.url}/telegram/${CHANNEL_ID}`, secret_token: deriveWebhookSecret(BOT_TOKEN) });
    expect(tg.webhook?.allowed_updates).toEqual(expect.arrayContaining(['message', 'edited_message']));

    const update = tg.makeMessageUpdate({ chat_id: 9001, text: 'via webhook' });
    const first = await tg.deliverWebhook(update);
    expect(first.status).toBe(200);
    const again = await tg.deliverWebhook(update);
    expect(again.status).toBe(200);
    const next = tg.makeMessageUpdate({ chat_id: 9001, text: 'second' });
    expect((await tg.deliverWebhook(next)).status).toBe(200);
    await blinger.waitFor(2);
    expect(blinger.received.map((m) => m.data)).toEqual(['via webhook', 'second']);
  });

  it('answers bad requests with a clear 4xx and queues nothing', async () => {
    const b = await setup('webhook');
    const url = `${b.url}/telegram/${CHANNEL_ID}`;
    const secret = { 'x-telegram-bot-api-secret-token': deriveWebhookSecret(BOT_TOKEN) };
    const update = tg.makeMessageUpdate({ chat_id: 1, text: 'x' });

    const wrong = await post(url, update, { 'x-telegram-bot-api-secret-token': 'nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'unauthorized' });
    expect((await post(url, update)).status).toBe(401);

    const malformed = await post(url, '{"update_id": 1,', secret);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { message: string }).message).toMatch(/JSON/);
    const noId = await post(url, { message: {} }, secret);
    expect(noId.status).toBe(400);
    expect(((await noId.json()) as { message: string }).message).toMatch(/update_id/);
    expect((await post(`${b.url}/telegram/nope`, update, secret)).status).toBe(404);
    const big = await post(url, JSON.stringify({ update_id: 5, pad: 'x'.repeat(1024 * 1024) }), secret);
    expect(big.status).toBe(413);
    const text = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain', ...secret }, body: 'hi' });
    expect(text.status).toBe(415);

    expect(await b.bridge.inbound.store.redis.scard(b.bridge.inbound.store.lanesKey)).toBe(0);
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
  });
});
