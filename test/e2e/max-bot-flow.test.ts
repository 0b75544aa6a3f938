/**
 * The bot flow on MAX, end to end: a real bridge with a channel `bot` section between the MAX Bot
 * API double and the Blinger double. MAX's bot_started is the flow's /start (deep-link payload
 * included), menu buttons are callback buttons whose presses come back as message_callback and
 * are answered (POST /answers), the phone request is a request_contact button whose contact
 * fills client_phone. Every test checks what the user got in MAX and what Blinger received.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toJson, type Json, type MaxSentRecord } from '../doubles/max-api.js';
import type { BotFlowInput } from '../../src/flow/config.js';
import { MAX_CHANNEL, MAX_SECRET, startMaxStack, stopMaxStack, type MaxStack } from '../helpers/max.js';

let s: MaxStack | undefined;
afterEach(async () => {
  if (s) await stopMaxStack(s);
  s = undefined;
});

/** Monday 2 June 2025, 12:00 in Berlin: within opening hours. */
const MONDAY_NOON = Date.parse('2025-06-02T10:00:00Z');

const BOT: BotFlowInput = {
  greeting: 'Здравствуйте! Чем помочь?',
  menu: [
    { label: 'Часы работы', answer: 'Мы работаем пн–пт 9:00–18:00.' },
    { label: 'Оператор', handover: true },
  ],
  faq: [{ keywords: ['цена', 'стоимость'], answer: 'Цены: https://example.com/prices' }],
  handover: { keywords: ['оператор'], idleTimeout: '30m', message: 'Соединяю с оператором…' },
};

const IVAN = { user_id: 7101, first_name: 'Иван', last_name: 'Петров' };

async function setup(bot: BotFlowInput, mode: 'polling' | 'webhook' = 'polling'): Promise<MaxStack> {
  s = await startMaxStack({ bot, mode, now: () => MONDAY_NOON });
  return s;
}

/** Webhook mode: delivers what MAX holds and checks every delivery was answered 200. */
async function deliver(): Promise<void> {
  const results = await s!.max.deliverWebhook();
  expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
}

const buttonsOf = (sent: MaxSentRecord) => sent.keyboard?.map((row) => row.map((b) => [b.type, b.text]));

