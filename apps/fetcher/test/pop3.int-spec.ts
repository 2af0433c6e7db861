import { CommandJobOutcome, FetchJob, ImapCommandJobName, MailboxJobName, jobIds, redisKeys } from '@pushmail/contracts';
import { PasswordCredentials } from '@pushmail/credentials';
import { MailHostPolicy, MailNetworkSettings } from '@pushmail/net-policy';
import { Pop3ClientFactory, Pop3UidStore } from '@pushmail/pop3';
import { FetcherWorld, startFetcherWorld } from './support';

/**
 * Issue 18, fetcher side: a POP3 account's fetch job (as the watcher's poller enqueues it, through
 * the uid mapping) is read with RETR and goes through the same parse, store and event-log path as
 * IMAP mail: one message.new with the message's content; a uid whose UIDL the server no longer
 * lists is dropped, not retried. Commands: `\Seen` kept by pushmail in Redis with a message.flags
 * event, message.get through RETR, message.delete with DELE committed before the answer.
 */
jest.setTimeout(60_000);

const POP_USER = 'pop-fetch@example.test';
const POP_PASS = 'pop-fetch-pass';

describe('fetcher: POP3 mail', () => {
  let world: FetcherWorld;
  let accountId: string;
  let uids: Pop3UidStore;

  beforeAll(async () => {
    world = await startFetcherWorld();
    await world.dovecot.addUser(POP_USER, POP_PASS);
    const pop3 = world.dovecot.pop3Settings(POP_USER);
    accountId = (await world.stores.accounts.create({ userId: 'u-pop', email: POP_USER, pop3, smtp: { ...pop3, port: 25 }, mailboxes: ['INBOX'], pollIntervalSeconds: 60 })).id;
    uids = new Pop3UidStore(world.stores.redis);
    await world.client.set(redisKeys.lease(accountId), 'test-lease');
  });
  afterAll(async () => {
    await world?.close();
  });

  const events = async () => (await world.client.xrange(redisKeys.eventLog(accountId), '-', '+')).map(([id, f]) => ({ id, name: f[1], payload: JSON.parse(f[3]) }));

  /** What the watcher's poller does: UIDL (here from Dovecot over our own client), plan, enqueue, commit. */
  async function poll(): Promise<{ uidValidity: number; newUids: number[]; goneUids: number[] }> {
    const client = await new Pop3ClientFactory(new MailNetworkSettings(new MailHostPolicy({ allowPrivate: true, allowlist: [] }), true), new PasswordCredentials()).connect(world.dovecot.pop3Settings(POP_USER));
    const listing = await client.uidl();
    await client.quit();
    const plan = await uids.plan(accountId, 'test-lease', listing.map((e) => e.uid));
    await uids.commit(accountId, 'test-lease', plan);
    return plan;
  }

  const fetch = (data: FetchJob) =>
    world.mailboxQueue.add(MailboxJobName.Fetch, data, { jobId: jobIds.fetch(data.accountId, data.mailbox, data.uidValidity, data.uid), attempts: 3, backoff: { type: 'fixed', delay: 100 } });

  it('RETR → parse → store → one message.new with the content', async () => {
    await world.dovecot.deliver(POP_USER, { subject: 'already there' });
    expect((await poll()).newUids).toEqual([]);
    await world.dovecot.deliver(POP_USER, { subject: 'pop3 hello', text: 'body over POP3\n.a dot line' });
    const { uidValidity, newUids } = await poll();
    expect(newUids).toEqual([2]);
    const job = await fetch({ accountId, mailbox: 'INBOX', uidValidity, uid: 2, seenAt: Date.now() });
    expect(await job.waitUntilFinished(world.mailboxEvents, 30_000)).toMatchObject({ outcome: 'appended' });
    const news = (await events()).filter((e) => e.name === 'message.new');
    expect(news).toHaveLength(1);
    expect(news[0].payload).toMatchObject({ uid: 2, uidValidity, mailbox: 'INBOX' });
    expect(JSON.stringify(news[0].payload)).toContain('pop3 hello');
    expect(JSON.stringify(news[0].payload)).toContain('.a dot line');
    // Kept raw (under POP3_RAW_KEEP_BYTES) for the gateway's attachment downloads.
    expect((await uids.rawOf(accountId, uidValidity, 2))?.toString()).toContain('body over POP3');
  });

  it('a uid the server no longer lists is dropped, not retried', async () => {
    const { uidValidity } = await poll();
    const job = await fetch({ accountId, mailbox: 'INBOX', uidValidity, uid: 99, seenAt: Date.now() });
    expect(await job.waitUntilFinished(world.mailboxEvents, 30_000)).toMatchObject({ outcome: 'dropped' });
    expect(job.attemptsMade ?? 0).toBeLessThanOrEqual(1);
  });

  /** Runs a command as a gateway without a reply channel does: the job returns a reference, the result is read once. */
  const command = async <T>(name: ImapCommandJobName, data: object): Promise<T> => {
    const job = await world.commandQueue.add(name, data, { attempts: 1 });
    const outcome = (await job.waitUntilFinished(world.commandEvents, 20_000)) as CommandJobOutcome;
    if (!outcome.ok) throw new Error(`command answered ${outcome.code}`);
    if (!('ref' in outcome)) throw new Error('published to no reply channel');
    return JSON.parse((await world.client.getdel(redisKeys.commandResult(outcome.ref)))!) as T;
  };

  it('message.flag keeps \\Seen in Redis (not in any process) and emits message.flags; message.get reads the message', async () => {
    const { uidValidity } = await poll();
    const flagged = await command<{ flags: string[] }>(ImapCommandJobName.Flag, { accountId, mailbox: 'INBOX', uid: 1, add: ['\\Seen', '\\Flagged'], remove: [] });
    expect(flagged.flags).toEqual(['\\Flagged', '\\Seen']);
    const unflagged = await command<{ flags: string[] }>(ImapCommandJobName.Flag, { accountId, mailbox: 'INBOX', uid: 1, add: [], remove: ['\\Flagged'] });
    expect(unflagged.flags).toEqual(['\\Seen']);
    expect(await new Pop3UidStore(world.stores.redis).flagsOf(accountId, [1])).toEqual(new Map([[1, ['\\Seen']]]));
    const flagEvents = (await events()).filter((e) => e.name === 'message.flags' && e.payload.uid === 1);
    expect(flagEvents.map((e) => e.payload.flags)).toEqual([['\\Flagged', '\\Seen'], ['\\Seen']]);

    // uid 1 was a baseline message: never fetched, so message.get reads it now.
    const got = await command<{ message: { uid: number; uidValidity: number; subject: string; flags: string[] } }>(ImapCommandJobName.Get, { accountId, mailbox: 'INBOX', uid: 1 });
    expect(got.message).toMatchObject({ uid: 1, uidValidity, subject: 'already there', flags: ['\\Seen'] });
  });

  it('message.list pages INBOX from the uid mapping: stored copies and headers read with TOP alike, with the kept flags', async () => {
    await world.dovecot.deliver(POP_USER, { subject: 'listed only a' });
    await world.dovecot.deliver(POP_USER, { subject: 'listed only b' });
    const { newUids } = await poll();
    expect(newUids).toEqual([3, 4]);
    type Page = { messages: Array<{ uid: number; subject: string; flags: string[] }>; nextBefore: number | null; total: number };
    const first = await command<Page>(ImapCommandJobName.MessageList, { accountId, mailbox: 'INBOX', limit: 3 });
    expect(first.messages.map((m) => [m.uid, m.subject])).toEqual([
      [4, 'listed only b'],
      [3, 'listed only a'],
      [2, 'pop3 hello'],
    ]);
    expect(first).toMatchObject({ nextBefore: 2, total: 4 });
    const second = await command<Page>(ImapCommandJobName.MessageList, { accountId, mailbox: 'INBOX', limit: 3, before: 2 });
    expect(second.messages.map((m) => [m.uid, m.subject, m.flags])).toEqual([[1, 'already there', ['\\Seen']]]);
    expect(second.nextBefore).toBeNull();
  });

  it('message.delete removes the message from the server (DELE, committed by QUIT before the answer)', async () => {
    await poll();
    const deleted = await command<{ deleted: number[] }>(ImapCommandJobName.MessageDelete, { accountId, mailbox: 'INBOX', uids: [1] });
    expect(deleted).toEqual({ deleted: [1] });
    // The watcher's next poll sees it gone (message.deleted from there).
    expect(await poll()).toMatchObject({ newUids: [], goneUids: [1] });
    expect((await uids.list(accountId)).uids).toEqual([2, 3, 4]);
  });
});
