/**
 * A lone UTF-16 surrogate (half an emoji: "\ud83d" in JSON) at each of the bridge's entry points.
 * It used to be acknowledged, then make every Lua script reading the lane entry fail: the message
 * was delivered again every ~2 s and its conversation was stuck. Now it arrives once, with U+FFFD
 * in place of the broken half, and the next message of the conversation follows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { once } from 'node:events';
import type { TelegramDouble } from '../doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { startTelegramStack, stopTelegramStack, type TestBridge } from '../helpers/bridge.js';
import { startChatBridge, webchatChannel, type ChatBridge } from '../helpers/webchat.js';
import { launchBrowser } from '../helpers/browser.js';
import { clientIdOf } from '../../adapters/webchat/protocol.js';
import type { LaneQueue } from '../../src/delivery/lane-queue.js';

const BROKEN = 'broken \ud83d tail';
const REPAIRED = 'broken \ufffd tail';
const GRIN = '\ud83d\ude00';
const TOKEN = 'poison-blinger-token-0123456789';
const SITE = 'site';

let tg: TelegramDouble | undefined;
let blinger: BlingerDouble | undefined;
let tb: TestBridge | undefined;
let chat: ChatBridge | undefined;
let browser: Browser | undefined;

afterEach(async () => {
  await browser?.close();
  await chat?.stop();
  await stopTelegramStack({ tg, blinger, tb });
  [tg, blinger, tb, chat, browser] = [undefined, undefined, undefined, undefined, undefined];
});

/** Resolves after `n` messages were delivered and popped from the queue's lanes. */
async function delivered(queue: LaneQueue<unknown>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await once(queue, 'delivered');
}

describe('Telegram', () => {
  it('webhook: a message and a sender name with a lone surrogate reach Blinger once, and the next message follows', async () => {
    ({ tg, blinger, tb } = await startTelegramStack({ mode: 'webhook' }));
    const first = tg.makeMessageUpdate({ chat_id: 6101, text: BROKEN, from: { first_name: `Ann${'\ud83d'}`, last_name: undefined } });
    expect((await tg.deliverWebhook(first)).status).toBe(200);
    expect((await tg.deliverWebhook(tg.makeMessageUpdate({ chat_id: 6101, text: 'after' }))).status).toBe(200);
    await blinger.waitFor(2);
    expect(blinger.received.map((m) => m.data)).toEqual([REPAIRED, 'after']);
    expect(blinger.received[0]!.client_name).toBe('Ann\ufffd');
  });

  it('polling: an update with a lone surrogate reaches Blinger once, and the next message follows', async () => {
    ({ tg, blinger, tb } = await startTelegramStack({ mode: 'polling' }));
    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 6102, text: BROKEN }));
    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 6102, text: 'after' }));
    await blinger.waitFor(2);
    expect(blinger.received.map((m) => m.data)).toEqual([REPAIRED, 'after']);
  });

  it('agent reply (POST /blinger/:channelId): sent to Telegram once, and the next reply follows', async () => {
    ({ tg, blinger, tb } = await startTelegramStack({ mode: 'webhook' }));
    expect((await blinger.sendReply(tb.url, { client_id: '6103', type: 'text', data: BROKEN })).status).toBe(200);
    expect((await blinger.sendReply(tb.url, { client_id: '6103', type: 'text', data: 'after' })).status).toBe(200);
    await tg.waitForSent(2);
    expect(tg.sent.map((s) => s.text)).toEqual([REPAIRED, 'after']);
  });
});

