/**
 * The chat-bot in front of the agents, on VK: a VK channel with a `bot` flow between the VK API
 * double (Bots Long Poll) and the Blinger double. VK's "Start" button greets with the menu as
 * callback buttons; a press comes back as message_event (answered, so the spinner stops); FAQ;
 * hand-over; the phone asked for and typed; chats left to the agents.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { VkEvent, VkSentRecord } from '../doubles/vk-api.js';
import { startVkStack, stopVkStack, type VkStack } from '../helpers/vk.js';
import type { BotFlowInput } from '../../src/flow/config.js';

let s: VkStack | undefined;
afterEach(async () => {
  await stopVkStack(s ?? {});
  s = undefined;
});

const BOT: BotFlowInput = {
  greeting: 'Hi! How can we help?',
  menu: [
    { label: 'Opening hours', answer: 'We are open Mon–Fri 9:00–18:00.' },
    { label: 'Talk to an operator', handover: true },
  ],
  faq: [{ keywords: ['price', 'cost'], answer: 'Our prices: https://example.com/prices' }],
  handover: { keywords: ['operator', 'human'], idleTimeout: '30m', message: 'Connecting you to an operator…' },
  askPhone: { text: 'May we call you back? Type your number.', button: 'Share my phone', thanks: 'Thank you!' },
};

async function setup(bot: BotFlowInput = BOT): Promise<VkStack> {
  s = await startVkStack({ bot });
  await s.vk.waitForPoll();
  return s;
}

const push = (e: VkEvent) => s!.vk.pushEvent(e);
const say = (text: string, peer = 100001) => s!.vk.pushMessageNew({ peer, text });
const start = (peer = 100001) => s!.vk.pushMessageNew({ peer, text: 'Начать', payload: '{"command":"start"}' });

describe('bot flow on VK', () => {
  it('VK’s Start button greets with the menu as an inline keyboard of callback buttons', async () => {
    await setup();
    start();
    const [greeting] = await s!.vk.waitForSent(1);
    expect(greeting).toMatchObject({ peer_id: 100001, text: 'Hi! How can we help?' });
    expect(greeting!.keyboard).toMatchObject({
      inline: true,
      buttons: [
        [{ action: { type: 'callback', label: 'Opening hours' } }],
        [{ action: { type: 'callback', label: 'Talk to an operator' } }],
      ],
    });
    expect(await s!.blinger.waitForLines(2)).toEqual([
      'echo: Начать',
      'bot: Hi! How can we help?\n[buttons: Opening hours | Talk to an operator]',
    ]);
    expect(s!.blinger.received[0]).toMatchObject({ client_id: '100001', client_name: 'Alice Smith' });
  });

  it('a press (message_event) is answered so the spinner stops, and the bot answers the menu item', async () => {
    await setup();
    start();
    const [greeting] = await s!.vk.waitForSent(1);
    const press = s!.vk.pressButton(greeting!, 'Opening hours');
    push(press);
    const sent = await s!.vk.waitForSent(2);
    expect(sent[1]).toMatchObject({ text: 'We are open Mon–Fri 9:00–18:00.' });
    expect(sent[1]!.keyboard).toBeUndefined();
    expect((await s!.blinger.waitForLines(4)).slice(2)).toEqual(['echo: [button] Opening hours', 'bot: We are open Mon–Fri 9:00–18:00.']);
    await expect.poll(() => s!.vk.eventAnswers.map((a) => a.event_id)).toEqual([(press.object as { event_id: string }).event_id]);
  });

  it('an app without callback buttons gets text buttons; their press (a message with the label) works the same', async () => {
    await setup();
    s!.vk.pushMessageNew({
      peer: 100002,
      text: 'Начать',
      payload: '{"command":"start"}',
      client_info: { button_actions: ['text', 'open_link'] },
    });
    const [greeting] = await s!.vk.waitForSent(1);
    expect(greeting!.keyboard!.buttons.flat().map((b) => b.action.type)).toEqual(['text', 'text']);
    push(s!.vk.pressButton(greeting as VkSentRecord, 'Talk to an operator'));
    await s!.vk.waitForSent(3);
    expect(s!.vk.sent.map((m) => m.text)).toEqual([
      'Hi! How can we help?',
      'Connecting you to an operator…',
      'May we call you back? Type your number.',
    ]);
    expect((await s!.blinger.waitForLines(5)).slice(2)).toEqual([
      'user: [button] Talk to an operator',
      'bot: Connecting you to an operator…',
      'bot: May we call you back? Type your number.\n[buttons: Share my phone]',
    ]);
  });

  it('answers the FAQ; after "operator" the agents take over, the phone typed after the question fills client_phone', async () => {
    await setup();
    say('what does it cost?');
    await s!.vk.waitForSent(1);
    say('I want a human');
    await s!.vk.waitForSent(3);
    // VK has no "share my phone" button: the question goes without one.
    expect(s!.vk.sent[2]).toMatchObject({ text: 'May we call you back? Type your number.' });
    expect(s!.vk.sent[2]!.keyboard).toBeUndefined();
    say('+7 900 123-45-67');
    await s!.vk.waitForSent(4);
    expect(s!.vk.sent[3]).toMatchObject({ text: 'Thank you!', keyboard: { buttons: [] } });
    say('my parcel is late');
    expect(await s!.blinger.waitForLines(8)).toEqual([
      'echo: what does it cost?',
      'bot: Our prices: https://example.com/prices',
      'user: I want a human',
      'bot: Connecting you to an operator…',
      'bot: May we call you back? Type your number.\n[buttons: Share my phone]',
      'user: +7 900 123-45-67',
      'bot: Thank you!',
      'user: my parcel is late',
    ]);
    expect(s!.blinger.received[5]!.client_phone).toBe('+79001234567');
    expect(s!.blinger.received[7]!.client_phone).toBe('+79001234567');
    expect(s!.blinger.received[0]!.client_phone).toBeUndefined();
    // An agent's reply reaches the user as usual.
    expect((await s!.blinger.sendReply(s!.tb.url, { client_id: '100001', type: 'text', data: 'Hello, this is Anna' })).status).toBe(200);
    await s!.vk.waitForSent(5);
    expect(s!.vk.sent[4]).toMatchObject({ peer_id: 100001, text: 'Hello, this is Anna' });
  });

  it('does not answer in community chats: their messages go to the agents, with the author', async () => {
    await setup();
    s!.vk.pushMessageNew({ peer: 2_000_000_007, from: 100002, text: 'price?' });
    expect(await s!.blinger.waitForLines(1)).toEqual(['user: Boris Petrov: price?']);
    expect(s!.blinger.received[0]).toMatchObject({ client_id: '2000000007', client_name: 'VK chat 7' });
    expect((await s!.blinger.sendReply(s!.tb.url, { client_id: '2000000007', type: 'text', data: 'agent here' })).status).toBe(200);
    const sent = await s!.vk.waitForSent(1);
    expect(sent.map((m) => [m.peer_id, m.text])).toEqual([[2_000_000_007, 'agent here']]);
  });
});
