import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { BULL_PREFIX, JobNameOf, JobPayloadOf, QueueName } from '@pushmail/contracts';
import { MetricsService } from '@pushmail/observability';
import { RedisService } from '@pushmail/redis';
import { Job, JobsOptions, Queue, QueueEvents, Worker, WorkerOptions } from 'bullmq';

export type TypedJob<Q extends QueueName> = { [N in JobNameOf<Q>]: Job<JobPayloadOf<Q, N>, unknown, N> }[JobNameOf<Q>];
export type Processor<Q extends QueueName> = (job: TypedJob<Q>) => Promise<unknown>;

/** Keep finished jobs long enough for deterministic ids to dedupe re-enqueues, but bounded. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

/** BullMQ behind one injectable: typed producers, workers and queue metrics. */
@Injectable()
export class QueueService implements OnModuleDestroy {
  private readonly queues = new Map<QueueName, Queue>();
  private readonly workers: Worker[] = [];
  private readonly queueEvents: QueueEvents[] = [];
  private producerConnection?: ReturnType<RedisService['bullConnection']>;

  constructor(
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
  ) {}

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      this.producerConnection ??= this.redis.bullConnection();
      queue = new Queue(name, { connection: this.producerConnection, prefix: BULL_PREFIX, defaultJobOptions: DEFAULT_JOB_OPTIONS });
      queue.on('error', () => undefined); // connection errors are logged by RedisService
      this.queues.set(name, queue);
      this.registerDepthGauge();
    }
    return queue;
  }

  add<Q extends QueueName, N extends JobNameOf<Q>>(queue: Q, name: N, payload: JobPayloadOf<Q, N>, options: JobsOptions = {}): Promise<Job> {
    return this.queue(queue).add(name, payload, options);
  }

  addBulk<Q extends QueueName, N extends JobNameOf<Q>>(
    queue: Q,
    jobs: Array<{ name: N; data: JobPayloadOf<Q, N>; opts?: JobsOptions }>,
  ): Promise<Job[]> {
    return this.queue(queue).addBulk(jobs);
  }

  /**
   * Removes a job unless a worker holds it. True when it is gone (removed now, or never there);
   * false while it is locked by a worker.
   */
  async remove(queue: QueueName, jobId: string): Promise<boolean> {
    const job = await this.queue(queue).getJob(jobId);
    if (!job) return true;
    if (await job.isActive()) return false;
    return (await this.queue(queue).remove(jobId)) === 1;
  }

  /**
   * Creates a worker that does not run until {@link Worker.run} is called, so apps start consuming
   * only after `app.init()` has wired everything.
   */
  worker<Q extends QueueName>(queue: Q, processor: Processor<Q>, options: Partial<WorkerOptions> = {}): Worker {
    // Consumers report their queue's depth too: a growing backlog is what tells you to add workers.
    this.queue(queue);
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
      { connection: this.redis.bullConnection(), prefix: BULL_PREFIX, autorun: false, ...options },
    );
    worker.on('error', () => undefined);
    this.workers.push(worker);
    return worker;
  }

  queueEventsFor(queue: QueueName): QueueEvents {
    const events = new QueueEvents(queue, { connection: this.redis.bullConnection(), prefix: BULL_PREFIX });
    events.on('error', () => undefined);
    this.queueEvents.push(events);
    return events;
  }

  /** Closes workers first: in-flight jobs finish (or return to the queue) before connections go. */
  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
    await Promise.allSettled(this.queueEvents.map((e) => e.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }

  private registerDepthGauge(): void {
    const queues = this.queues;
    this.metrics.gauge('pushmail_queue_depth', 'Jobs per queue and state', ['queue', 'state'], async function () {
      for (const [name, queue] of queues) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        for (const [state, count] of Object.entries(counts)) this.set({ queue: name, state }, count);
      }
    });
    this.metrics.gauge('pushmail_queue_oldest_waiting_age_seconds', 'Age of the oldest waiting job', ['queue'], async function () {
      for (const [name, queue] of queues) {
        const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
        this.set({ queue: name }, oldest ? (Date.now() - oldest.timestamp) / 1000 : 0);
      }
    });
  }
}
