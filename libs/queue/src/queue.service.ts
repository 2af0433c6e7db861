import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { BaseEnv, ConfigService } from '@pushmail/config';
import { JobNameOf, JobPayloadOf, QueueName, bullShardPrefix, jobSchemas, queueShard, redisKeys } from '@pushmail/contracts';
import { MetricsService } from '@pushmail/observability';
import { RedisService, luaScript, runLua } from '@pushmail/redis';
import { Job, JobsOptions, Queue, QueueEvents, Worker, WorkerOptions } from 'bullmq';
import { CAPPED_EXPONENTIAL, backoffStrategy } from './retry-backoff';
import { WorkerErrorLimiter, workerErrorKind } from './worker-errors';

export type TypedJob<Q extends QueueName> = { [N in JobNameOf<Q>]: Job<JobPayloadOf<Q, N>, unknown, N> }[JobNameOf<Q>];
export type Processor<Q extends QueueName> = (job: TypedJob<Q>) => Promise<unknown>;

/**
 * The options of the watcher's mailbox jobs (the other producers set their own attempts and
 * backoff). A failed fetch is retried for at least 24 h (`minimumRetrySpanMs`): waits double
 * from 0.5 s up to 5 min, then stay there. With BullMQ's plain doubling and 8 attempts, a mail
 * server out of reach for more than about a minute failed its jobs for good, and their messages
 * were never pushed, since a job id that exists keeps the watcher from enqueueing it again. The
 * 5-minute cap keeps mail from waiting long once the server is back.
 *
 * Finished jobs are kept long enough for deterministic ids to dedupe re-enqueues, but bounded.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 370,
  backoff: { type: CAPPED_EXPONENTIAL, delay: 500 },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

/** What the apps do with a worker: start it, and report whether it runs (a BullMQ Worker is one). */
export interface QueueWorker {
  run(): Promise<void>;
  isRunning(): boolean;
}

/** The queues spread over QUEUE_SHARDS hash tags; the others stay on the one `{pm-bull}` tag. */
const SHARDED: ReadonlySet<QueueName> = new Set([QueueName.MailboxEvents]);

/**
 * How many times BullMQ's stalled check may give a job back after the worker holding it died (or
 * could not renew its lock in time) before BullMQ fails it for good. BullMQ's default is 1, so a
 * mailbox job held by two fetchers in a row that were killed (an OOM-kill loop under load, a bad
 * rollout) failed, and its message was never pushed: its deterministic id keeps the watcher from
 * enqueueing it again while the failed job is kept. Mailbox jobs are idempotent (the event log
 * drops a second append), so they get more; one that kills every fetcher taking it still fails
 * after six crashes. Commands and sends keep BullMQ's 1: a send that runs again may be sent
 * again.
 */
const MAX_STALLS: Readonly<Record<QueueName, number>> = {
  [QueueName.MailboxEvents]: 5,
  [QueueName.ImapCommands]: 1,
  [QueueName.Send]: 1,
};

/** Every job payload names its account (the contracts' job schemas all have `accountId`). */
function accountOf(payload: unknown): string {
  const accountId = typeof payload === 'object' && payload !== null && 'accountId' in payload ? payload.accountId : undefined;
  if (typeof accountId !== 'string') throw new Error('a job payload without accountId cannot be given its queue shard');
  return accountId;
}

/** Per key, 1 when it exists, in the order of KEYS. */
const EXISTS_EACH = luaScript(`
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('EXISTS', key) end
return out
`);

/**
 * BullMQ behind one injectable: typed producers, workers and queue metrics.
 *
 * The mailbox-events queue is QUEUE_SHARDS queues, one per hash tag (`{pm-bull-0}`…; with one
 * shard, today's `{pm-bull}`), so a Redis Cluster spreads its traffic over its masters. An
 * account's jobs always go to the same shard ({@link queueShard} of its id): they keep their order
 * and their deterministic ids dedupe as before. Every consumer consumes every shard. The command
 * and send queues are user-paced, an order of magnitude below mail, and stay on one tag.
 */
@Injectable()
export class QueueService implements OnModuleDestroy {
  private readonly logger = new Logger(QueueService.name);
  private readonly workerErrorLog = new WorkerErrorLimiter();
  /** By `<queue>#<shard>`. */
  private readonly queues = new Map<string, { name: QueueName; queue: Queue }>();
  private readonly workers: Worker[] = [];
  private readonly queueEvents: QueueEvents[] = [];
  private producerConnection?: ReturnType<RedisService['bullConnection']>;
  private readonly shardCount: number;

