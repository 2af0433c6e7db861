import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ConfigService, RedisTarget, redisTarget } from '@pushmail/config';
import { HealthService } from '@pushmail/observability';
import { RedisClient, RedisConnectionOptions, createRedisConnection, isCluster, masterNodes } from './connection';

/**
 * The one place that opens Redis connections. `client` runs commands; subscribers and BullMQ get
 * dedicated connections because a subscribed or blocking connection cannot run anything else.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RedisService.name);
  private readonly connections = new Set<RedisClient>();
  readonly client: RedisClient;
  /** REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, as validated at boot. */
  readonly target: RedisTarget;

  constructor(
    config: ConfigService,
    private readonly health: HealthService,
  ) {
    this.target = redisTarget(config.env);
    this.client = this.open({ connectionName: 'command' });
  }

  /** A new connection to the app's Redis (its URL, the Sentinel set's master or the cluster); closed with the module. */
  open(options: RedisConnectionOptions = {}): RedisClient {
    const connection = createRedisConnection(this.target, { enableAutoPipelining: true, ...options });
    // ioredis emits 'error' on every failed reconnect; without a listener Node would crash.
    connection.on('error', (err) => this.logger.warn({ msg: 'redis connection error', name: options.connectionName, err }));
    this.connections.add(connection);
    connection.once('end', () => this.connections.delete(connection));
    return connection;
  }

  /**
   * Deletes every key matching a SCAN pattern, in batches, without blocking Redis like KEYS would.
   * On a cluster each master is scanned (SCAN sees one server's keys), and the keys found are
   * unlinked one by one: a batch may span slots, which one UNLINK cannot.
   */
  async unlinkMatching(pattern: string): Promise<void> {
    const cluster = isCluster(this.client);
    for (const node of masterNodes(this.client)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        if (!keys.length) continue;
        if (cluster) await Promise.all(keys.map((key) => this.client.unlink(key)));
        else await this.client.unlink(...keys);
      } while (cursor !== '0');
    }
  }

  /** Connection options for BullMQ, which requires `maxRetriesPerRequest: null` on its blocking clients. */
  bullConnection(): RedisClient {
    return this.open({ maxRetriesPerRequest: null, enableAutoPipelining: false, connectionName: 'bullmq' });
  }

  async onModuleInit(): Promise<void> {
    this.health.register('redis', async () => {
      const pong = await this.client.ping();
      return { ok: pong === 'PONG' };
    });
    await this.warnOnEviction();
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(
      [...this.connections].map(async (c) => {
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
  }

  /** Eviction silently drops queued jobs and dedupe markers, which shows up as lost or duplicate mail. */
  private async warnOnEviction(): Promise<void> {
    try {
      const reply = (await this.client.config('GET', 'maxmemory-policy')) as string[];
      const policy = reply?.[1];
      if (policy && policy !== 'noeviction') {
        this.logger.error({
          msg: `REDIS maxmemory-policy is "${policy}": set it to "noeviction". Eviction loses jobs and causes duplicate events.`,
          policy,
        });
      }
    } catch (err) {
      // Managed Redis services often disable CONFIG; say so instead of guessing.
      this.logger.warn({ msg: 'could not read maxmemory-policy (CONFIG disabled?); make sure it is noeviction', err });
    }
  }
}
