/**
 * Redis full (maxmemory reached, `noeviction`): the runbook promises that senders get 503 and
 * redeliver, the process keeps running, and nothing already queued is lost or reordered.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { BOT_TOKEN, BLINGER_TOKEN, CHANNEL_ID, startTelegramStack, stopTelegramStack } from '../helpers/bridge.js';
import { freePort, spawnRedis } from '../helpers/net.js';
import { deriveWebhookSecret } from '../../adapters/telegram/settings.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('Redis full', () => {
  it('webhooks answer 503 while Redis refuses writes, queued messages still go out, and all arrive once, in order, when there is room', async () => {
    const port = await freePort();
    const server: ChildProcess = await spawnRedis(port, ['--maxmemory-policy', 'noeviction']);
    cleanups.push(() => void server.kill('SIGKILL'));
    const admin = new Redis(port, '127.0.0.1');
    cleanups.push(() => admin.quit());
    const s = await startTelegramStack({ mode: 'webhook', redisUrl: `redis://127.0.0.1:${port}` });
    cleanups.push(() => stopTelegramStack(s));
    const { tg, blinger, tb } = s;
    const headers = { 'x-telegram-bot-api-secret-token': deriveWebhookSecret(BOT_TOKEN), 'content-type': 'application/json' };
    const send = (text: string) =>
      fetch(`${tb.url}/telegram/${CHANNEL_ID}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(tg.makeMessageUpdate({ chat_id: 61, text })),
      });
    const reply = (text: string) =>
      fetch(`${tb.url}/blinger/${CHANNEL_ID}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${BLINGER_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ custom_channel_id: CHANNEL_ID, client_id: '61', type: 'text', data: text }),
      });

    expect((await send('before')).status).toBe(200);
    await blinger.waitFor(1);
    // Blinger is down for a while: two messages wait in their lane.
    blinger.setFailureRate(1, 503);
    for (const text of ['queued 1', 'queued 2']) expect((await send(text)).status).toBe(200);
    await expect.poll(() => blinger.rejected.length).toBeGreaterThan(0);

    await admin.config('SET', 'maxmemory', '1');
    const refused = await send('during');
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: 'unavailable', message: 'could not queue the update; retry later' });
    expect((await reply('agent during')).status).toBe(503);
    expect((await fetch(`${tb.url}/healthz`)).status).toBe(200);
    expect(tb.logs.join('\n')).toMatch(/OOM command not allowed/);

    // Blinger is back while Redis is still full; then Redis gets room and the senders redeliver.
    blinger.setFailureRate(0);
    // Delivering takes no memory (a pop frees some), so what was queued goes out while Redis is full.
    await blinger.waitFor(3, 20_000);
    expect(blinger.received.map((m) => m.data)).toEqual(['before', 'queued 1', 'queued 2']);
    expect((await send('still full')).status).toBe(503);
    await admin.config('SET', 'maxmemory', '0');
    expect((await send('during')).status).toBe(200);
    expect((await reply('agent after')).status).toBe(200);
    await blinger.waitFor(4, 20_000);
    expect(blinger.received.map((m) => m.data)).toEqual(['before', 'queued 1', 'queued 2', 'during']);
    await tg.waitForSent(1);
    expect(tg.sent.map((s) => s.text)).toEqual(['agent after']);
  }, 60_000);
});
