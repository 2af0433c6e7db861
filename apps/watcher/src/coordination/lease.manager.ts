import { Injectable } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { RedisService, luaScript, runLua } from '@pushmail/redis';
import { WatcherIdentity } from './watcher-identity';

const RENEW = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`);
/** Replaces a dead holder's lease, only if it still holds the value we judged. */
const TAKE_OVER = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
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

  /**
   * Takes the lease if nobody holds it, or if its holder is among `deadHolders` (members whose
   * process is known to be gone: see MembershipService.confirmDead); null when a live (or merely
   * unreachable) watcher holds it. A fresh fencing token either way, so the dead holder's cursor
   * writes are refused should it not be dead after all.
   */
  async acquire(accountId: string, ttlMs: number, deadHolders: ReadonlySet<string> = new Set()): Promise<Lease | null> {
    const r = this.redis.client;
    const key = redisKeys.lease(accountId);
    // Cheap check first, so waiting for a busy lease does not burn fencing tokens every tick.
    const current = await r.get(key);
    if (current !== null && !deadHolders.has(holderOf(current))) return null;
    const started = Date.now();
    const fence = await r.incr(redisKeys.leaseFence());
    const value = `${this.identity.id}|${fence}`;
    const ok = current === null ? (await r.set(key, value, 'PX', ttlMs, 'NX')) === 'OK' : (await runLua<number>(r, TAKE_OVER, [key], [current, value, ttlMs])) === 1;
    return ok ? { accountId, value, fence, validUntil: started + ttlMs } : null;
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
    return value ? holderOf(value) : null;
  }
}

/** The watcher id in a lease value `<watcher id>|<fence>`. */
const holderOf = (value: string) => value.split('|')[0];
