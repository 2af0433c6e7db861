import { LoggerService } from '@nestjs/common';
import { redact, redactString } from './redact';

const levelRank = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 } as const;
type Level = keyof typeof levelRank;

/**
 * Nest logger that writes one JSON object per line to stdout (what log shippers expect) and runs
 * every field through {@link redact}.
 */
export class JsonLogger implements LoggerService {
  private threshold: number;

  constructor(
    level: Level = 'info',
    private readonly base: Record<string, unknown> = {},
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {
    this.threshold = levelRank[level];
  }

  setLevel(level: Level): void {
    this.threshold = levelRank[level];
  }

  isEnabled(level: Level): boolean {
    return levelRank[level] >= this.threshold;
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.emit('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.emit('fatal', message, rest);
  }

  private emit(level: Level, message: unknown, rest: unknown[]): void {
    if (!this.isEnabled(level)) return;
    // Nest passes the context as the last string argument, and for errors a stack before it.
    const args = [...rest];
    const context = typeof args[args.length - 1] === 'string' ? (args.pop() as string) : undefined;
    const entry: Record<string, unknown> = { level, time: new Date().toISOString(), ...this.base };
    if (context) entry.context = context;
    if (message instanceof Error) {
      entry.msg = redactString(message.message);
      entry.err = redact(message);
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(entry, redact(message));
    } else {
      entry.msg = redactString(String(message));
    }
    for (const extra of args) {
      if (typeof extra === 'string' && level === 'error') entry.stack = redactString(extra);
      else if (extra instanceof Error) entry.err = redact(extra);
      else if (extra && typeof extra === 'object') Object.assign(entry, redact(extra));
    }
    this.write(JSON.stringify(entry));
  }
}
