import { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisTarget } from '@pushmail/config';
import { createRedisConnection } from '@pushmail/redis';
import IORedis from 'ioredis';
import { TestRedis } from './redis-server';
import { captureOutput, freePorts, spawnTracked, stopProcess, waitFor, WaitAborted } from './processes';

/** Master name the test sentinels monitor. */
export const TEST_SENTINEL_MASTER = 'pm-test';

/** Sentinels notice a dead master after this long (production defaults to 30 s; tests want seconds). */
const DOWN_AFTER_MS = 1000;

class SentinelProcess {
  private child?: ChildProcess;
  private output?: { text: () => string };

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly masterPort: number,
  ) {}

  async start(): Promise<void> {
    // A sentinel rewrites its config file (known replicas, epochs), so each gets its own.
    const file = join(this.dir, `sentinel-${this.port}.conf`);
    writeFileSync(file, [
      `port ${this.port}`,
      'bind 127.0.0.1',
      `dir ${this.dir}`,
      `sentinel monitor ${TEST_SENTINEL_MASTER} 127.0.0.1 ${this.masterPort} 2`,
      `sentinel down-after-milliseconds ${TEST_SENTINEL_MASTER} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${TEST_SENTINEL_MASTER} 5000`,
      `sentinel parallel-syncs ${TEST_SENTINEL_MASTER} 1`,
      '',
    ].join('\n'));
    this.child = spawnTracked('redis-server', [file, '--sentinel']);
    this.output = captureOutput(this.child);
    const probe = this.client();
    try {
      await waitFor(async () => {
        if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) throw new WaitAborted(`redis sentinel exited: ${this.logs()}`);
        return (await probe.ping().catch(() => undefined)) === 'PONG';
      }, 10_000, 'redis sentinel to answer PING');
    } finally {
      probe.disconnect();
    }
  }

  client(): IORedis {
    const client = new IORedis({ port: this.port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on('error', () => undefined);
    return client;
  }

  logs(): string {
    return this.output?.text() ?? '';
  }

  async stop(): Promise<void> {
    if (this.child) await stopProcess(this.child, 'SIGKILL');
    this.child = undefined;
  }
}

/**
 * A real Sentinel set on free loopback ports: a master, a replica (AOF `everysec`, as production
 * runs it) and three sentinels with quorum 2. Apps reach it with {@link env}; {@link killMaster}
 * SIGKILLs the current master and waits for the sentinels to promote the replica.
 */
export class TestRedisSentinel {
  private constructor(
    /** The data nodes: index 0 started as master, 1 as its replica. Roles change with failovers. */
    readonly nodes: TestRedis[],
    private readonly sentinels: SentinelProcess[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<TestRedisSentinel> {
    const master = await TestRedis.start({ appendonly: true, appendfsync: 'everysec' });
    const nodes = [master];
    const dir = mkdtempSync(join(tmpdir(), 'pm-sentinel-'));
    const set = new TestRedisSentinel(nodes, [], dir);
    try {
      nodes.push(await TestRedis.start({ appendonly: true, appendfsync: 'everysec', replicaOf: master.port }));
      for (const port of await freePorts(3)) set.sentinels.push(new SentinelProcess(port, dir, master.port));
      await Promise.all(set.sentinels.map((s) => s.start()));
      await set.waitSettled(master.port);
      return set;
    } catch (err) {
      await set.dispose();
      throw err;
    }
  }

  /** `host:port,…` of the sentinels, as REDIS_SENTINELS takes it. */
  get sentinelAddresses(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  /** What an app's environment needs to use this set instead of REDIS_URL (merge into testEnv). */
  env(): Record<string, string | undefined> {
    return { REDIS_URL: undefined, REDIS_SENTINELS: this.sentinelAddresses, REDIS_SENTINEL_NAME: TEST_SENTINEL_MASTER };
  }

  target(): Extract<RedisTarget, { kind: 'sentinel' }> {
    return { kind: 'sentinel', sentinels: this.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: TEST_SENTINEL_MASTER, tls: false };
  }

  /** A client of the current master through the sentinels, as the apps connect; the caller quits it. */
  client(): IORedis {
    const client = createRedisConnection(this.target(), { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    return client;
  }

  /** The master's port according to a majority of sentinels' answers. */
  async masterPort(): Promise<number | undefined> {
    const answers = await Promise.all(
      this.sentinels.map(async (s) => {
        const client = s.client();
        try {
          const reply = (await client.call('SENTINEL', 'get-master-addr-by-name', TEST_SENTINEL_MASTER).catch(() => null)) as [string, string] | null;
          return reply ? Number(reply[1]) : undefined;
        } finally {
          client.disconnect();
        }
      }),
    );
    const counts = new Map<number, number>();
    for (const port of answers) if (port) counts.set(port, (counts.get(port) ?? 0) + 1);
    return [...counts].find(([, n]) => n >= 2)?.[0];
  }

  /** The data node that is master now. */
  async master(): Promise<TestRedis> {
    const port = await this.masterPort();
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no master known to the sentinels (answer: ${port})`);
    return node;
  }

  /**
   * Stops the current master (SIGKILL: a crash; SIGTERM: Redis waits for its replica to catch up
   * before it exits) and resolves once a majority of sentinels name the other node (promoted) as
   * master. The stopped node stays down until {@link restartNode}.
   */
  async killMaster(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 20_000): Promise<{ killed: TestRedis; promoted: TestRedis; failoverMs: number }> {
    const killed = await this.master();
    const started = Date.now();
    await killed.stop(signal);
    const promoted = await waitFor(async () => {
      const port = await this.masterPort();
      return port && port !== killed.port ? this.nodes.find((n) => n.port === port) : undefined;
    }, timeoutMs, 'the sentinels to promote the replica', 100);
    return { killed, promoted, failoverMs: Date.now() - started };
  }

  /** Starts a killed node again; the sentinels make it a replica of the current master. */
  async restartNode(node: TestRedis): Promise<void> {
    await node.startAgain();
    const master = await this.master();
    await this.waitSettled(master.port);
  }

  /**
   * Waits until every sentinel names `masterPort`, knows the other two sentinels (else no quorum
   * to fail over) and the master has a replica in sync.
   */
  private async waitSettled(masterPort: number): Promise<void> {
    await waitFor(async () => {
      for (const sentinel of this.sentinels) {
        const client = sentinel.client();
        try {
          const addr = (await client.call('SENTINEL', 'get-master-addr-by-name', TEST_SENTINEL_MASTER)) as [string, string];
          if (Number(addr[1]) !== masterPort) return false;
          const peers = (await client.call('SENTINEL', 'sentinels', TEST_SENTINEL_MASTER)) as unknown[];
          if (peers.length < this.sentinels.length - 1) return false;
          const replicas = (await client.call('SENTINEL', 'replicas', TEST_SENTINEL_MASTER)) as string[][];
          const up = replicas.filter((fields) => {
            const flags = fields[fields.indexOf('flags') + 1] ?? '';
            return !flags.includes('down') && !flags.includes('disconnected');
          });
          if (up.length < this.nodes.length - 1) return false;
        } catch {
          return false;
        } finally {
          client.disconnect();
        }
      }
      const master = this.nodes.find((n) => n.port === masterPort)!.client();
      try {
        const info = await master.info('replication');
        return /connected_slaves:[1-9]/.test(info) && /slave\d+:.*state=online/.test(info);
      } catch {
        return false;
      } finally {
        master.disconnect();
      }
    }, 30_000, 'the Sentinel set to settle (sentinels agree, replica online)', 100);
  }

  logs(): string {
    return [...this.nodes.map((n) => n.logs()), ...this.sentinels.map((s) => s.logs())].join('\n');
  }

  async dispose(): Promise<void> {
    await Promise.all(this.sentinels.map((s) => s.stop()));
    await Promise.all(this.nodes.map((n) => n.dispose()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