describe('web chat', () => {
  async function startSite(): Promise<ChatBridge> {
    blinger = await startBlingerDouble({ token: TOKEN, channelId: SITE });
    chat = await startChatBridge({ channels: [webchatChannel({ id: SITE, blingerUrl: blinger.url, token: TOKEN })] });
    return chat;
  }

  it('socket: a visitor name and a message with a lone surrogate reach Blinger once, and the next message follows', async () => {
    const site = await startSite();
    browser = await launchBrowser();
    const page = await browser.newPage();
    const key = 'poison-visitor-key-0123456789';
    // The page's own JSON.stringify writes the lone half as the escape "\ud83d", as chat.js would.
    const acks = await page.evaluate(
      async ({ url, key }) => {
        const half = String.fromCharCode(0xd83d);
        const ws = new WebSocket(url);
        const next = (type: string) =>
          new Promise<{ type: string; entry?: { data: string } }>((resolve) =>
            ws.addEventListener('message', (e) => {
              const f = JSON.parse(e.data as string) as { type: string; entry?: { data: string } };
              if (f.type === type || f.type === 'error') resolve(f);
            }),
          );
        await new Promise((resolve) => (ws.onopen = resolve));
        const welcome = next('welcome');
        ws.send(JSON.stringify({ type: 'hello', key, name: `Eve ${half}` }));
        await welcome;
        const out = [];
        for (const [id, text] of [
          ['poison-msg-1', `broken ${half} tail`],
          ['poison-msg-2', 'after'],
        ]) {
          const ack = next('ack');
          ws.send(JSON.stringify({ type: 'message', id, text }));
          out.push(await ack);
        }
        ws.close();
        return out;
      },
      { url: `${site.url.replace('http', 'ws')}/chat/${SITE}/ws`, key },
    );
    expect(acks.map((a) => [a.type, a.entry?.data])).toEqual([
      ['ack', REPAIRED],
      ['ack', 'after'],
    ]);
    await blinger!.waitFor(2);
    expect(blinger!.received.map((m) => [m.data, m.client_name])).toEqual([
      [REPAIRED, 'Eve \ufffd'],
      ['after', 'Eve \ufffd'],
    ]);
  });

  it('upload: a 200-character file name ending in an emoji is cut before the emoji, and agent replies to that visitor arrive', async () => {
    const site = await startSite();
    const key = 'poison-uploader-key-0123456789';
    const clientId = clientIdOf(key);
    const name = `${'a'.repeat(199)}${GRIN}`; // code unit 200 is the emoji's second half
    const res = await fetch(`${site.url}/chat/${SITE}/upload`, {
      method: 'POST',
      body: 'the file',
      headers: {
        'content-type': 'text/plain',
        'x-visitor-key': key,
        'x-message-id': 'poison-upload-1',
        'x-file-name': encodeURIComponent(name),
        // The page's context header is JSON: a lone half arrives as an escape.
        'x-chat-context': encodeURIComponent(JSON.stringify({ name: 'Eve \ud83d', page: 'https://shop.example/\ud83d' })),
      },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { entry: { name: string } }).entry.name).toBe('a'.repeat(199));
    const [got] = await blinger!.waitFor(1);
    expect(got).toMatchObject({ type: 'file', client_name: 'Eve \ufffd', info: { page: 'https://shop.example/\ufffd' } });

    const replies = delivered(site.bridge.outbound as LaneQueue<unknown>, 2);
    for (const data of [BROKEN, 'after']) {
      expect((await blinger!.sendReply(site.url, { client_id: clientId, type: 'text', data })).status).toBe(200);
    }
    await replies;
    const history = await site.chat(SITE).history(clientId);
    expect(history.map((e) => [e.from, e.name ?? e.data])).toEqual([
      ['visitor', 'a'.repeat(199)],
      ['agent', REPAIRED],
      ['agent', 'after'],
    ]);
  });
});

describe('sandbox', () => {
  it("the agents' inbox: replies, recorded replies and attached file names with a lone surrogate come out well-formed", async () => {
    chat = await startChatBridge();
    const key = 'poison-sandbox-key-0123456789';
    const clientId = clientIdOf(key);
    // The visitor starts the conversation with an upload whose name would be cut inside an emoji.
    const up = await fetch(`${chat.url}/chat/sandbox/upload`, {
      method: 'POST',
      body: 'x',
      headers: {
        'content-type': 'text/plain',
        'x-visitor-key': key,
        'x-message-id': 'poison-sbx-1',
        'x-file-name': encodeURIComponent(`${'b'.repeat(199)}${GRIN}`),
      },
    });
    expect(up.status).toBe(200);

    // An agent attaches a file: the stand-in hosts it under its (cut) name.
    const file = await fetch(`${chat.url}/sandbox/files`, {
      method: 'POST',
      body: 'pdf',
      headers: { 'content-type': 'application/pdf', 'x-file-name': encodeURIComponent(`${'c'.repeat(199)}${GRIN}`) },
    });
    expect(file.status).toBe(200);
    expect(((await file.json()) as { url: string }).url).toMatch(new RegExp(`/${'c'.repeat(199)}$`));

    // The inbox page sends replies like Blinger does, then records what it sent.
    const token = chat.sandboxToken();
    const replies = delivered(chat.bridge.outbound as LaneQueue<unknown>, 2);
    for (const data of [BROKEN, 'after']) {
      const res = await fetch(`${chat.url}/blinger/sandbox`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ token, custom_channel_id: 'sandbox', client_id: clientId, type: 'text', data }),
      });
      expect(res.status).toBe(200);
      const recorded = await fetch(`${chat.url}/sandbox/api/conversations/${clientId}/replies`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'text', data, status: 200, answer: { success: true } }),
      });
      expect(recorded.status).toBe(200);
    }
    await replies;
    expect((await chat.chat().history(clientId)).map((e) => e.name ?? e.data)).toEqual(['b'.repeat(199), REPAIRED, 'after']);
    const conv = (await (await fetch(`${chat.url}/sandbox/api/conversations/${clientId}`)).json()) as {
      events: Array<{ dir: string; data?: string; violations?: string[] }>;
    };
    expect(conv.events.filter((e) => e.dir === 'out').map((e) => e.data)).toEqual([REPAIRED, 'after']);
    // The bridge's message reached the stand-in once, and broke no rule.
    expect(conv.events.filter((e) => e.dir === 'in').map((e) => e.violations)).toEqual([[]]);
  });
});
