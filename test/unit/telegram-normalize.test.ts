import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import type { Update } from 'telegraf/types';
import { normalizeUpdate, TELEGRAM_DOWNLOAD_LIMIT, type Normalized } from '../../adapters/telegram/normalize.js';
import { interpretUpdate } from '../../adapters/telegram/interpret.js';
import { describeFixtures, loadFixtures } from '../adapters/fixtures.js';
import type { InboundMessage, MessageType } from '../../src/message.js';
import type { MediaRef } from '../../src/adapter.js';

const FIXTURES = new URL('../fixtures/telegram/', import.meta.url);
const BOT = 'acme_support_bot';
const link = (id: string) => `https://bridge.test/media/${encodeURIComponent(id)}`;

/** A fixture's update (test/fixtures/telegram/<name>.json holds it with its expected messages). */
function load(name: string): Update {
  return (JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as { payload: Update }).payload;
}

/** Normalizes with a fake mediaLink that records what it was given. */
function run(update: unknown): { result: Normalized; refs: MediaRef[] } {
  const refs: MediaRef[] = [];
  const result = normalizeUpdate(update as Update, {
    botUsername: BOT,
    mediaLink: (ref) => {
      refs.push(ref);
      return link(ref.id);
    },
  });
  return { result, refs };
}

/** What every message of Ann's private chat carries (the odd cases below build on the fixtures). */
function annDM(message_id: number, extra: Record<string, unknown> = {}): Pick<InboundMessage, 'client_id' | 'client_name' | 'info'> {
  return {
    client_id: '5123456789',
    client_name: 'Ann Lee',
    info: { username: 'annlee', user_id: 5123456789, language: 'en', chat_type: 'private', message_id, bot_username: BOT, ...extra },
  };
}

function out(who: ReturnType<typeof annDM>, ...parts: Array<[MessageType, string]>): InboundMessage[] {
  return parts.map(([type, data]) => ({ ...who, type, data }));
}

const fixtureNames = loadFixtures('telegram').map(([name]) => name);

describeFixtures<Update>('telegram', (payload, mediaLink) => interpretUpdate(payload, { botUsername: BOT, mediaLink }));

describe('normalizeUpdate on every fixture', () => {
  it.each(fixtureNames)('%s: output is JSON-clean and links only go through mediaLink', (name) => {
    const { result } = run(load(name));
    // No undefined keys anywhere: what we queue is what Blinger receives.
    expect(JSON.parse(JSON.stringify(result))).toStrictEqual(result);
    expect(result.messages.length === 0).toBe(result.skipped !== undefined);
    for (const m of result.messages) {
      if (m.type !== 'text') expect(m.data.startsWith('https://bridge.test/media/')).toBe(true);
      expect(m.info?.bot_username).toBe(BOT);
    }
    expect(JSON.stringify(result)).not.toMatch(/api\.telegram\.org|\/file\/bot/);
  });
});

