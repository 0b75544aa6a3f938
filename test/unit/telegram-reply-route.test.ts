import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { routeOfUpdate } from '../../adapters/telegram/reply-route.js';
import { readUpdate } from '../../adapters/telegram/update.js';

const routeOf = (update: unknown) => routeOfUpdate(readUpdate(update));

const load = (name: string) =>
  (JSON.parse(readFileSync(new URL(`../fixtures/telegram/${name}.json`, import.meta.url), 'utf8')) as { payload: Record<string, unknown> })
    .payload;
const FORUM = '-1002098765432';

describe('routeOfUpdate (after readUpdate)', () => {
  it('a message in a forum topic: that topic', () => {
    expect(routeOf(load('forum-topic'))).toEqual({ chatId: FORUM, route: { message_thread_id: 42 } });
    expect(routeOf(load('forum-topic-reply'))).toEqual({ chatId: FORUM, route: { message_thread_id: 42 } });
  });

  it('a message in a forum’s General (a reply there carries a message_thread_id too): an empty route, to clear the topic', () => {
    const update = load('forum-general');
    expect((update.message as Record<string, unknown>).message_thread_id).toBe(60);
    expect(routeOf(update)).toEqual({ chatId: FORUM, route: {} });
  });

  it('a business message, the customer’s or the owner’s: the business connection', () => {
    const route = { business_connection_id: 'AbCdEfGh1234_business' };
    expect(routeOf(load('business-message'))).toEqual({ chatId: '7011223344', route });
    expect(routeOf(load('business-message-owner'))).toEqual({ chatId: '7011223344', route });
  });

  it('a button pressed under the bot’s message in a topic: that topic', () => {
    const update = load('callback-query') as { callback_query: { message: Record<string, unknown> } };
    Object.assign(update.callback_query.message, {
      message_thread_id: 42,
      is_topic_message: true,
      chat: { id: -1002098765432, title: 'Acme Help Forum', is_forum: true, type: 'supergroup' },
    });
    expect(routeOf(update)).toEqual({ chatId: FORUM, route: { message_thread_id: 42 } });
  });

  it.each([
    'text',
    'group-text',
    'channel-post',
    'photo-caption',
    'edited-text',
    'edited-business-message',
    'skip-deleted-business-messages',
    'skip-my-chat-member',
  ])('%s: nothing to remember or clear (no Redis call)', (name) => {
    expect(routeOf(load(name))).toBeUndefined();
  });

  it('odd input: undefined, never a throw', () => {
    for (const odd of [null, 1, 'x', [], {}, { message: null }, { message: { chat: { id: '5' } } }, { business_message: { chat: {} } }]) {
      expect(routeOf(odd)).toBeUndefined();
    }
  });
});
