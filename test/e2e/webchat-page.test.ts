/**
 * The visitor's chat page in Chromium, at desktop and phone sizes, against a real bridge and the
 * Blinger double: delivery ticks and the resend of an undelivered message, the one phone rule,
 * connection state apart from opening hours, dates between days, dark mode, the launcher's colour,
 * the full-screen chat on a phone — and the sandbox inbox's file names and empty state.
 * Screenshots go to test-artifacts/.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { artifactPath, launchBrowser, SENT, visitorKeyOf } from '../helpers/browser.js';
import { startChatBridge, webchatChannel, type ChatBridge } from '../helpers/webchat.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { clientIdOf } from '../../adapters/webchat/protocol.js';

const TOKEN = 'webchat-page-blinger-token-0123456789';
const DESKTOP = { width: 1000, height: 760 };
const PHONE = { width: 390, height: 780 };

let browser: Browser;
let blinger: BlingerDouble;
let hoursBlinger: BlingerDouble;
let tb: ChatBridge;
const contexts: BrowserContext[] = [];

/** Opening hours that are closed now: one hour a day, starting two hours from now (UTC). */
function closedNow(): Record<string, string> {
  const h = new Date().getUTCHours();
  const at = (x: number) => `${String(x % 24).padStart(2, '0')}:00`;
  return { 'mon-sun': `${at(h + 2)}-${at(h + 3)}` };
}

