import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { MailboxJobName, QueueName, jobSchemas } from '@pushmail/contracts';
import { HealthService } from '@pushmail/observability';
import { QueueService, TypedJob } from '@pushmail/queue';
import { FetcherEnv } from '../config';
import { InvalidJobError } from '../errors';
import { FetchResult, MailboxEventsService } from '../mailbox-events.service';
import { asJobFailure, valid } from './job-failures';

/** Consumes the watcher's mailbox jobs once the app is initialised; the logic lives in the service. */
@Injectable()
export class MailboxEventsProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(MailboxEventsProcessor.name);

  constructor(
    private readonly queue: QueueService,
    private readonly events: MailboxEventsService,
    private readonly health: HealthService,
    private readonly config: ConfigService<FetcherEnv>,
  ) {}

  onApplicationBootstrap(): void {
    const worker = this.queue.worker(QueueName.MailboxEvents, (job) => this.process(job), { concurrency: this.config.get('FETCH_CONCURRENCY') });
    this.health.register('mailbox-events-worker', () => ({ ok: worker.isRunning() }));
    worker.run().catch((err: unknown) => this.logger.error({ msg: 'mailbox events worker stopped', err }));
  }

  process(job: TypedJob<QueueName.MailboxEvents>): Promise<FetchResult> {
    return asJobFailure(() => this.dispatch(job));
  }

  private dispatch(job: TypedJob<QueueName.MailboxEvents>): Promise<FetchResult> {
    switch (job.name) {
      case MailboxJobName.Fetch:
        return this.events.fetchNew(valid(jobSchemas[QueueName.MailboxEvents][MailboxJobName.Fetch], job.data));
      case MailboxJobName.Flags:
        return this.events.flagsChanged(valid(jobSchemas[QueueName.MailboxEvents][MailboxJobName.Flags], job.data), String(job.id));
      case MailboxJobName.Deleted:
        return this.events.deleted(valid(jobSchemas[QueueName.MailboxEvents][MailboxJobName.Deleted], job.data));
      case MailboxJobName.Reset:
        return this.events.reset(valid(jobSchemas[QueueName.MailboxEvents][MailboxJobName.Reset], job.data));
      case MailboxJobName.MailboxesChanged:
        return this.events.mailboxesChanged(valid(jobSchemas[QueueName.MailboxEvents][MailboxJobName.MailboxesChanged], job.data));
      default:
        throw new InvalidJobError(`unknown mailbox job ${String((job as { name: unknown }).name)}`);
    }
  }
}
