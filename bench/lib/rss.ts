import { sleep } from './clock';
import { rssBytes } from './infra';

/**
 * RSS once it has settled: sampled every second until the last `window` samples lie within 2 %
 * of each other (or the timeout passes); the median of that window. GC is not forced: this is
 * what the process really holds in steady state.
 */
export async function steadyRss(pid: number | undefined, timeoutMs = 30_000, window = 5): Promise<{ bytes: number; settled: boolean }> {
  const samples: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    samples.push(rssBytes(pid));
    const last = samples.slice(-window);
    if (last.length === window) {
      const lo = Math.min(...last);
      const hi = Math.max(...last);
      const settled = (hi - lo) / hi < 0.02;
      if (settled || Date.now() >= deadline) return { bytes: [...last].sort((a, b) => a - b)[Math.floor(window / 2)], settled };
    }
    await sleep(1000);
  }
}

export const kb = (bytes: number) => Math.round(bytes / 1024);
export const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
