/**
 * Tests of the test doubles themselves: they must behave like the real Telegram Bot API and the
 * Blinger Custom App API, or every test built on them proves nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Telegraf, Telegram, TelegramError } from 'telegraf';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBlingerDouble, type BlingerDouble } from './blinger.js';
import { parseBoundary, parseMultipart, MultipartError } from './multipart.js';
import { DEFAULT_BOT, startTelegramDouble, type TelegramDouble } from './telegram-api.js';

// ---------------------------------------------------------------- helpers

interface Envelope {
  ok: boolean;
  // Bot API results are free-form JSON; tests index into them freely.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  result?: any;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

/** A Bot API call the way most clients make it: POST with a JSON body. */
async function api(
  double: TelegramDouble,
  method: string,
  params: Record<string, unknown> = {},
  token = DEFAULT_BOT.token,
): Promise<{ status: number; body: Envelope }> {
  const res = await fetch(`${double.apiRoot}/bot${token}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return { status: res.status, body: (await res.json()) as Envelope };
}

/** A 1x1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/** A throwaway HTTP server on 127.0.0.1 (media for URL sends, webhook receivers, bridge stand-ins). */
async function startServer(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readAll(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

// ================================================================ Telegram

describe('Telegram Bot API double', () => {
  let tg: TelegramDouble;

  beforeAll(async () => {
    tg = await startTelegramDouble({ limits: { uploadPhotoBytes: 1000, urlPhotoBytes: 500 } });
  });
  afterEach(() => tg.reset());
  afterAll(() => tg.close());

  describe('envelopes and parameters', () => {
    it('answers getMe with {ok:true,result} and the bot user', async () => {
      const { status, body } = await api(tg, 'getMe');
      expect(status).toBe(200);
      expect(body).toMatchObject({ ok: true, result: { id: 123456, is_bot: true, username: 'test_bridge_bot' } });
    });

    it('rejects an unknown token with 401 Unauthorized', async () => {
      const { status, body } = await api(tg, 'getMe', {}, '999:nope');
      expect(status).toBe(401);
      expect(body).toEqual({ ok: false, error_code: 401, description: 'Unauthorized' });
    });

    it('rejects an unknown method with 404 Not Found, and matches method names case-insensitively', async () => {
      const unknown = await api(tg, 'sendTelepathy');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ ok: false, error_code: 404, description: 'Not Found' });
      expect((await api(tg, 'GETME')).body.ok).toBe(true);
    });

    it('accepts parameters as a query string and as x-www-form-urlencoded', async () => {
      const viaQuery = await fetch(`${tg.apiRoot}/bot${DEFAULT_BOT.token}/sendMessage?chat_id=5&text=from%20query`);
      expect(((await viaQuery.json()) as Envelope).result.text).toBe('from query');

      const viaForm = await fetch(`${tg.apiRoot}/bot${DEFAULT_BOT.token}/sendMessage`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          chat_id: '5',
          text: 'from form',
          reply_markup: '{"inline_keyboard":[[{"text":"a","callback_data":"b"}]]}',
        }),
      });
      const result = ((await viaForm.json()) as Envelope).result;
      expect(result.text).toBe('from form');
      expect(result.reply_markup).toEqual({ inline_keyboard: [[{ text: 'a', callback_data: 'b' }]] });
      expect(tg.sent.map((s) => s.text)).toEqual(['from query', 'from form']);
      expect(tg.sent[1]!.reply_markup).toEqual({ inline_keyboard: [[{ text: 'a', callback_data: 'b' }]] });
    });

    it('records every call, including refused ones, with status and description', async () => {
      await api(tg, 'sendMessage', { chat_id: 1, text: '' });
      expect(tg.calls).toHaveLength(1);
      expect(tg.calls[0]).toMatchObject({
        method: 'sendMessage',
        bot: 'test_bridge_bot',
        status: 400,
        description: 'Bad Request: message text is empty',
      });
      expect(tg.sent).toHaveLength(0);
    });
  });

  describe('getUpdates', () => {
    it('returns updates from the offset on, and an offset confirms and drops everything before it', async () => {
      const [a, b, c] = [1, 2, 3].map((n) => tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 10, text: `m${n}` })));
      expect(a!.update_id).toBeLessThan(b!.update_id);

      const all = await api(tg, 'getUpdates', { offset: 0 });
      expect(all.body.result.map((u: { update_id: number }) => u.update_id)).toEqual([a!.update_id, b!.update_id, c!.update_id]);
      // Not confirmed yet: the same updates come again.
      expect((await api(tg, 'getUpdates', {})).body.result).toHaveLength(3);

      const fromB = await api(tg, 'getUpdates', { offset: b!.update_id, limit: 1 });
      expect(fromB.body.result.map((u: { message: { text: string } }) => u.message.text)).toEqual(['m2']);
      expect(tg.confirmedOffset).toBe(b!.update_id);
      expect(tg.pendingUpdates().map((u) => u.update_id)).toEqual([b!.update_id, c!.update_id]);

      const rest = await api(tg, 'getUpdates', { offset: c!.update_id + 1 });
      expect(rest.body.result).toEqual([]);
      expect(tg.pendingUpdates()).toEqual([]);
      expect(tg.confirmedOffset).toBe(c!.update_id + 1);
    });

    it('makes realistic message updates', () => {
      const update = tg.makeMessageUpdate({ chat_id: 42, text: 'hello' });
      expect(update.message).toMatchObject({
        message_id: expect.any(Number),
        from: {
          id: 42,
          is_bot: false,
          first_name: expect.any(String),
          last_name: expect.any(String),
          username: expect.any(String),
          language_code: 'en',
        },
        chat: { id: 42, type: 'private', first_name: expect.any(String) },
        date: expect.any(Number),
        text: 'hello',
      });
      expect(tg.makeMessageUpdate({ chat_id: -100, text: 'x' }).message.chat).toMatchObject({
        id: -100,
        type: 'group',
        title: expect.any(String),
      });
    });

    it('long polling wakes up as soon as an update is pushed', async () => {
      const started = Date.now();
      const poll = api(tg, 'getUpdates', { timeout: 30 });
      await tg.waitForPoll();
      const pushed = tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 11, text: 'wake' }));
      const { body } = await poll;
      expect(body.result.map((u: { update_id: number }) => u.update_id)).toEqual([pushed.update_id]);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('long polling answers [] after the timeout when nothing arrives', async () => {
      const started = Date.now();
      const { body } = await api(tg, 'getUpdates', { timeout: 1 });
      expect(body).toEqual({ ok: true, result: [] });
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    });

    it('a second concurrent getUpdates terminates the older one with 409', async () => {
      const older = api(tg, 'getUpdates', { timeout: 30 });
      await tg.waitForPoll();
      const newer = api(tg, 'getUpdates', { timeout: 0 });
      const [o, n] = await Promise.all([older, newer]);
      expect(o.status).toBe(409);
      expect(o.body.description).toBe('Conflict: terminated by other getUpdates request; make sure that only one bot instance is running');
      expect(n.status).toBe(200);
    });

    it('filters by allowed_updates (and leaves chat_member out by default)', async () => {
      tg.pushUpdate({ chat_member: { chat: { id: 1 } } });
      tg.pushUpdate({ callback_query: { id: 'cb' } });
      const msg = tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 3, text: 'keep' }));
      const onlyMessages = await api(tg, 'getUpdates', { allowed_updates: ['message'] });
      expect(onlyMessages.body.result.map((u: { update_id: number }) => u.update_id)).toEqual([msg.update_id]);
    });

    it('refuses getUpdates with 409 while a webhook is set, and ends a waiting poll when one is set', async () => {
      const waiting = api(tg, 'getUpdates', { timeout: 30 });
      await tg.waitForPoll();
      expect((await api(tg, 'setWebhook', { url: 'http://127.0.0.1:9/hook' })).body).toEqual({
        ok: true,
        result: true,
        description: 'Webhook was set',
      });
      const ended = await waiting;
      expect(ended.status).toBe(409);

      const { status, body } = await api(tg, 'getUpdates');
      expect(status).toBe(409);
      expect(body.description).toBe(
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      );

      expect((await api(tg, 'deleteWebhook')).body.description).toBe('Webhook was deleted');
      expect((await api(tg, 'getUpdates')).status).toBe(200);
    });
  });

  describe('webhooks', () => {
    it('validates secret_token characters and length', async () => {
      for (const secret of ['has space', 'dots.are.bad', 'x'.repeat(257)]) {
        const { status, body } = await api(tg, 'setWebhook', { url: 'http://127.0.0.1:9/hook', secret_token: secret });
        expect(status).toBe(400);
        expect(body.description).toBe('Bad Request: secret token contains unallowed characters');
      }
      expect(tg.webhook).toBeUndefined();
      expect((await api(tg, 'setWebhook', { url: 'http://127.0.0.1:9/hook', secret_token: 'Ok_secret-1' })).status).toBe(200);
      expect(tg.webhook).toMatchObject({ url: 'http://127.0.0.1:9/hook', secret_token: 'Ok_secret-1' });
    });

    it('reports webhook info, honours drop_pending_updates', async () => {
      tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 1, text: 'pending' }));
      expect((await api(tg, 'getWebhookInfo')).body.result).toEqual({ url: '', has_custom_certificate: false, pending_update_count: 1 });
      await api(tg, 'setWebhook', { url: 'http://127.0.0.1:9/hook', allowed_updates: ['message'], max_connections: 5 });
      expect((await api(tg, 'getWebhookInfo')).body.result).toMatchObject({
        url: 'http://127.0.0.1:9/hook',
        has_custom_certificate: false,
        pending_update_count: 1,
        max_connections: 5,
        allowed_updates: ['message'],
      });
      await api(tg, 'deleteWebhook', { drop_pending_updates: true });
      expect((await api(tg, 'getWebhookInfo')).body.result.pending_update_count).toBe(0);
    });

    it('delivers an update like Telegram: JSON POST with the secret header; failures become last_error', async () => {
      const seen: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
      let answer = 503;
      const receiver = await startServer(async (req, res) => {
        seen.push({ headers: req.headers, body: await readAll(req) });
        res.writeHead(answer).end('ok');
      });
      try {
        await expect(tg.deliverWebhook(tg.makeMessageUpdate({ chat_id: 1, text: 'x' }))).rejects.toThrow(/no webhook/);
        await api(tg, 'setWebhook', { url: `${receiver.url}/telegram/7`, secret_token: 'S3cret' });

        const update = tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 1, text: 'hi' }));
        const failed = await tg.deliverWebhook(update);
        expect(failed.status).toBe(503);
        const info = (await api(tg, 'getWebhookInfo')).body.result;
        expect(info.last_error_message).toBe('Wrong response from the webhook: 503 Service Unavailable');
        expect(info.pending_update_count).toBe(1);

        answer = 200;
        expect(await tg.deliverWebhook(update)).toEqual({ status: 200, body: 'ok' });
        expect(tg.pendingUpdates()).toEqual([]);
        expect(seen).toHaveLength(2);
        expect(seen[1]!.headers['x-telegram-bot-api-secret-token']).toBe('S3cret');
        expect(seen[1]!.headers['content-type']).toBe('application/json');
        expect(JSON.parse(seen[1]!.body)).toEqual(update);
      } finally {
        await receiver.close();
      }
    });
  });

  describe('files', () => {
    it('getFile returns file_path and the file downloads from /file/bot<token>/<path>', async () => {
      const content = Buffer.from('voice bytes');
      const added = tg.addFile({ content, mime: 'audio/ogg', file_path: 'voice/file_1.oga' });
      const { body } = await api(tg, 'getFile', { file_id: added.file_id });
      expect(body.result).toEqual({
        file_id: added.file_id,
        file_unique_id: added.file_unique_id,
        file_size: content.length,
        file_path: 'voice/file_1.oga',
      });

      const download = await fetch(`${tg.apiRoot}/file/bot${DEFAULT_BOT.token}/${body.result.file_path}`);
      expect(download.status).toBe(200);
      expect(download.headers.get('content-type')).toBe('audio/ogg');
      expect(Buffer.from(await download.arrayBuffer())).toEqual(content);

      expect((await fetch(`${tg.apiRoot}/file/bot${DEFAULT_BOT.token}/voice/nope.oga`)).status).toBe(404);
    });

    it('refuses unknown file ids and files over 20 MB', async () => {
      const unknown = await api(tg, 'getFile', { file_id: 'AgADnope' });
      expect(unknown).toEqual({ status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' } });
      const big = tg.addFileWithSize(20 * 1024 * 1024 + 1);
      expect((await api(tg, 'getFile', { file_id: big.file_id })).body.description).toBe('Bad Request: file is too big');
    });
  });

  describe('sendMessage', () => {
    it('returns a Message with per-chat increasing message_id', async () => {
      const first = (await api(tg, 'sendMessage', { chat_id: 77, text: 'one' })).body.result;
      const second = (await api(tg, 'sendMessage', { chat_id: '77', text: 'two' })).body.result;
      expect(first).toMatchObject({
        chat: { id: 77, type: 'private' },
        from: { is_bot: true, username: 'test_bridge_bot' },
        text: 'one',
        date: expect.any(Number),
      });
      expect(second.message_id).toBe(first.message_id + 1);
      expect(tg.sent.map((s) => [s.chat_id, s.via])).toEqual([
        ['77', 'text'],
        ['77', 'text'],
      ]);
    });

    it('refuses empty and over-4096 texts, counting UTF-16 code units after entity parsing', async () => {
      expect((await api(tg, 'sendMessage', { chat_id: 1, text: '' })).body.description).toBe('Bad Request: message text is empty');
      expect((await api(tg, 'sendMessage', { chat_id: 1, text: '   ' })).body.description).toBe('Bad Request: message text is empty');
      expect((await api(tg, 'sendMessage', { chat_id: 1, text: 'a'.repeat(4096) })).status).toBe(200);
      const tooLong = await api(tg, 'sendMessage', { chat_id: 1, text: 'a'.repeat(4097) });
      expect(tooLong).toEqual({ status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: message is too long' } });
      // An emoji outside the BMP is two code units.
      expect((await api(tg, 'sendMessage', { chat_id: 1, text: '😀'.repeat(2048) })).status).toBe(200);
      expect((await api(tg, 'sendMessage', { chat_id: 1, text: '😀'.repeat(2048) + 'a' })).status).toBe(400);
      // HTML tags are not text.
      expect((await api(tg, 'sendMessage', { chat_id: 1, text: `<b>${'a'.repeat(4096)}</b>`, parse_mode: 'HTML' })).status).toBe(200);
    });

    it('answers 403/400 for blocked, deactivated and unknown chats', async () => {
      tg.blockChat(100);
      tg.deactivateChat(101);
      tg.forgetChat(102);
      const blocked = await api(tg, 'sendMessage', { chat_id: 100, text: 'x' });
      expect(blocked).toEqual({ status: 403, body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' } });
      expect((await api(tg, 'sendMessage', { chat_id: 101, text: 'x' })).body.description).toBe('Forbidden: user is deactivated');
      expect((await api(tg, 'sendMessage', { chat_id: 102, text: 'x' })).body).toMatchObject({
        error_code: 400,
        description: 'Bad Request: chat not found',
      });
      expect((await api(tg, 'sendPhoto', { chat_id: 100, photo: 'http://127.0.0.1:9/x.png' })).status).toBe(403);
      expect(tg.sent).toHaveLength(0);
    });

    it('sends into a forum topic (echoed in the Message) and refuses deleted and closed topics', async () => {
      const forum = -1002098765432;
      const ok = (await api(tg, 'sendMessage', { chat_id: forum, message_thread_id: 42, text: 'x' })).body.result;
      expect(ok).toMatchObject({ message_thread_id: 42, is_topic_message: true, chat: { id: forum } });
      tg.deleteTopic(forum, 42);
      tg.closeTopic(forum, 43);
      expect((await api(tg, 'sendMessage', { chat_id: forum, message_thread_id: 42, text: 'x' })).body).toEqual({
        ok: false,
        error_code: 400,
        description: 'Bad Request: message thread not found',
      });
      expect(
        (await api(tg, 'sendDocument', { chat_id: forum, message_thread_id: 43, document: 'http://127.0.0.1:9/x.pdf' })).body.description,
      ).toBe('Bad Request: TOPIC_CLOSED');
      // General, and the same topic number in another chat, are not affected.
      expect((await api(tg, 'sendMessage', { chat_id: forum, text: 'x' })).status).toBe(200);
      expect((await api(tg, 'sendMessage', { chat_id: -1001, message_thread_id: 42, text: 'x' })).status).toBe(200);
      expect(tg.sent.map((s) => [s.chat_id, s.message_thread_id])).toEqual([
        [String(forum), 42],
        [String(forum), undefined],
        ['-1001', 42],
      ]);
    });

    it('a business chat takes messages only through its business connection', async () => {
      tg.addBusinessChat(7011223344, 'conn-1');
      const without = await api(tg, 'sendMessage', { chat_id: 7011223344, text: 'x' });
      expect(without).toEqual({
        status: 403,
        body: { ok: false, error_code: 403, description: "Forbidden: bot can't initiate conversation with a user" },
      });
      expect((await api(tg, 'sendMessage', { chat_id: 7011223344, business_connection_id: 'other', text: 'x' })).status).toBe(403);
      const ok = (await api(tg, 'sendMessage', { chat_id: 7011223344, business_connection_id: 'conn-1', text: 'x' })).body.result;
      expect(ok).toMatchObject({ business_connection_id: 'conn-1', chat: { id: 7011223344 } });
      expect(tg.sent).toEqual([expect.objectContaining({ chat_id: '7011223344', business_connection_id: 'conn-1' })]);
    });
  });

  describe('flood limits', () => {
    let now = 0;
    let limited: TelegramDouble;
    beforeAll(async () => {
      // A frozen clock makes the sliding windows deterministic however slow the machine is.
      limited = await startTelegramDouble({ enforceLimits: true, clock: () => now });
    });
    afterEach(() => {
      limited.reset();
      now += 3_600_000;
    });
    afterAll(() => limited.close());

    it('31 sends within one second: exactly one 429 with retry_after, then the window frees', async () => {
      const results = await Promise.all(
        Array.from({ length: 31 }, (_, i) => api(limited, 'sendMessage', { chat_id: 1000 + i, text: `n${i}` })),
      );
      const refused = results.filter((r) => r.status === 429);
      expect(refused).toHaveLength(1);
      expect(refused[0]!.body).toEqual({
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 1',
        parameters: { retry_after: 1 },
      });
      expect(limited.sent).toHaveLength(30);
      expect(limited.stats.tooManyRequests).toBe(1);

      now += 1000;
      expect((await api(limited, 'sendMessage', { chat_id: 2000, text: 'later' })).status).toBe(200);
    });

    it('a private chat gets a burst of 3 per 3 s; a group 20 per minute', async () => {
      for (let i = 0; i < 3; i++) expect((await api(limited, 'sendMessage', { chat_id: 5, text: `${i}` })).status).toBe(200);
      const fourth = await api(limited, 'sendMessage', { chat_id: 5, text: '3' });
      expect(fourth.status).toBe(429);
      expect(fourth.body.parameters).toEqual({ retry_after: 3 });
      // Another chat is not affected.
      expect((await api(limited, 'sendMessage', { chat_id: 6, text: 'other' })).status).toBe(200);

      now += 1000;
      for (let i = 0; i < 20; i++) {
        now += 50; // keep the per-bot window (30/s) out of the way
        expect((await api(limited, 'sendMessage', { chat_id: -500, text: `g${i}` })).status).toBe(200);
      }
      const groupRefused = await api(limited, 'sendMessage', { chat_id: -500, text: 'g20' });
      expect(groupRefused.status).toBe(429);
      // The oldest of the 20 left 950 ms ago: 59.05 s to wait, rounded up.
      expect(groupRefused.body.parameters!.retry_after).toBe(60);
      expect(limited.sent.filter((s) => s.chat_id === '-500')).toHaveLength(20);
    });

    it('with the real clock too, a fourth quick send to one chat is refused', async () => {
      const real = await startTelegramDouble({ enforceLimits: true });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await api(real, 'sendMessage', { chat_id: 9, text: `${i}` })).status);
        expect(statuses).toEqual([200, 200, 200, 429]);
      } finally {
        await real.close();
      }
    });

    it('limits are off by default and can be switched', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await api(tg, 'sendMessage', { chat_id: 9, text: `${i}` })).status);
      expect(statuses.every((s) => s === 200)).toBe(true);
      tg.setEnforceLimits(true);
      expect((await api(tg, 'sendMessage', { chat_id: 9, text: 'x' })).status).toBe(429);
    });
  });

  describe('sendPhoto / sendDocument', () => {
    let media: { url: string; close: () => Promise<void> };
    beforeAll(async () => {
      media = await startServer((req, res) => {
        if (req.url === '/pic.png') res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
        else if (req.url === '/big.png') res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(600));
        else if (req.url === '/page') res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
        else if (req.url === '/notes.txt') res.writeHead(200, { 'content-type': 'text/plain' }).end('some notes');
        else res.writeHead(404).end();
      });
    });
    afterAll(() => media.close());

    it('fetches a photo by URL like Telegram and records it', async () => {
      const { status, body } = await api(tg, 'sendPhoto', { chat_id: 3, photo: `${media.url}/pic.png`, caption: 'look' });
      expect(status).toBe(200);
      expect(body.result.photo[0]).toMatchObject({ file_id: expect.any(String), file_size: PNG.length });
      expect(body.result.caption).toBe('look');
      expect(tg.sent[0]).toMatchObject({
        method: 'sendPhoto',
        via: 'url',
        url: `${media.url}/pic.png`,
        contentType: 'image/png',
        size: PNG.length,
        caption: 'look',
      });
      // The new file_id works for a resend and for getFile.
      const again = await api(tg, 'sendPhoto', { chat_id: 3, photo: body.result.photo[0].file_id });
      expect(again.status).toBe(200);
      expect(tg.sent[1]).toMatchObject({ via: 'file_id', file_id: body.result.photo[0].file_id });
    });

    it('answers "failed to get HTTP URL content" when the URL fails or is over the limit', async () => {
      for (const url of [`${media.url}/missing.png`, 'http://127.0.0.1:1/refused.png', `${media.url}/big.png`]) {
        const { status, body } = await api(tg, 'sendPhoto', { chat_id: 3, photo: url });
        expect({ url, status, description: body.description }).toEqual({
          url,
          status: 400,
          description: 'Bad Request: failed to get HTTP URL content',
        });
      }
      expect(tg.sent).toHaveLength(0);
    });

    it('refuses identifiers that are neither URLs nor known file ids, and non-image photos', async () => {
      expect((await api(tg, 'sendDocument', { chat_id: 3, document: 'not-a-file-id' })).body.description).toBe(
        'Bad Request: wrong file identifier/HTTP URL specified',
      );
      expect((await api(tg, 'sendPhoto', { chat_id: 3, photo: `${media.url}/notes.txt` })).body.description).toBe(
        'Bad Request: IMAGE_PROCESS_FAILED',
      );
      expect((await api(tg, 'sendPhoto', { chat_id: 3, photo: `${media.url}/page` })).body.description).toBe(
        'Bad Request: wrong type of the web page content',
      );
      expect((await api(tg, 'sendDocument', { chat_id: 3 })).body.description).toBe('Bad Request: there is no document in the request');
      // A document by URL may be any type (strictDocumentUrls is off).
      const doc = await api(tg, 'sendDocument', { chat_id: 3, document: `${media.url}/notes.txt` });
      expect(doc.body.result.document).toMatchObject({ file_name: 'notes.txt', mime_type: 'text/plain', file_size: 10 });
    });

    it('records a multipart upload with file name, content type and bytes', async () => {
      const bytes = Buffer.from('%PDF-1.4 pretend pdf');
      const form = new FormData();
      form.set('chat_id', '3');
      form.set('caption', 'the report');
      form.set('reply_markup', JSON.stringify({ inline_keyboard: [[{ text: 'ok', callback_data: 'ok' }]] }));
      form.set('document', new Blob([bytes], { type: 'application/pdf' }), 'report.pdf');
      const res = await fetch(`${tg.apiRoot}/bot${DEFAULT_BOT.token}/sendDocument`, { method: 'POST', body: form });
      const body = (await res.json()) as Envelope;
      expect(res.status).toBe(200);
      expect(body.result.document).toMatchObject({ file_name: 'report.pdf', mime_type: 'application/pdf', file_size: bytes.length });
      expect(tg.sent[0]).toMatchObject({
        method: 'sendDocument',
        chat_id: '3',
        via: 'upload',
        filename: 'report.pdf',
        contentType: 'application/pdf',
        size: bytes.length,
        caption: 'the report',
        reply_markup: { inline_keyboard: [[{ text: 'ok', callback_data: 'ok' }]] },
      });
      expect(tg.sent[0]!.bytes).toEqual(bytes);
      expect(tg.calls[0]!.params.document).toEqual({ filename: 'report.pdf', contentType: 'application/pdf', size: bytes.length });
    });

    it('answers 413 for uploads over the limit and IMAGE_PROCESS_FAILED for a non-image photo upload', async () => {
      const big = new FormData();
      big.set('chat_id', '3');
      big.set('photo', new Blob([Buffer.alloc(1001)], { type: 'image/png' }), 'big.png');
      const tooBig = await fetch(`${tg.apiRoot}/bot${DEFAULT_BOT.token}/sendPhoto`, { method: 'POST', body: big });
      expect(tooBig.status).toBe(413);
      expect(await tooBig.json()).toEqual({ ok: false, error_code: 413, description: 'Request Entity Too Large' });

      const text = new FormData();
      text.set('chat_id', '3');
      text.set('photo', new Blob(['plain words'], { type: 'text/plain' }), 'words.txt');
      const notImage = await fetch(`${tg.apiRoot}/bot${DEFAULT_BOT.token}/sendPhoto`, { method: 'POST', body: text });
      expect(((await notImage.json()) as Envelope).description).toBe('Bad Request: IMAGE_PROCESS_FAILED');
      expect(tg.sent).toHaveLength(0);
    });
  });

  describe("telegraf's own client", () => {
    it('works for getMe, sendMessage, sendDocument and sendPhoto uploads (multipart compatibility)', async () => {
      const client = new Telegram(DEFAULT_BOT.token, { apiRoot: tg.apiRoot });
      expect((await client.getMe()).username).toBe('test_bridge_bot');

      const msg = await client.sendMessage(42, 'hello <b>there</b>', { parse_mode: 'HTML' });
      expect(msg.text).toBe('hello there');

      const doc = await client.sendDocument(
        42,
        { source: Buffer.from('col1,col2\n1,2\n'), filename: 'table.csv' },
        { caption: 'numbers', reply_markup: { inline_keyboard: [[{ text: 'x', callback_data: 'y' }]] } },
      );
      expect(doc.document.file_name).toBe('table.csv');

      const photo = await client.sendPhoto(42, { source: PNG });
      expect(photo.photo[0]!.file_size).toBe(PNG.length);

      expect(tg.sent.map((s) => s.method)).toEqual(['sendMessage', 'sendDocument', 'sendPhoto']);
      expect(tg.sent[1]).toMatchObject({
        via: 'upload',
        filename: 'table.csv',
        caption: 'numbers',
        chat_id: '42',
        reply_markup: { inline_keyboard: [[{ text: 'x', callback_data: 'y' }]] },
      });
      expect(tg.sent[1]!.bytes!.toString()).toBe('col1,col2\n1,2\n');
      // telegraf sends no part Content-Type: the double sniffs the PNG like Telegram would.
      expect(tg.sent[2]).toMatchObject({ via: 'upload', filename: 'photo.jpg', contentType: 'image/png' });
    });

    it('a Telegraf bot long-polls the double: receives a pushed update and confirms its offset on stop', async () => {
      const bot = new Telegraf(DEFAULT_BOT.token, { telegram: { apiRoot: tg.apiRoot } });
      const received = new Promise<string>((resolve) => bot.on('message', (ctx) => resolve('text' in ctx.message ? ctx.message.text : '')));
      const running = bot.launch();
      await tg.waitForPoll();
      const update = tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 21, text: 'via polling' }));
      expect(await received).toBe('via polling');
      bot.stop();
      await running;
      expect(tg.confirmedOffset).toBe(update.update_id + 1);
      expect(tg.calls.map((c) => c.method).slice(0, 3)).toEqual(['getMe', 'deleteWebhook', 'getUpdates']);
    });

    it("surfaces the double's errors as TelegramError with code and retry_after", async () => {
      const client = new Telegram(DEFAULT_BOT.token, { apiRoot: tg.apiRoot });
      tg.blockChat(13);
      const blocked = await client.sendMessage(13, 'x').catch((e: unknown) => e);
      expect(blocked).toBeInstanceOf(TelegramError);
      expect((blocked as TelegramError).code).toBe(403);

      tg.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 7', retry_after: 7 });
      const limited = (await client.sendMessage(14, 'x').catch((e: unknown) => e)) as TelegramError;
      expect(limited.code).toBe(429);
      expect(limited.parameters).toEqual({ retry_after: 7 });
      expect(tg.stats.tooManyRequests).toBe(1);
    });
  });

  describe('fault injection', () => {
    it('failNext fails the next N calls of one method only', async () => {
      tg.failNext('sendMessage', { error_code: 502, description: 'Bad Gateway' }, 2);
      expect((await api(tg, 'getMe')).status).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await api(tg, 'sendMessage', { chat_id: 1, text: 'x' })).status);
      expect(statuses).toEqual([502, 502, 200]);
      expect(tg.sent).toHaveLength(1);
    });

    it('setFailureRate is reproducible with a seed', async () => {
      const outcomes = async (): Promise<number[]> => {
        const d = await startTelegramDouble({ seed: 42 });
        try {
          d.setFailureRate('*', 0.5, { error_code: 500, description: 'Internal Server Error' });
          const out: number[] = [];
          for (let i = 0; i < 20; i++) out.push((await api(d, 'getMe')).status);
          return out;
        } finally {
          await d.close();
        }
      };
      const first = await outcomes();
      expect(first).toEqual(await outcomes());
      expect(first).toContain(500);
      expect(first).toContain(200);
    });

    it('hangNext never answers: the client has to give up', async () => {
      tg.hangNext('sendMessage');
      const hung = fetch(`${tg.apiRoot}/bot${DEFAULT_BOT.token}/sendMessage?chat_id=1&text=x`, { signal: AbortSignal.timeout(300) });
      await expect(hung).rejects.toThrow();
      expect((await api(tg, 'sendMessage', { chat_id: 1, text: 'x' })).status).toBe(200);
    });

    it('setLatency delays every answer', async () => {
      tg.setLatency(200);
      const started = Date.now();
      await api(tg, 'getMe');
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    });

    it('waitForSent resolves on the event and rejects with a clear message on timeout', async () => {
      const waiting = tg.waitForSent(2);
      await api(tg, 'sendMessage', { chat_id: 1, text: 'a' });
      await api(tg, 'sendMessage', { chat_id: 1, text: 'b' });
      expect((await waiting).map((s) => s.text)).toEqual(['a', 'b']);

      tg.blockChat(2);
      await api(tg, 'sendMessage', { chat_id: 2, text: 'c' });
      await expect(tg.waitForSent(3, 100)).rejects.toThrow(/expected 3 sent messages, got 2 .*sendMessage 403 Forbidden: bot was blocked/);
    });
  });

  it('supports several bots, each with its own token and queue', async () => {
    const second = { token: '654321:OTHER-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbb', username: 'other_bot', id: 654321 };
    const multi = await startTelegramDouble({ bots: [DEFAULT_BOT, second] });
    try {
      multi.pushUpdate(multi.makeMessageUpdate({ chat_id: 1, text: 'for other', bot: 'other_bot' }), 'other_bot');
      expect((await api(multi, 'getUpdates', {}, second.token)).body.result).toHaveLength(1);
      expect((await api(multi, 'getUpdates', {})).body.result).toHaveLength(0);
      expect((await api(multi, 'getMe', {}, second.token)).body.result.username).toBe('other_bot');
    } finally {
      await multi.close();
    }
  });

  it('close() is immediate even with a long poll open', async () => {
    const d = await startTelegramDouble();
    const poll = api(d, 'getUpdates', { timeout: 50 }).catch((e: unknown) => e);
    await d.waitForPoll();
    const started = Date.now();
    await d.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await poll).toBeInstanceOf(Error);
  });
});

// ================================================================ multipart parser

describe('multipart parser', () => {
  it('parses telegraf-style parts (no space after the colon, no trailing CRLF) and RFC 5987 names', () => {
    const boundary = 'abc123';
    const body = Buffer.from(
      `--${boundary}\r\ncontent-disposition:form-data; name="chat_id"\r\n\r\n42` +
        `\r\n--${boundary}\r\ncontent-disposition:form-data; name="document"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf\r\n\r\n%PDF\r\nbinary` +
        `\r\n--${boundary}--`,
    );
    const parts = parseMultipart(body, boundary);
    expect(parts.map((p) => [p.name, p.filename, p.data.toString()])).toEqual([
      ['chat_id', undefined, '42'],
      ['document', 'отчёт.pdf', '%PDF\r\nbinary'],
    ]);
    expect(parseBoundary('multipart/form-data; boundary="abc123"')).toBe('abc123');
    expect(parseBoundary('application/json')).toBeUndefined();
  });

  it('throws on a truncated body', () => {
    expect(() => parseMultipart(Buffer.from('--b\r\ncontent-disposition: form-data; name="x"\r\n\r\nvalue'), 'b')).toThrow(MultipartError);
  });
});

// ================================================================ Blinger

describe('Blinger Custom App double', () => {
  const TOKEN = 'blinger-app-token';
  const CHANNEL = '7001';
  let blinger: BlingerDouble;

  beforeAll(async () => {
    blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL, seed: 7 });
  });
  afterEach(() => blinger.reset());
  afterAll(() => blinger.close());

  const valid = () => ({ token: TOKEN, custom_channel_id: CHANNEL, client_id: '42', type: 'text', data: 'hello' });

  async function post(
    body: unknown,
    headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    signal?: AbortSignal,
  ): Promise<{ status: number; body: unknown }> {
    const res = await fetch(blinger.url, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
    return { status: res.status, body: await res.json() };
  }

  it('accepts a valid message with every optional field and records it', async () => {
    const full = {
      ...valid(),
      client_name: 'Alice Smith',
      client_phone: '+15550001',
      info: { username: 'alice', language: 'en' },
      echo: true,
      echo_outgoing: true,
    };
    expect(await post(full)).toEqual({ status: 200, body: { success: true } });
    expect(await post({ ...valid(), type: 'image', data: 'https://example.com/a.png', custom_channel_id: 7001 })).toEqual({
      status: 200,
      body: { success: true },
    });
    expect(blinger.received).toHaveLength(2);
    expect(blinger.received[0]).toMatchObject({ ...full, at: expect.any(Number) });
    expect(blinger.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/custom-app\/incoming$/);
  });

  const violations: Array<[string, () => { body: unknown; headers?: Record<string, string> }, number, RegExp]> = [
    ['missing Authorization', () => ({ body: valid(), headers: { 'content-type': 'application/json' } }), 401, /missing Authorization/],
    [
      'not a Bearer header',
      () => ({ body: valid(), headers: { authorization: `Basic ${TOKEN}`, 'content-type': 'application/json' } }),
      401,
      /Bearer/,
    ],
    [
      'wrong header token',
      () => ({ body: { ...valid(), token: 'wrong' }, headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' } }),
      401,
      /invalid token/,
    ],
    [
      'content type not JSON',
      () => ({ body: valid(), headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' } }),
      415,
      /content-type/,
    ],
    ['body token missing', () => ({ body: { ...valid(), token: undefined } }), 401, /token is missing/],
    ['body token differs', () => ({ body: { ...valid(), token: 'other' } }), 401, /does not match/],
    ['other channel', () => ({ body: { ...valid(), custom_channel_id: '9999' } }), 400, /custom_channel_id/],
    ['channel missing', () => ({ body: { ...valid(), custom_channel_id: undefined } }), 400, /custom_channel_id is required/],
    ['client_id missing', () => ({ body: { ...valid(), client_id: undefined } }), 400, /client_id/],
    ['client_id empty', () => ({ body: { ...valid(), client_id: '' } }), 400, /client_id/],
    ['client_id a number', () => ({ body: { ...valid(), client_id: 42 } }), 400, /client_id/],
    ['bad type', () => ({ body: { ...valid(), type: 'video' } }), 400, /type must be/],
    ['data missing', () => ({ body: { ...valid(), data: undefined } }), 400, /data must be a non-empty string/],
    ['data empty', () => ({ body: { ...valid(), data: '' } }), 400, /data must be a non-empty string/],
    ['image data not a URL', () => ({ body: { ...valid(), type: 'image', data: '/media/x.png' } }), 400, /absolute http\(s\) URL/],
    ['file data not http', () => ({ body: { ...valid(), type: 'file', data: 'ftp://example.com/a.pdf' } }), 400, /absolute http\(s\) URL/],
    ['client_name not a string', () => ({ body: { ...valid(), client_name: 5 } }), 400, /client_name must be a string/],
    ['client_phone not a string', () => ({ body: { ...valid(), client_phone: 5 } }), 400, /client_phone must be a string/],
    ['info an array', () => ({ body: { ...valid(), info: ['x'] } }), 400, /info must be a JSON object/],
    ['info null', () => ({ body: { ...valid(), info: null } }), 400, /info must be a JSON object/],
    ['echo not boolean', () => ({ body: { ...valid(), echo: 'true' } }), 400, /echo must be a boolean/],
    ['echo_outgoing without echo', () => ({ body: { ...valid(), echo_outgoing: true } }), 400, /echo_outgoing requires echo/],
    ['unknown field', () => ({ body: { ...valid(), channel: 'x' } }), 400, /unknown field "channel"/],
    ['not JSON at all', () => ({ body: '{oops' }), 400, /not valid JSON/],
  ];

  it.each(violations)('rejects %s', async (_name, make, status, error) => {
    const { body, headers } = make();
    const res = await post(body, headers);
    expect(res.status).toBe(status);
    expect((res.body as { error: string }).error).toMatch(error);
    expect(blinger.received).toHaveLength(0);
    expect(blinger.rejected).toEqual([expect.objectContaining({ status, injected: false })]);
  });

  it('failNext answers the next N requests with the status, then recovers', async () => {
    blinger.failNext(503, 2);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(valid())).status);
    expect(statuses).toEqual([503, 503, 200]);
    expect(blinger.rejected.map((r) => [r.status, r.injected])).toEqual([
      [503, true],
      [503, true],
    ]);
    expect(blinger.received).toHaveLength(1);
  });

  it('setFailureRate and setHangRate inject failures and hangs', async () => {
    blinger.setFailureRate(1, 502);
    expect((await post(valid())).status).toBe(502);
    blinger.setFailureRate(0);

    blinger.setHangRate(1);
    await expect(post(valid(), undefined, AbortSignal.timeout(300))).rejects.toThrow();
    blinger.setHangRate(0);
    expect((await post(valid())).status).toBe(200);
  });

  it('waitFor resolves on arrival and rejects with the count on timeout; byClient groups in order', async () => {
    const waiting = blinger.waitFor(3);
    await post({ ...valid(), client_id: 'a', data: '1' });
    await post({ ...valid(), client_id: 'b', data: '2' });
    await post({ ...valid(), client_id: 'a', data: '3' });
    expect(await waiting).toHaveLength(3);
    expect([...blinger.byClient()].map(([client, msgs]) => [client, msgs.map((m) => m.data)])).toEqual([
      ['a', ['1', '3']],
      ['b', ['2']],
    ]);
    await expect(blinger.waitFor(4, 100)).rejects.toThrow(/expected 4 messages, got 3/);
  });

  it('setHandler can take over a request', async () => {
    blinger.setHandler((req) =>
      req.body && (req.body as { data?: string }).data === 'special' ? { status: 418, body: { error: 'teapot' } } : undefined,
    );
    expect((await post({ ...valid(), data: 'special' })).status).toBe(418);
    expect((await post(valid())).status).toBe(200);
  });

  it('sendReply calls the bridge webhook exactly like Blinger', async () => {
    const seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    const bridge = await startServer(async (req, res) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: await readAll(req) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    try {
      const answer = await blinger.sendReply(`${bridge.url}/`, { client_id: '42', type: 'text', data: 'agent says hi' });
      expect(answer).toEqual({ status: 200, body: '{"ok":true}' });
      await blinger.sendReply(bridge.url, { client_id: '42', type: 'text', data: 'x' }, { token: 'forged' });
      expect(seen[0]).toMatchObject({ method: 'POST', url: `/blinger/${CHANNEL}` });
      expect(seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(seen[0]!.headers['content-type']).toBe('application/json');
      expect(JSON.parse(seen[0]!.body)).toEqual({
        token: TOKEN,
        custom_channel_id: CHANNEL,
        client_id: '42',
        type: 'text',
        data: 'agent says hi',
      });
      expect(seen[1]!.headers.authorization).toBe('Bearer forged');
      expect(JSON.parse(seen[1]!.body).token).toBe('forged');
    } finally {
      await bridge.close();
    }
  });
});
