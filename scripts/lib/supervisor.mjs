import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream } from 'node:fs';
import { sleep } from './checks.mjs';

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A process that stayed up this long counts as healthy: its next crash restarts quickly again. */
const STABLE_AFTER_MS = 60_000;

/**
 * One child process kept running: restarted after a crash with exponential backoff, output
 * appended to a log file, stopped in order on shutdown. Children get their own process group, so a
 * Ctrl-C in the terminal reaches only npm start, which then stops them in the right order.
 */
export class Supervised {
  constructor({ name, command, args, env, cwd, logFile, onLine, onExit, restart = true }) {
    Object.assign(this, { name, command, args, env, cwd, logFile, onLine, onExit, restart });
    this.stopping = false;
    this.restarts = 0;
    this.backoffMs = MIN_BACKOFF_MS;
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  start() {
    this.startedAt = Date.now();
    this.exited = new Promise((resolve) => {
      this.child = spawn(this.command, this.args, { cwd: this.cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      recordPid(this.child.pid);
      let partial = '';
      const onData = (chunk) => {
        this.log.write(chunk);
        partial += chunk.toString();
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.onLine?.(line);
      };
      this.child.stdout.on('data', onData);
      this.child.stderr.on('data', onData);
      this.child.on('error', (err) => {
        this.log.write(`spawn failed: ${err.message}\n`);
      });
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
        if (this.stopping) return;
        void this.afterCrash(code, signal);
      });
    });
    return this;
  }

  async afterCrash(code, signal) {
    if (!this.restart) return this.onExit?.({ code, signal, restarting: false });
    if (Date.now() - this.startedAt > STABLE_AFTER_MS) this.backoffMs = MIN_BACKOFF_MS;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    this.restarts++;
    this.onExit?.({ code, signal, restarting: true, delayMs: delay });
    await sleep(delay);
    if (!this.stopping) this.start();
  }

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000) {
    this.stopping = true;
    if (!this.running) return;
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    this.kill('SIGTERM');
    await this.exited;
    clearTimeout(timer);
    this.log.end();
  }

  kill(signal) {
    try {
      this.child?.kill(signal);
    } catch {
      // already gone
    }
  }
}

/**
 * When run from the integration tests, every process is listed in the harness's pidfile so its
 * global teardown can kill what a failed test left behind.
 */
export function recordPid(pid) {
  const file = process.env.PUSHMAIL_TEST_PIDFILE;
  if (file && pid) appendFileSync(file, `${pid}\n`);
}
