import { Injectable } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { RedisService, luaScript, runLua } from '@pushmail/redis';
import { WatcherIdentity } from './watcher-identity';

/** Full watchers are listed in the same sorted set under this prefix, expiring with their heartbeat. */
const FULL_PREFIX = 'full:';

/**
 * Heartbeats with Redis' own clock (no skew between hosts): score = last heartbeat in ms, and
 * members older than the TTL are dropped by whoever heartbeats next.
 */
const HEARTBEAT = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
if ARGV[3] == '1' then redis.call('ZADD', KEYS[1], now, ARGV[4] .. ARGV[1]) else redis.call('ZREM', KEYS[1], ARGV[4] .. ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);

export interface Members {
  live: string[];
  /** Live members at capacity: they keep what they hold but take nothing new. */
  full: Set<string>;
}

@Injectable()
export class MembershipService {
  constructor(
    private readonly redis: RedisService,
    private readonly identity: WatcherIdentity,
  ) {}

  async heartbeat(ttlMs: number, full: boolean): Promise<Members> {
    const all = await runLua<string[]>(this.redis.client, HEARTBEAT, [redisKeys.watcherMembers()], [this.identity.id, ttlMs, full ? '1' : '0', FULL_PREFIX]);
    const live: string[] = [];
    const fullSet = new Set<string>();
    for (const m of all) {
      if (m.startsWith(FULL_PREFIX)) fullSet.add(m.slice(FULL_PREFIX.length));
      else live.push(m);
    }
    return { live: live.sort(), full: fullSet };
  }

  /** Leaves at once, so the others rebalance on their next heartbeat instead of after a TTL. */
  async leave(): Promise<void> {
    await this.redis.client.zrem(redisKeys.watcherMembers(), this.identity.id, FULL_PREFIX + this.identity.id);
  }
}