describe('normalizeUpdate details', () => {
  it('puts the media first and its caption second', () => {
    const { result } = run(load('photo-caption'));
    expect(result.messages.map((m) => m.type)).toEqual(['image', 'text']);
  });

  it('picks the last (largest) photo size even when sizes differ from the fixture', () => {
    const update = load('photo-caption') as Update & { message: { photo: object[] } };
    update.message.photo = update.message.photo.slice(0, 2);
    const { refs } = run(update);
    expect(refs).toStrictEqual([{ id: 'AgACAgIAAxkBAAIBZ2ZnBx2a1s_mid-320', mime: 'image/jpeg', size: 19788, name: 'photo_103.jpg' }]);
  });

  it('links a file of exactly 20 MB and refuses one byte more', () => {
    const update = load('document') as Update & { message: { document: { file_size: number } } };
    update.message.document.file_size = TELEGRAM_DOWNLOAD_LIMIT;
    expect(run(update).result.messages[0]?.type).toBe('file');
    update.message.document.file_size = TELEGRAM_DOWNLOAD_LIMIT + 1;
    const { result, refs } = run(update);
    expect(result.messages[0]).toMatchObject({ type: 'text', data: expect.stringContaining('"invoice-4411.pdf", 20.0 MB') });
    expect(refs).toEqual([]);
  });

  it('names a file with no name and no type by kind and message id, extension from the type', () => {
    const update = load('document') as Update & { message: { document: Record<string, unknown> } };
    delete update.message.document.file_name;
    delete update.message.document.mime_type;
    delete update.message.document.file_size;
    expect(run(update).refs).toStrictEqual([
      { id: 'BQACAgIAAxkBAAIBNGZwdocInvoice4411AAKpSAACx1mBSy', mime: 'application/octet-stream', name: 'document_104' },
    ]);
    update.message.document.mime_type = 'audio/flac';
    expect(run(update).refs[0]?.name).toBe('document_104.flac');
  });

  it('sets no phone from a contact without user_id (it cannot be shown to be the sender’s own)', () => {
    const update = load('contact-own') as Update & { message: { contact: Record<string, unknown> } };
    delete update.message.contact.user_id;
    expect(run(update).result.messages[0]?.client_phone).toBeUndefined();
  });

  it('clips a long reply by characters, not UTF-16 units', () => {
    const update = load('reply') as Update & { message: { reply_to_message: { text: string } } };
    update.message.reply_to_message.text = '😀'.repeat(150);
    const data = run(update).result.messages[0]?.data ?? '';
    expect(data).toBe(`[reply to "${'😀'.repeat(100)}…"]\nOrder #4411, ann@example.com`);
  });

  it('describes a reply to a message in another chat (external_reply) with its quote or media', () => {
    const update = load('text') as Update & { message: Record<string, unknown> };
    update.message.external_reply = {
      origin: { type: 'channel', chat: { id: -1001987654321, title: 'Acme News', type: 'channel' }, message_id: 311, date: 1718600000 },
      photo: [{ file_id: 'AgACAgIAAxkBAAIBextZnB', file_unique_id: 'AQADext', width: 90, height: 68, file_size: 1200 }],
    };
    expect(run(update).result.messages[0]?.data).toBe('[reply to "[photo]"]\nHi! My order #4411 has not arrived yet.');
    update.message.quote = { text: 'summer sale', position: 0 };
    expect(run(update).result.messages[0]?.data).toBe('[reply to "summer sale"]\nHi! My order #4411 has not arrived yet.');
  });

  it('gives an animation without name or type the defaults video/mp4, animation_<id>.mp4', () => {
    const update = load('animation') as Update & { message: { animation: Record<string, unknown> } };
    delete update.message.animation.file_name;
    delete update.message.animation.mime_type;
    expect(run(update).refs).toStrictEqual([
      { id: 'CgACAgQAAxkBAAIBOmZwdsGifAAKvSAACx1mBSy', mime: 'video/mp4', size: 402112, name: 'animation_110.mp4' },
    ]);
  });

  it('shows a reply in a forum topic only when it is not the topic root', () => {
    const update = load('forum-topic') as Update & { message: { reply_to_message: Record<string, unknown> } };
    delete update.message.reply_to_message.forum_topic_created; // the root is recognised by its id
    expect(run(update).result.messages[0]?.data).toBe('Bob Smith: How do I return a blender?');
    update.message.reply_to_message.message_id = 57;
    update.message.reply_to_message.text = 'Where is the returns form?';
    expect(run(update).result.messages[0]?.data).toBe('Bob Smith: [reply to "Where is the returns form?"]\nHow do I return a blender?');
  });

  it('an edit by the business owner is an outgoing echo too', () => {
    const update = load('business-message-owner') as unknown as Record<string, unknown>;
    update.edited_business_message = { ...(update.business_message as object), edit_date: 1718615099 };
    delete update.business_message;
    const [m] = run(update).result.messages;
    expect(m).toMatchObject({
      client_id: '7011223344',
      client_name: 'Carla',
      type: 'text',
      data: '(edited) Yes, 10:00–16:00 on Sundays.',
      echo: true,
      echo_outgoing: true,
    });
    expect(m!.info).toMatchObject({ user_id: 7011223344, edited: true });
  });

  it('a business owner sharing their own contact does not become the client’s phone', () => {
    const update = load('business-message-owner') as unknown as { business_message: Record<string, unknown> };
    delete update.business_message.text;
    update.business_message.contact = { phone_number: '351912345678', first_name: 'Marta', user_id: 6011002200 };
    const [m] = run(update).result.messages;
    expect(m).toMatchObject({ data: 'Contact: Marta, 351912345678', echo: true });
    expect(m!.client_phone).toBeUndefined();
  });

  it('marks an edited media message without caption with a description', () => {
    const update = load('edited-caption') as Update & { edited_message: Record<string, unknown> };
    delete update.edited_message.caption;
    expect(run(update).result.messages).toStrictEqual(out(annDM(103, { edited: true }), ['text', '(edited) [photo]']));
  });

  it('reports an oversized video by its own kind', () => {
    const update = load('video') as Update & { message: { video: { file_size: number } } };
    update.message.video.file_size = 52_428_800;
    expect(run(update).result.messages[0]?.data).toBe(
      `[video "IMG_2291.MOV", 50.0 MB — over Telegram's 20 MB bot download limit; ask the user to send it another way]`,
    );
  });
});

