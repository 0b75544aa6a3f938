/**
 * Tests of the MAX Bot API double over real HTTP: it must answer like platform-api2.max.ru
 * (docs/vendors/max.md), or every MAX adapter test built on it proves nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BOT, startMaxDouble, type Json, type MaxDouble, type MaxUpdate } from './max-api.js';

// ---------------------------------------------------------------- helpers

interface Answer {
  status: number;
  text: string;
  // MAX answers are free-form JSON; tests index into them freely.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  json: any;
  headers: Headers;
}

async function call(
  double: MaxDouble,
  method: string,
  path: string,
  o: { body?: unknown; token?: string | null; signal?: AbortSignal } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.token !== null) headers.authorization = o.token ?? DEFAULT_MAX_BOT.token;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${double.apiRoot}${path}`, {
    method,
    headers,
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** Uploads bytes to an upload URL the way the official clients do: multipart field `data`. */
async function uploadTo(url: string, bytes: Buffer, filename: string, field = 'data'): Promise<{ status: number; text: string }> {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(bytes)]), filename);
  const res = await fetch(url, { method: 'POST', body: form });
  return { status: res.status, text: await res.text() };
}

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.4\n% a tiny test document\n');

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1 answering with `status()` and recording what it got. */
async function startReceiver(status: () => number): Promise<{ url: string; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status());
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/max/webhook`,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function seqDigits(text: string): string {
  const match = /"seq":(\d+)/.exec(text);
  if (!match) throw new Error(`no seq in ${text}`);
  return match[1]!;
}

// ================================================================ tests

describe('MAX Bot API double', () => {
  let max: MaxDouble;

  beforeAll(async () => {
    max = await startMaxDouble({ limits: { uploadBytes: { image: 10_000 } } });
  });
  afterEach(() => max.reset());
  afterAll(() => max.close());

  describe('auth and envelopes', () => {
    it('answers GET /me with the bot user for Authorization: <token>', async () => {
      const { status, json } = await call(max, 'GET', '/me');
      expect(status).toBe(200);
      expect(json).toMatchObject({ user_id: DEFAULT_MAX_BOT.userId, username: DEFAULT_MAX_BOT.username, is_bot: true });
    });

    it('refuses a Bearer prefix, a missing header and a token in the query with 401 verify.token', async () => {
      const bearer = await call(max, 'GET', '/me', { token: `Bearer ${DEFAULT_MAX_BOT.token}` });
      const missing = await call(max, 'GET', '/me', { token: null });
      const query = await call(max, 'GET', `/me?access_token=${DEFAULT_MAX_BOT.token}`, { token: null });
      for (const answer of [bearer, missing, query]) {
        expect(answer.status).toBe(401);
        expect(answer.json.code).toBe('verify.token');
      }
      expect(query.json.message).toMatch(/query/);
      expect(JSON.stringify(max.calls)).not.toContain(DEFAULT_MAX_BOT.token);
    });

    it('answers an unknown path with 404 and MAX error body', async () => {
      const { status, json } = await call(max, 'GET', '/nothing-here');
      expect(status).toBe(404);
      expect(Object.keys(json).sort()).toEqual(['code', 'message']);
    });
  });

  describe('long polling', () => {
    it('returns pushed updates with a marker; passing the marker confirms them', async () => {
      max.pushMessage('hello');
      const first = await call(max, 'GET', '/updates?timeout=0');
      expect(first.json.updates).toHaveLength(1);
      expect(first.json.updates[0]).toMatchObject({ update_type: 'message_created', message: { body: { text: 'hello' } } });
      expect(typeof first.json.marker).toBe('number');

      const again = await call(max, 'GET', `/updates?timeout=0&marker=${first.json.marker}`);
      expect(again.json.updates).toEqual([]);
      expect(again.json.marker).toBe(first.json.marker);
      expect(max.confirmedMarker()).toBe(first.json.marker);
    });

    it('without a marker returns what is not yet confirmed', async () => {
      max.pushMessage('one');
      const first = await call(max, 'GET', '/updates?timeout=0');
      max.pushMessage('two');
      const repeat = await call(max, 'GET', '/updates?timeout=0');
      expect(repeat.json.updates.map((u: MaxUpdate) => (u.message as Json).body)).toMatchObject([{ text: 'one' }, { text: 'two' }]);
      const next = await call(max, 'GET', `/updates?timeout=0&marker=${first.json.marker}`);
      expect(next.json.updates).toHaveLength(1);
    });

    it("in 'latest' mode returns only the newest update without a marker", async () => {
      const latest = await startMaxDouble({ markerlessPoll: 'latest' });
      try {
        latest.pushMessage('old');
        latest.pushMessage('new');
        const { json } = await call(latest, 'GET', '/updates?timeout=0');
        expect(json.updates.map((u: MaxUpdate) => ((u.message as Json).body as Json).text)).toEqual(['new']);
      } finally {
        await latest.close();
      }
    });

    it('a waiting long poll wakes when an update is pushed', async () => {
      const poll = call(max, 'GET', '/updates?timeout=30');
      await max.waitForPoll();
      max.pushBotStarted({ payload: 'ref-42' });
      const { json } = await poll;
      expect(json.updates).toHaveLength(1);
      expect(json.updates[0]).toMatchObject({ update_type: 'bot_started', payload: 'ref-42' });
    });

    it('a long poll with nothing to say answers an empty list after its timeout', async () => {
      const { status, json } = await call(max, 'GET', '/updates?timeout=1');
      expect(status).toBe(200);
      expect(json.updates).toEqual([]);
    });

    it('honours limit and types', async () => {
      max.pushMessage('a');
      max.pushBotStarted();
      max.pushMessage('b');
      const limited = await call(max, 'GET', '/updates?timeout=0&limit=2');
      expect(limited.json.updates).toHaveLength(2);
      const rest = await call(max, 'GET', `/updates?timeout=0&marker=${limited.json.marker}`);
      expect(rest.json.updates).toHaveLength(1);

      max.pushMessage('c');
      max.pushBotStarted();
      const typed = await call(max, 'GET', `/updates?timeout=0&marker=${rest.json.marker}&types=bot_started`);
      expect(typed.json.updates.map((u: MaxUpdate) => u.update_type)).toEqual(['bot_started']);
    });

    it('refuses a timeout over 90 s and a limit under 1 with 400 proto.payload', async () => {
      const timeout = await call(max, 'GET', '/updates?timeout=1500');
      expect(timeout.status).toBe(400);
      expect(timeout.json).toEqual({ code: 'proto.payload', message: "Field 'timeout' value (1500) must be at most 90" });
      const limit = await call(max, 'GET', '/updates?limit=0');
      expect(limit.status).toBe(400);
      expect(limit.json.code).toBe('proto.payload');
    });

    it('writes seq beyond 2^53 as an exact number in the raw JSON', async () => {
      const pushed = max.pushMessage('big numbers');
      const seq = ((pushed.message as Json).body as Json).seq;
      expect(typeof seq).toBe('bigint');
      const { text, json } = await call(max, 'GET', '/updates?timeout=0');
      const digits = seqDigits(text);
      expect(digits).toBe(String(seq));
      expect(BigInt(digits) > 2n ** 53n).toBe(true);
      // What a naive JSON.parse makes of it is not the same number.
      expect(BigInt(json.updates[0].message.body.seq)).not.toBe(BigInt(digits));
      expect(json.updates[0].message.body.mid).toMatch(/^mid\.[0-9a-f]{32}$/);
    });

    it('refuses GET /updates with 405 while a webhook subscription exists', async () => {
      await call(max, 'POST', '/subscriptions', { body: { url: 'https://bridge.example.com/max' } });
      const { status, json } = await call(max, 'GET', '/updates?timeout=0');
      expect(status).toBe(405);
      expect(json.code).toBe('method.not.allowed');
    });
  });

  describe('subscriptions', () => {
    it('accepts https on 443, lists it without the secret, deletes it by url', async () => {
      const url = 'https://bridge.example.com/max/webhook';
      const created = await call(max, 'POST', '/subscriptions', {
        body: { url, update_types: ['message_created'], secret: 's3cret-Value' },
      });
      expect(created.json).toEqual({ success: true });
      const listed = await call(max, 'GET', '/subscriptions');
      expect(listed.json.subscriptions).toEqual([{ url, time: expect.any(Number), update_types: ['message_created'] }]);
      expect((await call(max, 'DELETE', `/subscriptions?url=${encodeURIComponent(url)}`)).json).toEqual({ success: true });
      expect((await call(max, 'GET', '/subscriptions')).json.subscriptions).toEqual([]);
    });

    it('refuses http, another port, a bad secret and a DELETE without url', async () => {
      const answers = await Promise.all([
        call(max, 'POST', '/subscriptions', { body: { url: 'http://bridge.example.com/max' } }),
        call(max, 'POST', '/subscriptions', { body: { url: 'https://bridge.example.com:8443/max' } }),
        call(max, 'POST', '/subscriptions', { body: { url: 'https://bridge.example.com/max', secret: 'has spaces!' } }),
        call(max, 'POST', '/subscriptions', { body: { url: 'https://bridge.example.com/max', secret: 'abcd' } }),
        call(max, 'DELETE', '/subscriptions'),
      ]);
      for (const a of answers) {
        expect(a.status).toBe(400);
        expect(a.json.code).toBe('proto.payload');
      }
      expect(max.subscriptions()).toEqual([]);
    });
  });

  describe('webhook delivery', () => {
    let now = 0;
    let hooked: MaxDouble;

    beforeAll(async () => {
      hooked = await startMaxDouble({ allowHttpWebhooks: true, clock: () => now });
    });
    afterEach(() => hooked.reset());
    afterAll(() => hooked.close());

    it('POSTs each update with X-Max-Bot-Api-Secret and the exact seq', async () => {
      const receiver = await startReceiver(() => 200);
      try {
        await call(hooked, 'POST', '/subscriptions', { body: { url: receiver.url, secret: 'hook-secret_1' } });
        hooked.pushMessage('via webhook');
        const records = await hooked.deliverWebhook();
        expect(records).toMatchObject([{ ok: true, status: 200, attempt: 1 }]);
        expect(receiver.got).toHaveLength(1);
        expect(receiver.got[0]!.headers['x-max-bot-api-secret']).toBe('hook-secret_1');
        expect(JSON.parse(receiver.got[0]!.body)).toMatchObject({
          update_type: 'message_created',
          message: { body: { text: 'via webhook' } },
        });
        expect(BigInt(seqDigits(receiver.got[0]!.body)) > 2n ** 53n).toBe(true);
        expect(hooked.pendingUpdates()).toEqual([]);
      } finally {
        await receiver.close();
      }
    });

    it('treats any answer but 200 as failed and redelivers on the next round', async () => {
      let answer = 204;
      const receiver = await startReceiver(() => answer);
      try {
        await call(hooked, 'POST', '/subscriptions', { body: { url: receiver.url } });
        hooked.pushBotStarted();
        expect(await hooked.deliverWebhook()).toMatchObject([{ ok: false, status: 204, attempt: 1 }]);
        expect(hooked.pendingUpdates()).toHaveLength(1);
        answer = 200;
        expect(await hooked.deliverWebhook()).toMatchObject([{ ok: true, status: 200, attempt: 2 }]);
        expect(receiver.got[0]!.headers['x-max-bot-api-secret']).toBeUndefined();
        expect(receiver.got[1]!.body).toBe(receiver.got[0]!.body);
      } finally {
        await receiver.close();
      }
    });

    it('drops a subscription that fails for more than 8 hours', async () => {
      const receiver = await startReceiver(() => 500);
      try {
        await call(hooked, 'POST', '/subscriptions', { body: { url: receiver.url } });
        hooked.pushMessage('never delivered');
        now = 0;
        await hooked.deliverWebhook();
        now = 8 * 3600_000 + 1;
        await hooked.deliverWebhook();
        expect(hooked.subscriptions()).toEqual([]);
      } finally {
        await receiver.close();
      }
    });

    it('delivers only the subscribed update types', async () => {
      const receiver = await startReceiver(() => 200);
      try {
        await call(hooked, 'POST', '/subscriptions', { body: { url: receiver.url, update_types: ['bot_started'] } });
        hooked.pushMessage('filtered out');
        hooked.pushBotStarted();
        await hooked.deliverWebhook();
        expect(receiver.got.map((g) => (JSON.parse(g.body) as MaxUpdate).update_type)).toEqual(['bot_started']);
      } finally {
        await receiver.close();
      }
    });
  });

  describe('POST /messages', () => {
    it('sends text into a dialog by chat_id and records it', async () => {
      const incoming = max.pushMessage('hi', { user: { user_id: 5550001 } });
      const chatId = ((incoming.message as Json).recipient as Json).chat_id as number;
      expect(chatId).not.toBe(5550001);
      const { status, json, text } = await call(max, 'POST', `/messages?chat_id=${chatId}`, {
        body: { text: 'Hello!', format: 'markdown' },
      });
      expect(status).toBe(200);
      expect(json.message).toMatchObject({
        sender: { user_id: DEFAULT_MAX_BOT.userId, is_bot: true },
        recipient: { chat_id: chatId, chat_type: 'dialog', user_id: 5550001 },
        body: { text: 'Hello!' },
      });
      expect(BigInt(seqDigits(text)) > 2n ** 53n).toBe(true);
      const [sent] = await max.waitForSent(1);
      expect(sent).toMatchObject({
        chatId,
        chatType: 'dialog',
        text: 'Hello!',
        format: 'markdown',
        notify: true,
        mid: json.message.body.mid,
      });
    });

    it('sends to a user by user_id, into their dialog', async () => {
      const incoming = max.pushMessage('hi', { user: { user_id: 5550002 } });
      const { status, json } = await call(max, 'POST', '/messages?user_id=5550002', { body: { text: 'by user' } });
      expect(status).toBe(200);
      expect(json.message.recipient.chat_id).toBe(((incoming.message as Json).recipient as Json).chat_id);
      expect(max.sent[0]!.userId).toBe(5550002);
    });

    it('counts the 4000-character limit in characters, not bytes', async () => {
      max.pushMessage('hi', { user: { user_id: 5550003 } });
      const fits = await call(max, 'POST', '/messages?user_id=5550003', { body: { text: 'ж'.repeat(4000) } });
      expect(fits.status).toBe(200);
      const over = await call(max, 'POST', '/messages?user_id=5550003', { body: { text: 'x'.repeat(4001) } });
      expect(over.status).toBe(400);
      expect(over.json).toEqual({ code: 'proto.payload', message: "Field 'text' size (4001) must be at most 4000" });
    });

    it('refuses a body without text or attachments and a call without a recipient', async () => {
      max.pushMessage('hi', { user: { user_id: 5550004 } });
      const empty = await call(max, 'POST', '/messages?user_id=5550004', { body: { text: '' } });
      const nobody = await call(max, 'POST', '/messages', { body: { text: 'to whom?' } });
      for (const a of [empty, nobody]) expect([a.status, a.json.code]).toEqual([400, 'proto.payload']);
    });

    it('answers 404 chat.not.found for an unknown chat and 403 chat.denied for a blocked one', async () => {
      const unknown = await call(max, 'POST', '/messages?chat_id=987654321', { body: { text: 'x' } });
      expect([unknown.status, unknown.json.code]).toEqual([404, 'chat.not.found']);
      max.addGroupChat(-70000000000099);
      expect((await call(max, 'POST', '/messages?chat_id=-70000000000099', { body: { text: 'to the group' } })).status).toBe(200);
      max.forgetChat(-70000000000099);
      const gone = await call(max, 'POST', '/messages?chat_id=-70000000000099', { body: { text: 'x' } });
      expect([gone.status, gone.json.code]).toEqual([404, 'chat.not.found']);
      const incoming = max.pushMessage('hi', { user: { user_id: 5550005 } });
      const chatId = ((incoming.message as Json).recipient as Json).chat_id as number;
      max.blockChat(chatId);
      const blocked = await call(max, 'POST', `/messages?chat_id=${chatId}`, { body: { text: 'x' } });
      expect(blocked.status).toBe(403);
      expect(blocked.json).toEqual({ code: 'chat.denied', message: `Key: error.dialog.suspended, args: [${chatId},].` });
    });

    it('records an inline keyboard and checks its buttons', async () => {
      max.pushMessage('hi', { user: { user_id: 5550006 } });
      const buttons = [[{ type: 'callback', text: 'Yes', payload: 'yes' }], [{ type: 'link', text: 'Site', url: 'https://max.ru' }]];
      const ok = await call(max, 'POST', '/messages?user_id=5550006', {
        body: { text: 'Choose', attachments: [{ type: 'inline_keyboard', payload: { buttons } }] },
      });
      expect(ok.status).toBe(200);
      expect(max.sent[0]!.keyboard).toEqual(buttons);
      expect(ok.json.message.body.attachments).toEqual([{ type: 'inline_keyboard', payload: { buttons } }]);

      const keyboard = (b: Json) => ({ text: 'x', attachments: [{ type: 'inline_keyboard', payload: { buttons: [[b]] } }] });
      const empty = await call(max, 'POST', '/messages?user_id=5550006', { body: keyboard({ type: 'callback', text: '', payload: 'p' }) });
      expect(empty.json).toEqual({ code: 'proto.payload', message: "Field 'text' size (0) must be at least 1" });
      const badLink = await call(max, 'POST', '/messages?user_id=5550006', { body: keyboard({ type: 'link', text: 'x', url: 'ftp://x' }) });
      expect(badLink.json.message).toBe('Must have only http/https links format in buttons');
    });

    it('replies to a user message with link {type: reply, mid}', async () => {
      const incoming = max.pushMessage('question?', { user: { user_id: 5550007 } });
      const mid = ((incoming.message as Json).body as Json).mid as string;
      const { json } = await call(max, 'POST', '/messages?user_id=5550007', { body: { text: 'answer', link: { type: 'reply', mid } } });
      expect(json.message.link).toMatchObject({ type: 'reply', sender: { user_id: 5550007 }, message: { mid, text: 'question?' } });
      expect(max.sent[0]!.link).toEqual({ type: 'reply', mid });
      const unknown = await call(max, 'POST', '/messages?user_id=5550007', { body: { text: 'x', link: { type: 'reply', mid: 'mid.0' } } });
      expect(unknown.status).toBe(404);
    });
  });

  describe('uploads', () => {
    async function uploadImage(): Promise<string> {
      const endpoint = await call(max, 'POST', '/uploads?type=image');
      expect(endpoint.json.token).toBeUndefined();
      const uploaded = await uploadTo(endpoint.json.url as string, PNG, 'pixel.png');
      expect(uploaded.status).toBe(200);
      const photos = (JSON.parse(uploaded.text) as { photos: Record<string, { token: string }> }).photos;
      expect(Object.keys(photos)).toHaveLength(1);
      return Object.values(photos)[0]!.token;
    }

    it('image: {url}, multipart data → {photos}, then a message by photos or token', async () => {
      const token = await uploadImage();
      max.pushMessage('hi', { user: { user_id: 5550010 } });
      const byPhotos = await call(max, 'POST', '/messages?user_id=5550010', {
        body: { text: 'pic', attachments: [{ type: 'image', payload: { photos: { any: { token } } } }] },
      });
      expect(byPhotos.status).toBe(200);
      const image = byPhotos.json.message.body.attachments[0];
      expect(image).toMatchObject({ type: 'image', payload: { token, photo_id: expect.any(Number) } });
      expect(Buffer.from(await (await fetch(image.payload.url as string)).arrayBuffer()).equals(PNG)).toBe(true);
      expect(max.sent[0]!.files[0]!.bytes.equals(PNG)).toBe(true);
      const byToken = await call(max, 'POST', '/messages?user_id=5550010', {
        body: { attachments: [{ type: 'image', payload: { token } }] },
      });
      expect(byToken.status).toBe(200);
    });

    it('file: {token} after upload; a fresh token answers attachment.not.ready first', async () => {
      max.setAttachmentNotReadyUses(1);
      const endpoint = await call(max, 'POST', '/uploads?type=file');
      const uploaded = await uploadTo(endpoint.json.url as string, PDF, 'Договор.pdf');
      const { token } = JSON.parse(uploaded.text) as { token: string };
      max.pushMessage('hi', { user: { user_id: 5550011 } });
      const body = { text: 'doc', attachments: [{ type: 'file', payload: { token } }] };
      const early = await call(max, 'POST', '/messages?user_id=5550011', { body });
      expect(early.status).toBe(400);
      expect(early.json).toEqual({ code: 'attachment.not.ready', message: 'Key: errors.process.attachment.file.not.processed' });
      expect(max.sent).toEqual([]);
      const later = await call(max, 'POST', '/messages?user_id=5550011', { body });
      expect(later.status).toBe(200);
      expect(later.json.message.body.attachments[0]).toMatchObject({ type: 'file', filename: 'Договор.pdf', size: PDF.length });
      expect(max.notReadyRefusals).toEqual([token]);
    });

    it('video: the token comes with the upload URL; the upload answers <retval>1</retval>', async () => {
      const endpoint = await call(max, 'POST', '/uploads?type=video');
      expect(endpoint.json).toEqual({ url: expect.any(String), token: expect.any(String) });
      const uploaded = await uploadTo(endpoint.json.url as string, Buffer.from('not really mp4'), 'clip.mp4');
      expect(uploaded.text).toContain('<retval>1</retval>');
      max.pushMessage('hi', { user: { user_id: 5550012 } });
      const sent = await call(max, 'POST', '/messages?user_id=5550012', {
        body: { attachments: [{ type: 'video', payload: { token: endpoint.json.token } }] },
      });
      expect(sent.status).toBe(200);
    });

    it('refuses a missing or retired type, a second upload to one URL, a wrong field, a non-image, a foreign token', async () => {
      expect((await call(max, 'POST', '/uploads')).json.code).toBe('proto.payload');
      expect((await call(max, 'POST', '/uploads?type=photo')).status).toBe(400);
      const endpoint = await call(max, 'POST', '/uploads?type=image');
      expect((await uploadTo(endpoint.json.url as string, PNG, 'a.png', 'file')).status).toBe(400);
      expect((await uploadTo(endpoint.json.url as string, PDF, 'a.pdf')).text).toContain('File extension is forbidden');
      expect((await uploadTo(endpoint.json.url as string, PNG, 'a.png')).status).toBe(200);
      expect((await uploadTo(endpoint.json.url as string, PNG, 'a.png')).status).toBe(400);

      const file = await call(max, 'POST', '/uploads?type=file');
      const { token } = JSON.parse((await uploadTo(file.json.url as string, PDF, 'a.pdf')).text) as { token: string };
      max.pushMessage('hi', { user: { user_id: 5550013 } });
      const asImage = await call(max, 'POST', '/messages?user_id=5550013', {
        body: { attachments: [{ type: 'image', payload: { token } }] },
      });
      expect(asImage.json).toEqual({ code: 'proto.payload', message: `Invalid photo token provided: ${token}` });
      const mixed = await call(max, 'POST', '/messages?user_id=5550013', {
        body: {
          attachments: [
            { type: 'file', payload: { token } },
            { type: 'image', payload: { url: 'https://max.ru/logo.png' } },
          ],
        },
      });
      expect(mixed.json.message).toBe('Must be only one file attachment in message');
    });

    it('refuses an image over the size limit', async () => {
      const endpoint = await call(max, 'POST', '/uploads?type=image');
      expect((await uploadTo(endpoint.json.url as string, Buffer.concat([PNG, Buffer.alloc(20_000)]), 'big.png')).status).toBe(413);
    });
  });

  describe('what users send', () => {
    it('serves files users sent at their payload.url, without Authorization', async () => {
      const attachment = max.fileAttachment(PDF, 'Счёт №1.pdf', 'application/pdf');
      const update = max.pushMessage({ attachments: [attachment] });
      const file = ((update.message as Json).body as Json).attachments as Json[];
      expect(file[0]).toMatchObject({ type: 'file', filename: 'Счёт №1.pdf', size: PDF.length, payload: { token: expect.any(String) } });
      const url = (file[0]!.payload as Json).url as string;
      const res = await fetch(url);
      expect(res.headers.get('content-type')).toBe('application/pdf');
      expect(res.headers.get('content-disposition')).toContain(encodeURIComponent('Счёт №1.pdf'));
      expect(Buffer.from(await res.arrayBuffer()).equals(PDF)).toBe(true);
      max.expireMedia(url);
      expect((await fetch(url)).status).toBe(404);
    });

    it('builds every other kind with MAX shapes', async () => {
      const contact = max.contactAttachment({ name: 'Anna', phone: '+79990001122', user: { user_id: 777, first_name: 'Anna' } });
      const update = max.pushMessage({
        text: 'kinds',
        attachments: [
          max.imageAttachment(PNG, 'image/png'),
          max.videoAttachment(Buffer.from('v')),
          max.audioAttachment(Buffer.from('a')),
          max.stickerAttachment(),
          contact,
          max.locationAttachment(55.75, 37.62),
          max.shareAttachment('https://example.com'),
        ],
      });
      const { json } = await call(max, 'GET', '/updates?timeout=0');
      const kinds = (json.updates[0].message.body.attachments as Json[]).map((a) => a.type);
      expect(kinds).toEqual(['image', 'video', 'audio', 'sticker', 'contact', 'location', 'share']);
      expect(json.updates[0].message.body.attachments[4].payload).toMatchObject({
        vcf_info: expect.stringContaining('TEL'),
        max_info: { user_id: 777 },
      });
      expect(json.updates[0].message.body.attachments[5]).toEqual({ type: 'location', latitude: 55.75, longitude: 37.62 });
      expect(update.update_type).toBe('message_created');
    });

    it('pushes edits (same mid), removals, group messages and chat events', async () => {
      const original = max.pushMessage('typo', { user: { user_id: 5550020 } });
      const edit = max.pushEdit(original, 'fixed');
      const removed = max.pushRemoved(original);
      const group = max.pushMessage('in a group', { chatType: 'chat', chatId: -70000000000005 });
      const added = max.pushChatEvent('user_added', { chatId: -70000000000005, extra: { inviter_id: 5550020 } });
      expect(((edit.message as Json).body as Json).mid).toBe(((original.message as Json).body as Json).mid);
      expect(((edit.message as Json).body as Json).text).toBe('fixed');
      expect(removed).toMatchObject({ update_type: 'message_removed', user_id: 5550020, message_id: expect.stringMatching(/^mid\./) });
      expect((group.message as Json).recipient).toEqual({ chat_id: -70000000000005, chat_type: 'chat' });
      expect(added).toMatchObject({ update_type: 'user_added', chat_id: -70000000000005, is_channel: false, inviter_id: 5550020 });
      const { json } = await call(max, 'GET', '/updates?timeout=0');
      expect(json.updates.map((u: MaxUpdate) => u.update_type)).toEqual([
        'message_created',
        'message_edited',
        'message_removed',
        'message_created',
        'user_added',
      ]);
    });
  });

  describe('callbacks and chats', () => {
    it('a button press carries the callback_id and payload; POST /answers records the answer', async () => {
      max.pushMessage('hi', { user: { user_id: 5550030 } });
      await call(max, 'POST', '/messages?user_id=5550030', {
        body: {
          text: 'Rate us',
          attachments: [{ type: 'inline_keyboard', payload: { buttons: [[{ type: 'callback', text: 'Good', payload: 'rate:5' }]] } }],
        },
      });
      const press = max.pushCallback(max.sent[0]!, 'Good');
      const callback = press.callback as Json;
      expect(callback).toMatchObject({ payload: 'rate:5', user: { user_id: 5550030 } });
      expect(((press.message as Json).body as Json).mid).toBe(max.sent[0]!.mid);

      const empty = await call(max, 'POST', `/answers?callback_id=${callback.callback_id as string}`, { body: {} });
      expect(empty.json).toEqual({ code: 'proto.payload', message: 'Invalid request. `message` or `notification` required' });
      const ok = await call(max, 'POST', `/answers?callback_id=${callback.callback_id as string}`, { body: { notification: 'Thanks!' } });
      expect(ok.json).toEqual({ success: true });
      const [answer] = await max.waitForAnswers(1);
      expect(answer).toMatchObject({ callbackId: callback.callback_id, notification: 'Thanks!' });
      expect((await call(max, 'POST', '/answers?callback_id=unknown', { body: { notification: 'x' } })).status).toBe(404);
    });

    it('GET /chats/{id} describes a dialog; an unknown chat is 404 chat.not.found', async () => {
      const incoming = max.pushMessage('hi', { user: { user_id: 5550031 } });
      const chatId = ((incoming.message as Json).recipient as Json).chat_id as number;
      const { json } = await call(max, 'GET', `/chats/${chatId}`);
      expect(json).toMatchObject({ chat_id: chatId, type: 'dialog', status: 'active', dialog_with_user: { user_id: 5550031 } });
      const unknown = await call(max, 'GET', '/chats/-1');
      expect([unknown.status, unknown.json.code]).toEqual([404, 'chat.not.found']);
    });

    it('addDialog opens a dialog the bot can write to before the user wrote', async () => {
      const chatId = max.addDialog({ user_id: 5550077 }, 182_777_001);
      const { status } = await call(max, 'POST', `/messages?chat_id=${chatId}`, { body: { text: 'hello first' } });
      expect(status).toBe(200);
      expect(max.sent.at(-1)).toMatchObject({ chatId: 182_777_001, chatType: 'dialog', text: 'hello first' });
      // The user's later message comes from the same dialog.
      const incoming = max.pushMessage('hi', { user: { user_id: 5550077 } });
      expect(((incoming.message as Json).recipient as Json).chat_id).toBe(182_777_001);
    });

    it('GET /videos/{token} gives a video its own download URL; an unknown token is 404', async () => {
      const video = max.videoAttachment(Buffer.from('not really an mp4'));
      const token = (video.payload as Json).token as string;
      const { status, json } = await call(max, 'GET', `/videos/${token}`);
      expect(status).toBe(200);
      const urls = json.urls as Record<string, string>;
      expect(urls.mp4_720).not.toBe((video.payload as Json).url);
      max.expireMedia((video.payload as Json).url as string);
      expect(Buffer.from(await (await fetch(urls.mp4_720!)).arrayBuffer()).toString()).toBe('not really an mp4');
      const unknown = await call(max, 'GET', '/videos/nope');
      expect([unknown.status, unknown.json.code]).toEqual([404, 'not.found']);
    });
  });

  describe('faults', () => {
    it('failNext answers the queued fault once, then the method works again', async () => {
      max.failNext('me', { status: 503, code: 'service.unavailable', message: 'down' });
      const failed = await call(max, 'GET', '/me');
      expect([failed.status, failed.json.code]).toEqual([503, 'service.unavailable']);
      expect((await call(max, 'GET', '/me')).status).toBe(200);
    });

    it('setFailureRate(1) fails every call of the route; hangNext never answers', async () => {
      max.setFailureRate('uploads', 1);
      expect((await call(max, 'POST', '/uploads?type=file')).status).toBe(503);
      max.hangNext('me');
      await expect(call(max, 'GET', '/me', { signal: AbortSignal.timeout(300) })).rejects.toThrow();
      expect(max.calls.at(-1)?.path).toBe('/me');
      expect(max.calls.at(-1)?.status).toBeUndefined();
    });
  });

  describe('limits', () => {
    let now = 0;
    let limited: MaxDouble;

    beforeAll(async () => {
      limited = await startMaxDouble({ enforceLimits: true, clock: () => now });
    });
    afterEach(() => limited.reset());
    afterAll(() => limited.close());

    it('allows 2 messages per second into one chat, then 429 too.many.requests until the window moves', async () => {
      limited.pushMessage('hi', { user: { user_id: 5550040 } });
      limited.pushMessage('hi', { user: { user_id: 5550041 } });
      const send = (user: number) => call(limited, 'POST', `/messages?user_id=${user}`, { body: { text: 'x' } });
      now = 1000;
      expect((await send(5550040)).status).toBe(200);
      expect((await send(5550040)).status).toBe(200);
      const third = await send(5550040);
      expect(third.status).toBe(429);
      expect(third.json.code).toBe('too.many.requests');
      expect(third.headers.get('retry-after')).toBeNull();
      expect((await send(5550041)).status).toBe(200);
      now = 2001;
      expect((await send(5550040)).status).toBe(200);
    });

    it('allows 30 requests per second per bot', async () => {
      now = 10_000;
      const answers = await Promise.all(Array.from({ length: 31 }, () => call(limited, 'GET', '/me')));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(30);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(1);
      expect(limited.stats.tooManyRequests).toBe(1);
      now = 11_001;
      expect((await call(limited, 'GET', '/me')).status).toBe(200);
    });
  });
});
