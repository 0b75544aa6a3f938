/**
 * Per-conversation ordered delivery on top of BullMQ.
 *
 * Messages live in lanes (see lane-store.ts). BullMQ carries one job per non-empty lane, whose id
 * is the lane itself, so at most one worker — in any process — holds a conversation at a time,
 * while different conversations are separate jobs that run in parallel. The worker delivers the
 * lane's head, pops it only after success, and goes on until the lane is empty. A failed head is
 * retried by delaying the lane's job (BullMQ's delayed set), so later messages of that
 * conversation wait behind it and the others keep flowing. BullMQ's locks and stalled-job checks
 * hand the lane of a dead worker to another one; nothing is popped before it was delivered.
 * A turn that keeps failing on its head for any other reason sets that head aside (poison.ts).
 */
import { EventEmitter } from 'node:events';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DeliveryError } from './errors.js';
import type { BackoffPolicy } from './backoff.js';
import { LaneStore, laneMember, type DeadLetter, type Direction, type LaneItem, type LaneRef } from './lane-store.js';
import { LaneLockLostError, LaneTurn, turnLock, type TurnHost } from './lane-turn.js';
import { redact } from '../redact.js';
import { mayBePoison, strikeHead } from './poison.js';

export interface LaneJobData extends LaneRef {
  /**
   * Retry state of the current head, reset when the head changes; `nextTry` (ms) and `lastError`
   * are for the dashboard.
   */
  retry?: { itemId: string; attempts: number; nextTry?: number; lastError?: string };
}

export interface DeliverContext<T> {
  lane: LaneRef;
  item: LaneItem<T>;
  attempt: number;
  /** Persists progress of a multi-part send (e.g. split text) so a retry resumes after it. */
  markPartsSent(n: number): Promise<void>;
}

export interface LaneQueueEvents<T> {
  /** Messages durably appended to their lane (duplicates of a seen source event are not). */
  queued: [ctx: { lane: LaneRef; items: LaneItem<T>[] }];
  delivered: [ctx: { lane: LaneRef; item: LaneItem<T>; attempts: number }];
  retrying: [ctx: { lane: LaneRef; item: LaneItem<T>; error: DeliveryError; delayMs: number; attempts: number }];
  deadLettered: [letter: DeadLetter<T>, error: DeliveryError];
  /** A turn stopped because its lock lapsed; the lane's messages wait for the lock's new holder. */
  lockLost: [ctx: { lane: LaneRef }];
}

export interface LaneQueueOptions {
  direction: Direction;
  prefix: string;
  /** Fail-fast connection for producers (HTTP routes answer 503 instead of hanging). */
  producer: Redis;
  log: Logger;
  /** How long a message is retried (measured from when it was received). */
  retryMaxAgeMs: number;
  backoff?: BackoffPolicy;
  /** Dedupe window for source event ids (Telegram keeps updates for 24 h). */
  dedupeTtlS?: number;
}

export interface LaneWorkerOptions<T> {
  /** A connection with maxRetriesPerRequest: null, as BullMQ workers need. */
  connection: Redis;
  concurrency: number;
  deliver(ctx: DeliverContext<T>): Promise<void>;
  /** Messages delivered per turn before the lane yields to other conversations. */
  batch?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** How often the keeper re-creates missing lane jobs (after crashes between two writes). */
  keeperIntervalMs?: number;
}

const JOB_NAME = 'lane';

export class LaneQueue<T> extends EventEmitter<LaneQueueEvents<T>> {
  readonly store: LaneStore;
  readonly queue: Queue<LaneJobData>;
  private readonly workerStores: LaneStore[] = [];
  private worker: Worker<LaneJobData> | undefined;
  private keeperTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  /** Set by close(): running turns hand their lane back after the message in flight. */
  private closing = false;

  /** What a turn (lane-turn.ts) needs of this queue. */
  private readonly turnHost: TurnHost<T>;