  constructor(
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
    config: ConfigService<BaseEnv>,
  ) {
    this.shardCount = config.env.QUEUE_SHARDS ?? 1;
  }

  /** How many shards `name` has: QUEUE_SHARDS for the sharded queues, else 1. */
  shards(name: QueueName): number {
    return SHARDED.has(name) ? this.shardCount : 1;
  }

  /** The shard of `name` that carries `accountId`'s jobs. */
  shardOf(name: QueueName, accountId: string): number {
    return queueShard(accountId, this.shards(name));
  }

  queue(name: QueueName, shard = 0): Queue {
    const key = `${name}#${shard}`;
    let entry = this.queues.get(key);
    if (!entry) {
      this.producerConnection ??= this.redis.bullConnection();
      const queue = new Queue(name, { connection: this.producerConnection, prefix: bullShardPrefix(shard, this.shards(name)), defaultJobOptions: DEFAULT_JOB_OPTIONS });
      queue.on('error', () => undefined); // connection errors are logged by RedisService
      entry = { name, queue };
      this.queues.set(key, entry);
      this.registerDepthGauge();
    }
    return entry.queue;
  }

  add<Q extends QueueName, N extends JobNameOf<Q>>(queue: Q, name: N, payload: JobPayloadOf<Q, N>, options: JobsOptions = {}): Promise<Job> {
    return this.queue(queue, this.shardOf(queue, accountOf(payload))).add(name, payload, options);
  }

  addBulk<Q extends QueueName, N extends JobNameOf<Q>>(
    queue: Q,
    jobs: Array<{ name: N; data: JobPayloadOf<Q, N>; opts?: JobsOptions }>,
  ): Promise<Job[]> {
    return this.perShard(queue, jobs, (q, part) => q.addBulk(part));
  }

  /**
   * Runs `run` once per shard with that shard's jobs (in their order) and answers the results in
   * the order of `jobs`. One shard: one call with all of them, as before sharding.
   */
  private async perShard<T extends { data: unknown }, R>(queue: QueueName, jobs: T[], run: (q: Queue, part: T[]) => Promise<R[]>): Promise<R[]> {
    if (this.shards(queue) === 1) return run(this.queue(queue), jobs);
    const groups = new Map<number, number[]>();
    jobs.forEach((job, i) => {
      const shard = this.shardOf(queue, accountOf(job.data));
      groups.set(shard, [...(groups.get(shard) ?? []), i]);
    });
    const results = new Array<R>(jobs.length);
    await Promise.all(
      [...groups].map(async ([shard, indexes]) => {
        const out = await run(this.queue(queue, shard), indexes.map((i) => jobs[i]));
        indexes.forEach((i, k) => (results[i] = out[k]));
      }),
    );
    return results;
  }

  /**
   * Adds jobs that all carry a deterministic `jobId` and answers, per job, whether that id existed
   * before (a job an earlier add made; it is left as it is, as BullMQ does). The checks are
   * written on the producer connection right before the add, so both travel in one round trip and
   * Redis runs them first, in order: one round trip where a check then an add took two. A job id
   * twice in `jobs` counts as existing the second time. The checks are one script call, not a
   * pipeline of EXISTS: ioredis copies every script BullMQ defines on the connection into each
   * pipeline it builds, which cost the ingress more CPU than the commands (~4 % of the watcher's
   * CPU at one notification per request). Right after a Redis restart the script is loaded with
   * EVAL after the add has gone out: that one batch may count its jobs as duplicates (a metric,
   * never a job).
   */
  addBulkReportingExisting<Q extends QueueName, N extends JobNameOf<Q>>(
    queue: Q,
    jobs: Array<{ name: N; data: JobPayloadOf<Q, N>; opts: JobsOptions & { jobId: string } }>,
  ): Promise<boolean[]> {
    // Per shard: the checks are a pipeline, whose keys must share one slot on a Redis Cluster.
    return this.perShard(queue, jobs, (q, part) => this.addReportingExisting(q, part));
  }

