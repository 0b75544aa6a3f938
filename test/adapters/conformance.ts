/**
 * The promises every adapter keeps (README "Messengers"), checked the same way for each one
 * against its messenger's test double: `describeConformance(harness)` from test/adapters/<type>.test.ts.
 *
 * Each suite runs a real bridge on its own redis-server (so that Redis can be made to refuse
 * writes), a Blinger double, the messenger's double (through the harness' driver), and a small
 * file server for the agents' attachments.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bridge } from '../../src/bridge.js';
import type { ChannelConfig } from '../../src/config/schema.js';
import type { OutboundMessage } from '../../src/message.js';
import type { DeadLetter } from '../../src/delivery/lane-store.js';
import { startBlingerDouble, type BlingerDouble, type ReceivedMessage } from '../doubles/blinger.js';
import { BLINGER_TOKEN, launchTestBridge, testChannel, type TestBridge } from '../helpers/bridge.js';
import { startFileServer, type FileServer } from '../helpers/files.js';
import { pngBytes } from '../helpers/browser.js';
import { freePort, spawnRedis } from '../helpers/net.js';
import type { ConformanceHarness, PlatformDriver, PlatformMessage } from './harness.js';

const CHANNEL = 'conformance';
const PDF = Buffer.from('%PDF-1.4\n% conformance suite file\n%%EOF\n');
const PNG = pngBytes(32, 24, [200, 30, 60]);

export function describeConformance(harness: ConformanceHarness): void {
  describe(`${harness.type} adapter conformance`, () => {
    let redisServer: ChildProcess;
    let admin: Redis;
    let driver: PlatformDriver;
    let blinger: BlingerDouble;
    let files: FileServer;
    let tb: TestBridge;
    let bridge: Bridge;
    let bridgeUrl: string;
    let logs: string[];
    const na = harness.notApplicable ?? {};

    beforeAll(async () => {
      const redisPort = await freePort();
      redisServer = await spawnRedis(redisPort, ['--maxmemory-policy', 'noeviction']);
      admin = new Redis(redisPort, '127.0.0.1');
      driver = await harness.start({ seed: 7 });
      blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL });
      // The files agents attach to replies.
      files = await startFileServer({
        '/image.png': { body: PNG, type: 'image/png' },
        '/report.pdf': { body: PDF, type: 'application/pdf' },
      });
      tb = await launchTestBridge({
        config: {
          channels: [
            testChannel({
              id: CHANNEL,
              blingerUrl: blinger.url,
              blingerToken: BLINGER_TOKEN,
              adapter: { ...driver.settings } as ChannelConfig['adapter'],
            }),
          ],
        },
        secrets: driver.secrets,
        prefix: `conf-${harness.type}`,
        redisUrl: `redis://127.0.0.1:${redisPort}`,
        graceMs: 2000,
      });
      ({ bridge, url: bridgeUrl, logs } = tb);
      await driver.connect({ url: bridgeUrl, channelId: CHANNEL });
    }, 60_000);

    afterAll(async () => {
      await tb?.stop();
      await driver?.close();
      await blinger?.close();
      await files?.close();
      await admin?.quit();
      redisServer?.kill('SIGKILL');
    });

    beforeEach(() => {
      driver.setFailureRate(0);
    });

    /** Blinger's messages of one conversation, in arrival order. */
    const inBlinger = (user: string): ReceivedMessage[] => blinger.received.filter((m) => m.client_id === driver.clientId(user));
    const textsInBlinger = (user: string) => inBlinger(user).map((m) => m.data);

    /** Waits until Blinger has a message of `user` with this text (an event, polled cheaply). */
    const arrived = (user: string, text: string) =>
      vi.waitFor(() => expect(textsInBlinger(user)).toContain(text), { timeout: 20_000, interval: 20 });

    const prepared = new Set<string>();
    const reply = async (user: string, type: OutboundMessage['type'], data: string) => {
      if (driver.prepare && !prepared.has(user)) {
        await driver.prepare(user);
        prepared.add(user);
      }
      const res = await blinger.sendReply(bridgeUrl, { client_id: driver.clientId(user), type, data });
      expect(res.status, res.body).toBe(200);
    };

    const receivedBy = (user: string, n: number): Promise<PlatformMessage[]> =>
      vi.waitFor(
        () => {
          const got = driver.received(user);
          expect(got.length).toBeGreaterThanOrEqual(n);
          return got;
        },
        { timeout: 30_000, interval: 20 },
      );

    it('acknowledges a message only once it is durable: while Redis refuses writes nothing is confirmed, and it arrives once when Redis has room', async () => {
      await admin.config('SET', 'maxmemory', '1');
      let sent: { eventId: string; acknowledged?: boolean };
      try {
        sent = await driver.userSends('ack', 'written while Redis is full');
        if (sent.acknowledged === undefined) {
          // Polling: the bridge fetched the update and could not queue it, so it keeps its cursor.
          await vi.waitFor(() => expect(logs.some((l) => l.includes('polling failed'))).toBe(true), { timeout: 20_000, interval: 20 });
        } else {
          expect(sent.acknowledged).toBe(false);
        }
        expect(inBlinger('ack')).toEqual([]);
      } finally {
        await admin.config('SET', 'maxmemory', '0');
      }
      await driver.redeliverUnacknowledged();
      await arrived('ack', 'written while Redis is full');
      await driver.userSends('ack', 'after');
      await arrived('ack', 'after');
      expect(textsInBlinger('ack')).toEqual(['written while Redis is full', 'after']);
    });

    if (!na.redelivery) {
      it("recognises a redelivered event by the messenger's own id and queues it once", async () => {
        const first = await driver.userSends('dedupe', 'only once');
        await arrived('dedupe', 'only once');
        await driver.redeliver(first.eventId);
        await driver.userSends('dedupe', 'next');
        await arrived('dedupe', 'next');
        expect(textsInBlinger('dedupe')).toEqual(['only once', 'next']);
      });
    }

    if (!na['media-links']) {
      it("hands Blinger a user's file only as a signed /media link of the bridge, which serves the messenger's bytes", async () => {
        const { bytes } = await driver.userSendsFile('media');
        const media = await vi.waitFor(
          () => {
            const m = inBlinger('media').find((x) => x.type === 'image' || x.type === 'file');
            expect(m).toBeDefined();
            return m!;
          },
          { timeout: 20_000, interval: 20 },
        );
        expect(media.data.startsWith(`${bridgeUrl}/media/`)).toBe(true);
        const res = await fetch(media.data);
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
        const everything = JSON.stringify(blinger.received);
        for (const secret of driver.secrets) expect(everything).not.toContain(secret);
      });
    }

    it("sends an agent's text, image and file to the user", async () => {
      await reply('kinds', 'text', 'Hello from the agent');
      await reply('kinds', 'image', `${files.url}/image.png`);
      await reply('kinds', 'file', `${files.url}/report.pdf`);
      const got = await receivedBy('kinds', 3);
      expect(got.map((m) => m.kind)).toEqual(['text', 'image', 'file']);
      expect(got[0]!.text).toBe('Hello from the agent');
      if (got[1]!.bytes) expect(got[1]!.bytes.equals(PNG)).toBe(true);
      if (got[2]!.bytes) expect(got[2]!.bytes.equals(PDF)).toBe(true);
    });

    if (!na['send-failures']) {
      it('retries a transient failure, waits out a rate limit, and dead-letters a permanent refusal with a word to the agent', async () => {
        driver.failNext('errors', 'transient', 2);
        await reply('errors', 'text', 'after two transient failures');
        await receivedBy('errors', 1);
        driver.failNext('errors', 'rate_limited', 1);
        await reply('errors', 'text', 'after a rate limit');
        await receivedBy('errors', 2);

        const deadLettered = new Promise<DeadLetter<OutboundMessage>>((resolve) =>
          bridge.outbound.once('deadLettered', (letter) => resolve(letter)),
        );
        driver.failNext('errors', 'permanent', 1);
        await reply('errors', 'text', 'refused for good');
        const letter = await deadLettered;
        expect(letter.item.payload.data).toBe('refused for good');
        expect(letter.attempts).toBe(1);
        // The agent reads in the conversation that the reply did not arrive.
        await vi.waitFor(() => expect(inBlinger('errors').some((m) => m.echo === true && m.echo_outgoing === true)).toBe(true), {
          timeout: 20_000,
          interval: 20,
        });
        expect(driver.received('errors').map((m) => m.text)).toEqual(['after two transient failures', 'after a rate limit']);
      });

      it('keeps each conversation in order, without duplicates, while sends fail at random', async () => {
        driver.setFailureRate(0.3);
        const users = ['order-a', 'order-b', 'order-c'];
        const count = 6;
        await Promise.all(
          users.map(async (u) => {
            for (let i = 1; i <= count; i++) await reply(u, 'text', `${u} #${i}`);
          }),
        );
        for (const u of users) {
          const got = await receivedBy(u, count);
          expect(got.map((m) => m.text)).toEqual(Array.from({ length: count }, (_, i) => `${u} #${i + 1}`));
        }
      });
    }

    if (Object.keys(na).length > 0) {
      it('names every promise that does not apply, with the reason', () => {
        for (const [promise, reason] of Object.entries(na)) expect(reason?.trim().length, promise).toBeGreaterThan(10);
      });
    }
  });
}
