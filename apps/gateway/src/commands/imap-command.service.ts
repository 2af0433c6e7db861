import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import {
  CommandJobOutcome,
  ImapCommandJobName,
  ImapCommandResults,
  JobPayloadOf,
  MessageFlagRequest,
  MessageGetRequest,
  QueueName,
  redisKeys,
} from '@pushmail/contracts';
import { ConfigService } from '@pushmail/config';
import { QueueService } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import type { QueueEvents } from 'bullmq';
import { GatewayEnv } from '../config';
import { CommandError, forbidden } from '../socket/ack';
import { MessageStore } from './message-store';

type CommandName = ImapCommandJobName.Flag | ImapCommandJobName.Get;

/**
 * Client commands that must run on the account's IMAP connections go to the fetcher through the
 * command queue; the client's ack waits for the job's result, i.e. for the IMAP server's answer.
 */
@Injectable()
export class ImapCommandService implements OnModuleInit {
  private readonly logger = new Logger(ImapCommandService.name);
  private events!: QueueEvents;
  private readonly timeoutMs: number;

  constructor(
    private readonly queue: QueueService,
    private readonly accounts: AccountRepository,
    private readonly store: MessageStore,
    private readonly redis: RedisService,
    config: ConfigService<GatewayEnv>,
  ) {
    this.timeoutMs = config.get('COMMAND_TIMEOUT_MS');
  }

  async onModuleInit(): Promise<void> {
    this.events = this.queue.queueEventsFor(QueueName.ImapCommands);
    await this.events.waitUntilReady();
  }

  async flag(userId: string, req: MessageFlagRequest): Promise<ImapCommandResults[ImapCommandJobName.Flag]> {
    await this.assertOwner(req.accountId, userId);
    return this.run(ImapCommandJobName.Flag, { accountId: req.accountId, mailbox: req.mailbox, uid: req.uid, add: req.add ?? [], remove: req.remove ?? [] });
  }

  async get(userId: string, req: MessageGetRequest): Promise<ImapCommandResults[ImapCommandJobName.Get]> {
    await this.assertOwner(req.accountId, userId);
    return this.fetchMessage(req.accountId, req.mailbox, req.uid);
  }

  /** The stored copy when the fetcher already has it, else a fresh fetch over IMAP. */
  async fetchMessage(accountId: string, mailbox: string, uid: number): Promise<ImapCommandResults[ImapCommandJobName.Get]> {
    const stored = await this.store.find(accountId, mailbox, uid);
    if (stored) return { message: stored };
    return this.run(ImapCommandJobName.Get, { accountId, mailbox, uid });
  }

  private async run<N extends CommandName>(name: N, payload: JobPayloadOf<QueueName.ImapCommands, N>): Promise<ImapCommandResults[N]> {
    const job = await this.queue.add(QueueName.ImapCommands, name, payload, {
      // A flag change or a fetch is safe to repeat; a client waits, so retries are few and quick.
      attempts: 2,
      backoff: { type: 'fixed', delay: 200 },
      // The return value is only a reference; finished jobs need not stay long.
      removeOnComplete: { age: 60 },
      removeOnFail: { age: 24 * 3600 },
    });
    let outcome: CommandJobOutcome;
    try {
      outcome = (await job.waitUntilFinished(this.events, this.timeoutMs)) as CommandJobOutcome;
    } catch (err) {
      const reason = (err as Error).message ?? '';
      // BullMQ's own wait timeout (the fetcher's failure reasons never start like this).
      if (reason.startsWith('Job wait ')) {
        this.logger.warn({ msg: 'imap command timed out', command: name, jobId: job.id, accountId: payload.accountId });
        throw new CommandError('internal', 'the mail server did not answer in time');
      }
      this.logger.warn({ msg: 'imap command failed', command: name, jobId: job.id, accountId: payload.accountId, reason });
      throw new CommandError('internal', 'the mail server command failed');
    }
    if (typeof outcome !== 'object' || outcome === null || !('ok' in outcome)) {
      // E.g. a fetcher of an older version still running during an upgrade.
      this.logger.error({ msg: 'imap command returned no CommandJobOutcome', command: name, jobId: job.id });
      throw new CommandError('internal', 'the mail server command failed');
    }
    if (!outcome.ok) throw new CommandError(outcome.code, 'no such message');
    // Read once and gone: the result (a whole message for message.get) does not stay in Redis.
    const json = await this.redis.client.getdel(redisKeys.commandResult(outcome.ref));
    if (json === null) {
      this.logger.warn({ msg: 'imap command result expired before it was read', command: name, jobId: job.id });
      throw new CommandError('internal', 'the mail server command failed');
    }
    return JSON.parse(json) as ImapCommandResults[N];
  }

  private async assertOwner(accountId: string, userId: string): Promise<void> {
    if (!(await this.accounts.isOwnedBy(accountId, userId))) throw forbidden();
  }
}
