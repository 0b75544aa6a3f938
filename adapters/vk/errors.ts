/**
 * What a failed VK call means for the queue (DESIGN.md §4), by VK's error code (VK answers every
 * error with HTTP 200, so the status says nothing). Codes and texts: VK's API schema
 * (errors.json, 5.199) and messages.send's error list; docs/vendors/vk.md §5.
 *
 * - 6 "too many requests per second": the community's budget is used up: wait (the whole account).
 * - 9 "flood control", 29 "rate limit reached": wait, longer.
 * - 1, 10 and HTTP 5xx, network errors, timeouts, answers that are not VK's: retry with backoff.
 * - 5, 7, 15, 27, 28 (the token is invalid or lacks a right): an operator problem for every chat;
 *   retried (nothing is lost while the token is fixed) and shown by `blinger-bridge check`.
 * - 900-series and 18, 113: the user or chat cannot be written to: dead letter, and the agent is
 *   told (explainFailure) where it is the user's side.
 * - other codes: the request itself is wrong for VK: dead letter with VK's description.
 */
import { DeliveryError, DownloadFailed, DownloadRefused, isRetryableStatus, redact } from '../../src/toolkit/index.js';
import { VkApiError, VkTransportError } from './api.js';

/** How long to wait after error 6; VK says nothing, its window is one second. */
export const TOO_MANY_REQUESTS_WAIT_MS = 1_000;
/** After error 9 (flood control: too many identical messages); VK says nothing. */
export const FLOOD_CONTROL_WAIT_MS = 60_000;
/** After error 29 (a method's daily quota). */
export const QUOTA_WAIT_MS = 15 * 60_000;

/** The user's side: the agent is told why their reply did not arrive. */
const UNREACHABLE: Record<number, { code: string; agent: string }> = {
  18: { code: 'user_deleted', agent: "Not delivered: the user's VK page was deleted or banned" },
  900: { code: 'blacklisted', agent: "Not delivered: the user is in the community's blacklist" },
  901: { code: 'no_permission', agent: 'Not delivered: the user has not allowed messages from the community (or turned them off)' },
  902: { code: 'privacy', agent: "Not delivered: the user's privacy settings do not allow messages from the community" },
  917: { code: 'chat_access', agent: 'Not delivered: the community no longer has access to this chat' },
  932: { code: 'peer_refused', agent: "Not delivered: the community can't write to this conversation" },
  945: { code: 'chat_disabled', agent: 'Not delivered: this chat was disabled' },
  946: { code: 'chat_unsupported', agent: 'Not delivered: this chat is not supported' },
  1012: { code: 'chat_closed', agent: 'Not delivered: writing to this chat is turned off' },
};

/** An operator problem: the token or its rights. */
const TOKEN_TROUBLE = new Set([5, 7, 15, 27, 28]);

export function classifyVkError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (err instanceof VkApiError) return classifyApiError(err);
  if (err instanceof VkTransportError) {
    if (err.kind === 'http' && err.status !== undefined && !isRetryableStatus(err.status) && err.status !== 404) {
      return DeliveryError.permanent(err.message, `http_${err.status}`);
    }
    return DeliveryError.transient(err.message, err.kind === 'http' ? `http_${err.status}` : err.kind);
  }
  return DeliveryError.transient(redact(`VK call failed: ${err instanceof Error ? err.message : String(err)}`), 'unknown');
}

function classifyApiError(err: VkApiError): DeliveryError {
  const reason = err.message;
  const code = err.code;
  if (code === 6) return DeliveryError.rateLimited(reason, TOO_MANY_REQUESTS_WAIT_MS, 'account');
  if (code === 9) return DeliveryError.rateLimited(reason, FLOOD_CONTROL_WAIT_MS, 'conversation');
  if (code === 29) return DeliveryError.rateLimited(reason, QUOTA_WAIT_MS, 'account');
  if (code === 1 || code === 10) return DeliveryError.transient(reason, `vk_${code}`);
  if (TOKEN_TROUBLE.has(code)) {
    return DeliveryError.transient(`${reason} (check the community token and its rights: VK_TOKEN)`, 'token');
  }
  const unreachable = UNREACHABLE[code];
  if (unreachable) return DeliveryError.permanent(reason, unreachable.code);
  // 3 unknown method, 8 bad request, 100 bad parameter, 113 bad user id, 911 keyboard, 914 too long…
  return DeliveryError.permanent(reason, `vk_${code}`);
}

/** The sentence the agent reads in Blinger when the user's side refused the reply. */
export function describeForAgent(err: DeliveryError): string | undefined {
  if (err.kind !== 'permanent') return undefined;
  if (err.code === 'upload_refused') return 'Not delivered: VK refused the file (its type or size); send it another way';
  return Object.values(UNREACHABLE).find((u) => u.code === err.code)?.agent;
}

/** The agent's file could not be fetched: a refusal by policy is final, a failed fetch is retried. */
export function downloadError(err: unknown): DeliveryError {
  if (err instanceof DownloadRefused) {
    return DeliveryError.permanent(`the bridge will not download the file: ${err.message}`, `download_${err.code}`);
  }
  if (err instanceof DownloadFailed) {
    const reason = `the bridge could not download the file: ${err.message}`;
    if (err.status !== undefined && !isRetryableStatus(err.status)) return DeliveryError.permanent(reason, 'download_http');
    return DeliveryError.transient(reason, 'download_failed');
  }
  return DeliveryError.transient(
    redact(`the bridge could not download the file: ${err instanceof Error ? err.message : String(err)}`),
    'download_failed',
  );
}
