/**
 * kill -9 of the worker process, three times, while 2,000 messages each way over 50 chats flow
 * through it; restarted each time. Nothing is lost, every conversation stays in order, and a kill
 * duplicates at most the message each of its conversations had in flight (a timeout, the attempt
 * it gave up on).
 */
import { afterEach, expect, it } from 'vitest';
import { closedLoop, LoadClient } from '../../bench/lib/load.js';
import {
  addFigures,
  copies,
  inboundFigures,
  inboundLoad,
  outboundFigures,
  outboundLoad,
  timeoutsThatArrived,
  untilAllArrived,
  World,
  type BridgeProcess,
} from './support/harness.js';
import { figuresLine, unexplainedCopies, type Kill } from './support/verify.js';

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

  const marks = [500, 1000, 1500];
  const kills: Kill[] = [];
  for (const mark of marks) {
    // Kill when the inbound deliveries pass the mark (outbound flows at the same time).
    await w.blinger.waitFor(mark, 60_000);
    expect(worker.alive).toBe(true);
    await worker.kill9();
    // What the kill left in flight: the lanes' heads (a head is popped only once it was
    // delivered, so a delivered head is a message whose "done" the dead worker never wrote).
    kills.push({ at: Date.now(), inFlight: await w.laneHeads() });
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
  // A duplicate is a message whose delivery the bridge could not see through, so it follows itself
  // directly, and each copy after the first has a cause the bridge knows of: the message was still
  // its lane's head when a worker died and this copy came after that (the dead worker had it in
  // flight), or the bridge gave up waiting for an answer in that conversation and tried again (a
  // logged timeout; the attempt it gave up on may have arrived all the same, at a busy receiver).
  expect(all.nonAdjacentDuplicates).toBe(0);
  const { unexplained, byKills } = unexplainedCopies(copies(w), timeoutsThatArrived(w), kills);
  expect(unexplained).toEqual([]);
  // A kill finds at most one message in flight per conversation it was delivering: 20 per direction.
  expect(byKills).toBeLessThanOrEqual(marks.length * 20 * 2);
  expect(ingress.alive).toBe(true);
  console.log(
    figuresLine(
      'chaos kill -9 worker x3',
      all,
      `(kills=${kills.length}, max_duplicates_per_chat=${all.maxDuplicatesPerConversation}; inbound ${fin.delivered}/${fin.sent} dup ${fin.duplicates}, outbound ${fout.delivered}/${fout.sent} dup ${fout.duplicates})`,
    ),
  );
});
