/**
 * examples/echo-bot.ts runs as documented — `node --import tsx examples/echo-bot.ts` with the
 * single-channel environment variables — against the Telegram and Blinger doubles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { startTelegramDouble, type TelegramDouble } from '../doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, MEDIA_SECRET } from '../helpers/bridge.js';
import { freePort } from '../helpers/net.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startExample(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/echo-bot.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => void child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('echo-bot bridge listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the example exited early (${code})`)));
  });
  return child;
}

describe('examples/echo-bot.ts', () => {
  it('answers /echo and /order itself, hands over on its button, and Blinger sees every step in order', async () => {
    const tg: TelegramDouble = await startTelegramDouble();
    const blinger: BlingerDouble = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID });
    cleanups.push(
      () => tg.close(),
      () => blinger.close(),
    );
    const prefix = uniquePrefix();
    cleanups.push(async () => {
      const r = await readyRedis();
      await removeKeys(r, prefix);
      await r.quit();
    });
    const child = await startExample({
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: prefix,
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      BLINGER_URL: blinger.url,
      BLINGER_TOKEN,
      BLINGER_CHANNEL_ID: CHANNEL_ID,
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TELEGRAM_API_ROOT: tg.apiRoot,
      MEDIA_SECRET,
      LOG_LEVEL: 'warn',
    });

    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 4242, text: '/echo hello there' }));
    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 4242, text: '/order 42' }));
    const [echoed, order] = await tg.waitForSent(2);
    expect(echoed).toMatchObject({ chat_id: '4242', text: 'hello there' });
    expect(order).toMatchObject({ text: 'Order 42 left our warehouse yesterday.' });
    tg.pushUpdate(tg.makeCallbackQueryUpdate(order!, 'Talk to an operator'));
    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 4242, text: '/ping-bridge' }));
    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 4242, text: 'my parcel is wet' }));
    await tg.waitForSent(3);
    expect(tg.sent[2]).toMatchObject({ text: 'An operator will answer you here shortly.' });

    await blinger.waitFor(7);
    expect(blinger.received.map((m) => [m.echo ? (m.echo_outgoing ? 'bot' : 'echo') : 'user', m.data])).toEqual([
      ['echo', '/echo hello there'],
      ['bot', 'hello there'],
      ['echo', '/order 42'],
      ['bot', 'Order 42 left our warehouse yesterday.\n[buttons: Where is it now? | Talk to an operator]'],
      ['user', '[button] Talk to an operator'],
      ['bot', 'An operator will answer you here shortly.'],
      // "/ping-bridge" was dropped: it never reaches Blinger.
      ['user', 'my parcel is wet'],
    ]);
    expect(blinger.received[6]!.info).toMatchObject({ handled_by: 'echo-bot example' });

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});
