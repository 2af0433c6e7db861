import type { BenchReport } from './report';
import { ScenarioId } from './types';

/**
 * `--strict`: what makes a bench run fail (exit 1), so performance can fail CI.
 *
 * 1. Every scenario the run selected must end `ok` (a failed or skipped scenario measures nothing).
 * 2. Each ratio below, to a floor or a CPU-speed proxy measured in the SAME run, must not be worse
 *    than the baseline of the same mode (`bench/baseline.json` for a full run,
 *    `bench/baseline-quick.json` for a quick one) by more than its noise band. Absolute times are
 *    not compared: on this shared 2-core machine they move with the load.
 *    - `cpu` ratios divide CPU time by CPU time (the fetcher's CPU per message by the parser's,
 *      both in the same run): other work on the machine moves them far less than wall-clock
 *      figures, so they are always judged.
 *    - `wall` ratios divide wall-clock figures. The floor beside them absorbs a moderate load, not
 *      an overloaded machine (load average 19 on 2 cores made push p50 ÷ floor p50 4.9 instead of
 *      1.05): they are judged only when the load average at the start and at the end of the run
 *      stayed at or under WALL_LOAD_PER_CORE per core, and reported as not judged otherwise.
 * 3. In a full run, every target of the current definition must be met (a quick run's sizes are
 *    too small to judge the targets; it is judged by 1 and 2 only).
 *
 * The bands were chosen from six quick runs on this machine (2026-12-06), while five other
 * engineers ran their tests on the same two cores (load averages 1 to 23); NOISE_EVIDENCE is what
 * the report's method text states. A band is about twice the widest spread seen, so a slower
 * minute passes, and a fetcher spending 5 ms more CPU per message (--slow-fetcher-ms 5) fails.
 */
export const NOISE_EVIDENCE =
  'Noise bands, from quick runs on this machine on 2026-12-06 with five other engineers\' test suites sharing the two cores (load averages 1 to 23). Fetcher CPU ÷ parser CPU per message: 1.76 in the baseline run (load 23 → 14); the fetcher\'s CPU per message alone ranged 3.1–6.3 ms across runs, the parser\'s about 0.8 (calm) to 2.2 ms (load 23), so the ratio falls as the load rises, and a calm run is expected near 3.8, about 115 % above this busy baseline: band 100 % plus the advice to re-save the baseline on a calm machine. With this baseline, a normal run gave 2.74 (55 % worse: passed) and a fetcher slowed by 5 ms of CPU per message (`--slow-fetcher-ms 5`) 7.52 (326 % worse: failed), both at load averages of 13–27; an earlier slowed run, whose parser measured 2.07 ms per message, gave 3.91. Push p50 ÷ floor p50 was 1.05 (load 1 → 9) and 1.56 (load 23 → 14), band 50 %; push p99 ÷ floor p99 1.36–3.08, band 150 %; failover ÷ lease TTL 1.07–1.25, band 50 %. At load averages of 18 and more push p50 ÷ floor reached 4.9–11: no wall-clock ratio is judged above 3 per core.';
export const WALL_LOAD_PER_CORE = 3;

export interface RatioSpec {
  /** Stable key, as stored in the report's `ratios` and in the baseline. */
  key: string;
  scenario: ScenarioId;
  /** What is divided by what, for the report and the failure message. */
  what: string;
  kind: 'cpu' | 'wall';
  higherIsBetter: boolean;
  /** How much worse than the baseline (relative) is still noise. */
  band: number;
  compute: (report: BenchReport) => number | null;
}

const figure = (report: BenchReport, id: ScenarioId, name: string): number | null => {
  const s = report.scenarios.find((x) => x.id === id);
  const v = s?.status === 'ok' ? s.figures[name] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b <= 0 ? null : Math.round((a / b) * 1000) / 1000);

