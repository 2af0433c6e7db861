import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import {
  COMMAND_RESULT_TTL_SECONDS,
  CommandJobOutcome,
  CommandReply,
  CommandReplyToSchema,
  ImapCommandJobName,
  ImapCommandResults,
  QueueName,
  jobSchemas,
  redisChannels,
  redisKeys,
} from '@pushmail/contracts';
import { HealthService } from '@pushmail/observability';
import { QueueService, TypedJob } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import { randomBytes } from 'node:crypto';
import { FetcherEnv } from '../config';
import { ImapCommandsService } from '../imap-commands.service';
import { MailboxCommandsService } from '../mailbox-commands.service';
import { InvalidJobError, MailboxNotFoundError, MessageNotFoundError, PermanentJobError } from '../errors';
import { asJobFailure, valid } from './job-failures';

/**
 * Larger results go by reference even when the job names a reply channel: a pub/sub message sits
 * whole in Redis' output buffer for the subscriber, and one over Redis' pubsub limit (32 MB hard,
 * 8 MB for 60 s by default) drops the gateway's reply connection with every answer in flight.
 * A page of 200 summaries is about 80 KB. Counted in UTF-16 units (at most 3 UTF-8 bytes each).
 */
const INLINE_REPLY_MAX_CHARS = 256 * 1024;

/**
 * Consumes the gateway's IMAP commands. A job that names the gateway's reply channel (`replyTo`)
 * gets its answer published there as soon as the IMAP work is done ({@link CommandReply}): one
 * hop, where the reference below costs a SET, BullMQ's completion, the gateway's wake-up on the
 * events stream and its GETDEL. A job without one (a gateway of an older version during an
 * upgrade) gets the result under a one-time key and returns only its reference
 * ({@link CommandJobOutcome}). Either way BullMQ keeps a job's return value in the job hash and in
 * the queue's events stream, where a message body must not end up, so no result is returned.
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
    // Read before the payload is validated: a job failing validation still answers its gateway.
    const replyTo = CommandReplyToSchema.safeParse(job.data.replyTo);
    const channel = replyTo.success ? redisChannels.commandReplies(replyTo.data) : undefined;
    const id = String(job.id);
    return asJobFailure(async () => {
      let result: ImapCommandResults[ImapCommandJobName];
      try {
        result = await this.dispatch(job);
      } catch (err) {
        // An answer, not a failure: the gateway tells the client `not_found`, nothing is retried.
        if (err instanceof MessageNotFoundError || err instanceof MailboxNotFoundError) {
          if (channel) await this.reply(channel, { id, ok: false, code: 'not_found' });
          return { ok: false, code: 'not_found' };
        }
        // The last attempt failed: the gateway hears it now rather than at its timeout. The job
        // still fails in BullMQ with this error (kept for inspection, retried per its attempts).
        if (channel && isLastAttempt(job, err)) {
          await this.reply(channel, { id, ok: false, code: 'internal' }).catch((replyErr: unknown) =>
            this.logger.warn({ msg: 'could not publish a command failure', command: job.name, jobId: id, err: replyErr }),
          );
        }
        throw err;
      }
      const json = JSON.stringify(result);
      if (channel && json.length <= INLINE_REPLY_MAX_CHARS) {
        // The result spliced in as it was serialized (CommandReply with `result`), not encoded twice.
        await this.redis.client.publish(channel, `{"id":${JSON.stringify(id)},"ok":true,"result":${json}}`);
        return { ok: true, published: true };
      }
      const ref = randomBytes(16).toString('base64url');
      await this.redis.client.set(redisKeys.commandResult(ref), json, 'EX', COMMAND_RESULT_TTL_SECONDS);
      if (channel) await this.reply(channel, { id, ok: true, ref });
      return { ok: true, ref };
    });
  }

  private async reply(channel: string, reply: CommandReply): Promise<void> {
    await this.redis.client.publish(channel, JSON.stringify(reply));
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

/** Whether BullMQ will not run the job again after `err` (a permanent error, or no attempts left). */
function isLastAttempt(job: TypedJob<QueueName.ImapCommands>, err: unknown): boolean {
  return err instanceof PermanentJobError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
