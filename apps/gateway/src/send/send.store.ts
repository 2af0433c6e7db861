import { Injectable } from '@nestjs/common';
import { MessageSendRequest, redisKeys } from '@pushmail/contracts';
import { RedisService, luaScript, runLua } from '@pushmail/redis';

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
 * Reserves `bytes` for a send in the user's budget hash, atomically. Entries are
 * `<bytes>:<deadline ms>`; a deadline past is dropped here, so a gateway that died between reserving
 * and finishing a send cannot hold the budget longer than the send record itself lives. Reserving a
 * sendId twice counts it once. Returns 1 when reserved, 0 when it would exceed the limit.
 * KEYS[1] budget hash; ARGV sendId, bytes, limit, now ms, ttl ms.
 */
const RESERVE = luaScript(`
local now = tonumber(ARGV[4])
local entries = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #entries, 2 do
  local v = entries[i + 1]
  local sep = string.find(v, ':', 1, true)
  local deadline = tonumber(string.sub(v, sep + 1))
  if deadline <= now then
    redis.call('HDEL', KEYS[1], entries[i])
  elseif entries[i] == ARGV[1] then
    return 1
  else
    total = total + tonumber(string.sub(v, 1, sep - 1))
  end
end
if total + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[5])))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`);

/** Sets a reserved entry's byte count (keeping its deadline) when the held payload changes size. */
const RESIZE = luaScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local sep = string.find(v, ':', 1, true)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(v, sep))
return 1
`);

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
    // The budget now counts what Redis holds instead: the composed message.
    const userId = await this.redis.client.hget(redisKeys.send(sendId), 'userId');
    if (userId) await runLua(this.redis.client, RESIZE, [redisKeys.sendBytes(userId)], [sendId, raw.length]);
  }

  getRaw(sendId: string): Promise<Buffer | null> {
    return this.redis.client.hgetBuffer(redisKeys.send(sendId), 'raw');
  }

  async markDone(sendId: string): Promise<void> {
    await this.redis.client.multi().hset(redisKeys.send(sendId), 'status', 'done').hdel(redisKeys.send(sendId), 'raw').exec();
    await this.releaseOwnBytes(sendId);
  }

  async markFailed(sendId: string): Promise<void> {
    await this.redis.client.multi().hset(redisKeys.send(sendId), { status: 'failed', request: '{}' }).hdel(redisKeys.send(sendId), 'raw').exec();
    await this.releaseOwnBytes(sendId);
  }

  /**
   * A job that ended without reaching done or failed (e.g. an unexpected error on its last
   * attempt): its payload is dropped so it no longer counts against anyone's budget.
   */
  async abandon(sendId: string): Promise<boolean> {
    const status = await this.redis.client.hget(redisKeys.send(sendId), 'status');
    if (status !== 'queued' && status !== 'sent') return false;
    await this.markFailed(sendId);
    return true;
  }

  private async releaseOwnBytes(sendId: string): Promise<void> {
    const userId = await this.redis.client.hget(redisKeys.send(sendId), 'userId');
    if (userId) await this.releaseBytes(userId, sendId);
  }

  /**
   * Counts a send's stored bytes against the user's budget (see {@link RESERVE}); false when the
   * user's queued and retrying sends would then hold more than `limit` bytes.
   */
  async reserveBytes(userId: string, sendId: string, bytes: number, limit: number, ttlSeconds: number): Promise<boolean> {
    const reserved = await runLua<number>(this.redis.client, RESERVE, [redisKeys.sendBytes(userId)], [sendId, bytes, limit, Date.now(), ttlSeconds * 1000]);
    return reserved === 1;
  }

  /** Frees a send's share of the budget: its payload is no longer held (or it was never queued). */
  async releaseBytes(userId: string, sendId: string): Promise<void> {
    await this.redis.client.hdel(redisKeys.sendBytes(userId), sendId);
  }

  /** Fixed one-minute window per user; returns false once the user is over the limit. */
  async takeRateToken(userId: string, perMinute: number): Promise<boolean> {
    const key = redisKeys.sendRate(userId);
    const [[, count]] = (await this.redis.client.multi().incr(key).expire(key, 60, 'NX').exec()) as [[null, number], [null, number]];
    return count <= perMinute;
  }
}
