import { Injectable } from '@nestjs/common';
import { MessageSendRequest, redisKeys } from '@pushmail/contracts';
import { RedisService } from '@pushmail/redis';

export type SendStatus = 'queued' | 'sent' | 'done' | 'failed';

export interface SendRecord {
  sendId: string;
  accountId: string;
  userId: string;
  status: SendStatus;
  messageId: string;
  request: MessageSendRequest;
}

/**
 * A send request lives in Redis under its sendId (the job carries only ids). The status moves
 * queued → sent (SMTP accepted it) → done (copied to Sent), or → failed, so a retried job never
 * hands the same message to SMTP again once it was accepted.
 */
@Injectable()
export class SendStore {
  constructor(private readonly redis: RedisService) {}

  /** Claims the idempotency key for `sendId`; returns the sendId that owns it (ours or an earlier one). */
  async claim(accountId: string, idempotencyKey: string, sendId: string, ttlSeconds: number): Promise<string> {
    const key = redisKeys.sendIdempotency(accountId, idempotencyKey);
    const set = await this.redis.client.set(key, sendId, 'EX', ttlSeconds, 'NX');
    return set ? sendId : ((await this.redis.client.get(key)) ?? sendId);
  }

  findByIdempotencyKey(accountId: string, idempotencyKey: string): Promise<string | null> {
    return this.redis.client.get(redisKeys.sendIdempotency(accountId, idempotencyKey));
  }

  async create(record: SendRecord, ttlSeconds: number): Promise<void> {
    const key = redisKeys.send(record.sendId);
    await this.redis.client
      .multi()
      .hset(key, {
        sendId: record.sendId,
        accountId: record.accountId,
        userId: record.userId,
        status: record.status,
        messageId: record.messageId,
        request: JSON.stringify(record.request),
      })
      .expire(key, ttlSeconds)
      .exec();
  }

  async get(sendId: string): Promise<SendRecord | null> {
    const h = await this.redis.client.hgetall(redisKeys.send(sendId));
    if (!h.sendId) return null;
    return {
      sendId: h.sendId,
      accountId: h.accountId,
      userId: h.userId,
      status: h.status as SendStatus,
      messageId: h.messageId,
      request: JSON.parse(h.request) as MessageSendRequest,
    };
  }

  /** After SMTP accepted it: the exact bytes are kept for the Sent copy, the request body is dropped. */
  async markSent(sendId: string, raw: Buffer): Promise<void> {
    await this.redis.client.hset(redisKeys.send(sendId), { status: 'sent', raw, request: '{}' });
  }

  getRaw(sendId: string): Promise<Buffer | null> {
    return this.redis.client.hgetBuffer(redisKeys.send(sendId), 'raw');
  }

  async markDone(sendId: string): Promise<void> {
    await this.redis.client.multi().hset(redisKeys.send(sendId), 'status', 'done').hdel(redisKeys.send(sendId), 'raw').exec();
  }

  async markFailed(sendId: string): Promise<void> {
    await this.redis.client.multi().hset(redisKeys.send(sendId), { status: 'failed', request: '{}' }).exec();
  }

  /** Fixed one-minute window per user; returns false once the user is over the limit. */
  async takeRateToken(userId: string, perMinute: number): Promise<boolean> {
    const key = redisKeys.sendRate(userId);
    const [[, count]] = (await this.redis.client.multi().incr(key).expire(key, 60, 'NX').exec()) as [[null, number], [null, number]];
    return count <= perMinute;
  }
}
