/**
 * A web chat channel with a bot flow (BRIDGE_CONFIG `bot`), in a real browser, against the
 * Blinger Custom App double: the first visit is the conversation's /start, the greeting's menu
 * shows as buttons, a press reaches the flow as `event.button` (and Blinger as `[button] <label>`),
 * "talk to an operator" hands over, the phone request is a one-tap "share" that fills
 * `client_phone` and reaches the flow as `event.phone`. And the server never takes a button the
 * visitor was not shown.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser, visitorKeyOf, SENT } from '../helpers/browser.js';
import { startChatBridge, webchatChannel, type ChatBridge } from '../helpers/webchat.js';
import { startBlingerDouble, type BlingerDouble, type ReceivedMessage } from '../doubles/blinger.js';
import { clientIdOf } from '../../adapters/webchat/protocol.js';
import type { BotFlowInput } from '../../src/flow/config.js';

const TOKEN = 'webchat-bot-blinger-token-0123456789';
const CHANNEL = 'site-bot';

const GREETING = 'Hi! I am the Acme bot. Pick a topic or just write your question.';
const HOURS = 'We are open Monday to Friday, 9:00–18:00.';
const HANDOVER = 'Connecting you to an operator — they will answer right here.';
const ASK = 'May an operator call you back?';

let browser: Browser;
let blinger: BlingerDouble | undefined;
let tb: ChatBridge | undefined;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => undefined)));
  await tb?.stop();
  tb = undefined;
  await blinger?.close();
  blinger = undefined;
});

async function start(bot: BotFlowInput): Promise<{ tb: ChatBridge; blinger: BlingerDouble }> {
  blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
  tb = await startChatBridge({
    channels: [webchatChannel({ id: CHANNEL, blingerUrl: blinger.url, token: TOKEN, adapter: { title: 'Acme support' }, bot })],
  });
  return { tb, blinger };
}

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 420, height: 760 } });
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  return context.newPage();
}

async function visitorPage(url: string) {
  const page = await newPage();
  await page.goto(`${url}/chat/${CHANNEL}`);
  await page.locator('#status[data-state=online]').waitFor();
  return { page, clientId: clientIdOf(await visitorKeyOf(page, CHANNEL)) };
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.keyboard.press('Enter');
  await sent(page, text);
}

/** The visitor's own message with this text, acknowledged by the bridge. */
function sent(page: Page, text: string): Promise<void> {
  return page.locator('.msg.visitor', { hasText: text }).locator(SENT).waitFor();
}

/** What matters of a message Blinger got, for comparing whole conversations. */
const brief = (m: ReceivedMessage) => ({ data: m.data, echo: m.echo, echo_outgoing: m.echo_outgoing, client_phone: m.client_phone });

const MENU_BOT: BotFlowInput = {
  greeting: GREETING,
  menu: [
    { label: 'Opening hours', answer: HOURS },
    { label: 'Talk to an operator', handover: true },
  ],
  handover: { message: HANDOVER },
  askPhone: { when: 'handover', text: ASK, button: 'Share my phone number', thanks: 'Thank you!' },
};

