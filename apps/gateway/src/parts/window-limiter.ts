import { Injectable } from '@nestjs/common';
import { KEY_PREFIX } from '@pushmail/contracts';
import { RedisService } from '@pushmail/redis';

/**
 * Fixed one-minute windows counted in Redis, so every gateway replica shares one count (a limit
 * kept per process would multiply by the number of replicas behind the load balancer).
 */
@Injectable()
export class WindowLimiter {
  constructor(private readonly redis: RedisService) {}

  /** Counts one event under `name:subject`; false once more than `perMinute` happened this minute. */
  async take(name: string, subject: string, perMinute: number): Promise<boolean> {
    return (await this.count(name, subject, 1)) <= perMinute;
  }

  /** The events counted this minute, without counting one. */
  peek(name: string, subject: string): Promise<number> {
    return this.count(name, subject, 0);
  }

  private async count(name: string, subject: string, add: number): Promise<number> {
    const key = `${KEY_PREFIX}:limit:${name}:${subject}`;
    const [[, count]] = (await this.redis.client.multi().incrby(key, add).expire(key, 60, 'NX').exec()) as [[null, number], [null, number]];
    return count;
  }
}
