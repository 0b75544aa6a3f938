/**
 * The HTTP server's walls against slow and unauthenticated clients, on a real bridge over real
 * sockets: a request that trickles in is cut at the request timeout, a wrong token is refused
 * before the body is read, and Blinger's token is accepted in the header, the body, or both.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createBridge, type Bridge } from '../../src/bridge.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { baseTestConfig, captureLogger, TEST_TUNING } from '../helpers/bridge.js';
import { webchatChannel } from '../helpers/webchat.js';
import { freePort } from '../helpers/net.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';
import { registerSecret } from '../../src/redact.js';

const TOKEN = 'limits-blinger-token-0123456789';
const CHANNEL = 'limits-chat';
const REQUEST_TIMEOUT_MS = 1500;
const APP_CHANNEL = 'limits-app';

let blinger: BlingerDouble | undefined;
let bridge: Bridge | undefined;
let prefix = '';

afterEach(async () => {
  await bridge?.stop({ graceMs: 1000 });
  await blinger?.close();
  const r = await readyRedis();
  await removeKeys(r, prefix);
  await r.quit();
  bridge = blinger = undefined;
});

async function start(host = '127.0.0.1'): Promise<string> {
  blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
  prefix = uniquePrefix();
  registerSecret(TOKEN);
  bridge = createBridge({
    config: {
      ...baseTestConfig({ port: await freePort(), prefix }),
      host,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      channels: [
        webchatChannel({ id: CHANNEL, blingerUrl: blinger.url, token: TOKEN }),
        {
          id: APP_CHANNEL,
          blinger: { url: blinger.url, token: TOKEN, timeoutMs: 2000 },
          adapter: { type: 'http', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', deliveryUrl: 'http://127.0.0.1:9/app' },
          allowPrivateUrls: true,
        },
      ],
    },
    log: captureLogger().log,
    tuning: TEST_TUNING,
  });
  return bridge.start();
}

interface RawExchange {
  socket: net.Socket;
  /** Everything the server sent, once it closed the connection. */
  closed: Promise<{ text: string; at: number }>;
}

/** A raw connection that sends `head` (request line and headers) and nothing else by itself. */
function rawRequest(base: string, head: string): RawExchange {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  socket.write(head);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined); // the server may reset a connection it cut
  const closed = new Promise<{ text: string; at: number }>((resolve) => socket.on('close', () => resolve({ text, at: Date.now() })));
  return { socket, closed };
}

/** Rejects when the connection is still open after `ms`: the wall did not hold. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms))),
  ]);
}

describe('slow and unauthenticated clients', () => {
  it('cuts a body that trickles in at the request timeout: 408, connection closed', async () => {
    const url = await start();
    const body = JSON.stringify({ token: TOKEN, custom_channel_id: CHANNEL, client_id: 'web-x', type: 'text', data: 'slow' });
    const started = Date.now();
    const ex = rawRequest(
      url,
      `POST /blinger/${CHANNEL} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    // One byte every 200 ms: the body would take ~20 s.
    let sent = 0;
    const drip = setInterval(() => {
      if (!ex.socket.destroyed && sent < body.length) ex.socket.write(body[sent++]!);
    }, 200);
    try {
      const { text, at } = await within(ex.closed, 15_000, 'slow body');
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      expect(text).toContain('"error":"request_timeout"');
      expect(at - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
      expect(sent).toBeLessThan(body.length);
    } finally {
      clearInterval(drip);
    }
  });

  it('refuses a wrong token and an unknown channel before the body arrives, and closes the connection', async () => {
    const url = await start();
    for (const [path, auth, status] of [
      [`/blinger/${CHANNEL}`, 'Bearer wrong-token', 401],
      [`/blinger/${CHANNEL}`, 'Basic dXNlcjpwYXNz', 401],
      ['/blinger/nowhere', `Bearer ${TOKEN}`, 404],
      // A webhook route: the adapter judges the headers first (the HTTP channel: no signature).
      [`/http/${APP_CHANNEL}/messages`, `Bearer ${TOKEN}`, 401],
      ['/http/nowhere/messages', `Bearer ${TOKEN}`, 404],
    ] as const) {
      // A body is announced and never sent.
      const ex = rawRequest(
        url,
        `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
      );
      const { text } = await within(ex.closed, 15_000, `${path} with ${auth}`);
      expect(text, auth).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(text.toLowerCase()).toContain('connection: close');
    }
    // A stale timestamp is refused before the body too.
    const stale = rawRequest(
      url,
      `POST /http/${APP_CHANNEL}/messages HTTP/1.1\r\nHost: x\r\nwebhook-id: msg_1\r\nwebhook-timestamp: 1000\r\nwebhook-signature: v1,AAAA\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
    );
    expect((await within(stale.closed, 15_000, 'stale timestamp')).text).toMatch(/^HTTP\/1\.1 401 [\s\S]*webhook-timestamp is \d+ s old/);
    expect(blinger!.received).toEqual([]);
  });

  it('accepts the token in the Authorization header, in the body, or in both when they agree', async () => {
    const url = await start();
    const reply = { custom_channel_id: CHANNEL, client_id: 'web-nobody', type: 'text', data: 'hi' };
    const post = (body: object, headers: Record<string, string> = {}) =>
      fetch(`${url}/blinger/${CHANNEL}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...headers },
      });
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const message = async (r: Response) => ((await r.json()) as { message: string }).message;

    expect((await post(reply, bearer(TOKEN))).status).toBe(200);
    expect((await post({ ...reply, token: TOKEN })).status).toBe(200);
    expect((await post({ ...reply, token: TOKEN }, bearer(TOKEN))).status).toBe(200);
    // The scheme is case-insensitive (RFC 7235).
    expect((await post(reply, { authorization: `bearer ${TOKEN}` })).status).toBe(200);

    const neither = await post(reply);
    expect(neither.status).toBe(401);
    expect(await message(neither)).toMatch(/^missing token/);
    const wrongBody = await post({ ...reply, token: 'wrong' });
    expect(wrongBody.status).toBe(401);
    expect(await message(wrongBody)).toBe('token: wrong token');
    const disagree = await post({ ...reply, token: 'wrong' }, bearer(TOKEN));
    expect(disagree.status).toBe(401);
    expect(await message(disagree)).toBe('token: does not match the Authorization header');
    expect((await post({ ...reply, token: TOKEN }, bearer('wrong'))).status).toBe(401);
    // Without a token, the body is not looked at: no validation details for strangers.
    const strangers = await post({ custom_channel_id: 1 });
    expect(strangers.status).toBe(401);
  });

  it('says in one line which HOST and PORT it cannot listen on (an address this machine does not have)', async () => {
    await expect(start('192.0.2.1')).rejects.toThrow(/^cannot listen on 192\.0\.2\.1:\d+ \(HOST, PORT\): EADDRNOTAVAIL$/);
  });
});
