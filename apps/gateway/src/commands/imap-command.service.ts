import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import {
  ImapCommandJobName,
  ImapCommandResults,
  JobPayloadOf,
  MessageFlagRequest,
  MessageGetRequest,
  QueueName,
} from '@pushmail/contracts';
import { ConfigService } from '@pushmail/config';
import { QueueService } from '@pushmail/queue';
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
      removeOnComplete: { age: 300 },
      removeOnFail: { age: 24 * 3600 },
    });
    try {
      return (await job.waitUntilFinished(this.events, this.timeoutMs)) as ImapCommandResults[N];
    } catch (err) {
      const reason = (err as Error).message ?? '';
      // BullMQ's own wait timeout (the fetcher's failure reasons never start like this).
      if (reason.startsWith('Job wait ')) {
        this.logger.warn({ msg: 'imap command timed out', command: name, jobId: job.id, accountId: payload.accountId });
        throw new CommandError('internal', 'the mail server did not answer in time');
      }
      if (/not.?found|no such message|does not exist|nonexistent/i.test(reason)) throw new CommandError('not_found', 'no such message');
      this.logger.warn({ msg: 'imap command failed', command: name, jobId: job.id, accountId: payload.accountId, reason });
      throw new CommandError('internal', 'the mail server command failed');
    }
  }

  private async assertOwner(accountId: string, userId: string): Promise<void> {
    if (!(await this.accounts.isOwnedBy(accountId, userId))) throw forbidden();
  }
}
