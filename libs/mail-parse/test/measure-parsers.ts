/**
 * Parser throughput on the corpus, postal-mime next to mailparser, in the same run; plus pushmail's
 * full pipeline (postal-mime + structure scan + sanitizing). Run: npx tsx libs/mail-parse/test/measure-parsers.ts [seconds-per-parser]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import PostalMime from 'postal-mime';
import { parseMail } from '../src';

export interface ParserThroughput {
  parser: string;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  messages: number;
  /** Messages the parser rejected (counted in the throughput, since a worker must handle them too). */
  failures: number;
}

export function loadCorpus(dir = join(__dirname, 'corpus')): Buffer[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

export async function measure(name: string, corpus: Buffer[], parse: (raw: Buffer) => Promise<unknown>, seconds: number): Promise<ParserThroughput> {
  const attempt = (raw: Buffer) => parse(raw).then(() => 0, () => 1);
  for (const raw of corpus) await attempt(raw); // warm-up
  let failures = 0;
  let messages = 0;
  let bytes = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) {
    for (const raw of corpus) {
      failures += await attempt(raw);
      messages++;
      bytes += raw.length;
    }
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { parser: name, messagesPerSecond: messages / elapsed, megabytesPerSecond: bytes / 1e6 / elapsed, messages, failures };
}

export async function measureParsers(corpus: Buffer[], seconds = 3): Promise<ParserThroughput[]> {
  return [
    await measure('postal-mime', corpus, (raw) => PostalMime.parse(raw), seconds),
    await measure('mailparser', corpus, (raw) => simpleParser(raw), seconds),
    await measure('pushmail parseMail (postal-mime + scan + sanitize)', corpus, (raw) => parseMail(raw), seconds),
  ];
}

if (require.main === module) {
  void (async () => {
    const seconds = Number(process.argv[2] ?? 3);
    const all = loadCorpus();
    // The 1 MB header message dominates byte counts; report with and without it.
    const typical = all.filter((raw) => raw.length < 200_000);
    for (const [label, corpus] of [['corpus without the 1 MB header message', typical], ['whole corpus', all]] as const) {
      const size = corpus.reduce((n, r) => n + r.length, 0);
      console.log(`${label}: ${corpus.length} messages, ${(size / 1024).toFixed(0)} KB`);
      for (const r of await measureParsers(corpus, seconds)) {
        console.log(`  ${r.parser.padEnd(52)} ${r.messagesPerSecond.toFixed(0).padStart(7)} msg/s  ${r.megabytesPerSecond.toFixed(1).padStart(6)} MB/s${r.failures ? `  (${r.failures} rejected)` : ''}`);
      }
    }
  })();
}
