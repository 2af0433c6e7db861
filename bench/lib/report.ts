import { MachineInfo } from './infra';
import { Reliability, renderReliability } from './reliability';
import { Summary, summarize } from './stats';
import { NOISE_EVIDENCE, RATIOS, WALL_LOAD_PER_CORE, wallRatiosJudged } from './strict';
import { HIGHER_IS_BETTER, Params, ScenarioResult, Table, TargetCheck } from './types';

export interface BenchReport {
  schema: 'pushmail-bench/1';
  mode: 'quick' | 'scaled' | 'full';
  startedAt: string;
  finishedAt: string;
  durationS: number;
  git: { commit: string; dirty: boolean; subject: string };
  machine: MachineInfo;
  params: Params;
  scenarios: ScenarioResult[];
  distributions: Record<string, Summary | null>;
  loadAvgAtEnd?: number;
  /** What ran under the apps, as the method text states it (older reports lack it). */
  infra?: BenchInfra;
  /** Ratios to a floor or CPU-speed proxy measured in the same run; what `--strict` judges (bench/lib/strict.ts). */
  ratios?: Record<string, number | null>;
  /** The chaos test's runs found in test-artifacts/ when the report was written (not measured by the bench). */
  reliability?: Reliability;
}

export interface BenchInfra {
  redis: { appendonly: boolean; appendfsync: string };
  /** Dovecot's `mail_fsync` in the bench's config. */
  dovecotMailFsync: string;
  /** `--slow-fetcher-ms`: a deliberately slowed fetcher (0: not slowed). */
  slowFetcherMs: number;
}

export interface Regression {
  scenario: string;
  figure: string;
  baseline: number;
  now: number;
  change: string;
}

/** Figures worth comparing between runs: latencies, memory, times, throughputs (not a max: one sample). */
const COMPARABLE = /p50|p95|p99|PerS|kbPer|seconds|Seconds|gap/i;

/**
 * Figures that got worse than the baseline by more than 20 % and by more than a small absolute
 * margin (2 ms / KB / s / msg/s): the machines are noisy, so small wobbles are not regressions.
 */
/** What a comparison reads of a report: its mode and scenarios (so a test passes just those). */
export type ComparedReport = Pick<BenchReport, 'mode' | 'scenarios'>;

export function compareToBaseline(current: ComparedReport, baseline: ComparedReport | undefined): Regression[] {
  // Different sizes (quick, scaled) give different figures: only like is compared with like.
  if (!baseline || baseline.mode !== current.mode) return [];
  const out: Regression[] = [];
  for (const s of current.scenarios) {
    const b = baseline.scenarios.find((x) => x.id === s.id);
    if (!b || s.status !== 'ok' || b.status !== 'ok') continue;
    for (const [figure, now] of Object.entries(s.figures)) {
      const was = b.figures[figure];
      if (typeof now !== 'number' || typeof was !== 'number' || !COMPARABLE.test(figure)) continue;
      const higherBetter = HIGHER_IS_BETTER.test(figure);
      const worse = higherBetter ? was - now : now - was;
      if (worse > 2 && worse > Math.abs(was) * 0.2) {
        out.push({ scenario: s.id, figure, baseline: was, now, change: `${now > was ? '+' : ''}${Math.round(((now - was) / (Math.abs(was) || 1)) * 100)} %` });
      }
    }
  }
  return out;
}

const cell = (v: string | number | null | undefined) => (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v)) ? '—' : String(v).replace(/\|/g, '\\|'));

