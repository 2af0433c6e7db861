import type { BackoffStrategy } from 'bullmq';

/** The name jobs carry in `backoff.type` for {@link cappedExponentialDelay}; every QueueService worker knows it. */
export const CAPPED_EXPONENTIAL = 'capped-exponential';

/** The longest wait between two attempts of a job with {@link CAPPED_EXPONENTIAL}. */
export const RETRY_CAP_MS = 5 * 60_000;

/** Each wait is drawn between this share of its nominal value and the whole, so retries of jobs that failed together spread out. */
const JITTER = 0.2;

/**
 * The wait before the next attempt after `attemptsMade` failed ones: `baseMs` doubled per failure,
 * at most {@link RETRY_CAP_MS}, less up to 20 % at random.
 */
export function cappedExponentialDelay(attemptsMade: number, baseMs: number, random: () => number = Math.random): number {
  const nominal = Math.min(RETRY_CAP_MS, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(nominal * (1 - JITTER * random()));
}

/** The least total wait over `attempts` attempts (every draw at its lowest): how long an outage the retries outlast. */
export function minimumRetrySpanMs(attempts: number, baseMs: number): number {
  let total = 0;
  for (let made = 1; made < attempts; made++) total += cappedExponentialDelay(made, baseMs, () => 1);
  return total;
}

/**
 * BullMQ's `settings.backoffStrategy` for a worker, which BullMQ asks for any `backoff.type` it
 * does not know: {@link cappedExponentialDelay} of the job's own `backoff.delay`.
 */
export const backoffStrategy: BackoffStrategy = (attemptsMade, type, _err, job) => {
  const backoff = job?.opts.backoff;
  if (type !== CAPPED_EXPONENTIAL || typeof backoff !== 'object' || backoff.delay === undefined) throw new Error(`unknown backoff ${type}`);
  return cappedExponentialDelay(attemptsMade, backoff.delay);
};
