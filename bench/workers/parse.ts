import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import PostalMime from 'postal-mime';
import { benchMessage } from '../lib/corpus';
import { now } from '../lib/clock';
import { serveWorker } from '../lib/worker';

/**
 * Parser-only throughput on a generated corpus of ~3 KB messages: postal-mime and mailparser side
 * by side in one process, each warmed up first and timed over the same inputs.
 */
type Parse = (raw: Buffer) => Promise<unknown>;

const parsers: Record<string, Parse> = {
  'postal-mime': (raw) => PostalMime.parse(raw),
  mailparser: (raw) => simpleParser(raw),
};

/**
 * Wall time gives msg/s; CPU time (user + system of this process) gives the CPU a message costs,
 * which other work on the machine hardly changes: `--strict` uses it as the CPU-speed proxy.
 */
async function timeParser(parse: Parse, corpus: Buffer[], rounds: number): Promise<ParserTiming> {
  for (const raw of corpus.slice(0, Math.min(50, corpus.length))) await parse(raw);
  const cpu0 = process.cpuUsage();
  const t0 = now();
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const raw of corpus) {
      await parse(raw);
      n++;
    }
  }
  const ms = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { msgPerS: Math.round((n / ms) * 1000), n, ms: Math.round(ms), cpuMsPerMessage: Math.round(((cpu.user + cpu.system) / 1000 / n) * 1000) / 1000 };
}

export interface ParserTiming {
  msgPerS: number;
  n: number;
  ms: number;
  cpuMsPerMessage: number;
}

serveWorker({
  run: async ({ messages, size, rounds }: { messages: number; size: number; rounds: number }) => {
    const corpus = Array.from({ length: messages }, (_, i) => Buffer.from(benchMessage(`reader${i}@bench.pushmail.test`, `parse-${i}`, size, i).raw));
    const avgBytes = Math.round(corpus.reduce((s, b) => s + b.length, 0) / corpus.length);
    const results: Record<string, ParserTiming> = {};
    // The project's own parser wrapper, once it exists, is timed beside the raw libraries.
    const libPath = join(__dirname, '..', '..', 'libs', 'mail-parse', 'src', 'index.ts');
    if (existsSync(libPath)) {
      try {
        const lib = (await import(libPath)) as Record<string, unknown>;
        const fn = ['parseMessage', 'parseMail', 'parse'].map((k) => lib[k]).find((f): f is Parse => typeof f === 'function');
        if (fn) parsers['libs/mail-parse'] = (raw) => Promise.resolve(fn(raw));
      } catch {
        // not usable yet: the raw parsers still run
      }
    }
    for (const [name, parse] of Object.entries(parsers)) results[name] = await timeParser(parse, corpus, rounds);
    return { avgBytes, messages, rounds, results };
  },
});
