/**
 * Graceful shutdown of `blinger-bridge start` (a real child process): SIGTERM → /readyz 503,
 * polling stops, the delivery in flight finishes, exit 0; a second signal exits at once. Nothing
 * that was acknowledged is lost either way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { TelegramDouble } from '../doubles/telegram-api.js';
import type { BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, MEDIA_SECRET, startTestBridge, startChildTestbed } from '../helpers/bridge.js';
import { startBridgeChild, type BridgeChild } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { testRedisUrl } from '../helpers/redis.js';
import { LaneStore } from '../../src/delivery/lane-store.js';
import type { InboundMessage } from '../../src/message.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{
  tg: TelegramDouble;
  blinger: BlingerDouble;
  redis: Redis;
  prefix: string;
  bridge: BridgeChild;
  url: string;
}> {
  const { tg, blinger, redis, prefix } = await startChildTestbed(cleanups);
  const port = await freePort();
  const bridge = await startBridgeChild(['--role', 'all'], {
    REDIS_URL: testRedisUrl(),
    REDIS_PREFIX: prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    BLINGER_URL: blinger.url,
    BLINGER_TOKEN,
    BLINGER_CHANNEL_ID: CHANNEL_ID,
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    TELEGRAM_API_ROOT: tg.apiRoot,
    TELEGRAM_MODE: 'polling',
    MEDIA_SECRET,
    ALLOW_PRIVATE_URLS: 'true',
  });
  cleanups.push(() => void bridge.child.kill('SIGKILL'));
  return { tg, blinger, redis, prefix, bridge, url: `http://127.0.0.1:${port}` };
}

const texts = (items: { payload: InboundMessage }[]) => items.map((i) => i.payload.data);

describe('graceful shutdown', () => {
  it('SIGTERM: readiness 503 at once, polling stops, the message in flight is delivered, the rest stays queued, exit 0', async () => {
    const { tg, blinger, redis, prefix, bridge, url } = await setup();
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(await redis.exists(`${prefix}:poller:${CHANNEL_ID}`)).toBe(1);

    blinger.setLatency(1500);
    for (const text of ['m1', 'm2', 'm3']) tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 42, text }));
    // m1 is in flight (Blinger takes 1.5 s to answer); m2 and m3 are queued behind it.
    await expect.poll(() => blinger.requests, { interval: 20 }).toBe(1);
    const store = new LaneStore(redis, prefix, 'inbound');
    const lane = { channelId: CHANNEL_ID, clientId: '42' };
    await expect.poll(() => store.length(lane), { interval: 20 }).toBe(3);

    bridge.child.kill('SIGTERM');
    await bridge.waitForLine((l) => l.msg === 'shutting down: finishing in-flight deliveries (a second signal exits at once)');
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready', checks: { started: false } });
    // Still delivering m1 while the server says "not ready".
    expect(blinger.received).toHaveLength(0);

    const { code } = await bridge.exited;
    expect(code).toBe(0);
    expect(blinger.received.map((m) => m.data)).toEqual(['m1']);
    expect(blinger.requests).toBe(1);
    // Polling stopped and handed the lease back; the rest waits in Redis, in order.
    expect(await redis.exists(`${prefix}:poller:${CHANNEL_ID}`)).toBe(0);
    expect(
      texts(await redis.lrange(store.laneKey(lane), 0, -1).then((l) => l.map((x) => JSON.parse(x) as { payload: InboundMessage }))),
    ).toEqual(['m2', 'm3']);
    expect(bridge.lines.some((l) => l.msg === 'blinger-bridge stopped' && l.inFlight === 'finished')).toBe(true);

    // Another process delivers the rest, in order.
    blinger.setLatency(0);
    const next = await startTestBridge({ telegramApiRoot: tg.apiRoot, blingerUrl: blinger.url, role: 'worker', prefix, keepKeys: true });
    cleanups.push(() => next.stop());
    await blinger.waitFor(3);
    expect(blinger.received.map((m) => m.data)).toEqual(['m1', 'm2', 'm3']);
  });

  it('a second signal exits at once; the message in flight stays at the head of its lane', async () => {
    const { tg, blinger, redis, prefix, bridge, url } = await setup();
    blinger.setHangRate(1); // Blinger never answers: m1 would take the whole grace period
    for (const text of ['m1', 'm2']) tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 43, text }));
    await expect.poll(() => blinger.requests, { interval: 20 }).toBe(1);

    bridge.child.kill('SIGTERM');
    await bridge.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'));
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    const t = Date.now();
    bridge.child.kill('SIGINT');
    const { code } = await bridge.exited;
    expect(Date.now() - t).toBeLessThan(2000);
    expect(code).toBe(1);
    expect(bridge.lines.some((l) => l.msg === 'second signal: exiting at once (queued messages stay in Redis)')).toBe(true);

    const store = new LaneStore(redis, prefix, 'inbound');
    const items = (await redis.lrange(store.laneKey({ channelId: CHANNEL_ID, clientId: '43' }), 0, -1)).map(
      (x) => JSON.parse(x) as { payload: InboundMessage },
    );
    expect(texts(items)).toEqual(['m1', 'm2']);
    expect(blinger.received).toHaveLength(0);
  });
});
