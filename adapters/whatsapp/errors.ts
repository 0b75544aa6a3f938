/**
 * A failed Cloud API call → DeliveryError (DESIGN.md §4). WhatsApp's own codes first, by `code`
 * and never by HTTP status (Meta: "build on code + details"; 131056 comes as 400 or 429); the
 * generic Graph codes (tokens, throttles, 5xx) through the toolkit. Codes: docs/vendors/meta.md §3.4.
 */
import { classifyGraphError, DeliveryError, toGraphError } from '../../src/toolkit/index.js';
import { describeFailure } from './normalize.js';

/** The pair rate: about one message per 6 s to one user (131056). */
export const PAIR_RATE_WAIT_MS = 6_000;
/** Throughput (130429): the per-second budget frees within a second. */
export const THROUGHPUT_WAIT_MS = 1_000;
/** A throughput upgrade in progress (131057) takes "up to a minute"; the spam limit (131048) longer. */
const LONG_WAIT_MS = 60_000;

const PERMANENT: Record<number, string> = {
  131047: 'window_closed',
  131026: 'undeliverable',
  131050: 'marketing_stopped',
  131049: 'marketing_limit',
  130403: 'not_allowed',
  131021: 'not_allowed',
  131051: 'unsupported_type',
  131052: 'media_refused',
  131053: 'media_refused',
  131062: 'bsuid_unsupported',
  131008: 'invalid_request',
  131009: 'invalid_request',
  100: 'invalid_request',
};

/** Operator problems: every conversation is affected, so replies wait (transient) until fixed. */
const OPERATOR: Record<number, string> = {
  133010: 'not_registered',
  131031: 'restricted',
  131042: 'payment',
  131045: 'certificate',
};

export function classifyWhatsAppError(err: unknown, what = 'WhatsApp'): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = toGraphError(err, what);
  const code = e.code;
  const reason = `${what}: ${e.description}`;
  if (code === 130429) return DeliveryError.rateLimited(reason, THROUGHPUT_WAIT_MS, 'account');
  if (code === 131056) return DeliveryError.rateLimited(reason, PAIR_RATE_WAIT_MS, 'conversation');
  if (code === 131057 || code === 131048) return DeliveryError.rateLimited(reason, LONG_WAIT_MS, 'account');
  if (code === 131000 || code === 131016) return DeliveryError.transient(reason, `wa_${code}`);
  if (code !== undefined && OPERATOR[code]) return DeliveryError.transient(reason, OPERATOR[code]);
  if (code !== undefined && code >= 132000 && code < 133000) return DeliveryError.permanent(reason, `template_${code}`);
  if (code === 100 && /param file/i.test(e.description)) return DeliveryError.permanent(reason, 'media_refused');
  if (code !== undefined && PERMANENT[code]) return DeliveryError.permanent(reason, PERMANENT[code]);
  return classifyGraphError(e, what);
}

/** Codes whose failure the agent should read about in the conversation. */
const TOLD: Record<string, number> = {
  window_closed: 131047,
  undeliverable: 131026,
  marketing_stopped: 131050,
  not_allowed: 130403,
  media_refused: 131053,
};

/**
 * The sentence for the agent when a reply was dead-lettered for a reason on the user's side (or
 * the file's); undefined for the operator's problems, which the logs and `check` show.
 */
export function describeForAgent(error: DeliveryError, template?: { name: string }): string | undefined {
  if (error.kind !== 'permanent') return undefined;
  const code = Object.hasOwn(TOLD, error.code) ? TOLD[error.code] : undefined;
  if (code === undefined) return undefined;
  const detail = code === 131053 ? mediaDetail(error.message) : undefined;
  return describeFailure(code, detail, template);
}

/** The useful end of a media refusal ("Received file of type 'image/gif'."), short. */
function mediaDetail(message: string): string | undefined {
  const m = /Received file of type '[^']*'|must be at most \d+ bytes[^.]*|too large|not supported[^.]*/i.exec(message);
  return m?.[0];
}
