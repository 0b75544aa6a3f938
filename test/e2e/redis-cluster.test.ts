/**
 * The bridge on a real three-node Redis Cluster (REDIS_CLUSTER=true, a hash-tagged REDIS_PREFIX):
 * messages flow both ways, every key lands in one slot, and the CLI reads the same queues.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { startTelegramDouble, type TelegramDouble } from '../doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, MEDIA_SECRET, startTestBridge } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { freePort, spawnRedis } from '../helpers/net.js';
import { uniquePrefix } from '../helpers/redis.js';

const nodes: ChildProcess[] = [];
const ports: number[] = [];
let dir: string;
let tg: TelegramDouble;
let blinger: BlingerDouble;

/** Three masters, slots split evenly, joined with CLUSTER MEET (no redis-cli --cluster wait). */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bb-cluster-'));
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    ports.push(port);
    nodes.push(
      await spawnRedis(port, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--dir',
        dir,
        '--cluster-node-timeout',
        '2000',
      ]),
    );
  }
  const clients = ports.map((port) => new Redis({ port, host: '127.0.0.1' }));
  const per = Math.ceil(16384 / 3);
  for (const [i, c] of clients.entries()) {
    const slots = [...Array(16384).keys()].slice(i * per, Math.min((i + 1) * per, 16384));
    await c.call('CLUSTER', 'ADDSLOTS', ...slots.map(String));
  }
  for (const port of ports.slice(1)) await clients[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(port));
  const ok = async () =>
    (await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>))).every((info) =>
      info.includes('cluster_state:ok'),
    );
  const deadline = Date.now() + 20_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('the test cluster did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(clients.map((c) => c.quit()));
  tg = await startTelegramDouble();
  blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID });
}, 40_000);

afterAll(async () => {
  await tg?.close();
  await blinger?.close();
  for (const n of nodes) n.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis Cluster', () => {
  it('delivers both ways with a hash-tagged prefix, keeps every key in one slot, and the CLI sees the queues', async () => {
    const prefix = `{${uniquePrefix()}}`;
    // Seed the bridge with a node that does NOT own the prefix's slot: only a real cluster client
    // (following MOVED) can work through it.
    const probe = new Redis({ port: ports[0]!, host: '127.0.0.1' });
    const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', prefix));
    await probe.quit();
    const owner = Math.floor(slot / Math.ceil(16384 / 3));
    const redisUrl = `redis://127.0.0.1:${ports[(owner + 1) % 3]}`;
    const tb = await startTestBridge({
      telegramApiRoot: tg.apiRoot,
      blingerUrl: blinger.url,
      mode: 'webhook',
      prefix,
      redisUrl,
      redisCluster: true,
    });
    try {
      expect((await fetch(`${tb.url}/readyz`)).status).toBe(200);
      for (let i = 0; i < 5; i++)
        expect((await tg.deliverWebhook(tg.makeMessageUpdate({ chat_id: 300 + (i % 2), text: `in ${i}` }))).status).toBe(200);
      await blinger.waitFor(5);
      for (let i = 0; i < 3; i++)
        expect((await blinger.sendReply(tb.url, { client_id: '300', type: 'text', data: `out ${i}` })).status).toBe(200);
      await tg.waitForSent(3);
      expect(tg.sent.map((s) => s.text)).toEqual(['out 0', 'out 1', 'out 2']);
      expect(
        blinger
          .byClient()
          .get('300')!
          .map((m) => m.data),
      ).toEqual(['in 0', 'in 2', 'in 4']);

      // One slot for all of the bridge's keys (lanes, dedupe marks, BullMQ, leases).
      const cluster = new Cluster([{ host: '127.0.0.1', port: ports[0]! }]);
      try {
        await new Promise((resolve) => cluster.once('ready', resolve));
        expect(cluster.nodes('master')).toHaveLength(3);
        const keys: string[] = [];
        for (const node of cluster.nodes('master')) {
          let cursor = '0';
          do {
            const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
            cursor = next;
            keys.push(...found);
          } while (cursor !== '0');
        }
        expect(keys.length).toBeGreaterThan(3);
        const slots = new Set(await Promise.all(keys.map((k) => cluster.call('CLUSTER', 'KEYSLOT', k))));
        expect(slots.size).toBe(1);
      } finally {
        cluster.disconnect();
      }

      const env = {
        REDIS_URL: redisUrl,
        REDIS_CLUSTER: 'true',
        REDIS_PREFIX: prefix,
        BLINGER_URL: blinger.url,
        BLINGER_TOKEN,
        BLINGER_CHANNEL_ID: CHANNEL_ID,
        TELEGRAM_BOT_TOKEN: BOT_TOKEN,
        TELEGRAM_API_ROOT: tg.apiRoot,
        MEDIA_SECRET,
      };
      const status = await runCli(['status', '--json'], env);
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout)).toEqual([
        { channelId: CHANNEL_ID, direction: 'inbound', waiting: 0, active: 0, delayed: 0, failed: 0, oldestAgeMs: null },
        { channelId: CHANNEL_ID, direction: 'outbound', waiting: 0, active: 0, delayed: 0, failed: 0, oldestAgeMs: null },
      ]);
      const noTag = await runCli(['check'], { ...env, REDIS_PREFIX: 'bb' });
      expect(noTag.code).toBe(1);
      expect(noTag.stdout).toContain('✗ configuration: REDIS_PREFIX=bb: with REDIS_CLUSTER=true it must contain a hash tag such as {bb}');
    } finally {
      await tb.stop();
    }
  });
});
