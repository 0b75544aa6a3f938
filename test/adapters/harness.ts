/**
 * What an adapter gives the shared conformance suite (conformance.ts): a driver of its messenger's
 * test double. The suite starts a bridge with one channel of the adapter's type against the
 * double and a Blinger double, and checks the promises every adapter makes (README "Messengers").
 * A new adapter adds `test/adapters/<type>.test.ts`:
 *
 *   describeConformance(myHarness);
 *
 * Modelled on BullMQ's adapter tests: one suite, one call per implementation.
 */

/** One message as the messenger's double recorded it (what the end-user would see). */
export interface PlatformMessage {
  kind: 'text' | 'image' | 'file';
  /** The text, or the caption of a file. */
  text?: string;
  /** The file's bytes as the messenger got them, when it got a file. */
  bytes?: Buffer;
}

export type FailureKind = 'transient' | 'rate_limited' | 'permanent';

export interface PlatformDriver {
  /** The channel's `adapter` section, pointing at the double (its apiRoot, token, secrets…). */
  settings: Record<string, unknown>;
  /** Secrets of the channel that must never reach Blinger (bot tokens, app secrets…). */
  secrets: string[];
  /** Called once the bridge listens (webhook drivers point the double at `url`). */
  connect(bridge: { url: string; channelId: string }): Promise<void>;
  /** The `client_id` the adapter gives the conversation of `user` (a name the harness chose). */
  clientId(user: string): string;
  /**
   * Makes `user`'s conversation exist before an agent writes into it, where the messenger needs
   * that (a web chat visitor opens the chat); optional.
   */
  prepare?(user: string): Promise<void>;
  /**
   * `user` writes `text`. Resolves once the messenger has handed it to the bridge: a webhook was
   * answered (`acknowledged` says whether with a 2xx), or an update is waiting to be polled
   * (`acknowledged` undefined: the bridge confirms by moving its cursor).
   */
  userSends(user: string, text: string): Promise<{ eventId: string; acknowledged?: boolean }>;
  /** The messenger hands event `eventId` to the bridge again (webhook redelivery, or the poll). */
  redeliver(eventId: string): Promise<void>;
  /**
   * The messenger delivers again whatever the bridge did not acknowledge (webhook drivers); a
   * polling driver does nothing (the bridge polls again by itself).
   */
  redeliverUnacknowledged(): Promise<void>;
  /**
   * `user` sends a file that the messenger serves only with credentials or for a short time.
   * Resolves with the bytes the messenger holds.
   */
  userSendsFile(user: string): Promise<{ eventId: string; bytes: Buffer }>;
  /** What the messenger received for `user`'s conversation, in order. */
  received(user: string): PlatformMessage[];
  /** The next `count` sends to `user` fail as the messenger fails for that kind of problem. */
  failNext(user: string, kind: FailureKind, count?: number): void;
  /** From now on, each send fails transiently with this probability (seeded, reproducible). */
  setFailureRate(rate: number): void;
  close(): Promise<void>;
}

export interface ConformanceHarness {
  /** The adapter type under test (its registry `type`). */
  type: string;
  /** Starts the messenger's double and returns its driver; `seed` makes failure rates reproducible. */
  start(opts: { seed: number }): Promise<PlatformDriver>;
  /**
   * Promises that do not apply to this adapter, each with the reason (the suite lists them in a
   * test of their own, so a gap is visible rather than silently skipped). Keys:
   * 'media-links' (files reach Blinger through /media links), 'send-failures' (the messenger can
   * refuse a send), 'redelivery' (the messenger redelivers events with their ids).
   */
  notApplicable?: Partial<Record<'media-links' | 'send-failures' | 'redelivery', string>>;
}
