import { EventEmitter } from 'node:events';
import { ConfigService } from '@pushmail/config';
import { MetricsService } from '@pushmail/observability';
import type { AccountRepository } from '@pushmail/accounts';
import type { ImapClientFactory } from '@pushmail/imap';
import { FetcherEnv } from '../config';
import { ImapConnectionPool, ImapSession } from './imap-connection.pool';

/** Just enough of an imapflow client for the pool's bookkeeping; no server involved. */
class FakeClient extends EventEmitter {
  usable = false;
  async connect() {
    this.usable = true;
  }
  async logout() {
    this.usable = false;
  }
  close() {
    this.usable = false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makePool(growAfterMs: number) {
  const clients: FakeClient[] = [];
  const factory = { create: () => clients[clients.push(new FakeClient()) - 1] } as unknown as ImapClientFactory;
  const accounts = { get: async (id: string) => ({ id, imap: {} }), onChange: async () => undefined } as unknown as AccountRepository;
  const config = new ConfigService({
    FETCH_POOL_SIZE: 2,
    FETCH_POOL_IDLE_MS: 60_000,
    FETCH_POOL_EXTRA_IDLE_MS: 60_000,
    FETCH_POOL_ACQUIRE_TIMEOUT_MS: 5000,
    FETCH_POOL_GROW_AFTER_MS: growAfterMs,
  } as unknown as FetcherEnv);
  return { pool: new ImapConnectionPool(accounts, factory, new MetricsService(), config), clients };
}

describe('ImapConnectionPool', () => {
  const pools: ImapConnectionPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.beforeApplicationShutdown()));
  });

  it('waits briefly for a busy connection instead of logging in again', async () => {
    const { pool, clients } = makePool(50);
    pools.push(pool);
    const used: ImapSession[] = [];
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

  it('grows to its bound when the busy connection stays busy, and no further', async () => {
    const { pool, clients } = makePool(10);
    pools.push(pool);
    const hold = (ms: number) => pool.withSession('acc', () => sleep(ms));
    await Promise.all([hold(100), hold(100), hold(100)]);
    expect(clients).toHaveLength(2);
  });
});
