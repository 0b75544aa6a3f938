/**
 * GET /media/… serves every adapter's files by one inert-media rule (src/media/safe-type.ts):
 * only types that cannot run script inline, everything else a download, and nosniff plus a
 * sandboxing CSP on every answer. Checked on real bridges: web chat uploads and Telegram files.
 * Plus many slow readers of a big upload: each costs a few chunks of Redis reads, not the file.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { startChatBridge, webchatChannel, MEDIA_SECRET, type ChatBridge } from '../helpers/webchat.js';
import { startTelegramStack, stopTelegramStack, type TelegramStack } from '../helpers/bridge.js';
import { monitorRedis } from '../helpers/redis-monitor.js';
import { MediaSigner } from '../../src/media/links.js';
import { fileNameFromDisposition } from '../../src/net/safe-download.js';

const TOKEN = 'media-blinger-token-0123456789';
const CHANNEL = 'media-chat';
const CSP = "default-src 'none'; sandbox";

let blinger: BlingerDouble | undefined;
let chat: ChatBridge | undefined;
let stack: Partial<TelegramStack> = {};

afterEach(async () => {
  await chat?.stop();
  await blinger?.close();
  await stopTelegramStack(stack);
  chat = blinger = undefined;
  stack = {};
});

async function startChat(adapter: Record<string, unknown> = {}): Promise<ChatBridge> {
  blinger = await startBlingerDouble({ token: TOKEN, channelId: CHANNEL });
  chat = await startChatBridge({ channels: [webchatChannel({ id: CHANNEL, blingerUrl: blinger.url, token: TOKEN, adapter })] });
  return chat;
}

/** Uploads a file as the chat page does; resolves with its signed /media link. */
async function upload(tb: ChatBridge, o: { key: string; id: string; name: string; type: string; body: Buffer | string }): Promise<string> {
  const res = await fetch(`${tb.url}/chat/${CHANNEL}/upload`, {
    method: 'POST',
    body: o.body,
    headers: { 'content-type': o.type, 'x-visitor-key': o.key, 'x-message-id': o.id, 'x-file-name': encodeURIComponent(o.name) },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { entry: { data: string } }).entry.data;
}

function expectInert(res: Response): void {
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('content-security-policy')).toBe(CSP);
}

