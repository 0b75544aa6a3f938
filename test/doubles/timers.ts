/**
 * Timers a test double starts (latency, long polls) and its close() must not leave running, and
 * the event-driven waits tests use.
 */
import type { EventEmitter } from 'node:events';

export class DoubleTimers {
  /** Each pending timer with what it runs, so wakeAll() can run it early. */
  private readonly pending = new Map<NodeJS.Timeout, () => void>();

  /** Runs `fn` after `ms`, unless cancelled first. */
  after(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      fn();
    }, ms);
    this.pending.set(timer, fn);
    return timer;
  }

  cancel(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.pending.delete(timer);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Stops every timer; what waits on them never goes on (the double is closing). */
  cancelAll(): void {
    for (const timer of this.pending.keys()) clearTimeout(timer);
    this.pending.clear();
  }

  /** Stops every timer and runs what it would have run now, so nothing waits on a closed double. */
  wakeAll(): void {
    const due = [...this.pending];
    this.pending.clear();
    for (const [timer, fn] of due) {
      clearTimeout(timer);
      fn();
    }
  }
}

/** Resolves once `done()` holds, checked now and on each `event` (no polling); rejects with `describe()` after `timeoutMs`. */
export function waitForEvent(
  events: EventEmitter,
  event: string,
  done: () => boolean,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onEvent = () => {
      if (!done()) return;
      clearTimeout(timer);
      events.off(event, onEvent);
      resolve();
    };
    const timer = setTimeout(() => {
      events.off(event, onEvent);
      reject(new Error(describe()));
    }, timeoutMs);
    events.on(event, onEvent);
  });
}
