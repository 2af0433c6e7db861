import type { BenchReport } from './report';
import { FULL_ONLY, QUICK, SCENARIOS, ScenarioId, ScenarioResult, emptyResult } from './types';

/**
 * A typed bench report for unit specs: every scenario `ok`, with the figures the strict ratios
 * read, from a quick run of this machine; `figures` overrides them per scenario.
 */
export function fakeReport(mode: BenchReport['mode'] = 'quick', figures: Partial<Record<ScenarioId, Record<string, number | null>>> = {}): BenchReport {
  const base: Partial<Record<ScenarioId, Record<string, number | null>>> = {
    'parser-throughput': { 'libs/mail-parse msgPerS': 1200, 'libs/mail-parse cpuMsPerMessage': 0.8 },
    floor: { p50: 500, p99: 550 },
    'push-latency': { p50: 525, p99: 750 },
    'fetch-throughput': { msgPerS: 600, freshMsgPerS: 500, cpuMsPerMessage: 1, fetcherCpuMsPerMessage: 0.6 },
    'fetch-latency': { p50: 5 },
    failover: { lastDeliverySeconds: 11 },
    'watcher-density': { baseRssBeforeGcMB: 80 },
  };
  const ids = (Object.keys(SCENARIOS) as ScenarioId[]).filter((id) => mode !== 'quick' || !FULL_ONLY.includes(id));
  const scenarios: ScenarioResult[] = ids.map((id) => ({
    ...emptyResult(id, 'ok'),
    params: id === 'failover' ? { leaseTtlMs: 10_000 } : {},
    figures: { ...base[id], ...figures[id] },
  }));
  for (const s of scenarios) {
    if (s.id === 'pipeline-stages')
      s.targets.push(
        { measure: 'EXISTS → job in Redis, p99', value: 4, unit: 'ms', target: '≤ 5 ms', met: true, definition: 'current' },
        { measure: 'EXISTS → job enqueued, p99 est.', value: 9, unit: 'ms', target: '≤ 5 ms', met: false, definition: 'original' },
      );
    if (s.id === 'fetch-throughput')
      s.targets.push(
        { measure: 'messages/s (running fetcher)', value: 1800, unit: 'msg/s', target: '≥ 1500 msg/s', met: true, definition: 'current' },
        { measure: 'messages/s (fresh fetcher)', value: 1400, unit: 'msg/s', target: '≥ 1500 msg/s', met: false, definition: 'original' },
      );
  }
  return {
    schema: 'pushmail-bench/1',
    mode,
    startedAt: '2026-12-06T02:00:00.000Z',
    finishedAt: '2026-12-06T02:03:00.000Z',
    durationS: 180,
    git: { commit: 'a'.repeat(40), dirty: false, subject: 'test' },
    machine: { cores: 2, cpuModel: 'test', memoryGiB: 8, node: 'v20.20.2', kernel: 'test', openFilesLimit: 65536, dovecot: '2.3', redis: '7.0', loadAvgAtStart: 0.5 },
    params: QUICK,
    scenarios,
    distributions: { floor: { n: 10, min: 490, mean: 500, p50: 500, p95: 540, p99: 550, max: 560 } },
    infra: { redis: { appendonly: true, appendfsync: 'everysec' }, dovecotMailFsync: 'never', slowFetcherMs: 0 },
    ratios: {},
  };
}
