import { JobPayloadOf, MailboxJobName, QueueName, jobIds, redisKeys } from '@pushmail/contracts';
import { TestRedis, testQueues, waitFor } from '@pushmail/testing';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CLI, runCli } from './support/cli';

jest.setTimeout(60_000);

type FetchJob = JobPayloadOf<QueueName.MailboxEvents, MailboxJobName.Fetch>;
const fetchJob = (accountId: string, uid: number): FetchJob => ({ accountId, mailbox: 'INBOX', uidValidity: 1, uid });

/** Adds the jobs with one attempt each and lets a worker fail them all. */
async function failAll(redisUrl: string, jobs: FetchJob[]): Promise<void> {
  const { queues, close } = testQueues(redisUrl);
  try {
    const q = queues.queue(QueueName.MailboxEvents);
    const before = await q.getFailedCount();
    for (let i = 0; i < jobs.length; i += 500) {
      await queues.addBulk(
        QueueName.MailboxEvents,
        jobs.slice(i, i + 500).map((data) => ({ name: MailboxJobName.Fetch, data, opts: { jobId: jobIds.fetch(data.accountId, data.mailbox, data.uidValidity, data.uid), attempts: 1 } })),
      );
    }
    const worker = queues.worker(
      QueueName.MailboxEvents,
      async () => {
        throw new Error('the mail server is out of reach');
      },
      { concurrency: 100 },
    );
    void worker.run();
    await waitFor(async () => (await q.getFailedCount()) === before + jobs.length, 30_000, `${jobs.length} jobs failed`);
  } finally {
    await close();
  }
}

/** How many of the mailbox jobs are in each state, and what the requeuing hash holds. */
async function counts(redis: TestRedis): Promise<{ waiting: number; failed: number; requeuing: number }> {
  const { queues, close } = testQueues(redis.url);
  const client = redis.client();
  try {
    const q = queues.queue(QueueName.MailboxEvents);
    return { waiting: await q.getWaitingCount(), failed: await q.getFailedCount(), requeuing: await client.hlen(redisKeys.requeuing(QueueName.MailboxEvents)) };
  } finally {
    client.disconnect();
    await close();
  }
}

describe('requeue-failed-mail: mailbox jobs that failed for good, pushed after all', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.dispose());
  beforeEach(async () => {
    const client = redis.client();
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  });
  const env = () => ({ REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: randomBytes(32).toString('base64') });

  it('puts them back with fresh attempts and without the stalled-limit mark, and they run', async () => {
    const ids = [1, 2].map((uid) => jobIds.fetch('acc_requeue', 'INBOX', 1, uid));
    // Two jobs that fail for good: one out of attempts, one marked as stalled too often.
    const first = testQueues(redis.url);
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

    const result = await runCli(['requeue-failed-mail'], env());
    expect({ code: result.code, json: result.json, stderr: result.stderr }).toEqual({ code: 0, json: { command: 'requeue-failed-mail', requeued: 2 }, stderr: '' });

    const second = testQueues(redis.url);
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
    expect((await runCli(['requeue-failed-mail'], env())).json).toEqual({ command: 'requeue-failed-mail', requeued: 0 });
  });

  it('finishes what an interrupted run left: a job removed and not added again, and one added but not yet ticked off', async () => {
    const [gone, readded] = [fetchJob('acc_left', 1), fetchJob('acc_left', 2)];
    const idOf = (job: FetchJob) => jobIds.fetch(job.accountId, job.mailbox, job.uidValidity, job.uid);
    const { queues, close } = testQueues(redis.url);
    const client = redis.client();
    try {
      await queues.add(QueueName.MailboxEvents, MailboxJobName.Fetch, readded, { jobId: idOf(readded) });
      for (const job of [gone, readded]) await client.hset(redisKeys.requeuing(QueueName.MailboxEvents), idOf(job), JSON.stringify({ name: MailboxJobName.Fetch, data: job }));
    } finally {
      client.disconnect();
      await close();
    }
    const result = await runCli(['requeue-failed-mail'], env());
    expect({ code: result.code, json: result.json }).toEqual({ code: 0, json: { command: 'requeue-failed-mail', requeued: 2 } });
    expect(await counts(redis)).toEqual({ waiting: 2, failed: 0, requeuing: 0 });
  });

  it('a run killed midway loses no job: the next run requeues the rest', async () => {
    const total = 3000;
    await failAll(redis.url, Array.from({ length: total }, (_v, i) => fetchJob(`acc_kill${i % 7}`, i + 1)));
    // Killed (SIGKILL, no chance to tidy up) once it has requeued some and not all.
    const kill = new AbortController();
    const killed = runCli(['requeue-failed-mail'], env(), kill.signal);
    const { queues, close } = testQueues(redis.url);
    try {
      const q = queues.queue(QueueName.MailboxEvents);
      await waitFor(async () => (await q.getWaitingCount()) >= 200, 30_000, 'the first run requeued some');
      kill.abort();
      expect((await killed).code).toBeNull();
    } finally {
      await close();
    }
    const left = await counts(redis);
    expect(left.failed).toBeGreaterThan(0);

    const result = await runCli(['requeue-failed-mail'], env());
    expect(result.code).toBe(0);
    expect(await counts(redis)).toEqual({ waiting: total, failed: 0, requeuing: 0 });
  });

  it('leaves a job whose data no longer matches its schema where it is, and says so (exit 2)', async () => {
    await failAll(redis.url, [fetchJob('acc_mixed', 1)]);
    const { queues, close } = testQueues(redis.url);
    try {
      // Written by an older release, say: uid 0 is no UID. The processor would refuse it too.
      const q = queues.queue(QueueName.MailboxEvents);
      await q.add(MailboxJobName.Fetch, { ...fetchJob('acc_mixed', 2), uid: 0 }, { jobId: 'bad-uid', attempts: 1 });
      const worker = queues.worker(QueueName.MailboxEvents, async () => {
        throw new Error('not valid');
      });
      void worker.run();
      await waitFor(async () => (await q.getFailedCount()) === 2, 10_000, 'the bad job failed');
    } finally {
      await close();
    }
    const result = await runCli(['requeue-failed-mail'], env());
    expect({ code: result.code, json: result.json }).toEqual({ code: 2, json: { command: 'requeue-failed-mail', requeued: 1, unreadable: 1 } });
    expect(await counts(redis)).toEqual({ waiting: 1, failed: 1, requeuing: 0 });
  });
});
