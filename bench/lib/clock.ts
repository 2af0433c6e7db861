import { performance } from 'node:perf_hooks';

/**
 * Epoch milliseconds with sub-ms resolution. `performance.timeOrigin` is the epoch time at which
 * this process started, so the sum is comparable across processes on one machine (all load
 * generators stamp events with it).
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `probe` returns a truthy value or the deadline passes; returns undefined on timeout. */
export async function pollUntil<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(intervalMs);
  }
}
