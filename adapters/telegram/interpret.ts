/**
 * Everything the bridge makes of one Telegram update, from one reading of it (update.ts): the
 * Custom App messages for the agents (normalize.ts), what the user did for a bot flow (events.ts),
 * and where replies to the chat must go (reply-route.ts).
 */
import type { InboundEvent } from '../../src/adapter.js';
import { telegramEvent } from './events.js';
import { normalizeRead, type NormalizeContext, type Normalized } from './normalize.js';
import { routeOfUpdate, type ReplyRoute } from './reply-route.js';
import { readUpdate } from './update.js';

export interface Interpreted extends Normalized {
  event: InboundEvent;
  /** The chat's forum topic / business connection, when the update names one. */
  route?: { chatId: string; route: ReplyRoute };
}

export function interpretUpdate(update: unknown, ctx: NormalizeContext): Interpreted {
  const read = readUpdate(update);
  const normalized = normalizeRead(read, ctx);
  const route = routeOfUpdate(read);
  return { ...normalized, event: telegramEvent(read, normalized.messages, ctx.botUsername), ...(route ? { route } : {}) };
}
