import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The `--slow-fetcher-ms` knob (a regression on purpose, to see `--strict` fail): the preload the
 * bench gives its fetchers must stall every postal-mime parse, on the main thread and in worker
 * threads (the fetcher parses in threads). Timed in a child process with the preload, as the bench
 * starts the fetcher.
 */
describe('slow-fetcher preload', () => {
  const script = `
    const { Worker, isMainThread, parentPort } = require('node:worker_threads');
    const PostalMime = require('postal-mime').default;
    const time = async () => { const t = Date.now(); for (let i = 0; i < 10; i++) await PostalMime.parse('Subject: x\\r\\n\\r\\nhi'); return Date.now() - t; };
    if (isMainThread) {
      const w = new Worker(__filename);
      w.once('message', async (inWorker) => { console.log(JSON.stringify({ main: await time(), worker: inWorker })); w.terminate(); });
    } else time().then((ms) => parentPort.postMessage(ms));
  `;
  const run = (env: Record<string, string>) => {
    // Beside the bench, so the probe resolves postal-mime from the project's node_modules.
    const file = join(__dirname, `.slow-fetcher-probe-${process.pid}.cjs`);
    writeFileSync(file, script);
    try {
      const out = execFileSync(process.execPath, [file], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return JSON.parse(out) as { main: number; worker: number };
    } finally {
      rmSync(file, { force: true });
    }
  };

  it('stalls each parse by the given milliseconds, in the main thread and in worker threads', () => {
    const slowed = run({ NODE_OPTIONS: `--require ${join(__dirname, 'slow-fetcher-preload.cjs')}`, BENCH_SLOW_FETCHER_MS: '20' });
    expect(slowed.main).toBeGreaterThanOrEqual(200);
    expect(slowed.worker).toBeGreaterThanOrEqual(200);
  });

  it('does nothing without BENCH_SLOW_FETCHER_MS', () => {
    const plain = run({ NODE_OPTIONS: `--require ${join(__dirname, 'slow-fetcher-preload.cjs')}` });
    expect(plain.main).toBeLessThan(200);
    expect(plain.worker).toBeLessThan(200);
  });
});
