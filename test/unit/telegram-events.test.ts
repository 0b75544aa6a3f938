import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Update } from 'telegraf/types';
import { parseStart } from '../../adapters/telegram/events.js';
import { interpretUpdate } from '../../adapters/telegram/interpret.js';
import { replyMarkup } from '../../adapters/telegram/send.js';

const BOT = 'acme_support_bot';
const load = (name: string) =>
  (JSON.parse(readFileSync(new URL(`../fixtures/telegram/${name}.json`, import.meta.url), 'utf8')) as { payload: Update }).payload;
const eventOf = (update: Update) => interpretUpdate(update, { botUsername: BOT, mediaLink: (r) => `https://b.test/media/${r.id}` }).event;

describe('telegramEvent', () => {
  it('a text: what was typed, in a private chat', () => {
    expect(eventOf(load('text'))).toEqual({ chat: 'private', text: 'Hi! My order #4411 has not arrived yet.' });
  });

  it('/start, with and without a deep-link payload', () => {
    expect(eventOf(load('command'))).toEqual({ chat: 'private', text: '/start', start: {} });
    const deep = load('command') as Update & { message: { text: string } };
    deep.message.text = '/start ref-42_x';
    expect(eventOf(deep).start).toEqual({ payload: 'ref-42_x' });
  });

  it('a button press: its data and label', () => {
    expect(eventOf(load('callback-query'))).toEqual({ chat: 'private', button: { data: 'order:4411:track', label: 'Track' } });
  });

  it('the sender’s own contact gives the phone; someone else’s does not', () => {
    expect(eventOf(load('contact-own')).phone).toMatch(/^\+\d+$/);
    expect(eventOf(load('contact-other')).phone).toBeUndefined();
  });

  it('a business chat: the customer’s text is the flow’s input, the owner’s own message is not', () => {
    expect(eventOf(load('business-message'))).toEqual({ chat: 'private', text: 'Olá, is the shop open on Sunday?' });
    expect(eventOf(load('business-message-owner'))).toEqual({ chat: 'private' });
    const ownerEdit = load('business-message-owner') as unknown as Record<string, unknown>;
    ownerEdit.edited_business_message = ownerEdit.business_message;
    delete ownerEdit.business_message;
    expect(eventOf(ownerEdit as unknown as Update)).toEqual({ chat: 'private' });
  });

  it('edits, captions and chat kinds', () => {
    expect(eventOf(load('edited-text'))).toEqual({ chat: 'private', edit: true });
    expect(eventOf(load('photo-caption'))).toMatchObject({ text: 'The box arrived damaged' });
    expect(eventOf(load('group-text')).chat).toBe('group');
    expect(eventOf(load('channel-post')).chat).toBe('channel');
  });
});

describe('parseStart', () => {
  it('takes /start addressed to this bot only', () => {
    expect(parseStart('/start', BOT)).toEqual({});
    expect(parseStart('/start@Acme_Support_Bot  abc ', BOT)).toEqual({ payload: 'abc' });
    expect(parseStart('/start@other_bot abc', BOT)).toBeUndefined();
    expect(parseStart('/started', BOT)).toBeUndefined();
    expect(parseStart('please /start', BOT)).toBeUndefined();
  });
});

describe('replyMarkup', () => {
  it('renders buttons as an inline keyboard, a phone request as a one-time contact keyboard', () => {
    expect(replyMarkup({ buttons: [[{ label: 'A', data: 'a' }], [{ label: 'B', data: 'b' }]] })).toEqual({
      inline_keyboard: [[{ text: 'A', callback_data: 'a' }], [{ text: 'B', callback_data: 'b' }]],
    });
    expect(replyMarkup({ requestPhone: 'Share' })).toEqual({
      keyboard: [[{ text: 'Share', request_contact: true }]],
      resize_keyboard: true,
      one_time_keyboard: true,
    });
    expect(replyMarkup({ remove: true })).toEqual({ remove_keyboard: true });
    expect(replyMarkup(undefined)).toBeUndefined();
  });
});
