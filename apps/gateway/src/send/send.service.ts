import { Injectable } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { MessageSendRequest, QueueName, SendJobName, jobIds } from '@pushmail/contracts';
import { QueueService } from '@pushmail/queue';
import { randomBytes } from 'node:crypto';
import { SendSettings } from '../settings';
import { CommandError, forbidden } from '../socket/ack';
import { sendRequestSize } from './send-size';
import { SendStore } from './send.store';

/**
 * Accepts `message.send`: checks ownership, size and the user's rate, remembers the request under
 * a new sendId and enqueues it, keyed by the client's idempotencyKey so a repeat changes nothing.
 */
@Injectable()
export class SendService {

  constructor(
    private readonly accounts: AccountRepository,
    private readonly store: SendStore,
    private readonly queue: QueueService,
    private readonly settings: SendSettings,
  ) {}

  async submit(userId: string, req: MessageSendRequest): Promise<{ sendId: string }> {
    if (!(await this.accounts.isOwnedBy(req.accountId, userId))) throw forbidden();
    const size = sendRequestSize(req);
    if (size > this.settings.maxBytes) {
      throw new CommandError('payload_too_large', `message is ${size} bytes; the limit is ${this.settings.maxBytes}`);
    }
    const earlier = await this.store.findByIdempotencyKey(req.accountId, req.idempotencyKey);
    if (earlier) return this.resume(earlier, userId, req);
    const sendId = 'snd_' + randomBytes(12).toString('base64url');
    await this.reserve(userId, sendId, req);
    if (!(await this.store.takeRateToken(userId, this.settings.ratePerMinute))) {
      await this.store.releaseBytes(userId, sendId);
      throw new CommandError('rate_limited', `at most ${this.settings.ratePerMinute} messages per minute`);
    }
    const owner = await this.store.claim(req.accountId, req.idempotencyKey, sendId, this.settings.recordTtlSeconds);
    if (owner !== sendId) {
      await this.store.releaseBytes(userId, sendId);
      return this.resume(owner, userId, req); // a concurrent repeat won the key
    }
    await this.store.create({ sendId, accountId: req.accountId, userId, status: 'queued', messageId: await this.messageIdFor(req.accountId, sendId), request: req }, this.settings.recordTtlSeconds);
    await this.enqueue(req, sendId);
    return { sendId };
  }

  /**
   * A repeat of an earlier request: same sendId, nothing new sent. If the first attempt died
   * between claiming the key and enqueueing, the repeat finishes its work.
   */
  private async resume(sendId: string, userId: string, req: MessageSendRequest): Promise<{ sendId: string }> {
    const record = await this.store.get(sendId);
    if (!record) {
      // The first attempt's reservation may have lapsed with it; counting the same sendId twice is a no-op.
      await this.reserve(userId, sendId, req);
      await this.store.create({ sendId, accountId: req.accountId, userId, status: 'queued', messageId: await this.messageIdFor(req.accountId, sendId), request: req }, this.settings.recordTtlSeconds);
    }
    if (!record || record.status === 'queued') await this.enqueue(req, sendId);
    return { sendId };
  }

  /**
   * Counts the bytes this send will hold in Redis (the stored request, later the composed message)
   * against the user's budget, so one user's backlog of retried sends cannot fill Redis for everyone.
   */
  private async reserve(userId: string, sendId: string, req: MessageSendRequest): Promise<void> {
    const limit = this.settings.queueBytesPerUser;
    const bytes = Buffer.byteLength(JSON.stringify(req));
    if (!(await this.store.reserveBytes(userId, sendId, bytes, limit, this.settings.recordTtlSeconds))) {
      throw new CommandError('rate_limited', `the send queue is full: this user's queued sends would exceed ${limit} bytes; wait until they are sent`);
    }
  }

  private enqueue(req: MessageSendRequest, sendId: string) {
    return this.queue.add(
      QueueName.Send,
      SendJobName.Send,
      { accountId: req.accountId, sendId },
      {
        // Same key → same job id: BullMQ keeps one job however often it is added.
        jobId: jobIds.send(req.accountId, req.idempotencyKey),
        attempts: this.settings.attempts,
        backoff: { type: 'exponential', delay: this.settings.retryDelayMs },
      },
    );
  }

  /** Fixed per send, so every retry carries the same Message-ID and receivers can dedupe. */
  private async messageIdFor(accountId: string, sendId: string): Promise<string> {
    const account = await this.accounts.view(accountId);
    const domain = account?.email.split('@')[1] ?? 'pushmail.invalid';
    return `<${sendId}@${domain}>`;
  }
}
