/**
 * The channel bot flow on WhatsApp, end to end through the Graph double: WhatsApp's welcome
 * request is the conversation's start, the menu shows as reply buttons (a list when it does not
 * fit), a tap comes back as the button, FAQ answers, the hand-over, and the phone asked for with
 * WhatsApp's own "share contact info" button — what the user got and what Blinger saw, in order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GraphSent } from '../doubles/graph-api.js';
import { lineOf } from '../doubles/blinger.js';
import type { BotFlowInput } from '../../src/flow/config.js';
import { startMetaStack, type MetaStack } from '../helpers/meta.js';

const BSUID = 'US.13491208655302741918';
let stack: MetaStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const BOT: BotFlowInput = {
  greeting: 'Hi! How can we help?',
  menu: [
    { label: 'Opening hours', answer: 'We are open Mon–Fri 9:00–18:00.' },
    { label: 'Talk to an operator', handover: true },
  ],
  faq: [{ keywords: ['price', 'cost'], answer: 'Our prices: https://example.com/prices' }],
  handover: { keywords: ['operator', 'human'], message: 'Connecting you to an operator…' },
  askPhone: { when: 'handover', text: 'May an operator call you back?', button: 'Share my number', thanks: 'Thank you!' },
};

/** The reply buttons or list rows of an interactive message the bot sent: [id, title]. */
function choices(sent: GraphSent): Array<[string, string]> {
  const i = sent.body.interactive as { type: string; action: Record<string, unknown> };
  if (i.type === 'button')
    return (i.action.buttons as Array<{ reply: { id: string; title: string } }>).map((b) => [b.reply.id, b.reply.title]);
  const rows = (i.action.sections as Array<{ rows: Array<{ id: string; title: string }> }>).flatMap((s) => s.rows);
  return rows.map((r) => [r.id, r.title]);
}

describe('bot flow on WhatsApp', () => {
  it('greets on the welcome request with reply buttons, answers a tap and an FAQ, hands over and takes the shared phone', async () => {
    const s = (stack = await startMetaStack('whatsapp', { bot: BOT }));
    const user = { id: 'wamid.welcome', timestamp: undefined } as const;
    const welcome = s.g.wa.text('x', { id: user.id }) as {
      entry: Array<{ changes: Array<{ value: { messages: Array<Record<string, unknown>> } }> }>;
    };
    const msg = welcome.entry[0]!.changes[0]!.value.messages[0]!;
    delete msg.text;
    msg.type = 'request_welcome';
    expect((await s.g.deliver(s.webhook, welcome)).status).toBe(200);

    const [greeting] = await s.g.waitForSent(1, 'whatsapp');
    expect(greeting).toMatchObject({ to: BSUID, type: 'interactive', text: 'Hi! How can we help?' });
    expect((greeting!.body.interactive as { type: string }).type).toBe('button');
    const menu = choices(greeting!);
    expect(menu.map(([, title]) => title)).toEqual(['Opening hours', 'Talk to an operator']);

    // A tap on "Opening hours".
    const [hoursId] = menu[0]!;
    await s.g.deliver(s.webhook, s.g.wa.buttonReply({ id: hoursId, title: 'Opening hours' }, greeting!.id));
    await s.g.waitForSent(2, 'whatsapp');
    expect(s.g.sent[1]).toMatchObject({ type: 'text', text: 'We are open Mon–Fri 9:00–18:00.' });

    // An FAQ keyword.
    await s.g.deliver(s.webhook, s.g.wa.text('what does it cost?'));
    await s.g.waitForSent(3, 'whatsapp');
    expect(s.g.sent[2]!.text).toBe('Our prices: https://example.com/prices');

    // The hand-over keyword: the hand-over message, then WhatsApp's "share contact info" button.
    await s.g.deliver(s.webhook, s.g.wa.text('I want a human please'));
    const sent = await s.g.waitForSent(5, 'whatsapp');
    expect(sent[3]!.text).toBe('Connecting you to an operator…');
    expect(sent[4]!.body.interactive).toEqual({
      type: 'request_contact_info',
      body: { text: 'May an operator call you back?' },
      action: { name: 'request_contact_info' },
    });

    // The user shares their number: thanks, and Blinger knows the phone.
    await s.g.deliver(s.webhook, s.g.wa.contactShare('+1 650-555-1234'));
    await s.g.waitForSent(6, 'whatsapp');
    expect(s.g.sent[5]!.text).toBe('Thank you!');
    await s.g.deliver(s.webhook, s.g.wa.text('my parcel never came'));

    const got = await s.blinger.waitFor(12);
    expect(got.map(lineOf)).toEqual([
      'echo: [opened the chat]',
      'bot: Hi! How can we help?\n[buttons: Opening hours | Talk to an operator]',
      'echo: [button] Opening hours',
      'bot: We are open Mon–Fri 9:00–18:00.',
      'echo: what does it cost?',
      'bot: Our prices: https://example.com/prices',
      'user: I want a human please',
      'bot: Connecting you to an operator…',
      'bot: May an operator call you back?\n[buttons: Share my number]',
      'user: Contact: Sheena Nelson, +1 650-555-1234',
      'bot: Thank you!',
      'user: my parcel never came',
    ]);
    expect(got.every((m) => m.client_id === BSUID)).toBe(true);
    expect(got.at(-1)).toMatchObject({ client_phone: '+16505551234', client_name: 'Sheena Nelson' });
  });

  it('a menu that does not fit three reply buttons becomes a list; a chosen row is the button', async () => {
    const menu = ['Opening hours', 'Prices and delivery costs', 'Returns', 'Order status'].map((label, i) => ({
      label,
      answer: `answer ${i}`,
    }));
    const s = (stack = await startMetaStack('whatsapp', { bot: { greeting: 'Pick a topic', menu } }));
    await s.g.deliver(s.webhook, s.g.wa.text('/start'));
    const [greeting] = await s.g.waitForSent(1, 'whatsapp');
    const i = greeting!.body.interactive as { type: string; action: { button: string } };
    expect(i.type).toBe('list');
    expect(i.action.button).toBe('Menu');
    const rows = choices(greeting!);
    // Row titles hold 24 characters: a longer label is cut there and shown whole as the description.
    expect(rows.map(([, t]) => t)).toEqual(['Opening hours', 'Prices and delivery…', 'Returns', 'Order status']);
    const [returnsId] = rows[2]!;
    await s.g.deliver(s.webhook, s.g.wa.listReply({ id: returnsId, title: 'Returns' }, greeting!.id));
    await s.g.waitForSent(2, 'whatsapp');
    expect(s.g.sent[1]!.text).toBe('answer 2');
  });
});
