import { ScenarioRun } from '../lib/scenario';
import { BenchContext } from '../lib/types';
import { WorkerProcess } from '../lib/worker';
import type { ParserTiming } from '../workers/parse';

/** Parser-only throughput: no I/O, one process, the same generated corpus for each parser. */
export async function parserScenario(ctx: BenchContext): Promise<void> {
  const run = new ScenarioRun(ctx, 'parser-throughput', { messages: ctx.p.parserMessages, rounds: ctx.p.parserRounds, sizeBytes: 3000 });
  let worker: WorkerProcess | undefined;
  await run.step('parse corpus', async (r) => {
    ctx.log('parser: postal-mime vs mailparser on a generated corpus');
    worker = await WorkerProcess.start('parse');
    const res = await worker.call<{ avgBytes: number; results: Record<string, ParserTiming> }>('run', {
      messages: ctx.p.parserMessages,
      size: 3000,
      rounds: ctx.p.parserRounds,
    });
    const rows = Object.entries(res.results).map(([name, x]) => [name, x.n, `${x.ms} ms`, x.msgPerS, x.cpuMsPerMessage] as Array<string | number>);
    r.tables.push({ title: `~${res.avgBytes}-byte multipart/alternative messages, one core`, columns: ['parser', 'messages parsed', 'time', 'msg/s', 'CPU ms per message'], rows });
    for (const [name, x] of Object.entries(res.results)) {
      r.figures[`${name} msgPerS`] = x.msgPerS;
      r.figures[`${name} cpuMsPerMessage`] = x.cpuMsPerMessage;
    }
    const pm = res.results['postal-mime']?.msgPerS;
    const mp = res.results.mailparser?.msgPerS;
    if (pm && mp) r.notes.push(`postal-mime parses ${Math.round((pm / mp) * 10) / 10}× as fast as mailparser here.`);
  });
  await worker?.stop();
  run.done();
}
