/**
 * MAX's answers classified for the queue (docs/architecture.md, "Delivery guarantees"), the sentence an agent reads, the keyboard
 * a bot reply becomes, the text splitting at MAX's 4000-character limit, and the settings (BRIDGE_CONFIG
 * and environment variables).
 */
import { describe, expect, it } from 'vitest';
import { MaxApiError, MaxNetworkError } from '../../adapters/max/api.js';
import { classifyMaxError, describeForAgent } from '../../adapters/max/errors.js';
import { keyboardAttachment, MAX_TEXT_LENGTH } from '../../adapters/max/send.js';
import { maxSettingsSchema } from '../../adapters/max/settings.js';
import { splitText } from '../../src/toolkit/index.js';
import { loadConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';

/** No lone surrogate (String.prototype.isWellFormed is ES2024, beyond this project's lib). */
const wellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

const api = (status: number, code: string, message = 'x', retryAfterMs?: number) =>
  new MaxApiError(status, code, message, 'POST /messages', retryAfterMs);

describe('classifyMaxError', () => {
  it.each([
    [403, 'chat.denied', 'permanent', 'blocked'],
    [403, 'access.denied', 'permanent', 'forbidden'],
    [404, 'chat.not.found', 'permanent', 'chat_not_found'],
    [404, 'dialog.not.found', 'permanent', 'chat_not_found'],
    [404, 'not.found', 'transient', 'http_404'],
    [400, 'attachment.not.ready', 'transient', 'attachment_not_ready'],
    [400, 'proto.payload', 'permanent', 'bad_request'],
    [401, 'verify.token', 'transient', 'unauthorized'],
    [405, 'method.not.allowed', 'transient', 'http_405'],
    [500, 'internal', 'transient', 'http_500'],
    [503, 'service.unavailable', 'transient', 'http_503'],
    [413, 'proto.payload', 'permanent', 'http_413'],
  ])('%i %s → %s (%s)', (status, code, kind, expectedCode) => {
    const e = classifyMaxError(api(status, code));
    expect([e.kind, e.code]).toEqual([kind, expectedCode]);
  });

  it('429 waits even without Retry-After (MAX sends none), and honours one when sent', () => {
    const plain = classifyMaxError(api(429, 'too.many.requests', 'Too many requests. Limit is: 10 calls per second.'));
    expect([plain.kind, plain.retryAfterMs]).toEqual(['rate_limited', 1000]);
    expect(classifyMaxError(api(429, 'too.many.requests', 'x', 7000)).retryAfterMs).toBe(7000);
  });

  it('no answer is transient; the reason names the call, never the token', () => {
    const e = classifyMaxError(new MaxNetworkError('POST /messages: no answer within 15000 ms', 'timeout'));
    expect([e.kind, e.code]).toEqual(['transient', 'timeout']);
    expect(e.message).toBe('MAX unreachable: POST /messages: no answer within 15000 ms');
    expect(api(403, 'chat.denied', 'Key: error.dialog.suspended, args: [228532008,].').message).toBe(
      'MAX 403 chat.denied: Key: error.dialog.suspended, args: [228532008,]. (POST /messages)',
    );
  });

  it('tells the agent about blocked bots and gone chats, and nothing about the operator’s problems', () => {
    expect(describeForAgent(classifyMaxError(api(403, 'chat.denied')))).toBe(
      'Not delivered: the user blocked the bot or stopped the dialog in MAX',
    );
    expect(describeForAgent(classifyMaxError(api(404, 'chat.not.found')))).toBe('Not delivered: the MAX chat no longer exists');
    for (const e of [api(401, 'verify.token'), api(400, 'proto.payload'), api(503, 'x'), api(429, 'too.many.requests')])
      expect(describeForAgent(classifyMaxError(e))).toBeUndefined();
  });
});

describe('keyboardAttachment', () => {
  it('menu buttons become callback buttons, row by row', () => {
    expect(
      keyboardAttachment({
        buttons: [
          [{ label: 'Opening hours', data: 'm:1' }],
          [
            { label: 'Operator', data: 'm:2' },
            { label: 'FAQ', data: 'm:3' },
          ],
        ],
      }),
    ).toEqual({
      type: 'inline_keyboard',
      payload: {
        buttons: [
          [{ type: 'callback', text: 'Opening hours', payload: 'm:1' }],
          [
            { type: 'callback', text: 'Operator', payload: 'm:2' },
            { type: 'callback', text: 'FAQ', payload: 'm:3' },
          ],
        ],
      },
    });
  });

  it('the phone request is one request_contact button; remove and nothing give no keyboard', () => {
    expect(keyboardAttachment({ requestPhone: 'Share my phone' })).toEqual({
      type: 'inline_keyboard',
      payload: { buttons: [[{ type: 'request_contact', text: 'Share my phone' }]] },
    });
    expect(keyboardAttachment({ remove: true })).toBeUndefined();
    expect(keyboardAttachment(undefined)).toBeUndefined();
    expect(keyboardAttachment({ buttons: [[]] })).toBeUndefined();
  });

  it('labels fit MAX’s 128 characters without splitting an emoji', () => {
    const label = '😀'.repeat(200);
    const text = (keyboardAttachment({ requestPhone: label })!.payload as { buttons: Array<Array<{ text: string }>> }).buttons[0]![0]!.text;
    expect(Array.from(text)).toHaveLength(128);
    expect(text.endsWith('…')).toBe(true);
    expect(wellFormed(text)).toBe(true);
  });
});

describe('text at MAX’s limit', () => {
  it('splits at 4000 UTF-16 units on word boundaries, never inside a surrogate pair', () => {
    const words = Array.from({ length: 1500 }, (_, i) => `слово${i}`).join(' ');
    const parts = splitText(words, MAX_TEXT_LENGTH);
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(4000);
    expect(parts.join(' ')).toBe(words);
    const emoji = '😀'.repeat(2500); // 5000 units, no spaces
    const cut = splitText(emoji, MAX_TEXT_LENGTH);
    expect(cut.map((p) => p.length)).toEqual([4000, 1000]);
    expect(cut.every(wellFormed)).toBe(true);
  });
});

describe('MAX settings', () => {
  const token = 'f9LHodD0cOJTestTokenForTheMaxDoubleOnly_aaaa';

  it('fills the defaults: polling, MAX’s API root, a webhook secret derived from the token within MAX’s pattern', () => {
    const s = maxSettingsSchema.parse({ type: 'max', token });
    expect(s).toMatchObject({ mode: 'polling', apiRoot: 'https://platform-api2.max.ru', pollTimeout: 30 });
    expect(s.webhookSecret).toMatch(/^[\w-]{5,256}$/);
    expect(s.webhookSecret).not.toContain(token);
    expect(maxSettingsSchema.parse({ type: 'max', token: `${token}b` }).webhookSecret).not.toBe(s.webhookSecret);
    expect(maxSettingsSchema.parse(s)).toEqual(s);
  });

  it('refuses a secret MAX would refuse, a token with spaces, a poll wait over 90 s', () => {
    for (const bad of [
      { webhookSecret: 'abc' },
      { webhookSecret: 'has space!' },
      { token: 'short' },
      { token: 'with a space in it 123456' },
      { pollTimeout: 91 },
      { mode: 'push' },
    ]) {
      expect(maxSettingsSchema.safeParse({ type: 'max', token, ...bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('one MAX channel from the environment', () => {
  const base = {
    BLINGER_URL: 'https://blinger.example/custom-app/incoming',
    BLINGER_TOKEN: 'blinger-token-1',
    BLINGER_CHANNEL_ID: 'max-1',
    MEDIA_SECRET: 'a-long-random-media-secret',
  };
  const token = 'f9LHodD0cOJTestTokenForTheMaxDoubleOnly_aaaa';

  it('MAX_BOT_TOKEN selects the adapter; MAX_MODE, MAX_WEBHOOK_SECRET and MAX_API_ROOT set its keys', () => {
    const c = loadConfig({
      ...base,
      MAX_BOT_TOKEN: token,
      MAX_MODE: 'webhook',
      MAX_WEBHOOK_SECRET: 'my_secret-1',
      MAX_API_ROOT: 'https://max.example/',
    });
    expect(c.channels).toMatchObject([
      { id: 'max-1', adapter: { type: 'max', token, mode: 'webhook', webhookSecret: 'my_secret-1', apiRoot: 'https://max.example' } },
    ]);
  });

  it('names a bad variable without echoing a secret, and a MAX variable set without the token', () => {
    const p = configProblems({ ...base, MAX_BOT_TOKEN: token, MAX_WEBHOOK_SECRET: 'bad secret!' });
    expect(p.join('\n')).not.toContain('bad secret!');
    expect(p.some((l) => l.startsWith('MAX_WEBHOOK_SECRET=(11 characters, hidden): expected 5-256 characters'))).toBe(true);
    expect(configProblems({ MAX_MODE: 'webhook' })).toContainEqual(
      expect.stringMatching(/^MAX_MODE=webhook: set without MAX_BOT_TOKEN, so it has no effect/),
    );
  });
});