describe('normalizeUpdate never throws on odd input', () => {
  const cases: Array<[string, unknown, string]> = [
    ['null', null, 'not an update object'],
    ['only an update_id', { update_id: 1 }, 'empty update'],
    [
      'an unknown update kind',
      { update_id: 2, purchased_paid_media: { from: {}, paid_media_payload: 'x' } },
      'purchased_paid_media update',
    ],
    ['a message that is not an object', { update_id: 3, message: 'hello' }, 'message update'],
    [
      'a message without chat',
      { update_id: 4, message: { message_id: 1, date: 1718615000, text: 'hi' } },
      'message: message without chat or message_id',
    ],
    [
      'a chat id that is not a number',
      { update_id: 5, message: { message_id: 1, date: 1, chat: { id: '12', type: 'private' }, text: 'hi' } },
      'message: message without chat or message_id',
    ],
    [
      'a photo with no sizes',
      { update_id: 6, message: { message_id: 1, date: 1, chat: { id: 12, type: 'private' }, photo: [] } },
      'message: message with no supported content',
    ],
    [
      'a document without file_id',
      { update_id: 7, message: { message_id: 1, date: 1, chat: { id: 12, type: 'private' }, document: { file_name: 'a.pdf' } } },
      'message: message with no supported content',
    ],
    [
      'a location without coordinates',
      { update_id: 8, message: { message_id: 1, date: 1, chat: { id: 12, type: 'private' }, location: {} } },
      'message: message with no supported content',
    ],
    [
      'an empty text',
      { update_id: 9, message: { message_id: 1, date: 1, chat: { id: 12, type: 'private' }, text: '' } },
      'message: message with no supported content',
    ],
  ];

  it.each(cases)('%s → skipped', (_name, update, reason) => {
    const { result } = run(update);
    expect(result.messages).toEqual([]);
    expect(result.skipped).toBe(reason);
  });

  it('keeps the update id of a skipped update and uses -1 when there is none', () => {
    expect(run({ update_id: 42, message: 'x' }).result.updateId).toBe(42);
    expect(run({ message: 'x' }).result.updateId).toBe(-1);
  });

  it('tolerates odd optional fields around a valid message', () => {
    const update = {
      update_id: 10,
      message: {
        message_id: 5,
        date: 1718615000,
        chat: { id: 12, type: 'private' },
        from: { id: 'not-a-number', first_name: 42 },
        forward_origin: { type: 'martian' },
        reply_to_message: 'not an object',
        text: 'still readable',
      },
    };
    expect(run(update).result.messages).toStrictEqual([
      {
        client_id: '12',
        info: { chat_type: 'private', message_id: 5, bot_username: BOT },
        type: 'text',
        data: '[forwarded]\nstill readable',
      },
    ]);
  });
});
