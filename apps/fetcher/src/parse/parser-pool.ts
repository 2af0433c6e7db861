import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { MailContent } from '@pushmail/mail-parse';
import { MetricsService } from '@pushmail/observability';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Counter } from 'prom-client';
import { ParseSettings } from '../settings';
import { headerOnlyContent } from './header-fallback';
import { MessageEnvelope, ParseRequest, ParsedJson, ParserThreadMessage, runParseRequest, toParsedJson } from './parse-request';

/** Built by webpack beside main.js; absent when the fetcher runs from TypeScript sources (tests). */
export const PARSE_WORKER_SCRIPT = join(__dirname, 'parse-worker.js');
/** Injection token for another thread script (tests). */
export const PARSE_WORKER_SCRIPT_PATH = Symbol('PARSE_WORKER_SCRIPT_PATH');

interface Pending {
  /** As the caller gave it (its bytes were copied for the thread): kept to parse again or fall back. */
  request: ParseRequest;
  resolve: (result: MailContent | ParsedJson) => void;
  reject: (err: Error) => void;
}

interface ParserThread {
  worker: Worker;
  /** In the order sent; the thread parses one at a time in that order, so the first is the one running. */
  pending: Map<number, Pending>;
  /** When the first pending message became the one the thread works on (performance.now()). */
  headSince: number;
  /** The thread has loaded its script: until then nothing is being parsed, and no clock runs. */
  ready: boolean;
  watchdog?: NodeJS.Timeout;
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
 *
 * Watchdog: a message that a thread has worked on for PARSE_TIMEOUT_MS is answered from its header
 * block alone (`parse_timeout`), and the thread is terminated and replaced; the messages queued
 * behind it are sent again, so they are parsed as usual. Only a thread can be stopped mid-parse:
 * inline parsing has no watchdog.
 */
@Injectable()
export class ParserPool implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ParserPool.name);
  private readonly threads: ParserThread[] = [];
  private readonly timeouts: Counter<string>;
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly settings: ParseSettings,
    metrics: MetricsService,
    @Optional() @Inject(PARSE_WORKER_SCRIPT_PATH) private readonly script: string = PARSE_WORKER_SCRIPT,
  ) {
    this.timeouts = metrics.counter(
      'pushmail_parse_timeouts_total',
      'Parses that ran past PARSE_TIMEOUT_MS: the parser thread was terminated and the message delivered with its headers only (parse_timeout)',
    );
  }

  onModuleInit(): void {
    if (!this.settings.threads) return;
    if (!existsSync(this.script)) {
      this.logger.warn({ msg: 'parser thread script not built; parsing on the main thread', script: this.script });
      return;
    }
    for (let i = 0; i < this.settings.threads; i++) this.threads.push(this.spawn());
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    for (const t of this.threads) clearTimeout(t.watchdog);
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
      thread.pending.set(id, { request, resolve, reject });
      if (thread.pending.size === 1 && thread.ready) this.startClock(thread);
      thread.worker.postMessage({ id, request: { ...request, raw } }, [raw.buffer]);
    });
  }

  /** The thread's first pending message starts now: it has PARSE_TIMEOUT_MS from here. */
  private startClock(thread: ParserThread): void {
    thread.headSince = performance.now();
    // refresh() re-arms the one timer in place: no allocation per message at thousands a second.
    if (thread.watchdog) thread.watchdog.refresh();
    else thread.watchdog = setTimeout(() => this.checkClock(thread), this.settings.timeoutMs).unref();
  }

  private checkClock(thread: ParserThread): void {
    if (this.closing || !thread.ready || !thread.pending.size || !this.threads.includes(thread)) return;
    // The timer was armed when the head started; a reply in between re-armed it. Late by an event-loop
    // turn at most, never early.
    if (performance.now() - thread.headSince < this.settings.timeoutMs - 1) {
      thread.watchdog?.refresh();
      return;
    }
    // Timers run before I/O in an event-loop turn: when this thread was busy (GC, a big JSON), replies
    // may already be waiting. setImmediate runs after they are handled; a reply moves headSince on.
    const since = thread.headSince;
    setImmediate(() => {
      if (this.closing || thread.headSince !== since || !thread.pending.size || !this.threads.includes(thread)) return;
      this.timeOut(thread);
    });
  }

  /**
   * The message at the head ran too long. Answering it from its headers (instead of failing the job)
   * is what keeps it from being retried forever: it would time out on every attempt.
   */
  private timeOut(thread: ParserThread): void {
    const [head, ...queued] = [...thread.pending.values()];
    // Replies already on their way from the old thread find nothing pending and are dropped.
    thread.pending.clear();
    clearTimeout(thread.watchdog);
    this.threads[this.threads.indexOf(thread)] = this.spawn();
    void thread.worker.terminate();
    this.timeouts.inc();
    const { accountId, mailbox, uid } = head.request.part;
    this.logger.warn({ msg: 'parse timed out: parser thread terminated, message delivered with headers only', timeoutMs: this.settings.timeoutMs, accountId, mailbox, uid, requeued: queued.length });
    try {
      const content = headerOnlyContent(head.request.raw);
      head.resolve(head.request.envelope ? toParsedJson(head.request.envelope, content) : content);
    } catch (err) {
      head.reject(err as Error);
    }
    // Innocent bystanders: parsed again on a live thread, so their jobs never see the timeout.
    for (const p of queued) this.run(p.request).then(p.resolve, p.reject);
  }

  private spawn(): ParserThread {
    // A roomier young generation: parsing allocates many short-lived strings, and scavenges are the thread's main GC cost.
    const worker = new Worker(this.script, { resourceLimits: { maxYoungGenerationSizeMb: 48 } });
    const thread: ParserThread = { worker, pending: new Map(), headSince: 0, ready: false };
    worker.on('message', (reply: ParserThreadMessage) => {
      if ('ready' in reply) {
        // A fresh thread spends a while loading its modules; that time is not a parse's.
        thread.ready = true;
        if (thread.pending.size) this.startClock(thread);
        return;
      }
      const pending = thread.pending.get(reply.id);
      if (!pending) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size) this.startClock(thread);
      if ('error' in reply) pending.reject(new ParserThreadError(`parser failed: ${reply.error}`));
      else pending.resolve('json' in reply ? { json: reply.json, summaryJson: reply.summaryJson, partIdsUncertain: reply.partIdsUncertain } : reply.content);
    });
    worker.on('error', (err) => this.logger.error({ msg: 'parser thread failed', err }));
    worker.on('exit', (code) => {
      clearTimeout(thread.watchdog);
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
