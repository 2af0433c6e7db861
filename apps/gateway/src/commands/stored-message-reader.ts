import { Injectable } from '@nestjs/common';
import { FullMessageNewEvent, redisKeys } from '@pushmail/contracts';
import { RedisService } from '@pushmail/redis';

/** Reads the message bodies the fetcher's MessageLog stored, under the mailbox's current UIDVALIDITY. */
@Injectable()
export class StoredMessageReader {
  constructor(private readonly redis: RedisService) {}

  async find(accountId: string, mailbox: string, uid: number): Promise<FullMessageNewEvent | null> {
    const uidValidity = await this.redis.client.hget(redisKeys.cursor(accountId, mailbox), 'uidValidity');
    if (!uidValidity) return null;
    const json = await this.redis.client.get(redisKeys.message(accountId, mailbox, Number(uidValidity), uid));
    return json ? (JSON.parse(json) as FullMessageNewEvent) : null;
  }
}
