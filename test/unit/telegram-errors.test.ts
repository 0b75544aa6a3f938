import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Telegram, TelegramError } from 'telegraf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyTelegramError, describeForAgent } from '../../adapters/telegram/errors.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { freePort } from '../helpers/net.js';

const TOKEN = '123456:TEST-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

function apiError(error_code: number, description: string, parameters?: Record<string, number>): TelegramError {
  return new TelegramError({ error_code, description, ...(parameters ? { parameters } : {}) });
}

describe('classifyTelegramError: Bot API answers', () => {
  it('429 → rate_limited with retry_after in ms', () => {
    const e = classifyTelegramError(apiError(429, 'Too Many Requests: retry after 7', { retry_after: 7 }));
    expect(e.kind).toBe('rate_limited');
    expect(e.retryAfterMs).toBe(7000);
    expect(e.code).toBe('rate_limited');
    expect(e.message).toContain('Too Many Requests');
  });

  it('429 without retry_after still waits', () => {
    const e = classifyTelegramError(apiError(429, 'Too Many Requests'));
    expect(e.kind).toBe('rate_limited');
    expect(e.retryAfterMs).toBeGreaterThan(0);
  });

  it.each([500, 502, 503, 504, 408])('%i → transient', (status) => {
    const e = classifyTelegramError(apiError(status, 'Bad Gateway'));
    expect(e.kind).toBe('transient');
    expect(e.code).toBe(`http_${status}`);
  });

  it.each([
    ['Forbidden: bot was blocked by the user', 'blocked'],
    ['Forbidden: user is deactivated', 'deactivated'],
    ['Forbidden: bot was kicked from the group chat', 'kicked'],
    ['Forbidden: bot was kicked from the supergroup chat', 'kicked'],
    ['Forbidden: bot is not a member of the channel chat', 'kicked'],
    ["Forbidden: bot can't initiate conversation with a user", 'not_started'],
    ['Forbidden: something new', 'forbidden'],
  ])('403 %s → permanent %s', (description, code) => {
    const e = classifyTelegramError(apiError(403, description));
    expect(e.kind).toBe('permanent');
    expect(e.code).toBe(code);
    expect(e.message).toContain(description);
  });

  it('400 chat not found → permanent chat_not_found', () => {
    const e = classifyTelegramError(apiError(400, 'Bad Request: chat not found'));
    expect(e.kind).toBe('permanent');
    expect(e.code).toBe('chat_not_found');
  });

  it.each(['Bad Request: message thread not found', 'Bad Request: TOPIC_CLOSED', 'Bad Request: TOPIC_DELETED'])(
    '400 %s → permanent topic_gone (send.ts falls back to General)',
    (description) => {
      const e = classifyTelegramError(apiError(400, description));
      expect(e.kind).toBe('permanent');
      expect(e.code).toBe('topic_gone');
      expect(e.message).toBe(`Telegram 400: ${description}`);
    },
  );

  it('400 with migrate_to_chat_id → permanent chat_migrated naming the new id', () => {
    const e = classifyTelegramError(
      apiError(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: -1001234567890 }),
    );
    expect(e.kind).toBe('permanent');
    expect(e.code).toBe('chat_migrated');
    expect(e.message).toContain('-1001234567890');
  });

  it('other 4xx → permanent with Telegram’s description', () => {
    const e = classifyTelegramError(apiError(400, 'Bad Request: message text is empty'));
    expect(e.kind).toBe('permanent');
    expect(e.code).toBe('http_400');
    expect(e.message).toBe('Telegram 400: Bad Request: message text is empty');
    expect(classifyTelegramError(apiError(413, 'Request Entity Too Large')).kind).toBe('permanent');
  });

  it('401 → transient unauthorized (operator must fix the token; messages must not be dead-lettered)', () => {
    const e = classifyTelegramError(apiError(401, 'Unauthorized'));
    expect(e.kind).toBe('transient');
    expect(e.code).toBe('unauthorized');
  });

  it('404 (wrong API root or method) → transient', () => {
    const e = classifyTelegramError(apiError(404, 'Not Found'));
    expect(e.kind).toBe('transient');
  });

  it('passes a DeliveryError through unchanged', () => {
    const original = DeliveryError.permanent('already classified', 'x');
    expect(classifyTelegramError(original)).toBe(original);
  });

  it('redacts a bot token embedded in a description', () => {
    const e = classifyTelegramError(apiError(400, `Bad Request: weird echo of ${TOKEN}`));
    expect(e.message).not.toContain(TOKEN);
    expect(e.message).not.toContain('TEST-token');
    expect(e.message).toContain('[REDACTED]');
  });
});

