/**
 * Sandbox mode end to end in a real browser (Debian's Chromium): visitors in the web chat page,
 * an agent in the sandbox inbox page, the production bridge (queues, workers, media links)
 * between them over the real Redis. Screenshots of both pages go to test-artifacts/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser, naturalWidth, pngBytes, visitorKeyOf, SENT } from '../helpers/browser.js';
import { startChatBridge, type ChatBridge } from '../helpers/webchat.js';
import { clientIdOf } from '../../adapters/webchat/protocol.js';

let browser: Browser;
let tb: ChatBridge;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  [browser, tb] = await Promise.all([launchBrowser(), startChatBridge()]);
}, 60_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  await browser?.close();
  await tb?.stop();
});

interface Visitor {
  page: Page;
  context: BrowserContext;
  clientId: string;
}

async function newContext(viewport = { width: 420, height: 720 }): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport });
  // Shorter than the test's timeout, so a failing wait names its locator.
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  return context;
}

/** A new visitor (own browser context = own localStorage) with the chat open and online. */
async function openChat(opts: { context?: BrowserContext; url?: string; referer?: string } = {}): Promise<Visitor> {
  const context = opts.context ?? (await newContext());
  const page = await context.newPage();
  await page.goto(opts.url ?? `${tb.url}/chat/sandbox`, opts.referer ? { referer: opts.referer } : {});
  await page.locator('#status[data-state=online]').waitFor();
  return { page, context, clientId: clientIdOf(await visitorKeyOf(page, 'sandbox')) };
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.keyboard.press('Enter');
  await page.locator('.msg.visitor', { hasText: text }).locator(SENT).waitFor();
}

async function openInbox(clientId: string): Promise<Page> {
  const page = await (await newContext({ width: 1200, height: 800 })).newPage();
  await page.goto(`${tb.url}/sandbox#c=${encodeURIComponent(clientId)}`);
  await page.locator(`#convs button[data-client="${clientId}"][aria-current=true]`).waitFor();
  return page;
}

async function agentReply(inbox: Page, text: string): Promise<void> {
  await inbox.getByLabel('Reply as an agent').fill(text);
  await inbox.getByRole('button', { name: 'Send reply' }).click();
  await inbox.locator('#reply-status', { hasText: 'answered 200' }).waitFor();
}

/** What the stand-in recorded for a conversation, through its API. */
interface RecordedEvent {
  dir: string;
  status: number;
  body?: Record<string, unknown> & { type?: string; data?: string };
  violations: string[];
  warnings: string[];
}

