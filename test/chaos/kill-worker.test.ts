/**
 * kill -9 of the worker process, three times, while 2,000 messages each way over 50 chats flow
 * through it; restarted each time. Nothing is lost, every conversation stays in order, and a kill
 * duplicates at most the message each of its conversations had in flight.
 */
import { afterEach, expect, it } from 'vitest';
import { closedLoop, LoadClient } from '../../bench/lib/load.js';
import {
  addFigures,
  inboundFigures,
  inboundLoad,
  outboundFigures,
  outboundLoad,
  untilAllArrived,
  World,
  type BridgeProcess,
} from './support/harness.js';
import { figuresLine } from './support/verify.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

it('kill -9 of the worker 3 times during a 2,000-message run over 50 chats: 0 lost, order exact, duplicates only of messages in flight', async () => {
  const w = (world = await World.create());
  // Ingress in its own process, never killed; the worker process is the one that dies.
  const ingress = await w.startBridge('ingress');
  let worker: BridgeProcess = await w.startBridge('worker');

  const conversations = 50;
  const inbound = inboundLoad(w, () => ingress.url, conversations, 2000 / conversations);
  const outbound = outboundLoad(() => ingress.url, conversations, 2000 / conversations);
  const client = new LoadClient();
  const sending = Promise.all([
    closedLoop({ client, requests: inbound.requests, retryStatuses: [503], deadlineMs: 120_000 }),
    closedLoop({ client, requests: outbound.requests, retryStatuses: [503], deadlineMs: 120_000 }),
  ]);

  const kills = [500, 1000, 1500];
  const killedAt: number[] = [];
  for (const at of kills) {
    // Kill when the inbound deliveries pass the mark (outbound flows at the same time).
    await w.blinger.waitFor(at, 60_000);
    expect(worker.alive).toBe(true);
    killedAt.push(Date.now());
    await worker.kill9();
    worker = await w.startBridge('worker');
  }
  await sending;
  await untilAllArrived(w, 'inbound', inbound, 90_000);
  await untilAllArrived(w, 'outbound', outbound, 90_000);
  // Every lane drained: no delivery is still in flight, so no late duplicate can follow.
  await expect.poll(() => w.pendingInLanes(), { timeout: 30_000, interval: 100 }).toBe(0);
  client.close();

  const fin = inboundFigures(w, inbound);
  const fout = outboundFigures(w, outbound);
  const all = addFigures(fin, fout);
  expect(all.sent).toBe(4000);
  expect(all.lost).toBe(0);
  expect(all.orderViolations).toBe(0);
  // A duplicate is the message a killed worker had just delivered but not yet marked done: it
  // follows itself directly, and each conversation gets at most one per kill.
  expect(all.nonAdjacentDuplicates).toBe(0);
  expect(all.maxDuplicatesPerConversation).toBeLessThanOrEqual(kills.length);
  // At most one per conversation in flight per kill: concurrency 20 per direction.
  expect(all.duplicates).toBeLessThanOrEqual(kills.length * 20 * 2);
  // And each duplicate's first copy arrived around a kill (in flight when the worker died), at
  // most one per conversation per kill. (Texts are unique, and tell their chat: "in3-17".)
  const firstArrival = new Map<string, number>();
  const copies = new Map<string, number>();
  for (const [text, at] of [
    ...w.blinger.received.map((m) => [m.data, m.at] as const),
    ...w.tg.sent.map((s) => [s.text ?? '', s.at] as const),
  ]) {
    if (!firstArrival.has(text)) firstArrival.set(text, at);
    copies.set(text, (copies.get(text) ?? 0) + 1);
  }
  const perChatAndKill = new Map<string, number>();
  const unexplained: string[] = [];
  for (const [text, n] of copies) {
    if (n < 2) continue;
    const at = firstArrival.get(text)!;
    const kill = killedAt.findIndex((k) => Math.abs(at - k) < 1000);
    if (kill < 0) unexplained.push(text);
    const key = `${text.slice(0, text.lastIndexOf('-'))}@${kill}`;
    perChatAndKill.set(key, (perChatAndKill.get(key) ?? 0) + n - 1);
  }
  expect(unexplained).toEqual([]);
  expect([...perChatAndKill].filter(([, n]) => n > 1)).toEqual([]);
  expect(ingress.alive).toBe(true);
  console.log(
    figuresLine(
      'chaos kill -9 worker x3',
      all,
      `(kills=${kills.length}, max_duplicates_per_chat=${all.maxDuplicatesPerConversation}; inbound ${fin.delivered}/${fin.sent} dup ${fin.duplicates}, outbound ${fout.delivered}/${fout.sent} dup ${fout.duplicates})`,
    ),
  );
});
