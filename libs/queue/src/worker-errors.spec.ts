import { ConnectionClosedError } from 'bullmq';
import { WorkerErrorLimiter, workerErrorKind } from './worker-errors';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
const lockLost = (id: number) => new Error(`Missing lock for job ${id}. moveToFinished`);

describe('workerErrorKind', () => {
  it('tells connection errors (logged by RedisService) from the worker’s own', () => {
    expect(workerErrorKind(refused())).toBe('connection');
    expect(workerErrorKind(reset())).toBe('connection');
    expect(workerErrorKind(new ConnectionClosedError())).toBe('connection');
    // ioredis re-establishing a Sentinel or Cluster connection (seen in the Sentinel failover test).
    expect(workerErrorKind(new Error('All sentinels are unreachable. Retrying from scratch after 200ms.'))).toBe('connection');
    expect(workerErrorKind(new Error('Failed to refresh slots cache.'))).toBe('connection');
    expect(workerErrorKind(lockLost(1))).toBe('worker');
    expect(workerErrorKind(new Error('LOADING Redis is loading the dataset in memory'))).toBe('worker');
    expect(workerErrorKind('not an error')).toBe('worker');
  });
});

describe('WorkerErrorLimiter', () => {
  it('admits every worker error up to the budget per queue and window, then says how many it left out', () => {
    let now = 0;
    const limiter = new WorkerErrorLimiter(2, 1000, () => now);
    expect(limiter.admit('q', lockLost(1))).toMatchObject({ queue: 'q', suppressed: 0 });
    expect(limiter.admit('q', lockLost(2))?.err.message).toBe('Missing lock for job 2. moveToFinished');
    expect(limiter.admit('q', lockLost(3))).toBeNull();
    expect(limiter.admit('q', lockLost(4))).toBeNull();
    // Another queue has its own budget.
    expect(limiter.admit('other', lockLost(5))).not.toBeNull();
    now = 1000;
    expect(limiter.admit('q', lockLost(6))).toMatchObject({ suppressed: 2 });
    expect(limiter.admit('q', lockLost(7))).toMatchObject({ suppressed: 0 });
  });

  it('never admits connection errors, and they do not use the budget', () => {
    const limiter = new WorkerErrorLimiter(1, 1000, () => 0);
    expect(limiter.admit('q', refused())).toBeNull();
    expect(limiter.admit('q', lockLost(1))).not.toBeNull();
  });

  it('wraps a thrown non-Error so the log has a message', () => {
    expect(new WorkerErrorLimiter().admit('q', 'boom')?.err.message).toBe('boom');
  });
});
