import { fullJitterBackoff, jitteredDelay } from './backoff';

describe('fullJitterBackoff', () => {
  it('stays within [0, min(max, min·2^attempt))', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const cap = Math.min(300_000, 1000 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = fullJitterBackoff(attempt, 1000, 300_000);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(cap);
      }
    }
  });

  it('reaches the cap at the top of the random range and grows with attempts', () => {
    expect(fullJitterBackoff(0, 1000, 300_000, () => 0.999999)).toBe(999);
    expect(fullJitterBackoff(3, 1000, 300_000, () => 0.999999)).toBe(7999);
    expect(fullJitterBackoff(50, 1000, 300_000, () => 0.999999)).toBe(299_999);
    expect(fullJitterBackoff(5, 1000, 300_000, () => 0)).toBe(0);
  });

  it('spreads retries (full jitter, not equal delays)', () => {
    const delays = new Set(Array.from({ length: 100 }, () => fullJitterBackoff(8, 1000, 300_000)));
    expect(delays.size).toBeGreaterThan(50);
  });
});

describe('jitteredDelay', () => {
  it('stays within ±10 %', () => {
    expect(jitteredDelay(3_600_000, () => 0)).toBe(3_240_000);
    expect(jitteredDelay(3_600_000, () => 1)).toBe(3_960_000);
  });
});
