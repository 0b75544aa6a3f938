/**
 * Nothing is lost when a worker process dies mid-delivery (kill -9), nor while Redis is away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { BOT_TOKEN, CHANNEL_ID, startTelegramStack, stopTelegramStack, type TestBridge } from '../helpers/bridge.js';
import { freePort, spawnRedis } from '../helpers/net.js';
import { deriveWebhookSecret } from '../../adapters/telegram/settings.js';

const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startWorkerProcess(tb: TestBridge): Promise<ChildProcess> {
  const config = { ...tb.bridge.config, port: 0 };
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/bridge-process.ts'], {
    env: { ...process.env, BRIDGE_TEST_CONFIG: JSON.stringify(config), BRIDGE_TEST_ROLE: 'worker' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker process exited early (${code})`)));
  });
}

describe('crashes', () => {
  it('a worker killed with SIGKILL mid-delivery loses nothing: another worker takes the conversations over', async () => {
    // Ingress only in this process; deliveries happen in child processes.
    const s = await startTelegramStack({ mode: 'webhook', role: 'ingress' });
    cleanups.push(() => stopTelegramStack(s));
    const { tg, blinger, tb } = s;

    const total = 40;
    for (let i = 0; i < total; i++) {
      const res = await tg.deliverWebhook(tg.makeMessageUpdate({ chat_id: 100 + (i % 4), text: `msg ${i}` }));
      expect(res.status).toBe(200);
    }
    // Blinger hangs: the first worker holds conversations mid-flight when it is killed.
    blinger.setHangRate(1);
    const first = await startWorkerProcess(tb);
    await expect.poll(() => blinger.hangingCount).toBeGreaterThan(0);
    first.kill('SIGKILL');
    await once(first, 'exit');
    blinger.setHangRate(0);

    await startWorkerProcess(tb);
    await blinger.waitFor(total, 20_000);
    const byClient = blinger.byClient();
    for (let c = 0; c < 4; c++) {
      const texts = byClient.get(String(100 + c))!.map((m) => m.data);
      const expected = [...Array(total / 4)].map((_, k) => `msg ${k * 4 + c}`);
      // Order exact and nothing lost; no message delivered twice (the killed worker never got an answer).
      expect(texts).toEqual(expected);
    }
  });

  it('answers 503 while Redis is unreachable, keeps running, and resumes when Redis is back', async () => {
    const port = await freePort();
    const startRedis = () => spawnRedis(port);
    let redis = await startRedis();
    cleanups.push(() => void redis.kill('SIGKILL'));
    const s = await startTelegramStack({ mode: 'webhook', redisUrl: `redis://127.0.0.1:${port}` });
    cleanups.push(() => stopTelegramStack(s));
    const { tg, blinger, tb } = s;
    const secret = { 'x-telegram-bot-api-secret-token': deriveWebhookSecret(BOT_TOKEN), 'content-type': 'application/json' };
    const send = (text: string) =>
      fetch(`${tb.url}/telegram/${CHANNEL_ID}`, {
        method: 'POST',
        headers: secret,
        body: JSON.stringify(tg.makeMessageUpdate({ chat_id: 55, text })),
      });

    expect((await send('before')).status).toBe(200);
    await blinger.waitFor(1);
    redis.kill('SIGKILL');
    await once(redis, 'exit');
    const during = await send('during');
    expect(during.status).toBe(503);
    expect((await fetch(`${tb.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${tb.url}/healthz`)).status).toBe(200);

    redis = await startRedis();
    await expect.poll(async () => (await fetch(`${tb.url}/readyz`)).status, { timeout: 15_000 }).toBe(200);
    expect((await send('after')).status).toBe(200);
    await blinger.waitFor(2);
    expect(blinger.received.map((m) => m.data)).toEqual(['before', 'after']);
  });

  it('polling: an update that arrives while Redis is away is not confirmed to Telegram, and is delivered once Redis is back', async () => {
    const port = await freePort();
    let redis = await spawnRedis(port);
    cleanups.push(() => void redis.kill('SIGKILL'));
    const s = await startTelegramStack({ mode: 'polling', redisUrl: `redis://127.0.0.1:${port}` });
    cleanups.push(() => stopTelegramStack(s));
    const { tg, blinger, tb } = s;

    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 77, text: 'one' }));
    await blinger.waitFor(1);
    redis.kill('SIGKILL');
    await once(redis, 'exit');
    const lost = tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 77, text: 'two' }));
    await expect.poll(() => tb.logs.some((l) => l.includes('polling failed')), { timeout: 10_000 }).toBe(true);
    expect(tg.confirmedOffset).toBeLessThanOrEqual(lost.update_id);

    redis = await spawnRedis(port);
    await blinger.waitFor(2, 20_000);
    expect(blinger.received.map((m) => m.data)).toEqual(['one', 'two']);
    await expect.poll(() => tg.confirmedOffset, { timeout: 10_000 }).toBeGreaterThan(lost.update_id);
  });
});