describe('the inert-media rule', () => {
  it('serves web chat uploads inline only when they cannot run script; everything else is an octet-stream attachment', async () => {
    const tb = await startChat();
    const cases: Array<[name: string, uploaded: string, served: string, kind: 'inline' | 'attachment']> = [
      ['invoice.html', 'text/html', 'application/octet-stream', 'attachment'],
      ['logo.svg', 'image/svg+xml', 'application/octet-stream', 'attachment'],
      ['page.xhtml', 'application/xhtml+xml', 'application/octet-stream', 'attachment'],
      ['feed.xml', 'text/xml', 'application/octet-stream', 'attachment'],
      ['data.xml', 'application/xml', 'application/octet-stream', 'attachment'],
      ['app.js', 'text/javascript', 'application/octet-stream', 'attachment'],
      ['thing.bin', 'application/x-never-heard-of', 'application/octet-stream', 'attachment'],
      ['paper.pdf', 'application/pdf', 'application/octet-stream', 'attachment'],
      ['photo.png', 'image/png', 'image/png', 'inline'],
      ['photo.jpg', 'image/jpeg', 'image/jpeg', 'inline'],
      ['notes.txt', 'text/plain', 'text/plain; charset=utf-8', 'inline'],
    ];
    const keys = ['k'.repeat(30), 'l'.repeat(30), 'm'.repeat(30)];
    for (const [i, [name, uploaded, served, kind]] of cases.entries()) {
      const body = `<script>parent.alert(${i})</script>`;
      const link = await upload(tb, { key: keys[i % keys.length]!, id: `media-case-${i}`, name, type: uploaded, body });
      const res = await fetch(link);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type'), name).toBe(served);
      expect(res.headers.get('content-disposition'), name).toBe(`${kind}; filename="${name}"; filename*=UTF-8''${name}`);
      expectInert(res);
      expect(await res.text()).toBe(body);
    }
  });

  it('encodes any file name in Content-Disposition (RFC 6266 / 5987) so it survives exactly', async () => {
    const tb = await startChat();
    const name = `Счёт "Q1" 'final' (1);%20 v2.html`;
    const link = await upload(tb, { key: 'n'.repeat(30), id: 'media-name-1', name, type: 'text/html', body: 'x' });
    const res = await fetch(link);
    const header = res.headers.get('content-disposition')!;
    expect(header).toBe(
      `attachment; filename="____ _Q1_ 'final' (1);_20 v2.html"; ` +
        `filename*=UTF-8''%D0%A1%D1%87%D1%91%D1%82%20%22Q1%22%20%27final%27%20%281%29%3B%2520%20v2.html`,
    );
    // A standard parser (the one the bridge uses for downloads, which drops quotes) reads the name back.
    expect(fileNameFromDisposition(header)).toBe(name.replace(/"/g, ''));
  });

  it('puts nosniff and the sandbox CSP on every answer: errors and HEAD too', async () => {
    const tb = await startChat();
    const link = await upload(tb, { key: 'o'.repeat(30), id: 'media-err-1', name: 'a.png', type: 'image/png', body: 'png' });

    const head = await fetch(link, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expectInert(head);

    const tampered = await fetch(link.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    expect(tampered.status).toBe(403);
    expectInert(tampered);

    const expired = new MediaSigner(MEDIA_SECRET, tb.url, 60_000).link(CHANNEL, { id: 'no-such-upload' });
    const gone = await fetch(expired);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: 'not_found' });
    expectInert(gone);

    const unknownChannel = await fetch(new MediaSigner(MEDIA_SECRET, tb.url, 60_000).link('nowhere', { id: 'x' }));
    expect(unknownChannel.status).toBe(404);
    expectInert(unknownChannel);
  });

  it('applies to Telegram files too: an HTML document is a download, a photo inline, a failed download still inert', async () => {
    stack = await startTelegramStack({ mode: 'webhook' });
    const { tg, blinger: bl } = stack as TelegramStack;
    const html = tg.addFile({
      content: Buffer.from('<script>alert(document.cookie)</script>'),
      mime: 'text/html',
      file_name: 'invoice.html',
    });
    const update = tg.makeMessageUpdate({
      chat_id: 4242,
      extra: {
        document: { file_id: html.file_id, file_unique_id: html.file_unique_id, file_name: 'invoice.html', mime_type: 'text/html' },
      },
    });
    delete (update.message as { text?: string }).text;
    expect((await tg.deliverWebhook(update)).status).toBe(200);
    const [file] = await bl.waitFor(1);
    expect(file).toMatchObject({ type: 'file', client_id: '4242' });

    const res = await fetch(file!.data);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="invoice\.html"/);
    expectInert(res);

    tg.failNext('download', { error_code: 500, description: 'Internal Server Error' });
    const failed = await fetch(file!.data);
    expect(failed.status).toBe(502);
    expectInert(failed);
  });
});

describe('slow readers of /media', () => {
  it('stream a big upload from Redis a chunk at a time: a paused reader holds a few chunks in the process, not the file', async () => {
    const tb = await startChat({ maxUploadBytes: '24MiB' });
    const size = 16 * 1024 * 1024;
    const content = randomBytes(size);
    const link = await upload(tb, {
      key: 'p'.repeat(30),
      id: 'media-big-1',
      name: 'big.bin',
      type: 'application/octet-stream',
      body: content,
    });
    // One reader that reads it all gets exactly the upload.
    expect(Buffer.from(await (await fetch(link)).arrayBuffer()).equals(content)).toBe(true);

    // From now on: the bytes of the upload Redis hands out, and the server's sockets to the readers.
    const filePrefix = `${tb.prefix}:webchat:${CHANNEL}:file:`;
    let fromRedis = 0;
    const monitor = await monitorRedis((command, [key = '', ...rest]) => {
      if (!key.startsWith(filePrefix)) return;
      if (command === 'getrange') fromRedis += Math.min(Number(rest[1]), size - 1) - Number(rest[0]) + 1;
      else if (command !== 'hmget' && command !== 'exists') fromRedis += size; // any other read returns the whole file
    });
    const serverSockets: net.Socket[] = [];
    tb.bridge.app.server.on('connection', (s: net.Socket) => serverSockets.push(s));
    try {
      // Readers that take the headers and the first bytes, then stop reading.
      const readers = 10;
      const sockets = await Promise.all(Array.from({ length: readers }, () => pausedReader(link, 4096)));
      // MONITOR reports commands in the order Redis ran them: once this one shows, every read before it has.
      const marker = `${filePrefix}marker`;
      const seen = monitor.seen(marker);
      await tb.bridge.outbound.store.redis.exists(marker);
      await seen;
      // What left the process: handed to the kernel (which buffers a few MB per socket by itself).
      const handedOver = serverSockets.reduce((sum, s) => sum + s.bytesWritten - s.writableLength, 0);
      for (const s of sockets) s.destroy();

      expect(serverSockets).toHaveLength(readers);
      expect(fromRedis).toBeGreaterThan(0);
      // Read from Redis but not yet handed over: what the process holds for the readers. Buffering
      // whole files would hold most of `readers` files here.
      const heldPerReader = (fromRedis - handedOver) / readers;
      expect(heldPerReader).toBeLessThan(1024 * 1024);
    } finally {
      monitor.close();
    }
  });
});

/** A raw HTTP GET that reads until `bytes` of the body arrived, then pauses (never reads again). */
function pausedReader(link: string, bytes: number): Promise<net.Socket> {
  const url = new URL(link);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    });
    let received = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const head = received.indexOf('\r\n\r\n');
      if (head >= 0 && received.length - head - 4 >= bytes) {
        expect(received.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
        socket.pause();
        socket.removeAllListeners('data');
        resolve(socket);
      }
    });
  });
}
