/**
 * sendToMax against the MAX double, with a SendContext that records what the core would see: a
 * pace() right before each message (and pace('request') before each upload step on the API host),
 * parts reported after each but the last, a retry resuming after the parts already sent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OutboundMessage, SendContext } from '../../src/adapter.js';
import { MaxApi } from '../../adapters/max/api.js';
import { sendToMax, type MaxSendOptions } from '../../adapters/max/send.js';
import { DEFAULT_MAX_BOT, startMaxDouble, type MaxDouble } from '../doubles/max-api.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';

const PDF = Buffer.from('%PDF-1.4\n% paced\n%%EOF\n');
let files: Server;
let fileUrl: string;
let max: MaxDouble;
let redis: Redis;
let prefix: string;
let chat: string;

beforeAll(async () => {
  files = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF));
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  fileUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/doc.pdf`;
});
afterAll(async () => {
  await new Promise((r) => files.close(r));
});
beforeEach(async () => {
  max = await startMaxDouble();
  redis = await readyRedis();
  prefix = uniquePrefix();
  chat = String(max.addDialog({ user_id: 4242 }));
});
afterEach(async () => {
  await max.close();
  await removeKeys(redis, prefix);
  await redis.quit();
});

function options(): MaxSendOptions {
  return {
    api: new MaxApi({ token: DEFAULT_MAX_BOT.token, apiRoot: max.apiRoot, timeoutMs: 3000 }),
    redis,
    uploadKeyPrefix: `${prefix}:max-upload:test`,
    allowPrivateUrls: true,
    timeoutMs: 3000,
  };
}

/** Records pace() calls and the requests the double saw at that moment, and reported parts. */
function recorder(partsSent = 0) {
  const events: string[] = [];
  const ctx: SendContext = {
    messageId: 'm-1',
    partsSent,
    onPartSent: async (n) => void events.push(`parts ${n}`),
    pace: async (kind = 'message') => void events.push(`pace ${kind} (after ${max.calls.length} calls)`),
  };
  return { ctx, events };
}

describe('sendToMax pacing and parts', () => {
  it('paces each part of a long text right before it, and reports parts but the last', async () => {
    const { ctx, events } = recorder();
    const text = Array.from({ length: 3 }, (_, i) => `${String(i)}${'x'.repeat(3990)}`).join('\n');
    await sendToMax(options(), { client_id: chat, type: 'text', data: text }, ctx);
    expect(events).toEqual([
      'pace message (after 0 calls)',
      'parts 1',
      'pace message (after 1 calls)',
      'parts 2',
      'pace message (after 2 calls)',
    ]);
    expect(max.sent.map((m) => m.text![0])).toEqual(['0', '1', '2']);
  });

  it('a retry resumes after the parts already sent', async () => {
    const { ctx, events } = recorder(2);
    const text = Array.from({ length: 3 }, (_, i) => `${String(i)}${'x'.repeat(3990)}`).join('\n');
    await sendToMax(options(), { client_id: chat, type: 'text', data: text }, ctx);
    expect(max.sent.map((m) => m.text![0])).toEqual(['2']);
    expect(events).toEqual(['pace message (after 0 calls)']);
  });

  it('a file: pace("request") before POST /uploads, pace() before the message', async () => {
    const { ctx, events } = recorder();
    const msg: OutboundMessage = { client_id: chat, type: 'file', data: fileUrl };
    await sendToMax(options(), msg, ctx);
    expect(events).toEqual(['pace request (after 0 calls)', 'pace message (after 1 calls)']);
    expect(max.calls.map((c) => c.path)).toEqual(['/uploads', '/messages']);
    expect(max.sent[0]!.files[0]!.bytes).toEqual(PDF);
  });

  it('an empty text is refused for good, without a request', async () => {
    const { ctx } = recorder();
    await expect(sendToMax(options(), { client_id: chat, type: 'text', data: '  \n ' }, ctx)).rejects.toMatchObject({
      kind: 'permanent',
      code: 'empty_text',
    });
    expect(max.calls).toEqual([]);
  });
});
