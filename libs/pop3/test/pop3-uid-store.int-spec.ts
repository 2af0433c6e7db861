import { redisKeys } from '@pushmail/contracts';
import { TestRedis, testStores } from '@pushmail/testing';
import { Pop3LeaseLostError, Pop3UidStore, pop3Keys } from '../src';

/** The UIDL → uid mapping on a real Redis: baseline, new, gone, renumbered, crash between plan and commit, lease fencing. */
describe('Pop3UidStore', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let store: Pop3UidStore;
  let n = 0;
  let account: string;
  const LEASE = 'lease-token';

  beforeAll(async () => {
    redis = await TestRedis.start();
    stores = testStores(redis.url);
    store = new Pop3UidStore(stores.redis);
  });
  afterAll(async () => {
    await stores?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    account = `acc_pop${++n}`;
    await stores.redis.client.set(redisKeys.lease(account), LEASE);
  });

  async function poll(uidls: string[], now = 1_700_000_000_000) {
    const plan = await store.plan(account, LEASE, uidls, now);
    await store.commit(account, LEASE, plan, now);
    return plan;
  }

  it('first poll baselines: every UIDL gets a uid in server order, none is new', async () => {
    const plan = await poll(['a', 'b', 'c', 'd', 'e']);
    expect(plan).toEqual({ uidValidity: 1_700_000_000, newUids: [], goneUids: [] });
    expect(await store.list(account)).toEqual({ uidValidity: 1_700_000_000, uids: [1, 2, 3, 4, 5] });
    expect(await store.uidlOf(account, 1_700_000_000, 3)).toBe('c');
  });

  it('new UIDLs get increasing uids once; gone ones are reported, then forgotten (bounded by the server)', async () => {
    await poll(['a', 'b', 'c']);
    expect(await poll(['a', 'b', 'c', 'x', 'y'])).toMatchObject({ newUids: [4, 5], goneUids: [] });
    expect(await poll(['a', 'b', 'c', 'x', 'y'])).toMatchObject({ newUids: [], goneUids: [] });
    expect(await poll(['a', 'c', 'y', 'z'])).toMatchObject({ newUids: [6], goneUids: [2, 4] });
    expect(await store.list(account)).toMatchObject({ uids: [1, 3, 5, 6] });
    expect(await stores.redis.client.hlen(pop3Keys.byUidl(account))).toBe(4);
    expect(await store.uidlOf(account, 1_700_000_000, 2)).toBeNull();
  });

  it('a crash between plan and commit repeats the same new and gone uids (the jobs are deduplicated by id)', async () => {
    await poll(['a', 'b']);
    const first = await store.plan(account, LEASE, ['b', 'c']);
    const again = await store.plan(account, LEASE, ['b', 'c']);
    expect(again).toEqual(first);
    expect(first).toMatchObject({ newUids: [3], goneUids: [1] });
  });

  it('all UIDLs changing at once is a new uidValidity (reset), nothing pushed as new', async () => {
    await poll(['a', 'b'], 1_700_000_000_000);
    const plan = await poll(['p', 'q', 'r'], 1_700_000_100_000);
    expect(plan).toEqual({ uidValidity: 1_700_000_100, resetFrom: 1_700_000_000, newUids: [], goneUids: [] });
    expect(await store.list(account)).toEqual({ uidValidity: 1_700_000_100, uids: [1, 2, 3] });
    // The reset is reported until committed, then not again.
    expect((await poll(['p', 'q', 'r'])).resetFrom).toBeUndefined();
  });

  it('an emptied mailbox is deletions, not a reset; mail after that is new', async () => {
    await poll(['a', 'b']);
    expect(await poll([])).toMatchObject({ goneUids: [1, 2], newUids: [] });
    expect(await poll(['c'])).toMatchObject({ newUids: [3], goneUids: [] });
  });

  it('a watcher that lost the lease changes nothing', async () => {
    await poll(['a']);
    await stores.redis.client.set(redisKeys.lease(account), 'someone-else');
    await expect(store.plan(account, LEASE, ['a', 'b'])).rejects.toBeInstanceOf(Pop3LeaseLostError);
    expect(await store.list(account)).toMatchObject({ uids: [1] });
  });
});
