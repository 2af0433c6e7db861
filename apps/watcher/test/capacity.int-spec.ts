import { INestApplication } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { TestDovecot, TestRedis, testStores, waitFor } from '@pushmail/testing';
import type IORedis from 'ioredis';
import { seedAccount, startWatcher } from './helpers';

jest.setTimeout(60_000);

const users = ['c1@example.test', 'c2@example.test', 'c3@example.test'];

describe('watcher capacity (WATCHER_MAX_ACCOUNTS)', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let r: IORedis;
  let stores: ReturnType<typeof testStores>;
  const apps: INestApplication[] = [];
  let accounts: string[];

  const ready = async (app: INestApplication) => {
    const res = await fetch(`${await app.getUrl()}/health/ready`);
    return { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean; detail?: string }> } };
  };
  const holders = async () => (await r.mget(...accounts.map((id) => redisKeys.lease(id)))).map((v) => v?.split('.')[0] ?? null);

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: Object.fromEntries(users.map((u) => [u, 'pw'])) }), TestRedis.start()]);
    r = redis.client();
    stores = testStores(redis.url);
    accounts = await Promise.all(users.map((u) => seedAccount(stores, dovecot, u)));
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    r?.disconnect();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('a full watcher holds no more leases and is not ready; another watcher takes the overflow', async () => {
    const small = await startWatcher(redis.url, { WATCHER_MAX_ACCOUNTS: '2', INSTANCE_ID: 'small' });
    apps.push(small);
    await waitFor(async () => (await holders()).filter((h) => h === 'small').length === 2, 5000, 'small holds 2');
    await new Promise((res) => setTimeout(res, 500));
    expect((await holders()).filter((h) => h === 'small')).toHaveLength(2);
    expect((await holders()).filter((h) => h === null)).toHaveLength(1);
    const notReady = await ready(small);
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks.watcher).toMatchObject({ ok: false, detail: expect.stringContaining('capacity') });

    const big = await startWatcher(redis.url, { WATCHER_MAX_ACCOUNTS: '10', INSTANCE_ID: 'big' });
    apps.push(big);
    await waitFor(async () => (await holders()).every((h) => h !== null), 10_000, 'every account owned');
    await waitFor(async () => (await Promise.all(accounts.map((id) => stores.accounts.getState(id)))).every((s) => s?.state === 'connected'), 10_000, 'all connected');
    expect((await holders()).filter((h) => h === 'small').length).toBeLessThanOrEqual(2);
    expect((await ready(big)).status).toBe(200);
  });
});
