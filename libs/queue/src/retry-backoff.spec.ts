import { DEFAULT_JOB_OPTIONS } from './queue.service';
import { CAPPED_EXPONENTIAL, RETRY_CAP_MS, backoffStrategy, cappedExponentialDelay, minimumRetrySpanMs } from './retry-backoff';

const HOUR = 3_600_000;

describe('capped exponential retries', () => {
  it('doubles from the base, stops at 5 min, and draws each wait within its last 20 %', () => {
    const top = () => 0; // no jitter taken off
    expect([1, 2, 3, 4].map((made) => cappedExponentialDelay(made, 500, top))).toEqual([500, 1000, 2000, 4000]);
    expect(cappedExponentialDelay(10, 500, top)).toBe(256_000);
    expect(cappedExponentialDelay(11, 500, top)).toBe(RETRY_CAP_MS);
    expect(cappedExponentialDelay(300, 500, top)).toBe(RETRY_CAP_MS);
    expect(cappedExponentialDelay(300, 500, () => 1)).toBe(RETRY_CAP_MS * 0.8);
    for (let i = 0; i < 100; i++) {
      const wait = cappedExponentialDelay(3, 500);
      expect(wait).toBeGreaterThanOrEqual(1600);
      expect(wait).toBeLessThanOrEqual(2000);
    }
  });

  it('gives the watcher’s mailbox jobs at least 24 h of retries (a mail server out for a day loses no push), none more than 5 min apart', () => {
    const { attempts, backoff } = DEFAULT_JOB_OPTIONS;
    expect(backoff).toEqual({ type: CAPPED_EXPONENTIAL, delay: 500 });
    expect(minimumRetrySpanMs(attempts!, 500)).toBeGreaterThanOrEqual(24 * HOUR);
    // The longest the whole run can take, every wait at its nominal value: about 30 h.
    expect(minimumRetrySpanMs(attempts!, 500) / 0.8).toBeLessThan(31 * HOUR);
  });

  it('is what a BullMQ worker asks for a job of that type, and refuses other types', () => {
    const job = { opts: { backoff: { type: CAPPED_EXPONENTIAL, delay: 1000 } } } as Parameters<typeof backoffStrategy>[3];
    const wait = backoffStrategy(2, CAPPED_EXPONENTIAL, new Error('x'), job) as number;
    expect(wait).toBeGreaterThanOrEqual(1600);
    expect(wait).toBeLessThanOrEqual(2000);
    expect(() => backoffStrategy(2, 'linear', new Error('x'), job)).toThrow('unknown backoff linear');
  });
});
