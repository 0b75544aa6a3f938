/**
 * WhatsApp Cloud API end to end: Meta's webhook (the Graph double signs and escapes like Meta)
 * → the bridge → the Blinger double, and agents' replies back through the Cloud API double —
 * handshake, signatures on the raw bytes, dedupe, batches, media through signed links, uploads,
 * the 24-hour window (refused at once or failed later), rate limits and an expired token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GRAPH_ERRORS } from '../doubles/graph-api.js';
import { startMetaStack, VERIFY_TOKEN, type MetaStack } from '../helpers/meta.js';
import { startFileServer, type FileServer } from '../helpers/files.js';

const BSUID = 'US.13491208655302741918';
let stack: MetaStack | undefined;
let files: FileServer | undefined;

afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  await files?.close();
  files = undefined;
});

async function start(o: Parameters<typeof startMetaStack>[1] = {}): Promise<MetaStack> {
  stack = await startMetaStack('whatsapp', o);
  return stack;
}

const reply = (s: MetaStack, data: string, type: 'text' | 'image' | 'file' = 'text', client_id = BSUID) =>
  s.blinger.sendReply(s.tb.url, { client_id, type, data });

async function deadLetters(s: MetaStack): Promise<Array<{ code: string; reason: string }>> {
  const store = s.tb.bridge.outbound.store;
  return (await store.redis.hvals(store.dlqKey)).map((l) => JSON.parse(l) as { code: string; reason: string });
}

describe('WhatsApp webhook', () => {
  it('answers Meta’s verification with the challenge; a wrong verify token is 403, a malformed one 400', async () => {
    const s = await start();
    await s.g.subscribe(s.webhook, VERIFY_TOKEN);
    expect(s.g.subscribedUrl).toBe(s.webhook);
    const wrong = await s.g.verify(s.webhook, 'not-the-token');
    expect(wrong).toMatchObject({ ok: false, status: 403 });
    const badMode = await s.g.verify(s.webhook, VERIFY_TOKEN, { mode: 'unsubscribe' });
    expect(badMode.status).toBe(400);
    const unknown = await s.g.verify(`${s.tb.url}/whatsapp/nope`, VERIFY_TOKEN);
    expect(unknown.status).toBe(404);
  });

  it('a message reaches Blinger keyed by the BSUID, with name and phone; 200 only after it is queued; a redelivery is a no-op', async () => {
    const s = await start();
    const payload = s.g.wa.text('Привет! Is my order 😀 ready?', { id: 'wamid.first' });
    const r = await s.g.deliver(s.webhook, payload);
    expect(r).toMatchObject({ delivered: true, status: 200 });
    expect(JSON.parse(r.responseBody)).toMatchObject({ ok: true, queued: 1, duplicate: 0 });
    // Meta's bytes carry \uXXXX escapes: the signature was checked on them, not on re-serialised JSON.
    expect(r.rawBody.toString()).toContain('\\u041f\\u0440\\u0438');
    const [m] = await s.blinger.waitFor(1);
    expect(m).toMatchObject({
      client_id: BSUID,
      client_name: 'Sheena Nelson',
      client_phone: '+16505551234',
      type: 'text',
      data: 'Привет! Is my order 😀 ready?',
      info: { wa_id: '16505551234', user_id: BSUID, message_id: 'wamid.first' },
    });
    const again = await s.g.deliver(s.webhook, payload);
    expect(JSON.parse(again.responseBody)).toMatchObject({ queued: 0, duplicate: 1 });
    const later = await s.g.deliver(s.webhook, s.g.wa.text('second'));
    expect(later.status).toBe(200);
    await s.blinger.waitFor(2);
    expect(s.blinger.received.map((x) => x.data)).toEqual(['Привет! Is my order 😀 ready?', 'second']);
  });

  it('a wrong or missing signature is 401 and nothing is queued; a signed body of the wrong shape is 400', async () => {
    const s = await start();
    const wrong = await s.g.deliver(s.webhook, s.g.wa.text('forged'), { signature: 'wrong', attempts: 1 });
    expect(wrong.status).toBe(401);
    const missing = await s.g.deliver(s.webhook, s.g.wa.text('unsigned'), { signature: 'missing', attempts: 1 });
    expect(missing.status).toBe(401);
    const otherObject = await s.g.deliver(s.webhook, { object: 'page', entry: [] }, { attempts: 1 });
    expect(otherObject.status).toBe(400);
    expect(otherObject.responseBody).toContain('object');
    const noEntry = await s.g.deliver(s.webhook, { object: 'whatsapp_business_account', entry: [{ changes: 'x' }] }, { attempts: 1 });
    expect(noEntry.status).toBe(400);
    expect(noEntry.responseBody).toContain('entry.0.changes');
    // The legacy encoding (< % @ escaped too) verifies as well.
    expect((await s.g.deliver(s.webhook, s.g.wa.text('a@b <c> 100%'), { encoding: 'legacy' })).status).toBe(200);
    const [m] = await s.blinger.waitFor(1);
    expect(m!.data).toBe('a@b <c> 100%');
    expect(s.blinger.received).toHaveLength(1);
  });

  it('a batched POST is one queued event per message, each conversation in order', async () => {
    const s = await start();
    const anna = { user: { waId: '4915112345678', userId: 'DE.1234567890', name: 'Anna' } };
    const batch = s.g.batch(
      [
        s.g.wa.text('anna 1', anna),
        s.g.wa.text('sheena 1'),
        s.g.wa.text('anna 2', anna),
        s.g.wa.image({ caption: 'anna 3' }, anna),
        s.g.wa.status({ id: 'wamid.x', to: '16505551234', via: 'to' }, 'delivered'),
      ],
      'changes',
    );
    const r = await s.g.deliver(s.webhook, batch);
    expect(JSON.parse(r.responseBody)).toMatchObject({ queued: 4, skipped: 1 });
    await s.blinger.waitFor(5);
    const byClient = s.blinger.byClient();
    expect(byClient.get('DE.1234567890')!.map((m) => (m.type === 'text' ? m.data : m.type))).toEqual([
      'anna 1',
      'anna 2',
      'image',
      'anna 3',
    ]);
    expect(byClient.get(BSUID)!.map((m) => m.data)).toEqual(['sheena 1']);
  });

  it('takes a batch over the server’s usual 1 MiB (Meta sends up to 3 MB)', async () => {
    const s = await start();
    const users = [0, 1, 2].map((i) => ({ user: { waId: `4915100000${i}`, userId: `DE.900${i}`, name: `U${i}` } }));
    const texts = Array.from({ length: 300 }, (_, i) => `${i} ${'ж'.repeat(600)}`); // escaped: 6 bytes a letter
    const batch = s.g.batch(texts.map((t, i) => s.g.wa.text(t, users[i % 3])));
    const r = await s.g.deliver(s.webhook, batch);
    expect(r.rawBody.length).toBeGreaterThan(1024 * 1024);
    expect(r.status).toBe(200);
    await s.blinger.waitFor(300, 30_000);
    expect(
      s.blinger
        .byClient()
        .get('DE.9001')!
        .map((m) => m.data),
    ).toEqual(texts.filter((_, i) => i % 3 === 1));
  });

  it('media reach Blinger as signed links served from the 5-minute URL with the token, even long after the webhook', async () => {
    const s = await start();
    const bytes = Buffer.from('%PDF-1.4 the invoice');
    await s.g.deliver(s.webhook, s.g.wa.document({ content: bytes, filename: 'invoice.pdf', caption: 'my invoice' }));
    const [file, caption] = await s.blinger.waitFor(2);
    expect(file).toMatchObject({ type: 'file' });
    expect(caption).toMatchObject({ type: 'text', data: 'my invoice' });
    expect(file!.data.startsWith(`${s.tb.url}/media/`)).toBe(true);
    for (const secret of [s.g.accounts.whatsapp.accessToken, s.g.lookasideRoot, 'lookaside']) expect(file!.data).not.toContain(secret);
    // Lookaside URLs live five minutes: the link still works later, because it asks for a fresh one.
    s.g.advanceClock(30 * 60_000);
    const res = await fetch(file!.data);
    expect(res.status).toBe(200);
    // A PDF is a download under its own name (the inert-media rule).
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; .*invoice\.pdf/);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    const downloads = s.g.calls.filter((c) => c.endpoint === 'media.download');
    expect(downloads).toEqual([expect.objectContaining({ status: 200 })]);
    // Media ids from webhooks live 7 days: then the link says the file is gone.
    s.g.advanceClock(8 * 24 * 3_600_000);
    expect((await fetch(file!.data)).status).toBe(404);
  });
});

describe('WhatsApp sends', () => {
  it('an agent’s long text goes in 4096-character parts to the BSUID, in order', async () => {
    const s = await start();
    s.g.openWindow(BSUID);
    const long = `${'word '.repeat(1000)}\n${'end '.repeat(100)}`.trim();
    expect((await reply(s, long)).status).toBe(200);
    const sent = await s.g.waitForSent(2, 'whatsapp');
    expect(sent.map((x) => [x.to, x.via, x.type])).toEqual([
      [BSUID, 'recipient', 'text'],
      [BSUID, 'recipient', 'text'],
    ]);
    expect(sent.every((x) => (x.text ?? '').length <= 4096)).toBe(true);
    // Split at a word boundary; only the whitespace at the split point is dropped.
    expect(
      sent
        .map((x) => x.text)
        .join(' ')
        .replace(/\s+/g, ' '),
    ).toBe(long.replace(/\s+/g, ' '));
  });

  it('images and files are uploaded with WhatsApp’s type for them; a type WhatsApp takes in no form goes as a link', async () => {
    const png = Buffer.from('\x89PNG\r\n\x1a\n fake png');
    const pdf = Buffer.from('%PDF-1.7 report');
    files = await startFileServer({
      '/photo.png': { body: png, type: 'image/png' },
      '/report.pdf': { body: pdf, type: 'application/octet-stream' },
      '/voice.ogg': { body: Buffer.from('OggS'), type: 'audio/ogg; codecs=opus' },
      '/archive.zip': { body: Buffer.from('PK'), type: 'application/zip' },
    });
    const s = await start();
    s.g.openWindow(BSUID);
    await reply(s, `${files.url}/photo.png`, 'image');
    await reply(s, `${files.url}/report.pdf`, 'file');
    await reply(s, `${files.url}/voice.ogg`, 'file');
    await reply(s, `${files.url}/archive.zip`, 'file');
    const sent = await s.g.waitForSent(4, 'whatsapp');
    expect(sent.map((x) => x.type)).toEqual(['image', 'document', 'audio', 'text']);
    const media = (i: number) => s.g.getMedia((sent[i]!.body[sent[i]!.type] as { id: string }).id)!;
    expect(media(0)).toMatchObject({ mime: 'image/png', content: png, origin: 'upload' });
    // Served as octet-stream, named .pdf: uploaded as application/pdf, the name kept.
    expect(media(1)).toMatchObject({ mime: 'application/pdf', content: pdf, filename: 'report.pdf' });
    expect(sent[1]!.body.document).toMatchObject({ filename: 'report.pdf' });
    // "audio/ogg; codecs=opus" would be refused by Meta: uploaded with the bare type.
    expect(media(2).mime).toBe('audio/ogg');
    expect(sent[3]!.text).toBe(`archive.zip: ${files.url}/archive.zip`);
    expect(s.g.calls.filter((c) => c.endpoint === 'whatsapp.media').every((c) => c.status === 200)).toBe(true);
  });

  it('a file over WhatsApp’s limit for its type goes as a link, whether its size is announced or found while streaming', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 1, 1);
    files = await startFileServer({
      '/big.png': { body: big, type: 'image/png' },
      '/big-stream.png': { body: big, type: 'image/png', chunked: true },
    });
    const s = await start();
    s.g.openWindow(BSUID);
    await reply(s, `${files.url}/big.png`, 'image');
    await reply(s, `${files.url}/big-stream.png`, 'image');
    const sent = await s.g.waitForSent(2, 'whatsapp');
    expect(sent.map((x) => x.text)).toEqual([`big.png: ${files.url}/big.png`, `big-stream.png: ${files.url}/big-stream.png`]);
    // Announced: not even uploaded. Streamed: the upload was cut off at the limit, never accepted.
    expect(s.g.calls.filter((c) => c.endpoint === 'whatsapp.media' && c.status === 200)).toEqual([]);
    expect(await deadLetters(s)).toEqual([]);
  });

  it('with mediaBy: link, WhatsApp fetches the file itself', async () => {
    const s = await start({ adapter: { mediaBy: 'link' } });
    s.g.openWindow(BSUID);
    await reply(s, 'https://files.example/p.jpg', 'image');
    await reply(s, 'https://files.example/docs/terms.pdf', 'file');
    const sent = await s.g.waitForSent(2, 'whatsapp');
    expect(sent.map((x) => x.body[x.type])).toEqual([
      { link: 'https://files.example/p.jpg' },
      { link: 'https://files.example/docs/terms.pdf', filename: 'terms.pdf' },
    ]);
  });

  it('outside the 24-hour window (refused at once): dead letter, the agent is told, the template re-opens once', async () => {
    const s = await start({ adapter: { template: 'reopen_chat:en' }, double: { templates: ['reopen_chat'] } });
    await reply(s, 'are you still there?');
    const [notice] = await s.blinger.waitFor(1);
    expect(notice).toMatchObject({ client_id: BSUID, echo: true, echo_outgoing: true });
    expect(notice!.data).toMatch(/^Not delivered: more than 24 hours have passed .*template "reopen_chat"/);
    const templates = await s.g.waitForSent(1, 'whatsapp');
    expect(templates[0]).toMatchObject({ type: 'template', text: 'reopen_chat', to: BSUID });
    expect(templates[0]!.body.template).toEqual({ name: 'reopen_chat', language: { code: 'en' } });
    expect(await deadLetters(s)).toEqual([expect.objectContaining({ code: 'window_closed' })]);
    // A second refused reply tells the agent again but sends no second template the same day.
    await reply(s, 'hello?');
    await s.blinger.waitFor(2);
    await expect.poll(async () => (await deadLetters(s)).length).toBe(2);
    expect(s.g.sent.filter((x) => x.type === 'template')).toHaveLength(1);
  });

  it('outside the window (accepted, then a failed status webhook): the agent is told, the template re-opens', async () => {
    const s = await start({ adapter: { template: 'reopen_chat' }, double: { windowMode: 'accept-then-fail' } });
    await s.g.subscribe(s.webhook, VERIFY_TOKEN);
    await reply(s, 'late answer');
    const [notice] = await s.blinger.waitFor(1);
    expect(notice).toMatchObject({ client_id: BSUID, echo: true, echo_outgoing: true, info: { error_code: 131047 } });
    expect(notice!.data).toMatch(/^Not delivered: more than 24 hours/);
    await expect.poll(() => s.g.sent.filter((x) => x.type === 'template').length).toBe(1);
    expect(await deadLetters(s)).toEqual([]); // WhatsApp had accepted it: nothing to retry
  });

  it('an undeliverable user: no retry, dead letter, the agent is told', async () => {
    const s = await start();
    s.g.openWindow(BSUID);
    s.g.makeUnreachable(BSUID);
    await reply(s, 'hello');
    const [notice] = await s.blinger.waitFor(1);
    expect(notice!.data).toMatch(/^Not delivered: WhatsApp could not deliver to this user/);
    expect(s.g.calls.filter((c) => c.endpoint === 'whatsapp.messages')).toHaveLength(1);
    expect(await deadLetters(s)).toEqual([expect.objectContaining({ code: 'undeliverable' })]);
  });

  it('throughput (130429, as HTTP 400 or 429) waits and then delivers; 5xx and code 2 are retried', async () => {
    const s = await start({ double: { rateLimitStatus: 429 } });
    s.g.openWindow(BSUID);
    s.g.failNext('whatsapp.messages', {
      status: 429,
      code: 130429,
      message: '(#130429) Rate limit hit',
      details: 'Cloud API message throughput has been reached.',
    });
    s.g.failNext('whatsapp.messages', GRAPH_ERRORS.temporary);
    s.g.failNext('whatsapp.messages', GRAPH_ERRORS.unknown);
    await reply(s, 'eventually');
    const [sent] = await s.g.waitForSent(1, 'whatsapp', 15_000);
    expect(sent!.text).toBe('eventually');
    const tries = s.g.calls.filter((c) => c.endpoint === 'whatsapp.messages').map((c) => c.code ?? c.status);
    expect(tries).toEqual([130429, 2, 1, 200]);
    expect(await deadLetters(s)).toEqual([]);
  });

  it('an expired token: replies wait (not dead-lettered), `check` says what to do, and they go once it is fixed', async () => {
    const s = await start();
    s.g.openWindow(BSUID);
    s.g.expireToken();
    await reply(s, 'waiting for a token');
    // Refused before routing (the double checks the token first), so matched by path.
    await expect.poll(() => s.g.calls.filter((c) => c.path.endsWith('/messages') && c.code === 190).length).toBeGreaterThan(1);
    const adapter = s.tb.bridge.channels.get(s.channelId)!.adapter;
    const results = await adapter.check!();
    expect(results[0]).toMatchObject({ ok: false, name: `whatsapp ${s.channelId}: phone number` });
    expect(results[0]!.detail).toContain('Session has expired');
    expect(results[0]!.fix).toContain('renew the access token');
    expect(await deadLetters(s)).toEqual([]);
    s.g.reset(); // the operator renewed the token
    s.g.openWindow(BSUID);
    const [sent] = await s.g.waitForSent(1, 'whatsapp', 15_000);
    expect(sent!.text).toBe('waiting for a token');
    expect((await adapter.check!())[0]).toMatchObject({ ok: true, detail: '+15550783881 "Test Business", quality GREEN' });
  });
});
