import { BenchContext, NotRun, ScenarioId, ScenarioResult, TargetCheck, emptyResult } from './types';
import { now } from './clock';

/**
 * One scenario's result, filled in by steps that may be spread over a shared environment (the
 * IMAP suite measures several scenarios on one Dovecot). The first failing step marks the
 * scenario failed (or not run, for a missing app) and later steps are skipped.
 */
export class ScenarioRun {
  readonly result: ScenarioResult;
  private elapsedMs = 0;

  constructor(
    private readonly ctx: BenchContext,
    id: ScenarioId,
    params: Record<string, unknown> = {},
  ) {
    this.result = { ...emptyResult(id, 'ok'), params };
  }

  get ok(): boolean {
    return this.result.status === 'ok';
  }

  async step(what: string, fn: (r: ScenarioResult) => Promise<void> | void): Promise<boolean> {
    if (!this.ok) return false;
    const t0 = now();
    try {
      await fn(this.result);
      return true;
    } catch (err) {
      this.fail(err as Error, what);
      return false;
    } finally {
      this.elapsedMs += now() - t0;
    }
  }

  fail(err: Error, what?: string): void {
    if (!this.ok) return;
    this.result.status = err instanceof NotRun ? 'not_run' : 'failed';
    this.result.reason = (what && !(err instanceof NotRun) ? `${what}: ` : '') + firstLine(err.message);
    this.ctx.log(`  ${this.result.id}: ${this.result.status} — ${this.result.reason}`);
  }

  skip(reason: string): void {
    this.fail(new NotRun(reason));
  }

  done(): ScenarioResult {
    this.result.durationS = Math.round(this.elapsedMs / 100) / 10;
    this.ctx.record(this.result);
    return this.result;
  }
}

const firstLine = (s: string) => s.split('\n').slice(0, 3).join(' ').slice(0, 400);

/** Formats target checks consistently: `value` against an upper bound. */
export function atMost(measure: string, value: number | null | undefined, bound: number, unit: string, display = `≤ ${bound} ${unit}`) {
  const v = value === undefined || value === null || Number.isNaN(value) ? null : value;
  return { measure, value: v, unit, target: display, met: v === null ? null : v <= bound };
}

export function atLeast(measure: string, value: number | null | undefined, bound: number, unit: string, display = `≥ ${bound} ${unit}`) {
  const v = value === undefined || value === null || Number.isNaN(value) ? null : value;
  return { measure, value: v, unit, target: display, met: v === null ? null : v >= bound };
}

/** A target that a quick run's tiny numbers cannot judge is shown without a verdict. */
export function judged(ctx: BenchContext, check: TargetCheck): TargetCheck {
  return ctx.quick ? { ...check, met: null } : check;
}
