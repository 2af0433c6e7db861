import { nextPollSlot } from './pop3-poller';

describe('nextPollSlot', () => {
  const interval = 60_000;

  it('is after the given time and at most one interval later, on the same phase every time', () => {
    const t = Date.UTC(2026, 0, 1);
    for (const id of ['acc_a', 'acc_b', 'acc_c']) {
      const first = nextPollSlot(id, interval, t);
      expect(first).toBeGreaterThan(t);
      expect(first - t).toBeLessThanOrEqual(interval);
      // From a slot, the next one is exactly one interval later; from just before it, that slot.
      expect(nextPollSlot(id, interval, first)).toBe(first + interval);
      expect(nextPollSlot(id, interval, first - 1)).toBe(first);
      expect(nextPollSlot(id, interval, first + 250)).toBe(first + interval);
    }
  });

  it('spreads 1,000 accounts evenly over the interval: no second holds twice the mean', () => {
    const perSecond = new Array(60).fill(0);
    for (let i = 0; i < 1000; i++) perSecond[Math.floor((nextPollSlot(`acc_${i.toString(36)}x${i * 7919}`, interval, 0) % interval) / 1000)]++;
    const mean = 1000 / 60;
    expect(Math.max(...perSecond)).toBeLessThan(2 * mean);
    expect(perSecond.filter((n) => n === 0)).toEqual([]);
  });
});
