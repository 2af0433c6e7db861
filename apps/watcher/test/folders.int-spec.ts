import { INestApplication } from '@nestjs/common';
import { MailboxJobName } from '@pushmail/contracts';
import { DovecotOptions, TestDovecot, TestRedis, sleep, testStores, waitFor } from '@pushmail/testing';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MailboxJobs, restartDovecotDroppingClients, seedAccount, startWatcher } from './helpers';

jest.setTimeout(120_000);

const USER = 'folders@example.test';
const NAMED = 'named@example.test';
const SWEEP_MS = 1000;
/** Every describe's watcher: swept every SWEEP_MS where the server has no NOTIFY. */
const startSweptWatcher = (redisUrl: string) => startWatcher(redisUrl, { FOLDER_SWEEP_INTERVAL_MS: String(SWEEP_MS) });
/** Dovecot 2.3.19's capabilities after login, without NOTIFY: a server that has no NOTIFY. */
const WITHOUT_NOTIFY =
  'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ SPECIAL-USE';
/** 17 folders of our own beside INBOX, Drafts, Sent, Trash and Junk: 22 in all. */
const FOLDERS = Array.from({ length: 17 }, (_, i) => `F${String(i + 1).padStart(2, '0')}`);

/** Waits longer than a sweep, so a job that should not exist has had its chance. */
const settle = () => sleep(SWEEP_MS * 2 + 500);

/** A describe's own Dovecot and Redis, and the test's views of that Redis. */
async function startServers(options: DovecotOptions) {
  const [dovecot, redis] = await Promise.all([TestDovecot.start(options), TestRedis.start()]);
  return { dovecot, redis, stores: testStores(redis.url), jobs: new MailboxJobs(redis.url) };
}

async function stopAll(parts: { watcher?: INestApplication; jobs?: MailboxJobs; stores?: ReturnType<typeof testStores>; dovecot?: TestDovecot; redis?: TestRedis }): Promise<void> {
  await parts.watcher?.close();
  await parts.jobs?.close();
  await parts.stores?.close();
  await Promise.all([parts.dovecot?.dispose(), parts.redis?.dispose()]);
}

const mail = (subject: string) => `From: a@example.test\r\nSubject: ${subject}\r\n\r\nbody\r\n`;

/** IMAP sessions Dovecot holds for `user` right now (doveadm who, from Dovecot's side). */
async function sessionsOf(dovecot: TestDovecot, user: string): Promise<number> {
  const { stdout } = await promisify(execFile)('doveadm', ['-c', dovecot.configPath, 'who', '-1', user]);
  return stdout.split('\n').filter((l) => l.startsWith(user) && /\bimap\b/.test(l)).length;
}

