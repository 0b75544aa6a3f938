/**
 * Turns what telegraf's `Telegram` client throws into a DeliveryError (docs/architecture.md, "Delivery guarantees").
 *
 * telegraf throws:
 *  - `TelegramError` for an API answer with `ok: false` (and for any HTTP 5xx, with the status
 *    text as description): `.response = { error_code, description, parameters? }`;
 *  - node-fetch's `FetchError` for network failures: `type: 'system'` with `code`/`errno` such as
 *    ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND; `type: 'invalid-json'` for a non-JSON body;
 *  - `AbortError` (`name === 'AbortError'`, `type: 'aborted'`) when the AbortSignal we pass fires,
 *    which is how our per-call timeout ends.
 *
 * Every reason goes through `scrub()` (= `redact()` and more): telegraf's network error messages contain the request
 * URL, and that URL contains the bot token.
 */
import { DeliveryError, redact } from '../../src/toolkit/index.js';

/**
 * `redact()` plus one more pattern: a token right after "bot" in a Bot API path
 * (`/bot123456:AA…/sendMessage`). redact()'s token pattern starts at a word boundary, and there is
 * none between "bot" and the token's digits, so it misses exactly this case.
 */
export function scrub(text: string): string {
  return redact(text).replace(/bot\d{3,}:[A-Za-z0-9_-]+/g, 'bot[REDACTED]');
}

/**
 * A forum topic the bot can no longer post in: the Bot API's own "message thread not found", or
 * Telegram's TOPIC_DELETED / TOPIC_CLOSED passed through as the description.
 */
const TOPIC_GONE = /message thread not found|TOPIC_DELETED|TOPIC_CLOSED/i;

/** How long to wait on a 429 that does not say (Telegram always does; be safe anyway). */
const DEFAULT_RETRY_AFTER_MS = 5_000;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

