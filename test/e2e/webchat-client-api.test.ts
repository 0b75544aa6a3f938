/**
 * docs/client-api.md, run: a non-browser client (the `ws` package, as a mobile app would hold a
 * socket) sends the doc's `send` examples to a real bridge in the doc's order and checks that
 * what comes back is the doc's `receive` examples — so the client API's documentation cannot drift
 * from the bridge. `…` in an example is any value; times are any number.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { pngBytes } from '../helpers/browser.js';
import { chatClient, startChatBridge, webchatChannel, type ChatBridge, type ChatClient } from '../helpers/webchat.js';
import { clientIdOf } from '../../adapters/webchat/protocol.js';

const DOC = 'docs/client-api.md';
const CHANNEL = 'site-chat';
const TOKEN = 'client-api-blinger-token-0123456789';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The doc's examples by label: ```json send <label> / ```json receive <label>. */
function examples(): Map<string, { dir: 'send' | 'receive'; value: Json }> {
  const out = new Map<string, { dir: 'send' | 'receive'; value: Json }>();
  for (const m of readFileSync(DOC, 'utf8').matchAll(/```json (send|receive) ([\w-]+)\n([\s\S]*?)```/g)) {
    expect(out.has(m[2]!), `example label ${m[2]} is used twice`).toBe(false);
    out.set(m[2]!, { dir: m[1] as 'send' | 'receive', value: JSON.parse(m[3]!) as Json });
  }
  return out;
}

const TIMES = new Set(['at', 'opensAt', 'retryAfterMs']);

/** A `receive` example as an expectation: "…" matches anything in its place, times any number. */
function expected(v: Json, key?: string): unknown {
  if (key !== undefined && TIMES.has(key) && typeof v === 'number') return expect.any(Number);
  if (typeof v === 'string' && v.includes('…')) {
    const [head, tail] = v.split('…') as [string, string];
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    return expect.stringMatching(new RegExp(`^${esc(head)}.+${esc(tail)}$`));
  }
  if (Array.isArray(v)) return v.map((x) => expected(x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expected(x, k)]));
  return v;
}

let blinger: BlingerDouble;
let tb: ChatBridge;
const ex = examples();
const clients: ChatClient[] = [];

beforeAll(async () => {
  blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
  // The channel as the doc has it: a web chat with every setting at its default.
  tb = await startChatBridge({ channels: [webchatChannel({ id: CHANNEL, blingerUrl: blinger.url, token: TOKEN })] });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await tb?.stop();
  await blinger?.close();
});

/** The doc's URLs point at bridge.example.com; the test's bridge is elsewhere. */
const here = (v: Json): Json => JSON.parse(JSON.stringify(v).split('https://bridge.example.com').join(tb.url)) as Json;

function example(label: string, dir: 'send' | 'receive'): Json {
  const e = ex.get(label);
  expect(e, `docs/client-api.md has an example "${label}"`).toBeDefined();
  expect(e!.dir).toBe(dir);
  return here(e!.value);
}

async function connect(): Promise<ChatClient> {
  const c = await chatClient(`${tb.url.replace('http', 'ws')}/chat/${CHANNEL}/ws`);
  clients.push(c);
  return c;
}

const send = (c: ChatClient, label: string) => c.send(example(label, 'send'));
const idOf = (label: string) => (example(label, 'send') as { id: string }).id;

/** An ack whose message Blinger took before the ack left carries its status already: that is the doc's next step. */
function withoutEarlyStatus(f: Record<string, unknown>): Record<string, unknown> {
  const entry = { ...(f.entry as Record<string, unknown>) };
  if (entry.status === 'delivered') delete entry.status;
  return { ...f, entry };
}

