/**
 * Fault injection the test doubles share: faults queued or rolled per key (a method, a route or an
 * endpoint, '*' for any), hangs, and the requests those hangs hold open.
 */
import type http from 'node:http';

/** Faults by key: the next ones queued, a failure rate on a seeded PRNG, and hangs to come. */
export class InjectedFaults<F> {
  private readonly queued = new Map<string, F[]>();
  private readonly rates = new Map<string, { probability: number; fault: F }>();
  private readonly hangs = new Map<string, number>();

  constructor(private readonly rng: () => number) {}

  /** The next `times` requests of `key` fail with `fault`. */
  failNext(key: string, fault: F, times = 1): void {
    const queue = this.queued.get(key) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.queued.set(key, queue);
  }

  /** Each request of `key` fails with `fault` with this probability; 0 or less turns it off. */
  setFailureRate(key: string, probability: number, fault: F): void {
    if (probability <= 0) this.rates.delete(key);
    else this.rates.set(key, { probability, fault });
  }

  /** The next `times` requests of `key` are never answered. */
  hangNext(key: string, times = 1): void {
    this.hangs.set(key, (this.hangs.get(key) ?? 0) + times);
  }

  /** Whether this request hangs: takes one hang of the first of `keys` that has one. */
  takeHang(keys: readonly string[]): boolean {
    for (const key of keys) {
      const n = this.hangs.get(key) ?? 0;
      if (n > 0) {
        this.hangs.set(key, n - 1);
        return true;
      }
    }
    return false;
  }

  /** The fault this request gets: a queued one of the first of `keys` that has one, else a roll of each key's rate in turn. */
  takeFault(keys: readonly string[]): F | undefined {
    for (const key of keys) {
      const queued = this.queued.get(key);
      if (queued && queued.length > 0) return queued.shift();
    }
    for (const key of keys) {
      const rate = this.rates.get(key);
      if (rate && this.rng() < rate.probability) return rate.fault;
    }
    return undefined;
  }

  clear(): void {
    this.queued.clear();
    this.rates.clear();
    this.hangs.clear();
  }
}

/** Requests a hang left unanswered: counted while open, dropped on reset so the client sees a reset. */
export class HeldResponses {
  private readonly held = new Set<http.ServerResponse>();

  hold(res: http.ServerResponse): void {
    this.held.add(res);
    res.once('close', () => this.held.delete(res));
  }

  get size(): number {
    return this.held.size;
  }

  dropAll(): void {
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
  }
}
