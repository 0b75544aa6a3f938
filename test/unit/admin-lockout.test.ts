import { describe, expect, it } from 'vitest';
import { FailureCounter } from '../../src/http/admin.js';

describe('/admin lockout (FailureCounter)', () => {
  it('locks an address after maxFailures within the window, until the window ends; success forgets', () => {
    let now = 1_000_000;
    const c = new FailureCounter(3, 60_000, 100, () => now);
    for (let i = 0; i < 2; i++) c.fail('1.2.3.4');
    expect(c.lockedFor('1.2.3.4')).toBe(0);
    c.fail('1.2.3.4');
    expect(c.lockedFor('1.2.3.4')).toBe(60_000);
    expect(c.lockedFor('5.6.7.8')).toBe(0);
    now += 59_000;
    expect(c.lockedFor('1.2.3.4')).toBe(1_000);
    now += 1_000;
    expect(c.lockedFor('1.2.3.4')).toBe(0);
    // A new window starts with the next failure.
    c.fail('1.2.3.4');
    expect(c.lockedFor('1.2.3.4')).toBe(0);
    c.fail('9.9.9.9');
    c.succeed('9.9.9.9');
    c.fail('9.9.9.9');
    c.fail('9.9.9.9');
    expect(c.lockedFor('9.9.9.9')).toBe(0);
  });

  it('keeps at most maxAddresses entries, forgetting the oldest', () => {
    const c = new FailureCounter(1, 60_000, 2, () => 0);
    c.fail('a');
    c.fail('b');
    c.fail('c');
    expect(c.lockedFor('a')).toBe(0);
    expect(c.lockedFor('b')).toBe(60_000);
    expect(c.lockedFor('c')).toBe(60_000);
  });
});
