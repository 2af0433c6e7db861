import { ComparedReport, compareToBaseline } from './report';
import { emptyResult } from './types';

const report = (mode: ComparedReport['mode'], figures: Record<string, number>): ComparedReport => ({ mode, scenarios: [{ ...emptyResult('push-latency', 'ok'), figures }] });

describe('regressions against the baseline', () => {
  it('flags a latency more than 20 % (and 2 units) worse, and a throughput more than 20 % lower', () => {
    const baseline = report('full', { p99: 100, gapP50: 5, msgPerS: 1000, missed: 0 });
    const now = report('full', { p99: 130, gapP50: 6.5, msgPerS: 700, missed: 3 });
    const found = compareToBaseline(now, baseline).map((r) => r.figure);
    // gapP50 rose 30 % but by only 1.5 ms: noise, not a regression; `missed` is a count, not a figure compared
    expect(found.sort()).toEqual(['msgPerS', 'p99']);
  });

  it('compares only runs of the same mode', () => {
    expect(compareToBaseline(report('quick', { p99: 900 }), report('full', { p99: 100 }))).toEqual([]);
  });
});
