import { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { captureOutput, freePort, spawnTracked, startOnFreePorts, stopProcess, waitFor, WaitAborted } from './processes';

export type AppName = 'watcher' | 'fetcher' | 'gateway';
export const REPO_ROOT = resolve(__dirname, '../../..');

export function builtAppPath(app: AppName): string {
  const path = join(REPO_ROOT, 'dist/apps', app, 'main.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first (npm test does)`);
  return path;
}

export interface StartOptions {
  /** false: wait for /health/live only (the app may stay unready, e.g. without its IMAP server). */
  waitReady?: boolean;
  /**
   * How long the app may take to become ready. Generous by default: on a loaded two-core machine a
   * Node app can take 20 s to boot, and a shorter wait fails tests that are not about boot time.
   */
  readyTimeoutMs?: number;
}

/**
 * A built app (`node dist/apps/<app>/main.js`) as a separate process, exactly as deployed.
 * Multi-replica tests (watchers, gateways) use this; single-process tests can use bootstrap().
 */
export class AppProcess {
  private output!: { text: () => string };

  private constructor(
    readonly app: AppName,
    readonly port: number,
    readonly child: ChildProcess,
  ) {
    this.output = captureOutput(child);
  }

  /**
   * Without a PORT in `env`, a free port is chosen, and chosen again when the app could not bind it:
   * between choosing a port and the app listening on it, another process on the machine may take it.
   */
  static async start(app: AppName, env: Record<string, string | undefined>, options: StartOptions = {}): Promise<AppProcess> {
    if (env.PORT) return AppProcess.startOn(Number(env.PORT), app, env, options);
    return startOnFreePorts(3, async () => AppProcess.startOn(await freePort(), app, env, options));
  }

  private static async startOn(port: number, app: AppName, env: Record<string, string | undefined>, options: StartOptions): Promise<AppProcess> {
    const child = spawnTracked(process.execPath, [builtAppPath(app)], {
      env: { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
      cwd: REPO_ROOT,
    });
    const proc = new AppProcess(app, port, child);
    const path = options.waitReady === false ? '/health/live' : '/health/ready';
    await waitFor(async () => {
      // An exited app cannot become ready: stop waiting (its log says why, e.g. EADDRINUSE).
      if (child.exitCode !== null) throw new WaitAborted(`${app} exited with ${child.exitCode}: ${proc.logs()}`);
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return res.ok;
    }, options.readyTimeoutMs ?? 60_000, `${app} ${path}`, 50).catch((err) => {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${proc.logs().slice(-4000)}`);
    });
    return proc;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  logs(): string {
    return this.output.text();
  }

  stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    return stopProcess(this.child, signal, graceMs);
  }

  kill9(): Promise<void> {
    return stopProcess(this.child, 'SIGKILL');
  }

  exited(): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((r) => this.child.once('exit', (code) => r(code)));
  }
}
