import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The chaos test (test/chaos/chaos.int-spec.ts) is an integration test, not a bench scenario: it
 * runs in `npm test` and writes its figures to test-artifacts/ (chaos.json for the last run, one
 * line per run in chaos-runs.jsonl). The report carries them so that its reliability claims come
 * from code, like every other figure in it, and says which runs they come from.
 */
export interface ChaosRun {
  when: string;
  commit?: string;
  loadAverage?: number;
  durationS: number;
  accounts: number;
  ratePerSecond: number;
  redis: { appendonly: boolean; appendfsync: string; aofDelayedFsyncBeforeKill9: number; clientSeenEventsMissingAfterKill9: number };
  attempted: number;
  acknowledged: number;
  notAcknowledged: number;
  lost: number;
  duplicated: number;
  messagesWithTwoEventIds: number;
  eventIdsReceivedTwice: number;
  latencyMs: { p50: number; p99: number; max: number };
  byPhase: Record<string, { deliveries: number; p50Ms: number; p99Ms: number; maxMs: number }>;
}

export interface Reliability {
  source: string;
  runs: ChaosRun[];
}

function isRun(v: unknown): v is ChaosRun {
  const r = v as Partial<ChaosRun> | null;
  return !!r && typeof r.when === 'string' && typeof r.lost === 'number' && typeof r.duplicated === 'number' && !!r.latencyMs && !!r.byPhase && !!r.redis;
}

/** The runs recorded under `dir` (every run of chaos-runs.jsonl, else the last one of chaos.json); malformed lines are skipped. */
export function loadReliability(dir: string): Reliability | undefined {
  const lines = join(dir, 'chaos-runs.jsonl');
  const last = join(dir, 'chaos.json');
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  if (existsSync(lines)) {
    const runs = readFileSync(lines, 'utf8').split('\n').filter(Boolean).map(parse).filter(isRun);
    if (runs.length) return { source: 'test-artifacts/chaos-runs.jsonl', runs };
  }
  if (existsSync(last)) {
    const run = parse(readFileSync(last, 'utf8'));
    if (isRun(run)) return { source: 'test-artifacts/chaos.json', runs: [run] };
  }
  return undefined;
}

const range = (xs: number[], unit = ''): string => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const f = (x: number) => (unit === 's' ? `${Math.round(x / 100) / 10} s` : `${x}${unit}`);
  return lo === hi ? f(lo) : `${f(lo)}–${f(hi)}`;
};

export function renderReliability(rel: Reliability | undefined): string[] {
  const out = ['## Reliability (chaos test)', ''];
  if (!rel) {
    out.push('Not recorded: `test/chaos/chaos.int-spec.ts` (part of `npm test`) writes `test-artifacts/chaos-runs.jsonl`; run it before the bench to carry its figures here.', '');
    return out;
  }
  const { runs } = rel;
  const first = runs[0];
  const lastRun = runs[runs.length - 1];
  const commits = [...new Set(runs.map((r) => r.commit?.slice(0, 12) ?? 'unknown'))];
  const loads = runs.map((r) => r.loadAverage).filter((x): x is number => typeof x === 'number');
  out.push(
    `From \`${rel.source}\`, written by \`test/chaos/chaos.int-spec.ts\` (an integration test in \`npm test\`, not run by the bench): ${runs.length} run(s) from ${first.when} to ${lastRun.when}, commit(s) ${commits.map((c) => `\`${c}\``).join(', ')}${loads.length ? `, load average at the end of a run ${range(loads)}` : ''}.`,
    '',
    `Two watchers, two fetchers and two gateways as built processes; Redis with AOF \`appendfsync ${first.redis.appendfsync}\`; one Dovecot; LMTP deliveries at ${first.ratePerSecond} msg/s to ${first.accounts} accounts; one \`PushmailClient\` subscribed to every account through a TCP balancer, following gateway failures and resuming with \`since\`. In turn: ${Object.keys(first.byPhase).filter((p) => p !== 'warm-up' && p !== 'drain').join(', ')} (each restarted). A delivery counts when Dovecot answered \`250\` for its recipient after DATA.`,
    '',
    `| figure | over the ${runs.length} run(s) |`,
    '|---|---|',
    `| acknowledged deliveries per run | ${range(runs.map((r) => r.acknowledged))} (not acknowledged: ${range(runs.map((r) => r.notAcknowledged))}) |`,
    `| lost (acknowledged, never pushed) | **${range(runs.map((r) => r.lost))}** |`,
    `| duplicated (pushed twice, two eventIds for one message, or one eventId twice) | **${range(runs.map((r) => r.duplicated + r.messagesWithTwoEventIds + r.eventIdsReceivedTwice))}** |`,
    `| events the client had seen, missing from the log after kill -9 of Redis | ${range(runs.map((r) => r.redis.clientSeenEventsMissingAfterKill9))} (\`aof_delayed_fsync\` before the kill: ${range(runs.map((r) => r.redis.aofDelayedFsyncBeforeKill9))}) |`,
    `| latency p50 under faults | ${range(runs.map((r) => r.latencyMs.p50), ' ms')} (Dovecot's IDLE floor is ~500 ms) |`,
    `| latency p99 under faults | ${range(runs.map((r) => r.latencyMs.p99), 's')} |`,
    `| latency max | ${range(runs.map((r) => r.latencyMs.max), 's')} |`,
    '',
    `*Per phase, last run (${lastRun.when})*`,
    '',
    '| phase | deliveries | p50 | p99 | max |',
    '|---|---|---|---|---|',
    ...Object.entries(lastRun.byPhase).map(([phase, p]) => `| ${phase} | ${p.deliveries} | ${p.p50Ms} ms | ${p.p99Ms} ms | ${p.maxMs} ms |`),
    '',
    "A p99 of tens of seconds comes from the kill -9 of a fetcher: its jobs are taken over after BullMQ's stalled-job check (30 s lock, 30 s interval, the defaults). What `everysec` can lose is stated in docs/operations.md.",
    '',
  );
  return out;
}
