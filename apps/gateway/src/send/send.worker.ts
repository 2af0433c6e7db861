import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { ConfigService } from '@pushmail/config';
import { QueueName } from '@pushmail/contracts';
import { SmtpMailer } from '@pushmail/mailer';
import { QueueService } from '@pushmail/queue';
import { GatewayEnv } from '../config';
import { SendDeliveryService } from './send-delivery.service';

/** The send queue's consumer; starts only once the app is fully initialised. */
@Injectable()
export class SendWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger(SendWorker.name);

  constructor(
    private readonly queue: QueueService,
    private readonly delivery: SendDeliveryService,
    private readonly config: ConfigService<GatewayEnv>,
    private readonly accounts: AccountRepository,
    private readonly mailer: SmtpMailer,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // A changed or deleted account must not keep sending through its old SMTP pool.
    await this.accounts.onChange((notice) => {
      if (notice.change !== 'created') this.mailer.forget(notice.accountId);
    });
    const worker = this.queue.worker(
      QueueName.Send,
      (job) => this.delivery.deliver(job.data, { attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1 }),
      { concurrency: this.config.get('SEND_CONCURRENCY') },
    );
    worker.run().catch((err: unknown) => this.logger.error({ msg: 'send worker stopped', err }));
  }
}