describe('bot flow on MAX', () => {
  it('greets bot_started with the menu as callback buttons, keeping the deep-link payload with the conversation', async () => {
    await setup(BOT);
    const started = s!.max.pushBotStarted({ user: IVAN, payload: 'ad-summer_42' });
    const [greeting] = await s!.max.waitForSent(1);
    expect(greeting).toMatchObject({ chatId: started.chat_id, text: 'Здравствуйте! Чем помочь?' });
    expect(buttonsOf(greeting!)).toEqual([[['callback', 'Часы работы']], [['callback', 'Оператор']]]);
    expect(await s!.blinger.waitForLines(2)).toEqual([
      'echo: /start ad-summer_42',
      'bot: Здравствуйте! Чем помочь?\n[buttons: Часы работы | Оператор]',
    ]);
    expect(s!.blinger.received[0]).toMatchObject({
      client_id: String(started.chat_id),
      client_name: 'Иван Петров',
      info: { start_payload: 'ad-summer_42', bot_username: 'bridge_test_bot' },
    });
    s!.max.pushMessage('Заказ не пришёл', { user: IVAN });
    await s!.blinger.waitFor(3);
    expect(s!.blinger.received[2]).toMatchObject({ data: 'Заказ не пришёл', info: { start_payload: 'ad-summer_42' } });
    expect(s!.blinger.received[2]!.echo).toBeUndefined();
  });

  it('answers a menu button, answers the press itself (POST /answers), and shows it to agents as readable text', async () => {
    await setup(BOT, 'webhook');
    s!.max.pushBotStarted({ user: IVAN });
    await deliver();
    const [greeting] = await s!.max.waitForSent(1);
    const press = s!.max.pushCallback(greeting!, 'Часы работы');
    await deliver();
    // The press was answered before the webhook was: the spinner stops at once.
    expect(s!.max.answers.map((a) => [a.callbackId, a.notification])).toEqual([[(press.callback as Json).callback_id, 'Часы работы']]);
    await s!.max.waitForSent(2);
    expect(s!.max.sent[1]).toMatchObject({ text: 'Мы работаем пн–пт 9:00–18:00.' });
    expect(s!.max.sent[1]!.keyboard).toBeUndefined();
    expect(await s!.blinger.waitForLines(4)).toEqual([
      'echo: /start',
      'bot: Здравствуйте! Чем помочь?\n[buttons: Часы работы | Оператор]',
      'echo: [button] Часы работы',
      'bot: Мы работаем пн–пт 9:00–18:00.',
    ]);
    // MAX redelivers the press: one answer, one set of echoes.
    const again = await fetch(`${s!.tb.url}/max/${MAX_CHANNEL}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-max-bot-api-secret': MAX_SECRET },
      body: toJson(press),
    });
    expect(await again.json()).toEqual({ ok: true, result: 'duplicate' });
  });

  it('FAQ answers, then the hand-over button gives the conversation to the agents', async () => {
    await setup(BOT);
    s!.max.pushMessage('Какая цена доставки?', { user: IVAN });
    await s!.max.waitForSent(1);
    s!.max.pushBotStarted({ user: IVAN });
    const [, greeting] = await s!.max.waitForSent(2);
    s!.max.pushCallback(greeting!, 'Оператор');
    await s!.max.waitForSent(3);
    s!.max.pushMessage('А цена со скидкой?', { user: IVAN });
    expect(await s!.blinger.waitForLines(7)).toEqual([
      'echo: Какая цена доставки?',
      'bot: Цены: https://example.com/prices',
      'echo: /start',
      'bot: Здравствуйте! Чем помочь?\n[buttons: Часы работы | Оператор]',
      'user: [button] Оператор',
      'bot: Соединяю с оператором…',
      // An FAQ keyword, but the conversation is with the agents now.
      'user: А цена со скидкой?',
    ]);
    expect(s!.max.sent.map((m) => m.text)).toEqual([
      'Цены: https://example.com/prices',
      'Здравствуйте! Чем помочь?',
      'Соединяю с оператором…',
    ]);
  });

  it('asks for the phone with a request_contact button; the shared contact fills client_phone from then on', async () => {
    await setup({ ...BOT, askPhone: { text: 'Оставите номер для звонка?', button: 'Поделиться номером', thanks: 'Спасибо!' } });
    s!.max.pushMessage('оператор', { user: IVAN });
    await s!.max.waitForSent(2);
    expect(s!.max.sent[1]).toMatchObject({ text: 'Оставите номер для звонка?' });
    expect(buttonsOf(s!.max.sent[1]!)).toEqual([[['request_contact', 'Поделиться номером']]]);
    // MAX sends the user's own contact card when they tap the button.
    s!.max.pushMessage(
      { attachments: [s!.max.contactAttachment({ name: 'Иван Петров', phone: '+7 900 123-45-67', user: IVAN })] },
      { user: IVAN },
    );
    await s!.max.waitForSent(3);
    expect(s!.max.sent[2]).toMatchObject({ text: 'Спасибо!' });
    s!.max.pushMessage('И ещё вопрос', { user: IVAN });
    expect(await s!.blinger.waitForLines(6)).toEqual([
      'user: оператор',
      'bot: Соединяю с оператором…',
      'bot: Оставите номер для звонка?\n[buttons: Поделиться номером]',
      'user: Contact: Иван Петров, +79001234567',
      'bot: Спасибо!',
      'user: И ещё вопрос',
    ]);
    const phones = s!.blinger.received.map((m) => m.client_phone);
    expect(phones).toEqual([undefined, undefined, undefined, '+79001234567', '+79001234567', '+79001234567']);
  });

  it('does not answer in group chats: messages go to the agents as before', async () => {
    await setup(BOT);
    s!.max.addGroupChat(-70801090403051, 'Оптовики');
    s!.max.pushMessage('цена?', { chatType: 'chat', chatId: -70801090403051, user: IVAN });
    expect(await s!.blinger.waitForLines(1)).toEqual(['user: Иван Петров: цена?']);
    expect(s!.blinger.received[0]).toMatchObject({ client_id: '-70801090403051', client_name: 'Оптовики' });
    expect((await s!.blinger.sendReply(s!.tb.url, { client_id: '-70801090403051', type: 'text', data: 'Агент на связи' })).status).toBe(
      200,
    );
    const [sent] = await s!.max.waitForSent(1);
    expect([sent!.chatId, sent!.text]).toEqual([-70801090403051, 'Агент на связи']);
  });
});
