import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';

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

/** Ports this process handed out already: the kernel may offer a just-closed port again, and two services of one server must never share one. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port;
}

/** `count` distinct free loopback ports, all held open together while they are chosen so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = createServer();
      server.unref();
      held.push(server);
      const port = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
      });
      if (!handedOut.has(port)) ports.push(port);
    }
  } finally {
    await Promise.all(held.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
  for (const port of ports) handedOut.add(port);
  return ports;
}

/**
 * `count` consecutive free ports below the kernel's ephemeral range (returns the first), for a
 * spawned program that must be told its port in advance and binds it only once booted, or that
 * takes the next ones for itself (`npm start --port P` puts its watcher and fetcher on P+1 and P+2).
 * A port from `freePort()` is ephemeral, so meanwhile any process's `listen(0)` or outgoing
 * connection can land on it; below the range only an explicit bind can, and every one of these is
 * checked free on all interfaces when handed out.
 */
export async function freeConsecutivePorts(count: number): Promise<number> {
  const ephemeralLow = ephemeralRangeStart();
  const low = 20_000;
  const span = ephemeralLow - count - low;
  if (span <= 0) throw new Error(`no room for ${count} ports between ${low} and the ephemeral range at ${ephemeralLow}`);
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = low + Math.floor(Math.random() * span);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if (ports.some((port) => handedOut.has(port))) continue;
    const held = await Promise.all(ports.map(holdPort));
    await Promise.all(held.map((server) => (server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined)));
    if (held.every(Boolean)) {
      for (const port of ports) handedOut.add(port);
      return base;
    }
  }
  throw new Error(`found no ${count} consecutive free ports below ${ephemeralLow}`);
}

/** Linux's first ephemeral port (32768 when the machine does not say). */
function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** A listener on `port` on every interface, or undefined when something holds the port. */
function holdPort(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}

/**
 * Starts a server on freshly chosen ports, choosing again when it could not bind: between choosing a
 * port and the server binding it, another process on the machine may take it.
 */
export async function startOnFreePorts<T>(attempts: number, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !isBindFailure(err)) throw err;
    }
  }
}

function isBindFailure(err: unknown): boolean {
  return /address already in use|duplicate listener|bind\(|could not create server tcp listening socket/i.test((err as Error)?.message ?? '');
}

/** Thrown by a waitFor probe when waiting longer cannot help, e.g. the server process has exited. */
export class WaitAborted extends Error {}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000, what = 'condition', intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value as T;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
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
