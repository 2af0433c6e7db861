import { MetricsService } from '@pushmail/observability';
import { FakeAccountSource, FakeImapClientFactory } from '@pushmail/testing';
import { ImapConnectionPool, PooledConnection, POOLED_KEEPALIVE_MS } from './imap-connection.pool';
import { PoolSettings } from '../settings';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pool over fake clients (no server). */
function makePool(growAfterMs: number, idleMs = 60_000) {
  const factory = new FakeImapClientFactory();
  const settings: PoolSettings = { maxPerAccount: 2, idleMs, extraIdleMs: 60_000, acquireTimeoutMs: 5000, growAfterMs };
  return { pool: new ImapConnectionPool(new FakeAccountSource(), factory, new MetricsService(), settings), clients: factory.clients };
}

describe('ImapConnectionPool', () => {
  const pools: ImapConnectionPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.beforeApplicationShutdown()));
  });

  it('waits briefly for a busy connection instead of logging in again', async () => {
    const { pool, clients } = makePool(50);
    pools.push(pool);
    const used: PooledConnection[] = [];
    const first = pool.withSession('acc', async (s) => {
      used.push(s);
      await sleep(10);
    });
    const second = pool.withSession('acc', async (s) => {
      used.push(s);
    });
    await Promise.all([first, second]);
    expect(clients).toHaveLength(1);
    expect(used[0]).toBe(used[1]);
  });

  it('keeps an idle connection alive past the client inactivity timeout until its idle time is up', async () => {
    jest.useFakeTimers();
    try {
      const { pool, clients } = makePool(10, 5 * 60_000);
      pools.push(pool);
      await pool.withSession('acc', async () => undefined);
      await jest.advanceTimersByTimeAsync(POOLED_KEEPALIVE_MS + 1);
      expect(clients[0].noops).toBe(1);
      // Lent again: no keepalive while a caller holds it, nor a second timer after its return.
      await pool.withSession('acc', () => jest.advanceTimersByTimeAsync(2 * POOLED_KEEPALIVE_MS));
      expect(clients[0].noops).toBe(1);
      await jest.advanceTimersByTimeAsync(POOLED_KEEPALIVE_MS + 1);
      expect(clients[0].noops).toBe(2);
      // After FETCH_POOL_IDLE_MS unused it is logged out, and the NOOPs stop.
      await jest.advanceTimersByTimeAsync(5 * 60_000);
      expect(clients[0].usable).toBe(false);
      const noops = clients[0].noops;
      expect(noops).toBeLessThanOrEqual(8);
      await jest.advanceTimersByTimeAsync(3 * POOLED_KEEPALIVE_MS);
      expect(clients[0].noops).toBe(noops);
      expect(clients).toHaveLength(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('grows to its bound when the busy connection stays busy, and no further', async () => {
    const { pool, clients } = makePool(10);
    pools.push(pool);
    const hold = (ms: number) => pool.withSession('acc', () => sleep(ms));
    await Promise.all([hold(100), hold(100), hold(100)]);
    expect(clients).toHaveLength(2);
  });
});
