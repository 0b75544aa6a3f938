/**
 * The MAX adapter end to end: a real bridge between the MAX Bot API double and the Blinger Custom
 * App double, over real HTTP and Redis. Receiving by long polling (marker moved only after the
 * update is queued, kept in Redis across restarts) and by webhook (secret header, 401/400, 200
 * only once queued, redelivery a no-op); users' files through signed /media links; agents' texts,
 * images and files; MAX's refusals classified.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMaxDouble, toJson, type Json, type MaxUpdate } from '../doubles/max-api.js';
import { startBlingerDouble } from '../doubles/blinger.js';
import {
  MAX_BLINGER_TOKEN,
  MAX_CHANNEL,
  MAX_SECRET,
  MAX_TOKEN,
  startMaxBridge,
  startMaxStack,
  stopMaxStack,
  type MaxStack,
} from '../helpers/max.js';
import { readyRedis } from '../helpers/redis.js';

let s: MaxStack | undefined;
afterEach(async () => {
  if (s) await stopMaxStack(s);
  s = undefined;
});

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.4\n% a tiny test document\n%%EOF\n');

/** Where agents' files live: a local server (the bridge may reach loopback in tests). */
let files: Server;
let filesUrl: string;
beforeAll(async () => {
  files = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/cat.png') res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
    else if (path === '/report')
      res
        .writeHead(200, {
          'content-type': 'application/pdf',
          'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent('Отчёт за май.pdf')}`,
        })
        .end(PDF);
    else if (path === '/notes.txt') res.writeHead(200, { 'content-type': 'text/plain' }).end('plain text where a picture was expected');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => files.close(r));
});

const chatOf = (u: MaxUpdate) => String(((u.message as Json).recipient as Json).chat_id);