async function recorded(clientId: string): Promise<{ events: RecordedEvent[] }> {
  const res = await fetch(`${tb.url}/sandbox/api/conversations/${encodeURIComponent(clientId)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { events: RecordedEvent[] };
}

describe('sandbox: web chat ↔ agents’ inbox', () => {
  it('a visitor writes, the message reaches the inbox with the Custom App fields, the agent’s reply appears in the visitor’s page', async () => {
    const v = await openChat({ referer: 'https://shop.example/cart' });
    await v.page.getByText('Your name and phone').click();
    await v.page.getByLabel('Name').fill('Ada Lovelace');
    await v.page.getByLabel('Phone').fill('+44 20 7946 0000');
    await v.page.getByRole('button', { name: 'Save' }).click();
    await v.page.locator('#profile-saved', { hasText: 'Saved' }).waitFor();
    await say(v.page, 'Hello, my order #42 has not arrived');

    const inbox = await openInbox(v.clientId);
    const event = inbox.locator('.event.in', { hasText: 'my order #42' });
    await event.waitFor();
    expect(await event.locator('.badge', { hasText: 'answered' }).textContent()).toBe('answered 200');
    expect(await event.locator('.badge', { hasText: 'type:' }).textContent()).toBe('type: text');
    expect(await event.locator('.problems.bad').count()).toBe(0);
    expect(await inbox.locator('#conv-title').textContent()).toBe('Ada Lovelace');
    expect(await inbox.locator('#client').textContent()).toContain('+44 20 7946 0000');

    // Exactly what Blinger would have received (§1), checked by the stand-in.
    const [first] = (await recorded(v.clientId)).events;
    expect(first).toMatchObject({ dir: 'in', status: 200, violations: [], warnings: [] });
    expect(first!.body).toEqual({
      token: '[the app token]',
      custom_channel_id: 'sandbox',
      client_id: v.clientId,
      client_name: 'Ada Lovelace',
      client_phone: '+44 20 7946 0000',
      type: 'text',
      data: 'Hello, my order #42 has not arrived',
      info: {
        source: 'web chat',
        page: `${tb.url}/chat/sandbox`,
        referrer: 'https://shop.example/cart',
        user_agent: expect.stringContaining('Chrome'),
        language: expect.any(String),
      },
    });

    await agentReply(inbox, 'Sorry about that, Ada. It ships today.');
    await v.page.locator('.msg.agent', { hasText: 'It ships today.' }).waitFor();
    // The reply went through the webhook and the outbound queue, and is shown as sent in the inbox.
    await inbox.locator('.event.out', { hasText: 'It ships today.' }).locator('.badge', { hasText: 'bridge answered 200' }).waitFor();

    await v.page.screenshot({ path: artifactPath('webchat-visitor.png') });
    await inbox.screenshot({ path: artifactPath('sandbox-inbox.png') });
    await v.page.setViewportSize({ width: 360, height: 640 });
    await v.page.screenshot({ path: artifactPath('webchat-visitor-mobile.png') });
    const phone = await newContext({ width: 390, height: 780 });
    const smallInbox = await phone.newPage();
    await smallInbox.goto(`${tb.url}/sandbox#c=${encodeURIComponent(v.clientId)}`);
    await smallInbox.locator('.event.out', { hasText: 'It ships today.' }).waitFor();
    await smallInbox.screenshot({ path: artifactPath('sandbox-inbox-mobile.png') });
  });

  it('an image goes both ways: the visitor’s upload reaches the inbox as a signed link, the agent’s image shows in the visitor’s page', async () => {
    const v = await openChat();
    await say(v.page, 'Here is a photo of the damage');
    await v.page.locator('#file').setInputFiles({ name: 'damage.png', mimeType: 'image/png', buffer: pngBytes(240, 160) });
    const mine = v.page.locator('.msg.visitor img[src*="/media/"]');
    await mine.waitFor();
    await expect.poll(() => mine.evaluate(naturalWidth)).toBe(240);
    await v.page.locator('.msg.visitor.pending').waitFor({ state: 'detached' });

    const inbox = await openInbox(v.clientId);
    const image = inbox.locator('.event.in', { has: inbox.locator('.badge', { hasText: 'type: image' }) });
    await image.waitFor();
    // The stand-in fetched the link as Blinger would: the production /media route served the PNG.
    expect(await image.locator('.badge.ok', { hasText: 'the link serves image/png' }).count()).toBe(1);
    await expect.poll(() => image.locator('img').evaluate(naturalWidth)).toBe(240);
    const events = (await recorded(v.clientId)).events;
    const sent = events.find((e) => e.body?.type === 'image');
    expect(sent!.body?.data).toMatch(new RegExp(`^${tb.url}/media/`));
    // An http link is what a sandbox on localhost makes: nothing to warn about.
    expect(sent!.warnings).toEqual([]);

    await inbox
      .locator('#reply-file')
      .setInputFiles({ name: 'label.png', mimeType: 'image/png', buffer: pngBytes(300, 200, [22, 163, 74]) });
    await inbox.getByRole('button', { name: 'Send reply' }).click();
    await inbox.locator('#reply-status', { hasText: 'answered 200' }).waitFor();
    const theirs = v.page.locator('.msg.agent img');
    await theirs.waitFor();
    await expect.poll(() => theirs.evaluate(naturalWidth)).toBe(300);

    // A file that is not an image is a `file`, shown as a link.
    await v.page.locator('#file').setInputFiles({ name: 'invoice.txt', mimeType: 'text/plain', buffer: Buffer.from('invoice 42') });
    await v.page.locator('.msg.visitor a.file', { hasText: 'invoice.txt' }).waitFor();
    await inbox.locator('.event.in .badge', { hasText: 'type: file' }).waitFor();
    await v.page.screenshot({ path: artifactPath('webchat-images.png') });
  });

  it('two visitors at once stay separate', async () => {
    const [a, b] = await Promise.all([openChat(), openChat()]);
    expect(a.clientId).not.toBe(b.clientId);
    await Promise.all([say(a.page, 'I am visitor A'), say(b.page, 'I am visitor B')]);

    const inbox = await openInbox(a.clientId);
    await inbox.locator(`#convs button[data-client="${b.clientId}"]`).waitFor();
    await inbox.locator('.event.in', { hasText: 'I am visitor A' }).waitFor();
    expect(await inbox.locator('.event.in').allTextContents()).toEqual([expect.stringContaining('I am visitor A')]);
    await agentReply(inbox, 'Reply for A');
    await inbox.locator(`#convs button[data-client="${b.clientId}"]`).click();
    await inbox.locator('.event.in', { hasText: 'I am visitor B' }).waitFor();
    await agentReply(inbox, 'Reply for B');

    await a.page.locator('.msg.agent', { hasText: 'Reply for A' }).waitFor();
    await b.page.locator('.msg.agent', { hasText: 'Reply for B' }).waitFor();
    expect(await a.page.locator('.msg.agent').allTextContents()).toEqual([expect.stringContaining('Reply for A')]);
    expect(await b.page.locator('.msg.agent').allTextContents()).toEqual([expect.stringContaining('Reply for B')]);
    // And in the durable histories, not only on screen.
    expect((await tb.chat().history(a.clientId)).map((e) => e.data)).toEqual(['I am visitor A', 'Reply for A']);
    expect((await tb.chat().history(b.clientId)).map((e) => e.data)).toEqual(['I am visitor B', 'Reply for B']);
  });

  it('two tabs of one visitor: the other tab shows the message, the sending tab gets only its ack', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(`${tb.url}/chat/sandbox`);
    const tabs = await page.evaluate(
      async (url) => {
        const key =
          'tab'.repeat(8) +
          Math.random()
            .toString(36)
            .slice(2)
            .replace(/[^a-z0-9]/g, '');
        const open = async () => {
          const ws = new WebSocket(url);
          const frames: Array<{ type: string; entry?: unknown }> = [];
          const waiters: Array<{ type: string; resolve: () => void }> = [];
          ws.onmessage = (e) => {
            const f = JSON.parse(e.data as string) as { type: string; entry?: unknown };
            frames.push(f);
            for (const w of waiters.filter((x) => x.type === f.type)) w.resolve();
          };
          const next = (type: string) => new Promise<void>((resolve) => waiters.push({ type, resolve }));
          await new Promise((r) => (ws.onopen = r));
          const welcome = next('welcome');
          ws.send(JSON.stringify({ type: 'hello', key }));
          await welcome;
          return { ws, frames, next };
        };
        const [sender, other] = [await open(), await open()];
        const pushed = other.next('message');
        sender.ws.send(JSON.stringify({ type: 'message', id: 'tab-msg-001', text: 'from tab one' }));
        await pushed;
        // The push reached the other tab, so any copy for the sender was written before this pong.
        const pong = sender.next('pong');
        sender.ws.send(JSON.stringify({ type: 'ping' }));
        await pong;
        // "status" frames (the message reached Blinger) go to every tab, whenever that happens.
        return {
          sender: sender.frames.map((f) => f.type).filter((t) => t !== 'status'),
          other: other.frames.filter((f) => f.type === 'message').map((f) => f.entry),
        };
      },
      `${tb.url.replace('http', 'ws')}/chat/sandbox/ws`,
    );
    expect(tabs.sender).toEqual(['welcome', 'ack', 'pong']);
    expect(tabs.other).toEqual([expect.objectContaining({ id: 'tab-msg-001', from: 'visitor', data: 'from tab one' })]);
  });

  it('a reload keeps the history; a reply sent while the visitor is away is there when they come back; the page reconnects by itself', async () => {
    const v = await openChat();
    await say(v.page, 'Message before the reload');
    await v.page.reload();
    await v.page.locator('#status[data-state=online]').waitFor();
    await v.page.locator('.msg.visitor', { hasText: 'Message before the reload' }).locator(SENT).waitFor();

    // The visitor leaves; an agent answers through the webhook, as Blinger does.
    await v.page.close();
    const res = await fetch(`${tb.url}/blinger/sandbox`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tb.sandboxToken()}` },
      body: JSON.stringify({
        token: tb.sandboxToken(),
        custom_channel_id: 'sandbox',
        client_id: v.clientId,
        type: 'text',
        data: 'Answer while you were away',
      }),
    });
    expect(res.status).toBe(200);
    await expect.poll(async () => (await tb.chat().history(v.clientId)).map((e) => e.data)).toContain('Answer while you were away');

    const back = await v.context.newPage();
    await back.goto(`${tb.url}/chat/sandbox`);
    await back.locator('.msg.agent', { hasText: 'Answer while you were away' }).waitFor();
    expect(await back.locator('.msg').allTextContents()).toEqual([
      expect.stringContaining('Message before the reload'),
      expect.stringContaining('Answer while you were away'),
    ]);

    // The server drops the socket (a restart, a network blip): the page reconnects and gets live pushes again.
    await back.locator('#status[data-state=online]').waitFor();
    const reconnected = back.waitForEvent('websocket');
    tb.chat().hub.closeAll(1012, 'test restart');
    await (await reconnected).waitForEvent('framereceived', (f) => String(f.payload).includes('"welcome"'));
    await back.locator('#status[data-state=online]').waitFor();
    const inbox = await openInbox(v.clientId);
    await agentReply(inbox, 'Live again');
    await back.locator('.msg.agent', { hasText: 'Live again' }).waitFor();
  });

  it('the embed snippet puts the chat on another site, and the host page’s address reaches Blinger', async () => {
    const host = await import('node:http').then(({ createServer }) =>
      createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(
          `<!doctype html><title>Shop</title><h1>Our shop</h1><script src="${tb.url}/webchat/assets/embed.js" data-channel="sandbox" data-label="Chat with us" async></script>`,
        );
      }),
    );
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', () => r()));
    try {
      const hostUrl = `http://127.0.0.1:${(host.address() as { port: number }).port}/product/42`;
      const page = await (await newContext({ width: 1000, height: 760 })).newPage();
      await page.goto(hostUrl);
      await page.getByRole('button', { name: 'Chat with us' }).click();
      const frame = page.frameLocator('#blinger-bridge-chat');
      await frame.locator('#status[data-state=online]').waitFor();
      await frame.getByLabel('Message', { exact: true }).fill('Writing from the shop page');
      await frame.getByLabel('Message', { exact: true }).press('Enter');
      await frame.locator(`.msg.visitor ${SENT}`).waitFor();
      await page.screenshot({ path: artifactPath('webchat-embedded.png') });

      const r = (await (await fetch(`${tb.url}/sandbox/api/conversations`)).json()) as {
        conversations: Array<{ clientId: string; info?: Record<string, unknown> }>;
      };
      const conv = r.conversations.find((c) => c.info?.page === hostUrl);
      expect(conv, 'a conversation whose info.page is the host page').toBeDefined();
      expect((await recorded(conv!.clientId)).events[0]!.body?.data).toBe('Writing from the shop page');
    } finally {
      await new Promise((r) => host.close(r));
    }
  });
});

