import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay } from './backoff';

const opts = { baseMs: 500, maxMs: 30_000 };

describe('backoff with full jitter', () => {
  it('doubles the window per attempt up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map((a) => backoffCeiling(a, opts))).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000,
    ]);
  });

  it('draws from the whole window [0, ceiling)', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = backoffCeiling(attempt, opts);
      expect(backoffDelay(attempt, opts, () => 0)).toBe(0);
      expect(backoffDelay(attempt, opts, () => 0.999999)).toBeLessThan(ceiling);
      expect(backoffDelay(attempt, opts, () => 0.999999)).toBeGreaterThanOrEqual(ceiling - 1);
      expect(backoffDelay(attempt, opts, () => 0.5)).toBe(Math.floor(ceiling / 2));
    }
  });

  it('stays within bounds for random draws and never exceeds the cap', () => {
    let violations = 0;
    for (let i = 0; i < 10_000; i++) {
      const attempt = i % 15;
      const d = backoffDelay(attempt, opts);
      if (d < 0 || d >= backoffCeiling(attempt, opts) || d > opts.maxMs || !Number.isInteger(d)) violations++;
    }
    expect(violations).toBe(0);
  });

  it('spreads delays (jitter), instead of one fixed value', () => {
    const delays = new Set(Array.from({ length: 200 }, () => backoffDelay(6, opts)));
    expect(delays.size).toBeGreaterThan(100);
  });
});
