/**
 * Unreliable receivers: Blinger answers 503 to 30 % of requests and never answers 2 %; Telegram
 * answers 5xx to 30 % of sends and never answers some. Every message still arrives, in order, and
 * once: a refused or unanswered request was not accepted. The one exception is a request the
 * receiver did accept but answered after the bridge's timeout (a busy machine): the bridge logged
 * that timeout and sent again, and that explains the copy.
 */
import { afterEach, expect, it } from 'vitest';
import { closedLoop, LoadClient } from '../../bench/lib/load.js';
import {
  copies,
  inboundFigures,
  inboundLoad,
  outboundFigures,
  outboundLoad,
  timeoutsThatArrived,
  untilAllArrived,
  World,
} from './support/harness.js';
import { figuresLine, unexplainedCopies } from './support/verify.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

it('Blinger answers 503 to 30 % and hangs on 2 % of 2,000 messages over 50 chats: 0 lost, order exact', async () => {
  const w = (world = await World.create({ seed: 31 }));
  w.blinger.setFailureRate(0.3, 503);
  w.blinger.setHangRate(0.02);
  // A short Blinger timeout so that hung requests are given up on quickly.
  const bridge = await w.startBridge('all', { blingerTimeoutMs: 1000 });
  const load = inboundLoad(w, () => bridge.url, 50, 40);
  const client = new LoadClient();
  await closedLoop({ client, requests: load.requests, deadlineMs: 60_000 });
  await untilAllArrived(w, 'inbound', load, 120_000);
  await expect.poll(() => w.pendingInLanes(), { timeout: 30_000, interval: 100 }).toBe(0);
  client.close();

  const f = inboundFigures(w, load);
  const injected = w.blinger.rejected.filter((r) => r.injected).length;
  expect(f.sent).toBe(2000);
  expect(f.lost).toBe(0);
  expect(f.orderViolations).toBe(0);
  // Refused and unanswered requests were never accepted: nothing arrives twice but after a timeout.
  expect(unexplainedCopies(copies(w), timeoutsThatArrived(w)).unexplained).toEqual([]);
  expect(w.blinger.rejected.filter((r) => !r.injected)).toEqual([]);
  // The faults really happened: about 30 % of the attempts were refused.
  expect(injected).toBeGreaterThan(600);
  console.log(figuresLine('chaos Blinger 503 30 % + hang 2 %', f, `(attempts=${w.blinger.requests}, injected 503s=${injected})`));
});

it('Telegram answers 5xx to 30 % of sends and hangs on some, for 2,000 replies over 50 chats: 0 lost, order exact', async () => {
  const w = (world = await World.create({ seed: 41 }));
  w.tg.setFailureRate('sendMessage', 0.3, { error_code: 502, description: 'Bad Gateway' });
  const bridge = await w.startBridge('all');
  // About 2 % of sends hang (never answered): one hang armed after every 50 accepted sends.
  let armed = 0;
  let done = false;
  const hangs = (async () => {
    for (let k = 50; !done && k < 2000; k += 50) {
      await w.tg.waitForSent(k, 120_000).catch(() => undefined);
      if (done) break;
      w.tg.hangNext('sendMessage', 1);
      armed++;
    }
  })();
  const load = outboundLoad(() => bridge.url, 50, 40);
  const client = new LoadClient();
  await closedLoop({ client, requests: load.requests, deadlineMs: 60_000 });
  await untilAllArrived(w, 'outbound', load, 120_000);
  await expect.poll(() => w.pendingInLanes(), { timeout: 30_000, interval: 100 }).toBe(0);
  done = true;
  await hangs;
  client.close();

  const f = outboundFigures(w, load);
  const refused = w.tg.calls.filter((c) => c.method === 'sendMessage' && c.status !== undefined && c.status >= 500).length;
  const unanswered = w.tg.calls.filter((c) => c.method === 'sendMessage' && c.status === undefined).length;
  expect(f.sent).toBe(2000);
  expect(f.lost).toBe(0);
  expect(f.orderViolations).toBe(0);
  expect(unexplainedCopies(copies(w), timeoutsThatArrived(w)).unexplained).toEqual([]);
  expect(refused).toBeGreaterThan(600);
  expect(unanswered).toBeGreaterThan(20);
  console.log(
    figuresLine(
      'chaos Telegram 5xx 30 % + hangs',
      f,
      `(sendMessage calls=${w.tg.calls.filter((c) => c.method === 'sendMessage').length}, 5xx=${refused}, hung=${unanswered}, hangs armed=${armed})`,
    ),
  );
});