interface TelegramErrorLike {
  response: {
    error_code: number;
    description?: string;
    parameters?: { retry_after?: number; migrate_to_chat_id?: number };
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Duck-typed rather than `instanceof`, so a second copy of telegraf cannot defeat it. */
export function isTelegramApiError(err: unknown): err is TelegramErrorLike {
  return isRecord(err) && isRecord(err.response) && typeof err.response.error_code === 'number';
}

/** Telegram's error description (e.g. "Bad Request: chat not found"), or '' for other errors. */
export function telegramDescription(err: unknown): string {
  return isTelegramApiError(err) ? String(err.response.description ?? '') : '';
}

export function telegramErrorCode(err: unknown): number | undefined {
  return isTelegramApiError(err) ? err.response.error_code : undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

export function classifyTelegramError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (isTelegramApiError(err)) return classifyApiError(err);

  const e = isRecord(err) ? err : {};
  const name = typeof e.name === 'string' ? e.name : '';
  const type = typeof e.type === 'string' ? e.type : '';
  const code = typeof e.code === 'string' ? e.code : '';

  if (name === 'AbortError' || name === 'TimeoutError' || type === 'aborted' || type === 'request-timeout') {
    return DeliveryError.transient('Telegram did not answer in time (request timed out)', 'timeout');
  }
  if (NETWORK_CODES.has(code) || code.startsWith('UND_ERR_') || type === 'system') {
    const what = code || 'network error';
    return DeliveryError.transient(scrub(`Could not reach the Telegram Bot API (${what}): ${messageOf(err)}`), 'network');
  }
  if (type === 'invalid-json' || type === 'max-size') {
    // Something other than the Bot API answered (a proxy's error page, a captive portal).
    return DeliveryError.transient(scrub(`Unreadable answer from the Telegram Bot API: ${messageOf(err)}`), 'bad_response');
  }
  // Unknown: docs/architecture.md, "Delivery guarantees" treats anything unclassified as transient.
  return DeliveryError.transient(scrub(`Telegram send failed: ${messageOf(err)}`), 'unknown');
}

function classifyApiError(err: TelegramErrorLike): DeliveryError {
  const status = err.response.error_code;
  const description = scrub(String(err.response.description ?? '').trim() || `HTTP ${status}`);
  const lower = description.toLowerCase();
  const params = err.response.parameters ?? {};
  const reason = `Telegram ${status}: ${description}`;

  if (status === 429) {
    const seconds = typeof params.retry_after === 'number' && params.retry_after >= 0 ? params.retry_after : undefined;
    // Telegram's 429 does not say whether the per-chat or the per-bot limit was hit; the queue
    // treats it as this conversation's, and the bridge's own pacing (docs/architecture.md, "Delivery guarantees") keeps the
    // bot-wide rate under 30/s.
    return DeliveryError.rateLimited(reason, seconds === undefined ? DEFAULT_RETRY_AFTER_MS : seconds * 1000);
  }
  if (status === 401) {
    // The bot token is invalid or was revoked. That affects every chat of the bot and is the
    // operator's to fix; dead-lettering every pending reply meanwhile would lose them from the
    // normal flow, so this is transient: messages wait (up to the retry window) for a good token.
    return DeliveryError.transient(`${reason} (the bot token is invalid or was revoked)`, 'unauthorized');
  }
  if (status === 404) {
    // The Bot API answers 404 only for an unknown method or a malformed URL — never for a chat
    // (that is 400). It means TELEGRAM_API_ROOT or the token path is wrong: an operator problem
    // for every chat, so transient, like 401.
    return DeliveryError.transient(`${reason} (check TELEGRAM_API_ROOT and the bot token)`, 'http_404');
  }
  if (status === 408 || status >= 500) {
    return DeliveryError.transient(reason, `http_${status}`);
  }
  if (status === 403) {
    if (lower.includes('blocked')) return DeliveryError.permanent(reason, 'blocked');
    if (lower.includes('deactivated')) return DeliveryError.permanent(reason, 'deactivated');
    if (lower.includes('kicked') || lower.includes('not a member')) return DeliveryError.permanent(reason, 'kicked');
    if (lower.includes("can't initiate") || lower.includes('cannot initiate')) {
      return DeliveryError.permanent(reason, 'not_started');
    }
    return DeliveryError.permanent(reason, 'forbidden');
  }
  if (status === 400 && typeof params.migrate_to_chat_id === 'number') {
    return DeliveryError.permanent(
      `${reason} (the group became a supergroup; its new chat id is ${params.migrate_to_chat_id})`,
      'chat_migrated',
    );
  }
  if (status === 400 && lower.includes('chat not found')) {
    return DeliveryError.permanent(reason, 'chat_not_found');
  }
  if (status === 400 && TOPIC_GONE.test(description)) {
    // send.ts answers this by sending to General; thrown from General, it is the end of the road.
    return DeliveryError.permanent(reason, 'topic_gone');
  }
  if (status >= 400 && status < 500) {
    return DeliveryError.permanent(reason, `http_${status}`);
  }
  // Not an HTTP error status at all (a malformed answer): retrying is the safe choice.
  return DeliveryError.transient(reason, 'bad_response');
}

/**
 * The text an agent should see when their reply could not be delivered because of the end-user's
 * side (blocked bot, deleted account, gone chat). Undefined for every other failure — those are
 * the operator's business (logs, dead-letter list), not something the agent can act on.
 */
export function describeForAgent(err: DeliveryError): string | undefined {
  if (err.kind !== 'permanent') return undefined;
  switch (err.code) {
    case 'blocked':
      return 'Not delivered: the user blocked the bot';
    case 'deactivated':
      return "Not delivered: the user's Telegram account was deleted";
    case 'kicked':
      return 'Not delivered: the bot was removed from the chat';
    case 'chat_not_found':
      return 'Not delivered: the chat no longer exists';
    case 'chat_migrated':
      return 'Not delivered: the group was upgraded to a supergroup and has a new chat id';
    case 'not_started':
      return 'Not delivered: the user has not started a conversation with the bot';
    case 'topic_gone':
      return "Not delivered: the forum's General topic is closed to the bot";
    default:
      return undefined;
  }
}
