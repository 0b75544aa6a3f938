/**
 * Long polling with Telegram's own acknowledgement: getUpdates(offset) confirms every update
 * below `offset`, so the offset moves past an update only after it is durably queued. If queuing
 * fails (Redis away), the same updates are fetched again; the update_id dedupe makes that safe.
 * One poller per bot across all processes (Telegram answers 409 to concurrent getUpdates): the
 * toolkit's LeasedPoller.
 */
import type { Telegram } from 'telegraf';
import type { Update } from 'telegraf/types';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { LeasedPoller, wellFormedDeep } from '../../src/toolkit/index.js';
import { callWithTimeout } from './api.js';
import { ALLOWED_UPDATES } from './settings.js';

export interface PollerOptions {
  telegram: Telegram;
  redis: Redis;
  leaseKey: string;
  log: Logger;
  pollTimeoutS: number;
  /** Durably queues one update; throws when it could not. */
  handle(update: Update): Promise<void>;
  leaseMs?: number;
}

export class TelegramPoller {
  private offset = 0;
  private readonly poller: LeasedPoller;

  constructor(o: PollerOptions) {
    this.poller = new LeasedPoller({
      redis: o.redis,
      leaseKey: o.leaseKey,
      log: o.log,
      name: 'Telegram',
      leaseMs: o.leaseMs,
      maxPollTimeoutS: o.pollTimeoutS,
      poll: async (signal, timeoutS) => {
        const updates = (await callWithTimeout(
          o.telegram,
          'getUpdates',
          { offset: this.offset, timeout: timeoutS, limit: 100, allowed_updates: [...ALLOWED_UPDATES] } as never,
          (timeoutS + 15) * 1000,
          signal,
        )) as unknown as Update[];
        for (const update of updates) {
          // A webhook's body is made well-formed by the server; telegraf parsed these itself.
          await o.handle(wellFormedDeep(update));
          this.offset = update.update_id + 1; // confirmed to Telegram by the next getUpdates
        }
      },
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
}
