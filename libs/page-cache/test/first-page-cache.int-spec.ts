import { MessagePage, redisKeys } from '@pushmail/contracts';
import { TestRedis, testStores } from '@pushmail/testing';
import { FirstPageCache, PAGES_PER_ACCOUNT } from '../src';

/** The first-page cache's scripts on a real Redis: who may read it, when a page is stored, what drops it. */
describe('FirstPageCache', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let cache: FirstPageCache;
  let n = 0;
  let account: string;
  const field = FirstPageCache.fieldOf('INBOX', 50, undefined)!;
  const page = (uid: number): MessagePage => ({ messages: [{ uid } as MessagePage['messages'][number]], nextBefore: null, total: 1 });
  const setAccount = (fields: Record<string, string>) => stores.redis.client.hset(redisKeys.account(account), fields);
  const setState = (fields: Record<string, string>) => stores.redis.client.hset(redisKeys.accountState(account), fields);
  const logEvent = () => stores.redis.client.xadd(redisKeys.eventLog(account), '*', 'n', 'message.new', 'p', '{}');
  /** A lookup that misses with a ticket, then the fetcher's fill of `p`. */
  const fillFresh = async (p: MessagePage) => {
    const found = await cache.lookup(account, 'u1', field, 60);
    if (found.kind !== 'miss' || !found.ticket) throw new Error(`expected a miss with a ticket, got ${JSON.stringify(found)}`);
    return cache.fill(account, found.ticket, JSON.stringify(p));
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    stores = testStores(redis.url);
    cache = new FirstPageCache(stores.redis);
  });
  afterAll(async () => {
    await stores?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    account = `acc_pages${++n}`;
    await setAccount({ userId: 'u1', protocol: 'imap', mailboxes: JSON.stringify(['*']) });
    await setState({ state: 'connected' });
  });

  it('caches only the first page of INBOX', () => {
    expect(FirstPageCache.fieldOf('INBOX', 50, undefined)).toBe('INBOX\n50');
    expect(FirstPageCache.fieldOf('INBOX', 50, 120)).toBeUndefined();
    expect(FirstPageCache.fieldOf('Archive', 50, undefined)).toBeUndefined();
  });

  it('answers a stored page to its owner only, until the account logs an event', async () => {
    expect(await fillFresh(page(7))).toBe(true);
    expect(await cache.lookup(account, 'u1', field, 60)).toEqual({ kind: 'hit', page: page(7) });
    expect(await cache.lookup(account, 'someone-else', field, 60)).toEqual({ kind: 'forbidden' });
    expect(await cache.lookup('acc_unknown', 'u1', field, 60)).toEqual({ kind: 'forbidden' });
    await logEvent();
    const after = await cache.lookup(account, 'u1', field, 60);
    expect(after).toMatchObject({ kind: 'miss', ticket: { field, ttlSeconds: 60 } });
    expect(after.kind === 'miss' && after.ticket?.token).not.toBe('0');
    // Another page size is another page.
    expect(await cache.lookup(account, 'u1', FirstPageCache.fieldOf('INBOX', 20, undefined), 60)).toMatchObject({ kind: 'miss' });
  });

  it('refuses to store a page read while an event was logged (the page may predate it)', async () => {
    const found = await cache.lookup(account, 'u1', field, 60);
    if (found.kind !== 'miss' || !found.ticket) throw new Error('expected a miss with a ticket');
    await logEvent();
    expect(await cache.fill(account, found.ticket, JSON.stringify(page(1)))).toBe(false);
    expect(await cache.lookup(account, 'u1', field, 60)).toMatchObject({ kind: 'miss' });
  });

  it('gives no ticket unless every INBOX change reaches the log: POP3, watcher not connected, polling, INBOX not watched, cache off', async () => {
    await setAccount({ protocol: 'pop3' });
    expect(await cache.lookup(account, 'u1', field, 60)).toEqual({ kind: 'pop3' });
    await setAccount({ protocol: 'imap' });
    await setState({ state: 'connecting' });
    expect(await cache.lookup(account, 'u1', field, 60)).toEqual({ kind: 'miss' });
    await setState({ state: 'connected', delivery: 'poll' });
    expect(await cache.lookup(account, 'u1', field, 60)).toEqual({ kind: 'miss' });
    await setState({ delivery: 'push' });
    await setAccount({ mailboxes: JSON.stringify(['Archive']) });
    expect(await cache.lookup(account, 'u1', field, 60)).toEqual({ kind: 'miss' });
    await setAccount({ mailboxes: JSON.stringify(['INBOX']) });
    expect(await cache.lookup(account, 'u1', field, 0)).toEqual({ kind: 'miss' });
    expect(await cache.lookup(account, 'u1', undefined, 60)).toEqual({ kind: 'miss' });
    expect(await cache.lookup(account, 'u1', field, 60)).toMatchObject({ kind: 'miss', ticket: { token: '0' } });
  });

  it('drops the pages on invalidate, expires them, and keeps at most PAGES_PER_ACCOUNT', async () => {
    await fillFresh(page(1));
    expect(await stores.redis.client.ttl(redisKeys.firstPages(account))).toBeGreaterThan(55);
    await cache.invalidate(account);
    expect(await cache.lookup(account, 'u1', field, 60)).toMatchObject({ kind: 'miss' });
    for (let limit = 1; limit <= PAGES_PER_ACCOUNT + 1; limit++) {
      const found = await cache.lookup(account, 'u1', FirstPageCache.fieldOf('INBOX', limit, undefined), 60);
      if (found.kind !== 'miss' || !found.ticket) throw new Error('expected a miss with a ticket');
      await cache.fill(account, found.ticket, JSON.stringify(page(limit)));
    }
    expect(await stores.redis.client.hlen(redisKeys.firstPages(account))).toBeLessThanOrEqual(PAGES_PER_ACCOUNT);
    expect(await cache.lookup(account, 'u1', FirstPageCache.fieldOf('INBOX', PAGES_PER_ACCOUNT + 1, undefined), 60)).toEqual({ kind: 'hit', page: page(PAGES_PER_ACCOUNT + 1) });
  });
  it('is dropped when the account moves to another IMAP server or login', async () => {
    const imap = { host: '127.0.0.1', port: 1143, secure: false, user: 'old@example.test', pass: 'pw-old' };
    account = (await stores.accounts.create({ userId: 'u1', email: 'old@example.test', imap, smtp: { ...imap, port: 25 }, mailboxes: ['INBOX'] })).id;
    await stores.accounts.setState(account, 'connected');
    expect(await fillFresh(page(3))).toBe(true);
    await stores.accounts.update(account, { mailboxes: ['INBOX', 'Archive'] });
    expect(await cache.lookup(account, 'u1', field, 60)).toEqual({ kind: 'hit', page: page(3) });
    await stores.accounts.update(account, { imap: { ...imap, user: 'new@example.test' } });
    expect(await cache.lookup(account, 'u1', field, 60)).toMatchObject({ kind: 'miss' });
  });
});
