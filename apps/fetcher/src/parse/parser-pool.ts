import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { MailContent } from '@pushmail/mail-parse';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FetcherEnv } from '../config';
import { MessageEnvelope, ParseReply, ParseRequest, ParsedJson, runParseRequest, toParsedJson } from './parse-request';

/** Built by webpack beside main.js; absent when the fetcher runs from TypeScript sources (tests). */
export const PARSE_WORKER_SCRIPT = join(__dirname, 'parse-worker.js');
/** Injection token for another thread script (tests). */
export const PARSE_WORKER_SCRIPT_PATH = Symbol('PARSE_WORKER_SCRIPT_PATH');

interface Pending {
  resolve: (result: MailContent | ParsedJson) => void;
  reject: (err: Error) => void;
}

interface ParserThread {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** Thrown for the messages in flight on a parser thread that died; the job is retried. */
export class ParserThreadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParserThreadError';
  }
}

/**
 * worker_threads behind one injectable: parses on PARSE_THREADS threads, or inline when that is 0
 * or the thread script is not built. A thread that dies fails only its in-flight messages (their
 * jobs are retried) and is replaced.
 */
@Injectable()
export class ParserPool implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ParserPool.name);
  private readonly threads: ParserThread[] = [];
  private readonly size: number;
  private nextId = 1;
  private closing = false;

  constructor(
    config: ConfigService<FetcherEnv>,
    @Optional() @Inject(PARSE_WORKER_SCRIPT_PATH) private readonly script: string = PARSE_WORKER_SCRIPT,
  ) {
    this.size = config.get('PARSE_THREADS');
  }

  onModuleInit(): void {
    if (!this.size) return;
    if (!existsSync(this.script)) {
      this.logger.warn({ msg: 'parser thread script not built; parsing on the main thread', script: this.script });
      return;
    }
    for (let i = 0; i < this.size; i++) this.threads.push(this.spawn());
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  get threadCount(): number {
    return this.threads.length;
  }

  parse(request: Omit<ParseRequest, 'envelope'>): Promise<MailContent> {
    return this.run(request) as Promise<MailContent>;
  }

  /** Parses and returns the finished ParsedMessage as JSON, serialized on the parser thread. */
  async parseToJson(request: Omit<ParseRequest, 'envelope'>, envelope: MessageEnvelope): Promise<ParsedJson> {
    if (!this.threads.length) return toParsedJson(envelope, await runParseRequest(request));
    return (await this.run({ ...request, envelope })) as ParsedJson;
  }

  private run(request: ParseRequest): Promise<MailContent | ParsedJson> {
    if (!this.threads.length) return runParseRequest(request);
    // The least busy thread: one slow message must not hold up the ones behind it.
    let thread = this.threads[0];
    for (const t of this.threads) if (t.pending.size < thread.pending.size) thread = t;
    const id = this.nextId++;
    // A copy with its own ArrayBuffer: the fetched Buffer may share Node's pool with other Buffers,
    // and transferring that pool would detach them.
    const raw = new Uint8Array(request.raw);
    return new Promise<MailContent | ParsedJson>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ id, request: { ...request, raw } }, [raw.buffer]);
    });
  }

  private spawn(): ParserThread {
    // A roomier young generation: parsing allocates many short-lived strings, and scavenges are the thread's main GC cost.
    const worker = new Worker(this.script, { resourceLimits: { maxYoungGenerationSizeMb: 48 } });
    const thread: ParserThread = { worker, pending: new Map() };
    worker.on('message', (reply: ParseReply) => {
      const pending = thread.pending.get(reply.id);
      if (!pending) return;
      thread.pending.delete(reply.id);
      if ('error' in reply) pending.reject(new ParserThreadError(`parser failed: ${reply.error}`));
      else pending.resolve('json' in reply ? { json: reply.json, partIdsUncertain: reply.partIdsUncertain } : reply.content);
    });
    worker.on('error', (err) => this.logger.error({ msg: 'parser thread failed', err }));
    worker.on('exit', (code) => {
      for (const p of thread.pending.values()) p.reject(new ParserThreadError(`parser thread exited with code ${code}`));
      thread.pending.clear();
      const index = this.threads.indexOf(thread);
      if (index < 0 || this.closing) return;
      this.logger.warn({ msg: 'parser thread exited; starting a new one', code });
      this.threads[index] = this.spawn();
    });
    worker.unref();
    return thread;
  }
}
