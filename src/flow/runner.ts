/**
 * Runs a channel's middleware (the developer's, then the built-in bot flow) between the adapter's
 * normalization and the queues, and records the outcome in one atomic step (state.ts):
 *
 *   user event ──▶ middleware ──▶ decision ──▶ inbound lane: [history…] user messages, bot answers as echoes
 *                                          └─▶ outbound lane: the bot's answers to the user
 *
 * Both lanes, the conversation state and the dedupe mark of the source event change together, so
 * - a redelivered update (same dedupeId) queues nothing twice, the bot's answer included;
 * - the echoes sit in the inbound lane exactly where they happened, between the user's messages,
 *   and reach Blinger in the conversation's real order;
 * - the bot's answer to the user is as durable as an agent's reply (the same outbound lane, with
 *   its retries, pacing and dead-letter list), and is ordered with the agents' replies.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { InboundSink } from '../adapter.js';
import type { InboundEvent, InboundMessage, OutboundMessage } from '../message.js';
import { LaneStore, laneMember, type LaneItem, type LaneRef } from '../delivery/lane-store.js';
import type { LaneQueue } from '../delivery/lane-queue.js';
import { redact } from '../redact.js';
import { DEFAULT_IDLE_TIMEOUT_MS, type BotFlowConfig } from './config.js';
import { botFlow } from './bot-flow.js';
import {
  buildReply,
  compose,
  type BotReply,
  type ConversationFacts,
  type FlowContext,
  type FlowOutcome,
  type Middleware,
  type ReplyOptions,
} from './middleware.js';
import { isOpen, nextOpening } from './schedule.js';
import { FlowStore } from './state.js';

export interface FlowRunnerOptions {
  channelId: string;
  /** The channel's `bot` section; absent = only the developer's middleware. */
  bot?: BotFlowConfig;
  middleware?: readonly Middleware[];
  inbound: LaneQueue<InboundMessage>;
  outbound: LaneQueue<OutboundMessage>;
  /** The fail-fast producer connection (callers answer 503 when Redis is away). */
  redis: Redis;
  prefix: string;
  log: Logger;
  /** The flow's clock: hand-over idle time and opening hours. Injectable for tests. */
  now?: () => number;
  /** Dedupe window of source events; the lanes' default (24 h). */
  dedupeTtlS?: number;
}