describe('web chat with a bot flow', () => {
  it('greets with the menu as buttons, answers a press, hands over, takes the phone it asks for, and the agents get it all in order', async () => {
    const { tb, blinger } = await start(MENU_BOT);
    const v = await visitorPage(tb.url);

    // The first visit is the conversation's /start: the greeting arrives with its menu.
    const greeting = v.page.locator('.msg.agent', { hasText: GREETING });
    await greeting.waitFor();
    const menu = greeting.getByRole('group', { name: 'Quick replies' });
    expect(await menu.getByRole('button').allTextContents()).toEqual(['Opening hours', 'Talk to an operator']);

    // A real <button>: focusable, and Enter presses it.
    await menu.getByRole('button', { name: 'Opening hours' }).focus();
    await v.page.keyboard.press('Enter');
    await sent(v.page, 'Opening hours');
    await v.page.locator('.msg.agent', { hasText: HOURS }).waitFor();

    await menu.getByRole('button', { name: 'Talk to an operator' }).click();
    await sent(v.page, 'Talk to an operator');
    await v.page.locator('.msg.agent', { hasText: HANDOVER }).waitFor();
    const share = v.page.locator('.msg.agent', { hasText: ASK }).getByRole('button', { name: 'Share my phone number' });
    await share.waitFor();
    await v.page.screenshot({ path: artifactPath('webchat-bot-menu.png') });

    // No phone known yet: the tap opens the form for one, whose button now shares it.
    await share.click();
    const phoneField = v.page.getByLabel('Phone', { exact: true });
    await expect
      .poll(() =>
        v.page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id),
      )
      .toBe('phone');
    await phoneField.fill('+49 30 1234567');
    await v.page.getByRole('button', { name: 'Share', exact: true }).click();
    await sent(v.page, 'Contact: +49 30 1234567');
    await v.page.locator('.msg.agent', { hasText: 'Thank you!' }).waitFor();
    // The bot's thanks hides the request (Telegram's remove_keyboard).
    await share.waitFor({ state: 'hidden' });

    // Handed over: the next message is for the agents, not an echo, and carries the phone.
    await say(v.page, 'My parcel arrived wet');
    const got = await blinger.waitFor(10);
    expect(got.map(brief)).toEqual([
      { data: '/start', echo: true },
      { data: `${GREETING}\n[buttons: Opening hours | Talk to an operator]`, echo: true, echo_outgoing: true },
      { data: '[button] Opening hours', echo: true },
      { data: HOURS, echo: true, echo_outgoing: true },
      { data: '[button] Talk to an operator' },
      { data: HANDOVER, echo: true, echo_outgoing: true },
      { data: `${ASK}\n[buttons: Share my phone number]`, echo: true, echo_outgoing: true },
      { data: 'Contact: +49 30 1234567', client_phone: '+49 30 1234567' },
      { data: 'Thank you!', echo: true, echo_outgoing: true, client_phone: '+49 30 1234567' },
      { data: 'My parcel arrived wet', client_phone: '+49 30 1234567' },
    ]);
    expect(got.every((m) => m.client_id === v.clientId && m.type === 'text')).toBe(true);
    expect(got[0]!.info).toMatchObject({ source: 'web chat', page: `${tb.url}/chat/${CHANNEL}` });
    expect(blinger.rejected).toEqual([]);

    // A reload shows the same conversation in the same order (each answer after what it
    // answers), the menu still under the greeting, the phone request gone.
    await v.page.reload();
    await v.page.locator('#status[data-state=online]').waitFor();
    await v.page.locator('.msg.visitor', { hasText: 'My parcel arrived wet' }).waitFor();
    expect(await v.page.locator('.msg .bubble').allTextContents()).toEqual([
      GREETING,
      'Opening hours',
      HOURS,
      'Talk to an operator',
      HANDOVER,
      ASK,
      'Contact: +49 30 1234567',
      'Thank you!',
      'My parcel arrived wet',
    ]);
    expect(await v.page.locator('.msg.agent', { hasText: GREETING }).getByRole('button').count()).toBe(2);
    expect(await v.page.getByRole('button', { name: 'Share my phone number' }).isVisible()).toBe(false);
    await v.page.screenshot({ path: artifactPath('webchat-bot-handover.png') });
  });

  it('one tap shares the phone the visitor already gave, and an older menu stays usable after a reload', async () => {
    const { tb, blinger } = await start({
      greeting: GREETING,
      menu: [{ label: 'Prices', answer: 'All prices: https://acme.example/prices' }],
      askPhone: { when: 'start', text: ASK, button: 'Share my number' },
    });
    const v = await visitorPage(tb.url);
    const share = v.page.locator('.msg.agent', { hasText: ASK }).getByRole('button', { name: 'Share my number' });
    await share.waitFor();

    await v.page.getByText('Your name and phone').click();
    await v.page.getByLabel('Name', { exact: true }).fill('Ada');
    await v.page.getByLabel('Phone', { exact: true }).fill('+44 20 7946 0000');
    await v.page.getByRole('button', { name: 'Save', exact: true }).click();
    await v.page.locator('#profile-saved', { hasText: 'Saved' }).waitFor();

    await share.click();
    await sent(v.page, 'Contact: Ada, +44 20 7946 0000');
    // Shared: the request is gone although this bot says no thanks (no keyboard removal).
    await share.waitFor({ state: 'hidden' });

    await v.page.reload();
    await v.page.locator('#status[data-state=online]').waitFor();
    await sent(v.page, 'Contact: Ada, +44 20 7946 0000');
    expect(await v.page.getByRole('button', { name: 'Share my number' }).isVisible()).toBe(false);
    await v.page.locator('.msg.agent', { hasText: GREETING }).getByRole('button', { name: 'Prices' }).click();
    await sent(v.page, 'Prices');
    await v.page.locator('.msg.agent', { hasText: 'All prices' }).waitFor();

    const got = await blinger.waitFor(6);
    expect(got.map(brief)).toEqual([
      { data: '/start', echo: true },
      { data: `${GREETING}\n[buttons: Prices]`, echo: true, echo_outgoing: true },
      { data: `${ASK}\n[buttons: Share my number]`, echo: true, echo_outgoing: true },
      { data: 'Contact: Ada, +44 20 7946 0000', echo: true, client_phone: '+44 20 7946 0000' },
      { data: '[button] Prices', echo: true, client_phone: '+44 20 7946 0000' },
      { data: 'All prices: https://acme.example/prices', echo: true, echo_outgoing: true, client_phone: '+44 20 7946 0000' },
    ]);
    expect(got[3]).toMatchObject({ client_name: 'Ada' });
  });

  it('refuses a press of a button the visitor was not shown, with an error frame, and the socket goes on', async () => {
    const { tb, blinger } = await start(MENU_BOT);
    const page = await newPage();
    // A page of the bridge's origin (Chromium blocks about:blank from reaching 127.0.0.1).
    await page.goto(`${tb.url}/healthz`);
    const key = `bot${'k'.repeat(20)}${Date.now().toString(36)}`;
    const run = await page.evaluate(
      async ({ url, key }) => {
        // Protocol frames as the page sees them; the assertions below check their shape.
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON in the browser
        type Frame = Record<string, any>;
        const open = async () => {
          const ws = new WebSocket(url);
          const frames: Frame[] = [];
          const used = new Set<Frame>();
          const waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
          ws.onmessage = (e) => {
            const f = JSON.parse(e.data as string) as Frame;
            frames.push(f);
            const i = waiters.findIndex((w) => w.pred(f));
            if (i >= 0) {
              used.add(f);
              waiters.splice(i, 1)[0]!.resolve(f);
            }
          };
          /** The first frame not taken yet that matches. */
          const next = (pred: (f: Frame) => boolean) =>
            new Promise<Frame>((resolve) => {
              const hit = frames.find((f) => !used.has(f) && pred(f));
              if (hit) {
                used.add(hit);
                resolve(hit);
              } else waiters.push({ pred, resolve });
            });
          await new Promise((resolve, reject) => {
            ws.onopen = resolve;
            ws.onerror = () => reject(new Error(`could not connect to ${url}`));
          });
          return { ws, next, send: (f: Frame) => ws.send(JSON.stringify(f)) };
        };
        const s = await open();
        const welcomeP = s.next((f) => f.type === 'welcome');
        s.send({ type: 'hello', key });
        const welcome = await welcomeP;
        const greeting = await s.next((f) => f.type === 'message' && f.entry?.keyboard);
        const answerFor = (id: string) => s.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
        // The hand-over button's data: the flow knows it, but this bot never showed that button.
        s.send({ type: 'button', id: 'forged-0001', data: 'bb:handover' });
        const forged = await answerFor('forged-0001');
        s.send({ type: 'button', id: 'toolong-001', data: 'é'.repeat(33) });
        const tooLong = await answerFor('toolong-001');
        s.send({ type: 'button', id: 'nodata-0001' });
        const noData = await answerFor('nodata-0001');
        s.send({ type: 'phone', id: 'badphone-01', phone: 'call me maybe' });
        const badPhone = await answerFor('badphone-01');
        const hours = greeting.entry.keyboard.buttons[0][0];
        s.send({ type: 'button', id: 'press-00001', data: hours.data });
        const ack = await answerFor('press-00001');
        const answer = await s.next((f) => f.type === 'message' && f.entry?.from === 'agent');
        const pongP = s.next((f) => f.type === 'pong');
        s.send({ type: 'ping' });
        await pongP;

        // The same visitor again: the history, without a second /start.
        const again = await open();
        const welcomeAgainP = again.next((f) => f.type === 'welcome');
        again.send({ type: 'hello', key });
        const welcomeAgain = await welcomeAgainP;
        const typedP = again.next((f) => f.type === 'ack' && f.id === 'typed-00001');
        again.send({ type: 'message', id: 'typed-00001', text: 'what about Sundays?' });
        await typedP;
        return {
          welcome,
          greeting,
          forged,
          tooLong,
          noData,
          badPhone,
          ack,
          answer,
          welcomeAgain,
          open: s.ws.readyState === WebSocket.OPEN,
        };
      },
      { url: `${tb.url.replace('http', 'ws')}/chat/${CHANNEL}/ws`, key },
    );

    expect(run.welcome).toMatchObject({ type: 'welcome', history: [] });
    expect(run.greeting.entry).toMatchObject({
      from: 'agent',
      data: GREETING,
      keyboard: {
        buttons: [[{ label: 'Opening hours', data: expect.any(String) }], [{ label: 'Talk to an operator', data: expect.any(String) }]],
      },
    });
    expect(run.forged).toEqual({
      type: 'error',
      code: 'unknown_button',
      message: 'data: not a button of any message in this chat',
      id: 'forged-0001',
    });
    expect(run.tooLong).toEqual({
      type: 'error',
      code: 'bad_frame',
      message: 'data: must be at most 64 bytes (the data of a button the bot sent)',
      id: 'toolong-001',
    });
    expect(run.noData).toEqual({ type: 'error', code: 'bad_frame', message: 'data: is required', id: 'nodata-0001' });
    expect(run.badPhone).toMatchObject({
      type: 'error',
      code: 'bad_frame',
      message: expect.stringMatching(/^phone: expected a phone number/),
      id: 'badphone-01',
    });
    expect(run.ack).toMatchObject({
      type: 'ack',
      id: 'press-00001',
      status: 'queued',
      entry: { from: 'visitor', kind: 'button', data: 'Opening hours' },
    });
    expect(run.answer.entry).toMatchObject({ from: 'agent', data: HOURS });
    expect(run.open).toBe(true);
    // The /start is not shown; the rest is, in order.
    expect(run.welcomeAgain.history.map((e: { data: string }) => e.data)).toEqual([GREETING, 'Opening hours', HOURS]);

    // Nothing of the refused frames reached the flow: no hand-over (the press was still the
    // bot's to answer, an echo), and the typed message is the first thing after it.
    const got = await blinger.waitFor(5);
    expect(got.map(brief)).toEqual([
      { data: '/start', echo: true },
      { data: `${GREETING}\n[buttons: Opening hours | Talk to an operator]`, echo: true, echo_outgoing: true },
      { data: '[button] Opening hours', echo: true },
      { data: HOURS, echo: true, echo_outgoing: true },
      { data: 'what about Sundays?' },
    ]);
  });

  it('a reply waits while the visitor’s entry it may answer is queued but not yet in the history', async () => {
    const { tb } = await start(MENU_BOT);
    const chat = tb.chat(CHANNEL);
    const clientId = clientIdOf(`inflight${'q'.repeat(20)}${Date.now().toString(36)}`);
    // The reply asks the store whether the visitor's entry is still on its way; note when it was.
    let waited!: () => void;
    const waiting = new Promise<void>((r) => (waited = r));
    const hasInflight = chat.store.hasInflight.bind(chat.store);
    chat.store.hasInflight = async (id) => {
      const inflight = await hasInflight(id);
      if (inflight) waited();
      return inflight;
    };
    // The visitor's first message is being queued: no history yet.
    await chat.store.markInflight(clientId, 'first-message');
    const res = await fetch(`${tb.url}/blinger/${CHANNEL}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ token: TOKEN, custom_channel_id: CHANNEL, client_id: clientId, type: 'text', data: 'The answer' }),
    });
    expect(res.status).toBe(200);
    await waiting;
    expect(await chat.history(clientId)).toEqual([]);
    await chat.store.append(
      clientId,
      { id: 'first-message', from: 'visitor', type: 'text', data: 'The question', at: Date.now() },
      { inflight: true },
    );
    // Delivered after the question, into the conversation the question made (not dead-lettered
    // as a reply to a chat that does not exist).
    await expect.poll(async () => (await chat.history(clientId)).map((e) => e.data)).toEqual(['The question', 'The answer']);
    expect(await tb.bridge.outbound.store.redis.hlen(`${tb.prefix}:dlq:outbound`)).toBe(0);
  });
});
