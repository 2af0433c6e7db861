/** One sample line of the Prometheus text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface MetricFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+(-?\\d+))?$`);
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count', ''], counter: ['', '_total'], gauge: [''], untyped: [''] };

/** Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(text: string, line: number): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const n = Number(text);
  if (text === '' || Number.isNaN(n)) throw new Error(`line ${line}: "${text}" is not a number`);
  return n;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m) throw new Error(`line ${line}: bad label set at "${text.slice(start)}"`);
    if (m[1] in labels) throw new Error(`line ${line}: duplicate label ${m[1]}`);
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    if (m[3] === '') break;
  }
  return labels;
}

/**
 * A strict parser for the text format (version 0.0.4): every line must be a comment, a
 * HELP/TYPE line or a well-formed sample of the family declared before it; histograms must have
 * cumulative buckets ending in le="+Inf" equal to _count. Throws on the first violation.
 */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  let current: MetricFamily | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    const n = i + 1;
    if (line === '') return;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`line ${n}: bad metric name ${name}`);
      const family = families.get(name) ?? { name, type: 'untyped' as const, samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`line ${n}: bad type ${rest}`);
        if (family.samples.length) throw new Error(`line ${n}: TYPE for ${name} after its samples`);
        family.type = rest as MetricFamily['type'];
      } else {
        family.help = rest;
      }
      families.set(name, family);
      current = family;
      return;
    }
    if (line.startsWith('#')) return;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`line ${n}: not a sample: ${line}`);
    const [, name, labelText, valueText] = m;
    const family = current && SUFFIXES[current.type].some((s) => current!.name + s === name) ? current : undefined;
    if (!family) throw new Error(`line ${n}: sample ${name} outside its family (${current?.name ?? 'none'})`);
    family.samples.push({ name, labels: labelText ? parseLabels(labelText, n) : {}, value: parseValue(valueText, n) });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function checkHistogram(family: MetricFamily): void {
  const series = new Map<string, Sample[]>();
  const key = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort());
  for (const s of family.samples.filter((x) => x.name.endsWith('_bucket'))) {
    if (!('le' in s.labels)) throw new Error(`${family.name}: bucket without le`);
    series.set(key(s.labels), [...(series.get(key(s.labels)) ?? []), s]);
  }
  for (const [labels, buckets] of series) {
    const inf = buckets.find((b) => b.labels.le === '+Inf');
    if (!inf) throw new Error(`${family.name}${labels}: no le="+Inf" bucket`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i].value < buckets[i - 1].value) throw new Error(`${family.name}${labels}: buckets are not cumulative`);
    }
    const count = family.samples.find((s) => s.name === `${family.name}_count` && key(s.labels) === labels);
    if (!count || count.value !== inf.value) throw new Error(`${family.name}${labels}: _count does not equal the +Inf bucket`);
  }
}
