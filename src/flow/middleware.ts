/**
 * The chat-bot in the middle: middleware that sees each end-user event after normalization and
 * before the inbound queue, and decides what becomes of it.
 *
 *   createBridge({ config, middleware: [async (ctx, next) => {
 *     if (ctx.text === '/ping') return ctx.reply('pong');   // the bot answers
 *     if (ctx.text === '/spam') return ctx.drop();           // nothing reaches anyone
 *     await next();                                          // let the next one (and the built-in flow) decide
 *   }] })
 *
 * Outcomes (the last decision wins; none at all = forward, so nothing is lost by accident):
 * - reply(…): the bot answers. The user's messages reach Blinger as `echo: true` and each answer
 *   as `echo: true, echo_outgoing: true` (when the channel's `mirror` rule says so).
 * - forward(): the messages go to the agents as ordinary messages; the conversation is handed over.
 * - handover(): the same, plus the hand-over message (and the off-hours message when closed).
 * - skip(): the bot does not answer and the agents are not asked; mirrored as an echo like answered ones.
 * - drop(): nothing is queued at all (spam, service commands).
 * Replies queued together with forward()/handover() are sent too (and echoed after the messages).
 */
import type { Logger } from 'pino';
import {
  MAX_BUTTON_DATA_BYTES,
  type InboundEvent,
  type InboundMessage,
  type MessageType,
  type ReplyButton,
  type ReplyKeyboard,
} from '../message.js';

export type FlowOutcome = 'answer' | 'forward' | 'handover' | 'skip' | 'drop';

/** What the conversation is known for across messages (kept in Redis, added to every message's info). */
export interface ConversationFacts {
  /** The deep-link payload of the last /start. */
  startPayload?: string;
  /** The phone the user shared. */
  phone?: string;
}

export interface BotReply {
  type: MessageType;
  data: string;
  keyboard?: ReplyKeyboard;
}

export interface ReplyOptions {
  /** Buttons under the reply: each entry a button (its own row) or a row of buttons. */
  buttons?: Array<ReplyButton | ReplyButton[]>;
  /** Show a one-tap "share my phone number" keyboard with this label. */
  requestPhone?: string;
  /** Hide a keyboard shown earlier. */
  removeKeyboard?: boolean;
}

export interface FlowContext {
  readonly channelId: string;
  readonly clientId: string;
  /** The normalized messages of the event, in order. Middleware may change them (e.g. add to info). */
  readonly messages: InboundMessage[];
  /** What the user did: /start, a button, a shared phone, an edit… */
  readonly event: InboundEvent;
  /** What the user typed (or the pressed button's label), for matching; undefined for media alone. */
  readonly text: string | undefined;
  /** private (also any one-to-one messenger), group or channel. */
  readonly chat: 'private' | 'group' | 'channel';
  /** Whether the conversation is with the agents (hand-over) and not idle yet. */
  readonly handedOver: boolean;
  readonly facts: Readonly<ConversationFacts>;
  /** The flow's clock (injectable for tests). */
  readonly now: number;
  readonly log: Logger;
  /** Replies queued so far, in order. */
  readonly replies: readonly BotReply[];
  /** The decision so far (undefined: none yet). */
  readonly outcome: FlowOutcome | undefined;
  /** The bot answers (a text, or an image/file by https URL). May be called several times. */
  reply(content: string | { type: MessageType; data: string }, opts?: ReplyOptions): void;
  forward(): void;
  handover(opts?: { message?: string }): void;
  skip(): void;
  drop(): void;
}

export type Middleware = (ctx: FlowContext, next: () => Promise<void>) => Promise<void> | void;

/** Koa-style composition: each middleware gets `next` to run the rest; `terminal` runs at the end. */
export function compose(middleware: readonly Middleware[]): (ctx: FlowContext, terminal: () => Promise<void> | void) => Promise<void> {
  for (const m of middleware) if (typeof m !== 'function') throw new TypeError('middleware must be functions (ctx, next) => …');
  return (ctx, terminal) => {
    let last = -1;
    const run = async (i: number): Promise<void> => {
      if (i <= last) throw new Error('next() called more than once in one middleware');
      last = i;
      const fn = i < middleware.length ? middleware[i] : terminal;
      if (!fn) return;
      await fn(ctx, () => run(i + 1));
    };
    return run(0);
  };
}

export { MAX_BUTTON_DATA_BYTES };

/** Validates a reply and turns it into the messenger-neutral form the outbound queue carries. */
export function buildReply(content: string | { type: MessageType; data: string }, opts: ReplyOptions = {}): BotReply {
  const body = typeof content === 'string' ? { type: 'text' as const, data: content } : content;
  if (!['text', 'image', 'file'].includes(body.type))
    throw new TypeError(`reply: type must be text, image or file (got ${String(body.type)})`);
  if (typeof body.data !== 'string' || body.data.trim() === '') throw new TypeError('reply: the text (or URL) must not be empty');
  if (body.type !== 'text' && !/^https?:\/\//i.test(body.data)) throw new TypeError('reply: an image or file is sent by its http(s) URL');
  const kinds = [
    opts.buttons !== undefined && opts.buttons.length > 0,
    opts.requestPhone !== undefined,
    opts.removeKeyboard === true,
  ].filter(Boolean).length;
  if (kinds > 1) throw new TypeError('reply: use one of buttons, requestPhone and removeKeyboard per reply');
  if (kinds > 0 && body.type !== 'text') throw new TypeError('reply: buttons and keyboards go with a text reply');
  const reply: BotReply = { type: body.type, data: body.data };
  if (opts.buttons && opts.buttons.length > 0) {
    const rows = opts.buttons.map((row) => (Array.isArray(row) ? row : [row]));
    for (const b of rows.flat()) {
      if (typeof b?.label !== 'string' || b.label.trim() === '') throw new TypeError('reply: every button needs a label');
      if (typeof b.data !== 'string' || b.data === '' || Buffer.byteLength(b.data) > MAX_BUTTON_DATA_BYTES) {
        throw new TypeError(`reply: button "${b.label}" needs data of 1-${MAX_BUTTON_DATA_BYTES} bytes`);
      }
    }
    reply.keyboard = { buttons: rows.map((r) => r.map((b) => ({ label: b.label, data: b.data }))) };
  } else if (opts.requestPhone !== undefined) {
    if (opts.requestPhone.trim() === '') throw new TypeError('reply: requestPhone needs the button label');
    reply.keyboard = { requestPhone: opts.requestPhone };
  } else if (opts.removeKeyboard) {
    reply.keyboard = { remove: true };
  }
  return reply;
}
