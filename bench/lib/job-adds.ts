import { BULL_PREFIX, QueueName } from '@pushmail/contracts';
import IORedis from 'ioredis';
import type { RedisClient } from '@pushmail/redis';

/** Where the floor clients' own EXISTS → Redis writes land; the stream id is Redis's clock. */
export const FLOOR_EXISTS_STREAM = 'bench:floor-exists';

export interface JobAdd {
  jobId: string;
  name: string;
  /** Redis's own clock (the stream entry id), epoch ms: when the job was stored. */
  redisMs: number;
}

/**
 * Follows BullMQ's event stream of one queue and records every `added` event: its stream id is
 * the Redis server's clock at the moment the add script stored the job. The stream is capped
 * (BullMQ keeps ~10,000 events), so it is read while the run goes, not afterwards.
 */
export class JobAddTail {
  private readonly redis: IORedis;
  private readonly key: string;
  private stopped = false;
  private readonly adds: JobAdd[] = [];
  private loop?: Promise<void>;

  constructor(redisUrl: string, queue: QueueName) {
    this.redis = new IORedis(redisUrl, { maxRetriesPerRequest: null });
    this.key = `${BULL_PREFIX}:${queue}:events`;
  }

  async start(): Promise<void> {
    const last = (await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
    this.loop = this.follow(last);
  }

  /** Every `added` event seen since start, after draining what is already in the stream. */
  async stop(): Promise<JobAdd[]> {
    this.stopped = true;
    await this.loop;
    this.redis.disconnect();
    return this.adds;
  }

  private async follow(from: string): Promise<void> {
    let cursor = from;
    for (;;) {
      const reply = (await this.redis.xread('COUNT', 1000, 'BLOCK', 200, 'STREAMS', this.key, cursor)) as Array<[string, Array<[string, string[]]>]> | null;
      const entries = reply?.[0]?.[1] ?? [];
      for (const [id, fields] of entries) {
        cursor = id;
        const f = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i], fields[i + 1]);
        if (f.get('event') === 'added') this.adds.push({ jobId: f.get('jobId') ?? '', name: f.get('name') ?? '', redisMs: Number(id.split('-')[0]) });
      }
      if (this.stopped && !entries.length) return;
    }
  }
}

/** `seenAt` (the watcher's clock at EXISTS) of each job, read from BullMQ's job hashes. */
export async function jobSeenAt(redis: RedisClient, queue: QueueName, jobIds: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < jobIds.length; i += 500) {
    const slice = jobIds.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const id of slice) pipe.hget(`${BULL_PREFIX}:${queue}:${id}`, 'data');
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, data], j) => {
      const seenAt = data ? (JSON.parse(String(data)) as { seenAt?: number }).seenAt : undefined;
      if (typeof seenAt === 'number') out.set(slice[j], seenAt);
    });
  }
  return out;
}
