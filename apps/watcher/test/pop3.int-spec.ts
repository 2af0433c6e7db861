import { INestApplication } from '@nestjs/common';
import { MailboxJobName } from '@pushmail/contracts';
import { PasswordCredentials } from '@pushmail/credentials';
import { MailHostPolicy, MailNetworkSettings } from '@pushmail/net-policy';
import { Pop3ClientFactory, Pop3UidStore } from '@pushmail/pop3';
import { TestDovecot, TestRedis, testStores, waitFor } from '@pushmail/testing';
import { MailboxJobs, startWatcher } from './helpers';

/**
 * Issue 18, watcher side, on real Dovecot POP3 and Redis: a POP3 account is polled; mail already
 * there is a baseline (no fetch jobs), later mail gets one fetch job per message within the
 * interval plus 2 s, mail deleted by another client a `message.deleted` job at the next poll; a
 * watcher restart or a hand-over neither loses nor repeats anything; wrong password → auth_failed;
 * STLS required unless ALLOW_INSECURE_MAIL.
 */
jest.setTimeout(90_000);

const INTERVAL_S = 2;

describe('watcher: POP3 accounts', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  const watchers: INestApplication[] = [];
  let n = 0;

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start(), TestRedis.start()]);
    stores = testStores(redis.url);
    jobs = new MailboxJobs(redis.url);
  });
  afterAll(async () => {
    for (const w of watchers) await w.close().catch(() => undefined);
    await jobs?.close();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });
  afterEach(async () => {
    for (const w of watchers.splice(0)) await w.close().catch(() => undefined);
  });

  async function newUser(): Promise<string> {
    const user = `pop${++n}@example.test`;
    await dovecot.addUser(user, `pw-${n}`);
    return user;
  }

  async function addAccount(user: string, pass?: string, deleteAfterDays?: number): Promise<string> {
    const pop3 = { ...dovecot.pop3Settings(user, pass), ...(deleteAfterDays ? { deleteAfterDays } : {}) };
    const view = await stores.accounts.create({ userId: `owner-${user}`, email: user, pop3, smtp: { ...pop3, port: 2525 }, mailboxes: ['INBOX'], pollIntervalSeconds: INTERVAL_S });
    expect(view).toMatchObject({ protocol: 'pop3', delivery: 'poll', pollIntervalSeconds: INTERVAL_S });
    return view.id;
  }

  const state = async (id: string) => (await stores.accounts.getState(id))?.state;
  const fetchJobs = (id: string) => jobs.all(id, MailboxJobName.Fetch);
  const deletedUids = async (id: string) => (await jobs.all(id, MailboxJobName.Deleted)).map((j) => j.data.uid as number).sort((a, b) => a - b);

  it('baselines existing mail, then one fetch job per later message within the interval plus 2 s', async () => {
    const user = await newUser();
    for (let i = 1; i <= 5; i++) await dovecot.deliver(user, { subject: `old ${i}` });
    const id = await addAccount(user);
    watchers.push(await startWatcher(redis.url));
    await waitFor(async () => (await state(id)) === 'connected', 20_000, 'first poll');
    expect(await fetchJobs(id)).toEqual([]);

    const deliveredAt = Date.now();
    for (let i = 1; i <= 3; i++) await dovecot.deliver(user, { subject: `new ${i}` });
    await waitFor(async () => (await fetchJobs(id)).length >= 3, 20_000, 'three fetch jobs', 50);
    const within = Date.now() - deliveredAt;
    // Two more polls: nothing is enqueued twice.
    await new Promise((r) => setTimeout(r, INTERVAL_S * 2000 + 500));
    const found = await fetchJobs(id);
    expect(found.map((j) => j.data.uid).sort()).toEqual([6, 7, 8]);
    expect(new Set(found.map((j) => j.data.uidValidity)).size).toBe(1);
    expect(within).toBeLessThanOrEqual(INTERVAL_S * 1000 + 2000);
  });

  it('a message deleted on the server by another client is a message.deleted job at the next poll', async () => {
    const user = await newUser();
    for (let i = 1; i <= 3; i++) await dovecot.deliver(user, { subject: `m ${i}` });
    const id = await addAccount(user);
    watchers.push(await startWatcher(redis.url));
    await waitFor(async () => (await state(id)) === 'connected', 20_000, 'first poll');

    const other = await new Pop3ClientFactory(new MailNetworkSettings(new MailHostPolicy({ allowPrivate: true, allowlist: [] }), true), new PasswordCredentials()).connect(dovecot.pop3Settings(user));
    await other.dele(2);
    await other.quit();
    await waitFor(async () => (await deletedUids(id)).length > 0, INTERVAL_S * 1000 + 5000, 'a deleted job', 50);
    expect(await deletedUids(id)).toEqual([2]);
    expect(await fetchJobs(id)).toEqual([]);
  });

  it('a watcher restart and a hand-over to another watcher lose nothing and repeat nothing', async () => {
    const user = await newUser();
    await dovecot.deliver(user, { subject: 'before' });
    const id = await addAccount(user);
    watchers.push(await startWatcher(redis.url));
    await waitFor(async () => (await state(id)) === 'connected', 20_000, 'first poll');
    await dovecot.deliver(user, { subject: 'one' });
    await waitFor(async () => (await fetchJobs(id)).length === 1, 20_000, 'first job');

    // Graceful restart; mail arrives while no watcher runs.
    await watchers.pop()!.close();
    await dovecot.deliver(user, { subject: 'two' });
    watchers.push(await startWatcher(redis.url));
    await waitFor(async () => (await fetchJobs(id)).length === 2, 20_000, 'job after restart');

    // A second watcher takes the account over from the first (a graceful hand-over; the crash case
    // rests on the same lease-fenced plan/commit, see Pop3UidStore's tests).
    const second = await startWatcher(redis.url);
    watchers.push(second);
    await dovecot.deliver(user, { subject: 'three' });
    const first = watchers.shift()!;
    await first.close();
    await dovecot.deliver(user, { subject: 'four' });
    await waitFor(async () => (await fetchJobs(id)).length >= 4, 30_000, 'jobs after failover');
    await new Promise((r) => setTimeout(r, INTERVAL_S * 2000 + 500));
    expect((await fetchJobs(id)).map((j) => j.data.uid).sort()).toEqual([2, 3, 4, 5]);
  });

  it('a wrong password is auth_failed', async () => {
    const user = await newUser();
    const id = await addAccount(user, 'not-the-password');
    watchers.push(await startWatcher(redis.url));
    await waitFor(async () => (await state(id)) === 'auth_failed', 20_000, 'auth_failed');
    expect((await stores.accounts.getState(id))?.error).toBe('auth_failed');
  });

  it('STLS is required unless ALLOW_INSECURE_MAIL: this Dovecot offers none, so the account shows tls_failed', async () => {
    const user = await newUser();
    const id = await addAccount(user);
    watchers.push(await startWatcher(redis.url, { ALLOW_INSECURE_MAIL: 'false' }));
    await waitFor(async () => (await state(id)) === 'error', 20_000, 'error');
    expect((await stores.accounts.getState(id))?.error).toBe('tls_failed');
  });

  it('deleteAfterDays: a message fetched that many days ago is deleted from the server with DELE, then reported deleted', async () => {
    const user = await newUser();
    await dovecot.deliver(user, { subject: 'old and fetched' });
    await dovecot.deliver(user, { subject: 'recently fetched' });
    const id = await addAccount(user, undefined, 3);
    watchers.push(await startWatcher(redis.url));
    await waitFor(async () => (await state(id)) === 'connected', 20_000, 'first poll');
    // As the fetcher records it: uid 1 fetched 4 days ago, uid 2 an hour ago.
    const uids = new Pop3UidStore(stores.redis);
    await uids.markFetched(id, 1, Date.now() - 4 * 86_400_000);
    await uids.markFetched(id, 2, Date.now() - 3_600_000);
    await waitFor(async () => (await deletedUids(id)).length > 0, INTERVAL_S * 3000 + 5000, 'a deleted job', 50);
    expect(await deletedUids(id)).toEqual([1]);
    const other = await new Pop3ClientFactory(new MailNetworkSettings(new MailHostPolicy({ allowPrivate: true, allowlist: [] }), true), new PasswordCredentials()).connect(dovecot.pop3Settings(user));
    expect(await other.uidl()).toHaveLength(1);
    await other.quit();
  });
});