describe('docs/client-api.md, run against a bridge', () => {
  it('hello, message, ticks, a reply, the history after a reconnect, a failed message and its resend, an upload, errors, versions', async () => {
    const key = (example('hello', 'send') as { key: string }).key;
    const c = await connect();
    send(c, 'hello');
    expect(await c.next('welcome')).toEqual(expected(example('welcome', 'receive')));
    expect((example('welcome', 'receive') as { clientId: string }).clientId).toBe(clientIdOf(key));

    // A message: sent (ack), then delivered (status) once Blinger took it.
    send(c, 'message');
    const id = idOf('message');
    expect(withoutEarlyStatus(await c.next('ack', (f) => f.id === id))).toEqual(expected(example('ack', 'receive')));
    expect(await c.next('status', (f) => f.id === id)).toEqual(expected(example('delivered', 'receive')));
    expect((await blinger.waitFor(1))[0]).toMatchObject({
      client_id: clientIdOf(key),
      client_name: 'Ada Lovelace',
      data: 'Hello, is my order on its way?',
    });

    // An agent answers in Blinger.
    const reply = example('reply', 'receive') as { entry: { data: string } };
    expect((await blinger.sendReply(tb.url, { client_id: clientIdOf(key), type: 'text', data: reply.entry.data })).status).toBe(200);
    expect(await c.next('message')).toEqual(expected(reply as Json));

    // Another connection of the same key: the whole history, with the message's state.
    const again = await connect();
    send(again, 'hello-again');
    expect(await again.next('welcome')).toEqual(expected(example('welcome-again', 'receive')));

    // Blinger refuses the next message: it fails, and is sent again as a new message.
    blinger.failNext(400);
    send(c, 'message-that-fails');
    const failedId = idOf('message-that-fails');
    await c.next('ack', (f) => f.id === failedId);
    expect(await c.next('status', (f) => f.id === failedId && f.status === 'failed')).toEqual(expected(example('failed', 'receive')));
    send(c, 'resend');
    const newId = idOf('resend');
    expect(withoutEarlyStatus(await c.next('ack', (f) => f.id === newId))).toEqual(expected(example('resend-ack', 'receive')));
    expect(await c.next('status', (f) => f.id === failedId && f.status === 'resent')).toEqual(expected(example('resent', 'receive')));
    await c.next('status', (f) => f.id === newId && f.status === 'delivered');
    await expect.poll(() => blinger.received.map((m) => m.data)).toContain('I would like a refund.');

    // An upload, with the doc's headers.
    const res = await fetch(`${tb.url}/chat/${CHANNEL}/upload`, {
      method: 'POST',
      body: pngBytes(1, 1),
      headers: {
        'content-type': 'image/png',
        'x-visitor-key': key,
        'x-message-id': 'm-0004-receipt',
        'x-file-name': 'receipt.png',
        'x-chat-context': encodeURIComponent(JSON.stringify({ name: 'Ada Lovelace' })),
      },
    });
    expect(res.status).toBe(200);
    expect(withoutEarlyStatus((await res.json()) as Record<string, unknown>)).toEqual(expected(example('upload', 'receive')));
    await c.next('status', (f) => f.id === 'm-0004-receipt' && f.status === 'delivered');

    // A bad frame: an error naming the field; the socket goes on.
    send(c, 'empty-message');
    expect(await c.next('error')).toEqual(expected(example('bad-frame', 'receive')));
    c.send({ type: 'ping' });
    await c.next('pong');

    // A client of a major version this bridge does not speak.
    const future = await connect();
    send(future, 'hello-v2');
    expect(await future.next('error')).toEqual(expected(example('unsupported-version', 'receive')));
    expect(await future.closed).toEqual({ code: 4426, reason: 'unsupported protocol version' });
  });

  it('uses every example of the doc', () => {
    // A new example must be run too: list it in the test above.
    expect([...ex.keys()].sort()).toEqual(
      [
        'hello',
        'welcome',
        'message',
        'ack',
        'delivered',
        'reply',
        'hello-again',
        'welcome-again',
        'message-that-fails',
        'failed',
        'resend',
        'resend-ack',
        'resent',
        'upload',
        'empty-message',
        'bad-frame',
        'hello-v2',
        'unsupported-version',
      ].sort(),
    );
  });
});
