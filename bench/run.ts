/**
 * `npm run bench [-- --quick] [--only a,b] [--no-build] [--out DIR] [--save-baseline] [--strict] [--slow-fetcher-ms N]`
 *
 * Starts private Redis and Dovecot, runs the real apps as separate processes (`node dist/apps/…`),
 * drives them from load-generator processes, and writes a JSON result, a Markdown report with an
 * SVG latency chart, and the regressions against the committed baseline. `--strict` exits 1 on
 * what bench/lib/strict.ts judges a failure.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '@pushmail/testing';
import { BENCH_REDIS_OPTIONS, benchDovecotMailFsync, gitInfo, machineInfo } from './lib/infra';
import { BenchReport, compareToBaseline, consoleSummary, distributionsSummary, renderMarkdown } from './lib/report';
import { loadReliability } from './lib/reliability';
import { reportShapeProblems } from './lib/report-shape';
import { computeRatios, strictVerdict } from './lib/strict';
import { latencyCdfSvg } from './lib/svg';
import { BenchContext, FULL, FULL_ONLY, Params, QUICK, SCENARIOS, ScenarioId, ScenarioResult, emptyResult } from './lib/types';
import { failoverScenario } from './scenarios/failover';
import { fanoutScenario } from './scenarios/fanout';
import { foldersScenario } from './scenarios/folders';
import { footprintScenario } from './scenarios/footprint';
import { imapSuite } from './scenarios/imap-suite';
import { mailboxScenario } from './scenarios/mailbox';
import { notifyIngressScenario } from './scenarios/notify-ingress';
import { parserScenario } from './scenarios/parser';
import { pop3Scenario } from './scenarios/pop3';
import { tenKScenario } from './scenarios/ten-k';
import { appTuning } from './scenarios/tuning';

interface Suite {
  name: string;
  scenarios: ScenarioId[];
  run: (ctx: BenchContext) => Promise<void>;
}

const SUITES: Suite[] = [
  { name: 'parser', scenarios: ['parser-throughput'], run: parserScenario },
  { name: 'imap', scenarios: ['floor', 'push-latency', 'polling', 'pipeline-stages', 'startup', 'watcher-density', 'fetch-throughput', 'fetch-latency'], run: imapSuite },
  { name: 'fanout', scenarios: ['gateway-fanout'], run: fanoutScenario },
  { name: 'failover', scenarios: ['failover'], run: failoverScenario },
  { name: 'mailbox', scenarios: ['mailbox'], run: mailboxScenario },
  { name: 'footprint', scenarios: ['footprint'], run: footprintScenario },
  { name: 'pop3', scenarios: ['pop3'], run: pop3Scenario },
  { name: 'folders', scenarios: ['folders'], run: foldersScenario },
  // After the IMAP suite, whose push-latency figures it reports beside its own.
  { name: 'notify', scenarios: ['notify-ingress'], run: notifyIngressScenario },
  // Last: 10,000 IMAP sessions load the machine most, and their sockets linger in TIME_WAIT.
  { name: 'ten-k', scenarios: ['ten-k'], run: tenKScenario },
];

function parseArgs(argv: string[]) {
  const args = { quick: false, build: true, only: [] as string[], out: '', saveBaseline: false, strict: false, scale: 1, slowFetcherMs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--no-build') args.build = false;
    else if (a === '--save-baseline') args.saveBaseline = true;
    else if (a === '--strict') args.strict = true;
    else if (a === '--only') args.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) args.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--scale') args.scale = Number(argv[++i]);
    else if (a === '--slow-fetcher-ms') args.slowFetcherMs = Number(argv[++i]);
    else if (a === '--out') args.out = argv[++i] ?? '';
    else if (a.startsWith('--out=')) args.out = a.slice(6);
    else if (a === '--help' || a === '-h') {
      console.log('npm run bench -- [--quick] [--scale 0.3] [--only <scenario|suite>,…] [--no-build] [--out DIR] [--save-baseline] [--strict] [--slow-fetcher-ms N]');
      console.log(`scenarios: ${Object.keys(SCENARIOS).join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!(args.slowFetcherMs >= 0)) throw new Error('--slow-fetcher-ms needs a number of milliseconds');
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const benchDir = join(REPO_ROOT, 'bench');
  const outDir = resolve(args.out || benchDir);
  const resultsDir = join(outDir, 'results');
  mkdirSync(resultsDir, { recursive: true });
  if (args.build) {
    console.log('bench: npm run build');
    const build = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const machine = machineInfo();
  // Read before the run, as built: edits made while a long run goes on are not what it measured.
  const git = gitInfo();
  if (process.getuid?.() !== 0) console.warn('bench: not root — Dovecot needs root to start');
  if ((machine.openFilesLimit ?? 0) < 16_384 && !args.quick) console.warn(`bench: open files limit ${machine.openFilesLimit} is low for the full run (npm run bench raises it with ulimit -n)`);

  if (args.slowFetcherMs > 0) {
    // A regression on purpose, to show --strict failing. Bench-side only: a preload that the bench
    // gives its fetcher processes (every scenario starts them with appTuning.fetcher); the app
    // itself has no such knob.
    Object.assign(appTuning.fetcher, { NODE_OPTIONS: `--require ${join(benchDir, 'lib', 'slow-fetcher-preload.cjs')}`, BENCH_SLOW_FETCHER_MS: String(args.slowFetcherMs) });
    console.warn(`bench: the fetcher is slowed on purpose by ${args.slowFetcherMs} ms of CPU per parse (--slow-fetcher-ms)`);
  }

  const inMode = (id: ScenarioId) => !args.quick || !FULL_ONLY.includes(id);
  const selected = SUITES.filter((s) => s.scenarios.some(inMode) && (!args.only.length || args.only.includes(s.name) || s.scenarios.some((id) => args.only.includes(id))));
  const started = new Date();
  const results = new Map<ScenarioId, ScenarioResult>();
  const ctx: BenchContext = {
    quick: args.quick,
    p: args.quick ? QUICK : scaled(FULL, args.scale),
    secretKey: randomBytes(32).toString('base64'),
    jwtSecret: randomBytes(24).toString('base64url'),
    log: (msg) => console.log(`bench [${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${msg}`),
    distributions: {},
    record: (r) => results.set(r.id, r),
    recorded: (id) => results.get(id),
  };
  ctx.log(`${args.quick ? 'quick' : args.scale !== 1 ? `scaled (×${args.scale})` : 'full'} run: ${selected.map((s) => s.name).join(', ')}`);
  for (const suite of selected) {
    try {
      await suite.run(ctx);
    } catch (err) {
      ctx.log(`suite ${suite.name} crashed: ${(err as Error).stack}`);
    }
    // A suite that died before recording a scenario still shows it, as failed.
    for (const id of suite.scenarios) if (!results.has(id)) results.set(id, emptyResult(id, 'failed', `suite ${suite.name} did not finish`));
  }
  const wanted = (id: ScenarioId) => !args.only.length || selected.some((s) => s.scenarios.includes(id) && (args.only.includes(s.name) || args.only.includes(id)));
  const scenarios = (Object.keys(SCENARIOS) as ScenarioId[]).filter((id) => inMode(id) && wanted(id)).map((id) => results.get(id) ?? emptyResult(id, 'not_run', 'not selected'));

  const finished = new Date();
  const report: BenchReport = {
    schema: 'pushmail-bench/1',
    mode: args.quick ? 'quick' : args.scale !== 1 ? 'scaled' : 'full',
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: Math.round((finished.getTime() - started.getTime()) / 1000),
    git,
    machine,
    params: ctx.p,
    scenarios,
    distributions: distributionsSummary(ctx.distributions),
    loadAvgAtEnd: Math.round(loadavg()[0] * 100) / 100,
    infra: { redis: { ...BENCH_REDIS_OPTIONS }, dovecotMailFsync: benchDovecotMailFsync(), slowFetcherMs: args.slowFetcherMs },
    reliability: loadReliability(join(REPO_ROOT, 'test-artifacts')),
  };
  report.ratios = computeRatios(report);

  // One baseline per mode: a quick run's tiny sizes give figures of their own.
  const baselineFile = join(benchDir, report.mode === 'quick' ? 'baseline-quick.json' : 'baseline.json');
  const baseline = existsSync(baselineFile) ? (JSON.parse(readFileSync(baselineFile, 'utf8')) as BenchReport) : undefined;
  const regressions = compareToBaseline(report, baseline);
  const baselineNote = !baseline
    ? `No baseline yet (\`${relative(REPO_ROOT, baselineFile)}\`): run the ${report.mode} bench with \`--save-baseline\` to make one.`
    : baseline.mode !== report.mode
      ? `Not compared: the baseline (${baseline.startedAt}, commit \`${baseline.git.commit.slice(0, 12)}\`) is a ${baseline.mode} run and this is a ${report.mode} run, with different sizes.`
      : `Compared with the baseline of ${baseline.startedAt} (commit \`${baseline.git.commit.slice(0, 12)}\`): ${regressions.length ? `${regressions.length} figure(s) more than 20 % worse.` : 'no figure is more than 20 % worse.'}`;

  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const jsonFile = join(resultsDir, `${stamp}.json`);
  // Only a full run replaces the committed report (and its JSON beside it, bench/report.json, so
  // the figures the README cites can be checked); smoke and scaled runs write beside their JSON.
  const partial = report.mode !== 'full';
  const reportFile = partial ? join(resultsDir, `REPORT-${report.mode}.md`) : join(outDir, 'REPORT.md');
  const reportJsonFile = partial ? null : join(outDir, 'report.json');
  const svgFile = partial ? join(resultsDir, `latency-${report.mode}.svg`) : join(outDir, 'latency.svg');
  const hasLatency = Object.values(ctx.distributions).some((d) => d.length);
  if (hasLatency) writeFileSync(svgFile, latencyCdfSvg(ctx.distributions, `Latency CDF — ${report.mode} run, ${report.startedAt.slice(0, 16)}Z`));
  const json = JSON.stringify({ ...report, regressions }, null, 2) + '\n';
  writeFileSync(jsonFile, json);
  if (reportJsonFile) writeFileSync(reportJsonFile, json);
  const markdown = renderMarkdown(report, regressions, hasLatency ? relative(join(reportFile, '..'), svgFile) : null, baselineNote, baseline?.mode === report.mode ? computeRatios(baseline) : {});
  writeFileSync(reportFile, markdown);
  if (args.saveBaseline) copyFileSync(jsonFile, baselineFile);

  console.log('\n' + consoleSummary(report, regressions));
  console.log(`\n${baselineNote.replace(/`/g, '')}`);
  console.log(`\nbench: wrote ${relative(process.cwd(), reportFile)}, ${relative(process.cwd(), jsonFile)}${reportJsonFile ? `, ${relative(process.cwd(), reportJsonFile)}` : ''}${hasLatency ? `, ${relative(process.cwd(), svgFile)}` : ''}${args.saveBaseline ? `, ${relative(process.cwd(), baselineFile)}` : ''}`);
  if (args.strict) {
    // Judged against the baseline read before this run (a run saved as the new baseline too).
    const verdict = strictVerdict(report, baseline);
    const failures = [...verdict.failures, ...reportShapeProblems(report, markdown, !args.only.length).map((p) => `malformed report: ${p}`)];
    console.log('\nbench --strict:');
    for (const c of verdict.checks) console.log(`  ${!c.judged ? 'n/j ' : c.ok ? 'ok  ' : 'FAIL'} ${c.key} = ${c.now ?? '—'} (baseline ${c.baseline ?? '—'}${c.worse === null ? '' : `, ${Math.round(c.worse * 100)} % worse`}; band ${Math.round(c.band * 100)} %${c.judged ? '' : '; not judged: load average above 3 per core'})`);
    for (const f of failures) console.log(`  FAILED: ${f}`);
    console.log(failures.length ? `bench --strict: ${failures.length} failure(s)` : 'bench --strict: passed');
    if (failures.length) process.exitCode = 1;
  }
}

/** The full run's sizes times `factor` (rates and the poll interval stay as they are). */
function scaled(p: Params, factor: number): Params {
  if (!(factor > 0) || factor === 1) return p;
  const n = (v: number, min = 1) => Math.max(min, Math.round(v * factor));
  return {
    ...p,
    accounts: n(p.accounts, 10),
    densityAccounts: [n(p.densityAccounts[0], 10), n(p.densityAccounts[1], 20)],
    startupAccounts: n(p.startupAccounts, 10),
    durationS: n(p.durationS, 10),
    floorAccounts: n(p.floorAccounts, 5),
    pollAccounts: n(p.pollAccounts, 5),
    burstMessages: n(p.burstMessages, 100),
    burstAccounts: n(p.burstAccounts, 5),
    fanoutClients: n(p.fanoutClients, 20),
    fanoutDurationS: n(p.fanoutDurationS, 5),
    failoverAccounts: n(p.failoverAccounts, 9),
  };
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
