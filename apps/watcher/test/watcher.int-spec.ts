import { INestApplication } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { MailboxJobName, redisKeys } from '@pushmail/contracts';
import { TcpRelay, TestDovecot, TestRedis, sleep, testStores, waitFor } from '@pushmail/testing';
import type IORedis from 'ioredis';
import type { WatcherEnv } from '../src/config';
import { MailboxSyncService } from '../src/sync/mailbox-sync.service';
import { MailboxJobs, loginAttempts, seedAccount, startWatcher, uidValidityOf } from './helpers';

jest.setTimeout(60_000);

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const CAROL = 'carol@example.test';
const DAVE = 'dave@example.test';
const ERIN = 'erin@example.test';

describe('watcher: one account on real Dovecot and Redis', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let watcher: INestApplication;
  let alice: string;
  let r: IORedis;

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([
      TestDovecot.start({ users: { [ALICE]: 'pw', [BOB]: 'pw', [CAROL]: 'pw', [DAVE]: 'pw', [ERIN]: 'pw' } }),
      TestRedis.start(),
    ]);
    stores = testStores(redis.url);
    r = redis.client();
    jobs = new MailboxJobs(redis.url);
    // Mail that exists before the account is added must not be replayed.
    await dovecot.deliver(ALICE, { subject: 'old mail' });
    alice = await seedAccount(stores, dovecot, ALICE);
    watcher = await startWatcher(redis.url);
    await waitFor(async () => (await stores.accounts.getState(alice))?.state === 'connected', 10_000, 'alice connected');
  });

  afterAll(async () => {
    await watcher?.close();
    await jobs?.close();
    r?.disconnect();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('baselines a new account at uidNext: existing mail is not replayed', async () => {
    const cursor = await r.hgetall(redisKeys.cursor(alice, 'INBOX'));
    expect(cursor).toMatchObject({ uidNext: '2', uidValidity: String(await uidValidityOf(dovecot, ALICE)) });
    expect(await jobs.fetchUids(alice)).toEqual([]);
  });

  it('enqueues a fetch job with the right uid for an LMTP delivery', async () => {
    const before = Date.now();
    await dovecot.deliver(ALICE, { subject: 'first' });
    await waitFor(async () => (await jobs.fetchUids(alice)).length === 1, 5000, 'fetch job');
    const [job] = await jobs.all(alice, MailboxJobName.Fetch);
    expect(job.data).toEqual({ accountId: alice, mailbox: 'INBOX', uidValidity: await uidValidityOf(dovecot, ALICE), uid: 2, seenAt: expect.any(Number) });
    expect(job.data.seenAt).toBeGreaterThanOrEqual(before);
    expect(Object.keys(job.data)).not.toContain('body');
  });

  it('enqueues two jobs for two deliveries in quick succession', async () => {
    await Promise.all([dovecot.deliver(ALICE, { subject: 'a' }), dovecot.deliver(ALICE, { subject: 'b' })]);
    await waitFor(async () => (await jobs.fetchUids(alice)).length === 3, 5000, 'three fetch jobs');
    expect(await jobs.fetchUids(alice)).toEqual([2, 3, 4]);
  });

  it('does not duplicate a job when the same EXISTS is replayed (cursor rewound, session restarted)', async () => {
    // As if the watcher crashed after enqueueing but before saving the cursor.
    await r.hset(redisKeys.cursor(alice, 'INBOX'), 'uidNext', '2');
    await stores.accounts.update(alice, { mailboxes: ['INBOX'] }); // restarts the sessions → resync
    await waitFor(async () => (await r.hget(redisKeys.cursor(alice, 'INBOX'), 'uidNext')) === '5', 5000, 'cursor back at 5');
    await sleep(300);
    expect(await jobs.fetchUids(alice)).toEqual([2, 3, 4]);
  });

  it('enqueues a flags job when another client changes flags, and a deleted job when it expunges', async () => {
    const other = await dovecot.imap(ALICE);
    await other.mailboxOpen('INBOX');
    await other.messageFlagsAdd({ uid: '3' }, ['\\Flagged'], { uid: true });
    await waitFor(async () => (await jobs.all(alice, MailboxJobName.Flags)).some((j) => j.data.uid === 3 && j.data.flags.includes('\\Flagged')), 5000, 'flags job');
    const flags = (await jobs.all(alice, MailboxJobName.Flags)).find((j) => j.data.uid === 3)!;
    expect(flags.data).toMatchObject({ accountId: alice, mailbox: 'INBOX', modseq: expect.any(String) });

    await other.messageDelete({ uid: '4' }, { uid: true });
    await other.logout();
    await waitFor(async () => (await jobs.all(alice, MailboxJobName.Deleted)).some((j) => j.data.uid === 4), 5000, 'deleted job');
  });

  it('picks up a new account and stops watching a deleted one, removing its cursor and lease and logging out', async () => {
    const bob = await seedAccount(stores, dovecot, BOB);
    await waitFor(async () => (await stores.accounts.getState(bob))?.state === 'connected', 10_000, 'bob connected');
    await dovecot.deliver(BOB, { subject: 'hi bob' });
    await waitFor(async () => (await jobs.fetchUids(bob)).length === 1, 5000, 'bob fetch job');

    await stores.accounts.delete(bob);
    await waitFor(async () => (await r.exists(redisKeys.cursor(bob, 'INBOX'))) === 0 && (await r.exists(redisKeys.lease(bob))) === 0, 10_000, 'bob cursor gone');
    await waitFor(() => loggedOut(dovecot, BOB), 10_000, 'bob logged out');
  });

  it('marks a wrong password auth_failed, backs off, and does not retry in a storm', async () => {
    const carol = await seedAccount(stores, dovecot, CAROL, { pass: 'wrong' });
    await waitFor(async () => (await stores.accounts.getState(carol))?.state === 'auth_failed', 5000, 'auth_failed');
    await sleep(3000); // many reconnect-backoff periods (100 ms … 1 s) but far less than the auth backoff
    expect(loginAttempts(dovecot, CAROL)).toBe(1);
    const metrics = await (await fetch(`${await watcher.getUrl()}/metrics`)).text();
    expect(metrics).toMatch(/pushmail_imap_auth_failures_total 1\b/);
    // Fixing the password through the API retries at once instead of after the long backoff.
    await stores.accounts.update(carol, { imap: dovecot.imapSettings(CAROL) });
    await waitFor(async () => (await stores.accounts.getState(carol))?.state === 'connected', 5000, 'connected with the new password');
    await stores.accounts.delete(carol);
  });

  it('watches several mailboxes, and a changed UIDVALIDITY gives a reset job and a new baseline', async () => {
    const setup = await dovecot.imap(DAVE);
    await setup.mailboxCreate('Work');
    await setup.logout();
    const dave = await seedAccount(stores, dovecot, DAVE, { mailboxes: ['INBOX', 'Work'] });
    await waitFor(async () => (await stores.accounts.getState(dave))?.state === 'connected', 5000, 'dave connected');
    await dovecot.append(DAVE, 'Work', 'Subject: work\r\n\r\nbody\r\n');
    await dovecot.deliver(DAVE, { subject: 'inbox' });
    await waitFor(async () => (await jobs.fetchUids(dave, 'Work')).length === 1 && (await jobs.fetchUids(dave, 'INBOX')).length === 1, 5000, 'a job per mailbox');
    const oldValidity = await uidValidityOf(dovecot, DAVE, 'Work');

    const admin = await dovecot.imap(DAVE);
    await admin.mailboxDelete('Work');
    await admin.mailboxCreate('Work');
    await admin.logout();
    const newValidity = await uidValidityOf(dovecot, DAVE, 'Work');
    expect(newValidity).not.toBe(oldValidity);
    // Dovecot ends a session whose selected mailbox is deleted; the reconnect finds the new UIDVALIDITY.
    await waitFor(async () => (await jobs.all(dave, MailboxJobName.Reset)).length === 1, 5000, 'reset job');
    const [reset] = await jobs.all(dave, MailboxJobName.Reset);
    expect(reset.data).toEqual({ accountId: dave, mailbox: 'Work', uidValidity: newValidity, previousUidValidity: oldValidity });
    await waitFor(async () => (await stores.accounts.getState(dave))?.state === 'connected', 5000, 'dave connected again');
    await dovecot.append(DAVE, 'Work', 'Subject: work 2\r\n\r\nbody\r\n');
    await waitFor(async () => (await jobs.all(dave, MailboxJobName.Fetch)).some((j) => j.data.mailbox === 'Work' && j.data.uidValidity === newValidity && j.data.uid === 1), 5000, 'fetch job under the new UIDVALIDITY');
  });

  it('keeps running when an account’s stored settings cannot be read: that account shows error, the others go on', async () => {
    const broken = await seedAccount(stores, dovecot, 'nobody@example.test');
    await r.hset(redisKeys.account(broken), 'imap', 'not-a-ciphertext');
    await stores.accounts.publishChange({ accountId: broken, change: 'updated' });
    await waitFor(async () => (await stores.accounts.getState(broken))?.state === 'error', 5000, 'error state');
    expect((await stores.accounts.getState(broken))?.error).toContain('could not read');
    await dovecot.deliver(ALICE, { subject: 'still watched' });
    await waitFor(async () => (await jobs.fetchUids(alice)).includes(5), 5000, 'alice still watched');
    await stores.accounts.delete(broken);
  });

  it('withdraws the queued fetch jobs of guessed UIDs the server never assigned', async () => {
    const sync = watcher.get(MailboxSyncService);
    const ref = { accountId: 'acc_guesses', mailbox: 'INBOX', leaseValue: 'unused' };
    await sync.enqueue(ref, 7, { newUids: [50, 51, 52] });
    expect((await jobs.fetchUids('acc_guesses')).sort()).toEqual([50, 51, 52]);
    await sync.withdraw(ref, 7, [51, 52, 53], () => true, [0]);
    expect(await jobs.fetchUids('acc_guesses')).toEqual([50]);
  });

  it('keeps a guessed job whose UID a search has found since, and puts back one removed just as it was found', async () => {
    const sync = watcher.get(MailboxSyncService);
    const ref = { accountId: 'acc_guesses_found', mailbox: 'INBOX', leaseValue: 'unused' };
    await sync.enqueue(ref, 7, { newUids: [60, 61] });
    // 60 was assigned to a real message before this (delayed) attempt: its job must stay.
    await sync.withdraw(ref, 7, [60, 61], (uid) => uid !== 60, [0]);
    expect(await jobs.fetchUids('acc_guesses_found')).toEqual([60]);
    // Unassigned when checked, found by the search while the removal ran: the job comes back.
    let asked = 0;
    await sync.withdraw(ref, 7, [60], () => ++asked === 1, [0]);
    expect(asked).toBe(2);
    expect(await jobs.fetchUids('acc_guesses_found')).toEqual([60]);
  });

  it('connects an INBOX-only account without LIST or LSUB: login, ID, NAMESPACE, ENABLE, EXAMINE, then IDLE', async () => {
    const relay = await TcpRelay.start(dovecot.imapPort);
    const erin = await seedAccount(stores, dovecot, ERIN, { imapPort: relay.port });
    try {
      await waitFor(async () => (await stores.accounts.getState(erin))?.state === 'connected', 10_000, 'erin connected');
      // imapflow lists (LIST, then LSUB) before its first EXAMINE of a folder it has not listed.
      expect(relay.commands.slice(0, 5)).toEqual(['LOGIN', 'ID', 'NAMESPACE', 'ENABLE', 'EXAMINE']);
      expect(relay.commands).not.toContain('LIST');
      expect(relay.commands).not.toContain('LSUB');
      await dovecot.deliver(ERIN, { subject: 'through the relay' });
      await waitFor(async () => (await jobs.fetchUids(erin)).length === 1, 5000, 'the fetch job of a delivery');
    } finally {
      await stores.accounts.delete(erin);
      await relay.close();
    }
  });

  it('enqueues new mail on EXISTS at once, then waits RESYNC_SETTLE_MS before its UID SEARCH (the fetcher reads the mail meanwhile)', async () => {
    const settle = watcher.get<ConfigService, ConfigService<WatcherEnv>>(ConfigService).get('RESYNC_SETTLE_MS');
    expect(settle).toBeGreaterThanOrEqual(50);
    const relay = await TcpRelay.start(dovecot.imapPort);
    const erin = await seedAccount(stores, dovecot, ERIN, { imapPort: relay.port });
    try {
      await waitFor(async () => (await stores.accounts.getState(erin))?.state === 'connected', 10_000, 'erin connected');
      const from = relay.commands.length;
      await dovecot.deliver(ERIN, { subject: 'announced, then searched' });
      await waitFor(async () => (await jobs.fetchUids(erin)).length === 1, 5000, 'the fetch job of a delivery');
      await waitFor(async () => relay.commands.slice(from).includes('UID'), 5000, 'the UID SEARCH that confirms the guess');
      const [job] = await jobs.all(erin, MailboxJobName.Fetch);
      const searchAt = relay.sentAt[from + relay.commands.slice(from).indexOf('UID')];
      // The job went to Redis on the EXISTS (the guess); the search, which ends IDLE, came a settle later.
      // Timers never fire early; 5 ms allows for the clock reads of two processes.
      expect(searchAt - job.timestamp).toBeGreaterThanOrEqual(settle - 5);
      await waitFor(async () => (await r.hget(redisKeys.cursor(erin, 'INBOX'), 'uidNext')) === String(job.data.uid + 1), 5000, 'the cursor past the new mail');
    } finally {
      await stores.accounts.delete(erin);
      await relay.close();
    }
  });

  it('exposes the watcher metrics under their fixed names', async () => {
    const text = await (await fetch(`${await watcher.getUrl()}/metrics`)).text();
    expect(text).toMatch(/^pushmail_idle_sessions\{state="connected"\} \d+/m);
    expect(text).toMatch(/^pushmail_imap_reconnects_total \d+/m);
    expect(text).toMatch(/^pushmail_imap_auth_failures_total \d+/m);
    expect(text).toMatch(/^pushmail_watcher_accounts_owned \d+/m);
    const count = Number(/^pushmail_exists_to_enqueue_ms_count (\d+)/m.exec(text)?.[1]);
    const sum = Number(/^pushmail_exists_to_enqueue_ms_sum ([\d.]+)/m.exec(text)?.[1]);
    expect(count).toBeGreaterThan(0);
    // Jobs go out on the EXISTS count, before the UID SEARCH; here every guess was right.
    expect(Number(/^pushmail_uid_guesses_total\{outcome="confirmed"\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).not.toMatch(/^pushmail_uid_guesses_total\{outcome="withdrawn"\} [1-9]/m);
    process.stdout.write(`exists → enqueue: ${count} samples, mean ${(sum / count).toFixed(2)} ms\n`);
  });
});

function loggedOut(dovecot: TestDovecot, user: string): boolean {
  return dovecot
    .logs()
    .split('\n')
    .some((l) => l.includes(`imap(${user})`) && /Logged out|Disconnected/.test(l));
}
