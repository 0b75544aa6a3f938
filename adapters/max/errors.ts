/**
 * How a MAX call failed, as the queue needs to know it (docs/architecture.md, "Delivery guarantees"), and what an agent is told.
 *
 * | MAX answers                                   | DeliveryError                                        |
 * |-----------------------------------------------|------------------------------------------------------|
 * | 403 `chat.denied` (blocked, dialog stopped)   | permanent `blocked` — the agent is told              |
 * | 403 other                                     | permanent `forbidden` (e.g. not a member of a group) |
 * | 404 `chat.not.found` / `dialog.not.found`     | permanent `chat_not_found` — the agent is told        |
 * | 429 (no Retry-After from MAX)                 | rate limited, wait Retry-After or 1 s                |
 * | 400 `attachment.not.ready`                    | transient: the lane's backoff (first retry ≈ 1 s)    |
 * | 401 `verify.token`                            | transient: an operator problem, visible in `check`   |
 * | 404 other (wrong API root), 405, 408, 5xx, no answer | transient                                     |
 * | other 4xx (`proto.payload`…)                  | permanent with MAX's message                         |
 */
import { DeliveryError, redact } from '../../src/toolkit/index.js';
import { MaxApiError, MaxNetworkError } from './api.js';

/** MAX's 429 carries no Retry-After; its limits are per second. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 1000;

export function classifyMaxError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (err instanceof MaxNetworkError) return DeliveryError.transient(`MAX unreachable: ${err.message}`, err.code);
  if (!(err instanceof MaxApiError)) {
    return DeliveryError.transient(redact(`MAX call failed: ${(err as Error)?.message ?? String(err)}`), 'unexpected');
  }
  const { status, code } = err;
  const reason = err.message;
  if (status === 429) return DeliveryError.rateLimited(reason, err.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS);
  if (status === 403) return DeliveryError.permanent(reason, code === 'chat.denied' ? 'blocked' : 'forbidden');
  if (status === 404 && (code === 'chat.not.found' || code === 'dialog.not.found'))
    return DeliveryError.permanent(reason, 'chat_not_found');
  if (code === 'attachment.not.ready') return DeliveryError.transient(reason, 'attachment_not_ready');
  if (status === 401) return DeliveryError.transient(reason, 'unauthorized');
  if (status === 200) return DeliveryError.transient(reason, 'bad_response');
  if (status === 404 || status === 405 || status === 408 || status >= 500) return DeliveryError.transient(reason, `http_${status}`);
  return DeliveryError.permanent(reason, status === 400 ? 'bad_request' : `http_${status}`);
}

/**
 * The text an agent sees when a reply could not be delivered because of the user's side; undefined
 * for every other failure (the operator's business: logs, dead letters).
 */
export function describeForAgent(err: DeliveryError): string | undefined {
  if (err.kind !== 'permanent') return undefined;
  switch (err.code) {
    case 'blocked':
      return 'Not delivered: the user blocked the bot or stopped the dialog in MAX';
    case 'chat_not_found':
      return 'Not delivered: the MAX chat no longer exists';
    case 'forbidden':
      return 'Not delivered: MAX does not let the bot write to this chat (is it still a member?)';
    default:
      return undefined;
  }
}
