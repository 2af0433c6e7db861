import { Injectable } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { RedisService, luaScript, runLua } from '@pushmail/redis';
import { WatcherIdentity } from './watcher-identity';

const RENEW = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`);
const RELEASE = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export interface Lease {
  accountId: string;
  /** `<watcher id>|<fencing token>`: what the lease key holds while it is ours. */
  value: string;
  fence: number;
  /** Local deadline: past it we must assume the lease is gone, whatever Redis says later. */
  validUntil: number;
}

/**
 * One lease per account (SET NX PX), so exactly one watcher watches it. Each lease carries a
 * fencing token from a global counter; renew and release only act on our own token, and cursor
 * writes check it too.
 */
@Injectable()
export class LeaseManager {
  constructor(
    private readonly redis: RedisService,
    private readonly identity: WatcherIdentity,
  ) {}

  /** Takes the lease if nobody holds it; null when another watcher does. */
  async acquire(accountId: string, ttlMs: number): Promise<Lease | null> {
    const r = this.redis.client;
    // Cheap check first, so waiting for a busy lease does not burn fencing tokens every tick.
    if (await r.exists(redisKeys.lease(accountId))) return null;
    const started = Date.now();
    const fence = await r.incr(redisKeys.leaseFence());
    const value = `${this.identity.id}|${fence}`;
    const ok = await r.set(redisKeys.lease(accountId), value, 'PX', ttlMs, 'NX');
    return ok === 'OK' ? { accountId, value, fence, validUntil: started + ttlMs } : null;
  }

  /** Renews all leases in one round trip; returns the ones that are no longer ours. */
  async renew(leases: Lease[], ttlMs: number): Promise<Lease[]> {
    if (!leases.length) return [];
    const started = Date.now();
    const results = await Promise.all(leases.map((l) => runLua<number>(this.redis.client, RENEW, [redisKeys.lease(l.accountId)], [l.value, ttlMs])));
    const lost: Lease[] = [];
    results.forEach((ok, i) => {
      if (ok === 1) leases[i].validUntil = started + ttlMs;
      else lost.push(leases[i]);
    });
    return lost;
  }

  async release(lease: Lease): Promise<void> {
    await runLua<number>(this.redis.client, RELEASE, [redisKeys.lease(lease.accountId)], [lease.value]);
  }

  async holder(accountId: string): Promise<string | null> {
    const value = await this.redis.client.get(redisKeys.lease(accountId));
    return value ? value.split('|')[0] : null;
  }
}