  constructor(private readonly opts: LaneQueueOptions) {
    super();
    this.store = new LaneStore(opts.producer, opts.prefix, opts.direction);
    this.queue = new Queue<LaneJobData>(opts.direction, { connection: opts.producer, prefix: opts.prefix });
    // Queue errors (Redis down) surface through the calls that fail; log them once here too.
    this.queue.on('error', (err) => this.log.debug({ err: redact(String(err)) }, 'queue connection error'));
    this.log = opts.log.child({ direction: opts.direction });
    this.turnHost = {
      direction: opts.direction,
      log: this.log,
      retryMaxAgeMs: opts.retryMaxAgeMs,
      backoff: opts.backoff,
      closing: () => this.closing,
      events: this,
    };
  }

  /** Durably appends one source event's messages to their lane. Throws when Redis is unreachable. */
  async enqueue(lane: LaneRef, payloads: T[], opts: { dedupeId?: string; correlationId?: string } = {}): Promise<'queued' | 'duplicate'> {
    const now = Date.now();
    const items = payloads.map((p) => LaneStore.newItem(p, opts.correlationId, now));
    const dedupe = opts.dedupeId ? { id: opts.dedupeId, ttlS: this.opts.dedupeTtlS ?? 86_400 } : undefined;
    const res = await this.store.enqueue(lane, items, dedupe);
    if (res === 'duplicate') {
      this.log.debug({ channel: lane.channelId, dedupeId: opts.dedupeId, cid: opts.correlationId }, 'duplicate source event ignored');
      return 'duplicate';
    }
    // Only a lane that just became non-empty needs a job: otherwise one exists or is being made.
    // The messages are durable already; the job only tells the workers, so the answer to the
    // sender does not wait for it (one Redis round trip less on every acknowledgement). Should
    // adding it fail, the keeper re-creates the job of every non-empty lane.
    if (res === 'new-lane') {
      this.ensureJob(lane).catch((err: unknown) =>
        this.log.warn(
          { channel: lane.channelId, job: laneMember(lane), err: redact(String(err)) },
          'could not add the lane job now; the keeper will',
        ),
      );
    }
    for (const item of items) {
      this.log.info(
        { channel: lane.channelId, cid: item.cid, messageId: item.id, job: laneMember(lane), event: 'queued' },
        'message queued',
      );
    }
    this.emit('queued', { lane, items });
    return 'queued';
  }

  /** Adds the lane's job unless it exists (BullMQ ignores an add with an existing job id). */
  async ensureJob(lane: LaneRef): Promise<void> {
    await this.queue.add(
      JOB_NAME,
      { channelId: lane.channelId, clientId: lane.clientId },
      {
        jobId: laneMember(lane),
        removeOnComplete: true,
        removeOnFail: true,
        // Only unexpected errors (a Redis blip mid-turn) fail a lane job; retry those steadily.
        attempts: 1_000_000,
        backoff: { type: 'fixed', delay: 2000 },
      },
    );
  }

  startWorker(w: LaneWorkerOptions<T>): Worker<LaneJobData> {
    if (this.worker) throw new Error(`${this.opts.direction} worker already started`);
    const store = new LaneStore(w.connection, this.opts.prefix, this.opts.direction);
    this.workerStores.push(store);
    const turn = (job: Job<LaneJobData>, token?: string) =>
      this.guardTurn(store, job, token, () => new LaneTurn(this.turnHost, store, w, job, token).run());
    this.worker = new Worker<LaneJobData>(this.opts.direction, turn, {
      connection: w.connection,
      prefix: this.opts.prefix,
      concurrency: w.concurrency,
      lockDuration: w.lockDurationMs ?? 30_000,
      stalledInterval: w.stalledIntervalMs ?? 30_000,
      // A lane must never be failed for stalling: its messages are still in Redis, retry it.
      maxStalledCount: 1_000_000,
      autorun: true,
    });
    this.worker.on('error', (err) => {
      // BullMQ refusing to finish a job whose lock is gone follows a 'lock-lost' line; not a fault.
      if (/Lock mismatch|Missing lock/.test(err.message))
        return this.log.debug({ err: redact(err.message) }, 'lane job finished elsewhere');
      this.log.warn({ err: redact(String(err)) }, 'worker error (will reconnect)');
    });
    this.worker.on('failed', (job, err) => {
      if (job) this.log.warn({ lane: job.id, err: redact(String(err)) }, 'lane turn failed unexpectedly; it will be retried');
    });
    // Closes the race where a message arrived while the turn was ending (see LaneTurn.run).
    this.worker.on('completed', (job) => {
      store
        .length(job.data)
        .then((n) => (n > 0 ? this.ensureJob(job.data) : undefined))
        .catch(() => undefined /* the keeper will catch it */);
    });
    const every = w.keeperIntervalMs ?? 10_000;
    this.keeperTimer = setInterval(() => void this.keepLanes(store, every), every);
    this.keeperTimer.unref();
    return this.worker;
  }

