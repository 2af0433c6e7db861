import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { BULL_PREFIX, MailboxJobName, QueueName, jobIds } from '@pushmail/contracts';
import { QueueService } from '@pushmail/queue';
import { TestRedis, testQueues, waitFor } from '@pushmail/testing';

jest.setTimeout(60_000);

/** The stall limit QueueService gives mailbox jobs (its MAX_STALLS), stated here so a change to it shows. */
const MAILBOX_MAX_STALLS = 5;

/**
 * A worker in its own process that takes one job and never finishes it, to be killed with
 * SIGKILL as a crashed or OOM-killed fetcher is: its job stays active until its lock lapses (1 s
 * here) and a stalled check (every 300 ms here) gives it back. Its own stalled checks use the
 * fetcher's limit, as a fetcher's would.
 */
async function workerThatDies(redisUrl: string, queue: string): Promise<ChildProcess> {
  const script = `
    const { Worker } = require('bullmq');
    const Redis = require('ioredis');
    const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(process.env.QUEUE, async (job) => {
      process.stdout.write('took ' + job.id + '\\n');
      await new Promise(() => undefined);
    }, { connection, prefix: process.env.PREFIX, lockDuration: 1000, stalledInterval: 300, maxStalledCount: ${MAILBOX_MAX_STALLS} });
    worker.on('error', () => undefined);
  `;
  const child = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), env: { ...process.env, REDIS_URL: redisUrl, QUEUE: queue, PREFIX: BULL_PREFIX }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = once(child, 'exit');
  try {
    await waitFor(() => out.includes('took '), 20_000, 'the short-lived worker took the job');
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  return child;
}

describe('mailbox jobs that fail or whose worker dies', () => {
  let redis: TestRedis;
  let queues: QueueService;
  let close: () => Promise<void>;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  // Per test, so that no worker of an earlier test takes this test's job.
  beforeEach(async () => {
    ({ queues, close } = testQueues(redis.url));
  });
  afterEach(async () => {
    await close?.();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  /** A fetch job held by `deaths` workers in a row that died, then given to a QueueService worker: how it ended. */
  async function afterDeaths(uid: number, deaths: number): Promise<{ jobId: string; ran: string[]; state: string; failedReason?: string }> {
    const accountId = `acc_stalled${uid}`;
    const jobId = jobIds.fetch(accountId, 'INBOX', 1, uid);
    await queues.add(QueueName.MailboxEvents, MailboxJobName.Fetch, { accountId, mailbox: 'INBOX', uidValidity: 1, uid }, { jobId });
    // Each worker after the first takes the job back from the one before (a stall) and dies too.
    for (let i = 0; i < deaths; i++) await workerThatDies(redis.url, QueueName.MailboxEvents);
    const ran: string[] = [];
    const worker = queues.worker(QueueName.MailboxEvents, async (job) => {
      ran.push(String(job.id));
      return { outcome: 'appended' };
    }, { stalledInterval: 300 });
    void worker.run();
    const q = queues.queue(QueueName.MailboxEvents);
    await waitFor(async () => ['completed', 'failed'].includes(await q.getJobState(jobId)), 20_000, 'the job finished');
    return { jobId, ran, state: await q.getJobState(jobId), failedReason: (await q.getJob(jobId))?.failedReason };
  }

  it('are still run after two workers in a row were killed while holding one (BullMQ alone fails it after one)', async () => {
    const { jobId, ran, state, failedReason } = await afterDeaths(9, 2);
    expect({ state, failedReason }).toEqual({ state: 'completed', failedReason: undefined });
    expect(ran).toEqual([jobId]);
  });

  it('fail for good once stalled more than the limit: a job that kills every fetcher taking it stops', async () => {
    const { jobId, ran, state, failedReason } = await afterDeaths(10, MAILBOX_MAX_STALLS + 1);
    expect({ state, failedReason }).toEqual({ state: 'failed', failedReason: 'job stalled more than allowable limit' });
    expect(ran).not.toContain(jobId);
  });

  it('are retried after a failure with the capped backoff the watcher’s jobs carry, which every worker knows', async () => {
    const accountId = 'acc_retry';
    const jobId = jobIds.fetch(accountId, 'INBOX', 1, 11);
    await queues.add(QueueName.MailboxEvents, MailboxJobName.Fetch, { accountId, mailbox: 'INBOX', uidValidity: 1, uid: 11 }, { jobId });
    const tries: number[] = [];
    const worker = queues.worker(QueueName.MailboxEvents, async () => {
      tries.push(Date.now());
      if (tries.length < 3) throw new Error('the mail server is out of reach');
      return { outcome: 'appended' };
    });
    void worker.run();
    const q = queues.queue(QueueName.MailboxEvents);
    await waitFor(async () => (await q.getJobState(jobId)) === 'completed', 15_000, 'the job completed on its third attempt');
    expect(tries).toHaveLength(3);
    // Waits of 0.5 s then 1 s, each less up to 20 %.
    expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(400);
    expect(tries[2] - tries[1]).toBeGreaterThanOrEqual(800);
  });
});
