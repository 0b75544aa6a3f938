/**
 * Redis restarted in the middle of a run, with AOF on: while it is away the webhooks answer 503
 * (the sender redelivers), the workers wait; once it is back everything flows again and nothing
 * that was acknowledged is lost.
 */
import { afterEach, expect, it } from 'vitest';
import { closedLoop, LoadClient } from '../../bench/lib/load.js';
import { addFigures, inboundFigures, inboundLoad, outboundFigures, outboundLoad, untilAllArrived, World } from './support/harness.js';
import { figuresLine } from './support/verify.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

async function restartMidRun(name: string, redisArgs: string[], signal: 'SIGTERM' | 'SIGKILL', outageMs = 0): Promise<void> {
  const w = (world = await World.create({ redisArgs }));
  const bridge = await w.startBridge('all');
  const conversations = 50;
  const inbound = inboundLoad(w, () => bridge.url, conversations, 1000 / conversations);
  const outbound = outboundLoad(() => bridge.url, conversations, 1000 / conversations);
  const client = new LoadClient();
  let retried = 0;
  let acked = 0;
  let thirdAcked!: () => void;
  const third = new Promise<void>((resolve) => (thirdAcked = resolve));
  const sending = Promise.all(
    [inbound, outbound].map((l) =>
      closedLoop({
        client,
        requests: l.requests,
        retryStatuses: [503],
        retryDelayMs: 50,
        deadlineMs: 120_000,
        onAck: () => {
          if (++acked === 660) thirdAcked();
        },
      }).then((r) => {
        retried += r.retried;
      }),
    ),
  );

  // A third of the way in, Redis goes away and comes back on the same port and data directory.
  await third;
  await w.stopRedis(signal);
  const during = await client.post(inbound.requests[0]![0]!);
  expect(during.status).toBe(503);
  // The length of the outage is the point of the test, not a wait for something.
  if (outageMs) await new Promise((resolve) => setTimeout(resolve, outageMs));
  await w.startRedis();

  await sending;
  await untilAllArrived(w, 'inbound', inbound, 90_000);
  await untilAllArrived(w, 'outbound', outbound, 90_000);
  await expect.poll(() => w.pendingInLanes(), { timeout: 30_000, interval: 100 }).toBe(0);
  client.close();

  const all = addFigures(inboundFigures(w, inbound), outboundFigures(w, outbound));
  expect(all.sent).toBe(2000);
  expect(all.lost).toBe(0);
  expect(all.orderViolations).toBe(0);
  expect(all.nonAdjacentDuplicates).toBe(0);
  // The outage is when senders got 503s and redelivered.
  expect(retried).toBeGreaterThan(0);
  expect(bridge.alive).toBe(true);
  expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${bridge.url}/readyz`)).status).toBe(200);
  console.log(figuresLine(name, all, `(503s redelivered by the senders: ${retried})`));
}

it('Redis restarted mid-run (AOF, appendfsync everysec, orderly shutdown): 0 lost, order exact', async () => {
  await restartMidRun('chaos redis restart (SIGTERM, AOF everysec)', ['--appendonly', 'yes', '--appendfsync', 'everysec'], 'SIGTERM');
});

it('Redis killed with SIGKILL mid-run and restarted (AOF, appendfsync always): 0 lost, order exact', async () => {
  await restartMidRun('chaos redis kill -9 + restart (AOF always)', ['--appendonly', 'yes', '--appendfsync', 'always'], 'SIGKILL');
});

it("Redis away for longer than the workers' locks (3 s against 2 s), then back: 0 lost, order exact", async () => {
  await restartMidRun(
    'chaos redis outage longer than the lock (AOF everysec)',
    ['--appendonly', 'yes', '--appendfsync', 'everysec'],
    'SIGTERM',
    3000,
  );
});
