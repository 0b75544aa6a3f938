/**
 * GET /metrics and the /admin dashboard on a real bridge (HTTP server, workers, Redis) between the
 * Telegram and Blinger doubles.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTelegramDouble, type TelegramDouble } from '../doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, MEDIA_SECRET, startTestBridge, type TestBridge } from '../helpers/bridge.js';

let tg: TelegramDouble | undefined;
let blinger: BlingerDouble | undefined;
const bridges: TestBridge[] = [];

afterEach(async () => {
  for (const b of bridges.splice(0)) await b.stop();
  await tg?.close();
  await blinger?.close();
  tg = blinger = undefined;
});

async function setup(opts: { admin?: { user: string; password: string } } = {}): Promise<TestBridge> {
  tg = await startTelegramDouble();
  blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID });
  const tb = await startTestBridge({ telegramApiRoot: tg.apiRoot, blingerUrl: blinger.url, mode: 'webhook', ...opts });
  bridges.push(tb);
  return tb;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for these metrics). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function scrape(tb: TestBridge): Promise<Sample[]> {
  const res = await fetch(`${tb.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return parseMetrics(await res.text());
}

describe('GET /metrics', () => {
  it('counts messages by channel, direction, type and failure reason, with latency, 429s, Blinger codes, queue gauges and process metrics — and no secret or client id in any label', async () => {
    const tb = await setup();
    const b = blinger!;
    const t = tg!;

    // Inbound: three texts; Blinger answers 503 once first.
    b.failNext(503, 1);
    for (let i = 0; i < 3; i++) {
      const res = await t.deliverWebhook(t.makeMessageUpdate({ chat_id: 5001, text: `hello ${i}` }));
      expect(res.status).toBe(200);
    }
    await b.waitFor(3);

    // Outbound: one reply hits a 429 and then goes; one goes to a user who blocked the bot.
    t.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', retry_after: 1 });
    t.blockChat('6002');
    expect((await b.sendReply(tb.url, { client_id: '6001', type: 'text', data: 'agent answer' })).status).toBe(200);
    expect((await b.sendReply(tb.url, { client_id: '6002', type: 'text', data: 'never arrives' })).status).toBe(200);
    await t.waitForSent(1);
    // The blocked reply is dead-lettered and the agent is told so in Blinger (an inbound echo).
    await b.waitFor(4);

    const s = await scrape(tb);
    const ch = { channel: CHANNEL_ID };
    expect(value(s, 'blinger_bridge_messages_received_total', { ...ch, direction: 'inbound', type: 'text' })).toBe(4);
    expect(value(s, 'blinger_bridge_messages_received_total', { ...ch, direction: 'outbound', type: 'text' })).toBe(2);
    expect(value(s, 'blinger_bridge_messages_delivered_total', { ...ch, direction: 'inbound', type: 'text' })).toBe(4);
    expect(value(s, 'blinger_bridge_messages_delivered_total', { ...ch, direction: 'outbound', type: 'text' })).toBe(1);
    expect(value(s, 'blinger_bridge_messages_failed_total', { ...ch, direction: 'outbound', type: 'text', reason: 'blocked' })).toBe(1);
    expect(value(s, 'blinger_bridge_delivery_retries_total', { ...ch, direction: 'inbound', reason: 'http_503' })).toBe(1);
    expect(value(s, 'blinger_bridge_delivery_retries_total', { ...ch, direction: 'outbound', reason: 'rate_limited' })).toBe(1);
    expect(value(s, 'blinger_bridge_messenger_429_total', { ...ch, messenger: 'telegram' })).toBe(1);
    expect(value(s, 'blinger_bridge_blinger_responses_total', { ...ch, code: '503' })).toBe(1);
    expect(value(s, 'blinger_bridge_blinger_responses_total', { ...ch, code: '200' })).toBe(4);
    // Latency: every delivered message observed; the 429'd reply waited ≥ 1 s.
    expect(value(s, 'blinger_bridge_delivery_latency_seconds_count', { ...ch, direction: 'inbound' })).toBe(4);
    expect(value(s, 'blinger_bridge_delivery_latency_seconds_count', { ...ch, direction: 'outbound' })).toBe(1);
    expect(value(s, 'blinger_bridge_delivery_latency_seconds_sum', { ...ch, direction: 'outbound' })).toBeGreaterThanOrEqual(1);
    expect(value(s, 'blinger_bridge_delivery_latency_seconds_bucket', { ...ch, direction: 'outbound', le: '0.5' })).toBe(0);
    expect(value(s, 'blinger_bridge_delivery_latency_seconds_bucket', { ...ch, direction: 'outbound', le: '+Inf' })).toBe(1);
    // Queue gauges, read from Redis at scrape time.
    expect(value(s, 'blinger_bridge_queue_messages', { direction: 'outbound', state: 'failed' })).toBe(1);
    expect(value(s, 'blinger_bridge_queue_messages', { direction: 'inbound', state: 'failed' })).toBe(0);
    for (const state of ['waiting', 'active', 'delayed']) {
      expect(
        s.some((x) => x.name === 'blinger_bridge_queue_messages' && x.labels.direction === 'inbound' && x.labels.state === state),
      ).toBe(true);
    }
    expect(s.some((x) => x.name === 'blinger_bridge_queue_oldest_message_age_seconds')).toBe(true);
    // Node process metrics.
    expect(value(s, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(s, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(s.some((x) => x.name.startsWith('nodejs_eventloop_lag'))).toBe(true);

    // No secret and no client id in any label, on any metric.
    const forbidden = [BOT_TOKEN, BOT_TOKEN.split(':')[1]!, BLINGER_TOKEN, MEDIA_SECRET, '5001', '6001', '6002'];
    const labelValues = s.flatMap((x) => Object.values(x.labels));
    for (const v of labelValues) for (const f of forbidden) expect(v.includes(f), `label value ${v}`).toBe(false);
    const allowedLabelNames = new Set([
      'channel',
      'direction',
      'type',
      'reason',
      'code',
      'messenger',
      'state',
      'le',
      'quantile',
      'kind',
      'type',
      'version',
      'major',
      'minor',
      'patch',
      'space',
    ]);
    for (const x of s) for (const k of Object.keys(x.labels)) expect(allowedLabelNames.has(k), `label ${k} on ${x.name}`).toBe(true);
  });

  it('waiting messages show in the gauges while Blinger does not answer; each bridge has its own registry', async () => {
    const tb = await setup();
    const b = blinger!;
    const t = tg!;
    b.setHangRate(1);
    for (let i = 0; i < 3; i++) await t.deliverWebhook(t.makeMessageUpdate({ chat_id: 7001, text: `m${i}` }));
    await expect
      .poll(async () => {
        const s = await scrape(tb);
        return [
          value(s, 'blinger_bridge_queue_messages', { direction: 'inbound', state: 'active' }),
          value(s, 'blinger_bridge_queue_messages', { direction: 'inbound', state: 'waiting' }),
        ];
      })
      .toEqual([1, 2]);
    const s = await scrape(tb);
    expect(value(s, 'blinger_bridge_queue_oldest_message_age_seconds', { direction: 'inbound' })).toBeGreaterThan(0);

    // A second bridge in the same process counts only its own traffic.
    const other = await startTestBridge({ telegramApiRoot: t.apiRoot, blingerUrl: b.url, mode: 'webhook', role: 'worker' });
    bridges.push(other);
    const o = await scrape(other);
    expect(value(o, 'blinger_bridge_messages_received_total')).toBe(0);
    expect(value(s, 'blinger_bridge_messages_received_total', { direction: 'inbound' })).toBe(3);
    b.setHangRate(0);
    b.reset();
  });
});

describe('/admin dashboard', () => {
  it('is off (404) when ADMIN_USER/ADMIN_PASSWORD are unset', async () => {
    const tb = await setup();
    expect((await fetch(`${tb.url}/admin`)).status).toBe(404);
    expect((await fetch(`${tb.url}/admin/api/queues`)).status).toBe(404);
  });

  it('asks for basic auth, refuses wrong credentials, and shows both queues to the operator', async () => {
    const tb = await setup({ admin: { user: 'ops', password: 'correct-horse-battery' } });
    const auth = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

    const none = await fetch(`${tb.url}/admin`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="blinger-bridge"/);
    expect((await fetch(`${tb.url}/admin`, { headers: auth('ops', 'wrong') })).status).toBe(401);
    expect((await fetch(`${tb.url}/admin`, { headers: auth('root', 'correct-horse-battery') })).status).toBe(401);
    expect((await fetch(`${tb.url}/admin/api/queues`, { headers: auth('ops', 'wrong') })).status).toBe(401);

    const page = await fetch(`${tb.url}/admin`, { headers: auth('ops', 'correct-horse-battery') });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('blinger-bridge');
    const api = await fetch(`${tb.url}/admin/api/queues`, { headers: auth('ops', 'correct-horse-battery') });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['inbound', 'outbound']);
    // The rest of the server is not behind the dashboard's auth.
    expect((await fetch(`${tb.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${tb.url}/metrics`)).status).toBe(200);
    // Everything the page needs comes from the bridge: no web fonts, and a policy that says so.
    expect(html).not.toMatch(/fonts\.googleapis|fonts\.gstatic|https?:\/\/(?!www\.w3\.org)/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('lists dead letters (escaped) behind the same auth, purges them by age, and refuses changes from another site', async () => {
    const tb = await setup({ admin: { user: 'ops', password: 'correct-horse-battery' } });
    const headers = { authorization: `Basic ${Buffer.from('ops:correct-horse-battery').toString('base64')}` };
    const page = `${tb.url}/admin/dead-letters`;
    blinger!.setHandler(() => ({ status: 400, body: { error: 'refused' } }));
    const hostile = '<script>alert(1)</script> & "quotes"';
    const deadLettered = new Promise((r) => tb.bridge.inbound.once('deadLettered', r));
    expect((await tg!.deliverWebhook(tg!.makeMessageUpdate({ chat_id: 701, text: hostile }))).status).toBe(200);
    await deadLettered;

    expect((await fetch(page)).status).toBe(401);
    const listed = await fetch(page, { headers });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await listed.text();
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
    expect(html).not.toContain('<script');
    expect(html).toContain('Inbound: end-users → Blinger: 1');

    const form = (body: Record<string, string>, extra: Record<string, string> = {}) =>
      fetch(`${page}/purge`, {
        method: 'POST',
        redirect: 'manual',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', ...extra },
        body: new URLSearchParams(body).toString(),
      });
    // A page elsewhere posting with the operator's credentials is refused; so is bull-board's API.
    expect((await form({ olderThan: '0s' }, { origin: 'https://evil.example' })).status).toBe(403);
    const apiFromElsewhere = await fetch(`${tb.url}/admin/api/queues/inbound/retry/failed`, {
      method: 'PUT',
      headers: { ...headers, origin: 'https://evil.example' },
    });
    expect(apiFromElsewhere.status).toBe(403);
    expect((await form({ olderThan: '0s' }, { authorization: 'Basic b3BzOndyb25n' })).status).toBe(401);

    const bad = await form({ olderThan: 'soon' });
    expect(bad.status).toBe(303);
    expect(bad.headers.get('location')).toBe('../dead-letters?notice=bad-age&n=0');
    expect(await (await fetch(`${page}?notice=bad-age`, { headers })).text()).toContain('Purge needs an age such as 12h, 7d or 30d.');
    // Not older than an hour: kept.
    expect((await form({ olderThan: '1h' }, { origin: new URL(tb.url).origin })).headers.get('location')).toBe(
      '../dead-letters?notice=purged&n=0',
    );
    const purged = await form({ olderThan: '0s' });
    expect(purged.headers.get('location')).toBe('../dead-letters?notice=purged&n=1');
    const after = await (await fetch(`${page}?notice=purged&n=1`, { headers })).text();
    expect(after).toContain('1 dead letter deleted.');
    expect(after).toContain('Inbound: end-users → Blinger: 0');
  });
});
