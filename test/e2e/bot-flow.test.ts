/**
 * The chat-bot in the middle, end to end: a real bridge with a channel `bot` flow (or developer
 * middleware) between the Telegram Bot API double and the Blinger Custom App double. Every test
 * checks what the user got on Telegram and what Blinger received — echo fields and order included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SentRecord, TelegramDouble } from '../doubles/telegram-api.js';
import type { BlingerDouble } from '../doubles/blinger.js';
import { CHANNEL_ID, startTelegramStack, stopTelegramStack, type TestBridge } from '../helpers/bridge.js';
import type { BotFlowInput } from '../../src/flow/config.js';
import type { Middleware } from '../../src/flow/middleware.js';

let tg: TelegramDouble;
let blinger: BlingerDouble;
let tb: TestBridge | undefined;

/** The flow's clock; tests move it instead of sleeping. Monday 2 June 2025, 12:00 in Berlin. */
const MONDAY_NOON = Date.parse('2025-06-02T10:00:00Z');
let now = MONDAY_NOON;
const MIN = 60_000;
/** Several bot answers to one chat in a row: don't wait out Telegram's per-chat pacing. */
const RELAXED = { limits: { privateChat: { max: 1000, windowMs: 1000 } } };

const BOT: BotFlowInput = {
  greeting: 'Hi! How can we help?',
  menu: [
    { label: 'Opening hours', answer: 'We are open Mon–Fri 9:00–18:00.' },
    { label: 'Talk to an operator', handover: true },
  ],
  faq: [
    { keywords: ['price', 'cost'], answer: 'Our prices: https://example.com/prices' },
    { pattern: 'order\\s*#?\\d+', answer: 'Track your order at https://example.com/track' },
  ],
  handover: { keywords: ['operator', 'human'], idleTimeout: '30m', message: 'Connecting you to an operator…' },
  schedule: {
    timezone: 'Europe/Berlin',
    hours: { 'mon-fri': '09:00-18:00' },
    message: 'We are closed now; an operator will answer from 9:00.',
  },
};

async function setup(o: { bot?: BotFlowInput; middleware?: Middleware[]; mode?: 'polling' | 'webhook' } = {}): Promise<TestBridge> {
  now = MONDAY_NOON;
  ({ tg, blinger, tb } = await startTelegramStack({
    mode: o.mode ?? 'webhook',
    telegram: RELAXED,
    bot: o.bot,
    middleware: o.middleware,
    now: () => now,
  }));
  return tb;
}

afterEach(async () => {
  await stopTelegramStack({ tg, blinger, tb });
  tb = undefined;
});

/** One webhook delivery of a text; resolves once the bridge answered 200 (everything is queued). */
async function say(chatId: number, text: string): Promise<void> {
  const res = await tg.deliverWebhook(tg.makeMessageUpdate({ chat_id: chatId, text }));
  expect(res.status).toBe(200);
}

async function press(sent: SentRecord, label: string): Promise<string> {
  const update = tg.makeCallbackQueryUpdate(sent, label);
  expect((await tg.deliverWebhook(update)).status).toBe(200);
  return update.callback_query.id;
}

const texts = () => tg.sent.map((s) => s.text);

