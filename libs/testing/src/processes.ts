import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Every process a test starts is recorded (by PID) in a file that Jest's global teardown reads,
 * so a failing or crashing test file cannot leave a Redis or Dovecot behind.
 */
export const PIDFILE_ENV = 'PUSHMAIL_TEST_PIDFILE';

const live = new Set<ChildProcess>();

function record(pid: number): void {
  const file = process.env[PIDFILE_ENV];
  if (file) appendFileSync(file, `${pid}\n`);
}

export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (child.pid) record(child.pid);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves when the process has exited. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Kills every PID listed in the pidfile (global teardown). */
export function killRecorded(file: string): number {
  if (!existsSync(file)) return 0;
  let killed = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const pid = Number(line);
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000, what = 'condition', intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value as T;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Collects a child's output so a failing test can show it. */
export function captureOutput(child: ChildProcess): { text: () => string } {
  let out = '';
  const add = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return { text: () => out };
}
