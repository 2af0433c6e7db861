import { RedisTarget } from '@pushmail/config';
import IORedis, { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';

/**
 * A connection to pushmail's Redis, whichever way it is deployed: one server or a Sentinel set's
 * master (`Redis`), or a Redis Cluster (`Cluster`). Both run the same commands; what differs (SCAN
 * over every master, pipelines and MULTI within one slot, sharded pub/sub) is handled in this lib.
 */
export type RedisClient = Redis | Cluster;

/** Reconnect forever with a capped delay: Redis restarts and failovers must not kill the app. */
const retryStrategy = (times: number) => Math.min(times * 200, 2000);

type ClusterTarget = Extract<RedisTarget, { kind: 'cluster' }>;

/**
 * A connection's options. `shardedSubscribers` applies to a cluster only (a single server takes
 * SSUBSCRIBE on its one connection): one subscriber connection per master, so that sharded
 * channels of every slot can be subscribed on one client.
 */
export type RedisConnectionOptions = RedisOptions & Pick<ClusterOptions, 'shardedSubscribers'>;

/**
 * The one way pushmail opens a Redis connection, for every app, BullMQ, the Socket.IO adapter and
 * the test harness: a URL, the current master of a Sentinel set, or a Redis Cluster.
 */
export function createRedisConnection(target: ClusterTarget, options?: RedisConnectionOptions): Cluster;
export function createRedisConnection(target: Exclude<RedisTarget, ClusterTarget>, options?: RedisConnectionOptions): Redis;
export function createRedisConnection(target: RedisTarget, options?: RedisConnectionOptions): RedisClient;
export function createRedisConnection(target: RedisTarget, { shardedSubscribers, ...options }: RedisConnectionOptions = {}): RedisClient {
  if (target.kind === 'url') return new IORedis(target.url, { retryStrategy, ...options });
  if (target.kind === 'cluster') return clusterConnection(target, options, shardedSubscribers ?? false);
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

/**
 * How long a command waits out a master's failover before it fails: ioredis retries it after
 * CLUSTERDOWN, TRYAGAIN or a closed node connection every `CLUSTER_RETRY_DELAY_MS`, at most
 * `CLUSTER_MAX_REDIRECTIONS` times (~20 s, past a failover at Redis' default 15 s node timeout).
 * The app's command connection fails a command after ~the same time on a single Redis (20
 * reconnection attempts); BullMQ's connections (`maxRetriesPerRequest: null`) keep their own retries.
 */
const CLUSTER_RETRY_DELAY_MS = 200;
const CLUSTER_MAX_REDIRECTIONS = 100;
/** How often a cluster connection reloads the slot map (CLUSTER SLOTS) unasked. */
const SLOTS_REFRESH_MS = 2000;

function clusterConnection(target: ClusterTarget, options: RedisOptions, shardedSubscribers: boolean): Cluster {
  // Options of the cluster client itself; the rest applies to each node connection. A node's own
  // reconnects are off (ioredis' default): the cluster client refreshes the slot map instead.
  // Auto-pipelining is off on a cluster whatever the caller asks: ioredis retries a pipeline after
  // MOVED only when all its commands failed with the same error, and an auto-pipeline groups every
  // slot of a node, so after a failover its commands failed with the raw MOVED of their own slots
  // and the slot map was not even refreshed: the chaos test's gateway answered `internal` to
  // subscribes (and failed its resyncs) for every account of a failed-over master, for good.
  // Single commands follow MOVED and refresh the map.
  const { enableAutoPipelining: _autoPipelining, enableOfflineQueue, lazyConnect, enableReadyCheck, retryStrategy: _nodeRetry, readOnly: _readOnly, sentinels: _sentinels, ...nodeOptions } = options;
  return new Cluster(target.nodes, {
    clusterRetryStrategy: retryStrategy,
    enableReadyCheck: enableReadyCheck ?? true,
    enableAutoPipelining: false,
    // The slot map is otherwise refreshed only on errors: a promoted replica is found within this
    // time even by a connection that sent nothing to the failed master (the sharded subscribers
    // move to it on the same refresh).
    slotsRefreshInterval: SLOTS_REFRESH_MS,
    enableOfflineQueue: enableOfflineQueue ?? true,
    lazyConnect: lazyConnect ?? false,
    maxRedirections: CLUSTER_MAX_REDIRECTIONS,
    retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
    shardedSubscribers,
    redisOptions: { ...nodeOptions, password: target.password ?? nodeOptions.password, tls: target.tls ? {} : nodeOptions.tls },
  });
}

/** True when `client` talks to a Redis Cluster. */
export function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/**
 * The connections to every master: the client itself on one Redis, each master node's own
 * connection on a cluster (for what runs per server: SCAN, CLIENT LIST).
 */
export function masterNodes(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}
