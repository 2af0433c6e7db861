import { Injectable } from '@nestjs/common';

export interface ReadinessResult {
  ok: boolean;
  detail?: string;
}
export type ReadinessCheck = () => Promise<ReadinessResult> | ReadinessResult;

/** Modules register what "ready" means for them; `/health/ready` is the conjunction. */
@Injectable()
export class HealthService {
  private readonly checks = new Map<string, ReadinessCheck>();
  private shuttingDown = false;

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Once set, readiness fails so load balancers stop routing here while we drain. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  async readiness(): Promise<{ ok: boolean; checks: Record<string, ReadinessResult> }> {
    const checks: Record<string, ReadinessResult> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        try {
          checks[name] = await withTimeout(Promise.resolve(check()), 2000);
        } catch (err) {
          checks[name] = { ok: false, detail: (err as Error).message };
        }
      }),
    );
    // Read after the checks, not before: a probe that arrived just before SIGTERM and was still
    // waiting for its Redis PING answered 200 after the app had started shutting down (CI, once).
    if (this.shuttingDown) checks.shutdown = { ok: false, detail: 'shutting down' };
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`check timed out after ${ms} ms`)), ms);
    }),
  ]);
}