  private async addReportingExisting<N extends string, D>(q: Queue, jobs: Array<{ name: N; data: D; opts: JobsOptions & { jobId: string } }>): Promise<boolean[]> {
    // The connection every producer Queue was given: BullMQ wraps this very client (no copy), so
    // these commands share its socket and are written before the add's.
    const checked = runLua<number[]>(
      this.producerConnection!,
      EXISTS_EACH,
      jobs.map((job) => q.toKey(job.opts.jobId)),
      [],
    );
    const added = jobs.length === 1 ? q.add(jobs[0].name, jobs[0].data, jobs[0].opts) : q.addBulk(jobs);
    const [rows] = await Promise.all([checked, added]);
    const seen = new Set<string>();
    return jobs.map((job, i) => {
      const existed = rows[i] === 1 || seen.has(job.opts.jobId);
      seen.add(job.opts.jobId);
      return existed;
    });
  }

  /**
   * Puts the mailbox jobs that failed for good back in the queue as new jobs under their own ids,
   * with fresh attempts: what an operator runs after an outage that outlasted the retries, or a run
   * of fetcher crashes past the stall limit. Mailbox jobs are idempotent, so one that completes
   * meanwhile, or is appended twice, changes nothing. Each job is removed and added again, since
   * BullMQ's own retryJobs keeps a job's attempt count and stalled-limit mark: a job past the stall
   * limit would fail without running, one out of attempts at its first failure. The failed set is
   * read once up front (it holds at most 10,000 jobs), so jobs that fail again while this runs are
   * not taken twice.
   *
   * Remove and add are two calls, and a command killed between them (Ctrl-C, a `kubectl exec`
   * whose connection dropped) would lose that job for good: not failed, not queued. So each job is
   * first written to `redisKeys.requeuing`, and taken off it once added again; a run starts with
   * what an interrupted one left there. A job whose data no longer matches its schema (it could
   * not run anyway) is left where it is and counted as `unreadable`.
   */
  async requeueFailed(queue: QueueName.MailboxEvents): Promise<{ requeued: number; unreadable: number }> {
    const client = this.redis.client;
    const pending = redisKeys.requeuing(queue);
    let requeued = 0;
    let unreadable = 0;
    const addAgain = async (jobId: string, job: StoredJob<typeof queue>) => {
      await this.add(queue, job.name, job.data, { jobId });
      await client.hdel(pending, jobId);
      requeued++;
    };
    // Added by an interrupted run before its kill, or not: adding again is a no-op for a job that exists.
    for (const [jobId, stored] of Object.entries(await client.hgetall(pending))) {
      const job = storedJob(queue, parseJson(stored));
      if (job) await addAgain(jobId, job);
      else unreadable++;
    }
    for (let shard = 0; shard < this.shards(queue); shard++) {
      for (const failed of await this.queue(queue, shard).getFailed(0, -1)) {
        if (!failed?.id) continue;
        const job = storedJob(queue, { name: failed.name, data: failed.data });
        if (!job) {
          unreadable++;
          continue;
        }
        await client.hset(pending, failed.id, JSON.stringify(job));
        await failed.remove();
        await addAgain(failed.id, job);
      }
    }
    return { requeued, unreadable };
  }

  /**
   * Removes a job unless a worker holds it. True when it is gone (removed now, or never there);
   * false while it is locked by a worker.
   */
  async remove(queue: QueueName, jobId: string, accountId: string): Promise<boolean> {
    const q = this.queue(queue, this.shardOf(queue, accountId));
    const job = await q.getJob(jobId);
    if (!job) return true;
    if (await job.isActive()) return false;
    return (await q.remove(jobId)) === 1;
  }

  /**
   * Creates a worker that does not run until {@link QueueWorker.run} is called, so apps start
   * consuming only after `app.init()` has wired everything. A sharded queue gets one BullMQ worker
   * per shard, which share `options.concurrency` (each takes its share, rounded up).
   */
  worker<Q extends QueueName>(queue: Q, processor: Processor<Q>, options: Partial<WorkerOptions> = {}): QueueWorker {
    const shards = this.shards(queue);
    if (shards === 1) return this.shardWorker(queue, 0, processor, options);
    const concurrency = Math.ceil((options.concurrency ?? 1) / shards);
    const workers = Array.from({ length: shards }, (_, shard) => this.shardWorker(queue, shard, processor, { ...options, concurrency }));
    return {
      run: async () => {
        await Promise.all(workers.map((w) => w.run()));
      },
      isRunning: () => workers.every((w) => w.isRunning()),
    };
  }

