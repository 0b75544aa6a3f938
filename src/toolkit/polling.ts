/**
 * Long polling shared by the adapters whose messenger offers it (Telegram getUpdates, MAX
 * /updates, VK's Bots Long Poll): one poller per account across all processes, and the
 * messenger's cursor (offset, marker, ts) moved only after what it covers is durably queued.
 *
 * A Redis lease (renewed before every poll; lapsing after its TTL when the holder dies) decides
 * which process polls, because messengers refuse or split concurrent long polls. The others try to
 * take it every quarter lease (at most 5 s), so a dead holder is replaced within
 * lease + min(lease/4, 5 s) of its last renewal: 25 s with the default 20 s lease.
 */
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { redact } from '../redact.js';

export interface LeasedPollerOptions {
  redis: Redis;
  /** One key per account, e.g. `<prefix>:poller:<channel>`. */
  leaseKey: string;
  log: Logger;
  /** The messenger's name, for log lines ("polling Telegram"). */
  name: string;
  leaseMs?: number;
  /**
   * One long poll: fetch what is waiting (waiting at most `timeoutS` seconds), queue it durably,
   * then advance the cursor. Throws when anything failed; it is called again after a backoff.
   * `signal` aborts when the poller stops.
   */
  poll(signal: AbortSignal, timeoutS: number): Promise<void>;
  /** The longest wait the messenger allows per poll, in seconds. */
  maxPollTimeoutS: number;
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class LeasedPoller {
  private running = false;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  /** True while this process holds the lease and polls. */
  leader = false;
  /** Whether this process said yet which role it has (it says it again on every change). */
  private announced = false;

  constructor(private readonly o: LeasedPollerOptions) {}

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

  /** Takes or renews the lease; false when another process polls this account. */
  private async holdLease(): Promise<boolean> {
    const r = this.o.redis;
    const ok = this.leader
      ? (await r.eval(RENEW, 1, this.o.leaseKey, this.owner, String(this.leaseMs))) === 1
      : (await r.set(this.o.leaseKey, this.owner, 'PX', this.leaseMs, 'NX')) === 'OK';
    if (ok !== this.leader || !this.announced)
      this.o.log.info(
        { leader: ok },
        ok ? `polling ${this.o.name} (this process holds the poller lease)` : 'another process polls this account',
      );
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
        // The lease must outlive one long poll plus the time to queue what it brought.
        const timeoutS = Math.max(1, Math.min(this.o.maxPollTimeoutS, Math.floor(this.leaseMs / 2000)));
        await this.o.poll(this.abort.signal, timeoutS);
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
