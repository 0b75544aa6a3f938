/**
 * Long polling with Telegram's own acknowledgement: getUpdates(offset) confirms every update
 * below `offset`, so the offset moves past an update only after it is durably queued. If queuing
 * fails (Redis away), the same updates are fetched again; the update_id dedupe makes that safe.
 *
 * One poller per bot across all processes: a Redis lease (renewed before every getUpdates; lost on
 * death after its TTL) decides which process polls, because Telegram answers 409 to concurrent
 * getUpdates. The others try to take it every quarter lease (at most 5 s), so a dead holder is
 * replaced within lease + min(lease/4, 5 s) of its last renewal: 25 s with the default 20 s lease.
 */
import type { Telegram } from 'telegraf';
import type { Update } from 'telegraf/types';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { callWithTimeout } from './api.js';
import { ALLOWED_UPDATES } from './settings.js';
import { redact } from '../../src/redact.js';
import { wellFormedDeep } from '../../src/text.js';

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

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class TelegramPoller {
  private running = false;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  private offset = 0;
  /** True while this process holds the lease and polls. */
  leader = false;
  /** Whether this process said yet which role it has (it says it again on every change). */
  private announced = false;

  constructor(private readonly o: PollerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
    if (this.leader) await this.o.redis.eval(RELEASE, 1, this.o.leaseKey, this.owner).catch(() => undefined);
    this.leader = false;
  }

  private get leaseMs(): number {
    return this.o.leaseMs ?? 20_000;
  }

  /** Takes or renews the lease; false when another process polls this bot. */
  private async holdLease(): Promise<boolean> {
    const r = this.o.redis;
    const ok = this.leader
      ? (await r.eval(RENEW, 1, this.o.leaseKey, this.owner, String(this.leaseMs))) === 1
      : (await r.set(this.o.leaseKey, this.owner, 'PX', this.leaseMs, 'NX')) === 'OK';
    if (ok !== this.leader || !this.announced)
      this.o.log.info({ leader: ok }, ok ? 'polling Telegram (this process holds the poller lease)' : 'another process polls this bot');
    this.leader = ok;
    this.announced = true;
    return ok;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        if (!(await this.holdLease())) {
          await this.pause(Math.min(this.leaseMs / 4, 5000));
          continue;
        }
        // The lease must outlive one long poll plus the time to queue its updates.
        const timeoutS = Math.max(1, Math.min(this.o.pollTimeoutS, Math.floor(this.leaseMs / 2000)));
        const updates = (await callWithTimeout(
          this.o.telegram,
          'getUpdates',
          { offset: this.offset, timeout: timeoutS, limit: 100, allowed_updates: [...ALLOWED_UPDATES] } as never,
          (timeoutS + 15) * 1000,
          this.abort.signal,
        )) as unknown as Update[];
        for (const update of updates) {
          // A webhook's body is made well-formed by the server; telegraf parsed these itself.
          await this.o.handle(wellFormedDeep(update));
          this.offset = update.update_id + 1; // confirmed to Telegram by the next getUpdates
        }
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        failures++;
        const delay = Math.min(500 * 2 ** Math.min(failures, 6), 30_000);
        this.o.log.warn({ err: redact(String((err as Error)?.message ?? err)), retryInMs: delay }, 'polling failed; retrying');
        await this.pause(delay);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}
