/**
 * sendToTelegram against the Telegram Bot API test double (a real HTTP server on 127.0.0.1), with
 * a real file server on 127.0.0.1 for the media URLs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Telegram } from 'telegraf';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeForAgent } from '../../adapters/telegram/errors.js';
import { sendToTelegram, type TelegramSendOptions } from '../../adapters/telegram/send.js';
import { splitText } from '../../src/toolkit/split-text.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import type { OutboundMessage } from '../../src/message.js';
import { startTelegramDouble, type TelegramDouble } from '../doubles/telegram-api.js';

const TOKEN = '123456:TEST-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const CHAT = '424242';

// A valid 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.4\n% a tiny test document\n%%EOF\n');

/**
 * Serves the media. Paths under /private/ answer only the bridge's own downloader (its User-Agent),
 * so the double's fetch fails there exactly as Telegram's does for a URL it cannot reach.
 */
let files: Server;
let filesUrl: string;

beforeAll(async () => {
  files = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let path = url.pathname;
    if (path.startsWith('/private/')) {
      if (req.headers['user-agent'] !== 'blinger-bridge') {
        res.writeHead(403);
        res.end();
        return;
      }
      path = path.slice('/private'.length);
    }
    switch (path) {
      case '/cat.png':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(PNG.length) });
        res.end(PNG);
        return;
      case '/download':
        res.writeHead(200, {
          'content-type': 'application/pdf',
          'content-length': String(PDF.length),
          'content-disposition': 'attachment; filename="Quarterly report.pdf"',
        });
        res.end(PDF);
        return;
      case '/notes':
        // Not an image: Telegram will not make a photo of it.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('plain text, sent where a picture was expected');
        return;
      default:
        res.writeHead(404);
        res.end();
    }
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});

afterAll(async () => {
  files.closeAllConnections();
  await new Promise<void>((resolve) => files.close(() => resolve()));
});

let double: TelegramDouble;
let opts: TelegramSendOptions;

beforeEach(async () => {
  double = await startTelegramDouble();
  opts = {
    telegram: new Telegram(TOKEN, { apiRoot: double.apiRoot }),
    allowPrivateUrls: true,
    timeoutMs: 10_000,
  };
});

afterEach(async () => {
  await double.close();
});

