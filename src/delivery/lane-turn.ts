/**
 * One turn of a lane (lane-queue.ts): the worker that holds a lane's BullMQ job delivers its
 * messages from the head, one at a time, popping each only after it was delivered, until the lane
 * is empty, the turn has delivered its batch, or the head must wait (a retry, a rate limit, a
 * slot): then the job goes back to BullMQ's delayed set and the turn ends.
 *
 * The phases of each step: read the next message (checking the turn still holds the lane's lock),
 * attempt its delivery, then pop it — or decide what its failure means (wait, retry later,
 * dead-letter).
 */
import type { EventEmitter } from 'node:events';
import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { DeliveryError } from './errors.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { DeadLetter, Direction, LaneItem, LaneRef, LaneStore, TurnLock } from './lane-store.js';
import { redact } from '../redact.js';
import type { LaneJobData, LaneQueueEvents, LaneWorkerOptions } from './lane-queue.js';

/** What a turn needs of its queue. */
export interface TurnHost<T> {
  direction: Direction;
  log: Logger;
  retryMaxAgeMs: number;
  backoff: BackoffPolicy | undefined;
  /** True once the queue is closing: the turn hands its lane back after the message in flight. */
  closing(): boolean;
  events: Pick<EventEmitter<LaneQueueEvents<T>>, 'emit'>;
}

type Retry = NonNullable<LaneJobData['retry']>;
/** The result of popping a delivered head: the next message, or that the lane is empty, or that the lock is gone. */
type Peeked<T> = { next?: LaneItem<T>; drained: boolean; lost?: boolean };

export class LaneTurn<T> {
  private readonly lane: LaneRef;
  private readonly lock: TurnLock | undefined;
  private delivered = 0;

  constructor(
    private readonly host: TurnHost<T>,
    private readonly store: LaneStore,
    private readonly w: LaneWorkerOptions<T>,
    private readonly job: Job<LaneJobData>,
    private readonly token: string | undefined,
  ) {
    this.lane = { channelId: job.data.channelId, clientId: job.data.clientId };
    this.lock = turnLock(job, token);
  }

  async run(): Promise<void> {
    // What the last pop said comes next (saves reading the head again), when it said anything.
    let peeked: Peeked<T> | undefined;
    for (;;) {
      if (peeked?.lost) return this.lockLost();
      // The last pop found the lane empty and took it out of the recovery index: the turn is over.
      if (peeked?.drained) return;
      // Shutting down: the message in flight finished; hand the lane to another worker.
      if (this.host.closing()) await this.delay(0);
      const item = peeked ? peeked.next : await this.readHead();
      peeked = undefined;
      if (!item) {
        // Leaves the job only when the lane is really empty; a message that lands after this
        // is picked up by the queue's 'completed' handler or the keeper.
        if (await this.store.markDrained(this.lane)) return;
        continue;
      }
      // Let other conversations have a turn; the lane goes to the back of the queue.
      if (this.delivered >= (this.w.batch ?? 100)) await this.delay(0);
      peeked = await this.step(item);
    }
  }

  /**
   * BullMQ renews the turn's lock but does not stop a turn whose lock lapsed (Redis away for
   * longer than lockDuration); the stalled-job check may then give the lane to another worker.
   * So every read of the next message also checks the lock is still this turn's.
   */
  private async readHead(): Promise<LaneItem<T> | undefined> {
    if (!this.lock) return this.store.head<T>(this.lane);
    const head = await this.store.headIfLocked<T>(this.lane, this.lock);
    if (head.lost) return this.lockLost();
    return head.item;
  }

  /** Delivers one message: pops it, or handles its failure. Returns what the pop saw next. */
  private async step(item: LaneItem<T>): Promise<Peeked<T> | undefined> {
    const retry: Retry = this.job.data.retry?.itemId === item.id ? this.job.data.retry : { itemId: item.id, attempts: 0 };
    const attempt = retry.attempts + 1;
    try {
      await this.w.deliver({
        lane: this.lane,
        item,
        attempt,
        markPartsSent: async (n) => {
          item.sent = n;
          await this.store.updateHead(this.lane, item);
        },
      });
    } catch (thrown) {
      await this.failed(item, retry, attempt, toDeliveryError(thrown));
      return undefined;
    }
    return this.pop(item, attempt);
  }

  private async pop(item: LaneItem<T>, attempt: number): Promise<Peeked<T>> {
    const popped = await this.store.popHeadAndPeek<T>(this.lane, item.id, this.lock);
    // Delivered, yet still the head (the script cannot match its id): a fault for the poison guard,
    // not a loop. (A head that moved on was popped by a turn that lost the lane: go on from there.)
    if (!popped.popped && popped.next?.id === item.id) throw new Error(`message ${item.id} was delivered but could not be popped`);
    if (popped.popped) {
      this.delivered++;
      this.host.log.info({ ...this.record(item), event: 'delivered', attempt, latencyMs: Date.now() - item.at }, 'message delivered');
      this.host.events.emit('delivered', { lane: this.lane, item, attempts: attempt });
    }
    if (this.job.data.retry) await this.clearRetry();
    return popped;
  }

