/**
 * Exponential backoff with full jitter (a uniformly random delay up to the exponential cap), so
 * thousands of sessions that failed together do not retry together.
 */
export function fullJitterBackoff(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * cap);
}

/** A long fixed delay with ±10 % jitter, for failures that retrying soon cannot fix (bad credentials). */
export function jitteredDelay(delayMs: number, random: () => number = Math.random): number {
  return Math.floor(delayMs * (0.9 + 0.2 * random()));
}
