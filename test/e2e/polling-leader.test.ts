/**
 * Telegram polling runs in exactly one process per bot: two `blinger-bridge start --role ingress`
 * processes share one Redis; one holds the poller lease, the other stands by. After a kill -9 of
 * the holder the other takes over within the lease (+ a quarter of it) and updates keep flowing.
 * The lease is 3 s here (pollLease) instead of the default 20 s, to keep the test short.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, MEDIA_SECRET, startTestBridge, startChildTestbed } from '../helpers/bridge.js';
import { startBridgeChild, type BridgeChild } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { testRedisUrl } from '../helpers/redis.js';

const LEASE_MS = 3000;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('polling leader', () => {
  it('one of two ingress processes polls; after kill -9 of it the other takes over within the lease, and no update is lost', async () => {
    const { tg, blinger, redis, prefix } = await startChildTestbed(cleanups);
    const dir = mkdtempSync(join(tmpdir(), 'bb-leader-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const configFile = join(dir, 'channels.yaml');
    writeFileSync(
      configFile,
      [
        'channels:',
        `  - id: "${CHANNEL_ID}"`,
        `    blinger: { url: "${blinger.url}", token: "\${TEST_BLINGER_TOKEN}" }`,
        `    adapter: { type: telegram, token: "\${TEST_BOT_TOKEN}", mode: polling, apiRoot: "${tg.apiRoot}", pollTimeout: 1, pollLease: ${LEASE_MS} }`,
        '    allowPrivateUrls: true',
      ].join('\n'),
    );

    const startIngress = async (): Promise<BridgeChild> => {
      const port = await freePort();
      const child = await startBridgeChild(['--role', 'ingress'], {
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: prefix,
        PORT: String(port),
        HOST: '127.0.0.1',
        BRIDGE_CONFIG: configFile,
        TEST_BLINGER_TOKEN: BLINGER_TOKEN,
        TEST_BOT_TOKEN: BOT_TOKEN,
        MEDIA_SECRET,
      });
      cleanups.push(() => void child.child.kill('SIGKILL'));
      return child;
    };
    const [a, b] = await Promise.all([startIngress(), startIngress()]);
    // Deliveries happen in this process (role worker), as in a split deployment.
    const worker = await startTestBridge({ telegramApiRoot: tg.apiRoot, blingerUrl: blinger.url, role: 'worker', prefix, keepKeys: true });
    cleanups.push(() => worker.stop());

    const leaseKey = `${prefix}:poller:${CHANNEL_ID}`;
    const ownerPid = async () => Number(((await redis.get(leaseKey)) ?? '').split('-')[0]);
    await expect.poll(ownerPid).toBeGreaterThan(0);
    const firstOwner = await ownerPid();
    const leader = [a, b].find((c) => c.child.pid === firstOwner)!;
    const standby = leader === a ? b : a;
    expect(leader).toBeDefined();
    await standby.waitForLine((l) => l.msg === 'another process polls this account');

    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 9, text: 'before the crash' }));
    await blinger.waitFor(1);

    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await leader.exited;
    // Updates sent while nobody polls wait at Telegram and arrive after the takeover.
    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 9, text: 'during the takeover' }));
    await expect.poll(ownerPid, { timeout: LEASE_MS * 3, interval: 50 }).toBe(standby.child.pid);
    const takeoverMs = Date.now() - killedAt;
    // At most the lease plus a quarter of it after the last renewal (which came before the kill),
    // plus timer slack on a busy machine. With the default 20 s lease: 25 s.
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS * 1.25 + 1500);
    await standby.waitForLine((l) => l.msg === 'polling Telegram (this process holds the poller lease)');

    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 9, text: 'after the takeover' }));
    await blinger.waitFor(3);
    expect(blinger.received.map((m) => m.data)).toEqual(['before the crash', 'during the takeover', 'after the takeover']);
    // Never two pollers at once: Telegram would have answered 409 Conflict to one of them.
    const getUpdates = tg.calls.filter((c) => c.method === 'getUpdates');
    expect(getUpdates.length).toBeGreaterThan(2);
    expect(getUpdates.filter((c) => c.status === 409)).toEqual([]);
    console.info(`poller takeover after kill -9: ${takeoverMs} ms (lease ${LEASE_MS} ms)`);
  });
});