/** POSTs an update to the bridge's MAX route as MAX would (or with the headers given). */
async function post(url: string, body: unknown, headers: Record<string, string> = { 'x-max-bot-api-secret': MAX_SECRET }) {
  const res = await fetch(`${url}/max/${MAX_CHANNEL}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : toJson(body),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

describe('receiving by long polling', () => {
  it('queues a message, then confirms it to MAX with the next marker, kept in Redis', async () => {
    s = await startMaxStack();
    await s.max.waitForPoll();
    const before = s.max.confirmedMarker();
    const u = s.max.pushMessage('Здравствуйте! Где мой заказ?', { user: { user_id: 7001, first_name: 'Анна', last_name: 'Иванова' } });
    const [got] = await s.blinger.waitFor(1);
    expect(got).toMatchObject({
      client_id: chatOf(u),
      client_name: 'Анна Иванова',
      type: 'text',
      data: 'Здравствуйте! Где мой заказ?',
      info: { user_id: 7001, chat_type: 'dialog', language: 'ru', bot_username: 'bridge_test_bot' },
    });
    // The next poll passes the marker past the update: confirmed only after it was queued.
    await s.max.waitForPoll();
    await expect.poll(() => s!.max.confirmedMarker()).toBeGreaterThan(before);
    const redis = await readyRedis();
    expect(Number(await redis.get(`${s.tb.prefix}:max-marker:${MAX_CHANNEL}`))).toBe(s.max.confirmedMarker());
    await redis.quit();
    // Polls ask only for what the bridge uses.
    const poll = s.max.calls.find((c) => c.path === '/updates')!;
    expect(poll.query.types).toBe('message_created,message_edited,message_callback,bot_started,chat_title_changed');
  });

  it('goes on from the stored marker after a restart, even where MAX answers a markerless poll with only the newest update', async () => {
    s = await startMaxStack({ keepKeys: true, double: { markerlessPoll: 'latest' } });
    s.max.pushMessage('one');
    await s.blinger.waitFor(1);
    await s.max.waitForPoll();
    const prefix = s.tb.prefix;
    await s.tb.stop();
    // While no bridge runs, three messages arrive; a poll without the marker would get only "four".
    for (const t of ['two', 'three', 'four']) s.max.pushMessage(t);
    s.tb = await startMaxBridge(s.max.apiRoot, s.blinger.url, { prefix });
    await s.blinger.waitFor(4);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['one', 'two', 'three', 'four']);
  });

  it('removes a webhook subscription that would block long polling', async () => {
    const max = await startMaxDouble({ allowHttpWebhooks: true });
    const blinger = await startBlingerDouble({ token: MAX_BLINGER_TOKEN, channelId: MAX_CHANNEL });
    s = { max, blinger } as MaxStack;
    const subscribed = await fetch(`${max.apiRoot}/subscriptions`, {
      method: 'POST',
      headers: { authorization: MAX_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://old.example.com/hook' }),
    });
    expect(subscribed.status).toBe(200);
    s.tb = await startMaxBridge(max.apiRoot, blinger.url);
    expect(max.subscriptions()).toEqual([]);
    max.pushMessage('after the switch');
    expect((await blinger.waitFor(1))[0]!.data).toBe('after the switch');
    expect(s.tb.logs.some((l) => l.includes('removed a MAX webhook subscription'))).toBe(true);
  });

  it('polled strings are made well-formed too (a lone surrogate would stall the conversation)', async () => {
    s = await startMaxStack();
    s.max.pushMessage('x\udc00y');
    s.max.pushMessage('then this');
    expect((await s.blinger.waitFor(2)).map((m) => m.data)).toEqual(['x\uFFFDy', 'then this']);
  });

  it('passes over a malformed polled update (logged) and delivers the ones around it', async () => {
    s = await startMaxStack();
    s.max.pushMessage('before');
    s.max.pushUpdate({ update_type: 'message_created', timestamp: Date.now(), message: { body: { text: 'no mid, no recipient' } } });
    s.max.pushMessage('after');
    await s.blinger.waitFor(2);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['before', 'after']);
    expect(s.tb.logs.some((l) => l.includes('malformed MAX update skipped') && l.includes('message.recipient'))).toBe(true);
  });
});

describe('receiving by webhook', () => {
  it('subscribes with the derived secret, answers exactly 200 once queued, and a redelivery is a no-op', async () => {
    s = await startMaxStack({ mode: 'webhook' });
    expect(s.max.subscriptions()).toEqual([
      {
        url: `${s.tb.url}/max/${MAX_CHANNEL}`,
        secret: MAX_SECRET,
        update_types: ['message_created', 'message_edited', 'message_callback', 'bot_started', 'chat_title_changed'],
        time: expect.any(Number),
      },
    ]);
    const u = s.max.pushMessage('Добрый день');
    const [first] = await s.max.deliverWebhook();
    expect([first!.status, first!.ok, first!.secret]).toEqual([200, true, MAX_SECRET]);
    await s.blinger.waitFor(1);
    // MAX retries an update it thinks failed: the same mid is not queued twice.
    const again = await post(s.tb.url, u);
    expect(again).toEqual({ status: 200, json: { ok: true, result: 'duplicate' } });
    // An edit keeps the mid but is an event of its own.
    s.max.pushEdit(u, 'Добрый вечер');
    await s.max.deliverWebhook();
    await s.blinger.waitFor(2);
    expect(s.blinger.received.map((m) => m.data)).toEqual(['Добрый день', '(edited) Добрый вечер']);
  });

  it('refuses a wrong or missing secret with 401 and a malformed update with 400, queuing nothing', async () => {
    s = await startMaxStack({ mode: 'webhook' });
    const update = {
      update_type: 'message_created',
      timestamp: 1,
      message: { recipient: { chat_id: 5 }, body: { mid: 'mid.x', text: 'x' } },
    };
    const refused: Array<Record<string, string>> = [
      {},
      { 'x-max-bot-api-secret': 'wrong' },
      { 'x-max-bot-api-secret': MAX_SECRET.toUpperCase() },
    ];
    for (const headers of refused) {
      const res = await post(s.tb.url, update, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.json.message).toBe('missing or wrong X-Max-Bot-Api-Secret header');
    }
    for (const [body, problem] of [
      [[update], 'expected a MAX Update object with update_type and timestamp'],
      [{ update_type: 'message_created', timestamp: 1, message: { body: { mid: 'm' } } }, 'message_created: message.recipient'],
      [{ update_type: 'bot_started', timestamp: 1, chat_id: 'x', user: { user_id: 1 } }, 'bot_started: chat_id'],
      ['{"update_type":', 'body is not valid JSON'],
    ] as const) {
      const res = await post(s.tb.url, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(String(res.json.message)).toContain(problem);
    }
    // A type the bridge does not use is acknowledged (a 400 would make MAX retry it for 8 hours).
    expect((await post(s.tb.url, { update_type: 'dialog_muted', timestamp: 1, chat_id: 5, muted_until: 9 })).json).toEqual({
      ok: true,
      result: 'skipped',
    });
    await post(s.tb.url, { ...update, message: { ...update.message, body: { mid: 'mid.ok', text: 'the real one' } } });
    expect((await s.blinger.waitFor(1)).map((m) => m.data)).toEqual(['the real one']);
  });

  it('a lone surrogate (MAX sent "\\ud800") arrives as U+FFFD and does not stall the conversation', async () => {
    s = await startMaxStack({ mode: 'webhook' });
    const update = {
      update_type: 'message_created',
      timestamp: 1,
      message: { recipient: { chat_id: 5, chat_type: 'dialog' }, body: { mid: 'mid.s1', text: 'a\ud800b' } },
    };
    expect((await post(s.tb.url, update)).status).toBe(200);
    expect((await post(s.tb.url, { ...update, message: { ...update.message, body: { mid: 'mid.s2', text: 'next' } } })).status).toBe(200);
    expect((await s.blinger.waitFor(2)).map((m) => m.data)).toEqual(['a\uFFFDb', 'next']);
  });

  it('puts a dropped subscription back, and check shows the subscription state', async () => {
    s = await startMaxStack({ mode: 'webhook' });
    const url = `${s.tb.url}/max/${MAX_CHANNEL}`;
    expect((await s.tb.adapter.check()).map((c) => [c.ok, c.name, c.detail])).toEqual([
      [true, `max ${MAX_CHANNEL}: /me`, 'Bridge Bot @bridge_test_bot'],
      [true, `max ${MAX_CHANNEL}: webhook`, expect.stringMatching(new RegExp(`^subscribed to ${url} since 20`))],
    ]);
    // MAX gives up on a failing endpoint after 8 hours and unsubscribes it.
    await fetch(`${s.max.apiRoot}/subscriptions?url=${encodeURIComponent(url)}`, {
      method: 'DELETE',
      headers: { authorization: MAX_TOKEN },
    });
    const [, webhook] = await s.tb.adapter.check();
    expect(webhook).toMatchObject({ ok: false, detail: 'no subscription', fix: expect.stringContaining('blinger-bridge max webhook set') });
    await s.tb.adapter.keepSubscribed();
    expect(s.max.subscriptions().map((x) => x.url)).toEqual([url]);
    expect(s.tb.logs.some((l) => l.includes('"level":50') && l.includes('subscribing again'))).toBe(true);
  });
});

describe("users' files", () => {
  it('reach Blinger as signed /media links the bridge serves from MAX; an expired MAX URL is a 404', async () => {
    s = await startMaxStack();
    const photo = s.max.imageAttachment(PNG, 'image/png');
    s.max.pushMessage({ text: 'Вот упаковка', attachments: [photo] });
    const [image, caption] = await s.blinger.waitFor(2);
    expect([image!.type, caption!.type, caption!.data]).toEqual(['image', 'text', 'Вот упаковка']);
    expect(image!.data.startsWith(`${s.tb.url}/media/`)).toBe(true);
    // MAX's own URL never reaches Blinger.
    expect(JSON.stringify(s.blinger.received)).not.toContain(s.max.apiRoot);
    const served = await fetch(image!.data);
    expect([served.status, served.headers.get('content-type')]).toEqual([200, 'image/png']);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(PNG);
    s.max.expireMedia((photo.payload as Json).url as string);
    expect((await fetch(image!.data)).status).toBe(404);
  });

  it('a file keeps its name; a video is fetched through GET /videos/{token}', async () => {
    s = await startMaxStack();
    s.max.pushMessage({ attachments: [s.max.fileAttachment(PDF, 'Счёт №42.pdf', 'application/pdf')] });
    const video = s.max.videoAttachment(Buffer.from('mp4 bytes'));
    s.max.pushMessage({ attachments: [video] });
    const [file, clip] = await s.blinger.waitFor(2);
    const got = await fetch(file!.data);
    // A PDF is served as a download (the inert-media rule), under its own name.
    expect(got.headers.get('content-disposition')).toBe(
      `attachment; filename="____ _42.pdf"; filename*=UTF-8''${encodeURIComponent('Счёт №42.pdf')}`,
    );
    expect(Buffer.from(await got.arrayBuffer())).toEqual(PDF);
    // The attachment's own URL may be a player page: the bridge asks MAX for the file's URL.
    s.max.expireMedia((video.payload as Json).url as string);
    expect(Buffer.from(await (await fetch(clip!.data)).arrayBuffer()).toString()).toBe('mp4 bytes');
    expect(s.max.calls.some((c) => c.path === `/videos/${(video.payload as Json).token as string}`)).toBe(true);
  });
});

describe("agents' replies", () => {
  /** An agent reply into the conversation of a user who wrote first. */
  async function reply(data: string, type: 'text' | 'image' | 'file' = 'text', clientId?: string): Promise<string> {
    const chat = clientId ?? chatOf(s!.max.pushMessage('hi'));
    if (!clientId) await s!.blinger.waitFor(1);
    expect((await s!.blinger.sendReply(s!.tb.url, { client_id: chat, type, data })).status).toBe(200);
    return chat;
  }

  it('texts go plain, split at 4000 characters in order', async () => {
    s = await startMaxStack();
    const long = Array.from({ length: 1200 }, (_, i) => `слово${i}`).join(' ');
    const chat = await reply('<b>Hi</b> *there*');
    await reply(long, 'text', chat);
    const sent = await s.max.waitForSent(4);
    expect(sent[0]).toMatchObject({ chatId: Number(chat), text: '<b>Hi</b> *there*' });
    expect(sent[0]!.format).toBeUndefined();
    const parts = sent.slice(1).map((m) => m.text!);
    expect(parts.every((p) => p.length <= 4000)).toBe(true);
    expect(parts.join(' ')).toBe(long);
  });

  it('images and files are uploaded in two steps with their bytes and names', async () => {
    s = await startMaxStack();
    const chat = await reply(`${filesUrl}/cat.png`, 'image');
    await reply(`${filesUrl}/report`, 'file', chat);
    // Not an image MAX takes as one: it goes as a file.
    await reply(`${filesUrl}/notes.txt`, 'image', chat);
    const sent = await s.max.waitForSent(3);
    expect(sent.map((m) => m.files.map((f) => [f.type, f.filename ?? null, f.bytes.length]))).toEqual([
      [['image', 'cat.png', PNG.length]],
      [['file', 'Отчёт за май.pdf', PDF.length]],
      [['file', 'notes.txt', 'plain text where a picture was expected'.length]],
    ]);
    expect(sent[0]!.files[0]!.bytes).toEqual(PNG);
    expect(s.max.calls.filter((c) => c.path === '/uploads').map((c) => c.query.type)).toEqual(['image', 'file', 'file']);
    // The upload URL is MAX's upload host: it never sees the bot token.
    expect(JSON.stringify(s.tb.logs)).not.toContain('sig=');
  });

  it('attachment.not.ready: the send is retried shortly with the same upload, never uploaded twice', async () => {
    s = await startMaxStack({ double: { attachmentNotReadyUses: 2 } });
    await reply(`${filesUrl}/report`, 'file');
    const [sent] = await s.max.waitForSent(1);
    expect(sent!.files[0]!.filename).toBe('Отчёт за май.pdf');
    expect(s.max.notReadyRefusals).toEqual([sent!.files[0]!.token, sent!.files[0]!.token]);
    expect(s.max.calls.filter((c) => c.path === '/uploads')).toHaveLength(1);
    const retries = s.tb.logs.filter((l) => l.includes('"code":"attachment_not_ready"'));
    expect(retries.length).toBe(2);
    // Kept for the retry only: gone once sent.
    const redis = await readyRedis();
    expect(await redis.keys(`${s.tb.prefix}:max-upload:*`)).toEqual([]);
    await redis.quit();
  });

  it('a blocked bot or a gone chat is dead-lettered at once, and the agent is told in the conversation', async () => {
    s = await startMaxStack();
    const blocked = await reply('hello?');
    await s.max.waitForSent(1);
    s.max.blockChat(Number(blocked));
    await reply('are you there?', 'text', blocked);
    const gone = chatOf(s.max.pushMessage('me too', { user: { user_id: 7002 } }));
    await s.blinger.waitFor(3);
    s.max.forgetChat(Number(gone));
    await reply('answer', 'text', gone);
    // hi, me too, and one sentence for each failed reply.
    await s.blinger.waitFor(4);
    const told = s.blinger.received.filter((m) => m.echo_outgoing);
    expect(told.map((m) => [m.client_id, m.data])).toEqual([
      [blocked, 'Not delivered: the user blocked the bot or stopped the dialog in MAX'],
      [gone, 'Not delivered: the MAX chat no longer exists'],
    ]);
    expect(s.max.calls.filter((c) => c.path === '/messages' && c.status === 403)).toHaveLength(1);
  });

  it('429 without Retry-After waits and retries; 5xx and a revoked token are retried until they pass', async () => {
    s = await startMaxStack();
    const chat = await reply('one');
    await s.max.waitForSent(1);
    s.max.failNext('messages', { status: 429, code: 'too.many.requests', message: 'Too many requests. Limit is: 10 calls per second.' });
    s.max.failNext('messages', { status: 503, code: 'service.unavailable', message: 'down' });
    s.max.failNext('messages', { status: 401, code: 'verify.token', message: 'Invalid access_token' });
    await reply('two', 'text', chat);
    await s.max.waitForSent(2);
    expect(s.max.sent.map((m) => m.text)).toEqual(['one', 'two']);
    const waits = s.tb.logs.filter((l) => l.includes('"event":"retrying"')).map((l) => JSON.parse(l) as Json);
    expect(waits.map((w) => w.code)).toEqual(['rate_limited', 'http_503', 'unauthorized']);
    expect(waits[0]!.delayMs).toBe(1000);
    expect(JSON.stringify(s.tb.logs)).not.toContain(MAX_TOKEN);
  });
});

describe('group chats', () => {
  it('the chat is the conversation, named by its title (asked once, then kept), the author in the text', async () => {
    s = await startMaxStack();
    s.max.addGroupChat(-70801090403050, 'Поддержка оптовиков');
    s.max.pushMessage('Счёт неверный', { chatType: 'chat', chatId: -70801090403050, user: { first_name: 'Ольга', last_name: 'С.' } });
    s.max.pushMessage('Уже исправили', {
      chatType: 'chat',
      chatId: -70801090403050,
      user: { user_id: 42, first_name: 'Пётр', last_name: 'К.' },
    });
    const got = await s.blinger.waitFor(2);
    expect(got.map((m) => [m.client_id, m.client_name, m.data])).toEqual([
      ['-70801090403050', 'Поддержка оптовиков', 'Ольга С.: Счёт неверный'],
      ['-70801090403050', 'Поддержка оптовиков', 'Пётр К.: Уже исправили'],
    ]);
    expect(s.max.calls.filter((c) => c.path === '/chats/-70801090403050')).toHaveLength(1);
    expect(s.tb.adapter.isGroup('-70801090403050')).toBe(true);
    expect(s.tb.adapter.isGroup('182182001')).toBe(false);
  });
});
