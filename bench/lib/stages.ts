import { HistogramSeries, MetricsSnapshot, diffHistograms, histogramQuantile, mergeSeries } from './prom';
import { round1 } from './stats';
import { Table } from './types';

/** The pipeline's own latency histograms, in the order a message passes them. */
export const STAGE_ORDER = [
  'pushmail_exists_to_enqueue_ms',
  'pushmail_fetch_stage_ms',
  'pushmail_exists_to_append_ms',
  'pushmail_event_to_socket_ms',
  'pushmail_push_latency_ms',
];

const orderOf = (name: string) => {
  const i = STAGE_ORDER.indexOf(name);
  return i < 0 ? STAGE_ORDER.length : i;
};

/**
 * One row per histogram series (`pushmail_*_ms`, per label set) observed between the two scrapes
 * of each app: p50 and p99 estimated from the buckets. Series from replicas of one app are summed.
 */
export function stagesTable(before: Map<string, MetricsSnapshot>, after: Map<string, MetricsSnapshot>): Table {
  const rows: Array<[string, string, string, number, number | null, number | null, number | null]> = [];
  const byKey = new Map<string, { app: string; series: HistogramSeries[] }>();
  for (const [app, snapshot] of after) {
    const diff = diffHistograms(snapshot, before.get(app));
    for (const [key, series] of diff) {
      if (!/^pushmail_.*_ms$/.test(series.name) || series.count <= 0) continue;
      const entry = byKey.get(key) ?? { app: app.replace(/-\d+$/, ''), series: [] };
      entry.series.push(series);
      byKey.set(key, entry);
    }
  }
  for (const { app, series } of byKey.values()) {
    const merged = mergeSeries(series)!;
    const labels = Object.entries(merged.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const mean = merged.count ? round1(merged.sum / merged.count) : null;
    rows.push([merged.name, labels, series.length > 1 ? `${app} ×${series.length}` : app, merged.count, round1(histogramQuantile(merged, 0.5)), round1(histogramQuantile(merged, 0.99)), mean]);
  }
  rows.sort((a, b) => orderOf(a[0]) - orderOf(b[0]) || a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
  return {
    title: 'per stage, this run only (ms)',
    columns: ['histogram', 'labels', 'app', 'n', 'p50 (est.)', 'p99 (est.)', 'mean'],
    rows: rows.map(([name, labels, app, n, p50, p99, mean]) => [name, labels, app, n, p50, p99, mean]),
  };
}
