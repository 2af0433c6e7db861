import { BULL_PREFIX } from './redis-keys';

/**
 * The BullMQ prefix of shard `shard` of a queue sharded over `shards` hash tags (QUEUE_SHARDS):
 * with one shard, {@link BULL_PREFIX} itself, so a single Redis keeps today's keys.
 */
export const bullShardPrefix = (shard: number, shards: number): string => (shards <= 1 ? BULL_PREFIX : `{pm-bull-${shard}}`);

/**
 * Which of `shards` queue shards carries an account's jobs: FNV-1a (32 bit) of the id's UTF-8
 * bytes, modulo the count. Stable across processes and releases (every producer and consumer must
 * agree), so one account's jobs stay in one shard, in order, and its deterministic job ids dedupe.
 */
export function queueShard(accountId: string, shards: number): number {
  if (shards <= 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(accountId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}
