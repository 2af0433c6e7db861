import { BULL_PREFIX } from './redis-keys';
import { bullShardPrefix, queueShard } from './queue-shards';

describe('queue shards', () => {
  it('keeps today’s prefix with one shard', () => {
    expect(bullShardPrefix(0, 1)).toBe(BULL_PREFIX);
    expect(queueShard('acc_anything', 1)).toBe(0);
  });

  it('gives each shard its own hash tag', () => {
    expect([0, 1, 2].map((i) => bullShardPrefix(i, 3))).toEqual(['{pm-bull-0}', '{pm-bull-1}', '{pm-bull-2}']);
  });

  it('maps an account to the same shard every time (pinned values: producers and consumers of every release must agree)', () => {
    expect(queueShard('acc_abc', 3)).toBe(queueShard('acc_abc', 3));
    // FNV-1a 32-bit of "a" is 0xe40c292c.
    expect(queueShard('a', 0x10000)).toBe(0xe40c292c % 0x10000);
  });

  it('spreads ids over the shards', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[queueShard(`acc_${i.toString(36)}`, 4)]++;
    for (const n of counts) expect(n).toBeGreaterThan(800);
  });
});
