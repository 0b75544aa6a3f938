/**
 * Where agents' replies land in chats that need more than a chat_id, end to end: forum topics
 * (and their fallback to General) and Telegram Business chats, between the Telegram Bot API double
 * and the Blinger Custom App double, through a real bridge on a real Redis.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { PartialUpdate, TelegramDouble } from '../doubles/telegram-api.js';
import type { BlingerDouble } from '../doubles/blinger.js';
import { startTelegramStack, stopTelegramStack, type TestBridge } from '../helpers/bridge.js';
import type { BotFlowInput } from '../../src/flow/config.js';

let tg: TelegramDouble;
let blinger: BlingerDouble;
let tb: TestBridge | undefined;

async function setup(mode: 'polling' | 'webhook', bot?: BotFlowInput): Promise<TestBridge> {
  ({ tg, blinger, tb } = await startTelegramStack({ mode, ...(bot ? { bot } : {}) }));
  return tb;
}

afterEach(async () => {
  await stopTelegramStack({ tg, blinger, tb });
  tb = undefined;
});

/** A fixture as a new update: the double gives it a fresh update_id (no dedupe across uses). */
function fixture(name: string, edit?: (u: Record<string, Record<string, unknown>>) => void): PartialUpdate {
  const u = (JSON.parse(readFileSync(new URL(`../fixtures/telegram/${name}.json`, import.meta.url), 'utf8')) as { payload: unknown })
    .payload as Record<string, Record<string, unknown>> & { update_id?: number };
  delete u.update_id;
  edit?.(u);
  return u;
}

const reply = (client_id: string, data: string) => blinger.sendReply(tb!.url, { client_id, type: 'text', data });

async function deliver(update: PartialUpdate): Promise<void> {
  expect((await tg.deliverWebhook(update)).status).toBe(200);
}

const FORUM = '-1002098765432';
const CARLA = '7011223344';
const CONNECTION = 'AbCdEfGh1234_business';

describe('forum topics', () => {
  it('an agent’s reply goes to the topic the customer wrote in', async () => {
    await setup('webhook');
    await deliver(fixture('forum-topic'));
    const [question] = await blinger.waitFor(1);
    expect(question).toMatchObject({ client_id: FORUM, info: { thread_id: 42 } });

    expect((await reply(FORUM, 'Here is the return form')).status).toBe(200);
    const [sent] = await tg.waitForSent(1);
    expect(sent).toMatchObject({ method: 'sendMessage', chat_id: FORUM, message_thread_id: 42, text: 'Here is the return form' });
  });

  it('after the customer writes in General, the next reply goes to General', async () => {
    await setup('webhook');
    await deliver(fixture('forum-topic'));
    await reply(FORUM, 'to the topic');
    await tg.waitForSent(1);

    await deliver(fixture('forum-general'));
    await reply(FORUM, 'to General');
    const sent = await tg.waitForSent(2);
    expect(sent.map((s) => [s.text, s.message_thread_id])).toEqual([
      ['to the topic', 42],
      ['to General', undefined],
    ]);
  });

  it('a deleted topic: the reply goes to General, is not dead-lettered, is logged, and the next reply goes straight to General', async () => {
    const b = await setup('webhook');
    await deliver(fixture('forum-topic'));
    tg.deleteTopic(FORUM, 42);

    await reply(FORUM, 'first');
    const [first] = await tg.waitForSent(1);
    expect(first).toMatchObject({ chat_id: FORUM, text: 'first' });
    expect(first!.message_thread_id).toBeUndefined();
    await reply(FORUM, 'second');
    const sent = await tg.waitForSent(2);
    expect(sent[1]).toMatchObject({ chat_id: FORUM, text: 'second' });
    expect(sent[1]!.message_thread_id).toBeUndefined();

    // One refused call for both replies: the route forgot the topic.
    expect(
      tg.calls.filter((c) => c.method === 'sendMessage').map((c) => [c.description ?? null, c.params.message_thread_id ?? null]),
    ).toEqual([
      ['Bad Request: message thread not found', 42],
      [null, null],
      [null, null],
    ]);
    expect(await b.bridge.outbound.store.redis.hlen(b.bridge.outbound.store.dlqKey)).toBe(0);
    const warning = b.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'the forum topic is gone or closed; sending to the General topic instead');
    expect(warning).toMatchObject({ chat: FORUM, thread: 42, reason: 'Telegram 400: Bad Request: message thread not found' });
  });
});

