/**
 * Tests of the VK API double over real HTTP: if it does not behave like VK (docs/vendors/vk.md),
 * every adapter test built on it proves nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHAT_PEER_OFFSET, DEFAULT_COMMUNITY, startVkDouble, type VkDouble, type VkEvent } from './vk-api.js';

// ---------------------------------------------------------------- helpers

// VK answers are free-form JSON; tests index into them freely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type Json = any;

const GROUP = DEFAULT_COMMUNITY.id;
const TOKEN = DEFAULT_COMMUNITY.token;

/** A method call the way most clients make it: POST x-www-form-urlencoded with access_token and v. */
async function call(vk: VkDouble, method: string, params: Record<string, string | number> = {}, token = TOKEN): Promise<Json> {
  const body = new URLSearchParams({ access_token: token, v: '5.199' });
  for (const [k, v] of Object.entries(params)) body.set(k, String(v));
  const res = await fetch(`${vk.apiRoot}/${method}`, { method: 'POST', body });
  expect(res.status).toBe(200);
  return res.json();
}

async function poll(server: string, key: string, ts: string | number, wait = 0): Promise<Json> {
  const res = await fetch(`${server}?act=a_check&key=${key}&ts=${ts}&wait=${wait}`);
  expect(res.status).toBe(200);
  return res.json();
}

