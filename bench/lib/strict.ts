import type { BenchReport } from './report';
import { ScenarioId } from './types';

/**
 * `--strict`: what makes a bench run fail (exit 1), so performance can fail CI.
 *
 * 1. Every scenario the run selected must end `ok` (a failed or skipped scenario measures nothing).
 * 2. Each figure below, a ratio to a floor or a CPU-speed proxy measured in the SAME run, must not
 *    be worse than the baseline of the same mode (`bench/baseline.json` for a full run,
 *    `bench/baseline-quick.json` for a quick one) by more than its noise band. Absolute times are
 *    not compared: on this shared 2-core machine they move with the load, while a ratio to
 *    something measured beside them moves much less.
 * 3. In a full run, every target of the current definition must be met (a quick run's sizes are
 *    too small to judge the targets; it is judged by 1 and 2 only).
 */
export interface RatioSpec {
  /** Stable key, as stored in the report's `ratios` and in the baseline. */
  key: string;
  scenario: ScenarioId;
  /** What is divided by what, for the report and the failure message. */
  what: string;
  higherIsBetter: boolean;
  /**
   * How much worse than the baseline (relative) is still noise: chosen from repeated quick runs on
   * this machine (see the report's method text), with room for a busier minute.
   */
  band: number;
  compute: (report: BenchReport) => number | null;
}

const figure = (report: BenchReport, id: ScenarioId, name: string): number | null => {
  const s = report.scenarios.find((x) => x.id === id);
  const v = s?.status === 'ok' ? s.figures[name] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b <= 0 ? null : Math.round((a / b) * 1000) / 1000);

/** The CPU-speed proxy: libs/mail-parse's own parse rate on one core, in the same run. */
const PARSER = (r: BenchReport) => figure(r, 'parser-throughput', 'libs/mail-parse msgPerS');

export const RATIOS: RatioSpec[] = [
  {
    key: 'pushP50OverFloor',
    scenario: 'push-latency',
    what: 'push latency p50 ÷ bare IMAP IDLE floor p50',
    higherIsBetter: false,
    band: 0.1,
    compute: (r) => ratio(figure(r, 'push-latency', 'p50'), figure(r, 'floor', 'p50')),
  },
  {
    key: 'pushP99OverFloor',
    scenario: 'push-latency',
    what: 'push latency p99 ÷ bare IMAP IDLE floor p99',
    higherIsBetter: false,
    band: 0.5,
    compute: (r) => ratio(figure(r, 'push-latency', 'p99'), figure(r, 'floor', 'p99')),
  },
  {
    key: 'burstOverParser',
    scenario: 'fetch-throughput',
    what: 'fetch burst msg/s (running fetcher) ÷ parser-only msg/s',
    higherIsBetter: true,
    band: 0.5,
    compute: (r) => ratio(figure(r, 'fetch-throughput', 'msgPerS'), PARSER(r)),
  },
  {
    key: 'freshBurstOverParser',
    scenario: 'fetch-throughput',
    what: 'fetch burst msg/s (fresh fetcher) ÷ parser-only msg/s',
    higherIsBetter: true,
    band: 0.5,
    compute: (r) => ratio(figure(r, 'fetch-throughput', 'freshMsgPerS'), PARSER(r)),
  },
  {
    key: 'jobToEventP50OverParse',
    scenario: 'fetch-latency',
    what: 'fetch job → event p50 ÷ parser-only time per message',
    higherIsBetter: false,
    band: 1,
    compute: (r) => {
      const parser = PARSER(r);
      return ratio(figure(r, 'fetch-latency', 'p50'), parser ? 1000 / parser : null);
    },
  },
  {
    key: 'failoverOverLeaseTtl',
    scenario: 'failover',
    what: 'failover kill → last delivery ÷ lease TTL',
    higherIsBetter: false,
    band: 0.3,
    compute: (r) => {
      const ttl = r.scenarios.find((s) => s.id === 'failover')?.params.leaseTtlMs;
      return ratio(figure(r, 'failover', 'lastDeliverySeconds'), typeof ttl === 'number' ? ttl / 1000 : null);
    },
  },
];

/** The ratios of one run, for its JSON and report (null: not measurable in this run). */
export function computeRatios(report: BenchReport): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const spec of RATIOS) if (report.scenarios.some((s) => s.id === spec.scenario)) out[spec.key] = spec.compute(report);
  return out;
}

export interface StrictCheck {
  key: string;
  what: string;
  now: number | null;
  baseline: number | null;
  /** Relative change, signed so that positive is worse. */
  worse: number | null;
  band: number;
  ok: boolean;
}

export interface StrictVerdict {
  ok: boolean;
  /** One line per reason the run fails, naming the figure. */
  failures: string[];
  checks: StrictCheck[];
}

const pct = (v: number) => `${Math.round(v * 100)} %`;

export function strictVerdict(report: BenchReport, baseline: BenchReport | undefined): StrictVerdict {
  const failures: string[] = [];
  for (const s of report.scenarios) if (s.status !== 'ok') failures.push(`scenario ${s.id} is ${s.status}${s.reason ? `: ${s.reason}` : ''}`);

  if (report.mode === 'full') {
    for (const s of report.scenarios)
      for (const t of s.targets)
        if (t.met === false && t.definition !== 'original') failures.push(`target missed: ${s.id} ${t.measure} = ${t.value} ${t.unit} (target ${t.target})`);
  }

  const checks: StrictCheck[] = [];
  if (!baseline || baseline.mode !== report.mode) {
    failures.push(`no ${report.mode} baseline to compare with (make one with \`npm run bench -- ${report.mode === 'quick' ? '--quick ' : ''}--save-baseline\`)`);
    return { ok: false, failures, checks };
  }
  const now = computeRatios(report);
  const was = computeRatios(baseline);
  for (const spec of RATIOS) {
    if (!(spec.key in now)) continue; // scenario not selected in this run
    const n = now[spec.key] ?? null;
    const b = was[spec.key] ?? null;
    const worse = n === null || b === null ? null : (spec.higherIsBetter ? b - n : n - b) / b;
    const ok = n !== null && (b === null || (worse !== null && worse <= spec.band));
    checks.push({ key: spec.key, what: spec.what, now: n, baseline: b, worse, band: spec.band, ok });
    if (n === null) failures.push(`${spec.scenario} ${spec.key} (${spec.what}) could not be measured in this run`);
    else if (!ok && worse !== null) failures.push(`regression: ${spec.scenario} ${spec.key} (${spec.what}) is ${n}, baseline ${b}: ${pct(worse)} worse, beyond the ${pct(spec.band)} noise band`);
  }
  return { ok: failures.length === 0, failures, checks };
}
