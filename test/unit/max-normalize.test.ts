/**
 * MAX update → Custom App messages: the table of fixtures (test/fixtures/max/, one file per case,
 * written from MAX's OpenAPI schema and recorded answers, docs/vendors/max.md), plus what the
 * fixtures do not show: the dedupe ids, and the media reference codec behind the /media links.
 */
import { describe, expect, it } from 'vitest';
import { describeFixtures, loadFixtures } from '../adapters/fixtures.js';
import { normalizeUpdate, type NormalizeContext } from '../../adapters/max/normalize.js';
import { parseUpdate, type ParsedUpdate } from '../../adapters/max/updates.js';
import { decodeMediaRef, encodeMediaRef } from '../../adapters/max/media.js';

const TITLES: Record<number, string> = { [-70801090403050]: 'Support group', [-72000000000001]: 'Acme news' };

function context(mediaLink: NormalizeContext['mediaLink']): NormalizeContext {
  return { botUsername: 'bridge_test_bot', botUserId: 229229229, mediaLink, chatTitle: (id) => TITLES[id] };
}

describeFixtures<unknown>('max', (payload, mediaLink) => {
  const parsed = parseUpdate(payload);
  if ('problem' in parsed) return { messages: [], skipped: `invalid: ${parsed.problem}` };
  const n = normalizeUpdate(parsed.update, context(mediaLink));
  return { messages: n.messages, event: n.event, skipped: n.skipped };
});

function fixture(name: string): ParsedUpdate {
  const found = loadFixtures<unknown>('max').find(([n]) => n === name);
  if (!found) throw new Error(`no fixture ${name}`);
  const parsed = parseUpdate(structuredClone(found[1].payload));
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed.update;
}

const dedupe = (u: ParsedUpdate) =>
  normalizeUpdate(
    u,
    context((r) => r.id),
  ).dedupeId;

describe('MAX dedupe ids (a redelivered update is a no-op, a new event never is)', () => {
  it('a message by its mid; a button press by its callback_id; bot_started by chat and time', () => {
    expect(dedupe(fixture('text'))).toBe('max:m:mid.000000000adf429c019d47b1ce460001');
    expect(dedupe(fixture('callback'))).toBe('max:cb:f9LHodD0cOJ7l8cqFUq4HJmCNRUzAbCdEf');
    expect(dedupe(fixture('bot-started'))).toBe('max:s:182182001:1767225600000');
  });

  it('an edit keeps the mid, so edits are told apart by the update time: two edits are two events', () => {
    const first = fixture('edited');
    const second = { ...structuredClone(first), timestamp: first.timestamp + 5000 };
    expect(dedupe(first)).toBe('max:e:mid.000000000adf429c019d47b1ce460099:1767225660000');
    expect(dedupe(second)).not.toBe(dedupe(first));
    // The edit is not the original message either.
    expect(dedupe(first)).not.toBe(`max:m:mid.000000000adf429c019d47b1ce460099`);
  });

  it('a skipped press still carries its callback for the answer', () => {
    const n = normalizeUpdate(
      fixture('skip-callback-deleted-message'),
      context((r) => r.id),
    );
    expect(n.messages).toEqual([]);
    expect(n.callback).toEqual({ id: 'cb4' });
    expect(
      normalizeUpdate(
        fixture('callback'),
        context((r) => r.id),
      ).callback,
    ).toEqual({
      id: 'f9LHodD0cOJ7l8cqFUq4HJmCNRUzAbCdEf',
      label: 'Opening hours',
    });
  });
});

describe('MAX media references', () => {
  it('round-trips kind, URL and a video token; refuses anything else', () => {
    const url = 'https://i.oneme.ru/i?r=abc:def&x=1';
    expect(decodeMediaRef(encodeMediaRef({ kind: 'image', url }))).toEqual({ kind: 'image', url });
    expect(decodeMediaRef(encodeMediaRef({ kind: 'video', url, token: 'vt_1-A' }))).toEqual({ kind: 'video', url, token: 'vt_1-A' });
    for (const bad of ['', 'image', 'image:ftp://x', 'exe:https://x', 'file:/etc/passwd', 'javascript:alert(1)']) {
      expect(decodeMediaRef(bad), bad).toBeUndefined();
    }
  });

  it('a file URL too long for a signed link becomes a text naming the file', () => {
    const update = fixture('image');
    const body = (update as { message: { body: { attachments: Array<{ payload: { url: string } }> } } }).message.body;
    body.attachments[0]!.payload.url = `https://i.oneme.ru/i?r=${'x'.repeat(1300)}`;
    const n = normalizeUpdate(
      update,
      context((r) => r.id),
    );
    expect(n.messages.map((m) => [m.type, m.data])).toEqual([['text', '[photo: its link is too long to pass on]']]);
  });
});
