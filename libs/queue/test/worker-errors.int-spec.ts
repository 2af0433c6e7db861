import { Logger } from '@nestjs/common';
import { MailboxJobName, QueueName, jobIds } from '@pushmail/contracts';
import { MetricsService } from '@pushmail/observability';
import { QueueService } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import { TestRedis, testQueues, waitFor } from '@pushmail/testing';

jest.setTimeout(30_000);

describe('a queue worker’s errors outside its jobs', () => {
  let redis: TestRedis;
  let service: RedisService;
  let queues: QueueService;
  let metrics: MetricsService;
  let close: () => Promise<void>;
  beforeAll(async () => {
    redis = await TestRedis.start();
    metrics = new MetricsService();
    ({ redis: service, queues, close } = testQueues(redis.url, metrics));
  });
  afterAll(async () => {
    await close?.();
    await redis?.dispose();
  });

  it('logs and counts a result lost with its lock, and the stalled check runs the job again', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const accountId = 'acc_lock';
    const jobId = jobIds.fetch(accountId, 'INBOX', 1, 7);
    await queues.add(QueueName.MailboxEvents, MailboxJobName.Fetch, { accountId, mailbox: 'INBOX', uidValidity: 1, uid: 7 }, { jobId });
    let runs = 0;
    const worker = queues.worker(
      QueueName.MailboxEvents,
      async () => {
        // What a stalled check does to a worker that was too slow: its lock is gone when it finishes.
        if (++runs === 1) await service.client.del(`${queues.queue(QueueName.MailboxEvents).toKey(jobId)}:lock`);
        return { outcome: 'appended' };
      },
      { stalledInterval: 500 },
    );
    void worker.run();
    await waitFor(() => runs >= 2, 15_000, 'the job taken again after its lock was lost');
    await waitFor(async () => (await queues.queue(QueueName.MailboxEvents).getJobState(jobId)) === 'completed', 10_000, 'the second run completed');

    const counted = (await metrics.registry.getSingleMetric('pushmail_queue_worker_errors_total')!.get()).values;
    expect(counted).toContainEqual(expect.objectContaining({ labels: { queue: QueueName.MailboxEvents, kind: 'worker' } }));
    const logged = warn.mock.calls.map(([line]) => line as { msg?: string; queue?: string; err?: Error }).filter((line) => line.msg === 'queue worker error');
    expect(logged.length).toBeGreaterThan(0);
    expect(logged[0]).toMatchObject({ queue: QueueName.MailboxEvents });
    expect(logged[0].err?.message).toMatch(/Missing lock for job/);
    warn.mockRestore();
  });
});
