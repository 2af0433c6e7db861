import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChaosRun, loadReliability, renderReliability } from './reliability';

const run = (over: Partial<ChaosRun>): ChaosRun => ({
  when: '2026-12-06T04:00:00.000Z',
  commit: 'abcdef1234567890',
  loadAverage: 1,
  durationS: 54,
  accounts: 20,
  ratePerSecond: 15,
  redis: { appendonly: true, appendfsync: 'everysec', aofDelayedFsyncBeforeKill9: 0, clientSeenEventsMissingAfterKill9: 0 },
  attempted: 760,
  acknowledged: 745,
  notAcknowledged: 15,
  lost: 0,
  duplicated: 0,
  messagesWithTwoEventIds: 0,
  eventIdsReceivedTwice: 0,
  latencyMs: { p50: 520, p99: 1400, max: 2600 },
  byPhase: { 'warm-up': { deliveries: 40, p50Ms: 1, p99Ms: 2, maxMs: 3 }, 'kill -9 watcher': { deliveries: 100, p50Ms: 600, p99Ms: 2600, maxMs: 2700 } },
  ...over,
});

describe('the report’s reliability section', () => {
  it('states the figures over every recorded run, a lost delivery included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rel-'));
    writeFileSync(join(dir, 'chaos-runs.jsonl'), [JSON.stringify(run({})), 'not json', JSON.stringify(run({ lost: 2, when: '2026-12-06T05:00:00.000Z' }))].join('\n') + '\n');
    const rel = loadReliability(dir);
    expect(rel?.runs).toHaveLength(2);
    const md = renderReliability(rel).join('\n');
    expect(md).toContain('2 run(s) from 2026-12-06T04:00:00.000Z to 2026-12-06T05:00:00.000Z');
    expect(md).toContain('| lost (acknowledged, never pushed) | **0–2** |');
    expect(md).toContain('kill -9 watcher');
  });

  it('falls back to the last run, and says when nothing was recorded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rel-'));
    expect(renderReliability(loadReliability(dir)).join('\n')).toContain('Not recorded');
    writeFileSync(join(dir, 'chaos.json'), JSON.stringify(run({ duplicated: 1 })));
    expect(renderReliability(loadReliability(dir)).join('\n')).toContain('| duplicated (pushed twice, two eventIds for one message, or one eventId twice) | **1** |');
  });
});