describe('greeting and menu', () => {
  it('greets /start with the menu, keeps the deep-link payload in info, and echoes both ways', async () => {
    await setup({ bot: BOT });
    await say(5001, '/start ad-summer_42');
    const [greeting] = await tg.waitForSent(1);
    expect(greeting).toMatchObject({
      chat_id: '5001',
      text: 'Hi! How can we help?',
      reply_markup: {
        inline_keyboard: [
          [{ text: 'Opening hours', callback_data: expect.stringMatching(/^m:/) }],
          [{ text: 'Talk to an operator', callback_data: expect.stringMatching(/^m:/) }],
        ],
      },
    });
    expect(await blinger.waitForLines(2)).toEqual([
      'echo: /start ad-summer_42',
      'bot: Hi! How can we help?\n[buttons: Opening hours | Talk to an operator]',
    ]);
    const [start, hello] = blinger.received;
    expect(start).toMatchObject({
      client_id: '5001',
      echo: true,
      info: { start_payload: 'ad-summer_42', bot_username: 'test_bridge_bot' },
    });
    expect(start!.echo_outgoing).toBeUndefined();
    expect(hello).toMatchObject({ client_id: '5001', client_name: 'Alice Smith', type: 'text', echo: true, echo_outgoing: true });

    // The payload stays with the conversation: a later message for the agents still carries it.
    await say(5001, 'My parcel never came');
    await blinger.waitFor(3);
    expect(blinger.received[2]).toMatchObject({ data: 'My parcel never came', info: { start_payload: 'ad-summer_42' } });
    expect(blinger.received[2]!.echo).toBeUndefined();
  });

  it('answers a menu button, acknowledges the press, and shows it to agents as readable text', async () => {
    await setup({ bot: BOT });
    await say(5002, '/start');
    const [greeting] = await tg.waitForSent(1);
    const queryId = await press(greeting!, 'Opening hours');
    // answerCallbackQuery went out before the webhook was answered (the spinner stops).
    expect(tg.answeredCallbackQueries).toEqual([queryId]);
    await tg.waitForSent(2);
    expect(tg.sent[1]).toMatchObject({ chat_id: '5002', text: 'We are open Mon–Fri 9:00–18:00.' });
    expect(tg.sent[1]!.reply_markup).toBeUndefined();
    expect(await blinger.waitForLines(4)).toEqual([
      'echo: /start',
      'bot: Hi! How can we help?\n[buttons: Opening hours | Talk to an operator]',
      'echo: [button] Opening hours',
      'bot: We are open Mon–Fri 9:00–18:00.',
    ]);
    expect(blinger.received[2]).toMatchObject({ client_id: '5002', client_name: 'Alice Smith', type: 'text' });
  });

  it('takes button presses in polling mode too (callback_query is among the allowed updates)', async () => {
    await setup({ bot: BOT, mode: 'polling' });
    tg.pushUpdate(tg.makeMessageUpdate({ chat_id: 5010, text: '/start' }));
    const [greeting] = await tg.waitForSent(1);
    tg.pushUpdate(tg.makeCallbackQueryUpdate(greeting!, 'Talk to an operator'));
    await tg.waitForSent(2);
    expect(texts()).toEqual(['Hi! How can we help?', 'Connecting you to an operator…']);
    expect((await blinger.waitForLines(4)).slice(2)).toEqual(['user: [button] Talk to an operator', 'bot: Connecting you to an operator…']);
    expect(tg.answeredCallbackQueries).toHaveLength(1);
  });
});

