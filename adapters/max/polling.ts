/**
 * Long polling of GET /updates with MAX's marker: passing a marker confirms every update before
 * it, so the bridge passes the new one only after what it covers is durably queued. If queuing
 * fails, the same updates come again; their mids make that a no-op.
 *
 * The marker lives in Redis (`<prefix>:max-marker:<channel>`), not only in memory, because MAX's
 * newer docs say a poll without a marker gets "only the last update": a restart or a new poller
 * process must go on from the stored marker, or whatever arrived meanwhile would be lost. One
 * poller per bot across processes: the toolkit's LeasedPoller.
 */
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { LeasedPoller } from '../../src/toolkit/index.js';
import type { MaxApi } from './api.js';
import { UPDATE_TYPES } from './settings.js';

/** MAX allows 1-1000 per poll. */
const BATCH = 100;
/** A stored marker outlives any pause of the bridge that MAX would still remember. */
const MARKER_TTL_S = 30 * 24 * 3600;

export interface MaxPollerOptions {
  api: MaxApi;
  redis: Redis;
  leaseKey: string;
  markerKey: string;
  log: Logger;
  pollTimeoutS: number;
  leaseMs?: number;
  /** Durably queues one update (or decides to skip it); throws when it could not. */
  handle(update: unknown): Promise<void>;
}

export class MaxPoller {
  private readonly poller: LeasedPoller;

  constructor(private readonly o: MaxPollerOptions) {
    this.poller = new LeasedPoller({
      redis: o.redis,
      leaseKey: o.leaseKey,
      log: o.log,
      name: 'MAX',
      leaseMs: o.leaseMs,
      // 0 would make every poll return at once; the lease bounds the wait from above.
      maxPollTimeoutS: Math.max(1, o.pollTimeoutS),
      poll: (signal, timeoutS) => this.pollOnce(signal, timeoutS),
    });
  }

  /** True while this process holds the lease and polls. */
  get leader(): boolean {
    return this.poller.leader;
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  private async pollOnce(signal: AbortSignal, timeoutS: number): Promise<void> {
    // Read every time: another process may have polled (and moved the marker) while this one waited.
    const stored = await this.o.redis.get(this.o.markerKey);
    const marker = stored !== null && /^\d+$/.test(stored) ? Number(stored) : undefined;
    const answer = await this.o.api.updates({ marker, timeoutS, limit: BATCH, types: UPDATE_TYPES }, signal);
    for (const update of answer.updates) await this.o.handle(update);
    const next = answer.marker;
    if (typeof next === 'number' && next !== marker) await this.o.redis.set(this.o.markerKey, String(next), 'EX', MARKER_TTL_S);
  }
}
