import { isNotConnectionError } from 'bullmq';

/** Socket-level failures: RedisService already logs these, once per failed reconnect of each connection. */
const CONNECTION_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

/** ioredis's own reports of a connection it is re-establishing (Sentinel, Cluster), which carry no errno code. */
const CONNECTION_MESSAGES = /^All sentinels are unreachable|^Failed to refresh slots cache|^None of startup nodes is available/;

export type WorkerErrorKind = 'connection' | 'worker';

/**
 * What a BullMQ worker's 'error' event carries. Besides connection errors it is the only report of
 * work BullMQ could not record: a job whose result could not be stored because its lock was lost
 * ("Missing lock for job …": the stalled check gave it to another worker, which runs it again), a
 * stalled check or a lock renewal that failed. The processor's own errors are not among them: they
 * fail the job and are retried.
 */
export function workerErrorKind(err: unknown): WorkerErrorKind {
  if (!(err instanceof Error)) return 'worker';
  const code = (err as NodeJS.ErrnoException).code;
  if ((code && CONNECTION_CODES.has(code)) || CONNECTION_MESSAGES.test(err.message)) return 'connection';
  return isNotConnectionError(err) ? 'worker' : 'connection';
}

export interface WorkerErrorLog {
  queue: string;
  err: Error;
  /** Errors of this queue not logged since the last line (over the per-window budget). */
  suppressed: number;
}

/**
 * Decides which worker errors reach the log: every one that is not a connection error, up to
 * `perWindow` per queue per `windowMs`, so a Redis in trouble (LOADING, OOM, READONLY on every
 * command) cannot flood it. The next line logged says how many were left out.
 */
export class WorkerErrorLimiter {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(
    private readonly perWindow = 10,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The line to log for `err` on `queue`, or null when it is a connection error or over budget. */
  admit(queue: string, err: unknown): WorkerErrorLog | null {
    if (workerErrorKind(err) === 'connection') return null;
    const at = this.now();
    let w = this.windows.get(queue);
    if (!w || at - w.start >= this.windowMs) {
      w = { start: at, logged: 0, suppressed: w?.suppressed ?? 0 };
      this.windows.set(queue, w);
    }
    if (w.logged >= this.perWindow) {
      w.suppressed++;
      return null;
    }
    w.logged++;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    return { queue, err: err instanceof Error ? err : new Error(String(err)), suppressed };
  }
}
