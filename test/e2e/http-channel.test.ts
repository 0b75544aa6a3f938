/**
 * The HTTP channel end to end (docs/architecture.md, "The HTTP channel"): an app double posts signed user messages, a real
 * bridge queues them for the Blinger double, and agents' replies come back to the app signed, with
 * a webhook-id that is stable across retries; bad input is refused with the 4xx §9 names.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { startHttpAppDouble, type HttpAppDouble } from '../doubles/http-app.js';
import { BLINGER_TOKEN, startChannelBridge, type TestBridge } from '../helpers/bridge.js';
import { botFlowSchema } from '../../src/flow/config.js';
import type { DeadLetter } from '../../src/delivery/lane-store.js';
import type { OutboundMessage } from '../../src/message.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CHANNEL = 'app';
const BOT_CHANNEL = 'app-bot';

let app: HttpAppDouble;
let blinger: BlingerDouble;
let botBlinger: BlingerDouble;
let tb: TestBridge;

beforeAll(async () => {
  app = await startHttpAppDouble({ secret: SECRET });
  blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL });
  botBlinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: BOT_CHANNEL });
  const adapter = { type: 'http', secret: SECRET, deliveryUrl: app.deliveryUrl, timeout: 3000 };
  tb = await startChannelBridge([
    { id: CHANNEL, blinger: { url: blinger.url, token: BLINGER_TOKEN, timeoutMs: 2000 }, adapter, allowPrivateUrls: true },
    {
      id: BOT_CHANNEL,
      blinger: { url: botBlinger.url, token: BLINGER_TOKEN, timeoutMs: 2000 },
      adapter,
      allowPrivateUrls: true,
      bot: botFlowSchema.parse({ greeting: 'Hello from the bot', menu: [{ label: 'Hours', answer: 'Open 9–18' }] }),
    },
  ]);
});

afterAll(async () => {
  await tb?.stop();
  await app?.close();
  await blinger?.close();
  await botBlinger?.close();
});

beforeEach(() => {
  app.setFailureRate(0);
});

describe('HTTP channel: app → Blinger', () => {
  it("queues a user's text with name, phone and info, and a file followed by its caption", async () => {
    const user = { id: 'u-100', name: 'Dana', phone: '+49 30 1234567', info: { plan: 'gold', app_version: '4.2' } };
    const text = await app.send(tb.url, CHANNEL, { user, type: 'text', text: 'Where is my order?' });
    expect(text).toMatchObject({ status: 200, body: { id: text.id } });
    await app.send(tb.url, CHANNEL, {
      user,
      type: 'file',
      url: 'https://files.example/invoice.pdf',
      file_name: 'invoice.pdf',
      text: 'the invoice',
    });
    const got = await blinger.waitFor(3);
    expect(
      got.map(({ client_id, client_name, client_phone, type, data }) => ({ client_id, client_name, client_phone, type, data })),
    ).toEqual([
      { client_id: 'u-100', client_name: 'Dana', client_phone: '+49 30 1234567', type: 'text', data: 'Where is my order?' },
      { client_id: 'u-100', client_name: 'Dana', client_phone: '+49 30 1234567', type: 'file', data: 'https://files.example/invoice.pdf' },
      { client_id: 'u-100', client_name: 'Dana', client_phone: '+49 30 1234567', type: 'text', data: 'the invoice' },
    ]);
    expect(got[0]!.info).toEqual({ plan: 'gold', app_version: '4.2' });
    expect(got[1]!.info).toEqual({ plan: 'gold', app_version: '4.2', file_name: 'invoice.pdf' });
  });

  it('acknowledges a repeated webhook-id with the same answer and delivers it once', async () => {
    blinger.reset();
    const body = { user: { id: 'u-dup' }, type: 'text', text: 'sent twice' };
    const first = await app.send(tb.url, CHANNEL, body, { id: 'msg_same-id-1' });
    const again = await app.send(tb.url, CHANNEL, body, { id: 'msg_same-id-1' });
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(again.body).toEqual({ id: 'msg_same-id-1' });
    await app.send(tb.url, CHANNEL, { user: { id: 'u-dup' }, type: 'text', text: 'then this' });
    await blinger.waitFor(2);
    expect(blinger.received.map((m) => m.data)).toEqual(['sent twice', 'then this']);
  });

  it('refuses bad input with the 4xx that names the problem, and queues nothing', async () => {
    blinger.reset();
    const ok = { user: { id: 'u-bad' }, type: 'text', text: 'hi' };
    const cases: Array<[string, Promise<{ status: number; body: Record<string, unknown> }>, number, RegExp]> = [
      [
        'wrong secret',
        app.send(tb.url, CHANNEL, ok, { secret: 'whsec_d3JvbmctZC1zZWNyZXQtb2YtMzItYnl0ZXMhISE=' }),
        401,
        /no v1 signature matches/,
      ],
      ['stale timestamp', app.send(tb.url, CHANNEL, ok, { nowMs: Date.now() - 10 * 60_000 }), 401, /webhook-timestamp is \d+ s old/],
      ['no signature', app.send(tb.url, CHANNEL, ok, { headers: { 'webhook-signature': '' } }), 401, /webhook-signature header is missing/],
      [
        'missing user id',
        app.send(tb.url, CHANNEL, { user: { id: ' ' }, type: 'text', text: 'x' }),
        400,
        /^user\.id: expected visible characters/,
      ],
      ['no url for a file', app.send(tb.url, CHANNEL, { user: { id: 'u' }, type: 'image' }), 400, /^url: required for type "image"$/],
      ['unknown field', app.send(tb.url, CHANNEL, { ...ok, colour: 'red' }), 400, /^body: unknown field "colour"$/],
      ['unknown channel', app.send(tb.url, 'nope', ok), 404, /unknown channel/],
    ];
    for (const [name, call, status, message] of cases) {
      const res = await call;
      expect(res.status, name).toBe(status);
      expect(String(res.body.message), name).toMatch(message);
    }
    // Signed, so they pass the header check that comes before the body.
    expect((await app.send(tb.url, CHANNEL, { ...ok, text: 'x'.repeat(1024 * 1024) })).status).toBe(413);
    expect((await app.send(tb.url, CHANNEL, ok, { headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    // Nothing of the above reached a lane: the next good message is the first Blinger sees.
    await app.send(tb.url, CHANNEL, { user: { id: 'u-bad' }, type: 'text', text: 'the good one' });
    await blinger.waitFor(1);
    expect(blinger.received.map((m) => m.data)).toEqual(['the good one']);
  });
});

describe('HTTP channel: agent → app', () => {
  const reply = async (clientId: string, data: string, type: OutboundMessage['type'] = 'text') => {
    const res = await blinger.sendReply(tb.url, { client_id: clientId, type, data });
    expect(res.status).toBe(200);
  };

  it('POSTs the reply signed, in the documented shape, with the same webhook-id on every retry', async () => {
    const before = app.delivered.length;
    app.failNext({ status: 503 }, 2);
    await reply('u-200', 'We are on it');
    const [delivery] = (await app.waitForDelivered(before + 1)).slice(before);
    expect(delivery!.body).toEqual({
      type: 'message',
      channel: CHANNEL,
      user_id: 'u-200',
      message: { type: 'text', text: 'We are on it' },
    });
    expect(app.attempts.filter((id) => id === delivery!.webhookId)).toHaveLength(3);
    expect(app.badSignatures).toEqual([]);
    await reply('u-200', 'https://files.example/label.png', 'image');
    const [image] = (await app.waitForDelivered(before + 2)).slice(before + 1);
    expect(image!.body.message).toEqual({ type: 'image', url: 'https://files.example/label.png' });
  });

  it('waits Retry-After on 429; on 410 dead-letters and tells the agent; on another 4xx dead-letters without a word', async () => {
    blinger.reset();
    const before = app.delivered.length;
    app.failNext({ status: 429, retryAfterS: 1 });
    const t0 = Date.now();
    await reply('u-300', 'after a 429');
    await app.waitForDelivered(before + 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);

    const letters: DeadLetter<OutboundMessage>[] = [];
    const onLetter = (l: DeadLetter<OutboundMessage>) => letters.push(l);
    tb.bridge.outbound.on('deadLettered', onLetter);
    try {
      app.failNext({ status: 410 });
      await reply('u-300', 'to a user who left');
      const echo = await blinger.waitFor(1);
      expect(echo[0]).toMatchObject({ client_id: 'u-300', echo: true, echo_outgoing: true, data: expect.stringContaining('410') });
      app.failNext({ status: 400 });
      await reply('u-300', 'refused by the app');
      await expect.poll(() => letters.length).toBe(2);
      expect(letters.map((l) => [l.item.payload.data, l.code, l.attempts])).toEqual([
        ['to a user who left', 'user_gone', 1],
        ['refused by the app', 'http_400', 1],
      ]);
      expect(blinger.received).toHaveLength(1);
    } finally {
      tb.bridge.outbound.off('deadLettered', onLetter);
    }
  });
});

describe('HTTP channel: a bot flow in front of the agents', () => {
  it('greets on /start with its menu as a keyboard, and answers a button the app reports', async () => {
    const before = app.delivered.length;
    await app.send(tb.url, BOT_CHANNEL, { user: { id: 'u-bot' }, type: 'text', text: '/start' });
    const [greeting] = (await app.waitForDelivered(before + 1)).slice(before);
    expect(greeting!.body.channel).toBe(BOT_CHANNEL);
    expect(greeting!.body.message).toMatchObject({
      type: 'text',
      text: 'Hello from the bot',
      keyboard: { buttons: [[{ label: 'Hours' }]] },
    });
    const button = (greeting!.body.message.keyboard as { buttons: Array<Array<{ label: string; data: string }>> }).buttons[0]![0]!;
    await app.send(tb.url, BOT_CHANNEL, { user: { id: 'u-bot' }, type: 'text', text: button.label, button: { data: button.data } });
    const [answer] = (await app.waitForDelivered(before + 2)).slice(before + 1);
    expect(answer!.body.message).toMatchObject({ type: 'text', text: 'Open 9–18' });
  });
});

describe('HTTP channel: the OpenAPI document', () => {
  it('is served at /http/openapi.json and describes the route with the schema it validates with', async () => {
    const res = await fetch(`${tb.url}/http/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      webhooks: Record<string, unknown>;
      components: {
        schemas: { InboundMessage: { required: string[]; properties: Record<string, unknown>; additionalProperties: boolean } };
      };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(['/http/{channelId}/messages']);
    expect(Object.keys(doc.webhooks)).toEqual(['agentReply']);
    const schema = doc.components.schemas.InboundMessage;
    expect(schema.required).toEqual(['user', 'type']);
    expect(Object.keys(schema.properties)).toEqual(['user', 'type', 'text', 'url', 'file_name', 'button']);
    expect(schema.additionalProperties).toBe(false);
  });
});
