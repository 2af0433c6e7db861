import { Injectable, Logger } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { RedisClient, RedisService, luaScript, masterNodes, runLua } from '@pushmail/redis';
import { WatcherIdentity } from './watcher-identity';

/** Full watchers are listed in the same sorted set under this prefix, expiring with their heartbeat. */
const FULL_PREFIX = 'full:';
/**
 * Members found dead, listed under this prefix until their leases would have expired anyway, so
 * that every watcher (one that just started too, whose own connection is too young to judge) takes
 * over the dead member's accounts it is assigned.
 */
const DEAD_PREFIX = 'dead:';

/** The name of each watcher's heartbeat connection, as Redis' CLIENT LIST shows it. */
const CONNECTION_PREFIX = 'pm-watcher:';
export const memberConnectionName = (memberId: string) => `${CONNECTION_PREFIX}${memberId}`;

/**
 * Marks members dead: scored in the future so that the heartbeat's ZREMRANGEBYSCORE (members older
 * than the member TTL) drops the mark when the dead member's last lease renewal has run out.
 */
const MARK_DEAD = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
return #ARGV - 1
`);

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
  /** Members found dead (not live again since): their leases may be taken before they expire. */
  dead: Set<string>;
}

/** What Redis' connection table says about members that stopped heartbeating. */
export type DeathVerdict =
  /** Their heartbeat connections are gone: the process (or its host's kernel) closed them. */
  | { ok: true; dead: string[] }
  /** No verdict: their leases are left to expire. */
  | { ok: false; why: 'our connection is too young' | 'connection table unreadable' };

/**
 * Age in seconds of each named connection in a CLIENT LIST reply (the youngest when a name is
 * listed twice, as after a reconnect whose old socket Redis has not reaped yet).
 */
export function connectionAges(clientList: string): Map<string, number> {
  const ages = new Map<string, number>();
  for (const line of clientList.split('\n')) {
    const name = /(?:^| )name=(\S+)/.exec(line)?.[1];
    const age = Number(/(?:^| )age=(\d+)/.exec(line)?.[1]);
    if (!name || !Number.isFinite(age)) continue;
    ages.set(name, Math.min(age, ages.get(name) ?? Infinity));
  }
  return ages;
}

/**
 * Membership of the watcher fleet. Each watcher heartbeats over its own named connection, so a
 * member that stops heartbeating can be told apart: a killed process's connection disappears from
 * Redis at once (its kernel closes the socket), while a partitioned or frozen one's stays listed
 * (nothing reaches Redis to close it). Only the first kind has its leases taken before they expire.
 */
@Injectable()
export class MembershipService {
  private readonly logger = new Logger(MembershipService.name);
  private readonly connection: RedisClient;

  constructor(
    redis: RedisService,
    private readonly identity: WatcherIdentity,
  ) {
    this.connection = redis.open({ connectionName: memberConnectionName(identity.id) });
  }

  async heartbeat(ttlMs: number, full: boolean): Promise<Members> {
    const all = await runLua<string[]>(this.connection, HEARTBEAT, [redisKeys.watcherMembers()], [this.identity.id, ttlMs, full ? '1' : '0', FULL_PREFIX]);
    const live: string[] = [];
    const fullSet = new Set<string>();
    const dead = new Set<string>();
    for (const m of all) {
      if (m.startsWith(FULL_PREFIX)) fullSet.add(m.slice(FULL_PREFIX.length));
      else if (m.startsWith(DEAD_PREFIX)) dead.add(m.slice(DEAD_PREFIX.length));
      else live.push(m);
    }
    // One wrongly judged dead that heartbeats again keeps its leases.
    for (const m of live) dead.delete(m);
    return { live: live.sort(), full: fullSet, dead };
  }

  /** Tells every watcher that `members` are dead, for `leaseTtlMs` (their leases' longest life). */
  async markDead(members: readonly string[], leaseTtlMs: number, memberTtlMs: number): Promise<void> {
    if (!members.length) return;
    await runLua<number>(this.connection, MARK_DEAD, [redisKeys.watcherMembers()], [leaseTtlMs - memberTtlMs, ...members.map((m) => DEAD_PREFIX + m)]);
  }

  /**
   * Which of `members` (dropped from membership for missed heartbeats) are dead, judged by
   * whether Redis still lists their heartbeat connection. Trusted only when our own connection
   * has been up for `minOwnAgeMs` (a lease TTL): after a Redis restart or a failover to a replica
   * every connection is new, and a live watcher that has not reconnected yet would look dead.
   */
  async confirmDead(members: readonly string[], minOwnAgeMs: number): Promise<DeathVerdict> {
    let ages: Map<string, number>;
    try {
      // On a cluster, every master's table: a live member may not hold a connection to each (and
      // its youngest one decides our own age, which keeps the verdict on the cautious side).
      const lists = await Promise.all(masterNodes(this.connection).map(async (node) => String(await node.client('LIST'))));
      ages = connectionAges(lists.join('\n'));
    } catch (err) {
      // Managed Redis may refuse CLIENT LIST (ACLs): failover then waits for the lease TTL.
      this.logger.warn({ msg: 'cannot read CLIENT LIST; a dead watcher’s leases are left to expire', err });
      return { ok: false, why: 'connection table unreadable' };
    }
    const own = ages.get(memberConnectionName(this.identity.id));
    if (own === undefined || own * 1000 < minOwnAgeMs) return { ok: false, why: 'our connection is too young' };
    return { ok: true, dead: members.filter((m) => !ages.has(memberConnectionName(m))) };
  }

  /** Leaves at once, so the others rebalance on their next heartbeat instead of after a TTL. */
  async leave(): Promise<void> {
    await this.connection.zrem(redisKeys.watcherMembers(), this.identity.id, FULL_PREFIX + this.identity.id);
  }
}