describe.each([
  ['a server with NOTIFY', {}],
  ['a server without NOTIFY (swept every second)', { imapCapability: WITHOUT_NOTIFY }],
])('every folder on one connection: %s', (_label, options) => {
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let watcher: INestApplication | undefined;
  let account: string;
  const start = async () => {
    watcher = await startSweptWatcher(redis.url);
  };
  const connected = () => waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'account connected');
  const fetched = async (mailbox: string) => jobs.fetchUids(account, mailbox);

  beforeAll(async () => {
    // LMTP to user+folder files into that folder, as a Sieve fileinto would.
    ({ dovecot, redis, stores, jobs } = await startServers({ users: { [USER]: 'pw', [NAMED]: 'pw' }, extraConfig: 'lmtp_save_to_detail_mailbox = yes', ...options }));
    const setup = await dovecot.imap(USER);
    for (const f of FOLDERS) await setup.mailboxCreate(f);
    await setup.logout();
    account = await seedAccount(stores, dovecot, USER, { mailboxes: ['*'] });
    await start();
    await connected();
  });

  afterAll(() => stopAll({ watcher, jobs, stores, dovecot, redis }));

  it('holds exactly one IMAP session for an account with 22 folders', async () => {
    await waitFor(async () => (await sessionsOf(dovecot, USER)) === 1, 5000, 'one session');
    await sleep(500);
    expect(await sessionsOf(dovecot, USER)).toBe(1);
  });

  it('announces mail delivered into five folders and an APPEND into Sent, once each', async () => {
    for (const f of FOLDERS.slice(0, 5)) await dovecot.deliver(USER.replace('@', `+${f}@`), { subject: `to ${f}` });
    await dovecot.append(USER, 'Sent', mail('sent from another client'), ['\\Seen']);
    await waitFor(async () => (await Promise.all([...FOLDERS.slice(0, 5), 'Sent'].map(fetched))).every((uids) => uids.length === 1), 10_000, 'a job per folder');
    await settle();
    for (const f of [...FOLDERS.slice(0, 5), 'Sent']) expect(await fetched(f)).toEqual([1]);
    expect(await fetched('INBOX')).toEqual([]);
  });

  it('announces a flag change and an expunge in a folder other than INBOX, once each', async () => {
    const other = await dovecot.imap(USER);
    await other.mailboxOpen(FOLDERS[0]);
    await other.messageFlagsAdd('1', ['\\Flagged'], { uid: true });
    await other.mailboxOpen(FOLDERS[1]);
    await other.messageDelete('1', { uid: true });
    await other.logout();
    await waitFor(async () => (await jobs.all(account, MailboxJobName.Flags)).length >= 1 && (await jobs.all(account, MailboxJobName.Deleted)).length >= 1, 10_000, 'flags and deleted jobs');
    await settle();
    const flags = await jobs.all(account, MailboxJobName.Flags);
    expect(flags.map((j) => [j.data.mailbox, j.data.uid])).toEqual([[FOLDERS[0], 1]]);
    expect(flags[0].data.flags).toContain('\\Flagged');
    const deleted = await jobs.all(account, MailboxJobName.Deleted);
    expect(deleted.map((j) => [j.data.mailbox, j.data.uid])).toEqual([[FOLDERS[1], 1]]);
  });

  it('skips Junk and Trash under "*", and watches them when named', async () => {
    await dovecot.append(USER, 'Junk', mail('spam'));
    await dovecot.append(USER, 'Trash', mail('binned'));
    await dovecot.append(USER, FOLDERS[5], mail('marker'));
    await waitFor(async () => (await fetched(FOLDERS[5])).length === 1, 10_000, 'marker job');
    await settle();
    expect(await fetched('Junk')).toEqual([]);
    expect(await fetched('Trash')).toEqual([]);

    const named = await seedAccount(stores, dovecot, NAMED, { mailboxes: ['*', 'Junk'] });
    await waitFor(async () => (await stores.accounts.getState(named))?.state === 'connected', 10_000, 'named connected');
    await dovecot.append(NAMED, 'Junk', mail('spam, wanted'));
    await dovecot.append(NAMED, 'Trash', mail('binned'));
    await waitFor(async () => (await jobs.fetchUids(named, 'Junk')).length === 1, 10_000, 'Junk job when named');
    await settle();
    expect(await jobs.fetchUids(named, 'Trash')).toEqual([]);
  });

  it('pushes mail in a folder created, then renamed, by another client', async () => {
    const other = await dovecot.imap(USER);
    await other.mailboxCreate('Projects');
    await other.logout();
    // The folder is baselined when noticed: wait for that before delivering into it.
    await sleep(SWEEP_MS * 2);
    await dovecot.append(USER, 'Projects', mail('new folder'));
    await waitFor(async () => (await fetched('Projects')).length === 1, 10_000, 'job in the new folder');
    const renamer = await dovecot.imap(USER);
    await renamer.mailboxRename('Projects', 'Projects2');
    await renamer.logout();
    await sleep(SWEEP_MS * 2);
    await dovecot.append(USER, 'Projects2', mail('renamed folder'));
    await waitFor(async () => (await fetched('Projects2')).length >= 1, 10_000, 'job in the renamed folder');
    expect(await fetched('Projects2')).toEqual([2]);
    expect(await sessionsOf(dovecot, USER)).toBe(1);
  });

  it('tells clients when folders are created, renamed or deleted (mailboxes.changed, through the fetcher)', async () => {
    const changes = async () => (await jobs.all(account, MailboxJobName.MailboxesChanged)).length;
    const other = await dovecot.imap(USER);
    let seen = await changes();
    await other.mailboxCreate('Lists');
    await waitFor(async () => (await changes()) > seen, 10_000, 'a change for the created folder');
    seen = await changes();
    await other.mailboxRename('Lists', 'Lists2');
    await dovecot.append(USER, 'Lists2', mail('renamed'));
    await waitFor(async () => (await changes()) > seen, 10_000, 'a change for the renamed folder');
    seen = await changes();
    await other.mailboxDelete('Lists2');
    await other.logout();
    await waitFor(async () => (await changes()) > seen, 10_000, 'a change for the deleted folder');
    const [job] = await jobs.all(account, MailboxJobName.MailboxesChanged);
    expect(job.data).toEqual({ accountId: account, changeId: expect.any(String) });
  });

  it('pushes mail in a folder deleted and created again under its name, and resets the old one', async () => {
    const fetches = async () => (await jobs.all(account, MailboxJobName.Fetch)).filter((j) => j.data.mailbox === 'Again').map((j) => [j.data.uidValidity, j.data.uid]);
    const other = await dovecot.imap(USER);
    await other.mailboxCreate('Again');
    await sleep(SWEEP_MS * 2);
    await dovecot.append(USER, 'Again', mail('first generation'));
    await waitFor(async () => (await fetches()).length === 1, 10_000, 'job in the first folder');
    const [[oldValidity]] = await fetches();
    await other.mailboxDelete('Again');
    await sleep(SWEEP_MS * 2);
    // Created again and filed into at once, before the session can have looked at it.
    await other.mailboxCreate('Again');
    await dovecot.append(USER, 'Again', mail('second generation'));
    const status = await other.status('Again', { uidValidity: true });
    if (!status) throw new Error('no STATUS for Again');
    const newValidity = Number(status.uidValidity);
    await other.logout();
    expect(newValidity).not.toBe(oldValidity);
    await waitFor(async () => (await fetches()).length === 2, 10_000, 'job in the folder created again');
    expect((await fetches()).sort((x, y) => x[0] - y[0])).toEqual(
      [
        [oldValidity, 1],
        [newValidity, 1],
      ].sort((x, y) => x[0] - y[0]),
    );
    const resets = (await jobs.all(account, MailboxJobName.Reset)).filter((j) => j.data.mailbox === 'Again');
    expect(resets.map((j) => [j.data.uidValidity, j.data.previousUidValidity])).toEqual([[newValidity, oldValidity]]);
  });

  it('loses nothing in any folder across a watcher restart and a Dovecot restart', async () => {
    await watcher!.close();
    watcher = undefined;
    // While nobody watches: mail in three folders, a flag change in a fourth.
    await dovecot.append(USER, FOLDERS[6], mail('while down 1'));
    await dovecot.append(USER, FOLDERS[7], mail('while down 2'));
    await dovecot.append(USER, 'INBOX', mail('while down 3'));
    const other = await dovecot.imap(USER);
    await other.mailboxOpen(FOLDERS[2]);
    await other.messageFlagsAdd('1', ['\\Seen'], { uid: true });
    await other.logout();
    await start();
    await waitFor(async () => (await fetched(FOLDERS[6])).length === 1 && (await fetched(FOLDERS[7])).length === 1 && (await fetched('INBOX')).length === 1, 10_000, 'mail from while down');
    await waitFor(async () => (await jobs.all(account, MailboxJobName.Flags)).some((j) => j.data.mailbox === FOLDERS[2]), 10_000, 'flag change from while down');

    await restartDovecotDroppingClients(dovecot);
    await dovecot.append(USER, FOLDERS[8], mail('after the restart'));
    await waitFor(async () => (await fetched(FOLDERS[8])).length === 1, 20_000, 'mail after the Dovecot restart');
    await waitFor(async () => (await sessionsOf(dovecot, USER)) === 1, 5000, 'one session again');
  });
});

