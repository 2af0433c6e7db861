import { Injectable } from '@nestjs/common';
import { FullMessageNewEvent, redisKeys } from '@pushmail/contracts';
import { MailboxValidities } from '@pushmail/mailbox-cursors';
import { RedisService } from '@pushmail/redis';

/** Reads the message bodies the fetcher's MessageLog stored, under the mailbox's current UIDVALIDITY. */
@Injectable()
export class StoredMessageReader {
  constructor(
    private readonly redis: RedisService,
    private readonly validities: MailboxValidities,
  ) {}

  async find(accountId: string, mailbox: string, uid: number): Promise<FullMessageNewEvent | null> {
    const uidValidity = await this.validities.get(accountId, mailbox);
    if (uidValidity === null) return null;
    const json = await this.redis.client.get(redisKeys.message(accountId, mailbox, uidValidity, uid));
    return json ? (JSON.parse(json) as FullMessageNewEvent) : null;
  }
}
