/**
 * Blinger → VK end to end: agents' replies through a real bridge to the VK API double — texts,
 * photos and documents through VK's upload servers, random_id, failures and what the agent is told.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PNG_2X1, startVkStack, stopVkStack, VK_CHANNEL, type VkStack } from '../helpers/vk.js';
import { startFileServer, type FileServer } from '../helpers/files.js';
import { splitText } from '../../src/toolkit/index.js';
import type { VkAdapter } from '../../adapters/vk/adapter.js';
import type { SendContext } from '../../src/adapter.js';

let s: VkStack | undefined;
let files: FileServer | undefined;

afterEach(async () => {
  await stopVkStack(s ?? {});
  await files?.close();
  s = undefined;
  files = undefined;
});

const PDF = Buffer.from('%PDF-1.4\nan invoice\n');
const WEBP = Buffer.from('RIFF\x1a\x00\x00\x00WEBPVP8 fake', 'latin1');

async function setup(o: Parameters<typeof startVkStack>[0] = {}): Promise<VkStack> {
  s = await startVkStack(o);
  files = await startFileServer({
    '/photo.png': { type: 'image/png', body: PNG_2X1 },
    '/invoice.pdf': { type: 'application/pdf', body: PDF },
    '/sticker.webp': { type: 'image/webp', body: WEBP },
    '/not-an-image.png': { type: 'image/png', body: Buffer.from('these are not image bytes') },
  });
  // The user wrote first: VK lets a community answer only then (else 901).
  s.vk.allowMessages(100001);
  return s;
}

const reply = (data: string, type: 'text' | 'image' | 'file' = 'text', client_id = '100001') =>
  s!.blinger.sendReply(s!.tb.url, { client_id, type, data });

describe('agents’ replies', () => {
  it('a text goes with messages.send to the peer; a long one is split at 4096 in order, each part its own random_id', async () => {
    await setup();
    expect((await reply('Hello <b>there</b> *friend*')).status).toBe(200);
    const long = Array.from({ length: 1200 }, (_, i) => `word${i}`).join(' ');
    expect((await reply(long)).status).toBe(200);
    const parts = splitText(long, 4096);
    expect(parts.length).toBeGreaterThan(1);
    const sent = await s!.vk.waitForSent(1 + parts.length);
    expect(sent.map((m) => m.text)).toEqual(['Hello <b>there</b> *friend*', ...parts]);
    expect(sent.every((m) => m.peer_id === 100001 && m.text.length <= 4096)).toBe(true);
    expect(new Set(sent.map((m) => m.random_id)).size).toBe(sent.length);
    expect(sent.every((m) => m.random_id > 0)).toBe(true);
  });

  it('an image goes through photos.getMessagesUploadServer → upload → saveMessagesPhoto and arrives as a photo, bytes intact', async () => {
    await setup();
    expect((await reply(`${files!.url}/photo.png`, 'image')).status).toBe(200);
    const [sent] = await s!.vk.waitForSent(1);
    expect(sent!.attachments).toHaveLength(1);
    expect(sent!.attachments[0]).toMatch(/^photo-\d+_\d+_[0-9a-f]+$/);
    const calls = s!.vk.calls.map((c) => c.method).filter((m) => m !== 'longpoll' && m !== 'users.get' && !m.startsWith('groups.'));
    expect(calls).toEqual(['photos.getMessagesUploadServer', 'upload', 'photos.saveMessagesPhoto', 'messages.send']);
    const upload = s!.vk.calls.find((c) => c.method === 'upload')!;
    expect(upload.params.photo).toMatchObject({ filename: 'photo.png', contentType: 'image/png', size: PNG_2X1.length });
  });

  it('a file goes through docs.getMessagesUploadServer → upload → docs.save with its name; a webp or a refused photo goes as a document', async () => {
    await setup();
    for (const [url, type] of [
      ['/invoice.pdf', 'file'],
      ['/sticker.webp', 'image'],
      ['/not-an-image.png', 'image'],
    ] as const)
      expect((await reply(`${files!.url}${url}`, type)).status).toBe(200);
    const sent = await s!.vk.waitForSent(3);
    expect(sent.map((m) => m.attachments)).toEqual(Array.from({ length: 3 }, () => [expect.stringMatching(/^doc-\d+_\d+_[0-9a-f]+$/)]));
    const uploads = s!.vk.calls.filter((c) => c.method === 'upload').map((c) => Object.keys(c.params)[0]);
    // The refused photo was tried as a photo first, then downloaded again and sent as a document.
    expect(uploads).toEqual(['file', 'file', 'photo', 'file']);
    const saved = s!.vk.calls.filter((c) => c.method === 'docs.save').map((c) => c.params.title);
    expect(saved).toEqual(['invoice.pdf', 'sticker.webp', 'not-an-image.png']);
    expect(files!.requests.filter((r) => r === '/not-an-image.png')).toHaveLength(2);
  });

  it('901: no retry, dead-lettered, and the agent reads why in the conversation', async () => {
    await setup();
    s!.vk.denyMessages(100001);
    expect((await reply('are you there?')).status).toBe(200);
    const [echo] = await s!.blinger.waitFor(1);
    expect(echo).toMatchObject({ client_id: '100001', echo: true, echo_outgoing: true });
    expect(echo!.data).toContain('has not allowed messages from the community');
    expect(s!.vk.calls.filter((c) => c.method === 'messages.send')).toHaveLength(1);
  });

  it('6 (too many requests) and 10 (internal error) are waited out and retried: the message arrives once', async () => {
    await setup();
    s!.vk.failNext('messages.send', { error_code: 6, error_msg: 'Too many requests per second' });
    s!.vk.failNext('messages.send', { error_code: 10, error_msg: 'Internal server error' });
    s!.vk.failNext('messages.send', { http: 502 });
    expect((await reply('eventually')).status).toBe(200);
    const sent = await s!.vk.waitForSent(1);
    expect(sent.map((m) => m.text)).toEqual(['eventually']);
    expect(s!.vk.calls.filter((c) => c.method === 'messages.send')).toHaveLength(4);
  });

  it('a bad token is retried (the operator fixes it), not dead-lettered', async () => {
    await setup({ adapter: { token: 'vk1.a.a-token-vk-does-not-know-xxxxxxxxxxxx' } });
    expect((await reply('waits for a good token')).status).toBe(200);
    await expect
      .poll(() => s!.vk.calls.filter((c) => c.method === 'messages.send' && c.error?.error_code === 5).length)
      .toBeGreaterThanOrEqual(2);
    expect(s!.blinger.received).toEqual([]);
    expect(s!.vk.sent).toEqual([]);
  });

  it('the same message sent again (a retry after a crash) reuses its random_id, and VK drops the repeat', async () => {
    await setup();
    const adapter = s!.tb.bridge.channels.get(VK_CHANNEL)!.adapter as VkAdapter;
    const ctx: SendContext = { partsSent: 0, onPartSent: async () => undefined, pace: async () => undefined, messageId: 'item-7f3a' };
    const message = { client_id: '100001', type: 'text' as const, data: 'only once, please' };
    await adapter.send(message, ctx);
    await adapter.send(message, ctx);
    expect(s!.vk.sent.map((m) => m.text)).toEqual(['only once, please']);
    expect(s!.vk.stats.deduplicated).toBe(1);
    await adapter.send(message, { ...ctx, messageId: 'item-8b21' });
    expect(s!.vk.sent.map((m) => m.text)).toEqual(['only once, please', 'only once, please']);
  });
});
