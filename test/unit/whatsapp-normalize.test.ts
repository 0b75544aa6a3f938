/**
 * WhatsApp webhook normalization: the table of fixtures (test/fixtures/whatsapp/, one file per
 * case), then what a table cannot show: batches, foreign numbers, odd input.
 */
import { describe, expect, it } from 'vitest';
import { describeFixtures, fixtureLink } from '../adapters/fixtures.js';
import { describeFailure, normalizeWebhook, type NormalizeContext } from '../../adapters/whatsapp/normalize.js';
import { startGraphDouble } from '../doubles/graph-api.js';

const ctx: NormalizeContext = { mediaLink: fixtureLink, botFlow: true };

describeFixtures<Record<string, unknown>>('whatsapp', (payload, mediaLink) => {
  const { events, skipped } = normalizeWebhook(payload, '106540352242922', { ...ctx, mediaLink });
  const first = events[0];
  return first
    ? { messages: first.messages, ...(first.event ? { event: first.event } : {}) }
    : { messages: [], skipped: skipped[0]?.reason };
});

describe('WhatsApp webhook batches and odd input', () => {
  it('a batch of entries × changes × messages and statuses is one event per message, in order, each with its own dedupe id', async () => {
    const g = await startGraphDouble({ seed: 3 });
    try {
      const a = { user: { waId: '4915112345678', userId: 'DE.1111', name: 'Anna' } };
      const payload = g.batch(
        [
          g.wa.text('one', { ...a, id: 'wamid.1' }),
          g.wa.text('two', { ...a, id: 'wamid.2' }),
          g.wa.status({ id: 'wamid.sent-1', to: 'DE.1111', via: 'recipient' }, 'failed', { user: a.user }),
          g.wa.text('other user', { id: 'wamid.3' }),
        ],
        'changes',
      );
      const both = g.batch([payload, g.wa.text('entry two', { ...a, id: 'wamid.4' })], 'entries');
      const { events } = normalizeWebhook(both as Record<string, unknown>, g.accounts.whatsapp.phoneNumberId, ctx);
      expect(events.map((e) => [e.dedupeId, e.clientId])).toEqual([
        ['wa:wamid.1', 'DE.1111'],
        ['wa:wamid.2', 'DE.1111'],
        ['wa:failed:wamid.sent-1', 'DE.1111'],
        ['wa:wamid.3', 'US.13491208655302741918'],
        ['wa:wamid.4', 'DE.1111'],
      ]);
      expect(events[2]!.reopen).toBe(true);
    } finally {
      await g.close();
    }
  });

  it('changes of another phone number (one Meta app, several numbers) and other fields are skipped, not queued here', async () => {
    const g = await startGraphDouble({ seed: 4, accounts: { whatsapp: { phoneNumberId: '999999999999' } } });
    try {
      const other = g.wa.text('for the other number') as { entry: Array<{ changes: Array<{ field: string }> }> };
      const template = structuredClone(other);
      template.entry[0]!.changes[0]!.field = 'message_template_status_update';
      const { events, skipped } = normalizeWebhook(
        g.batch([other, template], 'entries') as Record<string, unknown>,
        '106540352242922',
        ctx,
      );
      expect(events).toEqual([]);
      expect(skipped.map((s) => s.reason)).toEqual([
        "for phone number id 999999999999, not this channel's",
        '"message_template_status_update" field (the bridge reads "messages")',
      ]);
    } finally {
      await g.close();
    }
  });

  it('hostile shapes never throw: they are skipped with a reason', () => {
    const odd: unknown[] = [
      { entry: 'x' },
      { entry: [null, 1, { changes: [null, { field: 'messages', value: { messages: [null, 7, {}, { id: 'w', type: 'text' }] } }] }] },
      {
        entry: [
          {
            changes: [
              { field: 'messages', value: { messages: [{ id: 'w2', from_user_id: 'US.1', type: 'image', image: { id: ['x'] } }] } },
            ],
          },
        ],
      },
      {
        entry: [
          { changes: [{ field: 'messages', value: { messages: [{ id: 'w3', from: '../../etc', type: 'text', text: { body: 'x' } }] } }] },
        ],
      },
      { entry: [{ changes: [{ field: 'messages', value: { statuses: [{ id: 's', status: 'failed', errors: 'x' }] } }] }] },
      { entry: [{ changes: [{ field: 'messages', value: { messages: [{ id: 'w4', from_user_id: 'US.1', type: '__proto__' }] } }] }] },
    ];
    const reasons = odd.flatMap((b) => normalizeWebhook(b as Record<string, unknown>, undefined, ctx).skipped.map((s) => s.reason));
    expect(reasons).toEqual([
      'message without an id', // null
      'message without an id', // 7
      'message without an id', // {}
      'message without a sender (from_user_id or from)',
      'image without a media id',
      'message without a sender (from_user_id or from)',
      'failed status without a recipient',
    ]);
    // An unknown type still tells the agent that something came.
    const { events } = normalizeWebhook(odd[5] as Record<string, unknown>, undefined, ctx);
    expect(events[0]?.messages[0]?.data).toBe('[a message WhatsApp does not pass on to businesses]');
  });

  it('without a bot flow, request_welcome has nothing for an agent', () => {
    const body = {
      entry: [{ changes: [{ field: 'messages', value: { messages: [{ id: 'w', from_user_id: 'US.1', type: 'request_welcome' }] } }] }],
    };
    expect(normalizeWebhook(body, undefined, { ...ctx, botFlow: false }).skipped[0]?.reason).toBe(
      'request_welcome (no bot flow to greet the user)',
    );
  });

  it('the window notice names the re-opening template when one is configured', () => {
    expect(describeFailure(131047, undefined, { name: 'reopen_chat' })).toContain('the template "reopen_chat"');
    expect(describeFailure(131053, "Received file of type 'image/gif'")).toBe(
      "Not delivered: WhatsApp could not take the file (Received file of type 'image/gif'). Try another format or a smaller file.",
    );
  });
});
