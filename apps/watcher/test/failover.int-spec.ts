import { INestApplication } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { TcpRelay, TestDovecot, TestRedis, sleep, testStores, waitFor } from '@pushmail/testing';
import type IORedis from 'ioredis';
import { seedAccount, startWatcher } from './helpers';

jest.setTimeout(90_000);

const USERS = Array.from({ length: 12 }, (_, i) => `fo${i}@example.test`);
const LEASE_TTL_MS = 8000;
/** Fast heartbeats (member TTL 3 × 200 ms = 600 ms is below the 1500 ms default, which wins). */
const ENV = { LEASE_TTL_MS: String(LEASE_TTL_MS), HEARTBEAT_INTERVAL_MS: '200', MEMBER_TTL_MS: '1500', RECONCILE_INTERVAL_MS: '2000' };

describe('watcher failover: a killed watcher is replaced in about a second, a partitioned one only when its leases expire', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let r: IORedis;
  let stores: ReturnType<typeof testStores>;
  /** In front of Redis for one watcher: `freeze` partitions it, `close` is what Redis sees when it is killed. */
  let link: TcpRelay;
  let accounts: string[] = [];
  const apps: INestApplication[] = [];

  /** Account id → holder (INSTANCE_ID part of the lease value) and the lease's remaining ms. */
  const leases = async () => {
    const pipe = r.pipeline();
    for (const id of accounts) pipe.get(redisKeys.lease(id)).pttl(redisKeys.lease(id));
    const replies = ((await pipe.exec()) ?? []).map(([, v]) => v);
    return accounts.map((id, i) => ({ id, holder: String(replies[2 * i] ?? '').split('.')[0], value: replies[2 * i] as string | null, pttl: Number(replies[2 * i + 1]) }));
  };
  const members = async () => (await r.zrange(redisKeys.watcherMembers(), 0, -1)).map((m) => m.split('.')[0]);
  const allConnected = async (ids: string[]) => (await Promise.all(ids.map((id) => stores.accounts.getState(id)))).every((s) => s?.state === 'connected');

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: Object.fromEntries(USERS.map((u) => [u, 'pw'])) }), TestRedis.start()]);
    r = redis.client();
    stores = testStores(redis.url);
    accounts = await Promise.all(USERS.map((u) => seedAccount(stores, dovecot, u)));
    link = await TcpRelay.start(Number(new URL(redis.url).port));
    apps.push(await startWatcher(redis.url, { ...ENV, INSTANCE_ID: 'wa' }));
    apps.push(await startWatcher(`redis://127.0.0.1:${link.port}`, { ...ENV, INSTANCE_ID: 'wb' }));
    await waitFor(async () => {
      const now = await leases();
      return now.every((l) => l.holder) && now.some((l) => l.holder === 'wb') && now.some((l) => l.holder === 'wa') && (await allConnected(accounts));
    }, 30_000, 'every account owned by wa or wb, both holding some, all connected');
    // A dead member is only recognised by a survivor whose own connection has lived a lease TTL.
    await sleep(LEASE_TTL_MS + 1000);
  });

  afterAll(async () => {
    await link?.close();
    await Promise.all(apps.map((a) => a.close().catch(() => undefined)));
    r?.disconnect();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('a partitioned watcher leaves the membership within two seconds, but nobody takes its accounts before its leases expire', async () => {
    const before = (await leases()).filter((l) => l.holder === 'wb');
    expect(before.length).toBeGreaterThan(0);
    const frozenAt = Date.now();
    link.freeze();
    await waitFor(async () => !(await members()).includes('wb'), 5000, 'wb dropped from the membership', 50);
    const droppedMs = Date.now() - frozenAt;
    // The earliest any of wb's leases can expire: wb renews every TTL/3, so at least 2/3 of it.
    const expiresAt = new Map(before.map((l) => [l.id, frozenAt + l.pttl]));
    const takenAt = new Map<string, number>();
    await waitFor(
      async () => {
        for (const l of await leases()) if (expiresAt.has(l.id) && !takenAt.has(l.id) && l.holder === 'wa') takenAt.set(l.id, Date.now());
        return takenAt.size === before.length;
      },
      LEASE_TTL_MS + 10_000,
      'wa holds wb’s accounts once their leases expired',
      50,
    );
    process.stdout.write(`partition: wb dropped from membership after ${droppedMs} ms; its ${before.length} leases taken ${[...takenAt].map(([id, at]) => at - expiresAt.get(id)!).join(', ')} ms after they expired\n`);
    expect(droppedMs).toBeLessThan(2500);
    // 100 ms: the polling step and the local clock against Redis' PTTL.
    for (const [id, at] of takenAt) expect(at).toBeGreaterThanOrEqual(expiresAt.get(id)! - 100);
    await waitFor(async () => allConnected(before.map((l) => l.id)), 10_000, 'wb’s accounts connected by wa');

    // The partition heals: wb finds its leases taken over (fencing), and rejoins for its share.
    link.thaw();
    await waitFor(async () => (await members()).includes('wb') && (await leases()).some((l) => l.holder === 'wb') && (await allConnected(accounts)), 30_000, 'wb back with a share, everything connected');
  });

  it('a watcher whose Redis connections close (killed) has its accounts taken in about a second, well before its leases expire, by an old and a just-started survivor', async () => {
    // A third watcher joins just before the kill: its own connection is too young to judge, so it
    // takes the orphans it is assigned on wa's shared verdict.
    apps.push(await startWatcher(redis.url, { ...ENV, INSTANCE_ID: 'wc' }));
    await waitFor(async () => {
      const now = await leases();
      return ['wa', 'wb', 'wc'].every((w) => now.some((l) => l.holder === w)) && (await allConnected(accounts));
    }, 30_000, 'wa, wb and wc each hold some accounts, all connected');
    const before = (await leases()).filter((l) => l.holder === 'wb');
    expect(before.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    await link.close();
    const expiresAt = new Map(before.map((l) => [l.id, killedAt + l.pttl]));
    const takenAt = new Map<string, number>();
    await waitFor(
      async () => {
        for (const l of await leases()) if (expiresAt.has(l.id) && !takenAt.has(l.id) && (l.holder === 'wa' || l.holder === 'wc')) takenAt.set(l.id, Date.now());
        return takenAt.size === before.length;
      },
      LEASE_TTL_MS + 10_000,
      'wa and wc hold wb’s accounts',
      50,
    );
    const lastMs = Math.max(...takenAt.values()) - killedAt;
    const byWc = (await leases()).filter((l) => expiresAt.has(l.id) && l.holder === 'wc').length;
    process.stdout.write(`kill: wb's ${before.length} accounts (${byWc} to the young wc) taken ${lastMs} ms after its connections closed (leases had ${before.map((l) => l.pttl).join(', ')} ms left)\n`);
    expect(lastMs).toBeLessThan(3000);
    for (const [id, at] of takenAt) expect(at).toBeLessThan(expiresAt.get(id)! - 1000);
    await waitFor(async () => allConnected(before.map((l) => l.id)), 10_000, 'wb’s accounts connected by wa and wc');
  });
});