describe('classifyTelegramError: network errors from a real client', () => {
  let silent: Server;
  let silentPort: number;

  beforeAll(async () => {
    // Accepts connections and never answers: for the timeout case.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as AddressInfo).port;
  });

  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('connection refused → transient network, token not in the reason', async () => {
    const port = await freePort();
    const tg = new Telegram(TOKEN, { apiRoot: `http://127.0.0.1:${port}` });
    const err = await tg.callApi('sendMessage', { chat_id: 1, text: 'hi' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    const e = classifyTelegramError(err);
    expect(e.kind).toBe('transient');
    expect(e.code).toBe('network');
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.message).not.toContain('TEST-token');
  });

  it('abort by timeout signal → transient timeout', async () => {
    const tg = new Telegram(TOKEN, { apiRoot: `http://127.0.0.1:${silentPort}` });
    const err = await tg.callApi('sendMessage', { chat_id: 1, text: 'hi' }, { signal: AbortSignal.timeout(50) as never }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const e = classifyTelegramError(err);
    expect(e.kind).toBe('transient');
    expect(e.code).toBe('timeout');
  });

  it('a network error whose message carries the token is redacted', () => {
    const err = Object.assign(new Error(`request to http://api.example/bot${TOKEN}/sendMessage failed, reason: socket hang up`), {
      code: 'ECONNRESET',
      type: 'system',
    });
    const e = classifyTelegramError(err);
    expect(e.kind).toBe('transient');
    expect(e.message).toContain('ECONNRESET');
    expect(e.message).not.toContain('TEST-token');
  });

  it('anything unknown → transient', () => {
    expect(classifyTelegramError(new TypeError('boom')).kind).toBe('transient');
    expect(classifyTelegramError('weird').kind).toBe('transient');
  });
});

describe('describeForAgent', () => {
  it('explains end-user-side failures', () => {
    const say = (status: number, description: string, parameters?: Record<string, number>) =>
      describeForAgent(classifyTelegramError(apiError(status, description, parameters)));
    expect(say(403, 'Forbidden: bot was blocked by the user')).toBe('Not delivered: the user blocked the bot');
    expect(say(403, 'Forbidden: user is deactivated')).toBe("Not delivered: the user's Telegram account was deleted");
    expect(say(400, 'Bad Request: chat not found')).toBe('Not delivered: the chat no longer exists');
    expect(say(403, 'Forbidden: bot was kicked from the group chat')).toMatch(/^Not delivered: /);
    expect(say(400, 'Bad Request: upgraded', { migrate_to_chat_id: -100 })).toMatch(/^Not delivered: /);
    // Only a send to General ends with topic_gone: a gone topic falls back there first.
    expect(say(400, 'Bad Request: TOPIC_CLOSED')).toBe("Not delivered: the forum's General topic is closed to the bot");
  });

  it('says nothing for failures that are not the end-user’s side', () => {
    expect(describeForAgent(classifyTelegramError(apiError(500, 'Internal Server Error')))).toBeUndefined();
    expect(describeForAgent(classifyTelegramError(apiError(429, 'Too Many Requests', { retry_after: 1 })))).toBeUndefined();
    expect(describeForAgent(classifyTelegramError(apiError(401, 'Unauthorized')))).toBeUndefined();
    expect(describeForAgent(classifyTelegramError(apiError(400, 'Bad Request: message text is empty')))).toBeUndefined();
  });
});
