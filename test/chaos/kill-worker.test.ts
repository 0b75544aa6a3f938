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
  // A duplicate is a message whose delivery the bridge could not see through: a killed worker had
  // just delivered it but not yet marked it done, or the answer came after the worker's timeout
  // (the doubles know: the answer found the connection closed). Either way it follows itself
  // directly; a kill explains at most one extra copy per conversation, which was in flight then.
  expect(all.nonAdjacentDuplicates).toBe(0);
  const deliveries = [
    ...w.blinger.received.map((m) => ({ text: m.data, at: m.at, lost: w.blinger.answerLost(m) })),
    ...w.tg.sent.map((s) => ({ text: s.text ?? '', at: s.at, lost: w.tg.answerLost(s) })),
  ];
  // Each copy after the first is explained by what happened to the copy before it: its answer
  // was lost (a retry), or a kill came while it was in flight (within a second of it).
  const previous = new Map<string, { at: number; lost: boolean }>();
  const perChatAndKill = new Map<string, number>();
  const unexplained: string[] = [];
  let killDuplicates = 0;
  for (const d of deliveries) {
    const before = previous.get(d.text);
    previous.set(d.text, d);
    if (!before || before.lost) continue;
    killDuplicates++;
    const kill = killedAt.findIndex((k) => Math.abs(before.at - k) < 1000);
    if (kill < 0) unexplained.push(d.text);
    // (Texts are unique, and tell their chat: "in3-17".)
    const key = `${d.text.slice(0, d.text.lastIndexOf('-'))}@${kill}`;
    perChatAndKill.set(key, (perChatAndKill.get(key) ?? 0) + 1);
  }
  expect(unexplained).toEqual([]);
  expect([...perChatAndKill].filter(([, n]) => n > 1)).toEqual([]);
  // At most one per conversation in flight per kill: concurrency 20 per direction.
  expect(killDuplicates).toBeLessThanOrEqual(kills.length * 20 * 2);
  expect(ingress.alive).toBe(true);
  console.log(
    figuresLine(
      'chaos kill -9 worker x3',
      all,
      `(kills=${kills.length}, max_duplicates_per_chat=${all.maxDuplicatesPerConversation}; inbound ${fin.delivered}/${fin.sent} dup ${fin.duplicates}, outbound ${fout.delivered}/${fout.sent} dup ${fout.duplicates})`,
    ),
  );
});
