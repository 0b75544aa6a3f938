/**
 * The /admin dashboard in a real browser (Debian's Chromium) with every request to anywhere but the
 * bridge blocked: bull-board renders, names each conversation's job after its next message with
 * the attempts, next try and last error, and the dead-letter page lists a refused message whose
 * Retry delivers it. Screenshots go to test-artifacts/.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { startTelegramStack, stopTelegramStack, type TelegramStack } from '../helpers/bridge.js';

const ADMIN = { user: 'ops', password: 'dashboard-password-0123' };
let browser: Browser;
let stack: TelegramStack;
let context: BrowserContext;
/** Requests the page tried to make to anywhere but the bridge, and what the console complained about. */
const blocked: string[] = [];
const complaints: string[] = [];

beforeAll(async () => {
  [browser, stack] = await Promise.all([launchBrowser(), startTelegramStack({ mode: 'webhook', admin: ADMIN })]);
  context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    httpCredentials: { username: ADMIN.user, password: ADMIN.password },
  });
  context.setDefaultTimeout(15_000);
  const origin = new URL(stack.tb.url).origin;
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort('internetdisconnected');
  });
}, 60_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close();
  await stopTelegramStack(stack ?? {});
});

async function open(path: string): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') complaints.push(m.text());
  });
  page.on('pageerror', (e) => complaints.push(e.message));
  await page.goto(`${stack.tb.url}${path}`);
  return page;
}

it('renders offline, names each conversation after its next message, and retries a dead letter from its page', async () => {
  const { tg, blinger, tb } = stack;
  // Chat 601: its first message fails once (502), then Blinger asks to wait 10 minutes (429);
  // a second message waits behind it. Chat 602: Blinger refuses its message (400): a dead letter.
  let failedOnce = false;
  let refuse = true;
  blinger.setHandler((req) => {
    const data = (req.body as { data?: string } | undefined)?.data;
    if (data === 'needs a human' && refuse) return { status: 400, body: { error: 'this conversation is closed in Blinger' } };
    if (data?.startsWith('Hello, I need help')) {
      if (failedOnce) return { status: 429, body: { retry_after: 600 } };
      failedOnce = true;
      return { status: 502, body: { error: 'bad gateway' } };
    }
    return undefined;
  });
  const long = 'Hello, I need help with my order 1234, it has not arrived and the tracking page says nothing at all';
  for (const u of [
    tg.makeMessageUpdate({ chat_id: 601, text: long }),
    tg.makeMessageUpdate({ chat_id: 601, text: 'second message' }),
    tg.makeMessageUpdate({ chat_id: 602, text: 'needs a human' }),
  ])
    expect((await tg.deliverWebhook(u)).status).toBe(200);

  // The delayed conversation, under the name of its next message (first words), with its state.
  const board = await open('/admin/queue/inbound?status=delayed');
  const job = board.locator('main').getByText(`text: ${long.slice(0, 79)}…`);
  await job.waitFor();
  const data = board.locator('main').getByText('failedAttempts');
  await data.waitFor();
  const shown = await board.locator('main').innerText();
  expect(shown).toContain('4711|601');
  expect(shown).toMatch(/failedAttempts\s*:\s*1/);
  expect(shown).toMatch(/messagesInLane\s*:\s*2/);
  expect(shown).toMatch(/nextTry\s*:\s*"\d{4}-\d\d-\d\dT[\d:.]+Z"/);
  expect(shown).toContain('lastError');
  expect(shown).toContain('Blinger answered 429');
  await board.screenshot({ path: artifactPath('admin-delayed-job.png'), fullPage: true });

  // The account menu leads to the dead letters.
  await board.locator('header button').last().click();
  await board.getByRole('menuitem', { name: 'Dead letters' }).click();
  await board.waitForURL(`${tb.url}/admin/dead-letters`);
  const row = board.locator('section[data-direction=inbound] tbody tr', { hasText: 'needs a human' });
  await row.waitFor();
  expect(await row.innerText()).toMatch(
    /4711\|602\s+text\s*needs a human\s+1\s+Blinger answered 400: \{"error":"this conversation is closed in Blinger"\}/,
  );
  await board.screenshot({ path: artifactPath('admin-dead-letters.png'), fullPage: true });

  // Blinger takes it now: Retry puts it back in its conversation, and it is delivered.
  refuse = false;
  await row.getByRole('button', { name: 'Retry' }).click();
  await board.getByRole('status').getByText('1 message put back at the end of its conversation.').waitFor();
  expect(await board.locator('section[data-direction=inbound] h2').innerText()).toBe('Inbound: end-users → Blinger: 0');
  await blinger.waitFor(1);
  expect(blinger.received.map((m) => [m.client_id, m.data])).toEqual([['602', 'needs a human']]);

  // Nothing was fetched from anywhere but the bridge, and nothing on the pages failed.
  expect(blocked).toEqual([]);
  expect(complaints).toEqual([]);
});
