import { BULL_PREFIX, MailboxJobName, QueueName, jobIds, redisKeys } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, testEnv, testStores, waitFor } from '@pushmail/testing';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';

const USER = 'watchdog@example.test';
const PASS = 'pw-watchdog';
const PARSE_TIMEOUT_MS = 1000;
/** Above the default 5 M characters, so that all of the expensive message is parsed and sanitized. */
const MAX_BODY_CHARS = 12_000_000;
const ORDINARY = 20;

function ordinary(n: number): string {
  return [`From: Sender ${n} <s${n}@example.test>`, `To: ${USER}`, `Subject: ordinary ${n}`, `Message-ID: <ordinary-${n}@example.test>`, '', `body of ordinary ${n}`, ''].join('\r\n');
}

/**
 * Valid, harmless and expensive: 10 MB of dense table markup. On an idle core 4 MB took 1.7 s to
 * parse and sanitize, so this takes about 4 s, four times the timeout used here; that cost is linear
 * work no regex fix can remove, so the test neither depends on the parser staying slow on some
 * hostile pattern nor needs a test-only hook in the fetcher. Ordinary messages take about a
 * millisecond (tens on a cold thread), a hundredth of the timeout: load slows both sides alike.
 */
function expensive(): string {
  const cell = '<tr><td class="c" style="color:red;font-weight:bold" title="cell">x <a href="https://example.test/a?b=c">link</a> <b>bold</b></td></tr>\r\n';
  const html = `<html><body><table>\r\n${cell.repeat(Math.floor((10 * 1024 * 1024) / cell.length))}</table></body></html>`;
  return [
    'From: =?UTF-8?Q?Heavy_S=C3=A9nder?= <heavy@example.test>',
    `To: ${USER}`,
    'Subject: =?UTF-8?B?YSBoZWF2eSBvbmUg4pqg?=',
    'Message-ID: <heavy@example.test>',
    'Date: Sat, 05 Dec 2026 12:00:00 +0000',
    'Content-Type: text/html; charset=utf-8',
    '',
    html,
    '',
  ].join('\r\n');
}

/**
 * The parse watchdog on the built fetcher (the parser thread exists only in the build), with real
 * Redis and Dovecot: one message too expensive to parse within PARSE_TIMEOUT_MS arrives together
 * with twenty ordinary ones, on a single parser thread.
 */
describe('parse watchdog: an over-long parse does not hold up the mail delivered with it', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let fetcher: AppProcess;
  let connection: IORedis;
  let queue: Queue;
  let accountId: string;

  beforeAll(async () => {
    [redis, dovecot] = await Promise.all([TestRedis.start(), TestDovecot.start({ users: { [USER]: PASS } })]);
    const stores = testStores(redis.url);
    try {
      const account = await stores.accounts.create({
        userId: 'u-watchdog',
        email: USER,
        imap: dovecot.imapSettings(USER),
        smtp: { host: '127.0.0.1', port: 25, secure: false, user: USER, pass: PASS },
        mailboxes: ['INBOX'],
      });
      accountId = account.id;
    } finally {
      await stores.close();
    }
    fetcher = await AppProcess.start(
      'fetcher',
      // The test's Dovecot is on loopback without TLS.
      testEnv(redis.url, { PARSE_THREADS: '1', PARSE_TIMEOUT_MS: String(PARSE_TIMEOUT_MS), MAX_BODY_CHARS: String(MAX_BODY_CHARS), ALLOW_PRIVATE_MAIL_HOSTS: 'true', ALLOW_INSECURE_MAIL: 'true' }),
    );
    connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QueueName.MailboxEvents, { connection, prefix: BULL_PREFIX });
  });

  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await fetcher?.stop();
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('delivers the expensive message once with its headers and parse_timeout, and the 20 ordinary ones as usual', async () => {
    const raws = [...Array.from({ length: ORDINARY / 2 }, (_, i) => ordinary(i + 1)), expensive(), ...Array.from({ length: ORDINARY / 2 }, (_, i) => ordinary(i + 11))];
    for (const raw of raws) await dovecot.deliver(USER, raw);
    const imap = await dovecot.imap(USER);
    const status = await imap.status('INBOX', { uidValidity: true, messages: true });
    await imap.logout();
    if (!status) throw new Error('no STATUS for INBOX');
    expect(status.messages).toBe(raws.length);
    const uidValidity = Number(status.uidValidity);
    const heavyUid = ORDINARY / 2 + 1;

    // All at once, exactly as the watcher enqueues them (deterministic ids, retries allowed).
    const uids = raws.map((_, i) => i + 1);
    const jobs = await queue.addBulk(
      uids.map((uid) => ({
        name: MailboxJobName.Fetch,
        data: { accountId, mailbox: 'INBOX', uidValidity, uid, seenAt: Date.now() },
        opts: { jobId: jobIds.fetch(accountId, 'INBOX', uidValidity, uid), attempts: 3, backoff: { type: 'fixed', delay: 100 } },
      })),
    );
    const client = redis.client();
    try {
      // The log holds each message's summary and its stored body's key (field `b`): the whole message is that body.
      const news = async () =>
        Promise.all(
          (await client.xrange(redisKeys.eventLog(accountId), '-', '+'))
            .filter(([, f]) => f[1] === 'message.new')
            .map(async ([, f]) => JSON.parse((await client.get(f[f.indexOf('b') + 1]))!) as { uid: number; subject: string; text: string; from: unknown; parseWarnings?: string[] }),
        );
      await waitFor(async () => (await news()).length >= raws.length, 40_000, 'all 21 messages in the event log', 100);
      // Nothing more arrives: each message was delivered once.
      await new Promise((r) => setTimeout(r, 500));
      const events = await news();
      expect(events.map((e) => e.uid).sort((a, b) => a - b)).toEqual(uids);

      const heavy = events.find((e) => e.uid === heavyUid)!;
      expect(heavy).toMatchObject({
        subject: 'a heavy one ⚠',
        from: { name: 'Heavy Sénder', address: 'heavy@example.test' },
        text: '',
        parseWarnings: ['parse_timeout'],
      });
      for (const e of events.filter((x) => x.uid !== heavyUid)) {
        const n = e.uid < heavyUid ? e.uid : e.uid - 1;
        expect({ uid: e.uid, subject: e.subject, text: e.text.trim(), warnings: e.parseWarnings }).toEqual({ uid: e.uid, subject: `ordinary ${n}`, text: `body of ordinary ${n}`, warnings: undefined });
      }

      // Every job succeeded on its first attempt: the ordinary messages that shared the thread
      // with the expensive one were parsed again by the pool, not failed and retried by the queue.
      const finished = await Promise.all(jobs.map(async (job) => (await queue.getJob(job.id!))!));
      for (const job of finished) expect({ uid: job.data.uid, state: await job.getState(), attempts: job.attemptsMade }).toEqual({ uid: job.data.uid, state: 'completed', attempts: 1 });
    } finally {
      client.disconnect();
    }

    const metrics = await (await fetch(`${fetcher.url}/metrics`)).text();
    expect(metrics).toMatch(/^pushmail_parse_timeouts_total 1$/m);
    expect(fetcher.logs()).toMatch(/parse timed out/);
  });
});