beforeAll(async () => {
  [blinger, hoursBlinger] = await Promise.all([
    startBlingerDouble({ token: TOKEN, channelId: 'page-chat' }),
    startBlingerDouble({ token: TOKEN, channelId: 'hours-chat' }),
  ]);
  [browser, tb] = await Promise.all([
    launchBrowser(),
    startChatBridge({
      channels: [
        webchatChannel({ id: 'page-chat', blingerUrl: blinger.url, token: TOKEN, adapter: { title: 'Acme support' } }),
        webchatChannel({
          id: 'hours-chat',
          blingerUrl: hoursBlinger.url,
          token: TOKEN,
          adapter: { title: 'Acme support' },
          bot: { schedule: { timezone: 'UTC', hours: closedNow(), message: 'We are closed; an agent answers when we open.' } },
        }),
      ],
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  await browser?.close();
  await tb?.stop();
  await Promise.all([blinger?.close(), hoursBlinger?.close()]);
});

async function newContext(
  o: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<BrowserContext> {
  const context = await browser.newContext({
    viewport: o.viewport ?? { width: 420, height: 720 },
    colorScheme: o.colorScheme ?? 'light',
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  return context;
}

async function openChat(channel = 'page-chat', o: Parameters<typeof newContext>[0] & { query?: string } = {}) {
  const page = await (await newContext(o)).newPage();
  await page.goto(`${tb.url}/chat/${channel}${o.query ?? ''}`);
  await page.locator('#status[data-state=online]').waitFor();
  return { page, clientId: clientIdOf(await visitorKeyOf(page, channel)) };
}

async function write(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.keyboard.press('Enter');
}

/** Computed style values of an element (the tests' tsconfig has no DOM types: the callback runs in the page). */
const css = (l: Locator, ...props: string[]) =>
  l.evaluate((el, ps) => {
    const style = (globalThis as unknown as { getComputedStyle(e: unknown): Record<string, string> }).getComputedStyle(el);
    return ps.map((p) => style[p]);
  }, props);

const stateOf = (page: Page, text: string) => page.locator('.msg.visitor', { hasText: text }).locator('.state');

/** A host site's page with the launcher snippet on it. */
async function hostSite(snippetAttrs: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title><h1>Our shop</h1>` +
        `<script src="${tb.url}/webchat/assets/embed.js" data-channel="page-chat" ${snippetAttrs} async></script>`,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/product/42`, server };
}

describe('delivery ticks', () => {
  it('a message is sent, then delivered; one Blinger refuses says so, stays so after a reload, and is sent again', async () => {
    const { page } = await openChat();
    await write(page, 'Where is my parcel?');
    await stateOf(page, 'Where is my parcel?').and(page.locator('[data-status=delivered]')).waitFor();
    expect(await stateOf(page, 'Where is my parcel?').textContent()).toBe('✓✓ Delivered');

    // Blinger refuses this one for good: it is dead-lettered, and the visitor sees it.
    blinger.setHandler((req) =>
      (req.body as { data?: string }).data === 'Please refund me' ? { status: 400, body: { error: 'no' } } : undefined,
    );
    await write(page, 'Please refund me');
    const failed = stateOf(page, 'Please refund me');
    await failed.and(page.locator('[data-status=failed]')).waitFor();
    expect(await failed.textContent()).toBe('Not delivered');
    await page.screenshot({ path: artifactPath('webchat-undelivered.png') });

    await page.reload();
    await page.locator('#status[data-state=online]').waitFor();
    await failed.and(page.locator('[data-status=failed]')).waitFor();
    expect(await stateOf(page, 'Where is my parcel?').textContent()).toBe('✓✓ Delivered');

    blinger.setHandler(undefined);
    await page.locator('.msg.visitor', { hasText: 'Please refund me' }).getByRole('button', { name: 'Send again' }).click();
    const copies = page.locator('.msg.visitor', { hasText: 'Please refund me' });
    await copies.nth(1).locator('[data-status=delivered]').waitFor();
    await copies.nth(0).locator('[data-status=resent]').waitFor();
    expect(await copies.nth(0).locator('.state').textContent()).toBe('Not delivered · sent again below');
    expect(await copies.nth(0).getByRole('button', { name: 'Send again' }).count()).toBe(0);
    expect(blinger.received.filter((m) => m.data === 'Please refund me')).toHaveLength(1);
    await page.screenshot({ path: artifactPath('webchat-resent.png') });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: artifactPath('webchat-resent-phone.png') });
  });
});

describe('the name and phone form', () => {
  it('refuses a phone the server would refuse, with the same rule, and saves one it takes', async () => {
    const { page } = await openChat();
    const profiles: string[] = [];
    page.on('websocket', (ws) => ws.on('framesent', (f) => String(f.payload).includes('"profile"') && profiles.push(String(f.payload))));
    await page.reload();
    await page.locator('#status[data-state=online]').waitFor();

    await page.getByText('Your name and phone').click();
    const phone = page.getByLabel('Phone', { exact: true });
    await phone.fill('abc');
    // The pattern compiles in Chromium (an invalid one would match anything and never mismatch).
    expect(await phone.evaluate((el) => (el as unknown as { validity: { patternMismatch: boolean } }).validity.patternMismatch)).toBe(true);
    await page.getByRole('button', { name: 'Save' }).click();
    const note = page.locator('#profile-saved');
    await note.filter({ hasText: 'Not saved' }).waitFor();
    expect(await note.textContent()).toBe('Not saved: enter a phone number (digits, spaces, +, -, ( and ))');
    expect(await phone.getAttribute('aria-invalid')).toBe('true');
    expect(profiles).toEqual([]);
    expect(
      await page.evaluate(() =>
        (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem(
          'blinger-bridge.webchat.page-chat',
        ),
      ),
    ).not.toContain('abc');
    await page.screenshot({ path: artifactPath('webchat-phone-refused.png') });

    await phone.fill('+44 20 7946 0000');
    expect(await phone.getAttribute('aria-invalid')).toBeNull();
    await page.getByRole('button', { name: 'Save' }).click();
    await note.filter({ hasText: 'Saved' }).waitFor();
    expect(profiles).toHaveLength(1);
    await write(page, 'Call me, please');
    await stateOf(page, 'Call me, please').and(page.locator(SENT)).waitFor();
    await expect.poll(() => blinger.received.find((m) => m.data === 'Call me, please')?.client_phone).toBe('+44 20 7946 0000');
  });
});

describe('what the header says', () => {
  it('says "Connected" for the connection, and, where the channel has opening hours, when agents reply', async () => {
    const withHours = await openChat('hours-chat');
    expect(await withHours.page.locator('#status-text').textContent()).toBe('Connected');
    const line = withHours.page.locator('#availability');
    await line.waitFor();
    expect(await line.textContent()).toMatch(/^We reply during opening hours · back (today|tomorrow) at \d\d:00 (AM|PM)$/);
    await withHours.page.screenshot({ path: artifactPath('webchat-opening-hours.png') });

    const without = await openChat();
    expect(await without.page.locator('#status-text').textContent()).toBe('Connected');
    expect(await without.page.locator('#availability').isHidden()).toBe(true);
  });
});

describe('dates', () => {
  it('puts the day between messages of different days', async () => {
    const { page, clientId } = await openChat();
    const now = Date.now();
    const store = tb.chat('page-chat').store;
    const old = Date.UTC(2024, 2, 4, 10, 30);
    for (const [id, at, data] of [
      ['day-msg-0001', old, 'An old question'],
      ['day-msg-0002', old + 60_000, 'Its answer'],
      ['day-msg-0003', now - 86_400_000, 'Yesterday’s question'],
      ['day-msg-0004', now, 'Today’s question'],
    ] as const)
      await store.append(clientId, { id, from: id === 'day-msg-0002' ? 'agent' : 'visitor', type: 'text', data, at });
    await page.reload();
    await page.locator('.msg', { hasText: 'Today’s question' }).waitFor();
    const items = await page
      .locator('#messages > .day, #messages > .msg')
      .evaluateAll((els) =>
        els.map((e) =>
          (e as unknown as { className: string }).className === 'day' ? `— ${e.textContent} —` : e.querySelector('.bubble')!.textContent,
        ),
      );
    expect(items).toEqual([
      '— Monday, March 4, 2024 —',
      'An old question',
      'Its answer',
      '— Yesterday —',
      'Yesterday’s question',
      '— Today —',
      'Today’s question',
    ]);
  });
});

describe('looks', () => {
  it('follows the system’s dark mode', async () => {
    const background = async (page: Page) => (await css(page.locator('body'), 'backgroundColor'))[0];
    const dark = await openChat('page-chat', { colorScheme: 'dark' });
    expect(await background(dark.page)).toBe('rgb(17, 24, 39)');
    await write(dark.page, 'Hello from the dark');
    await stateOf(dark.page, 'Hello from the dark').and(dark.page.locator(SENT)).waitFor();
    await dark.page.screenshot({ path: artifactPath('webchat-dark.png') });
    const light = await openChat('page-chat', { colorScheme: 'light' });
    expect(await background(light.page)).toBe('rgb(255, 255, 255)');
  });

  it('the launcher’s data-color themes the button and the whole chat, with readable text on it', async () => {
    const host = await hostSite('data-label="Chat with us" data-color="#16a34a"');
    try {
      const page = await (await newContext({ viewport: DESKTOP })).newPage();
      await page.goto(host.url);
      const launcher = page.getByRole('button', { name: 'Chat with us' });
      expect(await css(launcher, 'backgroundColor', 'color')).toEqual(['rgb(22, 163, 74)', 'rgb(255, 255, 255)']);
      await launcher.click();
      const frame = page.frameLocator('#blinger-bridge-chat');
      await frame.locator('#status[data-state=online]').waitFor();
      await frame.getByLabel('Message', { exact: true }).fill('Green is my colour');
      await frame.getByLabel('Message', { exact: true }).press('Enter');
      // Measured once delivered: each new state redraws the message (a detached bubble has no style).
      const message = frame.locator('.msg.visitor', { hasText: 'Green is my colour' });
      await message.locator('[data-status=delivered]').waitFor();
      const bubble = message.locator('.bubble');
      expect(await css(bubble, 'backgroundColor', 'color')).toEqual(['rgb(22, 163, 74)', 'rgb(255, 255, 255)']);
      expect(await css(frame.getByRole('button', { name: 'Send' }), 'backgroundColor')).toEqual(['rgb(22, 163, 74)']);
      await page.screenshot({ path: artifactPath('webchat-embedded-green.png') });
    } finally {
      await new Promise((r) => host.server.close(r));
    }
    // A light colour gets dark text.
    const yellow = await openChat('page-chat', { query: '?color=%23facc15' });
    expect(await css(yellow.page.getByRole('button', { name: 'Send' }), 'backgroundColor', 'color')).toEqual([
      'rgb(250, 204, 21)',
      'rgb(17, 24, 39)',
    ]);
  });

  it('on a phone the embedded chat fills the screen and closes with its own button; on a desktop it is a panel', async () => {
    const host = await hostSite('data-label="Chat with us"');
    try {
      const phone = await (await newContext({ viewport: PHONE })).newPage();
      await phone.goto(host.url);
      const launcher = phone.getByRole('button', { name: 'Chat with us' });
      await launcher.click();
      const frame = phone.frameLocator('#blinger-bridge-chat');
      await frame.locator('#status[data-state=online]').waitFor();
      expect(await phone.locator('#blinger-bridge-chat').boundingBox()).toEqual({ x: 0, y: 0, width: PHONE.width, height: PHONE.height });
      // The launcher would cover the composer: it is hidden while the chat is open.
      expect(await phone.locator('button[aria-controls=blinger-bridge-chat]').isHidden()).toBe(true);
      await phone.screenshot({ path: artifactPath('webchat-embedded-phone.png') });
      await frame.getByRole('button', { name: 'Close the chat' }).click();
      await phone.locator('#blinger-bridge-chat').waitFor({ state: 'hidden' });
      await launcher.waitFor();

      const desktop = await (await newContext({ viewport: DESKTOP })).newPage();
      await desktop.goto(host.url);
      await desktop.getByRole('button', { name: 'Chat with us' }).click();
      await desktop.frameLocator('#blinger-bridge-chat').locator('#status[data-state=online]').waitFor();
      const box = (await desktop.locator('#blinger-bridge-chat').boundingBox())!;
      // 380 px wide inside its 1 px border, 16 px from the right edge.
      expect(box.width).toBe(382);
      expect(box.x + box.width).toBe(DESKTOP.width - 16);
      expect(await desktop.getByRole('button', { name: 'Close chat' }).isVisible()).toBe(true);
    } finally {
      await new Promise((r) => host.server.close(r));
    }
  });
});

describe('the sandbox inbox', () => {
  let sandbox: ChatBridge;
  beforeAll(async () => {
    sandbox = await startChatBridge();
  }, 60_000);
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('has one empty-state message, shows files by name with the link behind, and no warning a sandbox cannot avoid', async () => {
    const inbox = await (await newContext({ viewport: { width: 1200, height: 800 } })).newPage();
    await inbox.goto(`${sandbox.url}/sandbox`);
    const empty = inbox.getByText('No conversation yet.');
    await empty.waitFor();
    expect(await inbox.locator('.placeholder:visible, .empty:visible').count()).toBe(1);
    await inbox.screenshot({ path: artifactPath('sandbox-inbox-empty.png') });

    const chat = await (await newContext()).newPage();
    await chat.goto(`${sandbox.url}/chat/sandbox`);
    await chat.locator('#status[data-state=online]').waitFor();
    await chat.locator('#file').setInputFiles({ name: 'invoice.txt', mimeType: 'text/plain', buffer: Buffer.from('invoice 42') });
    const link = inbox.locator('.event.in a.file-link');
    await link.waitFor();
    await empty.waitFor({ state: 'hidden' });
    expect(await link.textContent()).toBe('invoice.txt');
    expect(await link.getAttribute('href')).toMatch(new RegExp(`^${sandbox.url}/media/`));
    expect(await inbox.locator('.event.in .badge.warn').count()).toBe(0);
    expect(await inbox.locator('.event.in .problems').count()).toBe(0);

    await inbox
      .locator('#reply-file')
      .setInputFiles({ name: 'label.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 label') });
    await inbox.getByRole('button', { name: 'Send reply' }).click();
    await inbox.locator('.event.out a.file-link', { hasText: 'label.pdf' }).waitFor();
    await chat.locator('.msg.agent a.file', { hasText: 'label.pdf' }).waitFor();
    await inbox.screenshot({ path: artifactPath('sandbox-inbox-files.png') });
  });
});
