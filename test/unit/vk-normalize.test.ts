/**
 * VK community events → Custom App messages: the table of fixtures (test/fixtures/vk/, one file
 * per case), plus what a table cannot show — the phone a bot flow asked for, odd and hostile
 * input, the names users.get must be asked for.
 */
import { describe, expect, it } from 'vitest';
import { describeFixtures, fixtureLink, loadFixtures } from '../adapters/fixtures.js';
import { buttonPress, normalizeEvent, phoneIn, userIdsOf } from '../../adapters/vk/normalize.js';

const NAMES = new Map([
  [100001, 'Alice Test'],
  [100002, 'Boris Petrov'],
  [100003, 'Vera Orlova'],
]);

describeFixtures('vk', (payload, mediaLink) => normalizeEvent(payload, { names: NAMES, mediaLink }));

const ctx = { names: NAMES, mediaLink: fixtureLink };
const event = (name: string) => structuredClone(loadFixtures<Record<string, unknown>>('vk').find(([n]) => n === name)![1].payload);

describe('VK normalization beyond the fixtures', () => {
  it('stores the VK URL behind each link (largest photo size), and asks for a button answer only for message_event', () => {
    const photo = normalizeEvent(event('photo-with-caption'), ctx);
    expect(photo.files).toEqual([
      {
        id: 'photo100001_457239017',
        url: 'https://sun9-12.userapi.com/impg/w457239017.jpg?size=1920x2560&quality=95&sign=3f&type=album',
      },
    ]);
    expect(photo.answer).toBeUndefined();
    expect(normalizeEvent(event('message-event'), ctx).answer).toEqual({ event_id: '6a3f9c2be1d4', user_id: 100001, peer_id: 100001 });
  });

  it('takes a typed phone number as the answer only after the bot asked, and only in private conversations', () => {
    const e = event('text-private');
    ((e.object as Record<string, unknown>).message as Record<string, unknown>).text = '8 (900) 123-45-67';
    expect(normalizeEvent(e, ctx).event?.phone).toBeUndefined();
    const asked = normalizeEvent(e, { ...ctx, phoneAsked: true });
    expect(asked.event?.phone).toBe('+79001234567');
    expect(asked.messages[0]).toMatchObject({ client_phone: '+79001234567', data: '8 (900) 123-45-67' });
    const chat = event('chat-message');
    ((chat.object as Record<string, unknown>).message as Record<string, unknown>).text = '+7 900 123 45 67';
    expect(normalizeEvent(chat, { ...ctx, phoneAsked: true }).event?.phone).toBeUndefined();
  });

  it('reads phone numbers the way people type them, and nothing else', () => {
    expect(phoneIn('+49 170 1234567')).toBe('+491701234567');
    expect(phoneIn('89001234567')).toBe('+79001234567');
    expect(phoneIn('79001234567')).toBe('+79001234567');
    expect(phoneIn('(495) 123-45-67')).toBe('4951234567');
    for (const no of ['call me', '12345', '+1 2', 'order 4411 please', '1234567890123456', '']) expect(phoneIn(no), no).toBeUndefined();
  });

  it('tells the bridge’s own buttons, VK’s Start button and other bots’ buttons apart', () => {
    expect(buttonPress('{"b":"m:2"}', 'Prices')).toEqual({ button: { data: 'm:2', label: 'Prices' } });
    expect(buttonPress('{"command":"start"}', 'Start')).toEqual({ start: true });
    expect(buttonPress('{"x":1}', 'Other')).toEqual({ button: { data: '{"x":1}', label: 'Other' } });
    expect(buttonPress('not json', undefined)).toEqual({ button: { data: 'not json' } });
    expect(buttonPress(undefined, 'text')).toBeUndefined();
    expect(buttonPress(42, 'text')).toBeUndefined();
  });

  it('names the users to look up: sender, replied and forwarded authors, never communities or chats', () => {
    expect(userIdsOf(event('forwarded')).sort()).toEqual([100001, 100002]);
    expect(userIdsOf(event('chat-message')).sort()).toEqual([100002]);
    expect(userIdsOf(event('reply'))).toEqual([100001]);
    expect(userIdsOf(event('message-event'))).toEqual([100001]);
    expect(userIdsOf(null)).toEqual([]);
  });

  it('without a known name, a private conversation has no client_name and a chat author is shown by id', () => {
    const none = { mediaLink: fixtureLink };
    expect(normalizeEvent(event('text-private'), none).messages[0]!.client_name).toBeUndefined();
    expect(normalizeEvent(event('chat-message'), none).messages[0]!.data).toBe('id100002: does anyone know the opening hours?');
  });

  it('skips with a reason, never throws, on hostile or broken events', () => {
    const broken: unknown[] = [
      null,
      42,
      'message_new',
      [],
      {},
      { type: 'message_new' },
      { type: 'message_new', object: null },
      { type: 'message_new', object: { message: { peer_id: -5, from_id: 1, text: 'x' } } },
      { type: 'message_new', object: { message: { peer_id: '100001', from_id: 100001, text: 'x' } } },
      { type: 'message_new', object: { message: { peer_id: 100001, from_id: -218000001, text: 'x' } } },
      { type: 'message_new', object: { message: { peer_id: 1e300, from_id: 1, text: 'x' } } },
      { type: 'message_event', object: { user_id: 1, peer_id: 1 } },
      { type: 'message_event', object: { user_id: -1, peer_id: 1, event_id: 'x' } },
      { type: '__proto__', object: {} },
    ];
    for (const b of broken) {
      const n = normalizeEvent(b, ctx);
      expect(n.messages, JSON.stringify(b)).toEqual([]);
      expect(typeof n.skipped).toBe('string');
    }
  });

  it('odd attachment fields become text or are named, never an exception or a bad link', () => {
    const e = event('photo-with-caption');
    const message = (e.object as Record<string, unknown>).message as Record<string, unknown>;
    message.attachments = [
      { type: 'photo', photo: { id: 1, owner_id: 1, sizes: [{ url: 'javascript:alert(1)', width: 9, height: 9 }] } },
      { type: 'doc', doc: { id: 2, owner_id: 1, url: 42 } },
      { type: 'unknown_kind', unknown_kind: {} },
      { type: 'video' },
      null,
      'photo',
    ];
    const n = normalizeEvent(e, ctx);
    expect(n.files).toEqual([]);
    expect(n.messages.map((m) => m.type)).toEqual(['text']);
    expect(n.messages[0]!.data).toBe('The box arrived damaged\n[photo]\n[doc]\n[unknown kind]\n[video]');
  });

  it('shows at most 20 forwarded messages, and says how many more there were', () => {
    const e = event('forwarded');
    const message = (e.object as Record<string, unknown>).message as Record<string, unknown>;
    message.fwd_messages = Array.from({ length: 25 }, (_, i) => ({ from_id: 100002, text: `line ${i}`, attachments: [] }));
    const text = normalizeEvent(e, ctx).messages[0]!.data;
    expect(text.match(/\[forwarded from Boris Petrov\]/g)).toHaveLength(20);
    expect(text).toContain('line 19');
    expect(text).not.toContain('line 20');
    expect(text.endsWith('[… 5 more forwarded]')).toBe(true);
  });
});
