/**
 * The web chat as a production messenger (BRIDGE_CONFIG `adapter: {type: webchat}`) against the
 * Blinger Custom App double, in a real browser: an ingress process holds the visitor's socket,
 * a separate worker process delivers both ways, and the agent's reply still reaches the page
 * (Redis pub/sub). Plus the reply to a visitor that does not exist, and what uploads are served as.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import { artifactPath, launchBrowser, visitorKeyOf, SENT } from '../helpers/browser.js';
import { startChatBridge, type ChatBridge } from '../helpers/webchat.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { uniquePrefix } from '../helpers/redis.js';
import { freePort, spawnRedis } from '../helpers/net.js';
import { clientIdOf } from '../../adapters/webchat/protocol.js';
import type { ChannelConfig } from '../../src/config/schema.js';

const TOKEN = 'webchat-blinger-token-0123456789';
const CHANNEL = 'site-chat';

let browser: Browser;
let blinger: BlingerDouble;
const bridges: ChatBridge[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => undefined)));
  // Workers first (they share the ingress' keys), the process that removes the keys last.
  for (const b of bridges.splice(0).reverse()) await b.stop();
  await blinger?.close();
});

function channel(url: string, adapter: Record<string, unknown> = {}): ChannelConfig {
  return {
    id: CHANNEL,
    blinger: { url, token: TOKEN, timeoutMs: 2000 },
    adapter: { type: 'webchat', title: 'Acme support', maxUploadBytes: '1KiB', ...adapter },
    allowPrivateUrls: false,
  };
}

async function visitorPage(url: string) {
  const context = await browser.newContext({ viewport: { width: 420, height: 700 } });
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${url}/chat/${CHANNEL}`);
  await page.locator('#status[data-state=online]').waitFor();
  const key = await visitorKeyOf(page, CHANNEL);
  return { page, key, clientId: clientIdOf(key) };
}

describe('web chat in production', () => {
  it('ingress holds the socket, a separate worker process delivers both ways, the reply reaches the page through Redis pub/sub', async () => {
    blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
    const prefix = uniquePrefix();
    const ingress = await startChatBridge({ channels: [channel(blinger.url)], role: 'ingress', prefix });
    bridges.push(ingress);
    const worker = await startChatBridge({ channels: [channel(blinger.url)], role: 'worker', prefix, keepKeys: true });
    bridges.push(worker);

    const v = await visitorPage(ingress.url);
    expect(await v.page.getByRole('heading', { level: 1 }).textContent()).toBe('Acme support');
    await v.page.getByLabel('Message', { exact: true }).fill('Hello from production');
    await v.page.keyboard.press('Enter');
    await v.page.locator(`.msg.visitor ${SENT}`).waitFor();

    const [got] = await blinger.waitFor(1);
    expect(got).toMatchObject({
      token: TOKEN,
      custom_channel_id: CHANNEL,
      client_id: v.clientId,
      type: 'text',
      data: 'Hello from production',
    });
    expect(got!.info).toMatchObject({
      source: 'web chat',
      page: `${ingress.url}/chat/${CHANNEL}`,
      user_agent: expect.stringContaining('Chrome'),
    });
    expect(blinger.rejected).toEqual([]);
    // The worker process delivered it; its tick reaches the page the ingress process holds.
    await v.page.locator('.msg.visitor .state[data-status=delivered]').waitFor();

    const answer = await blinger.sendReply(ingress.url, { client_id: v.clientId, type: 'text', data: 'Hello from an agent' });
    expect(answer.status).toBe(200);
    await v.page.locator('.msg.agent', { hasText: 'Hello from an agent' }).waitFor();
    // Only the worker process has delivery workers: it stored the reply and published it (the page
    // shows the reply as soon as it is stored; the worker logs "delivered" once it popped it).
    await expect.poll(() => worker.logs.some((l) => l.includes('"event":"delivered"') && l.includes('"direction":"outbound"'))).toBe(true);
    expect(ingress.logs.some((l) => l.includes('"event":"delivered"'))).toBe(false);
    expect(ingress.chat(CHANNEL).hub.size).toBe(1);
    expect(worker.chat(CHANNEL).hub.size).toBe(0);

    // The per-channel upload cap (1 KiB here) is what the page and the server both enforce.
    await v.page.locator('#file').setInputFiles({ name: 'big.txt', mimeType: 'text/plain', buffer: Buffer.alloc(2048, 97) });
    await v.page.getByRole('alert').filter({ hasText: 'larger than 1 KiB' }).waitFor();
    const res = await fetch(`${ingress.url}/chat/${CHANNEL}/upload`, {
      method: 'POST',
      body: Buffer.alloc(2048, 97),
      headers: { 'content-type': 'text/plain', 'x-visitor-key': v.key, 'x-message-id': 'too-big-0001' },
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'payload_too_large', message: 'the file is larger than 1 KiB, the most this chat accepts' });
    await v.page.screenshot({ path: artifactPath('webchat-production.png') });
  });

  it('while Redis is away the page keeps the message as waiting, and sends it once Redis is back', async () => {
    blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
    const port = await freePort();
    let redis = await spawnRedis(port);
    let tb: ChatBridge | undefined;
    try {
      tb = await startChatBridge({ channels: [channel(blinger.url)], redisUrl: `redis://127.0.0.1:${port}` });
      const v = await visitorPage(tb.url);

      const gone = new Promise((r) => redis.once('exit', r));
      redis.kill('SIGKILL');
      await gone;
      await v.page.getByLabel('Message', { exact: true }).fill('Sent during the outage');
      await v.page.keyboard.press('Enter');
      // Not acknowledged (nothing is durable), not lost: the page says it waits and retries.
      await v.page.locator('.msg.visitor.pending .state', { hasText: 'Waiting to send…' }).waitFor();
      expect(blinger.received).toEqual([]);

      redis = await spawnRedis(port);
      await v.page.locator(`.msg.visitor ${SENT}`).waitFor({ timeout: 20_000 });
      const [got] = await blinger.waitFor(1, 20_000);
      expect(got).toMatchObject({ client_id: v.clientId, data: 'Sent during the outage' });
      expect(await v.page.locator('.msg.visitor').count()).toBe(1);
    } finally {
      // The bridge before its Redis, so it shuts down cleanly.
      await tb?.stop();
      redis.kill('SIGTERM');
    }
  });

  it('a reply to a visitor the chat does not know is dead-lettered, and the agent is told in Blinger', async () => {
    blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
    const tb = await startChatBridge({ channels: [channel(blinger.url)] });
    bridges.push(tb);
    const answer = await blinger.sendReply(tb.url, { client_id: 'web-nobody', type: 'text', data: 'Are you there?' });
    expect(answer.status).toBe(200);
    const [echo] = await blinger.waitFor(1);
    expect(echo).toMatchObject({
      client_id: 'web-nobody',
      type: 'text',
      echo: true,
      echo_outgoing: true,
      data: expect.stringContaining('web chat no longer exists'),
    });
    const dlq = await tb.bridge.outbound.store.redis.hlen(`${tb.prefix}:dlq:outbound`);
    expect(dlq).toBe(1);
    expect(await tb.chat(CHANNEL).history('web-nobody')).toEqual([]);
  });

  it('uploads are served back safely: images inline, anything a browser could run as a download', async () => {
    blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
    const tb = await startChatBridge({ channels: [channel(blinger.url, { maxUploadBytes: 4096 })] });
    bridges.push(tb);
    const key = 'a'.repeat(40);
    const upload = async (id: string, name: string, type: string, body: string) => {
      const res = await fetch(`${tb.url}/chat/${CHANNEL}/upload`, {
        method: 'POST',
        body,
        headers: {
          'content-type': type,
          'x-visitor-key': key,
          'x-message-id': id,
          'x-file-name': encodeURIComponent(name),
          'x-chat-context': encodeURIComponent(JSON.stringify({ name: 'Eve', page: 'https://x.example/' })),
        },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { status: string; entry: { type: string; data: string; name: string } };
    };
    const svg = await upload(
      'svg-upload-1',
      '../../evil.svg',
      'image/svg+xml',
      '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    );
    expect(svg.entry).toMatchObject({ type: 'file', name: 'evil.svg' });
    const served = await fetch(svg.entry.data);
    expect(served.headers.get('content-type')).toBe('application/octet-stream');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await served.text()).toContain('<svg');

    const again = await upload('svg-upload-1', 'evil.svg', 'image/svg+xml', '<svg/>');
    expect(again.status).toBe('duplicate');
    // The retry changed nothing: the file sent first is the one served.
    expect(await (await fetch(again.entry.data)).text()).toContain('<script>');

    // Any type is a file's bytes, JSON included (the JSON body parser does not apply here).
    const json = await upload('json-upload-1', 'order.json', 'application/json', '{"order": 42}');
    expect(json.entry).toMatchObject({ type: 'file', name: 'order.json' });
    const jsonServed = await fetch(json.entry.data);
    expect(jsonServed.headers.get('content-type')).toBe('application/octet-stream');
    expect(await jsonServed.text()).toBe('{"order": 42}');

    const [first, second] = await blinger.waitFor(2);
    expect(first).toMatchObject({ client_id: clientIdOf(key), client_name: 'Eve', type: 'file', info: { page: 'https://x.example/' } });
    expect(second).toMatchObject({
      client_id: clientIdOf(key),
      type: 'file',
      data: expect.stringMatching(new RegExp(`^${tb.url}/media/`)),
    });
    expect(await (await fetch(second!.data)).text()).toBe('{"order": 42}');
    expect(blinger.received).toHaveLength(2);
  });
});