/** A throwaway HTTP server standing in for the bridge's callback route. */
async function startReceiver(
  handler: (body: Json, req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; received: Array<{ body: Json; retry?: string }>; close: () => Promise<void> }> {
  const received: Array<{ body: Json; retry?: string }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
      const retry = req.headers['x-retry-counter'];
      received.push({ body, ...(typeof retry === 'string' ? { retry } : {}) });
      handler(body, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/vk/callback`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A 2x3 PNG (the double reads the size from its header). */
const PNG_2X3 = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]),
  Buffer.from([0, 0, 0, 2, 0, 0, 0, 3, 8, 6, 0, 0, 0]),
]);

// ================================================================ tests

describe('VK API double', () => {
  let vk: VkDouble;

  beforeAll(async () => {
    vk = await startVkDouble({ limits: { uploadPhotoBytes: 2000 } });
  });
  afterEach(() => vk.reset());
  afterAll(() => vk.close());

  describe('envelopes, tokens and parameters', () => {
    it('answers a GET with query parameters with {response} (groups.getById: {groups, profiles} in 5.199)', async () => {
      const res = await fetch(`${vk.apiRoot}/groups.getById?access_token=${TOKEN}&v=5.199`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body).toEqual({
        response: {
          groups: [
            expect.objectContaining({ id: GROUP, name: DEFAULT_COMMUNITY.name, screen_name: 'test_bridge', is_closed: 0, type: 'group' }),
          ],
          profiles: [],
        },
      });
    });

    it('takes the token from Authorization: Bearer too, and records how it came', async () => {
      const res = await fetch(`${vk.apiRoot}/groups.getById`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: new URLSearchParams({ v: '5.199' }),
      });
      expect(((await res.json()) as Json).response.groups[0].id).toBe(GROUP);
      expect(vk.calls[0]).toMatchObject({ method: 'groups.getById', group: GROUP, tokenVia: 'header' });
    });

    it('refuses a missing or wrong token with error 5 in HTTP 200, echoing request_params without the token', async () => {
      const none = await fetch(`${vk.apiRoot}/users.get?user_ids=1&v=5.199`);
      expect(none.status).toBe(200);
      expect(((await none.json()) as Json).error).toMatchObject({
        error_code: 5,
        error_msg: 'User authorization failed: no access_token passed.',
      });

      const wrong = await call(vk, 'users.get', { user_ids: 1 }, 'vk1.a.nope');
      expect(wrong.error).toEqual({
        error_code: 5,
        error_msg: 'User authorization failed: invalid access_token (4).',
        request_params: [
          { key: 'method', value: 'users.get' },
          { key: 'oauth', value: '1' },
          { key: 'v', value: '5.199' },
          { key: 'user_ids', value: '1' },
        ],
      });
      expect(JSON.stringify(vk.calls)).not.toContain('vk1.a.nope');
    });

    it('requires v (error 8) and knows only real method names (error 3, case-sensitive)', async () => {
      const noVersion = await fetch(`${vk.apiRoot}/users.get?user_ids=1&access_token=${TOKEN}`);
      expect(((await noVersion.json()) as Json).error).toMatchObject({ error_code: 8 });
      expect((await call(vk, 'messages.sendTelepathy')).error).toMatchObject({ error_code: 3, error_msg: 'Unknown method passed' });
      expect((await call(vk, 'Users.Get', { user_ids: 1 })).error.error_code).toBe(3);
    });

    it('does not read JSON bodies: parameters in them are missing (here the token: error 5)', async () => {
      const res = await fetch(`${vk.apiRoot}/groups.getById`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ access_token: TOKEN, v: '5.199' }),
      });
      expect(((await res.json()) as Json).error.error_code).toBe(5);
      expect(vk.calls[0]!.ignoredBody).toBe('application/json');
    });

    it('reads multipart/form-data parameters (VK allows it for large parameters)', async () => {
      const form = new FormData();
      form.set('access_token', TOKEN);
      form.set('v', '5.199');
      form.set('user_ids', '100001');
      const res = await fetch(`${vk.apiRoot}/users.get`, { method: 'POST', body: form });
      expect(((await res.json()) as Json).response[0].id).toBe(100001);
    });

    it('users.get returns names (and asked-for fields); deleted users are marked deactivated', async () => {
      vk.addUser({ id: 100001, first_name: 'Анна', last_name: 'Петрова', screen_name: 'anna', sex: 1 });
      vk.deleteUser(100003);
      const { response } = await call(vk, 'users.get', { user_ids: '100001,100002,100003', fields: 'screen_name,sex' });
      expect(response[0]).toEqual({
        id: 100001,
        first_name: 'Анна',
        last_name: 'Петрова',
        can_access_closed: true,
        is_closed: false,
        screen_name: 'anna',
        sex: 1,
      });
      expect(response[1]).toMatchObject({ id: 100002, first_name: expect.any(String), last_name: 'Test100002' });
      expect(response[2]).toMatchObject({ id: 100003, first_name: 'DELETED', deactivated: 'deleted' });
      expect((await call(vk, 'users.get', { user_ids: 'no such name' })).error.error_code).toBe(113);
    });
  });

  describe('Bots Long Poll', () => {
    async function server(): Promise<{ key: string; server: string; ts: string }> {
      const { response } = await call(vk, 'groups.getLongPollServer', { group_id: GROUP });
      return response as { key: string; server: string; ts: string };
    }

    it('groups.getLongPollServer gives {key, server, ts as a string}; only for the own group (error 15)', async () => {
      const s = await server();
      expect(s).toEqual({
        key: expect.stringMatching(/^[0-9a-f]{40}$/),
        server: `${vk.origin}/wh${GROUP}`,
        ts: expect.stringMatching(/^\d+$/),
      });
      expect((await call(vk, 'groups.getLongPollServer', { group_id: 1 })).error).toMatchObject({ error_code: 15 });
      expect((await call(vk, 'groups.getLongPollServer')).error.error_code).toBe(100);
    });

    it('a_check returns events from ts on with the next ts (a string); the same ts gets them again', async () => {
      const s = await server();
      const a = vk.pushMessageNew({ peer: 100001, text: 'one' });
      const b = vk.pushMessageNew({ peer: 100001, text: 'two' });
      const first = await poll(s.server, s.key, s.ts, 25);
      expect(first.updates.map((u: VkEvent) => u.event_id)).toEqual([a.event_id, b.event_id]);
      expect(first.ts).toBe(String(Number(s.ts) + 2));
      // Nothing is confirmed by polling: the old ts still has the events (the adapter chooses what it keeps).
      expect((await poll(s.server, s.key, s.ts)).updates).toHaveLength(2);
      expect(await poll(s.server, s.key, first.ts, 0)).toEqual({ ts: first.ts, updates: [] });
    });

    it('a waiting poll wakes as soon as an event is pushed, and answers {ts, updates: []} after wait', async () => {
      const s = await server();
      const started = Date.now();
      const waiting = poll(s.server, s.key, s.ts, 25);
      await vk.waitForPoll();
      const pushed = vk.pushMessageNew({ text: 'wake' });
      expect((await waiting).updates.map((u: VkEvent) => u.event_id)).toEqual([pushed.event_id]);
      expect(Date.now() - started).toBeLessThan(5000);

      const quiet = Date.now();
      expect(await poll(s.server, s.key, Number(s.ts) + 1, 1)).toEqual({ ts: String(Number(s.ts) + 1), updates: [] });
      expect(Date.now() - quiet).toBeGreaterThanOrEqual(900);
    });

    it('failed:1 when the ts is older than the kept history: it carries the new ts (a number)', async () => {
      const s = await server();
      vk.pushMessageNew({ text: 'lost' });
      vk.dropHistory();
      const failed = await poll(s.server, s.key, s.ts);
      expect(failed).toEqual({ failed: 1, ts: vk.currentTs() });
      const after = vk.pushMessageNew({ text: 'after' });
      expect((await poll(s.server, s.key, failed.ts)).updates.map((u: VkEvent) => u.event_id)).toEqual([after.event_id]);
    });

    it('failed:2 when the key expired: a new key with the OLD ts still gets the events in between', async () => {
      const s = await server();
      const before = vk.pushMessageNew({ text: 'before expiry' });
      vk.expireKeys();
      const between = vk.pushMessageNew({ text: 'between' });
      expect(await poll(s.server, s.key, s.ts)).toEqual({ failed: 2 });
      const fresh = await server();
      expect(fresh.key).not.toBe(s.key);
      expect(Number(fresh.ts)).toBe(Number(s.ts) + 2);
      const got = await poll(fresh.server, fresh.key, s.ts);
      expect(got.updates.map((u: VkEvent) => u.event_id)).toEqual([before.event_id, between.event_id]);
    });

    it('failed:3 (information lost) and the other knobs answer once, then polling goes on', async () => {
      const s = await server();
      vk.failNextPoll(3);
      vk.failNextPoll(1);
      expect(await poll(s.server, s.key, s.ts)).toEqual({ failed: 3 });
      expect(await poll(s.server, s.key, s.ts)).toEqual({ failed: 1, ts: Number(s.ts) });
      expect(await poll(s.server, s.key, s.ts)).toEqual({ ts: s.ts, updates: [] });
      expect(await poll(s.server, 'not-a-key', s.ts)).toEqual({ failed: 2 });
    });

    it('setLongPollSettings filters event types, switches api_version, and can disable long poll', async () => {
      expect(
        (await call(vk, 'groups.setLongPollSettings', { group_id: GROUP, message_edit: 0, message_reply: 1, api_version: '5.131' }))
          .response,
      ).toBe(1);
      const { response } = await call(vk, 'groups.getLongPollSettings', { group_id: GROUP });
      expect(response).toMatchObject({
        is_enabled: true,
        api_version: '5.131',
        events: { message_new: 1, message_edit: 0, message_reply: 1 },
      });

      const s = await server();
      const message = vk.makeMessage({ text: 'x' });
      expect(vk.pushEvent(vk.makeMessageEdit(message, 'y'))).toBeUndefined();
      vk.pushMessageNew({ text: 'kept' });
      const got = await poll(s.server, s.key, s.ts);
      expect(got.updates.map((u: VkEvent) => [u.type, u.v])).toEqual([['message_new', '5.131']]);

      await call(vk, 'groups.setLongPollSettings', { group_id: GROUP, enabled: 0 });
      expect((await call(vk, 'groups.getLongPollServer', { group_id: GROUP })).error.error_code).toBe(100);
    });
  });

  describe('events', () => {
    it('message_new: {type, event_id, v, object: {message, client_info}, group_id}', () => {
      const event = vk.makeMessageNew({ peer: 100001, text: 'Привет' });
      expect(event).toEqual({
        type: 'message_new',
        event_id: expect.stringMatching(/^[0-9a-f]{40}$/),
        v: '5.199',
        group_id: GROUP,
        object: {
          message: expect.objectContaining({
            id: expect.any(Number),
            conversation_message_id: expect.any(Number),
            peer_id: 100001,
            from_id: 100001,
            text: 'Привет',
            attachments: [],
            fwd_messages: [],
            out: 0,
            date: expect.any(Number),
          }),
          client_info: expect.objectContaining({
            keyboard: true,
            inline_keyboard: true,
            button_actions: expect.arrayContaining(['callback']),
          }),
        },
      });
    });

    it('chat messages come from 2000000000+n with id 0 and a per-chat conversation_message_id', () => {
      const peer = CHAT_PEER_OFFSET + 7;
      const first = vk.makeMessageNew({ peer, from: 100002, text: 'a' }).object.message as Json;
      const second = vk.makeMessageNew({ peer, from: 100003, text: 'b' }).object.message as Json;
      expect([first.id, first.from_id]).toEqual([0, 100002]);
      expect([second.id, second.conversation_message_id]).toEqual([0, first.conversation_message_id + 1]);
    });

    it('message_edit carries the bare message with update_time; replies and forwards nest', () => {
      const original = vk.makeMessage({ text: 'before' });
      const edit = vk.makeMessageEdit(original, 'after');
      expect(edit.type).toBe('message_edit');
      expect(edit.object).toMatchObject({
        id: original.id,
        conversation_message_id: original.conversation_message_id,
        text: 'after',
        update_time: expect.any(Number),
      });
      expect(edit.object.message).toBeUndefined();

      const reply = vk.makeMessage({ text: 'reply', reply_to: original, fwd: [original] });
      expect(reply.reply_message).toMatchObject({ conversation_message_id: original.conversation_message_id, text: 'before' });
      expect(reply.fwd_messages).toEqual([expect.objectContaining({ conversation_message_id: original.conversation_message_id })]);
    });

    it('serves every attachment kind at realistic URLs the adapter can download', async () => {
      const pdf = Buffer.from('%PDF-1.4 bytes');
      const voice = Buffer.from('OggS voice bytes');
      const message = vk.makeMessage({
        text: '',
        attachments: [
          { type: 'photo', bytes: PNG_2X3, width: 2000, height: 1500 },
          { type: 'doc', bytes: pdf, title: 'invoice', ext: 'pdf' },
          { type: 'audio_message', bytes: voice, duration: 4 },
          { type: 'video', title: 'clip' },
          { type: 'sticker', sticker_id: 9 },
          { type: 'wall', text: 'post' },
          { type: 'link', url: 'https://example.org/page', title: 'Page' },
        ],
        geo: { latitude: 55.75, longitude: 37.61 },
      });
      const [photo, doc, audio, video, sticker, wall, link] = message.attachments as Json[];
      expect(photo.type).toBe('photo');
      expect(photo.photo.sizes.map((s: Json) => s.type)).toEqual(['s', 'm', 'x', 'y', 'z']);
      const largest = photo.photo.sizes.at(-1);
      expect([largest.width, largest.height]).toEqual([1280, 960]);
      const photoRes = await fetch(largest.url);
      expect(photoRes.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await photoRes.arrayBuffer())).toEqual(PNG_2X3);

      expect(doc.doc).toMatchObject({ title: 'invoice.pdf', ext: 'pdf', size: pdf.length, type: 1 });
      const redirect = await fetch(doc.doc.url, { redirect: 'manual' });
      expect(redirect.status).toBe(302);
      expect(Buffer.from(await (await fetch(doc.doc.url)).arrayBuffer())).toEqual(pdf);

      expect(audio.audio_message).toMatchObject({
        duration: 4,
        link_ogg: expect.stringContaining('.ogg'),
        link_mp3: expect.stringContaining('.mp3'),
      });
      expect(Buffer.from(await (await fetch(audio.audio_message.link_ogg)).arrayBuffer())).toEqual(voice);

      expect(video.video).toMatchObject({ title: 'clip', owner_id: 100001, image: [expect.objectContaining({ url: expect.any(String) })] });
      expect(video.video.player).toBeUndefined();
      expect(sticker.sticker).toMatchObject({ sticker_id: 9, images: expect.arrayContaining([expect.objectContaining({ width: 128 })]) });
      expect((await fetch(sticker.sticker.images[0].url)).status).toBe(200);
      expect(wall.wall).toMatchObject({ text: 'post', owner_id: -GROUP });
      expect(link.link).toMatchObject({ url: 'https://example.org/page', title: 'Page' });
      expect(message.geo).toMatchObject({ type: 'point', coordinates: { latitude: 55.75, longitude: 37.61 } });
      expect((await fetch(`${vk.origin}/impg/nothing.jpg`)).status).toBe(404);
    });
  });

  describe('message_allow / message_deny', () => {
    it('switch whether the community may write to the user', async () => {
      const allow = vk.makeMessageAllow(100011, true);
      expect(allow).toMatchObject({ type: 'message_allow', object: { user_id: 100011, key: expect.any(String) }, group_id: GROUP });
      expect((await call(vk, 'messages.send', { peer_id: 100011, random_id: 1, message: 'welcome' })).response).toEqual(expect.any(Number));
      expect(vk.makeMessageAllow(100011, false)).toMatchObject({ type: 'message_deny', object: { user_id: 100011 } });
      expect((await call(vk, 'messages.send', { peer_id: 100011, random_id: 2, message: 'gone' })).error.error_code).toBe(901);
    });
  });

  describe('messages.send', () => {
    it('records peer, text, attachments, keyboard and random_id, answers the message id, and waitForSent sees it', async () => {
      vk.pushMessageNew({ peer: 100001, text: 'hi' });
      const waiting = vk.waitForSent(1);
      const keyboard = {
        one_time: false,
        inline: true,
        buttons: [[{ action: { type: 'callback', label: 'Yes', payload: '{"a":1}' }, color: 'positive' }]],
      };
      const { response } = await call(vk, 'messages.send', {
        peer_id: 100001,
        random_id: 42,
        message: 'Hello',
        keyboard: JSON.stringify(keyboard),
      });
      expect(response).toEqual(expect.any(Number));
      const [sent] = await waiting;
      expect(sent).toMatchObject({
        group: GROUP,
        peer_id: 100001,
        message_id: response,
        random_id: 42,
        text: 'Hello',
        attachments: [],
        keyboard,
      });
      expect(vk.messageOf(100001, sent!.conversation_message_id)).toMatchObject({ out: 1, from_id: -GROUP, text: 'Hello' });
    });

    it('user_id works as the peer; peer_ids answers one object per peer', async () => {
      vk.allowMessages(100005);
      vk.addChat(3);
      expect((await call(vk, 'messages.send', { user_id: 100005, random_id: 1, message: 'x' })).response).toEqual(expect.any(Number));
      const many = await call(vk, 'messages.send', { peer_ids: `100005,${CHAT_PEER_OFFSET + 3},100009`, random_id: 2, message: 'y' });
      expect(many.response).toEqual([
        { peer_id: 100005, message_id: expect.any(Number), conversation_message_id: 2 },
        { peer_id: CHAT_PEER_OFFSET + 3, message_id: 0, conversation_message_id: 1 },
        { peer_id: 100009, error: { code: 901, description: "Can't send messages for users without permission" } },
      ]);
    });

    it('random_id: a repeat to the same peer answers the first id and sends nothing; another peer or 0 sends', async () => {
      vk.allowMessages(100001);
      vk.allowMessages(100002);
      const first = await call(vk, 'messages.send', { peer_id: 100001, random_id: 777, message: 'once' });
      const again = await call(vk, 'messages.send', { peer_id: 100001, random_id: 777, message: 'once' });
      expect(again.response).toBe(first.response);
      expect(vk.sent).toHaveLength(1);
      expect(vk.stats.deduplicated).toBe(1);
      await call(vk, 'messages.send', { peer_id: 100002, random_id: 777, message: 'other peer' });
      await call(vk, 'messages.send', { peer_id: 100001, random_id: 0, message: 'zero' });
      await call(vk, 'messages.send', { peer_id: 100001, random_id: 0, message: 'zero' });
      expect(vk.sent.map((s) => s.text)).toEqual(['once', 'other peer', 'zero', 'zero']);
      expect((await call(vk, 'messages.send', { peer_id: 100001, message: 'no id' })).error).toMatchObject({ error_code: 100 });
    });

    it('refuses over-long texts (914) at the limit + 1 and empty messages (100)', async () => {
      vk.allowMessages(100001);
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, message: 'я'.repeat(4096) })).response).toEqual(
        expect.any(Number),
      );
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 2, message: 'я'.repeat(4097) })).error).toMatchObject({
        error_code: 914,
        error_msg: 'Message is too long',
      });
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 3, message: '  ' })).error.error_code).toBe(100);
    });

    it('answers 901 to users who never wrote or denied messages, 902 for privacy, 900 for the blacklist, 917/932 for chats and communities', async () => {
      const send = async (peer: number) =>
        (await call(vk, 'messages.send', { peer_id: peer, random_id: Date.now(), message: 'x' })).error?.error_code;
      expect(await send(100001)).toBe(901);
      vk.pushMessageNew({ peer: 100001, text: 'hello' });
      expect(await send(100001)).toBeUndefined();
      vk.denyMessages(100001);
      expect(await send(100001)).toBe(901);
      vk.allowMessages(100001);
      vk.restrictPrivacy(100001);
      expect(await send(100001)).toBe(902);
      vk.blacklist(100001);
      expect(await send(100001)).toBe(900);
      expect(await send(CHAT_PEER_OFFSET + 99)).toBe(917);
      vk.pushMessageNew({ peer: CHAT_PEER_OFFSET + 99, text: 'in chat' });
      expect(await send(CHAT_PEER_OFFSET + 99)).toBeUndefined();
      vk.kickFromChat(CHAT_PEER_OFFSET + 99);
      expect(await send(CHAT_PEER_OFFSET + 99)).toBe(917);
      expect(await send(-1)).toBe(932);
    });

    it('validates keyboards like VK (911): 5 per row, 10 rows (inline 6), labels, payload length', async () => {
      vk.allowMessages(100001);
      const send = async (keyboard: unknown) =>
        (await call(vk, 'messages.send', { peer_id: 100001, random_id: Date.now(), message: 'k', keyboard: JSON.stringify(keyboard) }))
          .error;
      const button = { action: { type: 'text', label: 'b' } };
      expect(await send({ buttons: [Array(5).fill(button)] })).toBeUndefined();
      expect(await send({ buttons: [Array(6).fill(button)] })).toMatchObject({ error_code: 911 });
      expect(await send({ inline: true, buttons: Array(7).fill([button]) })).toMatchObject({ error_code: 911 });
      expect(await send({ inline: true, one_time: true, buttons: [[button]] })).toMatchObject({ error_code: 911 });
      expect(await send({ buttons: [[{ action: { type: 'callback' } }]] })).toMatchObject({
        error_code: 911,
        error_msg: expect.stringContaining('label'),
      });
      expect(await send({ buttons: [[{ action: { type: 'text', label: 'p', payload: 'x'.repeat(256) } }]] })).toMatchObject({
        error_code: 911,
      });
      expect(await send({ buttons: [] })).toBeUndefined();
    });

    it('reply_to a message of the dialog, forward={…conversation_message_ids…} in chats; unknown targets are refused', async () => {
      const incoming = vk.pushMessageNew({ peer: 100001, text: 'question' }).object.message as Json;
      const ok = await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, message: 'answer', reply_to: incoming.id });
      expect(ok.response).toEqual(expect.any(Number));
      expect(vk.sent[0]!.reply_to).toBe(incoming.id);
      expect(vk.messageOf(100001, vk.sent[0]!.conversation_message_id)!.reply_message).toMatchObject({ text: 'question' });
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 2, message: 'a', reply_to: 999999 })).error.error_code).toBe(
        100,
      );

      const chat = CHAT_PEER_OFFSET + 5;
      const inChat = vk.pushMessageNew({ peer: chat, text: 'q' }).object.message as Json;
      const forward = JSON.stringify({ peer_id: chat, conversation_message_ids: [inChat.conversation_message_id], is_reply: true });
      expect((await call(vk, 'messages.send', { peer_id: chat, random_id: 3, message: 'a', forward })).response).toBe(0);
      expect(vk.sent[1]!.forward).toMatchObject({ is_reply: true });
      const missing = JSON.stringify({ peer_id: chat, conversation_message_ids: [99], is_reply: true });
      expect((await call(vk, 'messages.send', { peer_id: chat, random_id: 4, message: 'a', forward: missing })).error.error_code).toBe(100);
    });

    it('emits message_reply for the community’s own messages when subscribed', async () => {
      await call(vk, 'groups.setLongPollSettings', { group_id: GROUP, message_reply: 1 });
      const { response: s } = await call(vk, 'groups.getLongPollServer', { group_id: GROUP });
      vk.allowMessages(100001);
      await call(vk, 'messages.send', { peer_id: 100001, random_id: 5, message: 'echo' });
      const got = await poll(s.server, s.key, s.ts);
      expect(got.updates).toEqual([
        expect.objectContaining({ type: 'message_reply', object: expect.objectContaining({ out: 1, text: 'echo', from_id: -GROUP }) }),
      ]);
    });
  });

  describe('buttons', () => {
    it('a text button sends message_new with its payload; a callback button message_event, answered once', async () => {
      vk.pushMessageNew({ peer: 100001, text: 'menu' });
      const keyboard = {
        buttons: [
          [
            { action: { type: 'text', label: 'Help', payload: '{"cmd":"help"}' } },
            { action: { type: 'callback', label: 'Rate', payload: '{"r":5}' } },
          ],
        ],
      };
      await call(vk, 'messages.send', { peer_id: 100001, random_id: 9, message: 'pick', keyboard: JSON.stringify(keyboard) });
      const [sent] = await vk.waitForSent(1);

      const text = vk.pressButton(sent!, 'Help');
      expect(text.type).toBe('message_new');
      expect(text.object.message).toMatchObject({ text: 'Help', payload: '{"cmd":"help"}', from_id: 100001 });

      const event = vk.pressButton(sent!, 'Rate');
      expect(event).toMatchObject({
        type: 'message_event',
        object: {
          user_id: 100001,
          peer_id: 100001,
          event_id: expect.any(String),
          payload: { r: 5 },
          conversation_message_id: sent!.conversation_message_id,
        },
      });
      const answer = {
        event_id: event.object.event_id as string,
        user_id: 100001,
        peer_id: 100001,
        event_data: JSON.stringify({ type: 'show_snackbar', text: 'Thanks' }),
      };
      expect((await call(vk, 'messages.sendMessageEventAnswer', answer)).response).toBe(1);
      expect(vk.eventAnswers).toEqual([
        expect.objectContaining({ event_id: answer.event_id, event_data: { type: 'show_snackbar', text: 'Thanks' } }),
      ]);
      expect((await call(vk, 'messages.sendMessageEventAnswer', answer)).error.error_code).toBe(100);
      expect(() => vk.pressButton(sent!, 'Nope')).toThrow(/no button/);
    });
  });

  describe('uploads', () => {
    it('photo: getMessagesUploadServer → multipart "photo" → {server, photo, hash} → saveMessagesPhoto → photo{owner}_{id} sends', async () => {
      vk.pushMessageNew({ peer: 100001, text: 'send me a photo' });
      const { response: target } = await call(vk, 'photos.getMessagesUploadServer', { peer_id: 100001 });
      expect(target).toMatchObject({
        upload_url: expect.stringContaining('/upload/photo/'),
        group_id: GROUP,
        album_id: expect.any(Number),
      });

      const form = new FormData();
      form.set('photo', new Blob([PNG_2X3], { type: 'image/png' }), 'pic.png');
      const uploaded = (await (await fetch(target.upload_url, { method: 'POST', body: form })).json()) as Json;
      expect(uploaded).toEqual({ server: expect.any(Number), photo: expect.any(String), hash: expect.any(String) });
      expect(JSON.parse(uploaded.photo)).toHaveLength(1);

      const { response: saved } = await call(vk, 'photos.saveMessagesPhoto', uploaded);
      expect(saved).toEqual([
        expect.objectContaining({ id: expect.any(Number), owner_id: -GROUP, access_key: expect.any(String), sizes: expect.any(Array) }),
      ]);
      const ref = `photo${saved[0].owner_id}_${saved[0].id}`;
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, attachment: ref })).response).toEqual(expect.any(Number));
      expect(
        (
          await call(vk, 'messages.send', {
            peer_id: 100001,
            random_id: 2,
            attachment: `${ref}_${saved[0].access_key}`,
            message: 'with key',
          })
        ).response,
      ).toEqual(expect.any(Number));
      expect(vk.sent.map((s) => s.attachments)).toEqual([[ref], [`${ref}_${saved[0].access_key}`]]);
      // The same upload cannot be saved twice.
      expect((await call(vk, 'photos.saveMessagesPhoto', uploaded)).error.error_code).toBe(100);
    });

    it('photo: the wrong field, a non-image or a wrong hash fail like VK', async () => {
      const { response: target } = await call(vk, 'photos.getMessagesUploadServer', {});
      const wrongField = new FormData();
      wrongField.set('file', new Blob([PNG_2X3]), 'pic.png');
      const empty = (await (await fetch(target.upload_url, { method: 'POST', body: wrongField })).json()) as Json;
      expect(empty.photo).toBe('[]');
      expect((await call(vk, 'photos.saveMessagesPhoto', empty)).error.error_code).toBe(100);

      const text = new FormData();
      text.set('photo', new Blob(['not an image']), 'pic.png');
      expect(((await (await fetch(target.upload_url, { method: 'POST', body: text })).json()) as Json).photo).toBe('[]');

      const good = new FormData();
      good.set('photo', new Blob([PNG_2X3]), 'pic.png');
      const uploaded = (await (await fetch(target.upload_url, { method: 'POST', body: good })).json()) as Json;
      expect((await call(vk, 'photos.saveMessagesPhoto', { ...uploaded, hash: 'bad' })).error.error_code).toBe(121);

      const big = new FormData();
      big.set('photo', new Blob([Buffer.alloc(5000)]), 'big.png');
      expect((await fetch(target.upload_url, { method: 'POST', body: big })).status).toBe(413);
    });

    it('doc: docs.getMessagesUploadServer → multipart "file" → {file} → docs.save → {type, doc} → doc{owner}_{id} sends', async () => {
      vk.pushMessageNew({ peer: 100001, text: 'send a file' });
      const { response: target } = await call(vk, 'docs.getMessagesUploadServer', { peer_id: 100001, type: 'doc' });
      expect(target).toEqual({ upload_url: expect.stringContaining('/upload/doc/') });
      const form = new FormData();
      form.set('file', new Blob([Buffer.from('hello')], { type: 'text/plain' }), 'note.txt');
      const uploaded = (await (await fetch(target.upload_url, { method: 'POST', body: form })).json()) as Json;
      expect(uploaded).toEqual({ file: expect.any(String) });

      const { response: saved } = await call(vk, 'docs.save', { file: uploaded.file, title: 'note.txt' });
      expect(saved).toEqual({
        type: 'doc',
        doc: expect.objectContaining({ owner_id: -GROUP, title: 'note.txt', ext: 'txt', size: 5, url: expect.any(String) }),
      });
      const ref = `doc${saved.doc.owner_id}_${saved.doc.id}`;
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, attachment: ref })).response).toEqual(expect.any(Number));
      expect(Buffer.from(await (await fetch(saved.doc.url)).arrayBuffer()).toString()).toBe('hello');

      const none = new FormData();
      none.set('photo', new Blob([Buffer.from('x')]), 'x.txt');
      expect(await (await fetch(target.upload_url, { method: 'POST', body: none })).json()).toEqual({ error: 'no_file' });
      expect((await call(vk, 'docs.save', { file: 'forged' })).error).toMatchObject({ error_code: 105 });
    });

    it('refuses unknown attachments and upload servers for peers the community may not write to', async () => {
      vk.allowMessages(100001);
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, attachment: 'photo1_2' })).error.error_code).toBe(100);
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 2, attachment: 'nonsense' })).error.error_code).toBe(100);
      expect((await call(vk, 'photos.getMessagesUploadServer', { peer_id: 100077 })).error.error_code).toBe(901);
    });
  });

  describe('Callback API', () => {
    it('configures servers through the API: add, settings, confirmation code, list with status', async () => {
      const { response: added } = await call(vk, 'groups.addCallbackServer', {
        group_id: GROUP,
        url: 'http://127.0.0.1:1/cb',
        title: 'bridge',
        secret_key: 's3cret',
      });
      expect(added).toEqual({ server_id: 1 });
      expect(
        (
          await call(vk, 'groups.setCallbackSettings', {
            group_id: GROUP,
            server_id: 1,
            api_version: '5.199',
            message_new: 1,
            message_event: 1,
            message_edit: 0,
          })
        ).response,
      ).toBe(1);
      expect((await call(vk, 'groups.getCallbackSettings', { group_id: GROUP, server_id: 1 })).response).toMatchObject({
        api_version: '5.199',
        events: { message_new: 1, message_edit: 0 },
      });
      expect((await call(vk, 'groups.getCallbackConfirmationCode', { group_id: GROUP })).response).toEqual({ code: vk.confirmationCode() });
      expect((await call(vk, 'groups.getCallbackServers', { group_id: GROUP })).response).toEqual({
        count: 1,
        items: [{ id: 1, title: 'bridge', creator_id: 0, url: 'http://127.0.0.1:1/cb', secret_key: 's3cret', status: 'unconfigured' }],
      });
      expect(
        (await call(vk, 'groups.addCallbackServer', { group_id: GROUP, url: 'http://x', title: 'fifteen chars!!' })).error.error_code,
      ).toBe(100);
    });

    it('the confirmation handshake: the server must answer exactly the confirmation string', async () => {
      let answer = 'wrong';
      const bridge = await startReceiver((_body, _req, res) => res.end(answer));
      try {
        const id = vk.addCallbackServer({ url: bridge.url, secret: 's3cret' });
        expect(await vk.confirmCallbackServer(id)).toMatchObject({ confirmed: false, body: 'wrong' });
        expect(vk.callbackServers()[0]!.status).toBe('failed');
        answer = vk.confirmationCode();
        expect(await vk.confirmCallbackServer(id)).toMatchObject({ confirmed: true });
        expect(bridge.received.at(-1)!.body).toEqual({
          type: 'confirmation',
          event_id: expect.any(String),
          v: '5.199',
          group_id: GROUP,
          secret: 's3cret',
        });
        expect(vk.callbackServers()[0]!.status).toBe('ok');
      } finally {
        await bridge.close();
      }
    });

    it('delivers events with the secret and the server’s version; re-sends with X-Retry-Counter until "ok"', async () => {
      let failures = 2;
      const bridge = await startReceiver((body, _req, res) => {
        if (body.type === 'confirmation') return res.end(vk.confirmationCode());
        if (failures-- > 0) {
          res.statusCode = 500;
          return res.end('oops');
        }
        res.end('ok');
      });
      try {
        const id = vk.addCallbackServer({ url: bridge.url, secret: 's3cret', api_version: '5.199' });
        await vk.confirmCallbackServer(id);
        const event = vk.makeMessageNew({ text: 'via callback' });
        const delivery = await vk.deliverCallback(event, { maxAttempts: 5 });
        expect(delivery.ok).toBe(true);
        expect(delivery.attempts.map((a) => [a.retry, a.status])).toEqual([
          [0, 500],
          [1, 500],
          [2, 200],
        ]);
        const events = bridge.received.filter((r) => r.body.type === 'message_new');
        expect(events.map((r) => r.retry)).toEqual([undefined, '1', '2']);
        expect(events[0]!.body).toEqual({ ...event, secret: 's3cret' });
        expect(new Set(events.map((r) => r.body.event_id)).size).toBe(1);
      } finally {
        await bridge.close();
      }
    });

    it('a non-"ok" 200 is a failure; 410/429/503 with Retry-After postpones; unconfirmed servers get nothing', async () => {
      let mode: 'text' | 'later' = 'text';
      const bridge = await startReceiver((body, _req, res) => {
        if (body.type === 'confirmation') return res.end(vk.confirmationCode());
        if (mode === 'text') return res.end('OK, thanks');
        res.writeHead(503, { 'retry-after': '120' });
        res.end();
      });
      try {
        await expect(vk.deliverCallback(vk.makeMessageNew({ text: 'x' }))).rejects.toThrow(/no confirmed callback server/);
        const id = vk.addCallbackServer({ url: bridge.url });
        await expect(vk.deliverCallback(vk.makeMessageNew({ text: 'x' }), { server: id })).rejects.toThrow(/not confirmed/);
        await vk.confirmCallbackServer(id);
        const notOk = await vk.deliverCallback(vk.makeMessageNew({ text: 'x' }), { maxAttempts: 2 });
        expect(notOk).toMatchObject({ ok: false, postponed: false });
        expect(notOk.attempts).toHaveLength(2);
        mode = 'later';
        const later = await vk.deliverCallback(vk.makeMessageNew({ text: 'y' }), { maxAttempts: 5 });
        expect(later).toMatchObject({ ok: false, postponed: true, attempts: [{ retry: 0, status: 503, retryAfter: '120' }] });
        // Without a secret configured, the body carries none.
        expect(bridge.received.at(-1)!.body.secret).toBeUndefined();
      } finally {
        await bridge.close();
      }
    });
  });

  describe('faults', () => {
    it('failNext answers VK errors (9 flood control) or bare HTTP 5xx, then recovers', async () => {
      vk.failNext('messages.send', { error_code: 9, error_msg: 'Flood control' });
      vk.failNext('users.get', { http: 502 });
      vk.allowMessages(100001);
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, message: 'x' })).error).toMatchObject({ error_code: 9 });
      expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, message: 'x' })).response).toEqual(expect.any(Number));
      const res = await fetch(`${vk.apiRoot}/users.get?user_ids=1&v=5.199&access_token=${TOKEN}`);
      expect(res.status).toBe(502);
      expect(vk.calls.find((c) => c.method === 'users.get')!.http).toBe(502);
    });

    it('setFailureRate is reproducible with a seed (error 10 by default)', async () => {
      const outcomes = async () => {
        const d = await startVkDouble({ seed: 7 });
        try {
          d.setFailureRate('users.get', 0.5);
          const codes: Array<number | undefined> = [];
          for (let i = 0; i < 12; i++) codes.push(((await call(d, 'users.get', { user_ids: 1 })) as Json).error?.error_code);
          return codes;
        } finally {
          await d.close();
        }
      };
      const first = await outcomes();
      expect(first).toContain(10);
      expect(first).toContain(undefined);
      expect(await outcomes()).toEqual(first);
    });

    it('the long poll, upload and download routes take faults too', async () => {
      const { response: s } = await call(vk, 'groups.getLongPollServer', { group_id: GROUP });
      vk.failNext('longpoll', { http: 503 });
      expect((await fetch(`${s.server}?act=a_check&key=${s.key}&ts=${s.ts}&wait=0`)).status).toBe(503);
      expect(await poll(s.server, s.key, s.ts)).toEqual({ ts: s.ts, updates: [] });
      const { response: target } = await call(vk, 'docs.getMessagesUploadServer', {});
      vk.failNext('upload', { http: 500 });
      const form = new FormData();
      form.set('file', new Blob(['x']), 'x.txt');
      expect((await fetch(target.upload_url, { method: 'POST', body: form })).status).toBe(500);
    });

    it('hangNext never answers (also for the long poll and downloads); setLatency delays answers', async () => {
      vk.hangNext('users.get');
      await expect(
        fetch(`${vk.apiRoot}/users.get?user_ids=1&v=5.199&access_token=${TOKEN}`, { signal: AbortSignal.timeout(300) }),
      ).rejects.toThrow();
      vk.hangNext('download');
      const url = (vk.makeMessage({ attachments: [{ type: 'photo' }] }).attachments as Json)[0].photo.sizes[0].url;
      await expect(fetch(url, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
      vk.setLatency(300);
      const started = Date.now();
      await call(vk, 'users.get', { user_ids: 1 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    });
  });

  it('reset() clears records, peers, history and callback servers; ids and ts keep counting', async () => {
    vk.pushMessageNew({ peer: 100001, text: 'before' });
    await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, message: 'x' });
    vk.addCallbackServer({ url: 'http://127.0.0.1:1/cb' });
    const ts = vk.currentTs();
    const firstId = vk.sent[0]!.message_id;
    vk.reset();
    expect([vk.sent.length, vk.calls.length, vk.callbackServers().length]).toEqual([0, 0, 0]);
    expect(vk.currentTs()).toBe(ts);
    expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, message: 'x' })).error.error_code).toBe(901);
    vk.allowMessages(100001);
    expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 1, message: 'x' })).response).toBeGreaterThan(firstId);
  });

  it('close() is immediate even with a long poll open', async () => {
    const d = await startVkDouble();
    const { response: s } = await call(d, 'groups.getLongPollServer', { group_id: GROUP });
    const pending = fetch(`${s.server}?act=a_check&key=${s.key}&ts=${s.ts}&wait=90`).catch((e: unknown) => e);
    await d.waitForPoll();
    const started = Date.now();
    await d.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('VK API double with a fake clock', () => {
  let now = 1_700_000_000_000;
  let vk: VkDouble;

  beforeAll(async () => {
    vk = await startVkDouble({
      clock: () => now,
      enforceLimits: true,
      communities: [DEFAULT_COMMUNITY, { id: 5, name: 'Other', screen_name: 'other', token: 'vk1.a.other' }],
    });
  });
  afterEach(() => vk.reset());
  afterAll(() => vk.close());

  it('20 requests per second per token: the 21st in the same second gets error 6; another token is not affected', async () => {
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 21; i++) codes.push((await call(vk, 'users.get', { user_ids: 1 })).error?.error_code);
    expect(codes.filter((c) => c === 6)).toHaveLength(1);
    expect(codes.at(-1)).toBe(6);
    expect(vk.stats.tooManyRequests).toBe(1);
    expect((await call(vk, 'users.get', { user_ids: 1 }, 'vk1.a.other')).response).toBeDefined();
    now += 1001;
    expect((await call(vk, 'users.get', { user_ids: 1 })).response).toBeDefined();
  });

  it('random_id dedupe lasts an hour and covers the peer’s last 100 messages', async () => {
    vk.setEnforceLimits(false);
    vk.allowMessages(100001);
    const first = await call(vk, 'messages.send', { peer_id: 100001, random_id: 5, message: 'a' });
    now += 59 * 60 * 1000;
    expect((await call(vk, 'messages.send', { peer_id: 100001, random_id: 5, message: 'a' })).response).toBe(first.response);
    now += 2 * 60 * 1000;
    const afterHour = await call(vk, 'messages.send', { peer_id: 100001, random_id: 5, message: 'a' });
    expect(afterHour.response).not.toBe(first.response);
    for (let i = 0; i < 100; i++) await call(vk, 'messages.send', { peer_id: 100001, random_id: 1000 + i, message: `m${i}` });
    const pushedOut = await call(vk, 'messages.send', { peer_id: 100001, random_id: 5, message: 'a' });
    expect(pushedOut.response).not.toBe(afterHour.response);
    expect(vk.sent).toHaveLength(103);
  });

  it('each community sees only its own group (error 15) and its own long poll', async () => {
    vk.setEnforceLimits(false);
    expect((await call(vk, 'groups.getLongPollServer', { group_id: 5 })).error.error_code).toBe(15);
    const { response: s } = await call(vk, 'groups.getLongPollServer', { group_id: 5 }, 'vk1.a.other');
    expect(s.server).toBe(`${vk.origin}/wh5`);
    vk.pushMessageNew({ text: 'for the default community' });
    const other = vk.pushMessageNew({ group: 5, text: 'for 5' });
    const got = (await (await fetch(`${s.server}?act=a_check&key=${s.key}&ts=${s.ts}&wait=0`)).json()) as Json;
    expect(got.updates.map((u: VkEvent) => u.event_id)).toEqual([other.event_id]);
  });
});
