import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { appendFileSync } from 'node:fs';
import { PIDFILE_ENV } from '@pushmail/testing';

/**
 * Load generators (deliverers, IDLE floor clients, pollers, socket clients, appenders) run in
 * their own Node processes so they never share an event loop with what they measure. They speak a
 * tiny request/response protocol over the IPC channel.
 */
type Handler = (args: never) => unknown;
type Request = { id: number; method: string; args: unknown };
type Response = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** Worker side: answers the parent's calls with these handlers. */
export function serveWorker(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('a bench worker must be started by the bench runner (no IPC channel)');
  process.on('message', (msg: Request) => {
    void (async () => {
      const handler = handlers[msg.method];
      let response: Response;
      try {
        if (!handler) throw new Error(`unknown method ${msg.method}`);
        response = { id: msg.id, ok: true, value: await handler(msg.args as never) };
      } catch (err) {
        response = { id: msg.id, ok: false, error: (err as Error).stack ?? String(err) };
      }
      process.send!(response);
    })();
  });
  // The runner going away (crash, Ctrl-C) must not leave load generators running.
  process.on('disconnect', () => process.exit(0));
  process.send({ id: 0, ok: true, value: 'ready' } satisfies Response);
}

/** Parent side. */
export class WorkerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private output = '';

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('message', (msg: Response) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(`${name}: ${msg.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`${name} exited (${code ?? signal}): ${this.output.slice(-2000)}`));
      this.pending.clear();
    });
  }

  /** Starts `bench/workers/<script>.ts` under tsx and waits for its ready message. */
  static async start(script: string, name = script, nodeFlags: string[] = []): Promise<WorkerProcess> {
    const file = join(__dirname, '..', 'workers', `${script}.ts`);
    const child = fork(file, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048', ...nodeFlags],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      cwd: join(__dirname, '..', '..'),
    });
    recordPid(child);
    const worker = new WorkerProcess(name, child);
    await new Promise<void>((resolve, reject) => {
      // 90 s: starting tsx took over 30 s at a load average of 24 on 2 cores; a hung worker still fails.
      // A worker given up on is killed: once started late, its IPC channel kept the runner alive.
      const timer = setTimeout(() => {
        worker.pending.delete(0);
        child.kill('SIGKILL');
        reject(new Error(`${name} did not start within 90 s: ${worker.output}`));
      }, 90_000);
      worker.pending.set(0, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    return worker;
  }

  call<T>(method: string, args: unknown = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, method, args } satisfies Request);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    this.child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  }
}

/** The test harness's PID file (set under Jest) reaps workers even if the runner crashes. */
function recordPid(child: ChildProcess): void {
  const file = process.env[PIDFILE_ENV];
  if (file && child.pid) appendFileSync(file, `${child.pid}\n`);
}
