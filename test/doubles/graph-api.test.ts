/**
 * Tests of the Graph API double (WhatsApp Cloud, Messenger, Instagram) over real HTTP: it must
 * behave like Meta's API and webhooks as docs/vendors/meta.md describes them, or the Meta
 * adapters' tests prove nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeMetaJson, GRAPH_ERRORS, signMetaBody, startGraphDouble, type GraphDouble } from './graph-api.js';

// ---------------------------------------------------------------- helpers

interface GraphAnswer {
  status: number;
  raw: string;
  // Graph bodies are free-form JSON; tests index into them freely.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  body: any;
}

async function call(
  g: GraphDouble,
  method: string,
  path: string,
  o: { token?: string | null; json?: unknown; form?: Record<string, string>; multipart?: FormData; root?: string } = {},
): Promise<GraphAnswer> {
  const headers: Record<string, string> = {};
  const token = o.token === undefined ? g.accounts.whatsapp.accessToken : o.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | FormData | undefined;
  if (o.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.json);
  } else if (o.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(o.form).toString();
  } else if (o.multipart) {
    body = o.multipart;
  }
  const res = await fetch(`${o.root ?? g.apiRoot}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const raw = await res.text();
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // media downloads and lookaside refusals are not JSON
  }
  return { status: res.status, raw, body: parsed };
}

const WA_USER = '16505551234';
const WA_BSUID = 'US.13491208655302741918';

function waText(to: string, body: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body }, ...extra };
}

function waSend(g: GraphDouble, json: unknown, version = 'v25.0'): Promise<GraphAnswer> {
  return call(g, 'POST', `/${version}/${g.accounts.whatsapp.phoneNumberId}/messages`, { json });
}

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
}

/** A stand-in for the bridge's webhook route: records raw requests, answers with `respond`. */
async function startReceiver(
  respond: (r: Received, n: number) => { status: number; body?: string } = () => ({ status: 200, body: 'EVENT_RECEIVED' }),
): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks) };
      received.push(r);
      const answer = respond(r, received.length);
      res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/whatsapp/test-channel`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers Meta's GET handshake like a correct bridge, and 200 to every POST. */
function handshake(verifyToken: string) {
  return (r: Received) => {
    if (r.method !== 'GET') return { status: 200, body: 'EVENT_RECEIVED' };
    const q = new URL(r.url, 'http://x').searchParams;
    return q.get('hub.mode') === 'subscribe' && q.get('hub.verify_token') === verifyToken
      ? { status: 200, body: q.get('hub.challenge') ?? '' }
      : { status: 403, body: 'Forbidden' };
  };
}

/** What the bridge must do: HMAC the raw bytes with the app secret and compare in constant time. */
function signatureValid(r: Received, secret: string): boolean {
  const header = r.headers['x-hub-signature-256'];
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signMetaBody(r.raw, secret));
  const got = Buffer.from(header);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

// ================================================================ tests

describe('Graph API double', () => {
  let now = Date.UTC(2026, 10, 20, 12, 0, 0);
  let g: GraphDouble;

  beforeAll(async () => {
    g = await startGraphDouble({ clock: () => now, seed: 7, limits: { uploadBytes: { image: 2000 } } });
  });
  afterEach(() => {
    g.reset();
    now = Date.UTC(2026, 10, 20, 12, 0, 0);
  });
  afterAll(() => g.close());

  describe('auth, versions and envelopes', () => {
    it('refuses a call without a token with 104 and one with an unknown token with 190, in Graph’s envelope', async () => {
      const none = await call(g, 'POST', `/v25.0/${g.accounts.whatsapp.phoneNumberId}/messages`, {
        token: null,
        json: waText(WA_USER, 'hi'),
      });
      expect(none.status).toBe(401);
      expect(none.body.error).toMatchObject({ code: 104, type: 'OAuthException' });
      expect(none.body.error.fbtrace_id).toEqual(expect.any(String));

      const r = await call(g, 'POST', `/v25.0/${g.accounts.whatsapp.phoneNumberId}/messages`, {
        token: 'EAAnotatoken',
        json: waText(WA_USER, 'hi'),
      });
      expect(r.status).toBe(401);
      expect(r.body.error).toMatchObject({ code: 190, message: expect.stringContaining('Invalid OAuth access token') });
      expect(g.sent).toHaveLength(0);
    });

    it('answers an expired token with 190/463 "Session has expired", until reset', async () => {
      g.openWindow(WA_USER);
      g.expireToken();
      const r = await waSend(g, waText(WA_USER, 'hi'));
      expect(r.body.error).toMatchObject({ code: 190, error_subcode: 463, message: expect.stringContaining('Session has expired') });
      g.reset();
      g.openWindow(WA_USER);
      expect((await waSend(g, waText(WA_USER, 'hi'))).status).toBe(200);
    });

    it('treats another account’s token as a missing object (100/33), not as success', async () => {
      g.openWindow(WA_USER);
      const r = await call(g, 'POST', `/v25.0/${g.accounts.whatsapp.phoneNumberId}/messages`, {
        token: g.accounts.messenger.accessToken,
        json: waText(WA_USER, 'hi'),
      });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 100, error_subcode: 33 });
    });

    it('records the Graph version of each call and accepts calls without one', async () => {
      g.openWindow(WA_USER);
      await waSend(g, waText(WA_USER, 'one'), 'v25.0');
      await call(g, 'POST', `/${g.accounts.whatsapp.phoneNumberId}/messages`, { json: waText(WA_USER, 'two') });
      expect(g.sent.map((s) => s.version)).toEqual(['v25.0', undefined]);
    });

    it('escapes slashes in its JSON answers like Graph does', async () => {
      const r = await call(g, 'GET', '/v25.0/999999', {});
      expect(r.raw).toContain('https:\\/\\/developers.facebook.com');
      expect(r.body.error.message).toContain('https://developers.facebook.com');
    });

    it('answers GET on the phone number, the Page and the Instagram account (what a check command reads)', async () => {
      const phone = await call(g, 'GET', `/v25.0/${g.accounts.whatsapp.phoneNumberId}`);
      expect(phone.body).toMatchObject({
        id: g.accounts.whatsapp.phoneNumberId,
        display_phone_number: g.accounts.whatsapp.displayPhoneNumber,
      });
      expect((await call(g, 'GET', '/v25.0/me', { token: g.accounts.messenger.accessToken })).body).toMatchObject({
        id: g.accounts.messenger.pageId,
      });
      expect((await call(g, 'GET', '/v25.0/me', { token: g.accounts.instagram.accessToken })).body).toMatchObject({
        user_id: g.accounts.instagram.accountId,
      });
      expect((await call(g, 'GET', `/v25.0/${g.accounts.messenger.pageId}`)).body.error).toMatchObject({ code: 100, error_subcode: 33 });
      expect((await call(g, 'GET', '/v25.0/me/feed')).body.error.code).toBe(2500);
    });

    it('can answer token errors with HTTP 400 instead of 401', async () => {
      const other = await startGraphDouble({ authErrorStatus: 400 });
      try {
        expect((await call(other, 'GET', `/v25.0/${other.accounts.whatsapp.phoneNumberId}`, { token: 'bad' })).status).toBe(400);
      } finally {
        await other.close();
      }
    });
  });

  describe('WhatsApp sends', () => {
    it('accepts a text inside the window and answers {messaging_product, contacts, messages:[{id}]}', async () => {
      g.openWindow(WA_USER);
      const r = await waSend(g, waText(`+${WA_USER}`, 'Hello', { text: { body: 'Hello', preview_url: true } }));
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        messaging_product: 'whatsapp',
        contacts: [{ input: `+${WA_USER}`, wa_id: WA_USER }],
        messages: [{ id: expect.stringMatching(/^wamid\./) }],
      });
      const [sent] = await g.waitForSent(1, 'whatsapp');
      expect(sent).toMatchObject({ channel: 'whatsapp', to: WA_USER, via: 'to', type: 'text', text: 'Hello', id: r.body.messages[0].id });
    });

    it('sends to a BSUID with `recipient` (answer carries user_id), and `to` wins when both are given', async () => {
      g.openWindow([WA_USER, WA_BSUID]);
      const byId = await waSend(g, { messaging_product: 'whatsapp', recipient: WA_BSUID, type: 'text', text: { body: 'hi' } });
      expect(byId.body.contacts).toEqual([{ input: WA_BSUID, user_id: WA_BSUID }]);
      const both = await waSend(g, { ...waText(WA_USER, 'hi'), recipient: WA_BSUID });
      expect(both.body.contacts).toEqual([{ input: WA_USER, wa_id: WA_USER }]);
      expect(g.sent.map((s) => s.via)).toEqual(['recipient', 'to']);
    });

    it('validates like Meta: code 100 with error_data.details naming the parameter', async () => {
      g.openWindow(WA_USER);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ to: WA_USER, type: 'text', text: { body: 'x' } }, 'messaging_product'],
        [waText(WA_USER, 'x'.repeat(4097)), "text['body']"],
        [waText(WA_USER, '   '), "text['body']"],
        [{ ...waText(WA_USER, 'x'), type: 'poll' }, 'type'],
        [{ messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } }, 'to'],
        [{ messaging_product: 'whatsapp', recipient: '13491208655302741918', type: 'text', text: { body: 'x' } }, 'recipient'],
        [{ messaging_product: 'whatsapp', to: WA_USER, type: 'image', image: { id: '1', link: 'https://x.test/a.jpg' } }, 'image'],
        [{ messaging_product: 'whatsapp', to: WA_USER, type: 'image', image: { id: '123456' } }, "image['id']"],
        [{ messaging_product: 'whatsapp', to: WA_USER, type: 'document', document: { link: 'ftp://x' } }, "document['link']"],
        [
          { messaging_product: 'whatsapp', to: WA_USER, type: 'audio', audio: { link: 'https://x.test/a.mp3', caption: 'c' } },
          "audio['caption']",
        ],
        [
          { messaging_product: 'whatsapp', to: WA_USER, type: 'image', image: { link: 'https://x.test/a.jpg', caption: 'c'.repeat(1025) } },
          "image['caption']",
        ],
        [{ messaging_product: 'whatsapp', to: WA_USER, type: 'template', template: { name: 'hello' } }, "template['language']['code']"],
        [{ messaging_product: 'whatsapp', to: WA_USER, type: 'location', location: { latitude: 1 } }, "location['longitude']"],
        [
          { messaging_product: 'whatsapp', to: WA_USER, type: 'contacts', contacts: [{ phones: [] }] },
          "contacts[0]['name']['formatted_name']",
        ],
        [{ messaging_product: 'whatsapp', to: WA_USER, type: 'reaction', reaction: { emoji: '👍' } }, "reaction['message_id']"],
        [{ messaging_product: 'whatsapp', to: WA_USER, type: 'text', text: { body: 'x' }, context: {} }, "context['message_id']"],
      ];
      for (const [json, param] of cases) {
        const r = await waSend(g, json);
        expect(r.status, param).toBe(400);
        expect(r.body.error.code, param).toBe(100);
        expect(r.body.error.error_data.details, param).toContain(param);
      }
      expect(g.sent).toHaveLength(0);
    });

    it('takes exactly 4096 characters of text', async () => {
      g.openWindow(WA_USER);
      expect((await waSend(g, waText(WA_USER, 'я'.repeat(4096)))).status).toBe(200);
    });

    it('checks interactive buttons and lists against Meta’s limits', async () => {
      g.openWindow(WA_USER);
      const button = (i: number, title = `B${i}`) => ({ type: 'reply', reply: { id: `id-${i}`, title } });
      const interactive = (action: unknown, type = 'button') => ({
        messaging_product: 'whatsapp',
        to: WA_USER,
        type: 'interactive',
        interactive: { type, body: { text: 'Pick one' }, action },
      });
      expect((await waSend(g, interactive({ buttons: [button(1), button(2), button(3)] }))).status).toBe(200);
      const tooMany = await waSend(g, interactive({ buttons: [button(1), button(2), button(3), button(4)] }));
      expect(tooMany.body.error.error_data.details).toContain("interactive['action']['buttons']");
      const longTitle = await waSend(g, interactive({ buttons: [button(1, 'x'.repeat(21))] }));
      expect(longTitle.body.error.error_data.details).toContain("interactive['action']['buttons'][0]['reply']['title']");
      const dup = await waSend(g, interactive({ buttons: [button(1, 'Same'), button(2, 'Same')] }));
      expect(dup.body.error.error_data.details).toContain('unique');
      const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, title: `Row ${i}` }));
      expect((await waSend(g, interactive({ button: 'Menu', sections: [{ title: 'S', rows: rows(10) }] }, 'list'))).status).toBe(200);
      const eleven = await waSend(g, interactive({ button: 'Menu', sections: [{ rows: rows(6) }, { rows: rows(5) }] }, 'list'));
      expect(eleven.body.error.error_data.details).toContain('at most 10 rows');
      const rowTitle = await waSend(g, interactive({ button: 'Menu', sections: [{ rows: [{ id: 'a', title: 'x'.repeat(25) }] }] }, 'list'));
      expect(rowTitle.body.error.error_data.details).toContain("['rows'][0]['title']");
      expect((await waSend(g, interactive({ name: 'request_contact_info' }, 'request_contact_info'))).status).toBe(200);
      const wrongName = await waSend(g, interactive({ name: 'send_location' }, 'request_contact_info'));
      expect(wrongName.body.error.error_data.details).toContain("interactive['action']['name']");
      expect(g.sent).toHaveLength(3);
    });

    it("contactShare() is the answer to request_contact_info: the user's own card, origin contact_request", () => {
      const payload = g.wa.contactShare('+1 650-555-1234', { user: { waId: null, userId: 'US.77', name: 'Ann Lee' } }) as {
        entry: Array<{ changes: Array<{ value: { messages: Array<Record<string, unknown>> } }> }>;
      };
      const msg = payload.entry[0]!.changes[0]!.value.messages[0]!;
      expect(msg.from).toBeUndefined();
      expect(msg.from_user_id).toBe('US.77');
      expect(msg.contacts).toEqual([
        {
          name: { formatted_name: 'Ann Lee', first_name: 'Ann', last_name: 'Lee' },
          origin: 'contact_request',
          phones: [{ phone: '+1 650-555-1234', wa_id: '16505551234', type: 'CELL' }],
        },
      ]);
    });

    it('refuses unknown templates with 132001 when templates are configured', async () => {
      const other = await startGraphDouble({ templates: ['reopen_conversation'] });
      try {
        const send = (name: string) =>
          waSend(other, { messaging_product: 'whatsapp', to: WA_USER, type: 'template', template: { name, language: { code: 'en' } } });
        expect((await send('reopen_conversation')).status).toBe(200);
        expect((await send('nope')).body.error.code).toBe(132001);
      } finally {
        await other.close();
      }
    });

    it('refuses an undeliverable user with 131026', async () => {
      g.openWindow(WA_USER);
      g.makeUnreachable(WA_USER);
      const r = await waSend(g, waText(WA_USER, 'hi'));
      expect(r.body.error).toMatchObject({ code: 131026 });
    });
  });

  describe('the 24-hour customer service window', () => {
    it('refuses a free-form message with 131047 until the user writes, and again 24 h after', async () => {
      const before = await waSend(g, waText(WA_USER, 'hi'));
      expect(before.status).toBe(400);
      expect(before.body.error).toMatchObject({ code: 131047, message: '(#131047) Re-engagement message' });

      const bridge = await startReceiver();
      try {
        await g.deliver(bridge.url, g.wa.text('Hello?'));
      } finally {
        await bridge.close();
      }
      expect((await waSend(g, waText(WA_USER, 'hi'))).status).toBe(200);
      now += 24 * 3_600_000 - 1;
      expect((await waSend(g, waText(WA_USER, 'still open'))).status).toBe(200);
      now += 1;
      expect((await waSend(g, waText(WA_USER, 'closed'))).body.error.code).toBe(131047);
    });

    it('lets templates through outside the window', async () => {
      const r = await waSend(g, {
        messaging_product: 'whatsapp',
        to: WA_USER,
        type: 'template',
        template: { name: 'reopen', language: { code: 'ru' } },
      });
      expect(r.status).toBe(200);
      expect(g.sent[0]).toMatchObject({ type: 'template', text: 'reopen' });
    });

    it('in accept-then-fail mode answers 200 with an id, then posts a failed status with 131047 to the subscribed URL', async () => {
      g.setWindowMode('accept-then-fail');
      const bridge = await startReceiver(handshake('verify-me'));
      try {
        await g.subscribe(bridge.url, 'verify-me');
        const r = await waSend(g, waText(WA_USER, 'late reply'));
        expect(r.status).toBe(200);
        const [delivery] = await g.waitForDeliveries(1);
        const status = JSON.parse(delivery!.rawBody.toString()).entry[0].changes[0].value.statuses[0];
        expect(status).toMatchObject({ id: r.body.messages[0].id, status: 'failed', recipient_id: WA_USER, errors: [{ code: 131047 }] });
        expect(g.sent[0]?.failsLater).toBe(true);
        expect(signatureValid(bridge.received[1]!, g.appSecret)).toBe(true);
      } finally {
        await bridge.close();
      }
    });

    it('closes at once while a failed status webhook waits to be redelivered', async () => {
      const other = await startGraphDouble({ windowMode: 'accept-then-fail', webhookRetry: { attempts: 3, delaysMs: [60_000] } });
      const bridge = await startReceiver((r) => (r.method === 'GET' ? handshake('t')(r) : { status: 500 }));
      try {
        await other.subscribe(bridge.url, 't');
        expect((await waSend(other, waText(WA_USER, 'late'))).status).toBe(200);
        await other.waitForDeliveries(1);
        await other.close();
        expect(other.deliveries).toHaveLength(1);
      } finally {
        await bridge.close();
      }
    });

    it('keeps the window per id: a username user with a hidden phone is reachable by BSUID only', async () => {
      const bridge = await startReceiver();
      try {
        const payload = g.wa.text('hi', { user: { waId: null, userId: 'BR.99887766554433', username: 'pablo' } });
        const msg = (payload as { entry: Array<{ changes: Array<{ value: { messages: Array<Record<string, unknown>> } }> }> }).entry[0]!
          .changes[0]!.value.messages[0]!;
        expect(msg.from).toBeUndefined();
        expect(msg.from_user_id).toBe('BR.99887766554433');
        await g.deliver(bridge.url, payload);
      } finally {
        await bridge.close();
      }
      expect(
        (await waSend(g, { messaging_product: 'whatsapp', recipient: 'BR.99887766554433', type: 'text', text: { body: 'ok' } })).status,
      ).toBe(200);
      expect((await waSend(g, waText('5511999990000', 'other user'))).body.error.code).toBe(131047);
    });
  });

  describe('limits', () => {
    it('enforces the pair rate (1 per 6 s per user) with 131056 when asked, per user', async () => {
      g.setEnforcePairRate(true);
      g.openWindow([WA_USER, '447700900123']);
      expect((await waSend(g, waText(WA_USER, 'one'))).status).toBe(200);
      const second = await waSend(g, waText(WA_USER, 'two'));
      expect(second.status).toBe(400);
      expect(second.body.error.code).toBe(131056);
      expect((await waSend(g, waText('447700900123', 'other user'))).status).toBe(200);
      now += 6000;
      expect((await waSend(g, waText(WA_USER, 'three'))).status).toBe(200);
    });

    it('can answer throttling with HTTP 429', async () => {
      const other = await startGraphDouble({ enforcePairRate: true, rateLimitStatus: 429 });
      try {
        other.openWindow(WA_USER);
        await waSend(other, waText(WA_USER, 'one'));
        const r = await waSend(other, waText(WA_USER, 'two'));
        expect(r.status).toBe(429);
        expect(r.body.error.code).toBe(131056);
      } finally {
        await other.close();
      }
    });

    it('enforces 80 messages per second per number with 130429 when asked', async () => {
      g.setEnforceThroughput(true);
      const users = Array.from({ length: 81 }, (_, i) => `4477009${String(i).padStart(5, '0')}`);
      g.openWindow(users);
      const answers = await Promise.all(users.map((u) => waSend(g, waText(u, 'bulk'))));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(80);
      const refused = answers.filter((a) => a.status !== 200);
      expect(refused.map((a) => a.body.error.code)).toEqual([130429]);
      now += 1000;
      expect((await waSend(g, waText(users[0]!, 'next second'))).status).toBe(200);
    });
  });

  describe('faults', () => {
    it('fails the next calls with injected errors, then serves normally', async () => {
      g.openWindow(WA_USER);
      g.failNext('whatsapp.messages', GRAPH_ERRORS.temporary, 2);
      const a = await waSend(g, waText(WA_USER, 'x'));
      const b = await waSend(g, waText(WA_USER, 'x'));
      expect([a.status, a.body.error.code, b.body.error.code]).toEqual([503, 2, 2]);
      expect((await waSend(g, waText(WA_USER, 'x'))).status).toBe(200);
    });

    it('applies a failure rate to every matching call', async () => {
      g.openWindow(WA_USER);
      g.setFailureRate('*', 1, GRAPH_ERRORS.unknown);
      const r = await waSend(g, waText(WA_USER, 'x'));
      expect([r.status, r.body.error.code]).toEqual([500, 1]);
    });

    it('hangs a call without answering, and the next one is served', async () => {
      g.openWindow(WA_USER);
      g.hangNext('whatsapp.messages');
      const url = `${g.apiRoot}/v25.0/${g.accounts.whatsapp.phoneNumberId}/messages`;
      const abort = new AbortController();
      const hung = fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${g.accounts.whatsapp.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(waText(WA_USER, 'x')),
        signal: abort.signal,
      }).then(
        () => 'answered',
        (err: Error) => err.name,
      );
      await g.waitForHanging(1);
      expect(g.calls.at(-1)?.endpoint).toBe('whatsapp.messages');
      expect(g.calls.at(-1)?.status).toBeUndefined();
      abort.abort();
      expect(await hung).toBe('AbortError');
      expect((await waSend(g, waText(WA_USER, 'y'))).status).toBe(200);
      expect(g.sent.map((s) => s.text)).toEqual(['y']);
    });
  });

  describe('media', () => {
    it('gives a media id from a webhook a 5-minute lookaside URL that needs the Bearer token', async () => {
      const content = Buffer.from('JPEG bytes of a cat');
      const payload = g.wa.image({ content, mime: 'image/jpeg', caption: 'cat' });
      const image = (
        payload as { entry: Array<{ changes: Array<{ value: { messages: Array<{ image: { id: string; sha256: string } }> } }> }> }
      ).entry[0]!.changes[0]!.value.messages[0]!.image;

      const info = await call(g, 'GET', `/v25.0/${image.id}`);
      expect(info.body).toMatchObject({ messaging_product: 'whatsapp', mime_type: 'image/jpeg', file_size: content.length, id: image.id });
      expect(info.body.sha256).toBe(image.sha256);
      expect(info.body.url.startsWith(`${g.lookasideRoot}/whatsapp_business/attachments/?mid=`)).toBe(true);
      expect(g.lookasideRoot).not.toBe(g.apiRoot);

      const download = (token?: string) => fetch(info.body.url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      const ok = await download(g.accounts.whatsapp.accessToken);
      expect([ok.status, ok.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
      expect(Buffer.from(await ok.arrayBuffer()).equals(content)).toBe(true);
      expect((await download()).status).toBe(401);
      expect((await download(g.accounts.messenger.accessToken)).status).toBe(401);

      now += 5 * 60_000;
      expect((await download(g.accounts.whatsapp.accessToken)).status).toBe(404);
      const fresh = await call(g, 'GET', `/v25.0/${image.id}`);
      expect((await fetch(fresh.body.url, { headers: { authorization: `Bearer ${g.accounts.whatsapp.accessToken}` } })).status).toBe(200);
    });

    it('forgets webhook media ids after 7 days', async () => {
      const { id } = g.addUserMedia({ content: Buffer.from('x'), mime: 'image/png' });
      now += 7 * 24 * 3_600_000;
      const r = await call(g, 'GET', `/v25.0/${id}`);
      expect(r.body.error).toMatchObject({ code: 100, error_subcode: 33 });
    });

    it('uploads a file of an accepted type and sends it by id', async () => {
      g.openWindow(WA_USER);
      const form = new FormData();
      form.append('messaging_product', 'whatsapp');
      form.append('file', new Blob([Buffer.from('PNG bytes')], { type: 'image/png' }), 'photo.png');
      const up = await call(g, 'POST', `/v25.0/${g.accounts.whatsapp.phoneNumberId}/media`, { multipart: form });
      expect(up.status).toBe(200);
      expect(up.body).toEqual({ id: expect.stringMatching(/^\d+$/) });
      expect(g.getMedia(up.body.id)).toMatchObject({ mime: 'image/png', filename: 'photo.png', origin: 'upload' });
      const sent = await waSend(g, {
        messaging_product: 'whatsapp',
        to: WA_USER,
        type: 'image',
        image: { id: up.body.id, caption: 'here' },
      });
      expect(sent.status).toBe(200);
    });

    it('refuses octet-stream, types with parameters and oversize files with Meta’s texts', async () => {
      const upload = async (blob: Blob, name: string, product = 'whatsapp') => {
        const form = new FormData();
        form.append('messaging_product', product);
        form.append('file', blob, name);
        return call(g, 'POST', `/v25.0/${g.accounts.whatsapp.phoneNumberId}/media`, { multipart: form });
      };
      const octet = await upload(new Blob([Buffer.from('?')]), 'x.bin');
      expect(octet.status).toBe(400);
      expect(octet.body.error.code).toBe(100);
      expect(octet.body.error.message).toMatch(
        /^\(#100\) Param file must be a file with one of the following types: .*audio\/ogg.*Received file of type 'application\/octet-stream'\.$/,
      );
      const opus = await upload(new Blob([Buffer.from('OggS')], { type: 'audio/ogg; codecs=opus' }), 'voice.ogg');
      expect(opus.body.error.message).toContain("Received file of type 'audio/ogg; codecs=opus'");
      expect((await upload(new Blob([Buffer.from('OggS')], { type: 'audio/ogg' }), 'voice.ogg')).status).toBe(200);
      const big = await upload(new Blob([Buffer.alloc(2001)], { type: 'image/jpeg' }), 'big.jpg');
      expect(big.body.error.error_data.details).toContain('at most 2000 bytes');
      expect(
        (await upload(new Blob([Buffer.from('x')], { type: 'text/plain' }), 'a.txt', 'messenger')).body.error.error_data.details,
      ).toContain('messaging_product');
    });
  });

  describe('Messenger and Instagram sends', () => {
    const fbSend = (json: unknown, token = g.accounts.messenger.accessToken, path = `/v25.0/${g.accounts.messenger.pageId}/messages`) =>
      call(g, 'POST', path, { token, json });

    it('refuses outside the window with 10/2018278, answers {recipient_id, message_id} inside it', async () => {
      const psid = g.fb.defaultUser;
      const msg = { recipient: { id: psid }, messaging_type: 'RESPONSE', message: { text: 'Hi!' } };
      const outside = await fbSend(msg);
      expect(outside.status).toBe(400);
      expect(outside.body.error).toMatchObject({
        code: 10,
        error_subcode: 2018278,
        message: expect.stringContaining('outside of allowed window'),
      });

      const bridge = await startReceiver();
      try {
        await g.deliver(bridge.url, g.fb.text('Hello page'));
      } finally {
        await bridge.close();
      }
      const inside = await fbSend(msg);
      expect(inside.body).toEqual({ recipient_id: psid, message_id: expect.stringMatching(/^m_/) });
      expect((await g.waitForSent(1, 'messenger'))[0]).toMatchObject({ to: psid, type: 'text', text: 'Hi!' });
    });

    it('lets a HUMAN_AGENT tag answer up to 7 days after the user wrote', async () => {
      const psid = g.fb.defaultUser;
      g.openWindow(psid);
      now += 3 * 24 * 3_600_000;
      const response = { recipient: { id: psid }, messaging_type: 'RESPONSE', message: { text: 'late' } };
      expect((await fbSend(response)).body.error.code).toBe(10);
      const tagged = { ...response, messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' };
      expect((await fbSend(tagged)).status).toBe(200);
      now += 4 * 24 * 3_600_000;
      expect((await fbSend(tagged)).body.error.error_subcode).toBe(2018278);
    });

    it('serves Instagram on /me/messages with the Instagram token and subcode 2534022 outside the window', async () => {
      const igsid = g.ig.defaultUser;
      const msg = { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'Привет' } };
      const outside = await call(g, 'POST', '/v25.0/me/messages', { token: g.accounts.instagram.accessToken, json: msg });
      expect(outside.body.error).toMatchObject({ code: 10, error_subcode: 2534022 });
      g.openWindow(igsid);
      const ok = await call(g, 'POST', '/v25.0/me/messages', { token: g.accounts.instagram.accessToken, json: msg });
      expect(ok.body.recipient_id).toBe(igsid);
      expect(g.sent[0]).toMatchObject({ channel: 'instagram', text: 'Привет' });
    });

    it('checks text length (Messenger 2000 characters, Instagram 1000 bytes), attachments and required fields', async () => {
      const psid = g.fb.defaultUser;
      g.openWindow([psid, g.ig.defaultUser]);
      const text = (t: string) => ({ recipient: { id: psid }, messaging_type: 'RESPONSE', message: { text: t } });
      expect((await fbSend(text('x'.repeat(2000)))).status).toBe(200);
      expect((await fbSend(text('x'.repeat(2001)))).body.error.message).toContain('message[text]');
      const ig = (t: string) =>
        call(g, 'POST', `/v25.0/${g.accounts.instagram.accountId}/messages`, {
          token: g.accounts.instagram.accessToken,
          json: { recipient: { id: g.ig.defaultUser }, messaging_type: 'RESPONSE', message: { text: t } },
        });
      expect((await ig('ж'.repeat(500))).status).toBe(200);
      expect((await ig('ж'.repeat(501))).body.error.message).toContain('1000 bytes');
      const attachment = {
        recipient: { id: psid },
        messaging_type: 'RESPONSE',
        message: { attachment: { type: 'image', payload: { url: 'https://x.test/a.png', is_reusable: true } } },
      };
      expect((await fbSend(attachment)).status).toBe(200);
      expect((await fbSend({ recipient: { id: psid }, message: { text: 'no type' } })).body.error.message).toContain('messaging_type');
      expect((await fbSend({ ...text('x'), messaging_type: 'MESSAGE_TAG', tag: 'NOPE' })).body.error.message).toContain('tag');
      expect(g.sent.map((s) => s.type)).toEqual(['text', 'text', 'image']);
    });

    it('accepts form-encoded sends with Meta’s single-quoted JSON, and refuses an unavailable person with 551', async () => {
      const psid = g.fb.defaultUser;
      g.openWindow(psid);
      const form = { recipient: `{'id':'${psid}'}`, messaging_type: 'RESPONSE', message: "{'text':'hello, world'}" };
      const ok = await call(g, 'POST', `/v25.0/${g.accounts.messenger.pageId}/messages`, {
        token: null,
        form: { ...form, access_token: g.accounts.messenger.accessToken },
      });
      expect(ok.status).toBe(200);
      g.makeUnreachable(psid, 'unavailable');
      const gone = await fbSend({ recipient: { id: psid }, messaging_type: 'RESPONSE', message: { text: 'x' } });
      expect(gone.body.error).toMatchObject({ code: 551, error_subcode: 1545041 });
    });
  });

  describe('webhook sender', () => {
    it('does the verification GET like Meta and reports whether the challenge came back', async () => {
      const bridge = await startReceiver(handshake('right-token'));
      try {
        const good = await g.verify(bridge.url, 'right-token');
        expect(good).toMatchObject({ ok: true, status: 200 });
        expect(good.body).toBe(good.challenge);
        const q = new URL(bridge.received[0]!.url, 'http://x').searchParams;
        expect([q.get('hub.mode'), q.get('hub.verify_token'), q.get('hub.challenge')]).toEqual([
          'subscribe',
          'right-token',
          good.challenge,
        ]);
        expect(await g.verify(bridge.url, 'wrong-token')).toMatchObject({ ok: false, status: 403 });
        await expect(g.subscribe(bridge.url, 'wrong-token')).rejects.toThrow(/verification/);
        expect(g.subscribedUrl).toBeUndefined();
      } finally {
        await bridge.close();
      }
    });

    it('signs the exact bytes with the app secret and escapes non-ASCII and slashes like Meta', async () => {
      const bridge = await startReceiver();
      try {
        const payload = g.wa.text('Привет 👋 café https://example.com/a');
        const result = await g.deliver(bridge.url, payload);
        expect(result).toMatchObject({ delivered: true, status: 200, responseBody: 'EVENT_RECEIVED' });
        const r = bridge.received[0]!;
        expect(signatureValid(r, g.appSecret)).toBe(true);
        expect(signatureValid(r, 'another-secret')).toBe(false);
        expect(r.headers['x-hub-signature']).toBe(`sha1=${createHmac('sha1', g.appSecret).update(r.raw).digest('hex')}`);
        expect(r.headers['content-type']).toBe('application/json');

        const raw = r.raw.toString('latin1');
        expect([...r.raw].every((b) => b < 0x80)).toBe(true);
        expect(raw).toContain('\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442 \\ud83d\\udc4b caf\\u00e9 https:\\/\\/example.com\\/a');
        expect(JSON.parse(raw)).toEqual(payload);
        // The trap the bridge must avoid: the re-serialised JSON is other bytes with another HMAC.
        expect(signMetaBody(JSON.stringify(JSON.parse(raw)), g.appSecret)).not.toBe(r.headers['x-hub-signature-256']);
      } finally {
        await bridge.close();
      }
    });

    it('offers the legacy Messenger escaping, wrong and missing signatures', async () => {
      expect(encodeMetaJson({ t: 'a@b%c<d/é' }, 'legacy')).toBe('{"t":"a\\u0040b\\u0025c\\u003cd\\/\\u00e9"}');
      expect(encodeMetaJson({ t: 'a@b/é' }, 'plain')).toBe('{"t":"a@b/é"}');
      const bridge = await startReceiver();
      try {
        await g.deliver(bridge.url, g.fb.text('hi'), { signature: 'wrong', attempts: 1 });
        await g.deliver(bridge.url, g.fb.text('hi'), { signature: 'missing', attempts: 1 });
        expect(signatureValid(bridge.received[0]!, g.appSecret)).toBe(false);
        expect(bridge.received[1]!.headers['x-hub-signature-256']).toBeUndefined();
      } finally {
        await bridge.close();
      }
    });

    it('redelivers the same signed bytes until it gets 200 (a 204 counts as failed, as Meta says)', async () => {
      const statuses = [503, 204, 200];
      const bridge = await startReceiver((_r, n) => ({ status: statuses[n - 1] ?? 200 }));
      try {
        const result = await g.deliver(bridge.url, g.wa.text('retry me'), { attempts: 5, retryDelaysMs: [5] });
        expect(result.delivered).toBe(true);
        expect(result.attempts.map((a) => a.status)).toEqual([503, 204, 200]);
        expect(new Set(bridge.received.map((r) => r.raw.toString())).size).toBe(1);
        expect(new Set(bridge.received.map((r) => r.headers['x-hub-signature-256'])).size).toBe(1);
        expect(g.deliveries).toHaveLength(3);
      } finally {
        await bridge.close();
      }
      const gone = await g.deliver(bridge.url, g.wa.text('nobody home'), { attempts: 2, retryDelaysMs: [5] });
      expect(gone.delivered).toBe(false);
      expect(gone.attempts.map((a) => [a.status, typeof a.error])).toEqual([
        [0, 'string'],
        [0, 'string'],
      ]);
    });

    it('batches several messages, changes or entries into one POST', async () => {
      const three = [
        g.wa.text('one'),
        g.wa.text('two', { user: { waId: '447700900123', userId: 'GB.1', name: 'Bob' } }),
        g.wa.reaction('wamid.X', '👍'),
      ];
      const merged = g.batch(three) as { entry: Array<{ changes: Array<{ value: { messages: unknown[]; contacts: unknown[] } }> }> };
      expect(merged.entry).toHaveLength(1);
      expect(merged.entry[0]!.changes).toHaveLength(1);
      expect(merged.entry[0]!.changes[0]!.value.messages).toHaveLength(3);
      expect(merged.entry[0]!.changes[0]!.value.contacts).toHaveLength(3);
      expect((g.batch(three, 'changes') as { entry: Array<{ changes: unknown[] }> }).entry[0]!.changes).toHaveLength(3);
      expect((g.batch(three, 'entries') as { entry: unknown[] }).entry).toHaveLength(3);
      const fb = g.batch([g.fb.text('a'), g.fb.postback({ title: 'Start', payload: 'GET_STARTED' })]) as {
        object: string;
        entry: Array<{ messaging: unknown[] }>;
      };
      expect([fb.object, fb.entry.length, fb.entry[0]!.messaging.length]).toEqual(['page', 1, 2]);

      const bridge = await startReceiver();
      try {
        await g.deliver(bridge.url, merged);
        expect(bridge.received).toHaveLength(1);
      } finally {
        await bridge.close();
      }
      expect(g.isWindowOpen('447700900123')).toBe(true);
      expect(g.isWindowOpen('GB.1')).toBe(true);
    });

    it('builds every WhatsApp message type and status in the documented shape', () => {
      type Value = {
        metadata: Record<string, string>;
        contacts?: Array<Record<string, unknown>>;
        messages?: Array<Record<string, unknown>>;
        statuses?: Array<Record<string, unknown>>;
      };
      const value = (p: object) =>
        (p as { object: string; entry: Array<{ changes: Array<{ value: Value; field: string }> }> }).entry[0]!.changes[0]!.value;
      const msg = (p: object) => value(p).messages![0]!;

      const text = g.wa.text('hi', { replyTo: 'wamid.PREV' });
      expect(text).toMatchObject({
        object: 'whatsapp_business_account',
        entry: [{ id: g.accounts.whatsapp.wabaId, changes: [{ field: 'messages' }] }],
      });
      expect(value(text).metadata).toEqual({
        display_phone_number: g.accounts.whatsapp.displayPhoneNumber,
        phone_number_id: g.accounts.whatsapp.phoneNumberId,
      });
      expect(value(text).contacts).toEqual([{ profile: { name: 'Sheena Nelson' }, wa_id: WA_USER, user_id: WA_BSUID }]);
      expect(msg(text)).toMatchObject({
        from: WA_USER,
        from_user_id: WA_BSUID,
        type: 'text',
        text: { body: 'hi' },
        context: { id: 'wamid.PREV' },
      });
      expect(msg(text).id).toMatch(/^wamid\./);
      expect(msg(text).timestamp).toBe(String(Math.floor(now / 1000)));

      for (const [payload, type] of [
        [g.wa.image({ caption: 'c' }), 'image'],
        [g.wa.video(), 'video'],
        [g.wa.document({ filename: 'a.pdf' }), 'document'],
        [g.wa.sticker({ animated: true }), 'sticker'],
      ] as const) {
        const media = msg(payload)[type] as Record<string, string>;
        expect(Object.keys(media), type).toEqual(expect.arrayContaining(['mime_type', 'sha256', 'id', 'url']));
        expect(g.getMedia(media.id!)?.origin, type).toBe('user');
      }
      expect(msg(g.wa.audio()).audio).toMatchObject({ voice: true, mime_type: 'audio/ogg; codecs=opus' });
      expect(msg(g.wa.location({ latitude: 55.75, longitude: 37.62, name: 'Red Square' })).location).toMatchObject({
        latitude: 55.75,
        name: 'Red Square',
      });
      expect(msg(g.wa.contacts([{ name: 'Ivan Petrov', phone: '+7 900 000-00-00', waId: '79000000000' }])).contacts).toEqual([
        {
          name: { formatted_name: 'Ivan Petrov', first_name: 'Ivan', last_name: 'Petrov' },
          phones: [{ phone: '+7 900 000-00-00', wa_id: '79000000000', type: 'CELL' }],
        },
      ]);
      expect(msg(g.wa.buttonReply({ id: 'yes', title: 'Yes' }, 'wamid.Q'))).toMatchObject({
        type: 'interactive',
        interactive: { type: 'button_reply', button_reply: { id: 'yes', title: 'Yes' } },
        context: { from: g.accounts.whatsapp.displayPhoneNumber, id: 'wamid.Q' },
      });
      expect(msg(g.wa.listReply({ id: 'r1', title: 'Row', description: 'd' }, 'wamid.Q')).interactive).toMatchObject({
        type: 'list_reply',
      });
      expect(msg(g.wa.templateButton({ text: 'Stop', payload: 'STOP' }, 'wamid.T'))).toMatchObject({
        type: 'button',
        button: { text: 'Stop', payload: 'STOP' },
      });
      expect(msg(g.wa.reaction('wamid.R', '❤️')).reaction).toEqual({ message_id: 'wamid.R', emoji: '❤️' });
      expect(msg(g.wa.reaction('wamid.R')).reaction).toEqual({ message_id: 'wamid.R' });
      expect(msg(g.wa.unsupported('poll_creation'))).toMatchObject({
        type: 'unsupported',
        unsupported: { type: 'poll_creation' },
        errors: [{ code: 131051 }],
      });

      const sent = { id: 'wamid.OUT', to: WA_USER, via: 'to' };
      const delivered = value(g.wa.status(sent, 'delivered', { user: { username: 'sheena' } }));
      expect(delivered.statuses![0]).toMatchObject({
        id: 'wamid.OUT',
        status: 'delivered',
        recipient_id: WA_USER,
        recipient_user_id: WA_BSUID,
      });
      expect(delivered.contacts![0]).toMatchObject({ profile: { username: 'sheena' }, wa_id: WA_USER, user_id: WA_BSUID });
      const failed = value(g.wa.status(sent, 'failed'));
      expect(failed.contacts).toBeUndefined();
      expect(failed.statuses![0]).toMatchObject({
        status: 'failed',
        errors: [{ code: 131047, error_data: { details: expect.any(String) } }],
      });
      expect(failed.statuses![0]!.recipient_user_id).toBeUndefined();
    });

    it('builds Messenger and Instagram events with sender, recipient, timestamp and message/postback', async () => {
      const fbText = g.fb.text('hi', { quickReply: 'QR', replyTo: 'm_prev' }) as {
        object: string;
        entry: Array<{ id: string; messaging: Array<Record<string, unknown>> }>;
      };
      expect(fbText.object).toBe('page');
      expect(fbText.entry[0]!.id).toBe(g.accounts.messenger.pageId);
      expect(fbText.entry[0]!.messaging[0]).toMatchObject({
        sender: { id: g.fb.defaultUser },
        recipient: { id: g.accounts.messenger.pageId },
        timestamp: now,
        message: { text: 'hi', quick_reply: { payload: 'QR' }, reply_to: { mid: 'm_prev' } },
      });
      const igImage = g.ig.attachment('image', { content: Buffer.from('img'), mime: 'image/png' }) as {
        object: string;
        entry: Array<{ messaging: Array<{ message: { attachments: Array<{ payload: { url: string } }> } }> }>;
      };
      expect(igImage.object).toBe('instagram');
      const url = igImage.entry[0]!.messaging[0]!.message.attachments[0]!.payload.url;
      const cdn = await fetch(url);
      expect([cdn.status, await cdn.text()]).toEqual([200, 'img']);
      expect(
        (g.fb.echo('from the inbox') as { entry: Array<{ messaging: Array<{ message: Record<string, unknown> }> }> }).entry[0]!
          .messaging[0]!.message,
      ).toMatchObject({ is_echo: true });
      expect(
        (g.fb.postback({ title: 'Start', payload: 'GET_STARTED' }) as { entry: Array<{ messaging: Array<Record<string, unknown>> }> })
          .entry[0]!.messaging[0]!.postback,
      ).toMatchObject({
        title: 'Start',
        payload: 'GET_STARTED',
        mid: expect.any(String),
      });

      const bridge = await startReceiver();
      try {
        await g.deliver(bridge.url, g.fb.echo('echo'));
      } finally {
        await bridge.close();
      }
      expect(g.isWindowOpen(g.fb.defaultUser)).toBe(false);
    });
  });
});
