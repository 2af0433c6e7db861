import { Injectable } from '@nestjs/common';
import { KEY_PREFIX, redisKeys } from '@pushmail/contracts';
import { RedisService, luaScript, runLua } from '@pushmail/redis';

/**
 * POP3 has message numbers (per session) and UIDLs (strings), no UIDs. pushmail gives every UIDL
 * a uid, increasing per account in the order first seen, under a uidValidity fixed per account,
 * so POP3 mail looks like IMAP INBOX mail to everything past the watcher. Keys share the
 * account's hash tag (one slot: the scripts touch several, with the lease).
 */
export const pop3Keys = {
  /** Hash UIDL → uid, only for what the server still holds. */
  byUidl: (accountId: string) => `${KEY_PREFIX}:pop3:{${accountId}}:uidl`,
  /** Hash uid → UIDL (the fetcher's and `message.list`'s direction). */
  byUid: (accountId: string) => `${KEY_PREFIX}:pop3:{${accountId}}:uid`,
  /** Hash uid → flags (space-separated): `\\Seen` and `\\Flagged`, kept by pushmail (POP3 has no flags). */
  flags: (accountId: string) => `${KEY_PREFIX}:pop3:{${accountId}}:flags`,
  /** Hash uid → when the fetcher first read the message (ms): what `deleteAfterDays` counts from. */
  fetched: (accountId: string) => `${KEY_PREFIX}:pop3:{${accountId}}:fetched`,
  /** Hash: uidValidity, nextUid, pushedUpTo (fetch jobs enqueued up to this uid), resetFrom, lastPollAt. */
  meta: (accountId: string) => `${KEY_PREFIX}:pop3:{${accountId}}:meta`,
  /** String: the raw message as RETR gave it, kept for a while so its parts can be served without a login. */
  raw: (accountId: string, uidValidity: number, uid: number) => `${KEY_PREFIX}:pop3:{${accountId}}:raw:${uidValidity}:${uid}`,
};

/**
 * Assigns uids to the UIDLs of one poll. Fenced by the lease: a watcher that lost the account
 * changes nothing. Nothing is forgotten here: UIDLs gone from the server are only reported (and
 * removed by COMMIT once their `message.deleted` jobs are enqueued), and `pushedUpTo` moves only
 * in COMMIT, so a crash between the two scripts repeats the same jobs (deduplicated by job id).
 *
 * First poll: every UIDL is mapped, none is new (existing mail is not pushed). All UIDLs unknown
 * at once while some were known: the server renumbered (a restored or migrated mailbox), so a new
 * uidValidity starts, reported as a reset, and nothing is pushed as new either.
 *
 * KEYS: lease, byUidl, byUid, meta. ARGV: leaseValue, candidate uidValidity, UIDLs in server order.
 * Returns {-1} when the lease is not ours, else {uidValidity, resetFrom, newCount, new uids…, gone uids…}.
 */
const PLAN = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local n = #ARGV - 2
local validity = tonumber(redis.call('HGET', KEYS[4], 'uidValidity') or '0')
local known = redis.call('HLEN', KEYS[2])
local renumbered = false
if validity ~= 0 and known > 0 and n > 0 then
  renumbered = true
  for i = 1, n do
    if redis.call('HEXISTS', KEYS[2], ARGV[i + 2]) == 1 then renumbered = false break end
  end
end
if validity == 0 or renumbered then
  if renumbered then
    redis.call('HSET', KEYS[4], 'resetFrom', validity)
    validity = math.max(tonumber(ARGV[2]), validity + 1)
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[5], KEYS[6])
  else
    validity = tonumber(ARGV[2])
  end
  for i = 1, n do
    redis.call('HSET', KEYS[2], ARGV[i + 2], i)
    redis.call('HSET', KEYS[3], i, ARGV[i + 2])
  end
  redis.call('HSET', KEYS[4], 'uidValidity', validity, 'nextUid', n + 1, 'pushedUpTo', n)
