import { Injectable } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { RedisService } from '@pushmail/redis';

/**
 * The read side of the watcher's cursors that other apps may use: each watched mailbox's current
 * UIDVALIDITY (the generation its UIDs, stored bodies and events belong to). The gateway needs it
 * to find a stored body and to tell a client which generation a `mailbox.reset` starts; it must
 * not depend on how the watcher lays out its cursors, which this lib owns.
 */
@Injectable()
export class MailboxValidities {
  constructor(private readonly redis: RedisService) {}

  /** The mailbox's UIDVALIDITY, or null while the watcher has not synced it. */
  async get(accountId: string, mailbox: string): Promise<number | null> {
    const value = await this.redis.client.hget(redisKeys.uidValidities(accountId), mailbox);
    if (value !== null) return Number(value);
    // Cursors saved before the per-account index existed: read the cursor itself (the index is
    // filled on the watcher's next resync of the mailbox, which every (re)connect runs).
    const legacy = await this.redis.client.hget(redisKeys.cursor(accountId, mailbox), 'uidValidity');
    return legacy === null ? null : Number(legacy);
  }

  /** Every mailbox the watcher has a cursor for, with its UIDVALIDITY (folders found by "*" included). */
  async all(accountId: string): Promise<Map<string, number>> {
    const hash = await this.redis.client.hgetall(redisKeys.uidValidities(accountId));
    return new Map(Object.entries(hash).map(([mailbox, v]) => [mailbox, Number(v)]));
  }
}
