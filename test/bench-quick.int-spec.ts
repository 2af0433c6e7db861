import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@pushmail/testing';

/**
 * `npm run bench -- --quick` end to end: it must finish and write a well-formed report. No timing
 * is asserted here; the targets are judged from the full run's bench/REPORT.md.
 */
const SCENARIO_IDS = ['push-latency', 'floor', 'pipeline-stages', 'watcher-density', 'startup', 'fetch-throughput', 'fetch-latency', 'parser-throughput', 'gateway-fanout', 'failover', 'polling'];

interface Report {
  schema: string;
  mode: string;
  git: { commit: string };
  machine: { cores: number; memoryGiB: number; node: string };
  scenarios: Array<{ id: string; status: string; reason?: string; figures: Record<string, number | null>; targets: Array<{ measure: string; target: string; value: number | null; met: boolean | null }>; tables: Array<{ columns: string[]; rows: unknown[][] }> }>;
  distributions: Record<string, { n: number; p50: number; p99: number } | null>;
}

describe('npm run bench -- --quick', () => {
  const out = mkdtempSync(join(tmpdir(), 'pm-bench-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every scenario (or says why not) and writes the JSON, Markdown and SVG report', async () => {
    // npm test has just built dist/, so the bench skips its own build.
    const child = spawn('npm', ['run', 'bench', '--', '--quick', '--no-build', '--out', out], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`bench exited ${code}:\n${output.slice(-6000)}`);

    const jsonFiles = readdirSync(join(out, 'results')).filter((f) => f.endsWith('.json'));
    expect(jsonFiles).toHaveLength(1);
    const report = JSON.parse(readFileSync(join(out, 'results', jsonFiles[0]), 'utf8')) as Report;
    expect(report.schema).toBe('pushmail-bench/1');
    expect(report.mode).toBe('quick');
    expect(report.git.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    expect(report.scenarios.map((s) => s.id).sort()).toEqual([...SCENARIO_IDS].sort());
    for (const s of report.scenarios) {
      expect(['ok', 'not_run', 'failed']).toContain(s.status);
      if (s.status !== 'ok') expect(s.reason).toBeTruthy();
      for (const t of s.targets) expect(typeof t.measure === 'string' && typeof t.target === 'string').toBe(true);
      for (const t of s.tables) for (const row of t.rows) expect(row).toHaveLength(t.columns.length);
    }
    const byId = Object.fromEntries(report.scenarios.map((s) => [s.id, s]));
    // These need no pushmail app, only Dovecot and the parsers: they always run.
    expect(byId.floor.status).toBe('ok');
    expect(byId['parser-throughput'].status).toBe('ok');
    expect(byId.polling.status).toBe('ok');
    // CI builds the apps first: the fetcher's measured stages must produce figures, not just rows.
    expect(byId['fetch-latency'].status).toBe('ok');
    // The watcher's target is judged per job from Redis's own clock; the burst from a running fetcher.
    const existsToRedis = byId['pipeline-stages'].targets.find((t) => t.measure.startsWith('EXISTS → job in Redis'));
    expect(existsToRedis?.value).toEqual(expect.any(Number));
    const warmBurst = byId['fetch-throughput'].targets.find((t) => t.measure.includes('one running fetcher'));
    expect(warmBurst?.value).toBeGreaterThan(0);
    // Where the burst's CPU went, from /proc: the fetcher's share and everything's.
    expect(byId['fetch-throughput'].figures).toMatchObject({ cpuMsPerMessage: expect.any(Number), fetcherCpuMsPerMessage: expect.any(Number) });
    expect(report.distributions.floor?.n).toBeGreaterThan(0);

    const markdown = readFileSync(join(out, 'results', 'REPORT-quick.md'), 'utf8');
    for (const heading of ['# pushmail benchmark report', '## Targets', '## Latency distributions', '## Scenarios', '## Against the baseline', '## Reproduce']) expect(markdown).toContain(heading);
    const svg = readFileSync(join(out, 'results', 'latency-quick.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('</svg>');
    // A quick run never overwrites the committed full report.
    expect(existsSync(join(out, 'REPORT.md'))).toBe(false);
  }, 240_000);
});
