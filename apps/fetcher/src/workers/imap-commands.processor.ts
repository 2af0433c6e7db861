import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import {
  COMMAND_RESULT_TTL_SECONDS,
  CommandJobOutcome,
  CommandReply,
  CommandReplyToSchema,
  FastCommandPageTicket,
  FastCommandRequestSchema,
  ImapCommandJobName,
  ImapCommandResults,
  QueueName,
  redisChannels,
  redisKeys,
} from '@pushmail/contracts';
import { HealthService } from '@pushmail/observability';
import { FirstPageCache } from '@pushmail/page-cache';
import { JobHandlerTable, QueueService, TypedJob } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import { randomBytes } from 'node:crypto';
import { WorkerSettings } from '../settings';
import { ImapCommandsService } from '../imap-commands.service';
import { MailboxCommandsService } from '../mailbox-commands.service';
import { MailboxNotFoundError, MessageNotFoundError } from '../errors';
import { asJobFailure, isPermanent } from './job-failures';

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
export class ImapCommandsProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ImapCommandsProcessor.name);
  private closing = false;
  private fastConnection?: ReturnType<RedisService['open']>;
  private fastLoop?: Promise<void>;
  private readonly fastRunning = new Set<Promise<void>>();
  /** Built with the processor, so an incomplete table stops the fetcher at start-up. */
  private readonly handlers = new JobHandlerTable<QueueName.ImapCommands, ImapCommandResults[ImapCommandJobName]>(QueueName.ImapCommands, {
    [ImapCommandJobName.Flag]: (data) => this.commands.flag(data),
    [ImapCommandJobName.Get]: (data) => this.commands.get(data),
    [ImapCommandJobName.MailboxList]: (data) => this.mailboxCommands.mailboxes(data),
    [ImapCommandJobName.MessageList]: (data) => this.mailboxCommands.list(data),
    [ImapCommandJobName.MessageSearch]: (data) => this.mailboxCommands.search(data),
    [ImapCommandJobName.MessageMove]: (data) => this.mailboxCommands.move(data),
    [ImapCommandJobName.MessageDelete]: (data) => this.mailboxCommands.delete(data),
  });

  constructor(
    private readonly queue: QueueService,
    private readonly commands: ImapCommandsService,
    private readonly mailboxCommands: MailboxCommandsService,
    private readonly redis: RedisService,
    private readonly health: HealthService,
    private readonly settings: WorkerSettings,
    private readonly pages: FirstPageCache,
  ) {}

  onApplicationBootstrap(): void {
    // As for mailbox jobs (see WorkerSettings): a command held by a fetcher that dies is run by
    // another within about 1.5 × FETCH_JOB_LOCK_MS, often still inside its gateway's wait.
    const worker = this.queue.worker(QueueName.ImapCommands, (job) => this.process(job), { concurrency: this.settings.commandConcurrency, ...this.settings.jobLock });
    this.health.register('imap-commands-worker', () => ({ ok: worker.isRunning() }));
    worker.run().catch((err: unknown) => this.logger.error({ msg: 'imap commands worker stopped', err }));
    // A blocking connection of its own: BRPOP holds it while no request waits.
    this.fastConnection = this.redis.open({ connectionName: 'fast-commands', maxRetriesPerRequest: null });
    this.fastLoop = this.consumeFast(this.fastConnection, this.settings.commandConcurrency);
    this.health.register('fast-commands', () => ({ ok: !this.closing && this.fastConnection?.status === 'ready' }));
  }

  /** Stops taking read-only requests and lets the running ones answer (before the pool closes). */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    this.fastConnection?.disconnect();
    await this.fastLoop;
    await Promise.allSettled([...this.fastRunning]);
  }

  /**
   * Takes the read-only commands gateways push onto `redisKeys.commandRequests` (see
   * FAST_COMMANDS in contracts), at most `slots` at once, and answers each on its gateway's reply
   * channel.
   */
  private async consumeFast(connection: NonNullable<typeof this.fastConnection>, slots: number): Promise<void> {
    let freed: (() => void) | undefined;
    while (!this.closing) {
      if (this.fastRunning.size >= slots) {
        await new Promise<void>((resolve) => (freed = resolve));
        continue;
      }
      let popped: [string, string] | null;
      try {
        // The timeout only bounds how long a shutdown waits for this call.
        popped = await connection.brpop(redisKeys.commandRequests, 5);
      } catch (err) {
        // Closed for good: this app is shutting down (RedisService may close it before our hook runs).
        if (this.closing || connection.status === 'end') break;
        this.logger.warn({ msg: 'reading fast commands failed', err });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (!popped) continue;
      const running: Promise<void> = this.runFast(popped[1]).finally(() => {
        this.fastRunning.delete(running);
        freed?.();
        freed = undefined;
      });
      this.fastRunning.add(running);
    }
  }

  /**
   * One read-only command: run as a job with `attempts: 2` would be (a second try after 200 ms
   * unless the failure is permanent), then answered on the reply channel. Nothing to rethrow to:
   * a failure is logged here and answered `internal`.
   */
  private async runFast(raw: string): Promise<void> {
    let request: ReturnType<typeof FastCommandRequestSchema.parse>;
    try {
      request = FastCommandRequestSchema.parse(JSON.parse(raw));
    } catch (err) {
      this.logger.warn({ msg: 'dropped a malformed fast command', err: (err as Error).message });
      return;
    }
    const { id, name, payload } = request;
    const channel = redisChannels.commandReplies(request.replyTo);
    for (let attempt = 1; ; attempt++) {
      // The gateway gave up on it (COMMAND_TIMEOUT_MS): nobody would read the answer.
      if (Date.now() > request.deadline) return;
      try {
        const result = await this.dispatch(name, payload);
        await this.publishResult(channel, id, result, request.page && Date.now() <= request.deadline ? { accountId: accountOf(payload)!, ticket: request.page } : undefined);
        return;
      } catch (err) {
        if (err instanceof MessageNotFoundError || err instanceof MailboxNotFoundError) {
          await this.reply(channel, { id, ok: false, code: 'not_found' }).catch((replyErr: unknown) => this.logger.warn({ msg: 'could not publish a command answer', command: name, id, err: replyErr }));
          return;
        }
        if (attempt < 2 && !isPermanent(err)) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          continue;
        }
        this.logger.warn({ msg: 'fast command failed', command: name, id, accountId: accountOf(payload), err });
        await this.reply(channel, { id, ok: false, code: 'internal' }).catch((replyErr: unknown) => this.logger.warn({ msg: 'could not publish a command failure', command: name, id, err: replyErr }));
        return;
      }
    }
  }

  process(job: TypedJob<QueueName.ImapCommands>): Promise<CommandJobOutcome> {
    // Read before the payload is validated: a job failing validation still answers its gateway.
    const replyTo = CommandReplyToSchema.safeParse(job.data.replyTo);
    const channel = replyTo.success ? redisChannels.commandReplies(replyTo.data) : undefined;
    const id = String(job.id);
    return asJobFailure(async () => {
      let result: ImapCommandResults[ImapCommandJobName];
      try {
        result = await this.dispatch(job.name, job.data);
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
      if (channel) return this.publishResult(channel, id, result);
      return { ok: true, ref: await this.storeResult(JSON.stringify(result)) };
    });
  }

  /**
   * Inline when it fits a pub/sub message, else by reference. With `cache` (a first page the
   * gateway may serve again, see FirstPageCache) the page is stored beside the answer, in the same
   * round trip; a page that cannot be stored is only a slower next list, so that failure is logged
   * and the answer still goes.
   */
  private async publishResult(
    channel: string,
    id: string,
    result: ImapCommandResults[ImapCommandJobName],
    cache?: { accountId: string; ticket: FastCommandPageTicket },
  ): Promise<CommandJobOutcome> {
    const json = JSON.stringify(result);
    if (json.length <= INLINE_REPLY_MAX_CHARS) {
      await Promise.all([
        // The result spliced in as it was serialized (CommandReply with `result`), not encoded twice.
        this.redis.client.publish(channel, `{"id":${JSON.stringify(id)},"ok":true,"result":${json}}`),
        cache && this.pages.fill(cache.accountId, cache.ticket, json).catch((err: unknown) => this.logger.warn({ msg: 'could not cache a first page', accountId: cache.accountId, err })),
      ]);
      return { ok: true, published: true };
    }
    const ref = await this.storeResult(json);
    await this.reply(channel, { id, ok: true, ref });
    return { ok: true, ref };
  }

  private async storeResult(json: string): Promise<string> {
    const ref = randomBytes(16).toString('base64url');
    await this.redis.client.set(redisKeys.commandResult(ref), json, 'EX', COMMAND_RESULT_TTL_SECONDS);
    return ref;
  }

  private async reply(channel: string, reply: CommandReply): Promise<void> {
    await this.redis.client.publish(channel, JSON.stringify(reply));
  }

  /**
   * Validates the payload against its command's contract (InvalidJobError otherwise) and runs the
   * command; one that may have changed mail (flag, move, delete; also when it failed half
   * way) drops the account's cached first pages before it answers, so a list after the answer
   * asks the server.
   */
  private async dispatch(name: ImapCommandJobName, data: unknown): Promise<ImapCommandResults[ImapCommandJobName]> {
    if (!CHANGES_MAIL.has(name)) return this.handlers.run(name, data, undefined);
    try {
      return await this.handlers.run(name, data, undefined);
    } finally {
      const accountId = accountOf(data);
      if (accountId) await this.pages.invalidate(accountId);
    }
  }
}

const CHANGES_MAIL: ReadonlySet<ImapCommandJobName> = new Set([ImapCommandJobName.Flag, ImapCommandJobName.MessageMove, ImapCommandJobName.MessageDelete]);

/** The account a payload names, when it names one (validated payloads always do). */
function accountOf(payload: unknown): string | undefined {
  const accountId = (payload as { accountId?: unknown } | null)?.accountId;
  return typeof accountId === 'string' ? accountId : undefined;
}

/** Whether BullMQ will not run the job again after `err` (a permanent error, or no attempts left). */
function isLastAttempt(job: TypedJob<QueueName.ImapCommands>, err: unknown): boolean {
  return isPermanent(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