export class FlowRunner implements InboundSink {
  private readonly store: FlowStore;
  private readonly chain: ReturnType<typeof compose>;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly o: FlowRunnerOptions) {
    this.store = new FlowStore(o.redis, o.prefix, o.channelId);
    this.chain = compose([...(o.middleware ?? []), ...(o.bot ? [botFlow(o.bot)] : [])]);
    this.now = o.now ?? Date.now;
    this.log = o.log.child({ flow: true });
  }

  private get idleMs(): number {
    return this.o.bot?.handover.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  }

  async enqueue(
    messages: InboundMessage[],
    opts: { dedupeId?: string; correlationId?: string; event?: InboundEvent } = {},
  ): Promise<'queued' | 'duplicate'> {
    const clientId = messages[0]?.client_id;
    if (!clientId) return 'queued';
    if (messages.some((m) => m.client_id !== clientId)) throw new Error('one source event must belong to one conversation');
    const channelId = this.o.channelId;
    const lane: LaneRef = { channelId, clientId };
    const cid = opts.correlationId ?? randomUUID();
    const seenKey = opts.dedupeId ? this.o.inbound.store.seenKey(channelId, opts.dedupeId) : undefined;
    const now = this.now();

    const state = await this.store.read(clientId, seenKey);
    // Seen already: don't even run the middleware (the commit's SET NX still settles races).
    if (state.seen) return 'duplicate';

    const event: InboundEvent = opts.event ?? {};
    const facts: ConversationFacts = { ...state.facts };
    const factWrites: Partial<Record<'start_payload' | 'phone', string>> = {};
    if (event.start?.payload !== undefined && event.start.payload !== facts.startPayload)
      facts.startPayload = factWrites.start_payload = event.start.payload;
    if (event.phone !== undefined && event.phone !== facts.phone) facts.phone = factWrites.phone = event.phone;
    const handedOver = state.handoverUntil !== undefined && state.handoverUntil > now;

    const ctx = new Context({
      channelId,
      clientId,
      messages: messages.map((m) => structuredClone(m)),
      event,
      text: textOf(event, messages, opts.event === undefined),
      chat: event.chat ?? 'private',
      handedOver,
      facts,
      now,
      log: this.log.child({ cid }),
    });
    try {
      await this.chain(ctx, () => {
        if (ctx.outcome === undefined) ctx.forward();
      });
    } catch (err) {
      // A failing middleware must not block the conversation (a polling loop would retry it
      // forever): its half-made decision is dropped and the messages go to the agents.
      this.log.error(
        { cid, channel: channelId, err: redact(String((err as Error)?.stack ?? err)) },
        'bot middleware failed; forwarding the messages to the agents',
      );
      ctx.reset();
      ctx.forward();
    }
    const outcome: FlowOutcome = ctx.outcome ?? (ctx.replies.length > 0 ? 'answer' : 'forward');
    const bot = this.o.bot;

    // What the user sent, with what the conversation is known for.
    const userMessages = outcome === 'drop' ? [] : ctx.messages.map((m) => withFacts(m, facts));
    const replies: BotReply[] = outcome === 'drop' ? [] : [...ctx.replies];
    const toAgents = outcome === 'forward' || outcome === 'handover';
    let closedUntil: number | undefined;
    if (toAgents && bot) {
      const closed = bot.schedule !== undefined && !isOpen(bot.schedule, now);
      if (closed) {
        // One off-hours message per closed period, instead of the hand-over message.
        if (!(state.closedUntil !== undefined && state.closedUntil > now)) {
          replies.push({ type: 'text', data: bot.schedule!.message });
          closedUntil = nextOpening(bot.schedule!, now) ?? now + 86_400_000;
        }
      } else if (outcome === 'handover') {
        const message = ctx.handoverMessage ?? bot.handover.message;
        if (message) replies.push({ type: 'text', data: message });
      }
      if (outcome === 'handover' && bot.askPhone?.when === 'handover' && !facts.phone && ctx.chat === 'private') {
        replies.push(buildReply(bot.askPhone.text, { requestPhone: bot.askPhone.button }));
      }
    } else if (toAgents && outcome === 'handover' && ctx.handoverMessage) {
      replies.push({ type: 'text', data: ctx.handoverMessage });
    }

    const first = userMessages[0] ?? messages[0]!;
    const echoes = replies.map((r) => replyEcho(r, first, facts));
    const mirrorAll = (bot?.mirror ?? 'all') === 'all';
    let inboundPayloads: InboundMessage[] = [];
    let historyPayloads: InboundMessage[] = [];
    if (toAgents) {
      inboundPayloads = [...userMessages, ...echoes];
    } else if (outcome !== 'drop') {
      const handled = [...userMessages.map((m) => ({ ...m, echo: true })), ...echoes];
      if (mirrorAll || handedOver) inboundPayloads = handled;
      else if ((bot?.history ?? 0) > 0) historyPayloads = handled;
    }

    const at = Date.now();
    const inItems = inboundPayloads.map((p) => LaneStore.newItem(p, cid, at));
    const outItems = replies.map((r) => LaneStore.newItem<OutboundMessage>(outboundOf(clientId, r), cid, at));
    const result = await this.store.commit({
      clientId,
      ...(seenKey ? { seen: { key: seenKey, ttlS: this.o.dedupeTtlS ?? 86_400 } } : {}),
      inbound: {
        laneKey: this.o.inbound.store.laneKey(lane),
        lanesKey: this.o.inbound.store.lanesKey,
        member: laneMember(lane),
        items: inItems.map((i) => JSON.stringify(i)),
      },
      outbound: {
        laneKey: this.o.outbound.store.laneKey(lane),
        lanesKey: this.o.outbound.store.lanesKey,
        member: laneMember(lane),
        items: outItems.map((i) => JSON.stringify(i)),
      },
      historyAppend: historyPayloads.map((payload) => JSON.stringify({ cid, payload })),
      // Whatever reaches Blinger in after-handover mode comes after what was kept back.
      flushHistory: !mirrorAll && inboundPayloads.length > 0,
      historyCap: bot?.history ?? 0,
      flush: { idPrefix: randomUUID(), at },
      ...(toAgents ? { handoverUntil: now + this.idleMs } : {}),
      ...(closedUntil !== undefined ? { closedUntil } : {}),
      facts: factWrites,
      now,
    });
    if (result.duplicate) {
      this.log.debug({ channel: channelId, dedupeId: opts.dedupeId, cid }, 'duplicate source event ignored');
      return 'duplicate';
    }
    const flushed = result.flushed.map((raw) => JSON.parse(raw) as LaneItem<InboundMessage>);
    this.log.info(
      {
        channel: channelId,
        cid,
        event: 'bot-flow',
        outcome,
        handedOver,
        replies: replies.length,
        toBlinger: flushed.length + inItems.length,
        keptBack: historyPayloads.length,
      },
      'bot flow decided',
    );
    if (result.inboundNewLane) await this.o.inbound.ensureJob(lane);
    if (result.outboundNewLane) await this.o.outbound.ensureJob(lane);
    announce(this.o.inbound, lane, [...flushed, ...inItems], this.log);
    announce(this.o.outbound, lane, outItems, this.log);
    return 'queued';
  }

  /** An agent replied: the conversation is with the agents until it has been idle for the idle time. */
  async agentReplied(clientId: string): Promise<void> {
    const now = this.now();
    await this.store.extendHandover(clientId, now + this.idleMs, now);
  }
}

