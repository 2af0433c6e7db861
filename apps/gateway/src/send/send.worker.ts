import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { QueueName, SendJob, SendJobName, ServerEvent } from '@pushmail/contracts';
import { SmtpMailer } from '@pushmail/mailer';
import { JobHandlerTable, QueueService, TypedJob } from '@pushmail/queue';
import { UnrecoverableError } from 'bullmq';
import { SendSettings } from '../settings';
import { SocketEmitter } from '../socket/socket-emitter';
import { SendDeliveryService } from './send-delivery.service';
import { SendStore } from './send.store';

/** The send queue's consumer; starts only once the app is fully initialised. */
@Injectable()
export class SendWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger(SendWorker.name);
  /**
   * Built with the worker, so an incomplete table stops the gateway at start-up. A payload the
   * contract refuses fails for good (InvalidJobError): it will not get better by retrying.
   */
  private readonly handlers = new JobHandlerTable<QueueName.Send, { messageId: string } | undefined, TypedJob<QueueName.Send>>(QueueName.Send, {
    [SendJobName.Send]: (data, job) => this.send(data, job),
  });

  constructor(
    private readonly queue: QueueService,
    private readonly delivery: SendDeliveryService,
    private readonly store: SendStore,
    private readonly emitter: SocketEmitter,
    private readonly settings: SendSettings,
    private readonly accounts: AccountRepository,
    private readonly mailer: SmtpMailer,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // A changed or deleted account must not keep sending through its old SMTP pool.
    await this.accounts.onChange((notice) => {
      if (notice.change !== 'created') this.mailer.forget(notice.accountId);
    });
    const worker = this.queue.worker(QueueName.Send, (job) => this.process(job), { concurrency: this.settings.concurrency });
    worker.run().catch((err: unknown) => this.logger.error({ msg: 'send worker stopped', err }));
  }

  process(job: TypedJob<QueueName.Send>): Promise<{ messageId: string } | undefined> {
    return this.handlers.run(job.name, job.data, job);
  }

  private async send(data: SendJob, job: TypedJob<QueueName.Send>): Promise<{ messageId: string } | undefined> {
    const attempt = { attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1 };
    try {
      return await this.delivery.deliver(data, attempt);
    } catch (err) {
      if (err instanceof UnrecoverableError || attempt.attempt >= attempt.maxAttempts) {
        // The job ends here: whatever it still holds in Redis is dropped, so it stops counting
        // against the user's send budget. The job still fails with its own error.
        await this.abandon(data, err).catch((cleanupErr: unknown) =>
          this.logger.error({ msg: 'could not drop the payload of an ended send job; its budget share lapses with the record', sendId: data.sendId, err: cleanupErr }),
        );
      }
      throw err;
    }
  }

  private async abandon(data: SendJob, err: unknown): Promise<void> {
    if (!(await this.store.abandon(data.sendId))) return; // already done or failed, and the client told
    this.logger.error({ msg: 'send job ended without an outcome; marked failed', sendId: data.sendId, err });
    this.emitter.toAccount(data.accountId, ServerEvent.MessageSendFailed, {
      sendId: data.sendId,
      accountId: data.accountId,
      error: { code: 'internal', message: 'the message could not be sent' },
    });
  }
}
