import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisTarget } from '@pushmail/config';
import { createRedisConnection } from '@pushmail/redis';
import type { Cluster } from 'ioredis';
import { TestRedis } from './redis-server';
import { waitFor } from './processes';

const run = promisify(execFile);

/** Masters are failed over this long after they go silent (production defaults to 15 s; tests want seconds). */
const NODE_TIMEOUT_MS = 1000;

/** One line of CLUSTER NODES, the fields the harness reads. */
interface ClusterNodeRow {
  id: string;
  port: number;
  flags: string[];
  /** The master's node id, for a replica. */
  masterId?: string;
  /** Slot ranges, [first, last]. */
  slots: Array<[number, number]>;
}

function parseClusterNodes(reply: string): ClusterNodeRow[] {
  return reply
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        flags: flags.split(','),
        masterId: master === '-' ? undefined : master,
        // Importing/migrating markers ("[…]") are not served slots.
        slots: slots.filter((s) => !s.startsWith('[')).map((s) => {
          const [first, last] = s.split('-').map(Number);
          return [first, last ?? first] as [number, number];
        }),
      };
    });
}

const isUp = (row: ClusterNodeRow) => !row.flags.some((f) => f === 'fail' || f === 'fail?' || f === 'handshake' || f === 'noaddr');

/**
 * A real Redis Cluster on free loopback ports: three masters and three replicas (AOF `everysec`,
 * as production runs it), made with `redis-cli --cluster create`. Apps reach it with {@link env};
 * {@link killMaster} SIGKILLs the master of a key's slot and waits for its replica's promotion.
 */
export class TestRedisCluster {
  private constructor(
    /** The data nodes; which are masters changes with failovers. */
    readonly nodes: TestRedis[],
  ) {}

  static async start(options: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<TestRedisCluster> {
    const masters = options.masters ?? 3;
    const cluster = new TestRedisCluster([]);
    try {
      const started = await Promise.allSettled(
        Array.from({ length: masters * 2 }, () => TestRedis.start({ appendonly: true, appendfsync: 'everysec', cluster: { nodeTimeoutMs: options.nodeTimeoutMs ?? NODE_TIMEOUT_MS } })),
      );
      for (const s of started) if (s.status === 'fulfilled') cluster.nodes.push(s.value);
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      await run('redis-cli', ['--cluster', 'create', ...cluster.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
      await cluster.waitSettled();
      return cluster;
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
  }

  /** `host:port,…` of every node, as REDIS_CLUSTER_NODES takes it. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** What an app's environment needs to use this cluster instead of REDIS_URL (merge into testEnv). */
  env(): Record<string, string | undefined> {
    return { REDIS_URL: undefined, REDIS_CLUSTER_NODES: this.seeds };
  }

  target(): Extract<RedisTarget, { kind: 'cluster' }> {
    return { kind: 'cluster', nodes: this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), tls: false };
  }

  /** A cluster client, as the apps connect; the caller quits it. */
  client(): Cluster {
    const client = createRedisConnection(this.target(), { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    return client;
  }

  /** The cluster's view from a node that is up. */
  async topology(): Promise<ClusterNodeRow[]> {
    for (const node of this.nodes) {
      if (!node.pid) continue;
      const probe = node.client();
      probe.on('error', () => undefined);
      try {
        return parseClusterNodes(String(await probe.call('CLUSTER', 'NODES')));
      } catch {
        // try the next node
      } finally {
        probe.disconnect();
      }
    }
    throw new Error('no cluster node answers CLUSTER NODES');
  }

  /** The node that is master of `key`'s slot now. */
  async masterFor(key: string): Promise<TestRedis> {
    const slot = await this.slotOf(key);
    const row = (await this.topology()).find((r) => r.flags.includes('master') && isUp(r) && r.slots.some(([a, b]) => slot >= a && slot <= b));
    const node = row && this.nodes.find((n) => n.port === row.port);
    if (!node) throw new Error(`no master serves slot ${slot}`);
    return node;
  }

  async slotOf(key: string): Promise<number> {
    const node = this.nodes.find((n) => n.pid)!;
    const probe = node.client();
    try {
      return Number(await probe.call('CLUSTER', 'KEYSLOT', key));
    } finally {
      probe.disconnect();
    }
  }

  /**
   * Stops the master of `key`'s slot (SIGKILL: a crash) and resolves once one of its replicas
   * serves the slot as master and every node that is up says `cluster_state:ok`. The stopped node
   * stays down until {@link restartNode}.
   */
  async killMaster(key = 'any', signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 20_000): Promise<{ killed: TestRedis; promoted: TestRedis; failoverMs: number }> {
    const killed = await this.masterFor(key);
    const slot = await this.slotOf(key);
    const started = Date.now();
    await killed.stop(signal);
    const promoted = await waitFor(async () => {
      const row = (await this.topology()).find((r) => r.flags.includes('master') && isUp(r) && r.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!row || row.port === killed.port) return undefined;
      if (!(await this.allOk())) return undefined;
      return this.nodes.find((n) => n.port === row.port);
    }, timeoutMs, 'a replica to be promoted', 50);
    return { killed, promoted, failoverMs: Date.now() - started };
  }

  /** Starts a killed node again (same port, data dir and nodes.conf): it rejoins as a replica of its successor. */
  async restartNode(node: TestRedis): Promise<void> {
    await node.startAgain();
    await this.waitSettled();
  }

  /**
   * Waits until every node that runs knows all the others as up, says `cluster_state:ok`, there
   * are as many masters as replicas, and each replica's link to its master is up.
   */
  private async waitSettled(): Promise<void> {
    await waitFor(async () => {
      const rows = await this.topology();
      if (rows.length !== this.nodes.length || !rows.every(isUp)) return false;
      if (!(await this.allOk())) return false;
      const masters = rows.filter((r) => r.flags.includes('master') && r.slots.length);
      if (masters.length * 2 !== this.nodes.length) return false;
      for (const replica of rows.filter((r) => r.flags.includes('slave'))) {
        const node = this.nodes.find((n) => n.port === replica.port);
        const probe = node!.client();
        try {
          if (!/master_link_status:up/.test(await probe.info('replication'))) return false;
        } finally {
          probe.disconnect();
        }
      }
      return true;
    }, 30_000, 'the Redis Cluster to settle (all nodes up, cluster_state:ok, replicas in sync)', 100);
  }

  private async allOk(): Promise<boolean> {
    for (const node of this.nodes) {
      if (!node.pid) continue;
      const probe = node.client();
      probe.on('error', () => undefined);
      try {
        if (!/cluster_state:ok/.test(String(await probe.call('CLUSTER', 'INFO')))) return false;
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }
    return true;
  }

  logs(): string {
    return this.nodes.map((n) => n.logs()).join('\n');
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dispose()));
  }
}
