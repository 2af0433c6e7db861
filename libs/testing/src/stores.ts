import { AccountRepository } from '@pushmail/accounts';
import { BaseEnv, ConfigService } from '@pushmail/config';
import { CredentialCipher } from '@pushmail/crypto';
import { EventLogService } from '@pushmail/event-log';
import { HealthService } from '@pushmail/observability';
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