  /**
   * What a failed attempt means: wait for a slot or a rate limit (no attempt spent), retry with
   * backoff while the message is young enough, or dead-letter it. The waits end the turn.
   */
  private async failed(item: LaneItem<T>, retry: Retry, attempt: number, error: DeliveryError): Promise<void> {
    const { lane } = this;
    if (error.code === 'paced') {
      // Waiting for a slot within the messenger's limits (pacer.ts): not a failure, and the lane
      // keeps its place in the line for the slot.
      this.host.log.debug({ ...this.record(item), delayMs: error.retryAfterMs }, 'waiting for a slot');
      await this.delay(error.retryAfterMs ?? 0);
    }
    if (error.kind === 'rate_limited') {
      const delayMs = error.retryAfterMs ?? 1000;
      this.host.log.warn(this.retryRecord(item, attempt, delayMs, error), 'rate limited, waiting');
      this.host.events.emit('retrying', { lane, item, error, delayMs, attempts: retry.attempts });
      await this.delay(delayMs, { ...retry, nextTry: Date.now() + delayMs, lastError: redact(error.message) });
    }
    const age = Date.now() - item.at;
    if (error.kind === 'transient' && age < this.host.retryMaxAgeMs) {
      const delayMs = Math.min(backoffDelay(attempt, this.host.backoff ?? DEFAULT_BACKOFF), Math.max(this.host.retryMaxAgeMs - age, 0) + 1);
      this.host.events.emit('retrying', { lane, item, error, delayMs, attempts: attempt });
      // One warning per backoff step: the delay grows, so a long outage logs a few lines an hour.
      this.host.log.warn(this.retryRecord(item, attempt, delayMs, error), 'delivery failed, retrying');
      await this.delay(delayMs, { itemId: item.id, attempts: attempt, nextTry: Date.now() + delayMs, lastError: redact(error.message) });
    }
    const reason =
      error.kind === 'transient' ? `gave up after ${attempt} attempts over ${formatAge(age)}: ${error.message}` : error.message;
    await this.deadLetter(item, attempt, reason, error);
  }

  private async deadLetter(item: LaneItem<T>, attempt: number, reason: string, error: DeliveryError): Promise<void> {
    const letter: DeadLetter<T> = {
      id: item.id,
      direction: this.host.direction,
      lane: this.lane,
      item,
      reason,
      code: error.code,
      failedAt: Date.now(),
      attempts: attempt,
    };
    if (await this.store.deadLetter(letter)) {
      this.host.log.warn({ ...this.record(item), event: 'dead-lettered', attempt, code: error.code, reason }, 'message dead-lettered');
      this.host.events.emit('deadLettered', letter, error);
    }
    await this.clearRetry();
  }

  private async clearRetry(): Promise<void> {
    await this.job.updateData({ ...this.lane });
    this.job.data.retry = undefined;
  }

  /** Ends the turn: the lane's job comes back after `ms` (with `retry` noted for the dashboard). */
  private async delay(ms: number, retry?: Retry): Promise<never> {
    if (retry) await this.job.updateData({ ...this.lane, retry });
    await this.job.moveToDelayed(Date.now() + Math.max(0, Math.round(ms)), this.token);
    throw new DelayedError();
  }

  private lockLost(): Promise<never> {
    this.host.events.emit('lockLost', { lane: this.lane });
    this.host.log.warn(
      { channel: this.lane.channelId, job: this.job.id, event: 'lock-lost' },
      "lost the lane's lock (Redis was away longer than the lock lasts); leaving the conversation to the worker that holds it now",
    );
    return Promise.reject(new LaneLockLostError(String(this.job.id)));
  }

  /** The fields every log line about a message carries. */
  private record(item: LaneItem<T>) {
    return { channel: this.lane.channelId, cid: item.cid, messageId: item.id, job: this.job.id };
  }

  /** A `retrying` log record: which message, which attempt failed, why, and when the next one is. */
  private retryRecord(item: LaneItem<T>, attempt: number, delayMs: number, error: DeliveryError) {
    return {
      ...this.record(item),
      event: 'retrying',
      attempt,
      delayMs,
      nextTry: new Date(Date.now() + delayMs).toISOString(),
      code: error.code,
      reason: error.message,
    };
  }
}

/** The BullMQ lock of a lane job's turn, which every read of the lane checks. */
export function turnLock(job: Job<LaneJobData>, token: string | undefined): TurnLock | undefined {
  return token ? { key: `${job.queueQualifiedName}:${job.id}:lock`, token } : undefined;
}

/** Ends a turn whose lock lapsed; BullMQ then cannot finish the job, which is no longer ours. */
export class LaneLockLostError extends Error {
  constructor(jobId: string) {
    super(`lock of lane job ${jobId} lost`);
    this.name = 'LaneLockLostError';
  }
}

function toDeliveryError(thrown: unknown): DeliveryError {
  if (thrown instanceof DeliveryError) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return DeliveryError.transient(redact(`unexpected error: ${message}`), 'unexpected');
}

function formatAge(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
