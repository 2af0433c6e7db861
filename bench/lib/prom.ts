/**
 * Just enough of the Prometheus text format to read histograms from the apps' /metrics, and to
 * estimate quantiles from their buckets the way PromQL's histogram_quantile() does.
 */
export interface HistogramSeries {
  name: string;
  labels: Record<string, string>;
  /** Cumulative counts by upper bound, ascending; the last bound is Infinity. */
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}

export type MetricsSnapshot = Map<string, HistogramSeries>;

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!text) return labels;
  for (const m of text.matchAll(LABEL)) labels[m[1]] = m[2];
  return labels;
}

const seriesKey = (name: string, labels: Record<string, string>) =>
  name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

/** Every histogram series in a /metrics body, keyed by name + labels (without `le`). */
export function parseHistograms(body: string): MetricsSnapshot {
  const out: MetricsSnapshot = new Map();
  const get = (name: string, labels: Record<string, string>) => {
    const key = seriesKey(name, labels);
    let s = out.get(key);
    if (!s) out.set(key, (s = { name, labels, buckets: [], sum: 0, count: 0 }));
    return s;
  };
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const [, metric, labelText, valueText] = m;
    const value = Number(valueText);
    const labels = parseLabels(labelText);
    if (metric.endsWith('_bucket') && 'le' in labels) {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      delete labels.le;
      get(metric.slice(0, -'_bucket'.length), labels).buckets.push([le, value]);
    } else if (metric.endsWith('_sum')) {
      get(metric.slice(0, -'_sum'.length), labels).sum = value;
    } else if (metric.endsWith('_count')) {
      get(metric.slice(0, -'_count'.length), labels).count = value;
    }
  }
  for (const [key, s] of out) {
    if (!s.buckets.length) out.delete(key);
    else s.buckets.sort((a, b) => a[0] - b[0]);
  }
  return out;
}

/** What happened between two scrapes of the same process (counters only grow). */
export function diffHistograms(after: MetricsSnapshot, before: MetricsSnapshot | undefined): MetricsSnapshot {
  const out: MetricsSnapshot = new Map();
  for (const [key, a] of after) {
    const b = before?.get(key);
    out.set(key, {
      ...a,
      buckets: a.buckets.map(([le, c], i) => [le, c - (b?.buckets[i]?.[1] ?? 0)]),
      sum: a.sum - (b?.sum ?? 0),
      count: a.count - (b?.count ?? 0),
    });
  }
  return out;
}

/** histogram_quantile(): linear interpolation inside the bucket holding the q-th observation. */
export function histogramQuantile(series: HistogramSeries, q: number): number {
  const total = series.buckets[series.buckets.length - 1]?.[1] ?? 0;
  if (!total) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of series.buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket : le;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Sum of several series (e.g. the same histogram from two gateway processes). */
export function mergeSeries(list: HistogramSeries[]): HistogramSeries | undefined {
  const [first, ...rest] = list;
  if (!first) return undefined;
  return rest.reduce<HistogramSeries>(
    (acc, s) => ({
      ...acc,
      buckets: acc.buckets.map(([le, c], i) => [le, c + (s.buckets[i]?.[1] ?? 0)]),
      sum: acc.sum + s.sum,
      count: acc.count + s.count,
    }),
    { ...first, buckets: first.buckets.map(([le, c]) => [le, c]) },
  );
}

export async function scrape(baseUrl: string): Promise<MetricsSnapshot> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`${baseUrl}/metrics answered ${res.status}`);
  return parseHistograms(await res.text());
}

/** The value of an unlabelled gauge or counter in a /metrics body (NaN when absent). */
export function gaugeValue(body: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

/** Heap in use, from prom-client's default metrics (the apps prefix them with `pushmail_`). */
export async function heapUsedBytes(baseUrl: string): Promise<number> {
  const res = await fetch(`${baseUrl}/metrics`).catch(() => undefined);
  if (!res?.ok) return NaN;
  return gaugeValue(await res.text(), 'pushmail_nodejs_heap_size_used_bytes');
}