/** Logs and emits what LaneQueue.enqueue would for items appended by the flow's own script. */
function announce<T>(queue: LaneQueue<T>, lane: LaneRef, items: LaneItem<T>[], log: Logger): void {
  if (items.length === 0) return;
  for (const item of items)
    log.info({ channel: lane.channelId, cid: item.cid, msg: item.id, job: laneMember(lane), event: 'queued' }, 'message queued');
  queue.emit('queued', { lane, items });
}

function textOf(event: InboundEvent, messages: InboundMessage[], noEvent: boolean): string | undefined {
  if (event.text !== undefined) return event.text;
  if (event.button) return event.button.label ?? event.button.data;
  // An adapter that tells nothing: the first text is the best guess.
  return noEvent ? messages.find((m) => m.type === 'text')?.data : undefined;
}

function withFacts(m: InboundMessage, facts: ConversationFacts): InboundMessage {
  const out = { ...m };
  if (facts.phone && !out.client_phone) out.client_phone = facts.phone;
  if (facts.startPayload !== undefined) out.info = { ...out.info, start_payload: facts.startPayload };
  return out;
}

/** The bot's answer as Blinger sees it: an outgoing echo; offered buttons are listed for agents. */
function replyEcho(r: BotReply, user: InboundMessage, facts: ConversationFacts): InboundMessage {
  let data = r.data;
  const buttons = r.keyboard?.buttons?.flat().map((b) => b.label) ?? (r.keyboard?.requestPhone ? [r.keyboard.requestPhone] : []);
  if (buttons.length > 0) data += `\n[buttons: ${buttons.join(' | ')}]`;
  const echo: InboundMessage = { client_id: user.client_id, type: r.type, data, echo: true, echo_outgoing: true };
  if (user.client_name) echo.client_name = user.client_name;
  const phone = user.client_phone ?? facts.phone;
  if (phone) echo.client_phone = phone;
  return echo;
}

function outboundOf(clientId: string, r: BotReply): OutboundMessage {
  return { client_id: clientId, type: r.type, data: r.data, ...(r.keyboard ? { keyboard: r.keyboard } : {}) };
}

/** What a context starts from: the data fields of FlowContext (its facts still writable here). */
type ContextInit = Pick<FlowContext, 'channelId' | 'clientId' | 'messages' | 'event' | 'text' | 'chat' | 'handedOver' | 'now' | 'log'> & {
  facts: ConversationFacts;
};

class Context implements FlowContext {
  readonly channelId: string;
  readonly clientId: string;
  readonly messages: InboundMessage[];
  readonly event: InboundEvent;
  readonly text: string | undefined;
  readonly chat: 'private' | 'group' | 'channel';
  readonly handedOver: boolean;
  readonly facts: Readonly<ConversationFacts>;
  readonly now: number;
  readonly log: Logger;
  private readonly queued: BotReply[] = [];
  private decided: FlowOutcome | undefined;
  handoverMessage: string | undefined;

  constructor(init: ContextInit) {
    this.channelId = init.channelId;
    this.clientId = init.clientId;
    this.messages = init.messages;
    this.event = Object.freeze({ ...init.event });
    this.text = init.text;
    this.chat = init.chat;
    this.handedOver = init.handedOver;
    this.facts = Object.freeze({ ...init.facts });
    this.now = init.now;
    this.log = init.log;
  }

  get replies(): readonly BotReply[] {
    return this.queued;
  }

  get outcome(): FlowOutcome | undefined {
    return this.decided;
  }

  reply(content: string | { type: BotReply['type']; data: string }, opts?: ReplyOptions): void {
    this.queued.push(buildReply(content, opts));
  }

  forward(): void {
    this.decided = 'forward';
  }

  handover(opts: { message?: string } = {}): void {
    this.decided = 'handover';
    if (opts.message !== undefined) this.handoverMessage = opts.message;
  }

  skip(): void {
    this.decided = 'skip';
  }

  drop(): void {
    this.decided = 'drop';
  }

  /** Forgets replies and decision (after a middleware failed). */
  reset(): void {
    this.queued.length = 0;
    this.decided = undefined;
    this.handoverMessage = undefined;
  }
}
