/**
 * The public web chat's walls, against a real bridge and the Blinger double, driven as a script
 * would (a WebSocket client and plain HTTP): each quota refuses what is over it with a frame or a
 * 429 naming the limit — and nothing of it is queued, stored or sent to Blinger — while what is
 * under it goes through; `allowedOrigins` keeps other sites' pages out of the socket, the uploads
 * and the iframe.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { chatClient, newVisitorKey, startChatBridge, webchatChannel, type ChatBridge, type ChatClient } from '../helpers/webchat.js';
import { readyRedis } from '../helpers/redis.js';
import { clientIdOf } from '../../adapters/webchat/protocol.js';

const TOKEN = 'webchat-limits-blinger-token-0123456789';

let blinger: BlingerDouble;
let tb: ChatBridge;
let redis: Redis;
const clients: ChatClient[] = [];

beforeAll(async () => {
  blinger = await startBlingerDouble({ token: TOKEN, channelId: 'chat-limits' });
  const channel = (id: string, adapter: Record<string, unknown>) => webchatChannel({ id, blingerUrl: blinger.url, token: TOKEN, adapter });
  [tb, redis] = await Promise.all([
    startChatBridge({
      channels: [
        channel('chat-limits', { maxUploadBytes: '1KiB', quotas: { messagesPerMinute: 3, uploadBytesPerDay: 1500 } }),
        channel('chat-new', { quotas: { newVisitorsPerIpPerHour: 2 } }),
        channel('chat-sockets', { quotas: { socketsPerIp: 3 } }),
        channel('chat-proxied', { quotas: { socketsPerIp: 1 }, clientIpHeader: 'X-Forwarded-For' }),
        channel('chat-origins', { allowedOrigins: ['https://shop.example'] }),
      ],
    }),
    readyRedis(),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await tb?.stop();
  await blinger?.close();
  await redis?.quit();
});

const wsUrl = (channel: string) => `${tb.url.replace('http', 'ws')}/chat/${channel}/ws`;

async function connect(channel: string, headers?: Record<string, string>): Promise<ChatClient> {
  const c = await chatClient(wsUrl(channel), { headers });
  clients.push(c);
  return c;
}

/** A visitor with the chat open: hello answered by welcome. */
async function visitor(channel: string, key = newVisitorKey(), headers?: Record<string, string>) {
  const c = await connect(channel, headers);
  c.send({ type: 'hello', version: '1.0', key });
  const welcome = await c.next('welcome');
  return { c, key, clientId: clientIdOf(key), welcome };
}

function upload(channel: string, key: string, id: string, bytes: number, headers: Record<string, string> = {}) {
  return fetch(`${tb.url}/chat/${channel}/upload`, {
    method: 'POST',
    body: Buffer.alloc(bytes, 7),
    headers: { 'content-type': 'application/octet-stream', 'x-visitor-key': key, 'x-message-id': id, ...headers },
  });
}

/** Whether a visitor's message ever entered the inbound queue (its dedupe mark is written with it). */
const everQueued = (channel: string, clientId: string, id: string) =>
  redis.exists(`${tb.prefix}:seen:${channel}:webchat:${clientId}:${id}`).then((n) => n === 1);

