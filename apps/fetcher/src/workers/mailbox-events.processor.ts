import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { MailboxJobName, QueueName } from '@pushmail/contracts';
import { HealthService } from '@pushmail/observability';
import { JobHandlerTable, QueueService, TypedJob } from '@pushmail/queue';
import { WorkerSettings } from '../settings';
import { FetchResult, MailboxEventsService } from '../mailbox-events.service';
import { asJobFailure } from './job-failures';

/** Consumes the watcher's mailbox jobs once the app is initialised; the logic lives in the service. */
@Injectable()
export class MailboxEventsProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(MailboxEventsProcessor.name);
  /** Built with the processor, so an incomplete table stops the fetcher at start-up. */
  private readonly handlers = new JobHandlerTable<QueueName.MailboxEvents, FetchResult, TypedJob<QueueName.MailboxEvents>>(QueueName.MailboxEvents, {
    [MailboxJobName.Fetch]: (data) => this.events.fetchNew(data),
    [MailboxJobName.Flags]: (data, job) => this.events.flagsChanged(data, String(job.id)),
    [MailboxJobName.Deleted]: (data) => this.events.deleted(data),
    [MailboxJobName.Reset]: (data) => this.events.reset(data),
    [MailboxJobName.MailboxesChanged]: (data) => this.events.mailboxesChanged(data),
  });

  constructor(
    private readonly queue: QueueService,
    private readonly events: MailboxEventsService,
    private readonly health: HealthService,
    private readonly settings: WorkerSettings,
  ) {}

  onApplicationBootstrap(): void {
    // A dead fetcher's jobs move on within about 1.5 × FETCH_JOB_LOCK_MS (see WorkerSettings).
    const worker = this.queue.worker(QueueName.MailboxEvents, (job) => this.process(job), { concurrency: this.settings.fetchConcurrency, ...this.settings.jobLock });
    this.health.register('mailbox-events-worker', () => ({ ok: worker.isRunning() }));
    worker.run().catch((err: unknown) => this.logger.error({ msg: 'mailbox events worker stopped', err }));
  }

  process(job: TypedJob<QueueName.MailboxEvents>): Promise<FetchResult> {
    return asJobFailure(() => this.handlers.run(job.name, job.data, job));
  }
}
