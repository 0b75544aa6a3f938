/**
 * How a delivery attempt failed decides what the queue does next (docs/architecture.md, "Delivery guarantees"):
 * - transient: backoff with jitter and retry, until the message is too old;
 * - rate_limited: wait `retryAfterMs` without spending an attempt;
 * - permanent: no retry, straight to the dead-letter list with the reason.
 * Adapters and the Blinger client throw DeliveryError; anything else thrown is treated as transient.
 * `reason` must already be free of secrets: it is logged and stored in the dead-letter list.
 */
export type FailureKind = 'transient' | 'rate_limited' | 'permanent';

export interface DeliveryErrorOptions {
  /** For rate_limited: how long to wait before the next attempt. */
  retryAfterMs?: number;
  /** rate_limited only: the limit is the whole account's (bot), not this conversation's. */
  scope?: 'conversation' | 'account';
  /** A short machine-readable code for metrics labels, e.g. `http_503`, `timeout`, `blocked`. */
  code?: string;
}

export class DeliveryError extends Error {
  readonly kind: FailureKind;
  readonly retryAfterMs: number | undefined;
  readonly scope: 'conversation' | 'account';
  readonly code: string;

  constructor(kind: FailureKind, reason: string, opts: DeliveryErrorOptions = {}) {
    super(reason);
    this.name = 'DeliveryError';
    this.kind = kind;
    this.retryAfterMs = opts.retryAfterMs;
    this.scope = opts.scope ?? 'conversation';
    this.code = opts.code ?? kind;
  }

  static transient(reason: string, code?: string): DeliveryError {
    return new DeliveryError('transient', reason, { code });
  }

  static permanent(reason: string, code?: string): DeliveryError {
    return new DeliveryError('permanent', reason, { code });
  }

  /**
   * Not a failure: the message cannot go yet (no slot within the messenger's limits, something
   * it must follow is not there yet). The lane waits `retryAfterMs` quietly, without an attempt.
   */
  static notYet(reason: string, retryAfterMs: number): DeliveryError {
    return new DeliveryError('rate_limited', reason, { retryAfterMs, code: 'paced' });
  }

  static rateLimited(reason: string, retryAfterMs: number, scope: 'conversation' | 'account' = 'conversation'): DeliveryError {
    return new DeliveryError('rate_limited', reason, { retryAfterMs, scope, code: 'rate_limited' });
  }
}

/** Classifies an HTTP status the way docs/architecture.md, "Delivery guarantees" asks: 408, 429 and 5xx are worth retrying. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