end
local nextUid = tonumber(redis.call('HGET', KEYS[4], 'nextUid'))
local pushed = tonumber(redis.call('HGET', KEYS[4], 'pushedUpTo'))
local present = {}
local fresh = {}
for i = 1, n do
  local uid = redis.call('HGET', KEYS[2], ARGV[i + 2])
  if not uid then
    uid = nextUid
    nextUid = nextUid + 1
    redis.call('HSET', KEYS[2], ARGV[i + 2], uid)
    redis.call('HSET', KEYS[3], uid, ARGV[i + 2])
  else
    uid = tonumber(uid)
  end
  present[uid] = true
  if uid > pushed then fresh[#fresh + 1] = uid end
end
redis.call('HSET', KEYS[4], 'nextUid', nextUid)
local gone = {}
for _, uid in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not present[tonumber(uid)] then gone[#gone + 1] = tonumber(uid) end
end
table.sort(fresh)
local out = {validity, tonumber(redis.call('HGET', KEYS[4], 'resetFrom') or '0'), #fresh}
for _, uid in ipairs(fresh) do out[#out + 1] = uid end
for _, uid in ipairs(gone) do out[#out + 1] = uid end
return out
`);

/** KEYS: lease, byUidl, byUid, meta, flags, fetched. ARGV: leaseValue, pushedUpTo, now, gone uids… */
const COMMIT = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 4, #ARGV do
  local uidl = redis.call('HGET', KEYS[3], ARGV[i])
  if uidl then redis.call('HDEL', KEYS[2], uidl) end
  redis.call('HDEL', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[5], ARGV[i])
  redis.call('HDEL', KEYS[6], ARGV[i])
end
local pushed = tonumber(redis.call('HGET', KEYS[4], 'pushedUpTo') or '0')
if tonumber(ARGV[2]) > pushed then redis.call('HSET', KEYS[4], 'pushedUpTo', ARGV[2]) end
redis.call('HDEL', KEYS[4], 'resetFrom')
redis.call('HSET', KEYS[4], 'lastPollAt', ARGV[3])
return 1
`);

/** KEYS: meta, byUid, flags. ARGV: uidValidity, uid, JSON add, JSON remove. Returns the flags, or nil (no such message). */
const CHANGE_FLAGS = luaScript(`
if tonumber(redis.call('HGET', KEYS[1], 'uidValidity') or '0') ~= tonumber(ARGV[1]) then return nil end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return nil end
local set = {}
for f in string.gmatch(redis.call('HGET', KEYS[3], ARGV[2]) or '', '%S+') do set[f] = true end
for _, f in ipairs(cjson.decode(ARGV[3])) do set[f] = true end
for _, f in ipairs(cjson.decode(ARGV[4])) do set[f] = nil end
local list = {}
for f in pairs(set) do list[#list + 1] = f end
table.sort(list)
local joined = table.concat(list, ' ')
if joined == '' then redis.call('HDEL', KEYS[3], ARGV[2]) else redis.call('HSET', KEYS[3], ARGV[2], joined) end
return joined
`);

export interface Pop3PollPlan {
  uidValidity: number;
  /** Set when the server renumbered everything: the uidValidity this one replaces. */
  resetFrom?: number;
  /** uids with no fetch job enqueued yet, ascending. */
  newUids: number[];
  /** uids whose UIDL the server no longer lists. */
  goneUids: number[];
}

export class Pop3LeaseLostError extends Error {
  constructor(readonly accountId: string) {
    super(`lease for ${accountId} is no longer ours`);
    this.name = 'Pop3LeaseLostError';
  }
}

@Injectable()
export class Pop3UidStore {
  constructor(private readonly redis: RedisService) {}

  /** @throws Pop3LeaseLostError when the lease no longer carries `leaseValue`. */
  async plan(accountId: string, leaseValue: string, uidls: string[], now = Date.now()): Promise<Pop3PollPlan> {
    const candidate = Math.floor(now / 1000) % 0xffffffff || 1;
    const out = await runLua<number[]>(this.redis.client, PLAN, this.keys(accountId), [leaseValue, candidate, ...uidls]);
    if (out[0] === -1) throw new Pop3LeaseLostError(accountId);
    const [uidValidity, resetFrom, newCount] = out;
    const plan: Pop3PollPlan = { uidValidity, newUids: out.slice(3, 3 + newCount), goneUids: out.slice(3 + newCount) };
    if (resetFrom) plan.resetFrom = resetFrom;
    return plan;
  }

  /** After the plan's jobs are enqueued: forget the gone UIDLs, move `pushedUpTo`. */
  async commit(accountId: string, leaseValue: string, plan: Pop3PollPlan, now = Date.now()): Promise<void> {
    const pushedUpTo = plan.newUids.length ? plan.newUids[plan.newUids.length - 1] : 0;
    const ok = await runLua<number>(this.redis.client, COMMIT, this.keys(accountId), [leaseValue, pushedUpTo, now, ...plan.goneUids]);
    if (ok !== 1) throw new Pop3LeaseLostError(accountId);
  }

  /** The UIDL behind a uid, or null when the server no longer lists it (or the uid is of another uidValidity). */
  async uidlOf(accountId: string, uidValidity: number, uid: number): Promise<string | null> {
    const [validity, uidl] = await this.redis.client.multi().hget(pop3Keys.meta(accountId), 'uidValidity').hget(pop3Keys.byUid(accountId), String(uid)).exec().then((r) => (r ?? []).map(([, v]) => v as string | null));
    return Number(validity) === uidValidity ? uidl : null;
  }

  /** INBOX as `message.list` sees it: uids ascending, with the current uidValidity (null before the first poll). */
  async list(accountId: string): Promise<{ uidValidity: number | null; uids: number[] }> {
    const [validity, uids] = await this.redis.client.multi().hget(pop3Keys.meta(accountId), 'uidValidity').hkeys(pop3Keys.byUid(accountId)).exec().then((r) => (r ?? []).map(([, v]) => v));
    return { uidValidity: validity ? Number(validity) : null, uids: (uids as string[]).map(Number).sort((a, b) => a - b) };
  }

  /**
   * Adds and removes kept flags of a message the server still holds; null when it holds no such uid.
   * One script: two clients flagging the same message at once cannot lose each other's change.
   */
  async changeFlags(accountId: string, uidValidity: number, uid: number, add: string[], remove: string[]): Promise<string[] | null> {
    const out = await runLua<string | null>(this.redis.client, CHANGE_FLAGS, [pop3Keys.meta(accountId), pop3Keys.byUid(accountId), pop3Keys.flags(accountId)], [uidValidity, uid, JSON.stringify(add), JSON.stringify(remove)]);
    return out === null ? null : out.split(' ').filter(Boolean);
  }

  /** The kept flags of these uids (absent: none). */
  async flagsOf(accountId: string, uids: number[]): Promise<Map<number, string[]>> {
    const found = new Map<number, string[]>();
    if (!uids.length) return found;
    const rows = await this.redis.client.hmget(pop3Keys.flags(accountId), ...uids.map(String));
    uids.forEach((uid, i) => found.set(uid, (rows[i] ?? '').split(' ').filter(Boolean)));
    return found;
  }

  async uidValidity(accountId: string): Promise<number | null> {
    const v = await this.redis.client.hget(pop3Keys.meta(accountId), 'uidValidity');
    return v ? Number(v) : null;
  }

  /** Records the first time a message was fetched (a repeated fetch keeps the first time). */
  async markFetched(accountId: string, uid: number, at = Date.now()): Promise<void> {
    await this.redis.client.hsetnx(pop3Keys.fetched(accountId), String(uid), String(at));
  }

  /** UIDLs of messages fetched before `cutoff` that the server still held at the last poll (for `deleteAfterDays`). */
  async fetchedBefore(accountId: string, cutoff: number): Promise<string[]> {
    const fetched = await this.redis.client.hgetall(pop3Keys.fetched(accountId));
    const due = Object.entries(fetched)
      .filter(([, at]) => Number(at) < cutoff)
      .map(([uid]) => uid);
    if (!due.length) return [];
    const uidls = await this.redis.client.hmget(pop3Keys.byUid(accountId), ...due);
    return uidls.filter((u): u is string => u !== null);
  }

  /**
   * Keeps a message's raw source for `ttlSeconds`: POP3 cannot fetch one MIME part, so attachment
   * downloads cut it out of this copy instead of downloading the whole message again. Not removed
   * with the mapping when the server drops the message: it expires, and nothing reads it once
   * `uidlOf` answers null.
   */
  async keepRaw(accountId: string, uidValidity: number, uid: number, source: Buffer, ttlSeconds: number): Promise<void> {
    await this.redis.client.set(pop3Keys.raw(accountId, uidValidity, uid), source, 'EX', ttlSeconds);
  }

  /** The kept raw source, or null when it was never kept (too large) or has expired. */
  rawOf(accountId: string, uidValidity: number, uid: number): Promise<Buffer | null> {
    return this.redis.client.getBuffer(pop3Keys.raw(accountId, uidValidity, uid));
  }

  async lastPollAt(accountId: string): Promise<number | null> {
    const at = await this.redis.client.hget(pop3Keys.meta(accountId), 'lastPollAt');
    return at ? Number(at) : null;
  }

  private keys(accountId: string): string[] {
    return [redisKeys.lease(accountId), pop3Keys.byUidl(accountId), pop3Keys.byUid(accountId), pop3Keys.meta(accountId), pop3Keys.flags(accountId), pop3Keys.fetched(accountId)];
  }
}