describe('quotas', () => {
  it('messages per visitor per minute: over the limit an error frame names it, and the message is neither queued nor sent to Blinger', async () => {
    const v = await visitor('chat-limits');
    expect(v.welcome.limits).toEqual({ maxTextChars: 5000, maxUploadBytes: 1024, messagesPerMinute: 3, uploadBytesPerDay: 1500 });
    for (let i = 1; i <= 3; i++) {
      v.c.send({ type: 'message', id: `limit-msg-0${i}`, text: `message ${i}` });
      expect(await v.c.next('ack')).toMatchObject({ id: `limit-msg-0${i}`, status: 'queued' });
    }
    v.c.send({ type: 'message', id: 'limit-msg-04', text: 'one too many' });
    const refused = await v.c.next('error');
    expect(refused).toEqual({
      type: 'error',
      code: 'rate_limited',
      limit: 'messagesPerMinute',
      id: 'limit-msg-04',
      message: expect.stringMatching(/^too many messages: this chat takes at most 3 a minute from one visitor; try again in (19|20) s$/),
      retryAfterMs: expect.any(Number),
    });
    // The socket goes on: a ping still answers.
    v.c.send({ type: 'ping' });
    await v.c.next('pong');

    expect(await everQueued('chat-limits', v.clientId, 'limit-msg-04')).toBe(false);
    expect(await everQueued('chat-limits', v.clientId, 'limit-msg-03')).toBe(true);
    expect((await tb.chat('chat-limits').history(v.clientId)).map((e) => e.data)).toEqual(['message 1', 'message 2', 'message 3']);
    const got = await blinger.waitFor(3);
    expect(got.filter((m) => m.client_id === v.clientId).map((m) => m.data)).toEqual(['message 1', 'message 2', 'message 3']);
  });

  it('upload bytes per visitor per day: 429 naming the limit with Retry-After, and the file is not stored', async () => {
    const v = await visitor('chat-limits');
    const ok = await upload('chat-limits', v.key, 'upload-ok-1', 1000);
    expect(ok.status).toBe(200);
    const over = await upload('chat-limits', v.key, 'upload-over-1', 1000);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(3600);
    expect(await over.json()).toEqual({
      error: 'rate_limited',
      limit: 'uploadBytesPerDay',
      message: expect.stringMatching(/^too many uploads: this chat takes at most 1.5 KiB a day from one visitor; try again in \d+ h$/),
      retryAfterMs: expect.any(Number),
    });
    const fileId = createHash('sha256').update(`${v.clientId}\nupload-over-1`).digest('base64url').slice(0, 32);
    expect(await redis.exists(`${tb.prefix}:webchat:chat-limits:file:${fileId}`)).toBe(0);
    expect(await everQueued('chat-limits', v.clientId, 'upload-over-1')).toBe(false);
    expect((await tb.chat('chat-limits').history(v.clientId)).map((e) => e.id)).toEqual(['upload-ok-1']);
  });

  it('new visitor keys per address per hour: the key over the limit is refused at hello and at upload; known keys still come in', async () => {
    const a = await visitor('chat-new');
    await visitor('chat-new');
    const third = await connect('chat-new');
    third.send({ type: 'hello', version: '1.0', key: newVisitorKey() });
    expect(await third.next('error')).toMatchObject({
      code: 'rate_limited',
      limit: 'newVisitorsPerIpPerHour',
      message: expect.stringMatching(/^too many new chats from your network address: this chat allows 2 an hour; try again in \d+ min$/),
    });
    expect(await third.closed).toEqual({ code: 4429, reason: 'newVisitorsPerIpPerHour' });

    const again = await visitor('chat-new', a.key);
    expect(again.welcome).toMatchObject({ type: 'welcome', clientId: a.clientId });
    const res = await upload('chat-new', newVisitorKey(), 'upload-new-1', 10);
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ limit: 'newVisitorsPerIpPerHour' });
  });

  it('sockets per address: the one over the limit is closed with 4429 after a frame naming it; a closed socket frees its place', async () => {
    const open = [await connect('chat-sockets'), await connect('chat-sockets'), await connect('chat-sockets')];
    const fourth = await connect('chat-sockets');
    expect(await fourth.closed).toEqual({ code: 4429, reason: 'socketsPerIp' });
    expect(fourth.frames).toEqual([
      {
        type: 'error',
        code: 'rate_limited',
        limit: 'socketsPerIp',
        message: 'too many open chats from your network address (this chat allows 3); close some tabs and reload',
      },
    ]);
    // The three admitted sockets work.
    for (const c of open) {
      c.send({ type: 'hello', version: '1.0', key: newVisitorKey() });
      await c.next('welcome');
    }
    await open[0]!.close();
    await expect.poll(() => redis.zcard(`${tb.prefix}:webchat:chat-sockets:quota:sockets:127.0.0.1`)).toBe(2);
    await visitor('chat-sockets');
  });

  it('behind a proxy (clientIpHeader), each visitor’s own address counts; without the setting the bridge warns that it counts the proxy', async () => {
    await visitor('chat-proxied', undefined, { 'x-forwarded-for': '198.51.100.1' });
    await visitor('chat-proxied', undefined, { 'x-forwarded-for': '10.9.9.9, 198.51.100.2' });
    const same = await connect('chat-proxied', { 'x-forwarded-for': '198.51.100.1' });
    expect(await same.closed).toMatchObject({ code: 4429 });

    await visitor('chat-limits', undefined, { 'x-forwarded-for': '198.51.100.3' });
    await visitor('chat-limits', undefined, { 'x-forwarded-for': '198.51.100.4' });
    expect(tb.logs.filter((l) => l.includes('Set adapter.clientIpHeader'))).toHaveLength(1);
  });
});

describe('allowed origins', () => {
  it('the socket: another site’s page is refused with 4403, the listed site, the bridge’s own page and apps without an Origin come in', async () => {
    const evil = await connect('chat-origins', { origin: 'https://evil.example' });
    expect(await evil.closed).toEqual({ code: 4403, reason: 'origin not allowed' });
    expect(evil.frames).toEqual([
      {
        type: 'error',
        code: 'origin_not_allowed',
        message: "this chat is not available to pages of https://evil.example (the channel's allowedOrigins)",
      },
    ]);
    await visitor('chat-origins', undefined, { origin: 'https://shop.example' });
    await visitor('chat-origins', undefined, { origin: tb.url });
    await visitor('chat-origins');
  });

  it('uploads: 403 from another site, nothing stored; and only the listed site may frame the page', async () => {
    const key = newVisitorKey();
    const refused = await upload('chat-origins', key, 'upload-evil-1', 10, { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({
      error: 'forbidden',
      message: "this chat is not available to pages of https://evil.example (the channel's allowedOrigins)",
    });
    expect(await tb.chat('chat-origins').history(clientIdOf(key))).toEqual([]);
    const good = await upload('chat-origins', key, 'upload-good-1', 10, { origin: 'https://shop.example' });
    expect(good.status).toBe(200);
    // The listed site's own page may read the answer (CORS), after the browser's preflight.
    expect(good.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    const preflight = (origin: string) =>
      fetch(`${tb.url}/chat/chat-origins/upload`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-visitor-key, x-message-id' },
      });
    const allowed = await preflight('https://shop.example');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('x-visitor-key');
    expect((await preflight('https://evil.example')).status).toBe(403);

    const csp = (await fetch(`${tb.url}/chat/chat-origins`)).headers.get('content-security-policy');
    expect(csp).toContain("frame-ancestors 'self' https://shop.example");
    expect((await fetch(`${tb.url}/chat/chat-limits`)).headers.get('content-security-policy')).toContain('frame-ancestors *');
  });
});
