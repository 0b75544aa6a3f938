import { describe, expect, it } from 'vitest';
import { progressBar } from '../../src/cli/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 80, write: (c: string) => chunks.push(c) } };
}

describe('progressBar', () => {
  it('redraws one line on a terminal and ends it at 100 %', () => {
    const { chunks, stream } = sink(true);
    const p = progressBar('Retrying', stream);
    p(0, 4);
    p(4, 4);
    expect(chunks[0]).toMatch(/^\rRetrying \[░+\] 0\/4 0%$/);
    expect(chunks[1]).toMatch(/^\rRetrying \[█+\] 4\/4 100%$/);
    expect(chunks[2]).toBe('\n');
    // Same width whether empty or full.
    expect(chunks[1]!.length).toBe(chunks[0]!.length + 2); // "100%" vs "0%"
  });

  it('prints a line per 10 % elsewhere, and nothing for an empty job', () => {
    const { chunks, stream } = sink(false);
    const p = progressBar('Retrying', stream);
    for (let i = 0; i <= 100; i++) p(i, 100);
    expect(chunks).toHaveLength(11);
    expect(chunks[0]).toBe('Retrying: 0/100 (0%)\n');
    expect(chunks[5]).toBe('Retrying: 50/100 (50%)\n');
    expect(chunks[10]).toBe('Retrying: 100/100 (100%)\n');
    const empty = sink(false);
    progressBar('x', empty.stream)(0, 0);
    expect(empty.chunks).toEqual([]);
  });
});