/**
 * Microsoft 365's IMAP advertises neither NOTIFY nor CONDSTORE nor LIST-STATUS (nor does Yahoo's
 * CONDSTORE): no MODSEQ says which flags changed in a folder the session is not in, so read state
 * is compared as UID SEARCH UNSEEN lists, and the sweep asks for UNSEEN to notice it.
 */
const LIKE_MICROSOFT_365 = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT CHILDREN NAMESPACE UIDPLUS MOVE LITERAL+';

describe('read state on a server without NOTIFY and without CONDSTORE (swept every second)', () => {
  const PLAIN = 'plain@example.test';
  let dovecot: TestDovecot;
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let watcher: INestApplication | undefined;
  let account: string;
  const start = async () => {
    watcher = await startSweptWatcher(redis.url);
    await waitFor(async () => (await stores.accounts.getState(account))?.state === 'connected', 10_000, 'account connected');
  };
  /** The flags jobs so far, as [folder, uid, read?], in the order they were added. */
  const flagJobs = async () =>
    (await jobs.all(account, MailboxJobName.Flags))
      .sort((a, b) => a.timestamp - b.timestamp)
      .map((j) => [j.data.mailbox, j.data.uid, (j.data.flags as string[]).includes('\\Seen')]);
  const setFlag = async (mailbox: string, uid: number, add: boolean, flag = '\\Seen') => {
    const other = await dovecot.imap(PLAIN);
    await other.mailboxOpen(mailbox);
    if (add) await other.messageFlagsAdd(String(uid), [flag], { uid: true });
    else await other.messageFlagsRemove(String(uid), [flag], { uid: true });
    await other.logout();
  };

  beforeAll(async () => {
    ({ dovecot, redis, stores, jobs } = await startServers({ users: { [PLAIN]: 'pw' }, imapCapability: LIKE_MICROSOFT_365 }));
    const setup = await dovecot.imap(PLAIN);
    await setup.mailboxCreate('Reports');
    await setup.logout();
    for (let i = 1; i <= 3; i++) await dovecot.append(PLAIN, 'Reports', mail(`report ${i}`));
    for (let i = 1; i <= 2; i++) await dovecot.append(PLAIN, 'INBOX', mail(`inbox ${i}`));
    account = await seedAccount(stores, dovecot, PLAIN, { mailboxes: ['*'] });
    await start();
  });

  afterAll(() => stopAll({ watcher, jobs, stores, dovecot, redis }));

  it('is a server without CONDSTORE', async () => {
    const probe = await dovecot.imap(PLAIN);
    expect(['NOTIFY', 'CONDSTORE', 'QRESYNC', 'LIST-STATUS'].filter((c) => probe.capabilities.has(c))).toEqual([]);
    await probe.logout();
  });

  it('pushes a message read, then unread again, in a folder the session is not in, once each', async () => {
    await setFlag('Reports', 2, true);
    await waitFor(async () => (await flagJobs()).length === 1, 10_000, 'a flags job for the read message');
    await setFlag('Reports', 2, false);
    await waitFor(async () => (await flagJobs()).length === 2, 10_000, 'a flags job for the unread message');
    await settle();
    expect(await flagJobs()).toEqual([
      ['Reports', 2, true],
      ['Reports', 2, false],
    ]);
  });

  it('pushes a read flag set in INBOX once, though INBOX is resynced after a visit elsewhere', async () => {
    const before = (await flagJobs()).length;
    await setFlag('INBOX', 1, true);
    await waitFor(async () => (await flagJobs()).length === before + 1, 10_000, 'the flags job from IDLE');
    // Mail into Reports takes the session there and back to INBOX, whose resync must not report it again.
    await dovecot.append(PLAIN, 'Reports', mail('report 4'));
    await waitFor(async () => (await jobs.fetchUids(account, 'Reports')).includes(4), 10_000, 'the new report');
    await settle();
    expect((await flagJobs()).slice(before)).toEqual([['INBOX', 1, true]]);
  });

  it('finds read state that changed while no watcher looked, in INBOX and in another folder, once each', async () => {
    const before = (await flagJobs()).length;
    await watcher!.close();
    watcher = undefined;
    await setFlag('INBOX', 2, true);
    await setFlag('Reports', 3, true);
    await start();
    await waitFor(async () => (await flagJobs()).length >= before + 2, 10_000, 'flags jobs from while down');
    await settle();
    expect(
      (await flagJobs())
        .slice(before)
        .sort((a, b) => String(a).localeCompare(String(b))),
    ).toEqual([
      ['INBOX', 2, true],
      ['Reports', 3, true],
    ]);
  });
});
