/** Latency summary in milliseconds. */
export interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Linear-interpolated quantile of an ascending array. */
export function quantileSorted(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(values: number[]): Summary | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    n: sorted.length,
    min: round(sorted[0]),
    mean: round(sorted.reduce((s, v) => s + v, 0) / sorted.length),
    p50: round(quantileSorted(sorted, 0.5)),
    p95: round(quantileSorted(sorted, 0.95)),
    p99: round(quantileSorted(sorted, 0.99)),
    max: round(sorted[sorted.length - 1]),
  };
}

/** (value, cumulative fraction) points of the empirical CDF, thinned to at most `points`, for charts. */
export function cdfPoints(values: number[], points = 200): Array<[number, number]> {
  if (!values.length) return [];
  const sorted = [...values].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  const step = Math.max(1, Math.floor(sorted.length / points));
  for (let i = 0; i < sorted.length; i += step) out.push([round2(sorted[i]), (i + 1) / sorted.length]);
  const last = sorted.length - 1;
  if (out[out.length - 1][1] !== 1) out.push([round2(sorted[last]), 1]);
  return out;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

export const round1 = (v: number) => Math.round(v * 10) / 10;
