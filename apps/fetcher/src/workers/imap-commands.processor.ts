import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { COMMAND_RESULT_TTL_SECONDS, CommandJobOutcome, ImapCommandJobName, ImapCommandResults, QueueName, jobSchemas, redisKeys } from '@pushmail/contracts';
import { HealthService } from '@pushmail/observability';
import { QueueService, TypedJob } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import { randomBytes } from 'node:crypto';
import { FetcherEnv } from '../config';
import { ImapCommandsService } from '../imap-commands.service';
import { MailboxCommandsService } from '../mailbox-commands.service';
import { InvalidJobError, MailboxNotFoundError, MessageNotFoundError } from '../errors';
import { asJobFailure, valid } from './job-failures';

/**
 * Consumes the gateway's IMAP commands. The result is left under a one-time key and the job
 * returns only its reference ({@link CommandJobOutcome}): BullMQ keeps a job's return value in the
 * job hash and in the queue's events stream, where a message body must not end up.
 */
@Injectable()
export class ImapCommandsProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(ImapCommandsProcessor.name);

  constructor(
    private readonly queue: QueueService,
    private readonly commands: ImapCommandsService,
    private readonly mailboxCommands: MailboxCommandsService,
    private readonly redis: RedisService,
    private readonly health: HealthService,
    private readonly config: ConfigService<FetcherEnv>,
  ) {}

  onApplicationBootstrap(): void {
    const worker = this.queue.worker(QueueName.ImapCommands, (job) => this.process(job), { concurrency: this.config.get('COMMAND_CONCURRENCY') });
    this.health.register('imap-commands-worker', () => ({ ok: worker.isRunning() }));
    worker.run().catch((err: unknown) => this.logger.error({ msg: 'imap commands worker stopped', err }));
  }

  process(job: TypedJob<QueueName.ImapCommands>): Promise<CommandJobOutcome> {
    return asJobFailure(async () => {
      let result: ImapCommandResults[ImapCommandJobName];
      try {
        result = await this.dispatch(job);
      } catch (err) {
        // An answer, not a failure: the gateway tells the client `not_found`, nothing is retried.
        if (err instanceof MessageNotFoundError || err instanceof MailboxNotFoundError) return { ok: false, code: 'not_found' };
        throw err;
      }
      const ref = randomBytes(16).toString('base64url');
      await this.redis.client.set(redisKeys.commandResult(ref), JSON.stringify(result), 'EX', COMMAND_RESULT_TTL_SECONDS);
      return { ok: true, ref };
    });
  }

  private dispatch(job: TypedJob<QueueName.ImapCommands>): Promise<ImapCommandResults[ImapCommandJobName]> {
    switch (job.name) {
      case ImapCommandJobName.Flag:
        return this.commands.flag(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.Flag], job.data));
      case ImapCommandJobName.Get:
        return this.commands.get(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.Get], job.data));
      case ImapCommandJobName.MailboxList:
        return this.mailboxCommands.mailboxes(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.MailboxList], job.data));
      case ImapCommandJobName.MessageList:
        return this.mailboxCommands.list(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.MessageList], job.data));
      case ImapCommandJobName.MessageSearch:
        return this.mailboxCommands.search(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.MessageSearch], job.data));
      case ImapCommandJobName.MessageMove:
        return this.mailboxCommands.move(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.MessageMove], job.data));
      case ImapCommandJobName.MessageDelete:
        return this.mailboxCommands.delete(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.MessageDelete], job.data));
      default:
        throw new InvalidJobError(`unknown imap command ${String((job as { name: unknown }).name)}`);
    }
  }
}
