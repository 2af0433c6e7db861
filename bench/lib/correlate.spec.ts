import { counterLatencies, messageIdLatencies } from './correlate';
import { summarize } from './stats';

const delivery = (user: string, key: string, ackAt: number) => ({ user, key, messageId: `<${key}@bench>`, sentAt: ackAt - 5, ackAt });

describe('matching deliveries to what clients saw', () => {
  it('matches the k-th delivery to a user with the first observation whose counter reached it', () => {
    const deliveries = [delivery('a', 'a1', 1000), delivery('a', 'a2', 2000), delivery('b', 'b1', 1500)];
    // one coalesced EXISTS for both of a's messages, one for b's; a delivery never seen counts as missed
    const { latencies, missed } = counterLatencies(
      deliveries,
      [
        { user: 'a', value: 2, at: 2600 },
        { user: 'b', value: 1, at: 2000 },
      ],
      () => 0,
    );
    expect(latencies.sort((x, y) => x - y)).toEqual([500, 600, 1600]);
    expect(missed).toBe(0);
    expect(counterLatencies(deliveries, [], () => 0).missed).toBe(3);
  });

  it('uses the baseline (e.g. UIDNEXT before the run) as the zero point', () => {
    const { latencies } = counterLatencies([delivery('a', 'a1', 1000)], [{ user: 'a', value: 8, at: 1200 }, { user: 'a', value: 9, at: 1900 }], () => 8);
    expect(latencies).toEqual([900]);
  });

  it('matches socket events by Message-ID with or without angle brackets, once each', () => {
    const deliveries = [delivery('a', 'a1', 1000), delivery('a', 'a2', 2000)];
    const res = messageIdLatencies(deliveries, [
      { messageId: '<a1@bench>', at: 1510 },
      { messageId: 'a1@bench', at: 1600 },
      { messageId: '<other@x>', at: 1700 },
    ]);
    expect(res.latencies).toEqual([510]);
    expect(res.duplicates).toBe(1);
    expect(res.missed).toBe(1);
  });

  it('summarizes with interpolated percentiles', () => {
    const s = summarize(Array.from({ length: 101 }, (_, i) => i));
    expect(s).toMatchObject({ n: 101, min: 0, p50: 50, p99: 99, max: 100 });
    expect(summarize([])).toBeNull();
  });
});
