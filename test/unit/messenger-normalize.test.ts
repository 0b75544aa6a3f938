/**
 * Messenger and Instagram webhook normalization: the fixture tables (test/fixtures/messenger/,
 * test/fixtures/instagram/), then batches, foreign accounts and odd input.
 */
import { describe, expect, it } from 'vitest';
import { describeFixtures, fixtureLink } from '../adapters/fixtures.js';
import { normalizeWebhook, type NormalizeContext } from '../../adapters/messenger/normalize.js';
import { INSTAGRAM, MESSENGER, splitUtf8 } from '../../adapters/messenger/platform.js';
import { DEFAULT_GRAPH_ACCOUNTS, startGraphDouble } from '../doubles/graph-api.js';

const fb: NormalizeContext = {
  platform: MESSENGER,
  mediaLink: fixtureLink,
  accountId: DEFAULT_GRAPH_ACCOUNTS.messenger.pageId,
  getStartedPayload: 'GET_STARTED',
};
const ig: NormalizeContext = {
  platform: INSTAGRAM,
  mediaLink: fixtureLink,
  accountId: DEFAULT_GRAPH_ACCOUNTS.instagram.accountId,
  getStartedPayload: 'GET_STARTED',
  appId: '1517776481860111',
};

for (const [type, ctx] of [
  ['messenger', fb],
  ['instagram', ig],
] as const) {
  describeFixtures<Record<string, unknown>>(type, (payload, mediaLink) => {
    const { events, skipped } = normalizeWebhook(payload, { ...ctx, mediaLink });
    const first = events[0];
    return first ? { messages: first.messages, event: first.event } : { messages: [], skipped: skipped[0]?.reason };
  });
}

describe('Messenger / Instagram batches and odd input', () => {
  it('a batch of events is one event per message, in order; entries of another Page are skipped', async () => {
    const g = await startGraphDouble({ seed: 5 });
    try {
      const payload = g.batch([
        g.fb.text('one', { mid: 'm_1', user: '11111111' }),
        g.fb.text('two', { mid: 'm_2', user: '22222222' }),
        g.fb.postback({ title: 'Prices', payload: 'prices' }, { mid: 'm_3', user: '11111111' }),
      ]) as { entry: Array<{ id: string }> };
      const foreign = structuredClone(g.fb.text('not ours', { mid: 'm_4' })) as { entry: Array<{ id: string }> };
      foreign.entry[0]!.id = '123456789';
      const { events, skipped } = normalizeWebhook({ object: 'page', entry: [...payload.entry, ...foreign.entry] }, fb);
      expect(events.map((e) => [e.dedupeId, e.clientId])).toEqual([
        ['fb:m_1', '11111111'],
        ['fb:m_2', '22222222'],
        ['fb:m_3', '11111111'],
      ]);
      expect(skipped).toEqual([{ id: '123456789', reason: "for account 123456789, not this channel's" }]);
    } finally {
      await g.close();
    }
  });

  it('hostile shapes never throw: they are skipped with a reason', () => {
    const entry = (messaging: unknown) => ({ entry: [{ id: fb.accountId, messaging }] });
    const odd = [
      entry([null, 5, {}]),
      entry([{ sender: { id: '12345678' }, message: { text: 'no mid' } }]),
      entry([{ sender: { id: '../../x' }, message: { mid: 'm', text: 'x' } }]),
      entry([{ sender: { id: '12345678' }, read: { watermark: 1 } }]),
      entry([{ sender: { id: '12345678' }, message: { mid: 'm', attachments: 'x' } }]),
      entry([{ sender: { id: '12345678' }, postback: { title: 'x' } }]),
    ];
    const reasons = odd.flatMap((b) => normalizeWebhook(b, fb).skipped.map((s) => s.reason));
    expect(reasons).toEqual([
      'event without a user id',
      'event without a user id',
      'event without a user id',
      'message without a mid',
      'event without a user id',
      'read event',
      'message with no supported content',
      'postback without a payload',
    ]);
  });

  it('Instagram texts are cut to 1000 bytes of UTF-8, Messenger texts to 2000 characters', () => {
    const cyrillic = 'Привет мир '.repeat(200); // 2 bytes a letter
    const parts = splitUtf8(cyrillic);
    expect(parts.every((p) => Buffer.byteLength(p) <= 1000)).toBe(true);
    expect(parts.join(' ').replace(/\s+/g, ' ').trim()).toBe(cyrillic.replace(/\s+/g, ' ').trim());
    const emoji = '😀'.repeat(600); // 4 bytes each, no spaces
    expect(splitUtf8(emoji).every((p) => Buffer.byteLength(p) <= 1000 && !/^[\udc00-\udfff]/.test(p))).toBe(true);
    expect(splitUtf8(emoji).join('')).toBe(emoji);
    expect(MESSENGER.split('a'.repeat(4500)).map((p) => p.length)).toEqual([2000, 2000, 500]);
  });
});
