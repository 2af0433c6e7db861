import { AppProcess, TestDovecot, TestRedis, sleep, testEnv, testStores, waitFor } from '@pushmail/testing';
import { FAST_ENV, MailboxJobs, seedAccount } from './helpers';

jest.setTimeout(120_000);

const USER = 'killed@example.test';
const FOLDERS = ['INBOX', 'Sent', 'Work', 'Lists', 'Receipts'];
const PER_FOLDER = 6;

/** The built watcher (npm run build first): kill -9 can only be tested on a real process. */
describe('every folder on one connection: a watcher killed with kill -9 loses nothing in any folder', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  const procs: AppProcess[] = [];
  const start = async () => {
    const proc = await AppProcess.start('watcher', testEnv(redis.url, { ...FAST_ENV, FOLDER_SWEEP_INTERVAL_MS: '1000', INSTANCE_ID: `w${procs.length}` }));
    procs.push(proc);
    return proc;
  };

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: { [USER]: 'pw' } }), TestRedis.start()]);
    stores = testStores(redis.url);
    jobs = new MailboxJobs(redis.url);
    const setup = await dovecot.imap(USER);
    for (const f of FOLDERS.slice(2)) await setup.mailboxCreate(f);
    await setup.logout();
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => undefined)));
    await jobs?.close();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('mail appended into five folders before, during and after the kill is each enqueued', async () => {
    const account = await seedAccount(stores, dovecot, USER, { mailboxes: ['*'] });
    const first = await start();
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 15_000, 'connected');
    const appendRound = async (round: number) => {
      const client = await dovecot.imap(USER);
      try {
        for (const f of FOLDERS) await client.append(f, `From: a@example.test\r\nSubject: ${f} ${round}\r\n\r\nbody\r\n`);
      } finally {
        await client.logout().catch(() => undefined);
      }
    };
    // Rounds 1-2 with the first watcher up, the kill in the middle of round 3, rounds 4-5 while
    // nobody watches, round 6 once the second watcher holds the account.
    await appendRound(1);
    await appendRound(2);
    const during = appendRound(3);
    await sleep(20);
    await first.kill9();
    await during;
    await appendRound(4);
    await appendRound(5);
    await start();
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 15_000, 'connected again');
    await appendRound(6);
    const expected = Array.from({ length: PER_FOLDER }, (_, i) => i + 1);
    await waitFor(async () => (await Promise.all(FOLDERS.map((f) => jobs.fetchUids(account, f)))).every((uids) => uids.length === PER_FOLDER), 20_000, 'every message in every folder');
    for (const f of FOLDERS) expect(await jobs.fetchUids(account, f)).toEqual(expected);
  });
});