describe('FAQ auto-answers', () => {
  it('answers keywords and patterns, forwards what it cannot answer, all in the conversation order', async () => {
    await setup({ bot: BOT });
    await say(5003, 'What does it cost?');
    await say(5003, 'where is order #4411');
    await say(5003, 'The box arrived damaged');
    expect(await blinger.waitForLines(5)).toEqual([
      'echo: What does it cost?',
      'bot: Our prices: https://example.com/prices',
      'echo: where is order #4411',
      'bot: Track your order at https://example.com/track',
      'user: The box arrived damaged',
    ]);
    await tg.waitForSent(2);
    expect(texts()).toEqual(['Our prices: https://example.com/prices', 'Track your order at https://example.com/track']);
  });

  it('keeps echoes and ordinary messages in order while Blinger fails for a while, conversation by conversation', async () => {
    await setup({ bot: BOT });
    blinger.failNext(503, 5);
    for (const [chat, text] of [
      [61, 'price?'],
      [62, 'hello'],
      [61, 'order 77'],
      [62, 'cost?'],
      [61, 'thanks, bye'],
    ] as const)
      await say(chat, text);
    await blinger.waitFor(7);
    expect(await blinger.waitForLines(7, '61')).toEqual([
      'echo: price?',
      'bot: Our prices: https://example.com/prices',
      'echo: order 77',
      'bot: Track your order at https://example.com/track',
      'user: thanks, bye',
    ]);
    // 62's "hello" went to the agents, which hands the conversation over: "cost?" is theirs too.
    expect(await blinger.waitForLines(7, '62')).toEqual(['user: hello', 'user: cost?']);
    expect(blinger.received).toHaveLength(7);
  });

  it('without a greeting, /start is mirrored but does not hand the conversation over', async () => {
    await setup({ bot: { faq: BOT.faq } });
    await say(5016, '/start');
    await say(5016, 'price?');
    expect(await blinger.waitForLines(3)).toEqual(['echo: /start', 'echo: price?', 'bot: Our prices: https://example.com/prices']);
    await tg.waitForSent(1);
    expect(texts()).toEqual(['Our prices: https://example.com/prices']);
  });

  it('answers an unmatched message itself when `unmatched.answer` is set, with the menu', async () => {
    await setup({ bot: { ...BOT, unmatched: { answer: 'Sorry, I did not get that. Pick a topic:' } } });
    await say(5011, 'blah');
    const [sent] = await tg.waitForSent(1);
    expect(sent).toMatchObject({ text: 'Sorry, I did not get that. Pick a topic:', reply_markup: { inline_keyboard: expect.any(Array) } });
    expect(await blinger.waitForLines(2)).toEqual([
      'echo: blah',
      'bot: Sorry, I did not get that. Pick a topic:\n[buttons: Opening hours | Talk to an operator]',
    ]);
  });
});

describe('hand-over', () => {
  it('after "operator" everything goes to Blinger until the conversation is idle for idleTimeout', async () => {
    await setup({ bot: BOT });
    await say(5004, 'I need a human please');
    now += 20 * MIN;
    await say(5004, 'what is the price?'); // an FAQ keyword, but the conversation is with the agents
    now += 29 * MIN; // 29 min after the last message: still handed over
    await say(5004, 'hello? price?');
    now += 31 * MIN; // idle for longer than 30 min: the bot is back
    await say(5004, 'price?');
    expect(await blinger.waitForLines(6)).toEqual([
      'user: I need a human please',
      'bot: Connecting you to an operator…',
      'user: what is the price?',
      'user: hello? price?',
      'echo: price?',
      'bot: Our prices: https://example.com/prices',
    ]);
    await tg.waitForSent(2);
    expect(texts()).toEqual(['Connecting you to an operator…', 'Our prices: https://example.com/prices']);
  });

  it('an agent reply hands the conversation over (and keeps it so) even without a request', async () => {
    await setup({ bot: BOT });
    await say(5005, 'price?');
    await tg.waitForSent(1);
    expect((await blinger.sendReply(tb!.url, { client_id: '5005', type: 'text', data: 'Anything else I can do?' })).status).toBe(200);
    now += 25 * MIN;
    await say(5005, 'yes, the cost of shipping');
    expect(await blinger.waitForLines(3)).toEqual([
      'echo: price?',
      'bot: Our prices: https://example.com/prices',
      'user: yes, the cost of shipping',
    ]);
    await tg.waitForSent(2);
    expect(texts()).toEqual(['Our prices: https://example.com/prices', 'Anything else I can do?']);
  });

  it('ignores a redelivered update: one bot answer, one set of echoes', async () => {
    await setup({ bot: BOT });
    const update = tg.makeMessageUpdate({ chat_id: 5006, text: 'operator' });
    expect((await tg.deliverWebhook(update)).status).toBe(200);
    expect((await tg.deliverWebhook(update)).status).toBe(200);
    await say(5006, 'are you there?'); // sentinel: everything queued before it has arrived when it does
    expect(await blinger.waitForLines(3)).toEqual(['user: operator', 'bot: Connecting you to an operator…', 'user: are you there?']);
    expect((await blinger.sendReply(tb!.url, { client_id: '5006', type: 'text', data: 'Yes!' })).status).toBe(200);
    await tg.waitForSent(2);
    expect(texts()).toEqual(['Connecting you to an operator…', 'Yes!']);
  });

  it('asks for the phone with a request_contact keyboard, fills client_phone, thanks and hides the keyboard', async () => {
    await setup({
      bot: { ...BOT, askPhone: { text: 'May we call you back? Share your number.', button: 'Share my phone', thanks: 'Thank you!' } },
    });
    await say(5007, 'operator');
    await tg.waitForSent(2);
    expect(tg.sent[1]).toMatchObject({
      text: 'May we call you back? Share your number.',
      reply_markup: { keyboard: [[{ text: 'Share my phone', request_contact: true }]], one_time_keyboard: true, resize_keyboard: true },
    });
    const contact = tg.makeMessageUpdate({
      chat_id: 5007,
      extra: { contact: { phone_number: '491701234567', first_name: 'Alice', user_id: 5007 } },
    });
    expect((await tg.deliverWebhook(contact)).status).toBe(200);
    await tg.waitForSent(3);
    expect(tg.sent[2]).toMatchObject({ text: 'Thank you!', reply_markup: { remove_keyboard: true } });
    await say(5007, 'one more thing');
    expect(await blinger.waitForLines(6)).toEqual([
      'user: operator',
      'bot: Connecting you to an operator…',
      'bot: May we call you back? Share your number.\n[buttons: Share my phone]',
      'user: Contact: Alice, 491701234567',
      'bot: Thank you!',
      'user: one more thing',
    ]);
    expect(blinger.received[3]!.client_phone).toBe('+491701234567');
    // Known from now on: every later message carries it.
    expect(blinger.received[4]!.client_phone).toBe('+491701234567');
    expect(blinger.received[5]!.client_phone).toBe('+491701234567');
    expect(blinger.received[0]!.client_phone).toBeUndefined();
  });
});