function mdTable(t: Table): string {
  const lines = [];
  if (t.title) lines.push(`*${t.title}*`, '');
  lines.push(`| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`);
  for (const row of t.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

const mark = (met: boolean | null) => (met === null ? '—' : met ? '✅ met' : '❌ missed');
const definitionText = (t: TargetCheck) => (t.definition === 'original' ? 'original definition: ' : t.definition === 'current' ? 'current definition: ' : '');
const statusText = (s: ScenarioResult) => (s.status === 'ok' ? 'ran' : s.status === 'not_run' ? `not run (${s.reason})` : `FAILED (${s.reason})`);

export function renderMarkdown(report: BenchReport, regressions: Regression[], svgFile: string | null, baselineNote: string, baselineRatios: Record<string, number | null> = {}): string {
  const { machine: m, git } = report;
  const out: string[] = [];
  out.push('# pushmail benchmark report', '');
  out.push(`${report.mode !== 'full' ? `**${report.mode === 'quick' ? 'Quick smoke' : 'Scaled-down'} run** (smaller numbers: figures are not comparable with a full run). ` : ''}Run ${report.startedAt} for ${Math.round(report.durationS)} s, commit \`${git.commit.slice(0, 12)}\`${git.dirty ? ' (with uncommitted changes)' : ''} — ${git.subject}.`, '');
  out.push(`Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}, ${m.dovecot.startsWith('unknown') ? 'Dovecot' : `Dovecot ${m.dovecot.split(' ')[0]}`}, Redis ${m.redis}, open files limit ${m.openFilesLimit ?? '?'}, load average ${m.loadAvgAtStart} when the run started (${report.loadAvgAtEnd ?? '?'} at the end). Everything (Redis, Dovecot, the apps, the load generators) shares these cores, so every latency is shown beside the floor measured in the same run.`, '');

  out.push('## Targets', '');
  out.push('| scenario | measure | value | target | result |', '|---|---|---|---|---|');
  for (const s of report.scenarios) {
    if (s.status !== 'ok' && !s.targets.length) {
      out.push(`| ${s.title} | — | — | — | ${cell(statusText(s))} |`);
      continue;
    }
    for (const t of s.targets) out.push(`| ${s.title} | ${cell(definitionText(t) + t.measure)} | ${t.value === null ? '—' : `${t.value} ${t.unit}`} | ${t.target} | ${s.status === 'ok' ? mark(t.met) : cell(statusText(s))} |`);
    if (!s.targets.length) out.push(`| ${s.title} | (reported) | see below | — | — |`);
  }
  out.push('');
  if (report.scenarios.some((s) => s.targets.some((t) => t.definition))) {
    out.push('Two targets were redefined after runs that missed them; each is shown under both definitions, with its own verdict. EXISTS → job: first judged on the watcher\'s own histogram (until the watcher has read Redis\'s reply), now per job up to Redis storing it (Redis\'s clock). Fetch throughput: first one burst drained by a freshly started fetcher, now the median of three bursts drained by a fetcher already running, on connections already open.', '');
  }

  if (report.ratios && Object.keys(report.ratios).length) {
    out.push('## Ratios to the same run (what `--strict` judges)', '');
    const calm = wallRatiosJudged(report);
    out.push('| ratio | scenario | kind | this run | baseline | noise band |', '|---|---|---|---|---|---|');
    for (const spec of RATIOS) {
      if (!(spec.key in report.ratios)) continue;
      const judged = spec.kind === 'cpu' || calm;
      out.push(`| ${spec.what} | ${spec.scenario} | ${spec.kind === 'cpu' ? 'CPU time' : 'wall clock'} | ${cell(report.ratios[spec.key])} | ${cell(baselineRatios[spec.key])} | ${judged ? `fails if ${spec.higherIsBetter ? 'lower' : 'higher'} by more than ${Math.round(spec.band * 100)} %` : 'not judged in this run (load)'} |`);
    }
    out.push('', `Wall-clock ratios are judged only when the load average stayed at or under ${WALL_LOAD_PER_CORE} per core (this run: ${report.machine.loadAvgAtStart} at the start, ${report.loadAvgAtEnd ?? '?'} at the end, ${report.machine.cores} cores); CPU-time ratios always. See bench/lib/strict.ts.`, '');
  }

  const d = report.distributions;
  if (Object.keys(d).length) {
    out.push('## Latency distributions', '');
    if (svgFile) out.push(`![latency CDF](${svgFile})`, '');
    const floorP50 = d.floor?.p50;
    out.push('| series | n | p50 | p95 | p99 | max | p50 vs floor |', '|---|---|---|---|---|---|---|');
    for (const [name, s] of Object.entries(d)) {
      if (!s) continue;
      const ratio = floorP50 && name !== 'fanout' ? `${Math.round((s.p50 / floorP50) * 100) / 100}×` : '—';
      out.push(`| ${name} | ${s.n} | ${s.p50} ms | ${s.p95} ms | ${s.p99} ms | ${s.max} ms | ${ratio} |`);
    }
    out.push('');
  }

  out.push('## Method', '');
  out.push(
    [
      `- Private Redis and Dovecot 2.3 on loopback; the apps run as deployed (\`node dist/apps/<app>/main.js\`) with their default settings. Dovecot gets higher connection limits than the test template (see \`bench/lib/infra.ts\`).`,
      infraText(report.infra),
      '- Load generators (LMTP deliverer, bare IDLE clients, STATUS pollers, socket.io clients, event appender) run in their own Node processes, so they never share an event loop with what they measure. Times are stamped with `performance.timeOrigin + performance.now()`, comparable across processes on one machine.',
      '- A delivery is "acknowledged" when Dovecot answers LMTP `250` for it (the mail is stored). Push latency runs from that ack to the `message.new` at a subscribed socket.io client, matched by Message-ID.',
      '- The floor is measured in the same run: bare imapflow clients IDLE on their own accounts on the same Dovecot, receiving deliveries interleaved with pushmail\'s. Dovecot itself delays IDLE notifications by a hard-coded ~500 ms, so the floor is about 500 ms; what pushmail adds is the gap above it.',
      '- The polling baseline watches the same deliveries as pushmail (a subset of its accounts) with one connection per account asking `STATUS INBOX (UIDNEXT)` every interval, each at a random phase, as independent clients would.',
      '- Memory is VmRSS from /proc, reported twice: at steady state (stable within 2 % over 5 s) with no GC forced, and then after two forced full GCs (through the app\'s inspector, `HeapProfiler.collectGarbage`), each as a delta against the same build with no accounts (watcher) or no clients (gateway). The memory targets are judged on the figure after the forced GC; the bare Socket.IO floor is measured after `global.gc()` only.',
      '- Pipeline stages come from the apps\' own Prometheus histograms (scraped before and after the push-latency run); quantiles are estimated from the buckets. EXISTS → job in Redis is exact per job instead: the watcher\'s clock at EXISTS (`seenAt`, in the job) against the id of the `added` event BullMQ\'s add script writes with the job (Redis\'s clock). Its floor, in the same run: the bare IDLE clients write one XADD to Redis on each EXISTS.',
      '- Fetch throughput: a burst of fetch jobs is held in the queue (paused) while it is delivered and enqueued, then drained; the figure is appended events over the span from the first to the last append. Current definition: the median of three bursts drained by the fetcher that has been running since the push scenario (one burst in a quick run). Original definition, judged beside it: one burst drained by a freshly started fetcher, first to last append. The CPU of each process tree during each burst is read from /proc.',
      `- \`--strict\` (CI runs the quick bench with it): every scenario must end ok; each ratio in "Ratios to the same run" must not be worse than the baseline of the same mode by more than its noise band (CPU-time ratios always; wall-clock ratios only at a load average of at most ${WALL_LOAD_PER_CORE} per core); in a full run every target of the current definition must be met. ${NOISE_EVIDENCE}`,
      '- EXISTS → job: current definition per job as above; original definition, judged beside it: the p99 of the watcher\'s own histogram `pushmail_exists_to_enqueue_ms`, which ends when the watcher has read Redis\'s reply (estimated from its buckets).',
    ].join('\n'),
    '',
  );

  out.push('## Scenarios', '');
  for (const s of report.scenarios) {
    out.push(`### ${s.title}`, '');
    out.push(`Status: ${statusText(s)}${s.durationS ? `; ${s.durationS} s` : ''}. Parameters: ${Object.entries(s.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') || '—'}.`, '');
    for (const t of s.tables) out.push(mdTable(t), '');
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length) out.push('');
  }

  if (report.mode === 'full') out.push(...renderReliability(report.reliability));

  out.push('## Against the baseline', '');
  out.push(baselineNote, '');
  if (regressions.length) {
    out.push('| scenario | figure | baseline | now | change |', '|---|---|---|---|---|');
    for (const r of regressions) out.push(`| ${r.scenario} | ${r.figure} | ${r.baseline} | ${r.now} | ${r.change} |`);
    out.push('');
  }

  out.push('## Reproduce', '');
  out.push('```bash', 'npm ci && npm run build', 'npm run bench              # full run, ≤ 20 min; writes bench/REPORT.md, bench/report.json (this report\'s JSON), bench/latency.svg, bench/results/<timestamp>.json', 'npm run bench -- --quick --strict   # 2-minute smoke run, as CI runs it; writes bench/results/REPORT-quick.md', '```', '');
  out.push('Options: `--only <scenario,…>` runs some scenarios, `--scale 0.3` runs the full scenarios at 30 % of their sizes, `--no-build` skips `npm run build`, `--out DIR` writes elsewhere, `--save-baseline` makes this run the baseline of its mode (`bench/baseline.json`, or `bench/baseline-quick.json` for `--quick`), `--strict` exits 1 when a scenario did not end ok, a ratio regressed beyond its noise band, or (full run) a current target was missed, `--slow-fetcher-ms N` slows the fetcher on purpose (to see `--strict` fail). It needs `redis-server` and `dovecot` (as `npm test` does) and runs as root for Dovecot.', '');
  return out.join('\n');
}

/** The method's sentence on persistence and fsync, written from what the run used. */
export function infraText(infra: BenchInfra | undefined): string {
  if (!infra) return '- Redis persistence and Dovecot fsync: not recorded by this run.';
  const redis = infra.redis.appendonly ? `with its append-only file on and \`appendfsync ${infra.redis.appendfsync}\`${infra.redis.appendfsync === 'everysec' ? ', as docs/operations.md deploys it' : ''}` : 'without persistence (no AOF, no RDB snapshots)';
  const slowed = infra.slowFetcherMs > 0 ? ` **The fetcher was slowed on purpose** (\`--slow-fetcher-ms ${infra.slowFetcherMs}\`: each parse in its threads first spins for ${infra.slowFetcherMs} ms of CPU, through a bench-only preload): these figures are not pushmail's.` : '';
  return `- Redis runs ${redis}; RDB snapshots are off. Dovecot runs with \`mail_fsync = ${infra.dovecotMailFsync}\`${infra.dovecotMailFsync === 'never' ? " (Dovecot's default is `optimized`): a delivery is acknowledged before it reaches the disk, so the floor and every latency exclude Dovecot's fsync, on both sides alike" : ''}.${slowed}`;
}

export function distributionsSummary(series: Record<string, number[]>): Record<string, Summary | null> {
  const order = ['floor', 'pushmail', 'fanout', 'polling'];
  const out: Record<string, Summary | null> = {};
  for (const name of [...order.filter((n) => n in series), ...Object.keys(series).filter((n) => !order.includes(n))]) out[name] = summarize(series[name]);
  return out;
}

/** One line per target, for the console. */
export function consoleSummary(report: BenchReport, regressions: Regression[]): string {
  const lines = [`pushmail bench (${report.mode}) — ${Math.round(report.durationS)} s`];
  for (const s of report.scenarios) {
    if (s.status !== 'ok') lines.push(`  ${s.id}: ${statusText(s)}`);
    if (s.status === 'ok' && !s.targets.length) {
      const figures = Object.entries(s.figures).filter(([, v]) => v !== null).slice(0, 4);
      lines.push(`  ${s.id}: ${figures.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
    for (const t of s.targets) lines.push(`  ${s.id}: ${t.measure} = ${t.value === null ? '—' : `${t.value} ${t.unit}`} (target ${t.target}) ${mark(t.met)}`);
  }
  for (const [name, s] of Object.entries(report.distributions)) if (s) lines.push(`  ${name}: p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms (n=${s.n})`);
  if (regressions.length) {
    lines.push('  REGRESSIONS vs baseline:');
    for (const r of regressions) lines.push(`    ${r.scenario} ${r.figure}: ${r.baseline} → ${r.now} (${r.change})`);
  }
  return lines.join('\n');
}
