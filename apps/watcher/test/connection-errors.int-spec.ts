import { INestApplication } from '@nestjs/common';
import { TestDovecot, TestRedis, freePort, tcpStub, testStores, waitFor } from '@pushmail/testing';
import { startWatcher } from './helpers';

/**
 * Issue 14: an account's `error` is a category, never the errno or the server's text (those turn
 * the watcher into a port scanner for users), and the watcher refuses a host the operator does
 * not allow at connect time, whatever was checked when the account was saved.
 */
jest.setTimeout(60_000);

describe('watcher: what an account shows when its IMAP server cannot be used', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  const watchers: INestApplication[] = [];

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: { 'alice@example.test': 'pw' } }), TestRedis.start()]);
    stores = testStores(redis.url);
  });
  afterAll(async () => {
    for (const w of watchers) await w.close();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  const add = async (userId: string, imap: { host: string; port: number; secure: boolean; user: string; pass: string }) =>
    (await stores.accounts.create({ userId, email: `${userId}@example.test`, imap, smtp: imap, mailboxes: ['INBOX'] })).id;
  const settled = async (id: string) => {
    await waitFor(async () => ['error', 'auth_failed'].includes((await stores.accounts.getState(id))?.state ?? ''), 20_000, `${id} failed`);
    return stores.accounts.getState(id);
  };

  it('shows connection_failed for a closed port, timeout for a silent one, auth_failed for a wrong password', async () => {
    const silent = await tcpStub();
    try {
      const closed = await add('u-closed', { host: '127.0.0.1', port: await freePort(), secure: false, user: 'x', pass: 'y' });
      const quiet = await add('u-quiet', { host: '127.0.0.1', port: silent.port, secure: false, user: 'x', pass: 'y' });
      const wrong = await add('u-wrong', dovecot.imapSettings('alice@example.test', 'not-the-password'));
      watchers.push(await startWatcher(redis.url));
      expect(await settled(closed)).toEqual(expect.objectContaining({ state: 'error', error: 'connection_failed' }));
      expect(await settled(wrong)).toEqual(expect.objectContaining({ state: 'auth_failed', error: 'auth_failed' }));
      // imapflow's greeting timeout is 10 s.
      expect(await settled(quiet)).toEqual(expect.objectContaining({ state: 'error', error: 'timeout' }));
    } finally {
      await silent.close();
    }
  });

  it('refuses a loopback host at connect time when private hosts are not allowed (host_not_allowed), without dialling it', async () => {
    for (const w of watchers.splice(0)) await w.close();
    const target = await tcpStub((s) => s.destroy());
    try {
      // Stored directly, as if it had resolved to a public address when it was saved.
      const id = await add('u-rebind', { host: '127.0.0.1', port: target.port, secure: false, user: 'x', pass: 'y' });
      watchers.push(await startWatcher(redis.url, { ALLOW_PRIVATE_MAIL_HOSTS: 'false' }));
      expect(await settled(id)).toEqual(expect.objectContaining({ state: 'error', error: 'host_not_allowed' }));
      expect(target.connections()).toBe(0);
    } finally {
      await target.close();
    }
  });
});
