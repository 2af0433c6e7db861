import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { ImapCommandJobName, ImapCommandResults, QueueName, jobSchemas } from '@pushmail/contracts';
import { HealthService } from '@pushmail/observability';
import { QueueService, TypedJob } from '@pushmail/queue';
import { FetcherEnv } from '../config';
import { ImapCommandsService } from '../imap-commands.service';
import { InvalidJobError } from '../errors';
import { asJobFailure, valid } from './job-failures';

/** Consumes the gateway's IMAP commands; the job's return value is the gateway's answer. */
@Injectable()
export class ImapCommandsProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(ImapCommandsProcessor.name);

  constructor(
    private readonly queue: QueueService,
    private readonly commands: ImapCommandsService,
    private readonly health: HealthService,
    private readonly config: ConfigService<FetcherEnv>,
  ) {}

  onApplicationBootstrap(): void {
    const worker = this.queue.worker(QueueName.ImapCommands, (job) => this.process(job), { concurrency: this.config.get('COMMAND_CONCURRENCY') });
    this.health.register('imap-commands-worker', () => ({ ok: worker.isRunning() }));
    worker.run().catch((err: unknown) => this.logger.error({ msg: 'imap commands worker stopped', err }));
  }

  process(job: TypedJob<QueueName.ImapCommands>): Promise<ImapCommandResults[ImapCommandJobName]> {
    return asJobFailure(() => this.dispatch(job));
  }

  private dispatch(job: TypedJob<QueueName.ImapCommands>): Promise<ImapCommandResults[ImapCommandJobName]> {
    switch (job.name) {
      case ImapCommandJobName.Flag:
        return this.commands.flag(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.Flag], job.data));
      case ImapCommandJobName.Get:
        return this.commands.get(valid(jobSchemas[QueueName.ImapCommands][ImapCommandJobName.Get], job.data));
      default:
        throw new InvalidJobError(`unknown imap command ${String((job as { name: unknown }).name)}`);
    }
  }
}