export const RATIOS: RatioSpec[] = [
  {
    // The fetcher's CPU per message during the burst (/proc, its whole process tree) against the
    // CPU per message of libs/mail-parse alone on the same corpus, in the same run: CPU time over
    // CPU time, so waiting for a busy core counts in neither. Not load-free: at a load average of
    // 23 the parser's CPU per message rose about 2.7x and the fetcher's 1.3x, so the ratio FALLS
    // as the machine gets busier; a baseline from a busy minute is the strict side. (The CPU of the
    // rest of the pipeline in the same burst was tried as the divisor and dropped: Redis's,
    // Dovecot's, the watcher's and the gateway's CPU grows with the burst's wall time, so it rose
    // with a slowed fetcher and hid it.)
    key: 'fetcherCpuOverParserCpu',
    scenario: 'fetch-throughput',
    what: 'fetcher CPU per message in the burst ÷ parser-only CPU per message (libs/mail-parse, same run)',
    kind: 'cpu',
    higherIsBetter: false,
    band: 1,
    compute: (r) => ratio(figure(r, 'fetch-throughput', 'fetcherCpuMsPerMessage'), figure(r, 'parser-throughput', 'libs/mail-parse cpuMsPerMessage')),
  },
  {
    key: 'pushP50OverFloor',
    scenario: 'push-latency',
    what: 'push latency p50 ÷ bare IMAP IDLE floor p50',
    kind: 'wall',
    higherIsBetter: false,
    band: 0.5,
    compute: (r) => ratio(figure(r, 'push-latency', 'p50'), figure(r, 'floor', 'p50')),
  },
  {
    key: 'pushP99OverFloor',
    scenario: 'push-latency',
    what: 'push latency p99 ÷ bare IMAP IDLE floor p99',
    kind: 'wall',
    higherIsBetter: false,
    band: 1.5,
    compute: (r) => ratio(figure(r, 'push-latency', 'p99'), figure(r, 'floor', 'p99')),
  },
  {
    key: 'failoverOverLeaseTtl',
    scenario: 'failover',
    what: 'failover kill → last delivery ÷ lease TTL',
    kind: 'wall',
    higherIsBetter: false,
    band: 0.5,
    compute: (r) => {
      const ttl = r.scenarios.find((s) => s.id === 'failover')?.params.leaseTtlMs;
      return ratio(figure(r, 'failover', 'lastDeliverySeconds'), typeof ttl === 'number' ? ttl / 1000 : null);
    },
  },
];

/** Whether the machine was calm enough during the run for wall-clock ratios to be judged. */
export function wallRatiosJudged(report: BenchReport): boolean {
  const load = Math.max(report.machine.loadAvgAtStart, report.loadAvgAtEnd ?? 0);
  return load <= WALL_LOAD_PER_CORE * report.machine.cores;
}

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
  /** false: a wall-clock ratio on an overloaded machine, reported only. */
  judged: boolean;
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
  const calm = wallRatiosJudged(report);
  for (const spec of RATIOS) {
    if (!(spec.key in now)) continue; // scenario not selected in this run
    const n = now[spec.key] ?? null;
    const b = was[spec.key] ?? null;
    const worse = n === null || b === null ? null : (spec.higherIsBetter ? b - n : n - b) / b;
    const judged = spec.kind === 'cpu' || calm;
    // A ratio the baseline lacks (added since) cannot regress against it.
    const ok = !judged || (n !== null && (b === null || (worse !== null && worse <= spec.band)));
    checks.push({ key: spec.key, what: spec.what, now: n, baseline: b, worse, band: spec.band, judged, ok });
    if (!judged) continue;
    if (n === null) failures.push(`${spec.scenario} ${spec.key} (${spec.what}) could not be measured in this run`);
    else if (!ok && worse !== null) failures.push(`regression: ${spec.scenario} ${spec.key} (${spec.what}) is ${n}, baseline ${b}: ${pct(worse)} worse, beyond the ${pct(spec.band)} noise band`);
  }
  return { ok: failures.length === 0, failures, checks };
}