describe('off-hours', () => {
  it('answers off hours once per closed period instead of the hand-over message; FAQ keeps working', async () => {
    await setup({ bot: BOT });
    now = Date.parse('2025-06-07T08:00:00Z'); // Saturday 10:00 in Berlin: closed
    await say(5008, 'price?');
    await say(5008, 'operator');
    now += 60 * MIN;
    await say(5008, 'hello??'); // same closed period: no second off-hours message
    now = Date.parse('2025-06-09T06:00:00Z'); // Monday 08:00: still the same closed period (opens 9:00)
    await say(5008, 'operator please');
    now = Date.parse('2025-06-09T08:00:00Z'); // Monday 10:00: open; hand-over idle, so a new request
    await say(5008, 'operator');
    now = Date.parse('2025-06-09T17:00:00Z'); // Monday 19:00: a new closed period
    await say(5008, 'still there?');
    expect(await blinger.waitForLines(10)).toEqual([
      'echo: price?',
      'bot: Our prices: https://example.com/prices',
      'user: operator',
      'bot: We are closed now; an operator will answer from 9:00.',
      'user: hello??',
      'user: operator please',
      'user: operator',
      'bot: Connecting you to an operator…',
      'user: still there?',
      'bot: We are closed now; an operator will answer from 9:00.',
    ]);
    await tg.waitForSent(4);
    expect(texts()).toEqual([
      'Our prices: https://example.com/prices',
      'We are closed now; an operator will answer from 9:00.',
      'Connecting you to an operator…',
      'We are closed now; an operator will answer from 9:00.',
    ]);
  });
});

