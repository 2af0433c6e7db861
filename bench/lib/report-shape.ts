import type { BenchReport } from './report';
import { FULL_ONLY, SCENARIOS, SCENARIO_ADDED, ScenarioId } from './types';

const STATUSES = ['ok', 'not_run', 'failed'];
export const REPORT_HEADINGS = ['# pushmail benchmark report', '## Targets', '## Latency distributions', '## Method', '## Scenarios', '## Against the baseline', '## Reproduce'];

/**
 * What makes a bench report well formed, as a list of problems (empty: well formed). Run by
 * `npm run bench -- --strict` on the run it has just written (CI's bench step), and by a unit test
 * on the committed bench/report.json and bench/REPORT.md. `all`: the run selected every scenario.
 */
export function reportShapeProblems(report: BenchReport, markdown: string, all = true): string[] {
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };
  expect(report.schema === 'pushmail-bench/1', `schema is ${report.schema}`);
  expect(['quick', 'scaled', 'full'].includes(report.mode), `mode is ${report.mode}`);
  expect(/^[0-9a-f]{40}$/.test(report.git?.commit ?? ''), 'git.commit is not a commit id');
  expect(report.machine?.cores > 0, 'machine.cores is missing');
  expect(/^v\d+\./.test(report.machine?.node ?? ''), 'machine.node is missing');
  expect(!!report.infra?.redis && !!report.infra.dovecotMailFsync, 'infra (Redis persistence, Dovecot fsync) is missing');
  if (all) {
    const ids = report.scenarios.map((s) => s.id).sort();
    // A quick run leaves out the full-only scenarios; a run made before a scenario joined may lack it.
    const expected = (Object.keys(SCENARIOS) as ScenarioId[]).filter((id) => report.mode !== 'quick' || !FULL_ONLY.includes(id)).sort();
    const newer = (id: ScenarioId) => {
      const added = SCENARIO_ADDED[id];
      return added !== undefined && Date.parse(report.startedAt) < Date.parse(added);
    };
    const asExpected = ids.every((id) => expected.includes(id)) && expected.every((id) => ids.includes(id) || newer(id));
    expect(asExpected && new Set(ids).size === ids.length, `scenarios are ${ids.join(', ')}`);
  }
  for (const s of report.scenarios) {
    expect(STATUSES.includes(s.status), `${s.id}: status ${s.status}`);
    if (s.status !== 'ok') expect(!!s.reason, `${s.id}: ${s.status} without a reason`);
    for (const t of s.targets) expect(typeof t.measure === 'string' && typeof t.target === 'string' && [true, false, null].includes(t.met), `${s.id}: malformed target ${JSON.stringify(t)}`);
    for (const t of s.tables) for (const row of t.rows) expect(row.length === t.columns.length, `${s.id}: a row of "${t.title ?? t.columns.join(', ')}" has ${row.length} cells for ${t.columns.length} columns`);
  }
  const byId = new Map(report.scenarios.map((s) => [s.id, s]));
  const ok = (id: ScenarioId) => byId.get(id)?.status === 'ok';
  // Scenarios that ran are checked for the figures the report's text relies on.
  if (ok('pipeline-stages')) {
    const defs = byId.get('pipeline-stages')!.targets.filter((t) => t.measure.startsWith('EXISTS → job')).map((t) => t.definition);
    expect(defs.includes('current') && defs.includes('original'), 'pipeline-stages: EXISTS → job is not judged under both definitions');
  }
  if (ok('fetch-throughput')) {
    const f = byId.get('fetch-throughput')!;
    const defs = f.targets.map((t) => t.definition);
    expect(defs.includes('current') && defs.includes('original'), 'fetch-throughput: not judged under both definitions (running fetcher, fresh fetcher)');
    expect(typeof f.figures.cpuMsPerMessage === 'number' && typeof f.figures.fetcherCpuMsPerMessage === 'number', 'fetch-throughput: CPU per message is missing');
  }
  if (ok('watcher-density')) expect(typeof byId.get('watcher-density')!.figures.baseRssBeforeGcMB === 'number', 'watcher-density: RSS before GC is missing');
  if (ok('floor')) expect((report.distributions.floor?.n ?? 0) > 0, 'distributions.floor is empty');
  expect(!!report.ratios, 'ratios are missing');
  for (const heading of REPORT_HEADINGS) if (heading !== '## Latency distributions' || Object.keys(report.distributions).length) expect(markdown.includes(`\n${heading}\n`) || markdown.startsWith(`${heading}\n`), `the Markdown report has no "${heading}"`);
  expect(markdown.includes(report.startedAt), 'the Markdown report is not of this run');
  return problems;
}
