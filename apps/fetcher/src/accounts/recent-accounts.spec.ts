import { StoredAccount } from '@pushmail/accounts';
import { FakeAccountSource, fakeImapAccount } from '@pushmail/testing';
import { ACCOUNT_READ_REUSE_MS, RecentAccounts } from './recent-accounts';

/** A repository fake that counts reads, as each is a Redis round trip. */
class CountingAccounts extends FakeAccountSource {
  reads = 0;
  failNext = false;
  override async get(id: string): Promise<StoredAccount | null> {
    this.reads++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('redis unavailable');
    }
    return super.get(id);
  }
}

describe('RecentAccounts', () => {
  let source: CountingAccounts;
  let recent: RecentAccounts;

  beforeEach(async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    source = new CountingAccounts();
    recent = new RecentAccounts(source);
    await recent.onModuleInit();
  });
  afterEach(() => jest.useRealTimers());

  it('one read serves the protocol check, the login and the existence check of a first message, also while in flight', async () => {
    const [a, b] = await Promise.all([recent.get('acc_1'), recent.get('acc_1')]);
    expect(await recent.get('acc_1')).toBe(a);
    expect(b).toBe(a);
    expect(source.reads).toBe(1);
  });

  it('reads again once the reuse time is over', async () => {
    await recent.get('acc_1');
    jest.setSystemTime(Date.now() + ACCOUNT_READ_REUSE_MS + 1);
    await recent.get('acc_1');
    expect(source.reads).toBe(2);
  });

  it('a change notice drops the account at once: the next login reads the new settings', async () => {
    await recent.get('acc_1');
    source.accounts.set('acc_1', { ...fakeImapAccount('acc_1'), email: 'new@example.test' });
    source.change({ accountId: 'acc_1', change: 'updated' });
    expect((await recent.get('acc_1'))?.email).toBe('new@example.test');
    expect(source.reads).toBe(2);
  });

  it('does not remember a failed read', async () => {
    source.failNext = true;
    await expect(recent.get('acc_1')).rejects.toThrow('redis unavailable');
    expect(await recent.get('acc_1')).not.toBeNull();
    expect(source.reads).toBe(2);
  });

  it('a deleted account reads as gone until a notice or the reuse time', async () => {
    const gone = new RecentAccounts(new FakeAccountSource(null));
    expect(await gone.get('acc_x')).toBeNull();
  });
});
