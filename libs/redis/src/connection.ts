import { RedisTarget } from '@pushmail/config';
import IORedis, { Redis, RedisOptions } from 'ioredis';

/** Reconnect forever with a capped delay: Redis restarts and failovers must not kill the app. */
const retryStrategy = (times: number) => Math.min(times * 200, 2000);

/**
 * The one way pushmail opens a Redis connection, for every app, BullMQ, the Socket.IO adapter and
 * the test harness: a URL, or the current master of a Sentinel set.
 */
export function createRedisConnection(target: RedisTarget, options: RedisOptions = {}): Redis {
  if (target.kind === 'url') return new IORedis(target.url, { retryStrategy, ...options });
  return new IORedis({
    sentinels: target.sentinels,
    name: target.name,
    sentinelPassword: target.sentinelPassword,
    password: target.password,
    tls: target.tls ? {} : undefined,
    // No failoverDetector: its reconnect on +switch-master came after the client had already
    // reconnected to the new master (a dead master closes the socket at once) and failed the
    // commands in flight with "Connection is closed". A master demoted while reachable is left
    // on READONLY below instead.
    // Sentinels that are all unreachable are retried like the master, never given up on.
    sentinelRetryStrategy: retryStrategy,
    retryStrategy,
    // A master demoted under us (a manual failover, or the old one back as a replica) answers
    // writes with READONLY: reconnect through the sentinels and resend the command.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    ...options,
  });
}
