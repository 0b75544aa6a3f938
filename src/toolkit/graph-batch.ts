/**
 * Queueing the events of one Graph webhook POST (WhatsApp, Messenger, Instagram). Meta batches
 * several users' messages into one POST and counts only a 200 as delivered: anything else and it
 * redelivers the whole batch later.
 */
import type { Logger } from 'pino';
import type { InboundEvent, InboundMessage, InboundSink } from '../adapter.js';

/** One event of a batch, as the adapter's normalizer made it. */
export interface GraphBatchEvent {
  /** `<prefix>:<Meta's id>`, so a redelivered event is recognised. */
  dedupeId: string;
  /** The conversation: events of one conversation are queued in their order. */
  clientId: string;
  messages: InboundMessage[];
  event?: InboundEvent | undefined;
}

export interface GraphBatchOptions {
  inbound: InboundSink;
  log: Logger;
  channelId: string;
  /** The dedupe ids' prefix ('wa', 'fb', 'ig'); it also starts the correlation ids. */
  prefix: string;
  /** The messenger's name in logs ("WhatsApp"). */
  name: string;
}

/**
 * Queues each event with its own dedupe id: in order within a conversation, conversations side by
 * side. A conversation stops at its first failure, so its later messages are never queued ahead of
 * it. If any failed, this throws (the webhook is answered 503) and Meta redelivers the whole batch;
 * what was queued already is then recognised as a duplicate.
 */
export async function enqueueGraphBatch(
  events: readonly GraphBatchEvent[],
  o: GraphBatchOptions,
): Promise<{ queued: number; duplicate: number }> {
  const byConversation = new Map<string, GraphBatchEvent[]>();
  for (const e of events) byConversation.set(e.clientId, [...(byConversation.get(e.clientId) ?? []), e]);
  const counts = { queued: 0, duplicate: 0 };
  const results = await Promise.allSettled(
    [...byConversation.values()].map(async (list) => {
      for (const e of list) {
        const correlationId = `${o.prefix}-${o.channelId}-${e.dedupeId.slice(o.prefix.length + 1)}`;
        o.log.info({ cid: correlationId, event: 'received', count: e.messages.length }, `${o.name} message received`);
        const outcome = await o.inbound.enqueue(e.messages, {
          dedupeId: e.dedupeId,
          correlationId,
          ...(e.event ? { event: e.event } : {}),
        });
        counts[outcome] += 1;
      }
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return counts;
}