describe('Telegram Business', () => {
  it('a business chat is received (polling asks for business_message) and the reply goes through the business connection', async () => {
    const b = await setup('polling');
    tg.addBusinessChat(CARLA, CONNECTION);
    tg.pushUpdate(fixture('business-message'));
    const [question] = await blinger.waitFor(1);
    expect(question).toMatchObject({
      client_id: CARLA,
      client_name: 'Carla',
      data: 'Olá, is the shop open on Sunday?',
      info: { business_connection_id: CONNECTION },
    });
    expect(question!.echo).toBeUndefined();

    expect((await reply(CARLA, 'Yes, 10:00–16:00.')).status).toBe(200);
    const [sent] = await tg.waitForSent(1);
    expect(sent).toMatchObject({ method: 'sendMessage', chat_id: CARLA, business_connection_id: CONNECTION, text: 'Yes, 10:00–16:00.' });
    expect(await b.bridge.outbound.store.redis.hlen(b.bridge.outbound.store.dlqKey)).toBe(0);
  });

  it('the owner writing from their own app reaches Blinger as an outgoing echo; the bot’s own sends are not echoed back', async () => {
    await setup('polling');
    tg.pushUpdate(fixture('business-message'));
    // What Telegram shows the bot after it answered on the business' behalf (an agent's reply).
    tg.pushUpdate(
      fixture('business-message-own-bot', (u) =>
        Object.assign(u.business_message!, {
          sender_business_bot: { id: 123456, is_bot: true, first_name: 'Test Bridge Bot', username: 'test_bridge_bot' },
        }),
      ),
    );
    tg.pushUpdate(fixture('business-message-owner'));
    // One conversation, one lane: the owner's message arriving means the bot's own one was skipped.
    const got = await blinger.waitFor(2);
    expect(got.map((m) => [m.data, m.echo, m.echo_outgoing])).toEqual([
      ['Olá, is the shop open on Sunday?', undefined, undefined],
      ['Yes, 10:00–16:00 on Sundays.', true, true],
    ]);
    // The conversation stays the customer's.
    expect(got[1]).toMatchObject({ client_id: CARLA, client_name: 'Carla', info: { user_id: 7011223344 } });
    expect(blinger.rejected).toEqual([]);
  });

  it('with a bot flow: its answer goes through the business connection, and the owner’s message gets no bot answer', async () => {
    await setup('polling', { faq: [{ keywords: ['sunday', 'sundays'], answer: 'We are open 10:00–16:00 on Sundays.' }] });
    tg.addBusinessChat(CARLA, CONNECTION);
    tg.pushUpdate(fixture('business-message'));
    const [answer] = await tg.waitForSent(1);
    expect(answer).toMatchObject({ chat_id: CARLA, business_connection_id: CONNECTION, text: 'We are open 10:00–16:00 on Sundays.' });

    // The owner's text matches the FAQ too, but it is not the customer asking.
    tg.pushUpdate(fixture('business-message-owner'));
    await blinger.waitFor(3);
    expect(blinger.received.at(-1)).toMatchObject({ data: 'Yes, 10:00–16:00 on Sundays.', echo: true, echo_outgoing: true });
    // A bot answer to it would be queued before this agent reply in the chat's ordered lane.
    await reply(CARLA, 'from an agent');
    const sent = await tg.waitForSent(2);
    expect(sent.map((s) => [s.text, s.business_connection_id])).toEqual([
      ['We are open 10:00–16:00 on Sundays.', CONNECTION],
      ['from an agent', CONNECTION],
    ]);
  });
});
