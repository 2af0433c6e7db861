import { INestApplication } from '@nestjs/common';
import { MailboxJobName } from '@pushmail/contracts';
import { TcpRelay, TestDovecot, TestRedis, sleep, testStores, waitFor } from '@pushmail/testing';
import { MailboxJobs, dovecotImapProcesses, restartDovecotDroppingClients, seedAccount, startWatcher } from './helpers';

jest.setTimeout(60_000);

const USER = 'erin@example.test';
async function reconnects(app: INestApplication): Promise<number> {
  const text = await (await fetch(`${await app.getUrl()}/metrics`)).text();
  return Number(/^pushmail_imap_reconnects_total (\d+)/m.exec(text)?.[1] ?? 0);
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('watcher: servers going away', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let watcher: INestApplication;
  let account: string;

  beforeAll(async () => {
    // AOF on, as production runs it: a restart keeps queues, cursors and leases.
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: { [USER]: 'pw' } }), TestRedis.start({ appendonly: true })]);
    stores = testStores(redis.url);
    jobs = new MailboxJobs(redis.url);
    account = await seedAccount(stores, dovecot, USER);
    watcher = await startWatcher(redis.url);
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'connected');
  });

  afterAll(async () => {
    await watcher?.close();
    await jobs?.close();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('reconnects after Dovecot stops and restarts; 10 messages delivered right after the restart are all enqueued once', async () => {
    const reconnectsBefore = await reconnects(watcher);
    await restartDovecotDroppingClients(dovecot);
    for (let i = 0; i < 10; i++) await dovecot.deliver(USER, { subject: `after restart ${i}` });
    await waitFor(async () => (await jobs.fetchUids(account)).length >= 10, 15_000, '10 fetch jobs');
    await waitFor(async () => (await reconnects(watcher)) > reconnectsBefore, 15_000, 'a reconnect');
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 15_000, 'connected again');
    await sleep(500);
    const fetches = await jobs.all(account, MailboxJobName.Fetch);
    expect(fetches.map((j) => j.data.uid).sort((a, b) => a - b)).toEqual(range(1, 10));
    expect(new Set(fetches.map((j) => j.id)).size).toBe(10);
  });

  it('rides out a Redis restart: mail delivered while Redis is down and after it is back is all enqueued', async () => {
    await redis.stop();
    // Dovecot keeps going: these arrive while the watcher cannot write to Redis.
    for (let i = 0; i < 3; i++) await dovecot.deliver(USER, { subject: `during redis outage ${i}` });
    await sleep(300);
    await redis.restart();
    for (let i = 0; i < 2; i++) await dovecot.deliver(USER, { subject: `after redis restart ${i}` });
    await waitFor(async () => (await jobs.fetchUids(account)).length >= 15, 15_000, '15 fetch jobs');
    await sleep(500);
    expect(await jobs.fetchUids(account)).toEqual(range(1, 15));
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'connected again');
  });
});

describe('watcher: a server without IDLE (and without CONDSTORE/QRESYNC)', () => {
  const POLLED = 'frank@example.test';
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let watcher: INestApplication;
  let account: string;

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([
      TestDovecot.start({
        users: { [POLLED]: 'pw' },
        imapCapability: 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ NAMESPACE UIDPLUS CHILDREN UNSELECT',
      }),
      TestRedis.start(),
    ]);
    stores = testStores(redis.url);
    jobs = new MailboxJobs(redis.url);
    await dovecot.deliver(POLLED, { subject: 'old' });
    account = await seedAccount(stores, dovecot, POLLED);
    watcher = await startWatcher(redis.url, { POLL_INTERVAL_MS: '500' });
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'connected');
  });

  afterAll(async () => {
    await watcher?.close();
    await jobs?.close();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('finds new mail by polling', async () => {
    const probe = await dovecot.imap(POLLED);
    expect(probe.capabilities.has('IDLE')).toBe(false);
    expect(probe.capabilities.has('QRESYNC')).toBe(false);
    await probe.logout();
    // The account shows it: polled, not pushed.
    expect(await stores.accounts.view(account)).toMatchObject({ protocol: 'imap', delivery: 'poll' });
    await dovecot.deliver(POLLED, { subject: 'polled' });
    await waitFor(async () => (await jobs.fetchUids(account)).length === 1, 5000, 'fetch job by polling');
    expect(await jobs.fetchUids(account)).toEqual([2]);
  });

  it('maps EXPUNGE sequence numbers and flag changes to UIDs without QRESYNC', async () => {
    await dovecot.deliver(POLLED, { subject: 'third' });
    await waitFor(async () => (await jobs.fetchUids(account)).length === 2, 5000, 'second fetch job');
    const other = await dovecot.imap(POLLED);
    await other.mailboxOpen('INBOX');
    await other.messageFlagsAdd({ uid: '3' }, ['\\Seen'], { uid: true });
    await waitFor(async () => (await jobs.all(account, MailboxJobName.Flags)).some((j) => j.data.uid === 3), 5000, 'flags job');
    await other.messageDelete({ uid: '2' }, { uid: true });
    await other.logout();
    await waitFor(async () => (await jobs.all(account, MailboxJobName.Deleted)).some((j) => j.data.uid === 2), 5000, 'deleted job');
    expect((await jobs.all(account, MailboxJobName.Deleted)).map((j) => j.data.uid)).toEqual([2]);
  });

  it('finds expunges that happened while the watcher was away, by comparing UID lists', async () => {
    await watcher.close();
    await dovecot.deliver(POLLED, { subject: 'fourth' });
    const other = await dovecot.imap(POLLED);
    await other.mailboxOpen('INBOX');
    await other.messageDelete({ uid: '1' }, { uid: true });
    await other.logout();
    watcher = await startWatcher(redis.url, { POLL_INTERVAL_MS: '500' });
    await waitFor(async () => (await jobs.all(account, MailboxJobName.Deleted)).some((j) => j.data.uid === 1), 5000, 'deleted job for uid 1');
    await waitFor(async () => (await jobs.fetchUids(account)).includes(4), 5000, 'fetch job for uid 4');
  });
});

