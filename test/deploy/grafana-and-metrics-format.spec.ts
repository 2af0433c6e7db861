import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { repoRoot } from './support/kustomize';
import { REQUIRED_SERIES, defaultMetricNames, registeredMetricNames } from './support/metric-catalog';
import { parsePrometheusText } from './support/prometheus';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ refId: string; expr: string }>;
}

describe('Grafana dashboard (deploy/grafana/pushmail-dashboard.json)', () => {
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/pushmail-dashboard.json'), 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string }> } };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
  const metricsIn = (expr: string) => [...expr.matchAll(/\bpushmail_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));

  it('is an importable dashboard: uid, unique panel ids, a Prometheus datasource variable, panels on the 24-column grid', () => {
    expect(dashboard.uid).toBe('pushmail-overview');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'datasource', type: 'datasource' })]));
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    expect(exprs.length).toBeGreaterThan(20);
  });

  it('queries only series the apps register (or prom-client\'s default process metrics)', async () => {
    const known = new Set([...registeredMetricNames(), ...(await defaultMetricNames())]);
    const unknown = exprs.flatMap(({ panel, expr }) => metricsIn(expr).filter((m) => !known.has(m)).map((m) => `${panel}: ${m}`));
    expect(unknown).toEqual([]);
  });

  it('charts every series issue 6 asks for', () => {
    const charted = new Set(exprs.flatMap(({ expr }) => metricsIn(expr)));
    expect(REQUIRED_SERIES.map((s) => s.name).filter((name) => !charted.has(name))).toEqual([]);
  });

  it('every query has balanced brackets and uses $__rate_interval for rates', () => {
    for (const { panel, expr } of exprs) {
      let depth = 0;
      for (const ch of expr) {
        depth += ch === '(' || ch === '{' || ch === '[' ? 1 : ch === ')' || ch === '}' || ch === ']' ? -1 : 0;
        expect({ panel, depth: depth >= 0 }).toEqual({ panel, depth: true });
      }
      expect({ panel, depth }).toEqual({ panel, depth: 0 });
      for (const m of expr.matchAll(/rate\([^[]+\[([^\]]+)\]/g)) expect({ panel, window: m[1] }).toEqual({ panel, window: '$__rate_interval' });
    }
  });
});

describe('Prometheus text parser used by the /metrics tests', () => {
  it('parses what prom-client renders, with labels, escapes and histograms', async () => {
    const registry = new Registry();
    new Counter({ name: 'pm_c_total', help: 'c', labelNames: ['outcome'], registers: [registry] }).inc({ outcome: 'say "hi"\\n' }, 2);
    new Gauge({ name: 'pm_g', help: 'g', registers: [registry] }).set(NaN);
    const h = new Histogram({ name: 'pm_h_ms', help: 'h', buckets: [1, 10], labelNames: ['q'], registers: [registry] });
    h.observe({ q: 'a' }, 5);
    h.observe({ q: 'a' }, 50);
    const families = parsePrometheusText(await registry.metrics());
    expect(families.get('pm_c_total')?.samples).toEqual([{ name: 'pm_c_total', labels: { outcome: 'say "hi"\\n' }, value: 2 }]);
    expect(families.get('pm_g')?.samples[0].value).toBeNaN();
    const buckets = families.get('pm_h_ms')!.samples.filter((s) => s.name === 'pm_h_ms_bucket');
    expect(buckets.map((b) => [b.labels.le, b.value])).toEqual([['1', 0], ['10', 1], ['+Inf', 2]]);
  });

  it.each([
    ['a sample before any TYPE/HELP of its family', 'foo 1\n'],
    ['a malformed value', '# TYPE foo gauge\nfoo one\n'],
    ['a malformed label set', '# TYPE foo gauge\nfoo{a="1",b=2} 1\n'],
    ['a sample of another family', '# TYPE foo gauge\nbar 1\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['a non-cumulative histogram', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['an unknown type', '# TYPE foo meter\n'],
  ])('rejects %s', (_, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
