import { BaseEnv, ConfigService } from '@pushmail/config';
import { MailboxJobName, QueueName, jobIds } from '@pushmail/contracts';
import { HealthService, MetricsService } from '@pushmail/observability';
import { QueueService } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import { TestRedis, waitFor } from '@pushmail/testing';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CLI, runCli } from './support/cli';

jest.setTimeout(60_000);

/** A QueueService of its own, closed by the caller (so that no worker outlives its step). */
function queueService(redisUrl: string): { queues: QueueService; close: () => Promise<void> } {
  const config = new ConfigService<BaseEnv>({ LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: 1000, REDIS_URL: redisUrl });
  const redis = new RedisService(config, new HealthService());
  const queues = new QueueService(redis, new MetricsService(), config);
  return {
    queues,
    close: async () => {
      await queues.onModuleDestroy();
      await redis.onModuleDestroy();
    },
  };
}

describe('requeue-failed-mail: mailbox jobs that failed for good, pushed after all', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.dispose());

  it('puts them back with fresh attempts and without the stalled-limit mark, and they run', async () => {
    const ids = [1, 2].map((uid) => jobIds.fetch('acc_requeue', 'INBOX', 1, uid));
    // Two jobs that fail for good: one out of attempts, one marked as stalled too often.
    const first = queueService(redis.url);
    try {
      for (const [i, jobId] of ids.entries()) {
        await first.queues.add(QueueName.MailboxEvents, MailboxJobName.Fetch, { accountId: 'acc_requeue', mailbox: 'INBOX', uidValidity: 1, uid: i + 1 }, { jobId, attempts: 1 });
      }
      const worker = first.queues.worker(QueueName.MailboxEvents, async () => {
        throw new Error('the mail server is out of reach');
      });
      void worker.run();
      const q = first.queues.queue(QueueName.MailboxEvents);
      await waitFor(async () => (await q.getFailedCount()) === 2, 10_000, 'both jobs failed');
      // What BullMQ's stalled check writes past the limit; its own retryJobs would keep it.
      const client = redis.client();
      try {
        await client.hset(q.toKey(ids[1]), 'defa', 'job stalled more than allowable limit');
      } finally {
        client.disconnect();
      }
    } finally {
      await first.close();
    }

    const env = { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: randomBytes(32).toString('base64') };
    const result = await runCli(['requeue-failed-mail'], env);
    expect({ code: result.code, json: result.json, stderr: result.stderr }).toEqual({ code: 0, json: { command: 'requeue-failed-mail', requeued: 2 }, stderr: '' });

    const second = queueService(redis.url);
    try {
      const q = second.queues.queue(QueueName.MailboxEvents);
      for (const jobId of ids) {
        const job = await q.getJob(jobId);
        expect({ state: await q.getJobState(jobId), attemptsMade: job?.attemptsMade, deferredFailure: job?.deferredFailure, attempts: job?.opts.attempts }).toEqual({
          state: 'waiting',
          attemptsMade: 0,
          deferredFailure: undefined,
          attempts: 370,
        });
      }
      const ran: string[] = [];
      const worker = second.queues.worker(QueueName.MailboxEvents, async (job) => {
        ran.push(String(job.id));
        return { outcome: 'appended' };
      });
      void worker.run();
      await waitFor(async () => (await q.getCompletedCount()) === 2, 10_000, 'both jobs completed');
      expect(ran.sort()).toEqual([...ids].sort());
    } finally {
      await second.close();
    }

    // Nothing failed is left: a second run finds nothing.
    expect((await runCli(['requeue-failed-mail'], env)).json).toEqual({ command: 'requeue-failed-mail', requeued: 0 });
  });
});
