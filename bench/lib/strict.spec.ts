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
      'parser-throughput': { 'libs/mail-parse msgPerS': 600 },
      floor: { p50: 1000, p99: 1100 },
      'push-latency': { p50: 1050, p99: 1500 },
      'fetch-throughput': { msgPerS: 300, freshMsgPerS: 250 },
      'fetch-latency': { p50: 10 },
    });
    expect(strictVerdict(slowMachine, fakeReport()).failures).toEqual([]);
  });

  it('fails a throughput regression beyond the noise band, naming the figure', () => {
    // A fetcher that got slower while the parser on the same machine did not (a 5 ms/message stall).
    const slowFetcher = fakeReport('quick', { 'fetch-throughput': { msgPerS: 150, freshMsgPerS: 140 } });
    const verdict = strictVerdict(slowFetcher, fakeReport());
    expect(verdict.ok).toBe(false);
    expect(verdict.failures).toEqual([
      expect.stringMatching(/^regression: fetch-throughput burstOverParser .* is 0\.125, baseline 0\.5: 75 % worse, beyond the \d+ % noise band$/),
      expect.stringMatching(/^regression: fetch-throughput freshBurstOverParser /),
    ]);
  });

  it('fails a latency regression against the floor', () => {
    const verdict = strictVerdict(fakeReport('quick', { 'push-latency': { p50: 700 } }), fakeReport());
    expect(verdict.failures).toEqual([expect.stringMatching(/^regression: push-latency pushP50OverFloor /)]);
  });

  it('lets a change within the band pass, and an improvement of any size', () => {
    const within = fakeReport('quick', { 'push-latency': { p50: 540 }, 'fetch-throughput': { msgPerS: 480, freshMsgPerS: 5000 } });
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
      pushP50OverFloor: 1.05,
      pushP99OverFloor: 1.364,
      burstOverParser: 0.5,
      freshBurstOverParser: 0.417,
      jobToEventP50OverParse: 6,
      failoverOverLeaseTtl: 1.1,
    });
  });
});