describe('mirror: after-handover', () => {
  it('keeps the bot-handled exchange back until the hand-over, then replays it first, in order', async () => {
    const b = await setup({ bot: { ...BOT, mirror: 'after-handover' } });
    await say(5009, 'price?');
    await say(5009, 'order 12');
    await tg.waitForSent(2);
    const history = `${b.prefix}:flow:${CHANNEL_ID}:5009:history`;
    const redis = b.bridge.inbound.store.redis;
    expect(await redis.llen(history)).toBe(4); // kept back, not in the inbound lane
    await say(5009, 'operator');
    expect(await blinger.waitForLines(6)).toEqual([
      'echo: price?',
      'bot: Our prices: https://example.com/prices',
      'echo: order 12',
      'bot: Track your order at https://example.com/track',
      'user: operator',
      'bot: Connecting you to an operator…',
    ]);
    expect(await redis.exists(history)).toBe(0);
    expect(blinger.received[1]).toMatchObject({ echo: true, echo_outgoing: true, client_id: '5009' });
  });

  it('with history: 0 the agents never see what the bot handled before the hand-over', async () => {
    await setup({ bot: { ...BOT, mirror: 'after-handover', history: 0 } });
    await say(5012, 'price?');
    await tg.waitForSent(1);
    await say(5012, 'human');
    await say(5012, 'hi there');
    expect(await blinger.waitForLines(3)).toEqual(['user: human', 'bot: Connecting you to an operator…', 'user: hi there']);
  });
});

describe('groups', () => {
  it('does not answer in group chats: messages go to the agents as before', async () => {
    await setup({ bot: BOT });
    await say(-5013, 'price?');
    expect(await blinger.waitForLines(1)).toEqual(['user: Alice Smith: price?']);
    expect((await blinger.sendReply(tb!.url, { client_id: '-5013', type: 'text', data: 'agent here' })).status).toBe(200);
    await tg.waitForSent(1);
    expect(texts()).toEqual(['agent here']);
  });
});

describe('developer middleware', () => {
  const middleware: Middleware[] = [
    async (ctx, next) => {
      if (ctx.text === '/ping') return ctx.reply('pong');
      if (ctx.text === '/spam') return ctx.drop();
      if (ctx.text === '/quiet') return ctx.skip();
      if (ctx.text === '/boom') throw new Error('middleware bug');
      if (ctx.text === '/ask')
        return ctx.reply('Yes or no?', {
          buttons: [
            [
              { label: 'Yes', data: 'custom:yes' },
              { label: 'No', data: 'custom:no' },
            ],
          ],
        });
      if (ctx.event.button?.data === 'custom:yes') return ctx.reply('You said yes');
      for (const m of ctx.messages) m.info = { ...m.info, seen_by: 'my-bot' };
      await next();
    },
  ];

  it('answers, skips, drops and forwards; a failing middleware forwards rather than losing the message', async () => {
    await setup({ middleware });
    await say(5014, '/ping');
    await say(5014, '/spam');
    await say(5014, '/quiet');
    await say(5014, '/boom');
    await say(5014, 'hello agent');
    await say(5014, '/ask');
    const [, ask] = await tg.waitForSent(2);
    expect(ask).toMatchObject({
      text: 'Yes or no?',
      reply_markup: {
        inline_keyboard: [
          [
            { text: 'Yes', callback_data: 'custom:yes' },
            { text: 'No', callback_data: 'custom:no' },
          ],
        ],
      },
    });
    await press(ask!, 'Yes');
    expect(await blinger.waitForLines(9)).toEqual([
      'echo: /ping',
      'bot: pong',
      'echo: /quiet',
      'user: /boom',
      'user: hello agent',
      'echo: /ask',
      'bot: Yes or no?\n[buttons: Yes | No]',
      'echo: [button] Yes',
      'bot: You said yes',
    ]);
    expect(blinger.received[4]!.info).toMatchObject({ seen_by: 'my-bot' });
    expect(blinger.received[3]!.info?.seen_by).toBeUndefined(); // its decision was dropped with the error
    await tg.waitForSent(3);
    expect(texts()).toEqual(['pong', 'Yes or no?', 'You said yes']);
    expect(tb!.logs.some((l) => l.includes('bot middleware failed'))).toBe(true);
  });

  it('runs before the built-in flow, which answers what the middleware passes on', async () => {
    await setup({ bot: BOT, middleware });
    await say(5015, '/ping');
    await say(5015, 'price?');
    expect(await blinger.waitForLines(4)).toEqual([
      'echo: /ping',
      'bot: pong',
      'echo: price?',
      'bot: Our prices: https://example.com/prices',
    ]);
    expect(blinger.received[2]!.info).toMatchObject({ seen_by: 'my-bot' });
  });
});
