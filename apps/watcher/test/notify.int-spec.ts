import { INestApplication } from '@nestjs/common';
import { mailboxIndexDigest } from '@pushmail/accounts';
import { MailboxJobName, jobIds, redisKeys } from '@pushmail/contracts';
import { TestRedis, testStores, waitFor } from '@pushmail/testing';
import type IORedis from 'ioredis';
import { MailboxJobs, startWatcher } from './helpers';

jest.setTimeout(60_000);

const imapOf = (user: string) => ({ host: '127.0.0.1', port: 1, secure: false, user, pass: 'pw' });
const seedAccount = async (stores: ReturnType<typeof testStores>, user: string, options: { mailboxes?: string[] } = {}) =>
  (await stores.accounts.create({ userId: `owner-of-${user}`, email: user, imap: imapOf(user), smtp: imapOf(user), mailboxes: options.mailboxes ?? ['INBOX'] })).id;

const SECRET = 'notify-secret-0123456789abcdef';
const OTHER_SECRET = 'other-source-secret-0123456789';
const users = ['n1@example.test', 'n2@example.test'];

/**
 * POST /api/notify/dovecot against a real Redis: index lookups, the IDLE path's job id,
 * authentication, validation and the metrics. The accounts' IMAP server is a closed port (their
 * sessions fail and retry, which the ingress does not need); test/notify has the real Dovecot.
 */