  /** Makes sure every non-empty lane has a job — repairs a crash between enqueue and add. */
  async keepLanes(store: LaneStore = this.store, everyMs = 10_000): Promise<number> {
    // One keeper per interval across all processes is enough.
    const lock = await store.redis
      .set(`${this.opts.prefix}:keeper:${this.opts.direction}`, '1', 'PX', Math.max(everyMs - 100, 100), 'NX')
      .catch(() => null);
    if (!lock) return 0;
    let n = 0;
    try {
      for await (const lanes of store.activeLanes()) {
        for (const lane of lanes) {
          await this.ensureJob(lane);
          n++;
        }
      }
    } catch (err) {
      this.log.debug({ err: redact(String(err)) }, 'lane keeper pass interrupted');
    }
    return n;
  }

  /**
   * Runs a turn under the poison guard: a turn that fails unexpectedly (not a delivery failure)
   * POISON_LIMIT times on the same head dead-letters that head, then goes on with the next.
   */
  private async guardTurn(store: LaneStore, job: Job<LaneJobData>, token: string | undefined, turn: () => Promise<void>): Promise<void> {
    const lane: LaneRef = { channelId: job.data.channelId, clientId: job.data.clientId };
    for (;;) {
      try {
        return await turn();
      } catch (err) {
        if (err instanceof DelayedError || err instanceof LaneLockLostError || !mayBePoison(err)) throw err;
        const letter = await strikeHead(store, lane, err, turnLock(job, token)).catch(() => undefined);
        if (!letter) throw err;
        const { item, code, reason } = letter;
        this.log.warn(
          { channel: lane.channelId, cid: item.cid, messageId: item.id, job: job.id, event: 'dead-lettered', code, reason },
          'message dead-lettered',
        );
        this.emit('deadLettered', letter as DeadLetter<T>, DeliveryError.permanent(reason, code));
      }
    }
  }

  /**
   * Stops taking new lanes and lets the message in flight in each running turn finish; the turn
   * then hands its lane back to the queue for another worker. After `graceMs` the worker is closed
   * without waiting: its lanes' locks lapse and the stalled-job check gives them to another worker
   * (nothing is popped before it was delivered, so nothing is lost either way).
   */
  async close(opts: { graceMs?: number } = {}): Promise<'drained' | 'timed-out'> {
    this.closing = true;
    if (this.keeperTimer) clearInterval(this.keeperTimer);
    let outcome: 'drained' | 'timed-out' = 'drained';
    if (this.worker) {
      const worker = this.worker;
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'timed-out'>((resolve) => {
        timer = setTimeout(() => resolve('timed-out'), opts.graceMs ?? 30_000);
      });
      // A worker closed while its blocking connection still connects rejects that connection's
      // start with nobody listening (an unhandled rejection): let it finish connecting first.
      await Promise.race([worker.waitUntilReady().catch(() => undefined), grace]);
      // pause() stops fetching lanes and resolves when the running turns ended; close(force) after
      // it does not wait again (a plain close() could not be forced later: BullMQ reuses it).
      outcome = await Promise.race([worker.pause().then(() => 'drained' as const), grace]);
      clearTimeout(timer);
      if (outcome === 'timed-out') {
        this.log.warn(
          { graceMs: opts.graceMs ?? 30_000 },
          'deliveries still in flight at the end of the grace period; leaving them to another worker',
        );
      }
      await worker.close(outcome === 'timed-out').catch(() => undefined);
    }
    await this.queue.close();
    return outcome;
  }
}
