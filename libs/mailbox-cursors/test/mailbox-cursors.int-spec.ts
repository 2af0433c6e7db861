import { redisKeys } from '@pushmail/contracts';
import { TestRedis, testStores } from '@pushmail/testing';
import { CursorStore, LeaseLostError, MailboxValidities } from '../src';

/** The watcher's cursors and their read side on a real Redis: fencing, the UIDVALIDITY index, cursors from before the index. */
describe('CursorStore and MailboxValidities', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let cursors: CursorStore;
  let validities: MailboxValidities;
  let n = 0;
  let account: string;
  const LEASE = 'lease-token';

  beforeAll(async () => {
    redis = await TestRedis.start();
    stores = testStores(redis.url);
    cursors = new CursorStore(stores.redis);
    validities = new MailboxValidities(stores.redis);
  });
  afterAll(async () => {
    await stores?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    account = `acc_cur${++n}`;
    await stores.redis.client.set(redisKeys.lease(account), LEASE);
  });

  it('indexes every saved mailbox with its UIDVALIDITY, and forgets a deleted one', async () => {
    await cursors.save(account, 'INBOX', { uidValidity: 7, uidNext: 10 }, LEASE);
    await cursors.save(account, 'Lists/rust', { uidValidity: 9, uidNext: 2, highestModseq: '5' }, LEASE);
    expect(await cursors.get(account, 'Lists/rust')).toEqual({ uidValidity: 9, uidNext: 2, highestModseq: '5' });
    expect(await validities.all(account)).toEqual(new Map([['INBOX', 7], ['Lists/rust', 9]]));
    expect(await validities.get(account, 'Lists/rust')).toBe(9);
    await cursors.delete(account, 'Lists/rust');
    expect(await validities.get(account, 'Lists/rust')).toBeNull();
    expect([...(await validities.all(account)).keys()]).toEqual(['INBOX']);
    await cursors.deleteAccount(account);
    expect(await validities.all(account)).toEqual(new Map());
    expect(await cursors.get(account, 'INBOX')).toBeNull();
  });

  it('keeps the UID lists of a server without QRESYNC or CONDSTORE, an empty one apart from none', async () => {
    await cursors.save(account, 'INBOX', { uidValidity: 7, uidNext: 10, knownUids: '1:9', unseenUids: '' }, LEASE);
    expect(await cursors.get(account, 'INBOX')).toEqual({ uidValidity: 7, uidNext: 10, knownUids: '1:9', unseenUids: '' });
    await cursors.save(account, 'INBOX', { uidValidity: 7, uidNext: 11, knownUids: '1:10', unseenUids: '4,10' }, LEASE);
    expect(await cursors.get(account, 'INBOX')).toEqual({ uidValidity: 7, uidNext: 11, knownUids: '1:10', unseenUids: '4,10' });
    // The server gained CONDSTORE and QRESYNC: the lists go.
    await cursors.save(account, 'INBOX', { uidValidity: 7, uidNext: 11, highestModseq: '3' }, LEASE);
    expect(await cursors.get(account, 'INBOX')).toEqual({ uidValidity: 7, uidNext: 11, highestModseq: '3' });
  });

  it('writes nothing without the lease', async () => {
    await expect(cursors.save(account, 'INBOX', { uidValidity: 7, uidNext: 10 }, 'someone-else')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await validities.get(account, 'INBOX')).toBeNull();
  });

  it('reads a cursor saved before the index existed', async () => {
    await stores.redis.client.hset(redisKeys.cursor(account, 'INBOX'), 'uidValidity', '77', 'uidNext', '3');
    expect(await validities.get(account, 'INBOX')).toBe(77);
    expect(await validities.all(account)).toEqual(new Map());
  });
});
