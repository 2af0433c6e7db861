import { AccountRepository } from '@pushmail/accounts';
import { BaseEnv, ConfigService } from '@pushmail/config';
import { CredentialCipher } from '@pushmail/crypto';
import { EventLogService } from '@pushmail/event-log';
import { HealthService, MetricsService } from '@pushmail/observability';
import { QueueService } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import { TEST_SECRET_KEY } from './env';
import { TestRedisCluster } from './redis-cluster';
import { TEST_SENTINEL_MASTER, TestRedisSentinel } from './redis-sentinel';

/**
 * The production stores (accounts, event log) wired without Nest, for tests that need to seed or
 * inspect Redis the way the apps do. Call close() when done.
 */
export function testStores(redisUrl: string | TestRedisSentinel | TestRedisCluster, secretKey = TEST_SECRET_KEY) {
  const where: Pick<BaseEnv, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_CLUSTER_NODES'> =
    typeof redisUrl === 'string'
      ? { REDIS_URL: redisUrl }
      : redisUrl instanceof TestRedisCluster
        ? { REDIS_CLUSTER_NODES: redisUrl.seeds.split(',') }
        : { REDIS_SENTINELS: redisUrl.sentinelAddresses.split(','), REDIS_SENTINEL_NAME: TEST_SENTINEL_MASTER };
  const redis = new RedisService(new ConfigService<BaseEnv>({ ...where, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: 1000 }), new HealthService());
  const accounts = new AccountRepository(redis, new CredentialCipher(secretKey));
  const eventLog = new EventLogService(redis);
  return {
    redis,
    accounts,
    eventLog,
    close: async () => {
      await accounts.onModuleDestroy();
      await redis.onModuleDestroy();
    },
  };
}

/**
 * The production QueueService wired without Nest, on Redis connections of its own, for tests that
 * add jobs or run workers the way the apps do. `where` is a Redis URL or the environment (cluster
 * nodes, QUEUE_SHARDS); `metrics` is passed in when the test reads a counter. close() closes the
 * workers and queues, then the connections.
 */
export function testQueues(where: string | Partial<BaseEnv>, metrics = new MetricsService()) {
  const config = new ConfigService<BaseEnv>({ LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: 1000, ...(typeof where === 'string' ? { REDIS_URL: where } : where) });
  const redis = new RedisService(config, new HealthService());
  const queues = new QueueService(redis, metrics, config);
  return {
    redis,
    queues,
    close: async () => {
      await queues.onModuleDestroy();
      await redis.onModuleDestroy();
    },
  };
}
