/**
 * A batched Graph webhook whose queueing fails half-way: the answer is not 200 (the core turns the
 * thrown error into 503), Meta redelivers the whole batch, and the redelivery queues exactly what
 * was missing — each conversation in order, nothing twice. The sink here is an in-memory stand-in
 * for the core's inbound queue (same contract: dedupe by id, resolves once "durable").
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AdapterContext, InboundEvent, InboundMessage, InboundSink, WebhookRequest } from '../../src/adapter.js';
import { whatsappAdapter } from '../../adapters/whatsapp/index.js';
import { messengerAdapter } from '../../adapters/messenger/index.js';
import { encodeMetaJson, signMetaBody, startGraphDouble, type GraphDouble } from '../doubles/graph-api.js';
import { metaSettings } from '../helpers/meta.js';

class FlakySink implements InboundSink {
  readonly queued: Array<{ id: string; client: string; data: string }> = [];
  private readonly seen = new Set<string>();
  /** Conversations whose next enqueue fails (once each). */
  readonly failOnce = new Set<string>();

  async enqueue(messages: InboundMessage[], opts?: { dedupeId?: string; event?: InboundEvent }): Promise<'queued' | 'duplicate'> {
    const client = messages[0]!.client_id;
    if (this.failOnce.delete(client)) throw new Error('Redis went away');
    if (opts?.dedupeId && this.seen.has(opts.dedupeId)) return 'duplicate';
    if (opts?.dedupeId) this.seen.add(opts.dedupeId);
    for (const m of messages) this.queued.push({ id: opts?.dedupeId ?? '', client, data: m.data });
    return 'queued';
  }
}

function context<S>(settings: S, inbound: InboundSink): AdapterContext<S & { type: string }> {
  return {
    channelId: 'c1',
    settings: settings as S & { type: string },
    publicUrl: 'https://bridge.example',
    log: pino({ level: 'silent' }),
    redis: undefined as never, // not reached: no re-opening template in these tests
    redisPrefix: 'unused',
    inbound,
    media: { link: (ref) => `https://bridge.example/media/${ref.id}`, ttlMs: 3_600_000 },
    allowPrivateUrls: true,
    botFlow: false,
  };
}

function signed(g: GraphDouble, payload: object): WebhookRequest {
  const rawBody = Buffer.from(encodeMetaJson(payload));
  return {
    method: 'POST',
    headers: { 'x-hub-signature-256': signMetaBody(rawBody, g.appSecret), 'content-type': 'application/json' },
    body: JSON.parse(rawBody.toString()),
    rawBody,
    query: {},
    subpath: '',
  };
}

describe('a batch whose queueing fails half-way', () => {
  it('WhatsApp: the answer fails, the other conversation is queued, the failing one stops at its first message; the redelivery completes it in order', async () => {
    const g = await startGraphDouble({ seed: 9 });
    try {
      const sink = new FlakySink();
      const settings = whatsappAdapter.settings.parse(metaSettings('whatsapp', g));
      const adapter = whatsappAdapter.create(context(settings, sink));
      const anna = { user: { waId: '4915112345678', userId: 'DE.42', name: 'Anna' } };
      const batch = g.batch([g.wa.text('a1', anna), g.wa.text('s1'), g.wa.text('a2', anna), g.wa.text('s2')]);
      sink.failOnce.add('DE.42');
      await expect(adapter.handleWebhook!(signed(g, batch))).rejects.toThrow('Redis went away');
      expect(sink.queued.map((q) => q.data)).toEqual(['s1', 's2']);
      const again = await adapter.handleWebhook!(signed(g, batch));
      expect(again).toMatchObject({ status: 200, body: { queued: 2, duplicate: 2 } });
      expect(sink.queued.filter((q) => q.client === 'DE.42').map((q) => q.data)).toEqual(['a1', 'a2']);
      expect(sink.queued).toHaveLength(4);
    } finally {
      await g.close();
    }
  });

  it('Messenger: the same, for messaging[] events', async () => {
    const g = await startGraphDouble({ seed: 10 });
    try {
      const sink = new FlakySink();
      const settings = messengerAdapter.settings.parse(metaSettings('messenger', g));
      const adapter = messengerAdapter.create(context(settings, sink));
      const batch = g.batch([
        g.fb.text('x1', { user: '111111' }),
        g.fb.text('y1', { user: '222222' }),
        g.fb.text('x2', { user: '111111' }),
      ]);
      sink.failOnce.add('111111');
      await expect(adapter.handleWebhook!(signed(g, batch))).rejects.toThrow('Redis went away');
      expect(sink.queued.map((q) => q.data)).toEqual(['y1']);
      expect(await adapter.handleWebhook!(signed(g, batch))).toMatchObject({ status: 200, body: { queued: 2, duplicate: 1 } });
      expect(sink.queued.map((q) => q.data)).toEqual(['y1', 'x1', 'x2']);
    } finally {
      await g.close();
    }
  });
});