describe('bad input gets a clear error, and only that client sees it', () => {
  it('an unknown chat: a 404 page, and the socket is closed with 4404 after an error frame', async () => {
    const page = await (await newContext()).newPage();
    const res = await page.goto(`${tb.url}/chat/no-such-chat`);
    expect(res!.status()).toBe(404);
    await page.getByRole('heading', { name: 'This chat does not exist' }).waitFor();

    const outcome = await page.evaluate(
      (url) =>
        new Promise<{ frames: unknown[]; code: number }>((resolve) => {
          const frames: unknown[] = [];
          const ws = new WebSocket(url);
          ws.onmessage = (e) => frames.push(JSON.parse(e.data as string));
          ws.onclose = (e) => resolve({ frames, code: e.code });
        }),
      `${tb.url.replace('http', 'ws')}/chat/no-such-chat/ws`,
    );
    expect(outcome).toEqual({
      code: 4404,
      frames: [{ type: 'error', code: 'unknown_chat', message: 'there is no web chat "no-such-chat" on this server' }],
    });

    const upload = await fetch(`${tb.url}/chat/no-such-chat/upload`, {
      method: 'POST',
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(upload.status).toBe(404);
  });

  it('malformed socket frames get an error frame each, the socket and the other visitors go on', async () => {
    const other = await openChat();
    const page = other.page;
    const outcome = await page.evaluate(
      async (url) => {
        const ws = new WebSocket(url);
        const frames: Array<Record<string, unknown>> = [];
        let waiting: ((f: Record<string, unknown>) => void) | undefined;
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data as string) as Record<string, unknown>;
          frames.push(f);
          waiting?.(f);
        };
        const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
        await new Promise((r) => (ws.onopen = r));
        const ask = (data: string | ArrayBuffer) =>
          new Promise<Record<string, unknown>>((resolve) => {
            waiting = resolve;
            ws.send(data);
          });
        const key =
          'k'.repeat(22) +
          Math.random()
            .toString(36)
            .slice(2)
            .replace(/[^a-z0-9]/g, '');
        const answers = [
          await ask('this is not json'),
          await ask(JSON.stringify({ type: 'message', id: 'early-msg-1', text: 'too early' })),
          await ask(JSON.stringify({ type: 'shout' })),
          await ask(JSON.stringify({ type: 'hello', key: 'short' })),
          await ask(new Uint8Array([1, 2, 3]).buffer),
          await ask(JSON.stringify({ type: 'hello', key })),
          await ask(JSON.stringify({ type: 'message', id: 'long-msg-01', text: 'x'.repeat(6000) })),
          await ask(JSON.stringify({ type: 'message', id: 'good-msg-01', text: 'still here' })),
        ];
        ws.send('x'.repeat(70 * 1024));
        return { answers, closeCode: await closed };
      },
      `${tb.url.replace('http', 'ws')}/chat/sandbox/ws`,
    );

    const [notJson, early, unknownType, badKey, binary, welcome, tooLong, good] = outcome.answers;
    expect(notJson).toEqual({ type: 'error', code: 'bad_frame', message: 'the frame is not valid JSON' });
    expect(early).toEqual({ type: 'error', code: 'hello_first', message: 'send hello first', id: 'early-msg-1' });
    expect(unknownType).toMatchObject({
      type: 'error',
      code: 'bad_frame',
      message: expect.stringContaining('hello, profile, message, button, phone, resend, ping'),
    });
    expect(badKey).toMatchObject({ type: 'error', code: 'bad_frame', message: expect.stringMatching(/^key: expected 22-128 characters/) });
    expect(binary).toMatchObject({ type: 'error', code: 'bad_frame', message: expect.stringContaining('binary frames') });
    expect(welcome).toMatchObject({ type: 'welcome', history: [] });
    expect(tooLong).toEqual({ type: 'error', code: 'bad_frame', message: 'text: must be at most 5000 characters', id: 'long-msg-01' });
    expect(good).toMatchObject({ type: 'ack', id: 'good-msg-01', status: 'queued', entry: { from: 'visitor', data: 'still here' } });
    // A frame over 64 KiB closes that socket only ("message too big").
    expect(outcome.closeCode).toBe(1009);

    // The visitor whose page stayed open noticed nothing and still chats both ways.
    await say(page, 'Unaffected');
    const inbox = await openInbox(other.clientId);
    await agentReply(inbox, 'Still fine');
    await page.locator('.msg.agent', { hasText: 'Still fine' }).waitFor();
    expect(await page.locator('#alert').isHidden()).toBe(true);
  });

  it('an oversized upload is refused with 413 and a readable message, in the page before sending and by the server', async () => {
    const v = await openChat();
    // From a file on disk: a 10 MiB buffer would cross the DevTools protocol as base64, which on a
    // busy machine takes longer than the locator's timeout; a path is only a name to the browser.
    const dir = mkdtempSync(join(tmpdir(), 'bb-upload-'));
    const big = join(dir, 'huge.bin');
    writeFileSync(big, Buffer.alloc(10 * 1024 * 1024 + 1, 1));
    try {
      await v.page.locator('#file').setInputFiles(big);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await v.page.getByRole('alert').filter({ hasText: '“huge.bin” is larger than 10 MiB' }).waitFor();
    expect(await v.page.locator('.msg').count()).toBe(0);

    // A client that skips the page's check gets the server's answer — in the browser too.
    const key = await visitorKeyOf(v.page, 'sandbox');
    const fromBrowser = await v.page.evaluate(
      async ({ key }) => {
        const res = await fetch('/chat/sandbox/upload', {
          method: 'POST',
          body: new Uint8Array(10 * 1024 * 1024 + 1),
          headers: { 'content-type': 'application/octet-stream', 'x-visitor-key': key, 'x-message-id': 'huge-upload-1' },
        });
        return { status: res.status, body: (await res.json()) as unknown };
      },
      { key },
    );
    expect(fromBrowser).toEqual({
      status: 413,
      body: { error: 'payload_too_large', message: 'the file is larger than 10 MiB, the most this chat accepts' },
    });

    const headers = { 'content-type': 'image/png', 'x-visitor-key': key, 'x-message-id': 'upload-0001' };
    const noKey = await fetch(`${tb.url}/chat/sandbox/upload`, {
      method: 'POST',
      body: pngBytes(),
      headers: { ...headers, 'x-visitor-key': '' },
    });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { message: string }).message).toMatch(/^x-visitor-key header:/);
    const empty = await fetch(`${tb.url}/chat/sandbox/upload`, { method: 'POST', body: '', headers });
    expect(empty.status).toBe(400);

    // Nothing was queued or stored for the refused uploads; the visitor still chats.
    expect(await tb.chat().history(v.clientId)).toEqual([]);
    await say(v.page, 'After the refused upload');
    expect((await tb.chat().history(v.clientId)).map((e) => e.data)).toEqual(['After the refused upload']);
  });

  it('the stand-in shows contract violations instead of hiding them', async () => {
    const token = tb.sandboxToken();
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${tb.url}/sandbox/incoming`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
        body: JSON.stringify(body),
      });
    const bad = await post({
      token,
      custom_channel_id: 'sandbox',
      client_id: 'web-broken-client',
      type: 'video',
      data: 'x',
      echo_outgoing: true,
      mood: 'happy',
    });
    expect(bad.status).toBe(400);
    const noClient = await post({ token, custom_channel_id: 'sandbox', type: 'text', data: 'who am I' }, { authorization: 'Bearer wrong' });
    expect(noClient.status).toBe(401);

    const inbox = await openInbox('web-broken-client');
    const problems = inbox.locator('#events .event.in .problems.bad li');
    await problems.first().waitFor();
    expect(await problems.allTextContents()).toEqual(
      expect.arrayContaining([
        'mood: not a field of the Custom App API',
        'type: must be text, image or file, got "video"',
        'echo_outgoing: true only makes sense together with echo: true',
      ]),
    );
    await inbox.locator('#rejected:not([hidden])').waitFor();
    await inbox.getByText(/^Rejected requests \(\d+\)/).click();
    await inbox.locator('#rejected-list li', { hasText: 'the bearer token is not the app token' }).first().waitFor();
    // The token itself is never shown.
    expect(await inbox.locator('body').innerText()).not.toContain(token);
    await inbox.screenshot({ path: artifactPath('sandbox-inbox-violations.png'), fullPage: true });
  });
});
