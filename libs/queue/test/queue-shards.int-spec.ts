import { BULL_PREFIX, MailboxJobName, QueueName, bullShardPrefix, jobIds, queueShard } from '@pushmail/contracts';
import { masterNodes } from '@pushmail/redis';
import { TestRedis, TestRedisCluster, testQueues, waitFor } from '@pushmail/testing';

jest.setTimeout(60_000);

/** Accounts until every one of `shards` shards has at least one. */
function accountsOverShards(shards: number): string[] {
  const ids: string[] = [];
  const seen = new Set<number>();
  for (let i = 0; seen.size < shards || ids.length < shards * 2; i++) {
    const id = `acc_shard${i}`;
    ids.push(id);
    seen.add(queueShard(id, shards));
  }
  return ids;
}

const fetchJob = (accountId: string, uid: number) => ({
  name: MailboxJobName.Fetch as const,
  data: { accountId, mailbox: 'INBOX', uidValidity: 1, uid },
  opts: { jobId: jobIds.fetch(accountId, 'INBOX', 1, uid) },
});

describe('QUEUE_SHARDS: the mailbox-events queue over several hash tags', () => {
  describe('on a Redis Cluster with QUEUE_SHARDS=3', () => {
    let cluster: TestRedisCluster;
    let producer: ReturnType<typeof testQueues>;
    let consumer: ReturnType<typeof testQueues>;
    beforeAll(async () => {
      cluster = await TestRedisCluster.start();
      producer = testQueues({ REDIS_CLUSTER_NODES: cluster.seeds.split(','), QUEUE_SHARDS: 3 });
      consumer = testQueues({ REDIS_CLUSTER_NODES: cluster.seeds.split(','), QUEUE_SHARDS: 3 });
    }, 60_000);
    afterAll(async () => {
      for (const s of [producer, consumer]) {
        await s?.close();
      }
      await cluster?.dispose();
    });

    it('puts each account’s jobs in its shard’s hash tag, once per job id, and one worker consumes every shard in order per account', async () => {
      const accounts = accountsOverShards(3);
      const jobs = accounts.flatMap((id) => [fetchJob(id, 1), fetchJob(id, 2)]);
      await producer.queues.addBulk(QueueName.MailboxEvents, jobs);
      // Again, one at a time and in bulk: the deterministic ids dedupe within the account's shard.
      await producer.queues.add(QueueName.MailboxEvents, jobs[0].name, jobs[0].data, jobs[0].opts);
      await producer.queues.addBulk(QueueName.MailboxEvents, jobs.slice(0, 4));
      for (const job of jobs) {
        const prefix = bullShardPrefix(queueShard(job.data.accountId, 3), 3);
        expect(await producer.redis.client.exists(`${prefix}:${QueueName.MailboxEvents}:${job.opts.jobId}`)).toBe(1);
      }
      // The shards' keys are spread over the masters (three tags, three slots).
      const masters = new Set(await Promise.all([0, 1, 2].map(async (i) => (await cluster.masterFor(`${bullShardPrefix(i, 3)}:x`)).port)));
      expect(masters.size).toBeGreaterThan(1);

      const seen: Array<{ accountId: string; uid: number }> = [];
      const worker = consumer.queues.worker(QueueName.MailboxEvents, async (job) => {
        if (job.name === MailboxJobName.Fetch) seen.push({ accountId: job.data.accountId, uid: job.data.uid });
        return { ok: true };
      }, { concurrency: 3 });
      void worker.run();
      await waitFor(() => seen.length >= jobs.length, 20_000, 'every job consumed');
      expect(worker.isRunning()).toBe(true);
      expect(seen).toHaveLength(jobs.length);
      for (const id of accounts) expect(seen.filter((s) => s.accountId === id).map((s) => s.uid)).toEqual([1, 2]);
      // remove() finds a job in its account's shard.
      expect(await producer.queues.remove(QueueName.MailboxEvents, jobs[0].opts.jobId, accounts[0])).toBe(true);
    });
  });

  describe('on a single Redis without QUEUE_SHARDS', () => {
    let redis: TestRedis;
    let s: ReturnType<typeof testQueues>;
    beforeAll(async () => {
      redis = await TestRedis.start();
      s = testQueues({ REDIS_URL: redis.url });
    });
    afterAll(async () => {
      await s?.close();
      await redis?.dispose();
    });

    it('keeps today’s {pm-bull} keys', async () => {
      const job = fetchJob('acc_single', 1);
      await s.queues.add(QueueName.MailboxEvents, job.name, job.data, job.opts);
      const keys = (await Promise.all(masterNodes(s.redis.client).map((n) => n.keys('*pm-bull*')))).flat();
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.every((k) => k.startsWith(`${BULL_PREFIX}:`))).toBe(true);
    });
  });
});