function text(data: string): OutboundMessage {
  return { client_id: CHAT, type: 'text', data };
}

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  const err = await p.then(
    () => {
      throw new Error('expected the send to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

function words(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`word${i}`);
  return out.join(' ');
}

describe('sendToTelegram: text', () => {
  it('splits a long text into ordered parts', async () => {
    const long = words(2000); // ~15,800 characters
    const expected = splitText(long);
    expect(expected.length).toBeGreaterThan(2);
    await sendToTelegram(opts, text(long));
    const sent = double.sent.filter((s) => s.method === 'sendMessage');
    expect(sent.map((s) => s.text)).toEqual(expected);
    for (const s of sent) {
      expect(String(s.chat_id)).toBe(CHAT);
      expect((s.text ?? '').length).toBeLessThanOrEqual(4096);
    }
  });

  it('delivers <, * and _ exactly as typed (no parse_mode)', async () => {
    const typed = '<b>not bold</b> *not bold* _not italic_ 2 < 3 & a > b [x](y)';
    await sendToTelegram(opts, text(typed));
    expect(double.sent).toHaveLength(1);
    expect(double.sent[0]?.text).toBe(typed);
    expect(double.sent[0]?.parse_mode).toBeUndefined();
  });

  it('resumes after a failed middle part, sending each part exactly once', async () => {
    const long = words(1500);
    const parts = splitText(long);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    let persisted = 0;
    const progress = {
      get partsSent() {
        return persisted;
      },
      async onPartSent(n: number) {
        persisted = n;
        // The part after the first one fails once, as a 502 from Telegram would.
        if (n === 1) double.failNext('sendMessage', { error_code: 502, description: 'Bad Gateway' }, 1);
      },
    };

    const first = await failure(sendToTelegram(opts, text(long), progress));
    expect(first.kind).toBe('transient');
    expect(persisted).toBe(1);

    await sendToTelegram(opts, text(long), progress);
    // Every part but the last is marked; the last one ends the message.
    expect(persisted).toBe(parts.length - 1);
    expect(double.sent.filter((s) => s.method === 'sendMessage').map((s) => s.text)).toEqual(parts);
  });

  it('marks no progress for a one-part text: the message is done when its only part is sent', async () => {
    const marks: number[] = [];
    await sendToTelegram(opts, text('short'), { partsSent: 0, onPartSent: async (n) => void marks.push(n) });
    expect(double.sent.map((s) => s.text)).toEqual(['short']);
    expect(marks).toEqual([]);
  });

  it('does nothing when every part was already sent', async () => {
    const progress = { partsSent: 1, onPartSent: () => Promise.resolve() };
    await sendToTelegram(opts, text('short'), progress);
    expect(double.sent).toHaveLength(0);
  });

  it('refuses an empty text as permanent', async () => {
    const err = await failure(sendToTelegram(opts, text('  \n ')));
    expect(err.kind).toBe('permanent');
    expect(double.sent).toHaveLength(0);
  });
});

describe('sendToTelegram: media', () => {
  it('sends an image by URL', async () => {
    const url = `${filesUrl}/cat.png`;
    await sendToTelegram(opts, { client_id: CHAT, type: 'image', data: url });
    expect(double.sent).toHaveLength(1);
    expect(double.sent[0]).toMatchObject({ method: 'sendPhoto', via: 'url', url });
    expect(String(double.sent[0]?.chat_id)).toBe(CHAT);
  });

  it('sends a file by URL', async () => {
    const url = `${filesUrl}/download`;
    await sendToTelegram(opts, { client_id: CHAT, type: 'file', data: url });
    expect(double.sent).toHaveLength(1);
    expect(double.sent[0]).toMatchObject({ method: 'sendDocument', via: 'url', url });
  });

  it('uploads a file Telegram cannot fetch, keeping its name and bytes', async () => {
    await sendToTelegram(opts, { client_id: CHAT, type: 'file', data: `${filesUrl}/private/download` });
    expect(double.sent).toHaveLength(1);
    const s = double.sent[0];
    expect(s).toMatchObject({ method: 'sendDocument', via: 'upload', filename: 'Quarterly report.pdf', contentType: 'application/pdf' });
    expect(s?.size).toBe(PDF.length);
    expect(s?.bytes?.equals(PDF)).toBe(true);
  });

  it('uploads an image Telegram cannot fetch as a photo, keeping its name', async () => {
    await sendToTelegram(opts, { client_id: CHAT, type: 'image', data: `${filesUrl}/private/cat.png` });
    expect(double.sent).toHaveLength(1);
    expect(double.sent[0]).toMatchObject({ method: 'sendPhoto', via: 'upload', filename: 'cat.png', contentType: 'image/png' });
    expect(double.sent[0]?.bytes?.equals(PNG)).toBe(true);
  });

  it('sends an image Telegram refuses as a photo again as a document', async () => {
    const url = `${filesUrl}/notes`;
    await sendToTelegram(opts, { client_id: CHAT, type: 'image', data: url });
    expect(double.sent).toHaveLength(1);
    expect(double.sent[0]).toMatchObject({ method: 'sendDocument', via: 'url', url });
  });

  it('uploads as a document an image that neither Telegram can fetch nor make a photo of', async () => {
    await sendToTelegram(opts, { client_id: CHAT, type: 'image', data: `${filesUrl}/private/notes` });
    expect(double.sent).toHaveLength(1);
    // No name in the URL's extension: the Content-Type's extension is added, and with it the type.
    expect(double.sent[0]).toMatchObject({ method: 'sendDocument', via: 'upload', filename: 'notes.txt', contentType: 'text/plain' });
    const refused = double.calls.filter((c) => c.status !== undefined && c.status !== 200).map((c) => [c.method, c.description]);
    expect(refused).toEqual([
      ['sendPhoto', 'Bad Request: failed to get HTTP URL content'],
      ['sendPhoto', 'Bad Request: IMAGE_PROCESS_FAILED'],
    ]);
  });

  it('falls back from a photo too big for a URL, then for an upload, to an uploaded document', async () => {
    await double.close();
    double = await startTelegramDouble({ limits: { urlPhotoBytes: 10, uploadPhotoBytes: 20 } });
    opts = { ...opts, telegram: new Telegram(TOKEN, { apiRoot: double.apiRoot }) };
    await sendToTelegram(opts, { client_id: CHAT, type: 'image', data: `${filesUrl}/cat.png` });
    expect(double.sent).toHaveLength(1);
    // Telegram's "failed to get HTTP URL content" does not say why, so once a URL is refused the
    // bridge uploads rather than asking Telegram to fetch the same URL again.
    expect(double.sent[0]).toMatchObject({ method: 'sendDocument', via: 'upload', filename: 'cat.png' });
    expect(double.calls.map((c) => [c.method, c.status])).toEqual([
      ['sendPhoto', 400],
      ['sendPhoto', 413],
      ['sendDocument', 200],
    ]);
  });

  it('does not download from a private address unless allowed: permanent', async () => {
    const err = await failure(
      sendToTelegram({ ...opts, allowPrivateUrls: false }, { client_id: CHAT, type: 'file', data: `${filesUrl}/private/download` }),
    );
    expect(err.kind).toBe('permanent');
    expect(err.code).toBe('download_private_address');
    expect(double.sent).toHaveLength(0);
  });

  it('refuses a download over the cap: permanent', async () => {
    const err = await failure(
      sendToTelegram({ ...opts, maxUploadBytes: 10 }, { client_id: CHAT, type: 'file', data: `${filesUrl}/private/download` }),
    );
    expect(err.kind).toBe('permanent');
    expect(err.code).toBe('download_too_large');
    expect(double.sent).toHaveLength(0);
  });
});

describe('sendToTelegram: failures', () => {
  it('403 blocked by the user → permanent "blocked", explained to the agent', async () => {
    double.blockChat(CHAT);
    const err = await failure(sendToTelegram(opts, text('hello')));
    expect(err.kind).toBe('permanent');
    expect(err.code).toBe('blocked');
    expect(describeForAgent(err)).toBe('Not delivered: the user blocked the bot');
  });

  it('400 chat not found → permanent "chat_not_found"', async () => {
    double.forgetChat(CHAT);
    const err = await failure(sendToTelegram(opts, text('hello')));
    expect(err.kind).toBe('permanent');
    expect(err.code).toBe('chat_not_found');
  });

  it('429 → rate_limited with retry_after', async () => {
    double.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 3', retry_after: 3 }, 1);
    const err = await failure(sendToTelegram(opts, text('hello')));
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(3000);
  });

  it('5xx → transient, and the next attempt goes through', async () => {
    double.failNext('sendMessage', { error_code: 500, description: 'Internal Server Error' }, 1);
    const err = await failure(sendToTelegram(opts, text('hello')));
    expect(err.kind).toBe('transient');
    await sendToTelegram(opts, text('hello'));
    expect(double.sent.map((s) => s.text)).toEqual(['hello']);
  });

  it('a call Telegram never answers times out → transient "timeout"', async () => {
    double.hangNext('sendMessage', 1);
    const err = await failure(sendToTelegram({ ...opts, timeoutMs: 200 }, text('hello')));
    expect(err.kind).toBe('transient');
    expect(err.code).toBe('timeout');
    expect(double.sent).toHaveLength(0);
  });

  it('a 5xx on a media call is transient too, and never leaks the bot token', async () => {
    double.failNext('sendPhoto', { error_code: 503, description: 'Service Unavailable' }, 1);
    const err = await failure(sendToTelegram(opts, { client_id: CHAT, type: 'image', data: `${filesUrl}/cat.png` }));
    expect(err.kind).toBe('transient');
    expect(err.message).not.toContain('TEST-token');
  });
});

describe('sendToTelegram: where in the chat (reply route)', () => {
  const FORUM = '-1002098765432';
  const inForum = (m: Omit<OutboundMessage, 'client_id'>): OutboundMessage => ({ client_id: FORUM, ...m }) as OutboundMessage;

  it.each([
    ['a forum topic', FORUM, { message_thread_id: 42 }],
    ['a business chat', CHAT, { business_connection_id: 'AbCdEfGh1234_business' }],
  ])('%s: every method carries the route — text, photo and document by URL, and a multipart upload', async (_what, chat, route) => {
    const to = (m: Omit<OutboundMessage, 'client_id'>) => ({ client_id: chat, ...m }) as OutboundMessage;
    await sendToTelegram(opts, to({ type: 'text', data: 'hello' }), undefined, route);
    await sendToTelegram(opts, to({ type: 'image', data: `${filesUrl}/cat.png` }), undefined, route);
    await sendToTelegram(opts, to({ type: 'file', data: `${filesUrl}/private/download` }), undefined, route);
    expect(double.sent.map((s) => [s.method, s.via])).toEqual([
      ['sendMessage', 'text'],
      ['sendPhoto', 'url'],
      ['sendDocument', 'upload'],
    ]);
    for (const s of double.sent) {
      expect(s.chat_id).toBe(chat);
      expect({ message_thread_id: s.message_thread_id, business_connection_id: s.business_connection_id }).toEqual({
        message_thread_id: undefined,
        business_connection_id: undefined,
        ...route,
      });
    }
  });

  it('a topic deleted in the middle of a long text: the rest goes to General, each part once, and onTopicGone is told', async () => {
    const long = words(1500);
    const parts = splitText(long);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const persisted: number[] = [];
    const progress = {
      partsSent: 0,
      async onPartSent(n: number) {
        persisted.push(n);
        if (n === 1) double.deleteTopic(FORUM, 42);
      },
    };
    const gone: Array<[string, number]> = [];
    const withHook: TelegramSendOptions = { ...opts, onTopicGone: async (chat, thread) => void gone.push([chat, thread]) };
    await sendToTelegram(withHook, inForum({ type: 'text', data: long }), progress, { message_thread_id: 42 });

    expect(double.sent.map((s) => s.text)).toEqual(parts);
    expect(double.sent.map((s) => s.message_thread_id)).toEqual([42, ...parts.slice(1).map(() => undefined)]);
    expect(persisted).toEqual(parts.slice(1).map((_, i) => i + 1));
    expect(gone).toEqual([[FORUM, 42]]);
    const refused = double.calls.filter((c) => c.status === 400);
    expect(refused.map((c) => [c.method, c.description, c.params.message_thread_id])).toEqual([
      ['sendMessage', 'Bad Request: message thread not found', 42],
    ]);
  });

  it('a closed topic and a file Telegram cannot fetch: the whole send is redone in General, upload included', async () => {
    double.closeTopic(FORUM, 42);
    await sendToTelegram(opts, inForum({ type: 'file', data: `${filesUrl}/private/download` }), undefined, { message_thread_id: 42 });
    expect(double.calls.map((c) => [c.method, c.status, c.description ?? null, c.params.message_thread_id ?? null])).toEqual([
      ['sendDocument', 400, 'Bad Request: TOPIC_CLOSED', 42],
      ['sendDocument', 400, 'Bad Request: failed to get HTTP URL content', null],
      ['sendDocument', 200, null, null],
    ]);
    expect(double.sent).toEqual([expect.objectContaining({ method: 'sendDocument', via: 'upload', filename: 'Quarterly report.pdf' })]);
    expect(double.sent[0]!.message_thread_id).toBeUndefined();
  });

  it('General refused as well: one fallback only, then a permanent "topic_gone" the agent is told about', async () => {
    double.failNext('sendMessage', { error_code: 400, description: 'Bad Request: TOPIC_CLOSED' }, 2);
    const err = await failure(sendToTelegram(opts, inForum({ type: 'text', data: 'hello' }), undefined, { message_thread_id: 42 }));
    expect(err).toMatchObject({ kind: 'permanent', code: 'topic_gone' });
    expect(describeForAgent(err)).toBe("Not delivered: the forum's General topic is closed to the bot");
    expect(double.calls.map((c) => c.params.message_thread_id ?? null)).toEqual([42, null]);
  });

  it('no topic in the route: a "topic gone" answer is not retried', async () => {
    double.failNext('sendMessage', { error_code: 400, description: 'Bad Request: TOPIC_CLOSED' }, 2);
    const err = await failure(sendToTelegram(opts, inForum({ type: 'text', data: 'hello' })));
    expect(err.code).toBe('topic_gone');
    expect(double.calls).toHaveLength(1);
  });
});
