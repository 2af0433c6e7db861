import { fakeReport } from './fake-report';
import { computeRatios, strictVerdict } from './strict';

describe('--strict judgement', () => {
  it('passes a run like its baseline', () => {
    const verdict = strictVerdict(fakeReport(), fakeReport());
    expect(verdict.failures).toEqual([]);
    expect(verdict.ok).toBe(true);
  });

  it('judges ratios to the same run, not absolute figures: a slower machine minute is not a regression', () => {
    // Everything twice as slow, the floor and the parser too: the ratios do not move.
    const slowMachine = fakeReport('quick', {
      'parser-throughput': { 'libs/mail-parse msgPerS': 600, 'libs/mail-parse cpuMsPerMessage': 1.6 },
      floor: { p50: 1000, p99: 1100 },
      'push-latency': { p50: 1050, p99: 1500 },
      'fetch-throughput': { msgPerS: 300, fetcherCpuMsPerMessage: 1.2 },
    });
    expect(strictVerdict(slowMachine, fakeReport()).failures).toEqual([]);
  });

  it('fails a fetcher that costs more CPU per message, naming the figure, however loaded the machine', () => {
    // A 5 ms/message CPU regression in the fetcher while the parser on the same machine is unchanged.
    const slowFetcher = fakeReport('quick', { 'fetch-throughput': { msgPerS: 150, fetcherCpuMsPerMessage: 5.6 } });
    slowFetcher.machine.loadAvgAtStart = 19;
    const verdict = strictVerdict(slowFetcher, fakeReport());
    expect(verdict.ok).toBe(false);
    expect(verdict.failures).toEqual([
      'regression: fetch-throughput fetcherCpuOverParserCpu (fetcher CPU per message in the burst ÷ parser-only CPU per message (libs/mail-parse, same run)) is 7, baseline 0.75: 833 % worse, beyond the 100 % noise band',
    ]);
  });

  it('fails a wall-clock regression against the floor on a calm machine, and only reports it on an overloaded one', () => {
    const slowerPush = () => fakeReport('quick', { 'push-latency': { p50: 1000 } });
    expect(strictVerdict(slowerPush(), fakeReport()).failures).toEqual([
      expect.stringMatching(/^regression: push-latency pushP50OverFloor .* is 2, baseline 1\.05: 90 % worse, beyond the 50 % noise band$/),
    ]);
    const overloaded = slowerPush();
    overloaded.loadAvgAtEnd = 19;
    const verdict = strictVerdict(overloaded, fakeReport());
    expect(verdict.failures).toEqual([]);
    expect(verdict.checks.find((c) => c.key === 'pushP50OverFloor')).toMatchObject({ judged: false, now: 2 });
  });

  it('lets a change within the band pass, and an improvement of any size', () => {
    const within = fakeReport('quick', { 'push-latency': { p50: 600 }, 'fetch-throughput': { msgPerS: 5000, fetcherCpuMsPerMessage: 1.1 } });
    expect(strictVerdict(within, fakeReport()).failures).toEqual([]);
  });

  it('fails a scenario that did not end ok, and a ratio that could not be measured', () => {
    const report = fakeReport();
    const failover = report.scenarios.find((s) => s.id === 'failover')!;
    Object.assign(failover, { status: 'failed', reason: 'not all accounts connected' });
    const verdict = strictVerdict(report, fakeReport());
    expect(verdict.failures).toEqual(['scenario failover is failed: not all accounts connected', expect.stringMatching(/^failover failoverOverLeaseTtl .* could not be measured/)]);
  });

  it('fails without a baseline of the same mode', () => {
    expect(strictVerdict(fakeReport('quick'), fakeReport('full')).failures).toEqual([expect.stringMatching(/^no quick baseline/)]);
    expect(strictVerdict(fakeReport('quick'), undefined).ok).toBe(false);
  });

  it('in a full run, fails a missed target of the current definition, not of the original one', () => {
    expect(strictVerdict(fakeReport('full'), fakeReport('full')).failures).toEqual([]);
    const report = fakeReport('full');
    report.scenarios.find((s) => s.id === 'fetch-throughput')!.targets[0].met = false;
    expect(strictVerdict(report, fakeReport('full')).failures).toEqual([expect.stringMatching(/^target missed: fetch-throughput messages\/s \(running fetcher\)/)]);
  });

  it('computes each ratio from figures of the same run', () => {
    expect(computeRatios(fakeReport())).toEqual({
      fetcherCpuOverParserCpu: 0.75,
      pushP50OverFloor: 1.05,
      pushP99OverFloor: 1.364,
      failoverOverLeaseTtl: 1.1,
    });
  });
});
