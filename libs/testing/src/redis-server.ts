import { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { captureOutput, freePorts, spawnTracked, startOnFreePorts, stopProcess, waitFor, WaitAborted } from './processes';

export interface RedisServerOptions {
  /** AOF on, as production runs it: a restart keeps the data. */
  appendonly?: boolean;
  /** fsync policy of the AOF; `everysec` is what docs/operations.md deploys. Default `always`. */
  appendfsync?: 'always' | 'everysec' | 'no';
  maxmemoryPolicy?: string;
  /** Starts as a replica of the Redis on this loopback port (a Sentinel set's replica). */
  replicaOf?: number;
  /**
   * A Redis Cluster node: `--cluster-enabled yes`, its bus on a free port of its own (the default,
   * port + 10000, may be taken or past 65535), and this node timeout (how long until a silent
   * master is failed over).
   */
  cluster?: { nodeTimeoutMs: number };
}

/** A private redis-server on a free loopback port. */
export class TestRedis {
  private child?: ChildProcess;
  private output?: { text: () => string };
  readonly dir = mkdtempSync(join(tmpdir(), 'pm-redis-'));

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
    /** The cluster bus port of a cluster node (kept across restarts: the other nodes know it). */
    readonly busPort?: number,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<TestRedis> {
    return startOnFreePorts(3, async () => {
      const [port, busPort] = await freePorts(options.cluster ? 2 : 1);
      const redis = new TestRedis(port, options, busPort);
      try {
        await redis.startProcess();
      } catch (err) {
        await redis.dispose();
        throw err;
      }
      return redis;
    });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** A client for test assertions; the caller quits it. */
  client(): IORedis {
    return new IORedis(this.url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child) await stopProcess(this.child, signal);
    this.child = undefined;
  }

  /** Stops (SIGTERM, or e.g. SIGKILL for a crash) and starts again on the same port and data dir. */
  async restart(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.startProcess();
  }

  /** Starts a server that was stopped again, on the same port and data dir (a Redis outage with a gap). */
  async startAgain(): Promise<void> {
    if (!this.child) await this.startProcess();
  }

  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  logs(): string {
    return this.output?.text() ?? '';
  }

  private async startProcess(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', this.options.appendonly ? 'yes' : 'no',
      '--appendfsync', this.options.appendfsync ?? 'always',
      '--dir', this.dir,
      '--maxmemory-policy', this.options.maxmemoryPolicy ?? 'noeviction',
      '--daemonize', 'no',
      ...(this.options.replicaOf ? ['--replicaof', '127.0.0.1', String(this.options.replicaOf)] : []),
      ...(this.options.cluster
        ? [
            '--cluster-enabled', 'yes',
            // In the data dir, so a restarted node keeps its identity and rejoins as what it was.
            '--cluster-config-file', join(this.dir, 'nodes.conf'),
            '--cluster-port', String(this.busPort),
            '--cluster-node-timeout', String(this.options.cluster.nodeTimeoutMs),
          ]
        : []),
    ];
    this.child = spawnTracked('redis-server', args);
    this.output = captureOutput(this.child);
    const probe = new IORedis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(async () => {
        if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) throw new WaitAborted(`redis-server exited: ${this.logs()}`);
        if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
        return (await probe.ping()) === 'PONG';
      }, 10_000, 'redis-server to answer PING');
    } finally {
      probe.disconnect();
    }
  }
}