describe('watcher: a half-open connection', () => {
  const USER_H = 'hal@example.test';
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let watcher: INestApplication;
  let paused: number[] = [];

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: { [USER_H]: 'pw' } }), TestRedis.start()]);
    stores = testStores(redis.url);
    jobs = new MailboxJobs(redis.url);
  });

  afterAll(async () => {
    for (const pid of paused) process.kill(pid, 'SIGCONT');
    await watcher?.close();
    await jobs?.close();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('notices a server that stopped answering (NOOP after silence, with a deadline) and reconnects', async () => {
    const account = await seedAccount(stores, dovecot, USER_H);
    watcher = await startWatcher(redis.url, { HALF_OPEN_TIMEOUT_MS: '1000', NOOP_TIMEOUT_MS: '500' });
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'connected');
    const before = await reconnects(watcher);
    // The TCP connection stays up (the kernel still answers) but IMAP goes silent: half-open as seen from the client.
    paused = dovecotImapProcesses(dovecot);
    expect(paused.length).toBeGreaterThan(0);
    for (const pid of paused) process.kill(pid, 'SIGSTOP');
    await waitFor(async () => (await reconnects(watcher)) > before, 10_000, 'the watcher to give up on the silent connection');
    for (const pid of paused.splice(0)) process.kill(pid, 'SIGCONT');
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'connected again');
    await dovecot.deliver(USER_H, { subject: 'after the stall' });
    await waitFor(async () => (await jobs.fetchUids(account)).length === 1, 5000, 'fetch job');
  });
});

describe('watcher: provider quirks as data (IMAP_HOST_OVERRIDES)', () => {
  const USER_Q = 'quirk@example.test';
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let watcher: INestApplication | undefined;

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: { [USER_Q]: 'pw' } }), TestRedis.start()]);
    stores = testStores(redis.url);
    jobs = new MailboxJobs(redis.url);
  });

  afterAll(async () => {
    await watcher?.close();
    await jobs?.close();
    await stores?.close();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  /**
   * The watcher's IMAP traffic goes through a proxy that records what the client sent, so a test can
   * tell which commands were used, not only that mail was found.
   */
  async function watchedThroughRecorder(user: string, overrides: Record<string, string>) {
    const recorder = await TcpRelay.start(dovecot.imapPort);
    recorders.push(recorder);
    const imap = { ...dovecot.imapSettings(user), port: recorder.port };
    const account = (await stores.accounts.create({ userId: `owner-of-${user}`, email: user, imap, smtp: { ...imap, port: 2525 }, mailboxes: ['INBOX'] })).id;
    watcher = await startWatcher(redis.url, overrides);
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'connected');
    return { account, recorder };
  }
  const recorders: TcpRelay[] = [];
  afterEach(async () => {
    await watcher?.close();
    watcher = undefined;
    await Promise.all(recorders.splice(0).map((r) => r.close()));
  });

  it('polls a host configured with DISABLE_IDLE even though it offers IDLE, and never sends IDLE', async () => {
    const { account, recorder } = await watchedThroughRecorder(USER_Q, { POLL_INTERVAL_MS: '60000', IMAP_HOST_OVERRIDES: JSON.stringify({ '127.0.0.1': { DISABLE_IDLE: true, POLL_INTERVAL_MS: 300 } }) });
    // Without IDLE and without the per-host poll interval nothing would ask the server for news within a minute.
    await dovecot.deliver(USER_Q, { subject: 'polled by host setting' });
    await waitFor(async () => (await jobs.fetchUids(account)).length === 1, 5000, 'fetch job');
    // Two more polls after the one that found the mail: still no IDLE command on the wire.
    const polls = recorder.lines.filter((c) => /^\S+ (NOOP|STATUS|UID SEARCH|SELECT|EXAMINE)\b/i.test(c)).length;
    await waitFor(() => recorder.lines.filter((c) => /^\S+ (NOOP|STATUS|UID SEARCH|SELECT|EXAMINE)\b/i.test(c)).length >= polls + 2, 5000, 'two more polls');
    expect(recorder.lines.filter((c) => /^\S+ IDLE$/i.test(c))).toEqual([]);
  });

  it('sends IDLE to the same host without the override (so the check above can see one)', async () => {
    const user = 'quirk-idle@example.test';
    await dovecot.addUser(user, 'pw');
    const { recorder } = await watchedThroughRecorder(user, {});
    await waitFor(() => recorder.lines.some((c) => /^\S+ IDLE$/i.test(c)), 5000, 'an IDLE command');
  });
});
