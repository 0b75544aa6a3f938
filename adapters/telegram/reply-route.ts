/**
 * Where replies to a chat must go besides its chat_id. Blinger's replies carry only client_id (the
 * chat id), but two kinds of chats need more to reach the customer:
 * - a forum supergroup: the topic (message_thread_id) the conversation's last message came from;
 *   a message in General means replies go to General again;
 * - a Telegram Business chat: the business_connection_id the bot answers through.
 *
 * The adapter remembers this per channel and chat in Redis, from the customer's new messages (and
 * button presses), and reads it once per outbound message. The field names are the Bot API's, so a
 * route spreads straight into sendMessage/sendPhoto/sendDocument. Ordinary private chats, groups
 * and channels have nothing to remember and cost no Redis call on the way in.
 */
import type { Redis } from 'ioredis';
import { DeliveryError, redact } from '../../src/toolkit/index.js';
import { isObj, type ReadUpdate } from './update.js';

export interface ReplyRoute {
  /** The forum topic; absent = General (or a chat without topics). */
  message_thread_id?: number;
  /** The business connection a business chat is answered through. */
  business_connection_id?: string;
}

/**
 * How long a route is kept after the chat's last message or reply (each refreshes it). Past that,
 * replies go to General / without a business connection until the customer writes again.
 */
export const REPLY_ROUTE_TTL_MS = 30 * 24 * 3600 * 1000;

/**
 * What an update says about where replies to its chat go: the route to keep (empty = forget the
 * stored one, e.g. a forum message in General), or undefined when there is nothing to remember or
 * clear. Only new messages and button presses move a route: an edit of an older message does not
 * say where the customer is now.
 */
export function routeOfUpdate(read: ReadUpdate): { chatId: string; route: ReplyRoute } | undefined {
  // New messages and button presses move a route; edits (they may be old) and channel posts do not.
  const carries = read.message?.key === 'message' || read.message?.key === 'business_message';
  const msg = read.button ? read.button.msg : carries ? read.message?.msg : undefined;
  const chat = isObj(msg?.chat) ? msg.chat : undefined;
  if (!msg || !chat || typeof chat.id !== 'number') return undefined;

  const route: ReplyRoute = {};
  // A reply in General also carries a message_thread_id (of the replied message): only
  // is_topic_message marks a real topic.
  if (msg.is_topic_message === true && Number.isSafeInteger(msg.message_thread_id))
    route.message_thread_id = msg.message_thread_id as number;
  if (typeof msg.business_connection_id === 'string' && msg.business_connection_id !== '')
    route.business_connection_id = msg.business_connection_id;
  if (Object.keys(route).length === 0 && chat.is_forum !== true) return undefined;
  return { chatId: String(chat.id), route };
}

/** Canonical text of a route (fixed key order), so a stored value can be compared as a string. */
function serialize(route: ReplyRoute): string {
  return JSON.stringify({ message_thread_id: route.message_thread_id, business_connection_id: route.business_connection_id });
}

function parse(raw: string | null): ReplyRoute {
  if (raw === null) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return {};
  }
  const route: ReplyRoute = {};
  if (isObj(value) && Number.isSafeInteger(value.message_thread_id)) route.message_thread_id = value.message_thread_id as number;
  if (isObj(value) && typeof value.business_connection_id === 'string') route.business_connection_id = value.business_connection_id;
  return route;
}

// Replaces the route only if it is still the one the failed send read: a customer who wrote in a
// new topic meanwhile keeps that topic.
const REPLACE_IF_SAME = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

export class ReplyRoutes {
  /** `keyPrefix`: `<REDIS_PREFIX>:tg-route:<channel id>`, so a hash-tagged prefix keeps every key in its slot. */
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly ttlMs = REPLY_ROUTE_TTL_MS,
  ) {}

  key(chatId: string): string {
    return `${this.keyPrefix}:${encodeURIComponent(chatId)}`;
  }

  /** Stores the chat's route (an empty one deletes it). Errors propagate: the update is not acknowledged. */
  async remember(chatId: string, route: ReplyRoute): Promise<void> {
    if (Object.keys(route).length === 0) await this.redis.del(this.key(chatId));
    else await this.redis.set(this.key(chatId), serialize(route), 'PX', this.ttlMs);
  }

  /**
   * The chat's route, its TTL refreshed in the same call. Redis unreachable is a transient failure:
   * sending without the route could put the reply in the wrong topic or fail a business chat.
   */
  async lookup(chatId: string): Promise<ReplyRoute> {
    try {
      return parse(await this.redis.getex(this.key(chatId), 'PX', this.ttlMs));
    } catch (err) {
      throw DeliveryError.transient(
        redact(`Could not read where replies to this chat go (Redis): ${(err as Error)?.message ?? String(err)}`),
        'redis',
      );
    }
  }

  /** The topic of `route` is gone: replies go to General from now on (unless the route changed meanwhile). */
  async forgetTopic(chatId: string, route: ReplyRoute): Promise<void> {
    const { message_thread_id: _gone, ...rest } = route;
    const next = Object.keys(rest).length === 0 ? '' : serialize(rest);
    await this.redis.eval(REPLACE_IF_SAME, 1, this.key(chatId), serialize(route), next, String(this.ttlMs));
  }
}
