import { Injectable } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { RedisService, luaScript, runLua } from '@pushmail/redis';
import { MailboxCursor } from './mailbox-cursor';

/**
 * Writes only while the lease still holds our fencing token: a watcher that lost its lease (a
 * long GC pause, a partition) cannot move the cursor under the new owner. Lease, cursor and the
 * account's UIDVALIDITY index share the account's hash tag, so this stays one atomic script on a
 * Redis Cluster too. The index is what other apps read (see MailboxValidities).
 */
const SAVE = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'uidValidity', ARGV[2], 'uidNext', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'highestModseq', ARGV[4]) else redis.call('HDEL', KEYS[2], 'highestModseq') end
if ARGV[5] ~= '-' then redis.call('HSET', KEYS[2], 'knownUids', ARGV[5]) else redis.call('HDEL', KEYS[2], 'knownUids') end
if ARGV[7] ~= '-' then redis.call('HSET', KEYS[2], 'unseenUids', ARGV[7]) else redis.call('HDEL', KEYS[2], 'unseenUids') end
redis.call('HSET', KEYS[3], ARGV[6], ARGV[2])
return 1
`);

export class LeaseLostError extends Error {
  constructor(readonly accountId: string) {
    super(`lease for ${accountId} is no longer ours`);
    this.name = 'LeaseLostError';
  }
}

/** The watcher's per-mailbox cursors; only the lease owner writes them. */
@Injectable()
export class CursorStore {
  constructor(private readonly redis: RedisService) {}

  async get(accountId: string, mailbox: string): Promise<MailboxCursor | null> {
    const h = await this.redis.client.hgetall(redisKeys.cursor(accountId, mailbox));
    if (!h.uidValidity || !h.uidNext) return null;
    const cursor: MailboxCursor = { uidValidity: Number(h.uidValidity), uidNext: Number(h.uidNext) };
    if (h.highestModseq) cursor.highestModseq = h.highestModseq;
    if (h.knownUids !== undefined) cursor.knownUids = h.knownUids;
    if (h.unseenUids !== undefined) cursor.unseenUids = h.unseenUids;
    return cursor;
  }

  /** @throws LeaseLostError when the account's lease no longer carries `leaseValue`. */
  async save(accountId: string, mailbox: string, cursor: MailboxCursor, leaseValue: string): Promise<void> {
    const saved = await runLua<number>(
      this.redis.client,
      SAVE,
      [redisKeys.lease(accountId), redisKeys.cursor(accountId, mailbox), redisKeys.uidValidities(accountId)],
      [leaseValue, cursor.uidValidity, cursor.uidNext, cursor.highestModseq ?? '', cursor.knownUids ?? '-', mailbox, cursor.unseenUids ?? '-'],
    );
    if (saved !== 1) throw new LeaseLostError(accountId);
  }

  async delete(accountId: string, mailbox: string): Promise<void> {
    await this.redis.client.multi().unlink(redisKeys.cursor(accountId, mailbox)).hdel(redisKeys.uidValidities(accountId), mailbox).exec();
  }

  /** Every cursor of the account (mailboxes it no longer lists included). */
  async deleteAccount(accountId: string): Promise<void> {
    await this.redis.unlinkMatching(redisKeys.cursor(accountId, '*'));
    await this.redis.client.unlink(redisKeys.uidValidities(accountId));
  }
}
