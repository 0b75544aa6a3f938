/**
 * FlowRunner over real Redis, without workers: what exactly lands in the lanes and the state.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { LaneQueue } from '../../src/delivery/lane-queue.js';
import type { LaneItem } from '../../src/delivery/lane-store.js';
import type { InboundEvent, InboundMessage, OutboundMessage } from '../../src/message.js';
import { FlowRunner } from '../../src/flow/runner.js';
import { botFlowSchema, type BotFlowInput } from '../../src/flow/config.js';
import type { Middleware } from '../../src/flow/middleware.js';
import { readyRedis, redisClient, removeKeys, uniquePrefix } from '../helpers/redis.js';

const log = pino({ level: 'silent' });
const CH = 'ch1';
const BOT: BotFlowInput = {
  faq: [{ keywords: ['price'], answer: 'Prices: …' }],
  handover: { keywords: ['operator'], idleTimeout: '10m', message: 'Connecting…' },
  mirror: 'after-handover',
  history: 2,
};

describe('FlowRunner', () => {
  const prefix = uniquePrefix();
  const admin = redisClient();
  let producer!: Redis;
  let inbound!: LaneQueue<InboundMessage>;
  let outbound!: LaneQueue<OutboundMessage>;
  let now = 1_000_000;

  const runner = (o: { bot?: BotFlowInput; middleware?: Middleware[] } = {}) =>
    new FlowRunner({
      channelId: CH,
      bot: o.bot ? botFlowSchema.parse(o.bot) : undefined,
      middleware: o.middleware,
      inbound,
      outbound,
      redis: producer,
      prefix,
      log,
      now: () => now,
    });
  const msg = (client: string, data: string): InboundMessage => ({ client_id: client, type: 'text', data });
  const send = (r: FlowRunner, client: string, text: string, dedupeId?: string, event: InboundEvent = { chat: 'private', text }) =>
    r.enqueue([msg(client, text)], { ...(dedupeId ? { dedupeId } : {}), event });
  const lane = async <T>(q: LaneQueue<T>, client: string) =>
    (await admin.lrange(q.store.laneKey({ channelId: CH, clientId: client }), 0, -1)).map(
      (raw) => (JSON.parse(raw) as LaneItem<T>).payload,
    );
  const short = (m: InboundMessage) => `${m.echo ? (m.echo_outgoing ? 'bot' : 'echo') : 'user'}: ${m.data}`;

  beforeEach(async () => {
    now = 1_000_000;
    await removeKeys(admin, prefix);
    producer = await readyRedis({ failFast: true });
    inbound = new LaneQueue<InboundMessage>({ direction: 'inbound', prefix, producer, log, retryMaxAgeMs: 60_000 });
    outbound = new LaneQueue<OutboundMessage>({ direction: 'outbound', prefix, producer, log, retryMaxAgeMs: 60_000 });
  });
  afterEach(async () => {
    await inbound.close();
    await outbound.close();
    await producer.quit();
  });
  afterAll(async () => {
    await removeKeys(admin, prefix);
    await admin.quit();
  });

  it('two concurrent deliveries of one update: one is queued, the other is a duplicate, the bot answers once', async () => {
    const r = runner({ bot: { ...BOT, mirror: 'all' } });
    const results = await Promise.all([send(r, 'u1', 'price?', 'tg:77'), send(r, 'u1', 'price?', 'tg:77')]);
    expect(results.sort()).toEqual(['duplicate', 'queued']);
    expect((await lane(inbound, 'u1')).map(short)).toEqual(['echo: price?', 'bot: Prices: …']);
    expect(await lane(outbound, 'u1')).toEqual([{ client_id: 'u1', type: 'text', data: 'Prices: …' }]);
    // Both lanes got a job (the recovery index knows them too).
    expect(await inbound.queue.getJob(`${CH}|u1`)).toBeTruthy();
    expect(await outbound.queue.getJob(`${CH}|u1`)).toBeTruthy();
  });

  it('after-handover keeps only the last `history` messages, and replays them before the hand-over', async () => {
    const r = runner({ bot: BOT });
    await send(r, 'u2', 'price 1');
    await send(r, 'u2', 'price 2');
    expect(await lane(inbound, 'u2')).toEqual([]);
    await send(r, 'u2', 'operator');
    // history: 2 → the last exchange ("price 2" and its answer) only.
    expect((await lane(inbound, 'u2')).map(short)).toEqual(['echo: price 2', 'bot: Prices: …', 'user: operator', 'bot: Connecting…']);
    expect((await lane(outbound, 'u2')).map((m) => m.data)).toEqual(['Prices: …', 'Prices: …', 'Connecting…']);
  });

  it('an agent reply starts the hand-over; the idle time ends it', async () => {
    const r = runner({ bot: { ...BOT, mirror: 'all' } });
    await r.agentReplied('u3');
    now += 9 * 60_000;
    await send(r, 'u3', 'price?'); // handed over: forwarded, until now + 10 min
    now += 9 * 60_000;
    await send(r, 'u3', 'price??'); // still within 10 min of the last message
    await r.agentReplied('u3');
    now += 11 * 60_000;
    await send(r, 'u3', 'price!!'); // idle for 11 min: the bot answers
    expect((await lane(inbound, 'u3')).map(short)).toEqual(['user: price?', 'user: price??', 'echo: price!!', 'bot: Prices: …']);
  });

  it('lets middleware change the messages, and drop() leaves no trace but the dedupe mark', async () => {
    const r = runner({
      middleware: [
        async (ctx, next) => {
          if (ctx.text === 'spam') return ctx.drop();
          ctx.messages.push({ client_id: ctx.clientId, type: 'text', data: 'added by middleware' });
          await next();
        },
      ],
    });
    expect(await send(r, 'u4', 'spam', 'tg:1')).toBe('queued');
    expect(await send(r, 'u4', 'spam', 'tg:1')).toBe('duplicate');
    expect(await send(r, 'u4', 'hello', 'tg:2')).toBe('queued');
    expect((await lane(inbound, 'u4')).map(short)).toEqual(['user: hello', 'user: added by middleware']);
    expect(await lane(outbound, 'u4')).toEqual([]);
  });

  it('refuses messages of two conversations in one event', async () => {
    await expect(runner().enqueue([msg('a', 'x'), msg('b', 'y')])).rejects.toThrow(/one conversation/);
  });
});
