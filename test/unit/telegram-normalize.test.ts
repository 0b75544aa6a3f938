import { readdirSync, readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import type { Update } from 'telegraf/types';
import { normalizeUpdate, TELEGRAM_DOWNLOAD_LIMIT, type Normalized } from '../../adapters/telegram/normalize.js';
import type { InboundMessage, MessageType } from '../../src/message.js';
import type { MediaRef } from '../../src/adapter.js';

const FIXTURES = new URL('../fixtures/telegram/', import.meta.url);
const BOT = 'acme_support_bot';
const link = (id: string) => `https://bridge.test/media/${encodeURIComponent(id)}`;

function load(name: string): Update {
  return JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as Update;
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

// --- who sent it: the client fields and the info every message of the update carries -----------

interface Who {
  client: Pick<InboundMessage, 'client_id' | 'client_name' | 'client_phone'>;
  info: Record<string, unknown>;
}
const ANN = { username: 'annlee', user_id: 5123456789, language: 'en' };
const BOB = { username: 'bob_smith', user_id: 6234567890, language: 'de' };

const annDM = (message_id: number, extra: Record<string, unknown> = {}): Who => ({
  client: { client_id: '5123456789', client_name: 'Ann Lee' },
  info: { ...ANN, chat_type: 'private', message_id, bot_username: BOT, ...extra },
});
const inSupergroup = (user: object, message_id: number, extra: Record<string, unknown> = {}): Who => ({
  client: { client_id: '-1002012345678', client_name: 'Acme Customers' },
  info: { ...user, chat_type: 'supergroup', chat_title: 'Acme Customers', message_id, bot_username: BOT, ...extra },
});
const inForum = (user: object, message_id: number): Who => ({
  client: { client_id: '-1002098765432', client_name: 'Acme Help Forum' },
  info: { ...user, chat_type: 'supergroup', chat_title: 'Acme Help Forum', message_id, bot_username: BOT, thread_id: 42 },
});
const inChannel = (message_id: number, extra: Record<string, unknown> = {}): Who => ({
  client: { client_id: '-1001987654321', client_name: 'Acme News' },
  info: { chat_type: 'channel', chat_title: 'Acme News', message_id, bot_username: BOT, ...extra },
});

function out(who: Who, ...parts: Array<[MessageType, string]>): InboundMessage[] {
  return parts.map(([type, data]) => ({ ...who.client, info: who.info, type, data }));
}

const photo = (tag: string) => `AgACAgIAAxkBAAIB${tag}ZnBx2a1s_large-1280`;

// --- one expectation per fixture file -------------------------------------------------------------

interface Expected {
  title: string;
  messages?: InboundMessage[];
  skipped?: string;
  /** What mediaLink was asked for, in order. */
  refs?: MediaRef[];
}

const EXPECTED: Record<string, Expected> = {
  text: {
    title: 'text → text',
    messages: out(annDM(101), ['text', 'Hi! My order #4411 has not arrived yet.']),
  },
  command: {
    title: 'a command is ordinary text',
    messages: out(annDM(102), ['text', '/start']),
  },
  'photo-caption': {
    title: 'photo: the largest size is the image, the caption a text after it',
    messages: out(annDM(103), ['image', link(photo('Z2'))], ['text', 'The box arrived damaged']),
    refs: [{ id: photo('Z2'), mime: 'image/jpeg', size: 187342, name: 'photo_103.jpg' }],
  },
  document: {
    title: 'document keeps its file name and mime type',
    messages: out(annDM(104), ['file', link('BQACAgIAAxkBAAIBNGZwdocInvoice4411AAKpSAACx1mBSy')]),
    refs: [{ id: 'BQACAgIAAxkBAAIBNGZwdocInvoice4411AAKpSAACx1mBSy', mime: 'application/pdf', size: 48213, name: 'invoice-4411.pdf' }],
  },
  'document-oversized': {
    title: 'a document over 20 MB becomes a text naming it (no link), the caption follows',
    messages: out(
      annDM(105),
      ['text', `[file "big.zip", 25.3 MB — over Telegram's 20 MB bot download limit; ask the user to send it another way]`],
      ['text', 'all the logs'],
    ),
    refs: [],
  },
  audio: {
    title: 'audio without a file name gets audio_<id>.mp3',
    messages: out(annDM(106), ['file', link('CQACAgIAAxkBAAIBNmZwdpAudioAAKrSAACx1mBSy')]),
    refs: [{ id: 'CQACAgIAAxkBAAIBNmZwdpAudioAAKrSAACx1mBSy', mime: 'audio/mpeg', size: 3431722, name: 'audio_106.mp3' }],
  },
  voice: {
    title: 'voice without mime type defaults to audio/ogg, voice_<id>.ogg',
    messages: out(annDM(107), ['file', link('AwACAgIAAxkBAAIBN2ZwdpVoiceAAKsSAACx1mBSy')]),
    refs: [{ id: 'AwACAgIAAxkBAAIBN2ZwdpVoiceAAKsSAACx1mBSy', mime: 'audio/ogg', size: 28117, name: 'voice_107.ogg' }],
  },
  video: {
    title: 'video keeps the sender’s name and type',
    messages: out(annDM(108), ['file', link('BAACAgIAAxkBAAIBOGZwdqVideoAAKtSAACx1mBSy')]),
    refs: [{ id: 'BAACAgIAAxkBAAIBOGZwdqVideoAAKtSAACx1mBSy', mime: 'video/quicktime', size: 9123456, name: 'IMG_2291.MOV' }],
  },
  'video-note': {
    title: 'video note defaults to video/mp4, video_note_<id>.mp4',
    messages: out(annDM(109), ['file', link('DQACAgIAAxkBAAIBOWZwdrNoteAAKuSAACx1mBSy')]),
    refs: [{ id: 'DQACAgIAAxkBAAIBOWZwdrNoteAAKuSAACx1mBSy', mime: 'video/mp4', size: 812334, name: 'video_note_109.mp4' }],
  },
  animation: {
    title: 'animation (which also carries `document`) is one file',
    messages: out(annDM(110), ['file', link('CgACAgQAAxkBAAIBOmZwdsGifAAKvSAACx1mBSy')]),
    refs: [{ id: 'CgACAgQAAxkBAAIBOmZwdsGifAAKvSAACx1mBSy', mime: 'video/mp4', size: 402112, name: 'giphy.mp4' }],
  },
  'sticker-static': {
    title: 'static sticker → image, .webp',
    messages: out(annDM(111), ['image', link('CAACAgIAAxkBAAIBO2ZwdsStaticAAKwSAACx1mBSy')]),
    refs: [{ id: 'CAACAgIAAxkBAAIBO2ZwdsStaticAAKwSAACx1mBSy', mime: 'image/webp', size: 23108, name: 'sticker_111.webp' }],
  },
  'sticker-animated': {
    title: 'animated sticker → image, .tgs',
    messages: out(annDM(112), ['image', link('CAACAgIAAxkBAAIBPGZwdtAnimatedAAKxSAACx1mBSy')]),
    refs: [{ id: 'CAACAgIAAxkBAAIBPGZwdtAnimatedAAKxSAACx1mBSy', mime: 'application/x-tgsticker', size: 41770, name: 'sticker_112.tgs' }],
  },
  'sticker-video': {
    title: 'video sticker → image, .webm',
    messages: out(annDM(113), ['image', link('CAACAgIAAxkBAAIBPWZwdtVideoStickAAKySAACx1mBSy')]),
    refs: [{ id: 'CAACAgIAAxkBAAIBPWZwdtVideoStickAAKySAACx1mBSy', mime: 'video/webm', size: 88231, name: 'sticker_113.webm' }],
  },
  location: {
    title: 'location → coordinates and a map link',
    messages: out(annDM(114), ['text', 'Location: 52.520008, 13.404954 — https://maps.google.com/?q=52.520008,13.404954']),
  },
  'location-live': {
    title: 'live location is noted as live',
    messages: out(annDM(115), ['text', 'Live location: 48.858844, 2.294351 — https://maps.google.com/?q=48.858844,2.294351']),
  },
  venue: {
    title: 'venue → title, address, coordinates',
    messages: out(annDM(116), [
      'text',
      'Venue: Brandenburg Gate\nPariser Platz, 10117 Berlin\n52.516275, 13.377704 — https://maps.google.com/?q=52.516275,13.377704',
    ]),
  },
  'contact-own': {
    title: 'the sender’s own contact sets client_phone (with +)',
    messages: out({ ...annDM(117), client: { client_id: '5123456789', client_name: 'Ann Lee', client_phone: '+4915112345678' } }, [
      'text',
      'Contact: Ann Lee, 4915112345678',
    ]),
  },
  'contact-other': {
    title: 'someone else’s contact is only text',
    messages: out(annDM(118), ['text', 'Contact: Bob Smith, +44 20 7946 0958']),
  },
  poll: {
    title: 'poll → question, numbered options, flags',
    messages: out(annDM(119), [
      'text',
      'Poll (anonymous, multiple answers): Which delivery slot suits you?\n1. Morning\n2. Afternoon\n3. Evening',
    ]),
  },
  'poll-quiz': {
    title: 'quiz, not anonymous',
    messages: out(annDM(120), ['text', 'Quiz (public): What is 2 + 2?\n1. 3\n2. 4']),
  },
  dice: {
    title: 'dice → emoji and value',
    messages: out(annDM(121), ['text', 'Dice 🎯: 6']),
  },
  story: {
    title: 'forwarded story → a one-line mention',
    messages: out(annDM(122), ['text', '[forwarded from Acme News]\n[story from Acme News]']),
  },
  game: {
    title: 'game → a one-line mention',
    messages: out(annDM(123), ['text', '[game "Corsairs"]']),
  },
  invoice: {
    title: 'invoice → a one-line mention',
    messages: out(annDM(124), ['text', '[invoice "Extended warranty"]']),
  },
  'group-text': {
    title: 'group: the group is the client, the author prefixes the text',
    messages: out(inSupergroup(ANN, 2201), ['text', 'Ann Lee: hello']),
  },
  'group-photo': {
    title: 'group photo without caption: a text after it says who sent it',
    messages: out(
      {
        client: { client_id: '-4012345678', client_name: 'Order #4411' },
        info: { ...BOB, chat_type: 'group', chat_title: 'Order #4411', message_id: 331, bot_username: BOT },
      },
      ['image', link(photo('M5'))],
      ['text', 'Bob Smith: [photo]'],
    ),
    refs: [{ id: photo('M5'), mime: 'image/jpeg', size: 143220, name: 'photo_331.jpg' }],
  },
  'group-anonymous-admin': {
    title: 'anonymous admin: the chat is the author, no placeholder user in info',
    messages: out(inSupergroup({}, 2202), ['text', 'Acme Customers: Please keep it civil.']),
  },
  'group-contact': {
    title: 'own contact in a group does not become the group’s phone',
    messages: out(inSupergroup(ANN, 2203), ['text', 'Ann Lee: Contact: Ann Lee, 4915112345678']),
  },
  'forum-topic': {
    title: 'forum topic: thread_id in info, the topic root is not shown as a reply',
    messages: out(inForum(BOB, 58), ['text', 'Bob Smith: How do I return a blender?']),
  },
  'forum-topic-reply': {
    title: 'forum topic: a real reply is shown',
    messages: out(inForum(ANN, 61), ['text', 'Ann Lee: [reply to "How do I return a blender?"]\nSame question here']),
  },
  'forum-general': {
    title: 'forum General: a reply there carries a message_thread_id, but no topic (no is_topic_message)',
    messages: out(
      { ...inForum(BOB, 63), info: { ...BOB, chat_type: 'supergroup', chat_title: 'Acme Help Forum', message_id: 63, bot_username: BOT } },
      ['text', 'Bob Smith: [reply to "The return form is pinned in General"]\nFound it, thanks'],
    ),
  },
  'forwarded-origin-user': {
    title: 'forward_origin user',
    messages: out(annDM(131), ['text', '[forwarded from Bob Smith]\nYour parcel is at the depot']),
  },
  'forwarded-origin-channel': {
    title: 'forward_origin channel',
    messages: out(annDM(132), ['text', '[forwarded from Acme News]\nSummer sale: 20% off all blenders']),
  },
  'forwarded-origin-hidden': {
    title: 'forward_origin hidden user, photo without caption: the marker follows the image',
    messages: out(annDM(133), ['image', link(photo('H7'))], ['text', '[forwarded from Courier Dave]\n[photo]']),
    refs: [{ id: photo('H7'), mime: 'image/jpeg', size: 99001, name: 'photo_133.jpg' }],
  },
  'forwarded-legacy-user': {
    title: 'legacy forward_from',
    messages: out(annDM(134), ['text', '[forwarded from Carla]\nTracking: RR123456789DE']),
  },
  'forwarded-legacy-chat': {
    title: 'legacy forward_from_chat',
    messages: out(annDM(135), ['text', '[forwarded from Acme News]\nStore hours changed']),
  },
  'forwarded-legacy-hidden': {
    title: 'legacy forward_sender_name',
    messages: out(annDM(136), ['text', '[forwarded from Courier Dave]\nLeft at the door']),
  },
  reply: {
    title: 'reply: first 100 characters of the replied text, on one line',
    messages: out(annDM(137), [
      'text',
      '[reply to "Thanks for reaching out! To look into this we need your order number, the email address you used at …"]\nOrder #4411, ann@example.com',
    ]),
  },
  'reply-quote': {
    title: 'reply with a quote shows the quote',
    messages: out(annDM(138), ['text', '[reply to "send a replacement"]\nThis one please']),
  },
  'reply-to-photo': {
    title: 'reply to a photo describes the media',
    messages: out(annDM(139), ['text', '[reply to "[photo]"]\nsee the corner']),
  },
  'edited-text': {
    title: 'edited text',
    messages: out(annDM(101, { edited: true }), ['text', '(edited) Hi! My order #4412 has not arrived yet.']),
  },
  'edited-caption': {
    title: 'edited caption: text only, no new media link',
    messages: out(annDM(103, { edited: true }), ['text', '(edited) The box arrived badly damaged']),
    refs: [],
  },
  'edited-group-text': {
    title: 'edited group message keeps the author',
    messages: out(inSupergroup(ANN, 2201, { edited: true }), ['text', '(edited) Ann Lee: hello everyone']),
  },
  'edited-live-location': {
    title: 'a live location moving is not an edit for the agent',
    skipped: 'edited_message: live location update',
  },
  'channel-post': {
    title: 'channel post: the channel is the client',
    messages: out(inChannel(77), ['text', 'New blenders in stock!']),
  },
  'edited-channel-post': {
    title: 'edited channel post',
    messages: out(inChannel(77, { edited: true }), ['text', '(edited) New blenders and toasters in stock!']),
  },
  'album-item-1': {
    title: 'album item with caption keeps media_group_id',
    messages: out(annDM(146, { media_group_id: '13722954120461937' }), ['image', link(photo('A1'))], ['text', 'Both sides of the box']),
    refs: [{ id: photo('A1'), mime: 'image/jpeg', size: 201334, name: 'photo_146.jpg' }],
  },
  'album-item-2': {
    title: 'next album item on its own',
    messages: out(annDM(147, { media_group_id: '13722954120461937' }), ['file', link('BAACAgIAAxkBAAIBk2ZwdxAlbumVideoAAK3SAACx1mBSy')]),
    refs: [{ id: 'BAACAgIAAxkBAAIBk2ZwdxAlbumVideoAAK3SAACx1mBSy', mime: 'video/mp4', size: 2210334, name: 'video_147.mp4' }],
  },
  'business-message': {
    title: 'business message, with its connection id for replies',
    messages: out(
      {
        client: { client_id: '7011223344', client_name: 'Carla' },
        info: {
          user_id: 7011223344,
          language: 'pt-br',
          chat_type: 'private',
          message_id: 12,
          bot_username: BOT,
          business_connection_id: 'AbCdEfGh1234_business',
        },
      },
      ['text', 'Olá, is the shop open on Sunday?'],
    ),
  },
  'business-message-owner': {
    title: 'the business owner writing from their app: an outgoing echo, the client is still the customer',
    messages: out(
      {
        client: { client_id: '7011223344', client_name: 'Carla' },
        info: {
          user_id: 7011223344,
          chat_type: 'private',
          message_id: 13,
          bot_username: BOT,
          business_connection_id: 'AbCdEfGh1234_business',
        },
      },
      ['text', 'Yes, 10:00–16:00 on Sundays.'],
    ).map((m) => ({ ...m, echo: true, echo_outgoing: true })),
  },
  'business-message-own-bot': {
    title: 'this bot’s own send on behalf of the business comes back: skipped (the agent has it)',
    skipped: 'business_message: sent by this bot on behalf of the business',
  },
  'edited-business-message': {
    title: 'the customer edits a business message',
    messages: out(
      {
        client: { client_id: '7011223344', client_name: 'Carla' },
        info: {
          user_id: 7011223344,
          language: 'pt-br',
          chat_type: 'private',
          message_id: 12,
          bot_username: BOT,
          edited: true,
          business_connection_id: 'AbCdEfGh1234_business',
        },
      },
      ['text', '(edited) Olá, is the shop open on Sunday afternoon?'],
    ),
  },
  'skip-deleted-business-messages': {
    title: 'deleted business messages: nothing an agent can read',
    skipped: 'deleted_business_messages update',
  },
  'callback-query': {
    title: 'an inline button press becomes a readable text with the button label',
    messages: out(annDM(92), ['text', '[button] Track']),
  },
  'skip-callback-query-inline': {
    title: 'a button under an inline-mode message (no chat) is skipped',
    skipped: 'callback_query: button without a chat (inline message)',
  },
  'skip-my-chat-member': { title: 'my_chat_member', skipped: 'my_chat_member update' },
  'skip-message-reaction': { title: 'message_reaction', skipped: 'message_reaction update' },
  'skip-poll-answer': { title: 'poll_answer', skipped: 'poll_answer update' },
  'skip-new-chat-members': { title: 'service: new_chat_members', skipped: 'message: service message (new_chat_members)' },
  'skip-pinned-message': { title: 'service: pinned_message', skipped: 'message: service message (pinned_message)' },
  'skip-unknown-content': { title: 'unknown content kind (paid_media)', skipped: 'message: message with no supported content' },
};

const fixtureNames = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

describe('normalizeUpdate on the fixtures', () => {
  it('has an expectation for every fixture file and a fixture for every expectation', () => {
    expect(fixtureNames).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s — %s', (name, expected) => {
    const update = load(name);
    const { result, refs } = run(update);
    const want: Normalized = { updateId: update.update_id, messages: expected.messages ?? [] };
    if (expected.skipped) want.skipped = expected.skipped;
    expect(result).toStrictEqual(want);
    expect(refs).toStrictEqual(expected.refs ?? []);
  });

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