describe('watcher push-notification ingress', () => {
  let redis: TestRedis;
  let r: IORedis;
  let stores: ReturnType<typeof testStores>;
  let jobs: MailboxJobs;
  let app: INestApplication;
  let url: string;
  let accountA: string;
  let accountB: string;

  const post = (body: unknown, secret: string | null = SECRET, raw?: string) =>
    fetch(`${url}/api/notify/dovecot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(secret === null ? {} : { authorization: `Bearer ${secret}` }) },
      body: raw ?? JSON.stringify(body),
    });
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(' ').at(-1));
    }
    return sum;
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    r = redis.client();
    stores = testStores(redis.url);
    jobs = new MailboxJobs(redis.url);
    accountA = await seedAccount(stores, users[0]);
    accountB = await seedAccount(stores, users[1], { mailboxes: ['Archive'] });
    const sources = [
      { name: 'dc1', secret: SECRET, imapHosts: ['127.0.0.1', 'imap.example.com'] },
      { name: 'elsewhere', secret: OTHER_SECRET, imapHosts: ['imap.elsewhere.test'] },
    ];
    app = await startWatcher(redis.url, { NOTIFY_SOURCES: JSON.stringify(sources), LOG_LEVEL: 'error' });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await jobs?.close();
    r?.disconnect();
    await stores?.close();
    await redis?.dispose();
  });

  it('enqueues the fetch job under the id the IDLE path uses, once, and answers 202', async () => {
    const n = { event: 'MessageNew', user: users[0], mailbox: 'INBOX', uidValidity: 4242, uid: 7 };
    const res = await post(n);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ mapped: 1, unmapped: 0 });
    const job = (await jobs.all(accountA, MailboxJobName.Fetch)).find((j) => j.data.uid === 7)!;
    expect(job.id).toBe(jobIds.fetch(accountA, 'INBOX', 4242, 7));
    expect(job.data).toMatchObject({ accountId: accountA, mailbox: 'INBOX', uidValidity: 4242, uid: 7, via: 'notify' });
    expect(job.data.seenAt).toEqual(expect.any(Number));

    // The same notification again (or IDLE's enqueue of it) is a no-op, counted as a duplicate.
    const before = await metric('pushmail_notify_duplicates_total');
    expect((await post([n])).status).toBe(202);
    expect((await jobs.all(accountA, MailboxJobName.Fetch)).filter((j) => j.data.uid === 7)).toHaveLength(1);
    expect(await metric('pushmail_notify_duplicates_total')).toBe(before + 1);
  });

  it('takes an array, and counts what matched no account (unknown user, unwatched mailbox, foreign source)', async () => {
    const received = await metric('pushmail_notify_received_total', { source: 'dc1' });
    const res = await post([
      { event: 'MessageNew', user: users[0], mailbox: 'INBOX', uidValidity: 4242, uid: 8 },
      { event: 'MessageNew', user: users[0], mailbox: 'INBOX', uidValidity: 4242, uid: 9 },
      { event: 'MessageNew', user: 'nobody@example.test', mailbox: 'INBOX', uidValidity: 1, uid: 1 },
      { event: 'MessageNew', user: users[1], mailbox: 'INBOX', uidValidity: 1, uid: 1 },
    ]);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ mapped: 2, unmapped: 2 });
    expect(await jobs.fetchUids(accountA)).toEqual(expect.arrayContaining([8, 9]));
    expect(await jobs.all(accountB)).toHaveLength(0);
    expect(await metric('pushmail_notify_received_total', { source: 'dc1' })).toBe(received + 4);
    expect(await metric('pushmail_notify_unmapped_total', { reason: 'unknown_login' })).toBeGreaterThanOrEqual(1);
    expect(await metric('pushmail_notify_unmapped_total', { reason: 'mailbox_not_watched' })).toBeGreaterThanOrEqual(1);

    // A source whose IMAP hosts are not the account's cannot reach it, whatever user it names.
    const foreign = await post({ event: 'MessageNew', user: users[0], mailbox: 'INBOX', uidValidity: 4242, uid: 10 }, OTHER_SECRET);
    expect(foreign.status).toBe(202);
    expect(await foreign.json()).toEqual({ mapped: 0, unmapped: 1 });
    expect(await jobs.fetchUids(accountA)).not.toContain(10);
    expect(await metric('pushmail_notify_unmapped_total', { source: 'elsewhere', reason: 'unknown_login' })).toBe(1);
  });

  it('under "*" maps INBOX and the folders the watcher keeps a cursor for, not the ones "*" skips (\\Junk); named ones always', async () => {
    const user = 'star@example.test';
    const star = await seedAccount(stores, user, { mailboxes: ['*'] });
    const named = await seedAccount(stores, user, { mailboxes: ['*', 'Junk'] });
    // What the watcher's CursorStore leaves for a folder it watches (its sync found Rules, and
    // skipped Junk for its special use): that folder's UIDVALIDITY in the account's index.
    for (const id of [star, named]) await r.hset(redisKeys.uidValidities(id), 'INBOX', 7, 'Rules', 8);
    const unwatched = await metric('pushmail_notify_unmapped_total', { reason: 'mailbox_not_watched' });
    const answer = await (
      await post([
        { event: 'MessageNew', user, mailbox: 'INBOX', uidValidity: 7, uid: 1 },
        { event: 'MessageNew', user, mailbox: 'Rules', uidValidity: 8, uid: 1 },
        { event: 'MessageNew', user, mailbox: 'Junk', uidValidity: 9, uid: 1 },
      ])
    ).json();
    // INBOX and Rules for both accounts; Junk for the one that names it.
    expect(answer).toEqual({ mapped: 5, unmapped: 0 });
    expect((await jobs.all(star, MailboxJobName.Fetch)).map((j) => j.data.mailbox).sort()).toEqual(['INBOX', 'Rules']);
    expect((await jobs.all(named, MailboxJobName.Fetch)).map((j) => j.data.mailbox).sort()).toEqual(['INBOX', 'Junk', 'Rules']);

    // Alone, the Junk delivery maps to no account of the "*"-only kind: counted as not watched.
    await stores.accounts.delete(named);
    expect(await (await post({ event: 'MessageNew', user, mailbox: 'Junk', uidValidity: 9, uid: 2 })).json()).toEqual({ mapped: 0, unmapped: 1 });
    expect(await metric('pushmail_notify_unmapped_total', { reason: 'mailbox_not_watched' })).toBe(unwatched + 1);
    expect((await jobs.all(star, MailboxJobName.Fetch)).filter((j) => j.data.mailbox === 'Junk')).toEqual([]);
  });

  it('concurrent requests share Redis writes yet each gets its own answer; a repeat among them is enqueued once', async () => {
    const duplicates = await metric('pushmail_notify_duplicates_total');
    const mapped = await metric('pushmail_notify_mapped_total');
    const n = (uid: number, user = users[0]) => ({ event: 'MessageNew', user, mailbox: 'INBOX', uidValidity: 4242, uid });
    // 40 at once (arriving in the same event-loop turns), a repeat of uid 100 and one unknown user among them.
    const bodies: unknown[] = [...Array.from({ length: 38 }, (_, i) => n(100 + i)), n(100), [n(200), n(201), n(1, 'nobody@example.test')]];
    const answers = await Promise.all(bodies.map(async (body) => {
      const res = await post(body);
      expect(res.status).toBe(202);
      return res.json();
    }));
    expect(answers.slice(0, 39)).toEqual(Array.from({ length: 39 }, () => ({ mapped: 1, unmapped: 0 })));
    expect(answers[39]).toEqual({ mapped: 2, unmapped: 1 });
    const uids = await jobs.fetchUids(accountA);
    for (const uid of [...Array.from({ length: 38 }, (_, i) => 100 + i), 200, 201]) expect(uids.filter((u) => u === uid)).toHaveLength(1);
    // 41 fetch jobs asked for, 40 distinct: the repeat is counted as a duplicate, not as mapped.
    expect(await metric('pushmail_notify_duplicates_total')).toBe(duplicates + 1);
    expect(await metric('pushmail_notify_mapped_total')).toBe(mapped + 40);
  });

  it('a wrong or missing secret is 401 and enqueues nothing', async () => {
    const n = { event: 'MessageNew', user: users[0], mailbox: 'INBOX', uidValidity: 4242, uid: 11 };
    expect((await post(n, 'wrong-secret-0123456789abcdef0')).status).toBe(401);
    expect((await post(n, null)).status).toBe(401);
    expect((await post(n, SECRET.slice(0, -1))).status).toBe(401);
    expect(await jobs.fetchUids(accountA)).not.toContain(11);
    expect(await metric('pushmail_notify_rejected_total', { reason: 'unauthorized' })).toBe(3);
  });

  it('a malformed body is 400 naming the field', async () => {
    const bad = async (body: unknown, raw?: string) => {
      const res = await post(body, SECRET, raw);
      expect(res.status).toBe(400);
      return ((await res.json()) as { message: string }).message;
    };
    expect(await bad({ event: 'MessageNew', user: users[0], mailbox: 'INBOX', uidValidity: 1, uid: 0 })).toMatch(/^uid:/);
    expect(await bad([{ event: 'MessageNew', user: users[0], mailbox: 'INBOX', uidValidity: 1, uid: 1 }, { event: 'MessageNew', user: users[0], mailbox: 'INBOX', uid: 2 }])).toMatch(/^\[1\]\.uidValidity:/);
    expect(await bad({ event: 'FlagsSet', user: users[0], mailbox: 'INBOX', uidValidity: 1, uid: 1 })).toMatch(/^event:/);
    expect(await bad([])).toBeTruthy();
    await bad(null, '{"event":');
  });

  it('the index follows the account: a changed login moves it, a deleted account leaves it', async () => {
    const notify = (user: string, uid: number) => post({ event: 'MessageNew', user, mailbox: 'INBOX', uidValidity: 4242, uid }).then((res) => res.json());
    const id = await seedAccount(stores, users[1]);
    expect(await notify(users[1], 20)).toEqual({ mapped: 1, unmapped: 0 });
    await stores.accounts.update(id, { imap: { ...imapOf(users[1]), user: 'renamed@example.test' } });
    expect(await notify(users[1], 21)).toEqual({ mapped: 0, unmapped: 1 });
    expect(await notify('renamed@example.test', 22)).toEqual({ mapped: 1, unmapped: 0 });
    await stores.accounts.delete(id);
    expect(await notify('renamed@example.test', 23)).toEqual({ mapped: 0, unmapped: 1 });
    expect(await r.exists(redisKeys.mailboxIndex(mailboxIndexDigest('127.0.0.1', 'renamed@example.test')))).toBe(0);
  });

  it('a watcher start adds accounts stored before the index existed', async () => {
    const key = redisKeys.mailboxIndex(mailboxIndexDigest('127.0.0.1', users[0]));
    await r.del(key);
    const second = await startWatcher(redis.url, { LOG_LEVEL: 'error', NOTIFY_SOURCES: JSON.stringify([{ name: 'dc1', secret: SECRET, imapHosts: ['127.0.0.1'] }]) });
    try {
      await waitFor(async () => (await r.smembers(key)).includes(accountA), 10_000, 'the backfill to index the account');
    } finally {
      await second.close();
    }
  });
});
