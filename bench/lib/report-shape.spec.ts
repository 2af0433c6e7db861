import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fakeReport } from './fake-report';
import { BenchReport, renderMarkdown } from './report';
import { reportShapeProblems } from './report-shape';
import { SCENARIO_ADDED } from './types';

describe('bench report shape', () => {
  const markdownOf = (report: BenchReport) => renderMarkdown(report, [], 'latency.svg', 'no baseline');

  it('accepts a well-formed report and its Markdown', () => {
    const report = fakeReport();
    expect(reportShapeProblems(report, markdownOf(report))).toEqual([]);
  });

  it('expects the full-only scenarios in a full run and not in a quick one', () => {
    const full = fakeReport('full');
    expect(full.scenarios.some((s) => s.id === 'notify-ingress')).toBe(true);
    expect(reportShapeProblems(full, markdownOf(full))).toEqual([]);
    full.scenarios = full.scenarios.filter((s) => s.id !== 'notify-ingress');
    expect(reportShapeProblems(full, markdownOf(full))).toEqual([expect.stringMatching(/^scenarios are /)]);
    const quick = fakeReport('quick');
    expect(quick.scenarios.some((s) => s.id === 'notify-ingress')).toBe(false);
    expect(reportShapeProblems(quick, markdownOf(quick))).toEqual([]);
  });

  it('does not expect a scenario in a run made before it joined the bench', () => {
    const run = (startedAt: string, without: string) => {
      const report = fakeReport('full');
      report.startedAt = startedAt;
      report.scenarios = report.scenarios.filter((s) => s.id !== without);
      return reportShapeProblems(report, markdownOf(report));
    };
    const added = Date.parse(SCENARIO_ADDED['ten-k']!);
    expect(run(new Date(added - 60_000).toISOString(), 'ten-k')).toEqual([]);
    expect(run(new Date(added + 60_000).toISOString(), 'ten-k')).toEqual([expect.stringMatching(/^scenarios are /)]);
    expect(run(new Date(added - 60_000).toISOString(), 'folders')).toEqual([expect.stringMatching(/^scenarios are /)]);
  });

  it('names what is wrong', () => {
    const report = fakeReport();
    report.scenarios.find((s) => s.id === 'startup')!.tables.push({ columns: ['a', 'b'], rows: [[1]] });
    Object.assign(report.scenarios.find((s) => s.id === 'failover')!, { status: 'failed' });
    report.scenarios.find((s) => s.id === 'fetch-throughput')!.targets.pop();
    delete report.infra;
    expect(reportShapeProblems(report, '# pushmail benchmark report\n')).toEqual(
      expect.arrayContaining([
        'infra (Redis persistence, Dovecot fsync) is missing',
        'startup: a row of "a, b" has 1 cells for 2 columns',
        'failover: failed without a reason',
        'fetch-throughput: not judged under both definitions (running fetcher, fresh fetcher)',
        'the Markdown report has no "## Targets"',
      ]),
    );
  });

  it('the method text states what ran: GC, Redis persistence, Dovecot fsync', () => {
    const md = markdownOf(fakeReport());
    expect(md).toContain('after two forced full GCs');
    expect(md).toContain('`appendfsync everysec`');
    expect(md).toContain('`mail_fsync = never`');
    expect(md).not.toContain('GC not forced');
  });

  // The committed full-run report and its JSON, once a run has written them (bench/report.json).
  const committed = join(__dirname, '..', 'report.json');
  (existsSync(committed) ? it : it.skip)('the committed bench/report.json is well formed and bench/REPORT.md is its rendering', () => {
    const report = JSON.parse(readFileSync(committed, 'utf8')) as BenchReport;
    expect(reportShapeProblems(report, readFileSync(join(__dirname, '..', 'REPORT.md'), 'utf8'))).toEqual([]);
  });
});
