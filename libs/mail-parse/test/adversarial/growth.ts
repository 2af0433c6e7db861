/**
 * How a function's time grows when its input doubles, measured in one run so the machine's speed
 * cancels out: the minimum over repetitions at each size, the two sizes interleaved. Time is this
 * process's CPU time, not wall time: on a loaded machine wall time mostly measures the other
 * processes. Linear code gives about 2; quadratic code about 4.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A full collection before each timed run, so one run does not pay for the garbage of the last. */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

export interface Growth {
  ratio: number;
  smallMs: number;
  largeMs: number;
}

/**
 * At least this many repetitions per size, and more (up to MAX_REPETITIONS) until MIN_TOTAL_MS was
 * spent on the small one. The cap was 15: a case whose small input takes 2-3 ms then stopped at
 * 15 samples, and its minimum still moved by half from one measurement to the next (deep nested
 * multiparts measured ×1.5-3.0 in twelve measurements on a quiet machine; ×1.6-2.4 with this cap).
 */
const MIN_REPETITIONS = 5;
const MAX_REPETITIONS = 100;
const MIN_TOTAL_MS = 200;

export async function measureGrowth(run: (input: string, n: number) => unknown, make: (n: number) => string, base: number): Promise<Growth> {
  const small = make(base);
  const large = make(base * 2);
  const warmUp = Math.max(1, Math.floor(base / 10));
  await run(make(warmUp), warmUp); // JIT and lazy initialisation
  let smallMs = Infinity;
  let largeMs = Infinity;
  let total = 0;
  for (let r = 0; r < MAX_REPETITIONS && (r < MIN_REPETITIONS || total < MIN_TOTAL_MS); r++) {
    const s = await timed(() => run(small, base));
    total += s;
    smallMs = Math.min(smallMs, s);
    largeMs = Math.min(largeMs, await timed(() => run(large, base * 2)));
  }
  return { ratio: largeMs / smallMs, smallMs, largeMs };
}

async function timed(fn: () => unknown): Promise<number> {
  collectGarbage();
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}
