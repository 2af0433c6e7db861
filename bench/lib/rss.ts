import { freePort } from '@pushmail/testing';
import { sleep } from './clock';
import { rssBytes } from './infra';
import { heapUsedBytes } from './prom';
import { WorkerProcess } from './worker';

/**
 * RSS once it has settled: sampled every second until the last `window` samples lie within 2 %
 * of each other (or the timeout passes); the median of that window. No GC is forced here: this is
 * what the process holds in steady state, before GcProbe.measure forces one.
 */
export async function steadyRss(pid: number | undefined, timeoutMs = 30_000, window = 5): Promise<{ bytes: number; settled: boolean }> {
  const samples: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    samples.push(rssBytes(pid));
    const last = samples.slice(-window);
    if (last.length === window) {
      const lo = Math.min(...last);
      const hi = Math.max(...last);
      const settled = (hi - lo) / hi < 0.02;
      if (settled || Date.now() >= deadline) return { bytes: [...last].sort((a, b) => a - b)[Math.floor(window / 2)], settled };
    }
    await sleep(1000);
  }
}

export const kb = (bytes: number) => Math.round(bytes / 1024);
export const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/**
 * Memory of an app process after a forced full GC: the app is started with its inspector on a
 * loopback port (`inspectEnv`), and a helper process asks it to collect garbage first.
 */
export class GcProbe {
  private constructor(private readonly worker: WorkerProcess) {}

  static async start(): Promise<GcProbe> {
    return new GcProbe(await WorkerProcess.start('gc', 'gc', ['--experimental-websocket']));
  }

  /** Env that opens an app's inspector on a free loopback port (remember the port for measure()). */
  static async inspectEnv(): Promise<{ port: number; env: Record<string, string> }> {
    const port = await freePort();
    return { port, env: { NODE_OPTIONS: `--inspect=127.0.0.1:${port}` } };
  }

  /**
   * Steady RSS first (`rssBeforeGc`: what the process holds when left alone), then two forced full
   * GCs, then RSS and heap in use (median of three samples). Both RSS figures are reported.
   */
  async measure(pid: number | undefined, inspectPort: number, metricsUrl: string, settleMs = 20_000): Promise<{ rss: number; rssBeforeGc: number; heap: number; settled: boolean }> {
    const { bytes: rssBeforeGc, settled } = await steadyRss(pid, settleMs);
    await this.worker.call('collect', { port: inspectPort });
    await sleep(500);
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      samples.push(rssBytes(pid));
      await sleep(300);
    }
    const heap = await heapUsedBytes(metricsUrl);
    return { rss: samples.sort((a, b) => a - b)[1], rssBeforeGc, heap, settled };
  }

  stop(): Promise<void> {
    return this.worker.stop();
  }
}