  private shardWorker<Q extends QueueName>(queue: Q, shard: number, processor: Processor<Q>, options: Partial<WorkerOptions>): Worker {
    // Consumers report their queue's depth too: a growing backlog is what tells you to add workers.
    this.queue(queue, shard);
    const duration = this.metrics.histogram('pushmail_job_duration_ms', 'Job processing time', ['queue', 'name', 'outcome']);
    const worker = new Worker(
      queue,
      async (job) => {
        // prom-client's startTimer() observes seconds; this histogram is in milliseconds.
        const start = performance.now();
        const end = (outcome: string) => duration.observe({ queue, name: job.name, outcome }, performance.now() - start);
        try {
          const result = await processor(job as TypedJob<Q>);
          end('completed');
          return result;
        } catch (err) {
          end('failed');
          throw err; // BullMQ retries only what is rethrown
        }
      },
      { connection: this.redis.bullConnection(), prefix: bullShardPrefix(shard, this.shards(queue)), autorun: false, maxStalledCount: MAX_STALLS[queue], settings: { backoffStrategy }, ...options },
    );
    const errors = this.metrics.counter('pushmail_queue_worker_errors_total', 'Errors a queue worker reported outside its jobs (a result lost with its lock, a failed stalled check, a connection error)', ['queue', 'kind']);
    worker.on('error', (err) => {
      errors.inc({ queue, kind: workerErrorKind(err) });
      const line = this.workerErrorLog.admit(queue, err);
      if (line) this.logger.warn({ msg: 'queue worker error', queue, suppressed: line.suppressed || undefined, err: line.err });
    });
    this.workers.push(worker);
    return worker;
  }

  queueEventsFor(queue: QueueName, shard = 0): QueueEvents {
    const events = new QueueEvents(queue, { connection: this.redis.bullConnection(), prefix: bullShardPrefix(shard, this.shards(queue)) });
    // A QueueEvents only reads a stream: its errors are its connection's, which RedisService logs.
    events.on('error', () => undefined);
    this.queueEvents.push(events);
    return events;
  }

  /** Closes workers first: in-flight jobs finish (or return to the queue) before connections go. */
  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
    await Promise.allSettled(this.queueEvents.map((e) => e.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.queue.close()));
  }

  private registerDepthGauge(): void {
    const queues = this.queues;
    this.metrics.gauge('pushmail_queue_depth', 'Jobs per queue and state', ['queue', 'state'], async function () {
      // A sharded queue is reported as one: its shards' counts summed.
      const sums = new Map<string, Record<string, number>>();
      for (const { name, queue } of queues.values()) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        const sum = sums.get(name) ?? {};
        for (const [state, count] of Object.entries(counts)) sum[state] = (sum[state] ?? 0) + count;
        sums.set(name, sum);
      }
      for (const [name, sum] of sums) for (const [state, count] of Object.entries(sum)) this.set({ queue: name, state }, count);
    });
    this.metrics.gauge('pushmail_queue_oldest_waiting_age_seconds', 'Age of the oldest waiting job', ['queue'], async function () {
      // A sharded queue is reported as one: the oldest over its shards.
      const ages = new Map<string, number>();
      for (const { name, queue } of queues.values()) {
        const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
        ages.set(name, Math.max(ages.get(name) ?? 0, oldest ? (Date.now() - oldest.timestamp) / 1000 : 0));
      }
      for (const [name, age] of ages) this.set({ queue: name }, age);
    });
  }
}

/** A job as `requeueFailed` keeps it while it is neither failed nor queued: its name and data. */
type StoredJob<Q extends QueueName> = { [N in JobNameOf<Q>]: { name: N; data: JobPayloadOf<Q, N> } }[JobNameOf<Q>];

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `value` as a job of `queue` whose data matches its name's schema, else undefined. */
function storedJob<Q extends QueueName>(queue: Q, value: unknown): StoredJob<Q> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { name, data } = value as { name?: unknown; data?: unknown };
  const schemas: Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }> = jobSchemas[queue];
  const schema = typeof name === 'string' && Object.hasOwn(schemas, name) ? schemas[name] : undefined;
  const parsed = schema?.safeParse(data);
  return parsed?.success ? ({ name, data: parsed.data } as StoredJob<Q>) : undefined;
}
